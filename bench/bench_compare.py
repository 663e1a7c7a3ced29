"""Compare tab responsiveness: re-decoding a comparison after a weight change (CPU).

On the demo profile's test set (80 utterances) with one system, the base model + a custom LM
built from the demo corpus and custom words (as the customization chain builds it), acoustic
outputs cached, this script measures over several weight changes (each run moves to other
weights, boosting on and off):

1. a full re-decode and re-score (``Comparison.decode(weights)``);
2. the first visible page (the Compare panel's page size) of a re-decode that does the page
   first (``Comparison.decode(weights, first=page, on_first=...)``): the time until the page's
   transcripts are published, and the time until the whole re-decode ends;
3. where the time goes: the LM system's beam search over all utterances with the fusion
   graphs' steps cached per state (the default) and with NeMo's own ``advance`` (no cache),
   and the scoring.

Goals: full re-decode <= 1.5 s, first page <= 0.3 s (medians).

    python bench/bench_compare.py [--runs 7]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from jupyter_speechcustom import evaluate, load_base_model, read_manifest
from jupyter_speechcustom.asr import decoding
from jupyter_speechcustom.asr.decoding import Decoder, DecodingWeights
from jupyter_speechcustom.constants import STUDIO_UTTERANCES_PER_PAGE
from jupyter_speechcustom.io.manifest import Utterance
from jupyter_speechcustom.lm.language_model import build_language_model
from jupyter_speechcustom.services.compare import Comparison, run_comparison

GOALS = {"full": 1.5, "first_page": 0.3}
#: The weights of the runs: :data:`MOVES` from the starting weights (set in :func:`main`).
WEIGHTS: list[DecodingWeights] = []
#: Slider moves the runs cycle through, from the weights decoding with the LM starts at (the head stays):
#: each run is a real change from the one before.
MOVES = [
    {"lm_alpha": 1.0, "lm_beta": 1.5, "boost_alpha": 0.0},
    {"lm_alpha": 0.7, "lm_beta": 0.5, "boost_alpha": 1.0},
    {"lm_alpha": 0.4, "lm_beta": 1.5, "boost_alpha": 0.0},
    {"lm_alpha": 1.2, "lm_beta": 1.0, "boost_alpha": 1.0},
]


def median_ms(values: list[float]) -> str:
    return f"{1000 * statistics.median(values):7.0f} ms (min {1000 * min(values):.0f}, max {1000 * max(values):.0f})"


def timed_redecode(c: Comparison, weights: DecodingWeights, page: list[int]) -> tuple[float, float]:
    """Seconds until the page's transcripts are published, and until the whole re-decode ends."""
    start = time.perf_counter()
    first: list[float] = []
    assert c.decode(weights, first=page, on_first=lambda _: first.append(time.perf_counter() - start))
    total = time.perf_counter() - start
    assert c.left == () and c.weights == weights
    return first[0], total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7, help="weight changes timed per figure")
    args = parser.parse_args()

    base = load_base_model("demo")
    profile = base.profile
    assert profile is not None and profile.example_corpus and profile.test_sets
    split = profile.test_sets[0]
    entries = read_manifest(profile.example_set(split), require_text=True)
    items = [Utterance.from_entry(e) for e in entries]
    work = Path(tempfile.mkdtemp(prefix="bench-compare-"))
    lm = build_language_model(base, [profile.example_corpus], work / "lm", words=profile.example_words)
    start = decoding.start_weights(lm, base)  # where the Compare tab's sliders start for this LM
    WEIGHTS[:] = [replace(start, **move) for move in MOVES]
    c = run_comparison(base, items, ["+LM"], label=split, lm=lm, weights=start, cache={})
    page = list(range(STUDIO_UTTERANCES_PER_PAGE))
    frames = sum(len(o.frames) for o in c.outputs["base"])
    print(f"{profile.name} {split}: {len(items)} utterances ({frames} frames), system +LM, "
          f"page of {len(page)}, {args.runs} runs each; WER at the starting weights ({start.head or 'default'} head, "
          f"LM alpha {start.lm_alpha}, beta {start.lm_beta}) {c.evaluations['+LM'].wer:.1%}")

    full, first, whole = [], [], []
    for run in range(args.runs):
        start = time.perf_counter()
        assert c.decode(WEIGHTS[2 * run % len(WEIGHTS)])
        full.append(time.perf_counter() - start)
        t_first, t_whole = timed_redecode(c, WEIGHTS[(2 * run + 1) % len(WEIGHTS)], page)
        first.append(t_first)
        whole.append(t_whole)

    # Where the time goes: the beam search with and without the cached fusion steps, and the scoring.
    outputs = c.outputs["base"]
    cached = c.decoders["+LM"]
    decoding.FUSION_CACHE_MAX_ENTRIES = 0
    plain = Decoder(base, lm)
    beam_cached, beam_plain, scoring = [], [], []
    refs = [item.text or "" for item in items]
    for run in range(args.runs):
        weights = WEIGHTS[run % len(WEIGHTS)]
        start = time.perf_counter()
        texts = cached.decode_text(outputs, weights)
        beam_cached.append(time.perf_counter() - start)
        start = time.perf_counter()
        same = plain.decode_text(outputs, weights)
        beam_plain.append(time.perf_counter() - start)
        assert same == texts, "the cached fusion steps must decode exactly as NeMo's advance"
        start = time.perf_counter()
        evaluate(refs, texts)
        scoring.append(time.perf_counter() - start)

    print(f"\nfull re-decode + re-score            {median_ms(full)}   goal <= {GOALS['full']:.1f} s")
    print(f"first page ({len(page)} utterances) published   {median_ms(first)}   goal <= {GOALS['first_page']:.1f} s")
    print(f"  page first, then the rest: all     {median_ms(whole)}")
    print(f"beam search, all utterances          {median_ms(beam_cached)}")
    print(f"  with NeMo's advance (no cache)     {median_ms(beam_plain)}")
    print(f"scoring (WER of all utterances)      {median_ms(scoring)}")
    met = statistics.median(full) <= GOALS["full"] and statistics.median(first) <= GOALS["first_page"]
    print("goals met" if met else "goals missed")


if __name__ == "__main__":
    main()
