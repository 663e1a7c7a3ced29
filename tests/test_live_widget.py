"""The Live panel without a browser: real demo model, real custom LM, real WebM/Opus segments.

The browser's part is played by :class:`FakeRecorders`: each time the panel stops one of its two
ipywebrtc recorders, it sets that recorder's ``audio.value`` to the next WebM/Opus segment, as the
recorder's front end does (Opus at 48 kHz; consecutive segments overlapping by 40-100 ms, as two
recorders taking turns give them). So the audio takes the microphone's path through the panel.
"""

from __future__ import annotations

import html
import threading
from pathlib import Path

import numpy as np
import pytest
from helpers.audio import encode_av
from helpers.widgets import status_of

from jupyter_speechcustom import demo
from jupyter_speechcustom.asr.streaming import Final, Interim
from jupyter_speechcustom.evaluation.metrics import evaluate
from jupyter_speechcustom.io.audio import load_audio
from jupyter_speechcustom.io.manifest import read_manifest
from jupyter_speechcustom.services.workspace import Workspace
from jupyter_speechcustom.widgets.live import LivePanel, expected_overlap, stitch

pytestmark = pytest.mark.slow

BROWSER_RATE = 48_000  # browsers record Opus at 48 kHz


def webm_segments(audio: np.ndarray, seconds: float = 1.0, seed: int = 1,
                  overlap: tuple[float, float] = (0.04, 0.1)) -> tuple[list[bytes], list[float]]:
    """``audio`` (16 kHz) as the recorders deliver it: WebM/Opus segments starting every ``seconds``,
    each running on into the next one by ``overlap`` (the shortest and longest, seconds); also the
    overlaps (seconds)."""
    rng = np.random.default_rng(seed)
    audio48 = load_audio(audio, BROWSER_RATE, source_rate=16_000)
    step = int(seconds * BROWSER_RATE)
    segments, overlaps = [], []
    for start in range(0, len(audio48), step):
        samples = int(rng.uniform(*overlap) * BROWSER_RATE) if start + step < len(audio48) else 0
        segments.append(encode_av(audio48[start:start + step + samples, None], BROWSER_RATE, "webm", "libopus"))
        overlaps.append(samples / BROWSER_RATE)
    return segments, overlaps[:-1]


def empty_segment() -> bytes:
    """What a recorder stopped before it heard anything delivers: a WebM header without audio."""
    data = encode_av(np.zeros((4800, 1), np.float32), BROWSER_RATE, "webm", "libopus")
    return data[: data.index(b"\x1f\x43\xb6\x75")]  # up to the first Matroska cluster


