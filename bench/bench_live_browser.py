"""The Live tab's latency in a real JupyterLab and Chromium: seconds from the start of speech to the first text.

Runs the Live tab's browser test (``tests/ui/test_live_browser.py``) ``--runs`` times. Each run opens
the Studio, waits until the Live tab says its recognizers are ready (as a user who opens the tab and
then speaks), presses Start, and Chromium's fake microphone plays a demo sentence that starts 0.5 s
into the file. The test prints when the first words and the final text appeared; this script collects
those lines and reports the median and range of the first text after the start of speech (the
target: 2 s or less) and of the final text after the end of speech.

    python bench/bench_live_browser.py --runs 5

Needs the browser test set-up (``make setup-test``: Playwright's Chromium).
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINE = re.compile(r"first words ([\d.]+) s after Start \(speech begins at ([\d.]+) s\), final text at ([\d.]+) s "
                  r"\(speech ends at ([\d.]+) s\)")


def one_run() -> tuple[float, float]:
    """(first text after the start of speech, final text after its end), in seconds, of one run of the test."""
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider",
                           "tests/ui/test_live_browser.py"], cwd=ROOT, capture_output=True, text=True, check=False)
    found = LINE.search(done.stdout)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"the Live browser test failed:\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}")
    first, begins, final, ends = map(float, found.groups())
    return first - begins, final - ends


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="how many times to run the browser test (default 5)")
    args = parser.parse_args()
    firsts, finals = [], []
    for n in range(args.runs):
        first, final = one_run()
        firsts.append(first)
        finals.append(final)
        print(f"run {n + 1}: first text {first:.1f} s after speech starts, final text {final:.1f} s after it ends")
    for name, values in (("first text after the start of speech", firsts), ("final text after the end of speech",
                                                                             finals)):
        print(f"{name}: median {statistics.median(values):.1f} s (min {min(values):.1f}, max {max(values):.1f}, "
              f"{len(values)} runs)")


if __name__ == "__main__":
    main()
