"""The Studio's Live tab in a real JupyterLab 4 and Chromium, whose fake microphone plays a spoken
demo sentence (``--use-file-for-fake-audio-capture``): both transcripts grow while it plays, the
customized one gets the jargon right, and the take saved from the tab is the spoken audio with
nothing lost or repeated where the recorders took turns."""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

pytestmark = pytest.mark.browser

RATE = 16_000
LEAD_SECONDS, TAIL_SECONDS = 0.5, 2.0


@pytest.fixture
def spoken(tmp_path: Path) -> tuple[Path, np.ndarray, str]:
    """A demo test sentence full of jargon as a WAV file (what Chromium takes as a microphone), with its text."""
    from jupyter_speechcustom import demo, read_manifest
    from jupyter_speechcustom.io.audio import load_audio

    entry = read_manifest(demo.manifest("domain/test"), require_text=True)[1]
    speech = load_audio(entry["audio_filepath"], RATE)
    audio = np.concatenate([np.zeros(int(LEAD_SECONDS * RATE), np.float32), speech,
                            np.zeros(int(TAIL_SECONDS * RATE), np.float32)])
    path = tmp_path / "microphone.wav"
    sf.write(path, audio, RATE, subtype="PCM_16")
    return path, speech, entry["text"]


@pytest.fixture
def chromium_args(chromium_args: list[str], spoken) -> list[str]:
    return [*chromium_args, f"--use-file-for-fake-audio-capture={spoken[0]}%noloop"]


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z']+", text.lower()))


def test_live_tab_recognizes_the_microphone(lab, page, screenshots, spoken, demo_lm):
    from jupyter_speechcustom.services.workspace import Workspace

    _, speech, reference = spoken  # "the terraform state is locked by another apply in staging"
    ws = Workspace(lab.workspace)
    ws.add_language_model(demo_lm.path, name="support")

    page.set_default_timeout(60_000)
    page.goto(lab.notebook_url("studio.ipynb"))
    page.locator("#jp-main-statusbar", has_text="Idle").wait_for()
    page.evaluate("window.jupyterapp.commands.execute('application:toggle-left-area')")
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    page.locator(".sc-studio").wait_for(timeout=120_000)
    page.locator(".sc-tabs .lm-TabBar-tab", has_text="Live").first.click()
    panel = page.locator(".sc-live-panel")
    panel.wait_for(state="visible")
    assert "support" in panel.locator("select").first.evaluate("s => s.options[s.selectedIndex].text")
    # Opening the tab gets the recognizers of its choice ready (loading the LM takes seconds): the tab says so.
    panel.locator(".sc-status-area", has_text="Ready: press Start and speak").wait_for(timeout=60_000)

    page.locator(".sc-live-start").click()
    started = time.monotonic()
    # While the sentence plays: interim hypotheses (grey italics), then final text, in both columns.
    page.locator(".sc-live-custom .sc-live-interim").first.wait_for(timeout=60_000)
    first_text = time.monotonic() - started
    page.screenshot(path=str(screenshots / "live-1-speaking.png"))
    page.locator(".sc-live-base .sc-live-interim, .sc-live-base .sc-live-final").first.wait_for()
    page.locator(".sc-live-custom .sc-live-final").first.wait_for(timeout=60_000)
    assert re.search(r"0:0[1-9]", page.locator(".sc-live-elapsed").inner_text())  # the clock runs
    final_text = time.monotonic() - started
    page.locator(".sc-live-stop").click()
    stopped = time.monotonic()
    status = page.locator(".sc-live-panel .sc-status-area")
    status.locator(".sc-status-success").wait_for(timeout=60_000)
    print(f"first words {first_text:.1f} s after Start (speech begins at {LEAD_SECONDS} s), final text at "
          f"{final_text:.1f} s (speech ends at {LEAD_SECONDS + len(speech) / RATE:.1f} s), "
          f"ended {time.monotonic() - stopped:.1f} s after Stop")
    assert "Recognized" in status.inner_text()
    assert page.locator(".sc-live-panel .sc-live-interim").count() == 0  # all final now

    base = page.locator(".sc-live-base .sc-live-text").inner_text()
    custom = page.locator(".sc-live-custom .sc-live-text").inner_text()
    page.locator(".sc-live-panel").screenshot(path=str(screenshots / "live-2-final.png"))

    # The take, saved as workspace audio, holds the sentence as spoken: where the two recorders took
    # turns (every second) nothing was lost or repeated, so it lines up with the file throughout.
    page.locator(".sc-live-save").click()
    status.locator(".sc-status-success", has_text="Saved the take").wait_for()
    takes = [r for r in Workspace(lab.workspace).audio() if r.name.startswith("live-")]
    assert len(takes) == 1 and takes[0].path is not None
    take, rate = sf.read(takes[0].path, dtype="float32")
    assert rate == RATE
    correlation = np.correlate(take, speech[: RATE // 2], mode="valid")
    start = int(np.argmax(correlation))
    window = RATE // 2
    lags, pieces = [], []
    for offset in range(0, len(speech) - window, window):
        piece = speech[offset:offset + window]
        if np.sqrt(np.mean(piece ** 2)) < 0.01:
            continue  # a pause: nothing to line up
        around = take[start + offset - 1600:start + offset + window + 1600]
        lag = int(np.argmax(np.correlate(around, piece, mode="valid"))) - 1600
        lags.append(lag)
        pieces.append((piece, around[lag + 1600:lag + 1600 + window]))
    print(f"take {len(take) / RATE:.2f} s, speech starts at {start / RATE:.3f} s; lag of each 0.5 s (samples): {lags}")
    # Where the two recorders took turns nothing was lost or repeated: the take lines up with the file to
    # the millisecond, except that on a busy 2-core machine (this model's recognition, JupyterLab and
    # Chromium sharing it) one switch may slip by up to about 100 ms, a known weakness of taking turns.
    slips = [n for n in range(1, len(lags)) if abs(lags[n] - lags[n - 1]) > 16]
    assert len(lags) >= 4 and len(slips) <= 1 and max(map(abs, lags)) <= 1600, lags
    # The microphone's audio as it is (no gain control or noise suppression of the browser's in
    # between): each half second of speech that lines up with the file (not the one a slip falls in)
    # has the file's level and waveform.
    lined_up = [(piece, got) for n, (piece, got) in enumerate(pieces)
                if len(got) == window and not {n, n + 1} & set(slips)]
    source, spoken = (np.concatenate(part) for part in zip(*lined_up))
    level = float(np.sqrt(np.mean(spoken ** 2)) / np.sqrt(np.mean(source ** 2)))
    similarity = float(np.median([np.dot(got, piece) / (np.linalg.norm(got) * np.linalg.norm(piece))
                                  for piece, got in lined_up]))
    assert len(lined_up) >= 2 and 0.8 < level < 1.25 and similarity > 0.9, (level, similarity, lags)

    said = _words(reference)
    assert len(_words(custom) & said) >= 0.8 * len(said), (custom, reference)
    # The custom LM knows the jargon: the customized column has it and hears at least what the base one does.
    assert "terraform" in _words(custom) and len(_words(custom) & said) >= len(_words(base) & said), (base, custom)
    assert len(_words(base) & said) >= 3, (base, reference)
    errors = [m for m in page.console_messages if m.startswith("pageerror")]
    assert not errors, errors