class FakeRecorders:
    """The front end of the panel's recorders: a stopped recorder delivers the next segment."""

    def __init__(self, panel: LivePanel, segments: list[bytes], then: bytes | None = None) -> None:
        self.segments = list(segments)
        self.then = then  # delivered once the segments are used up (None: a short silence)
        self.used_up = threading.Event()
        assert panel.take is not None
        for recorder in panel.take.recorders:
            recorder.observe(lambda change, r=recorder: self._recording(r, change["new"]), names="recording")

    def _recording(self, recorder, recording: bool) -> None:
        if recording:
            return
        if self.segments:
            data = self.segments.pop(0)
        else:
            silence = np.zeros((BROWSER_RATE // 2, 1), np.float32)
            data = self.then if self.then is not None else encode_av(silence, BROWSER_RATE, "webm", "libopus")
        if not self.segments:
            self.used_up.set()
        recorder.audio.value = data


def speak(panel: LivePanel, audio: np.ndarray) -> list[tuple[str, str]]:
    """One take of ``audio`` through the panel; returns the (base, custom) HTML shown along the way."""
    panel.start()
    shown: list[tuple[str, str]] = []
    panel.custom_text.observe(lambda _: shown.append((panel.base_text.value, panel.custom_text.value)),
                              names="value")
    fake = FakeRecorders(panel, webm_segments(np.concatenate([audio, np.zeros(8000, np.float32)]))[0])
    assert fake.used_up.wait(60)
    panel.stop()
    assert panel.wait(60)
    return shown


@pytest.fixture(scope="module")
def utterances():
    entries = read_manifest(demo.manifest("domain/test"), require_text=True)
    return [(load_audio(e["audio_filepath"]), e["text"]) for e in entries[:4]]


@pytest.fixture
def ws_with_lm(tmp_path: Path, demo_lm) -> Workspace:
    """A workspace holding the demo LM, as "support"."""
    ws = Workspace(tmp_path / "ws")
    ws.add_language_model(demo_lm.path, name="support")
    return ws


def _stitched(segments: list[bytes]) -> tuple[np.ndarray, list[tuple[int, float]]]:
    """The decoded ``segments`` stitched as the panel does (where an overlap cannot be measured, what
    the overlaps measured so far make expected is cut); also (segment, overlap cut) of each overlap measured."""
    joined: list[np.ndarray] = []
    measured: list[tuple[int, float]] = []
    for n, data in enumerate(segments):
        samples = load_audio(data)
        if joined:
            expected = expected_overlap([cut for _, cut in measured])
            samples, cut, exact = stitch(np.concatenate(joined), samples, expected=expected)
            if exact:
                measured.append((n, cut))
        joined.append(samples)
    return np.concatenate(joined), measured


@pytest.mark.parametrize(("overlap", "spread"), [((0.04, 0.1), 0.06), ((0.015, 0.04), 0.025)],
                         ids=["40-100ms", "15-40ms"])
def test_stitch_rejoins_the_overlapping_segments_of_two_recorders(utterances, overlap, spread):
    """Decoded WebM/Opus segments, each overlapping the next by 40-100 ms (or by as little as 15 ms,
    where a busy browser starts the next recorder late): the overlaps are measured to the sample where
    there is speech, and the stitched audio is as long as the original."""
    audio = np.concatenate([a for a, _ in utterances])
    segments, overlaps = webm_segments(audio, overlap=overlap)
    stitched, measured = _stitched(segments)
    assert len(measured) >= len(segments) // 2, (measured, overlaps)
    assert all(abs(cut - overlaps[n - 1]) <= 1.5 / 16_000 for n, cut in measured), (measured, overlaps)
    # Only the overlaps assumed (where the match is not trusted) may be off, by the spread of the overlaps.
    assumed = len(segments) - 1 - len(measured)
    assert abs(len(stitched) - len(audio)) <= (spread * assumed + 0.002) * 16_000


def test_base_and_customized_transcripts_grow_side_by_side(ws_with_lm, demo_model, utterances):
    panel = LivePanel(ws_with_lm, demo_model, segment_seconds=0.3)
    assert panel.lm.value is not None and panel.words.value is None  # the newest LM, with its own words
    audio, reference = utterances[1]  # "the terraform state is locked by another apply in staging"
    shown = speak(panel, audio)
    take = panel.take
    assert take is not None and take.error is None, status_of(panel)

    # Interim text (grey italics) came before the final text, in both columns.
    first_interim = next(i for i, (_, custom) in enumerate(shown) if "sc-live-interim" in custom)
    first_final = next(i for i, (_, custom) in enumerate(shown) if "sc-live-final" in custom)
    assert first_interim < first_final
    assert any("sc-live-interim" in base for base, _ in shown)
    for side in take.sides.values():
        finals = [e for e in side.events if isinstance(e, Final)]
        assert finals and isinstance(side.events[0], Interim)
        assert all(e.start < e.end <= take.seconds + 0.01 for e in side.events)
        assert side.interim == ""
    assert "sc-live-interim" not in panel.custom_text.value and "Customized: LM support" in panel.custom_text.value

    # The custom LM knows the jargon the base model misspells.
    texts = panel.transcripts()
    base_wer = evaluate([reference], [texts["base"].lower()]).wer
    custom_wer = evaluate([reference], [texts["custom"].lower()]).wer
    assert custom_wer < base_wer, texts
    assert "terraform" in texts["custom"].lower() and "terraform" not in texts["base"].lower()

    # The take's audio is the spoken audio, stitched without gaps; it can be kept in the workspace.
    stats = take.stats()
    assert stats["segments"] >= 4
    spoken = (len(audio) + 8000) / 16_000  # then the fake recorders add up to 0.5 s of silence at Stop
    # On a busy CPU the panel's clock falls behind and the segments are not seen as consecutive, so their
    # overlaps stay in (up to 0.1 s each); otherwise every overlap is measured and cut.
    if stats["overlaps_ms"]:
        assert spoken - 0.05 <= stats["audio_seconds"] <= spoken + 0.55
    else:
        assert spoken - 0.05 <= stats["audio_seconds"] <= spoken + 0.1 * stats["segments"] + 0.55
    assert "Recognized" in status_of(panel) and not panel.live and not panel.start_button.disabled
    audio_id = panel.save_take()
    assert audio_id is not None and ws_with_lm.get(audio_id, "audio").info["duration"] == pytest.approx(
        stats["audio_seconds"], abs=0.01)
    assert panel.save_button.disabled


def test_stop_then_a_new_take(ws_with_lm, demo_model, utterances):
    panel = LivePanel(ws_with_lm, demo_model, segment_seconds=0.3)
    panel.words.value = ""  # the LM without its custom words: the column says so
    speak(panel, utterances[0][0])
    first = panel.take
    assert first is not None and first.error is None and first.sides["custom"].finals
    assert all(r.comm is None for r in first.recorders) and first.camera.comm is None  # microphone released
    assert "no custom words" in panel.custom_text.value

    panel.start()
    panel.start()  # a second Start while a take runs is refused, the take goes on
    assert "press Stop first" in status_of(panel) and panel.take is not first
    fake = FakeRecorders(panel, webm_segments(utterances[3][0])[0])
    assert fake.used_up.wait(60)
    panel.stop()
    assert panel.wait(60)
    texts = panel.transcripts()
    assert "namespace" in texts["custom"] and "rollout" not in texts["custom"]  # the new take only
    assert first.sides["custom"].finals  # the old take keeps its results


def test_no_audio_from_the_microphone_is_explained(ws_with_lm, demo_model):
    """A browser that never delivers (permission denied, no microphone): the take ends with advice."""
    panel = LivePanel(ws_with_lm, demo_model, segment_seconds=0.3)
    panel.no_audio_seconds = 1.0
    panel.start()
    assert panel.live and panel.start_button.disabled
    assert panel.wait(30)
    message = status_of(panel)
    assert "No audio came from the microphone" in message and "allow this page to use the microphone" in message
    assert not panel.live and not panel.start_button.disabled and panel.save_button.disabled
    assert panel.save_take() is None and "No finished take with audio" in status_of(panel)


def test_empty_segments_end_the_take_with_an_error(ws_with_lm, demo_model):
    panel = LivePanel(ws_with_lm, demo_model, segment_seconds=0.3)
    panel.start()
    FakeRecorders(panel, [], then=empty_segment())
    assert panel.wait(30)
    assert "3 empty recordings in a row" in status_of(panel) and "muted" in status_of(panel)
    assert panel.take is not None and panel.take.empty >= 3 and not panel.take.audio


def test_a_model_gone_before_start_is_reported(ws_with_lm, demo_model, demo_lm, utterances):
    from jupyter_speechcustom.services import management

    panel = LivePanel(ws_with_lm, demo_model, segment_seconds=0.3)
    gone = panel.lm.value
    management.delete(ws_with_lm, "lm", gone)
    panel.start_button.click()
    assert "Starting failed" in status_of(panel) and "no longer in the workspace" in status_of(panel)
    assert not panel.live and panel.take is None and panel.lm.value != gone  # the lists were re-read

    # A model that fails to load ends the take with the reason, and the panel is ready again.
    broken = ws_with_lm.add_language_model(demo_lm.path, name="broken")
    assert broken.path is not None
    (broken.path / "lm.json").write_text("{")
    panel.refresh()
    panel.lm.value = broken.id
    panel.start()
    FakeRecorders(panel, webm_segments(utterances[0][0][:16000])[0])
    assert panel.wait(30)
    assert "Loading the recognizers failed:" in status_of(panel) and "rebuild the language model" in status_of(panel)
    assert not panel.live and not panel.start_button.disabled
    with pytest.raises(ValueError, match="segment_seconds"):
        LivePanel(ws_with_lm, demo_model, segment_seconds=0.1)


def test_the_sliders_start_from_the_weights_tuned_for_the_lm(tmp_path, demo_model, demo_lm):
    import shutil

    from jupyter_speechcustom.lm.language_model import CustomLanguageModel

    copy = tmp_path / "tuned-lm"
    shutil.copytree(demo_lm.path, copy)
    CustomLanguageModel.load(copy).save_tuning({"lm_alpha": 1.35, "lm_beta": 1.5, "boost_alpha": 0.5, "beam_size": 8,
                                                "head": "ctc"}, 0.2, "a dev set", 5)
    ws = Workspace(tmp_path / "ws")
    lm = ws.add_language_model(copy, name="tuned")
    panel = LivePanel(ws, demo_model, segment_seconds=0.3)
    assert panel.lm.value == lm.id
    assert (panel.lm_alpha.value, panel.boost_alpha.value, panel.lm_beta.value) == pytest.approx((1.35, 0.5, 1.5))
    assert panel.head.value == "ctc" and not panel.lm_beta.disabled
    panel.lm_alpha.value = 1.0
    panel.head.value = "transducer"  # Compare's controls: a transducer's search has no length bonus
    assert panel.lm_beta.disabled
    panel.head.value = "ctc"
    _, custom = panel._recognizer_pair((panel.lm.value, None, None, panel.lm_alpha.value, panel.boost_alpha.value,
                                        panel.lm_beta.value, panel.head.value))
    assert custom.decoder.weights.head == "ctc" and custom.decoder.weights.lm_beta == 1.5  # as tuned
    assert custom.decoder.weights.lm_alpha == 1.0  # the slider's



def _ready(panel: LivePanel) -> str:
    from jupyter_speechcustom.widgets.live import READY

    for _ in range(600):
        if READY in status_of(panel) or "failed" in status_of(panel):
            break
        threading.Event().wait(0.1)
    return status_of(panel)


def test_opening_the_tab_gets_the_recognizers_ready(ws_with_lm, demo_model):
    """The Studio refreshes a tab when it opens: the Live tab then makes the recognizers of its choice in
    the background (a custom LM takes seconds to load) and says when Start will find them ready."""
    from jupyter_speechcustom.widgets.live import READY

    panel = LivePanel(ws_with_lm, demo_model, segment_seconds=0.3)
    assert panel._recognizers.keys() == []  # nothing is made before the tab is shown
    panel.refresh()
    assert READY in _ready(panel)
    assert "The sliders start from the LM's default weights (this LM was never tuned)" in html.unescape(
        panel.weights_note.value)
    assert panel._recognizers.keys() == ["base", panel._key()]
    customized = panel._recognizer_pair(panel._key())[1]
    assert customized.lm is not None and customized.lm.path == ws_with_lm.get(panel.lm.value, "lm").path

    # Choosing another customization prepares it in turn; a take's status is never overwritten.
    panel.words.value = ""
    assert READY in _ready(panel) and panel._recognizers.keys()[-1] == panel._key()
