"""The Live panel: the microphone recognized as you speak, by the base and the customized system side by side.

How the audio gets from the browser to the kernel without custom JavaScript: ipywebrtc's
``AudioRecorder`` only hands its recording over when it stops (a WebM/Opus file, in its ``audio``
widget's ``value``). So two recorders share one microphone stream and take turns: every
``segment_seconds`` the idle one starts, and :data:`OVERLAP_SECONDS` later the other one stops and
delivers its segment. Chromium's recorder drops the last, unfinished Opus frame of a recording
(up to 60 ms), so stopping at once would lose that much at every switch; with the overlap, the
segments cover each other by 40-100 ms instead, and :func:`stitch` finds the exact overlap by
aligning the new segment's beginning with the previous segment's end, and cuts it. The stitched
audio feeds two :class:`~jupyter_speechcustom.asr.streaming.RecognitionStream` (base, and
base with the chosen custom LM, words and AM) as float samples on a worker thread, whose
:class:`~jupyter_speechcustom.asr.streaming.Interim` and :class:`~jupyter_speechcustom.asr.streaming.Final`
events are shown as they come. A segment is recognized once it has arrived: the text lags the voice by
about ``segment_seconds`` plus the decoding time.

Threads: a clock thread starts and stops the recorders and updates the elapsed time; the
segments arrive on the kernel's main thread (widget messages) and are queued; the worker thread
decodes, stitches and recognizes them and sets the transcript widgets' values (traits only).
"""

from __future__ import annotations

import io
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import numpy as np
import traitlets

from jupyter_speechcustom.constants import DEMO_MODEL_NAME, SAMPLE_RATE
from jupyter_speechcustom.errors import AudioError, SpeechCustomError
from jupyter_speechcustom.evaluation import diffview
from jupyter_speechcustom.widgets._common import (
    LABELLED,
    Choice,
    Panel,
    WeightControls,
    button,
    error_text,
    heading,
    hint,
    hint_html,
    set_options,
    wide,
)
from jupyter_speechcustom.widgets._live_take import OVERLAP_SECONDS, _Side, _Take, expected_overlap, stitch

if TYPE_CHECKING:
    from jupyter_speechcustom.asr.models import BaseModel
    from jupyter_speechcustom.asr.streaming import RecognitionStream
    from jupyter_speechcustom.services.workspace import Workspace

__all__ = ["LivePanel", "expected_overlap", "stitch"]

#: The microphone as it is: a browser's echo cancellation, noise suppression and gain control, made for
#: calls, distort speech for the recognizer (measured: the demo model's transcript of a sentence played
#: through Chromium's fake microphone went from 7 of 10 words right with them to 10 of 10 without).
MICROPHONE_CONSTRAINTS = {"echoCancellation": False, "noiseSuppression": False, "autoGainControl": False}
#: What the status says once the recognizers of the choice are ready.
READY = "Ready: press Start and speak."
#: Seconds of audio in each recorder segment: the text lags the voice by about this much.
SEGMENT_SECONDS = 1.0
#: Without any segment from the browser after this many seconds, the microphone is not available.
NO_AUDIO_SECONDS = 10.0
#: A take stops by itself after this many seconds (its audio is kept in memory: about 4 MB a minute).
MAX_TAKE_SECONDS = 30 * 60
#: Seconds to wait for the last segments after Stop.
STOP_TIMEOUT = 5.0
#: This many empty segments in a row end the take with an error.
EMPTY_SEGMENTS_LIMIT = 3
#: A segment shorter than this (seconds) is empty (the recorder stopped before it heard anything).
MIN_SEGMENT_SECONDS = 0.02


def _no_audio_message(seconds: float) -> str:
    return (f"No audio came from the microphone in {seconds:.0f} s: allow this page to use the microphone (the "
            "browser asks once, or see the microphone icon in its address bar), check that a microphone is "
            "connected, and use a browser that records WebM/Opus (Chrome, Edge or Firefox); then press Start again")


def _clock_text(seconds: float) -> str:
    return f"{int(seconds // 60)}:{seconds % 60:04.1f}"


class LivePanel(Panel):
    """Speak into the microphone: the base and the customized recognizer transcribe it side by side.

    Args:
        workspace: a :class:`~jupyter_speechcustom.services.workspace.Workspace` or its folder.
        base: the base model (or its name or ``.nemo`` path).
        segment_seconds: length of each recorder segment (see the module's description): shorter
            segments show text sooner and cost more messages and decoding.

    Children of note: ``lm``, ``words``, ``am`` (the customization, from the workspace), ``lm_alpha``,
    ``boost_alpha``, ``lm_beta`` (sliders), ``head`` (a hybrid's), ``start_button``, ``stop_button``, ``save_button``, ``elapsed``,
    ``base_text`` and ``custom_text`` (the transcripts: final text, then the interim hypothesis in grey
    italics).

    Attributes:
        take: the latest take (its ``sides["base"|"custom"]`` hold the results, ``stats()`` its figures),
            or None.
        no_audio_seconds: seconds without any audio from the browser before the take ends with an error.

    Traits:
        live (Bool, default False): whether a take is being recorded or finished.
    """

    live = traitlets.Bool(False, help="Whether a take is being recorded or recognized.")

    def __init__(self, workspace: Workspace | str | Path, base: BaseModel | str | Path = DEMO_MODEL_NAME, *,
                 segment_seconds: float = SEGMENT_SECONDS) -> None:
        if isinstance(segment_seconds, bool) or not isinstance(segment_seconds, (int, float)) \
                or not 0.25 <= segment_seconds <= 10:
            raise ValueError(f"segment_seconds must be from 0.25 to 10, got {segment_seconds!r}")
        super().__init__(workspace, base)
        self.add_class("sc-live-panel")
        self.segment_seconds = float(segment_seconds)
        self.no_audio_seconds = NO_AUDIO_SECONDS
        self.take: _Take | None = None
        self._takes = 0
        self._prepared = False  # True once the tab was shown: changing the choice prepares its recognizers
        self._preparing = 0  # how many times the recognizers were prepared: only the latest says it is done
        from jupyter_speechcustom.services.pool import RecognizerPool

        # The base recognizer and the latest customized one: models are large.
        self._recognizers = RecognizerPool(2)

        self.lm = Choice(description="Custom LM", style=LABELLED, options=[("none", None)], layout=wide())
        self.words = Choice(description="Custom words", style=LABELLED, options=[("the LM's", None)], layout=wide())
        self.am = Choice(description="Custom AM", style=LABELLED, options=[("none", None)], layout=wide())
        # Compare's decoding controls: LM alpha, boost, LM beta (CTC heads) and a hybrid's head.
        self.weight_controls = WeightControls(self.base)
        self.lm_alpha, self.lm_beta, self.boost_alpha, self.head = self.weight_controls.controls
        self.observe_value(self.head, lambda _: self.weight_controls.enable())
        self.weight_controls.enable()
        self.weights_note = widgets.HTML()
        self.observe_value(self.lm, lambda _: self._start_from_tuning())
        self.start_button = button("Start", icon="microphone", style="danger", css="sc-live-start")
        self.stop_button = button("Stop", icon="stop", css="sc-live-stop")
        self.stop_button.disabled = True
        self.save_button = button("Save the take as audio", icon="save", css="sc-live-save")
        self.save_button.disabled = True
        self.elapsed = widgets.HTML(self._elapsed_html(0.0, 0.0, False))
        self.elapsed.add_class("sc-live-elapsed")
        self.base_text = widgets.HTML(self._side_html("Base", _Side()), layout=widgets.Layout(width="50%"))
        self.base_text.add_class("sc-live-base")
        self.custom_text = widgets.HTML(self._side_html("Customized", _Side()), layout=widgets.Layout(width="50%"))
        self.custom_text.add_class("sc-live-custom")
        self.on(self.start_button, self.start, "Starting")
        self.on(self.stop_button, self.stop, "Stopping")
        self.on(self.save_button, self.save_take, "Saving the take")

        self.children = [
            widgets.HTML(diffview.style_tag()),
            self.status,
            heading("Customization"),
            widgets.HBox([self.lm, self.words]),
            widgets.HBox([self.am]),
            widgets.HBox([self.lm_alpha, self.boost_alpha]),
            widgets.HBox([self.head, self.lm_beta]),
            self.weights_note,
            heading("Speak"),
            hint(f"Start, allow the browser to use the microphone, speak; Stop ends the take. The audio reaches "
                 f"the recognizers in {self.segment_seconds:g} s segments, so the text follows your voice by about "
                 "that much. Grey italics: the hypothesis so far, which may still change; black: final, at each "
                 "pause."),
            widgets.HBox([self.start_button, self.stop_button, self.elapsed, self.save_button],
                         layout=widgets.Layout(align_items="center")),
            widgets.HBox([self.base_text, self.custom_text], layout=widgets.Layout(width="100%")),
        ]
        self._list()
        for control in (self.lm, self.words, self.am):
            self.observe_value(control, lambda _: self.prepare() if self._prepared else None)

    # ------------------------------------------------------------------ listing

    def refresh(self) -> None:
        """Re-read the custom LMs, word lists and AMs of this base model from the workspace, and get the
        recognizers of the choice ready (the Studio calls this when the tab opens)."""
        self._list()
        self.prepare()

    def _list(self) -> None:
        ws = self.workspace
        lms, ams = self.usable_language_models(), self.usable_acoustic_models()
        had_lm = self.lm.value is not None
        set_options(self.lm, [("none", None), *[(f"{r.label} ({r.id})", r.id) for r in lms]])
        set_options(self.words, [("the LM's", None), ("none", ""),
                                 *[(f"{r.name} ({r.info.get('count', '?')} words)", r.id)
                                   for r in reversed(ws.word_lists())]])
        set_options(self.am, [("none", None), *[(f"{r.label} ({r.id})", r.id) for r in ams]])
        if not had_lm and self.lm.value is None and lms:
            self.lm.value = lms[0].id

    def customization(self) -> str:
        """The customized system's name, as its column shows it."""
        parts = []
        if self.lm.value is not None:
            parts.append(f"LM {self.workspace.get(self.lm.value, 'lm').label}")
        if self.words.value:
            parts.append(f"words {self.workspace.get(self.words.value, 'words').name}")
        elif self.words.value == "" and self.lm.value is not None:
            parts.append("no custom words")
        if self.am.value is not None:
            parts.append(f"AM {self.workspace.get(self.am.value, 'am').label}")
        return " + ".join(parts) if parts else "nothing chosen: the same as the base"

    # ------------------------------------------------------------------ display

    @staticmethod
    def _side_html(title: str, side: _Side) -> str:
        finals = "".join(f'<span class="sc-live-final">{diffview.escape(t)}</span> ' for t in side.finals)
        interim = (f'<span class="sc-live-interim" style="color:var(--jp-ui-font-color2,#888);font-style:italic">'
                   f"{diffview.escape(side.interim)}</span>") if side.interim else ""
        empty = "" if finals or interim else '<span class="sc-muted">…</span>'
        return (f'<div class="sc-root" style="padding:6px 10px 0 0"><div style="font-weight:600">'
                f'{diffview.escape(title)}</div><div class="sc-live-text" style="min-height:4.5em;line-height:1.5;'
                f'border-left:3px solid var(--jp-border-color2,#ddd);padding:4px 8px;margin-top:4px">'
                f"{finals}{interim}{empty}</div></div>")

    @staticmethod
    def _elapsed_html(elapsed: float, recognized: float, recording: bool) -> str:
        dot = '<span style="color:#c0392b">●</span> ' if recording else ""
        return (f'<span class="sc-root" style="margin:0 12px;font-variant-numeric:tabular-nums">{dot}'
                f"{_clock_text(elapsed)} · recognized {recognized:.1f} s</span>")

    def _show_sides(self, take: _Take, title: str) -> None:
        self.base_text.value = self._side_html("Base", take.sides["base"])
        self.custom_text.value = self._side_html(f"Customized: {title}", take.sides["custom"])

    # ------------------------------------------------------------------ recognizers

    def _start_from_tuning(self) -> None:
        """Move the sliders to the weights tuned for the chosen LM (in the Compare tab, or with
        ``speechcustom lm tune``), where it has them, else to the defaults for decoding with it."""
        from jupyter_speechcustom.asr.decoding import start_weights, weights_provenance

        lm = self.workspace.language_model(self.lm.value) if self.lm.value else None
        self.weight_controls.set(start_weights(lm, self.base))
        self.weights_note.value = hint_html(f"The sliders start from the LM's {weights_provenance(lm, self.base)}.") \
            if lm is not None else ""

    def _key(self) -> tuple[Any, ...]:
        """What the recognizers of a take are made from: the choices and the decoding controls."""
        return (self.lm.value, self.words.value, self.am.value, float(self.lm_alpha.value),
                float(self.boost_alpha.value), float(self.lm_beta.value), self.head.value)

    def prepare(self) -> None:
        """Make the recognizers of the current choice in the background, so that Start finds them ready:
        loading a custom LM takes seconds, which would otherwise pass before the first words show."""
        self._prepared = True
        if self.live:
            return
        self._preparing += 1
        self.show("Getting the recognizers ready…", "working")
        threading.Thread(target=self._prepare, args=(self._key(), self._preparing), name="speechcustom-live-prepare",
                         daemon=True).start()

    def _prepare(self, key: tuple[Any, ...], number: int) -> None:
        try:
            self._recognizer_pair(key)
            message, kind = READY, "info"
        except Exception as exc:  # noqa: BLE001 - shown; Start makes them again and says what is wrong
            message, kind = f"Getting the recognizers ready failed: {error_text(exc)}", "error"
        self._main.call(self._prepared_show, number, message, kind)

    def _prepared_show(self, number: int, message: str, kind: str) -> None:
        if number == self._preparing and not self.live:  # the latest choice, and no take has started since
            self.show(message, kind)

    def _recognizer_pair(self, key: tuple[Any, ...]) -> tuple[Any, Any]:
        """The base and the customized recognizer for ``key`` (LM id, words choice, AM id, alpha, boost,
        beta, head)."""
        from jupyter_speechcustom.asr.decoding import start_weights
        from jupyter_speechcustom.services.recognition import Recognizer

        def customized() -> Recognizer:
            lm_id, words_id, am_id, alpha, boost, beta, head = key
            ws = self.workspace
            lm = ws.language_model(lm_id) if lm_id else None
            am = ws.acoustic_model(am_id) if am_id else None
            words = ws.custom_words(words_id) if words_id else (() if words_id == "" else None)
            # The beam as tuned for the LM, where it was; the rest from the controls.
            weights = replace(start_weights(lm, self.base), lm_alpha=alpha, boost_alpha=boost, lm_beta=beta, head=head)
            return Recognizer(self.base, lm=lm, am=am, words=words, weights=weights)

        base = self._recognizers.get("base", lambda: Recognizer(self.base))
        return base, self._recognizers.get(key, customized)

    # ------------------------------------------------------------------ takes

    def start(self) -> None:
        """Start a take: the microphone is recorded in segments and recognized as they arrive."""
        if self.live:
            self.show("A take is running: press Stop first", "error")
            return
        from ipywebrtc import AudioRecorder, CameraStream

        key = self._key()
        try:
            title = self.customization()
        except LookupError:
            self.refresh()
            raise SpeechCustomError("a custom model or word list chosen here is no longer in the workspace: the "
                                    "lists are updated, check the choice and press Start again") from None
        self._takes += 1
        self._preparing += 1  # what a preparation still under way finds is not shown over the take's status
        take = _Take(self._takes, self.segment_seconds)
        take.camera = CameraStream(constraints={"audio": MICROPHONE_CONSTRAINTS, "video": False})
        take.recorders = [AudioRecorder(stream=take.camera, format="webm", codecs="opus") for _ in range(2)]
        for index, recorder in enumerate(take.recorders):
            recorder.audio.observe(lambda change, i=index: self._arrived(take, i, change["new"]), names="value")
        self.take = take
        self.live = True
        self.start_button.disabled = True
        self.stop_button.disabled = False
        self.save_button.disabled = True
        self._show_sides(take, title)
        self.elapsed.value = self._elapsed_html(0.0, 0.0, True)
        self.show("Listening: speak now (allow the browser to use the microphone if it asks).", "working")
        threading.Thread(target=self._work, args=(take, key, title), name="speechcustom-live-recognize",
                         daemon=True).start()
        threading.Thread(target=self._clock, args=(take,), name="speechcustom-live-clock", daemon=True).start()

    def stop(self) -> None:
        """End the take: the last segment is recognized, then both transcripts are final."""
        take = self.take
        if take is None or take.stop_requested.is_set():
            return
        take.stop_requested.set()
        self.stop_button.disabled = True
        self.show("Stopping: recognizing the last words…", "working")

    def close(self) -> None:
        """Closing the panel ends its take (the microphone is released once the last segment is in)."""
        if self.take is not None:
            self.take.stop_requested.set()
        super().close()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the latest take to end (after :meth:`stop`, or an error); True if it did."""
        take = self.take
        return take is None or take.done.wait(timeout)

    def transcripts(self) -> dict[str, str]:
        """The latest take's final transcripts: ``{"base": ..., "custom": ...}``."""
        take = self.take
        return {name: side.text for name, side in take.sides.items()} if take else {"base": "", "custom": ""}

    def save_take(self) -> str | None:
        """Store the latest take's audio in the workspace (WAV, without a transcript); returns its id."""
        take = self.take
        if take is None or not take.done.is_set() or not take.audio:
            self.show("No finished take with audio to save: press Start, speak, then Stop", "error")
            return None
        import soundfile

        buffer = io.BytesIO()
        soundfile.write(buffer, np.concatenate(take.audio), SAMPLE_RATE, format="WAV", subtype="PCM_16")
        name = time.strftime("live-%Y%m%d-%H%M%S.wav")
        rec = self.workspace.add_audio(buffer.getvalue(), name=name, on_duplicate="keep")
        self.save_button.disabled = True
        self.show(f"Saved the take as {rec.name} ({rec.info.get('duration', 0):.1f} s, {rec.id}): give it a "
                  "transcript under Manage the workspace to use it for supervised training or scoring.", "success")
        return rec.id

    # ------------------------------------------------------------------ threads

    def _ask(self, take: _Take, index: int) -> None:
        """Stop recorder ``index``: its segment will arrive as the ``value`` of its audio widget."""
        with take.lock:
            take.pending[index].append(take.asked)
            take.asked += 1
            take.all_in.clear()
        take.recorders[index].recording = False

    def _clock(self, take: _Take) -> None:
        """Start and stop the recorders in turn; keep the elapsed time; detect a silent microphone."""
        current = 0
        try:
            take.recorders[0].recording = True
            switch_at = take.started + take.segment_seconds
            while not take.stop_requested.wait(max(0.0, min(0.25, switch_at - time.monotonic()))):
                now = time.monotonic()
                self.elapsed.value = self._elapsed_html(take.elapsed, take.recognized, True)
                if take.arrived == 0 and now - take.started > self.no_audio_seconds:
                    take.fail(_no_audio_message(self.no_audio_seconds))
                    break
                if now - take.started > MAX_TAKE_SECONDS:
                    take.notes.append(f"a take stops after {MAX_TAKE_SECONDS // 60} minutes: press Start again to go on")
                    break
                if now >= switch_at:
                    other = 1 - current
                    take.recorders[other].recording = True
                    time.sleep(OVERLAP_SECONDS)
                    self._ask(take, current)
                    current = other
                    switch_at += take.segment_seconds
            self._ask(take, current)
            take.stopped = time.monotonic()
            if (take.arrived or take.error is None) and not take.all_in.wait(STOP_TIMEOUT):
                if take.arrived == 0:
                    take.fail(_no_audio_message(take.elapsed))
                else:
                    take.notes.append(f"the last {take.asked - take.arrived} segment(s) from the browser did not "
                                      "arrive")
        except Exception as exc:  # noqa: BLE001 - shown in the panel, never raised from the thread
            take.fail(f"The recording failed: {exc}")
        finally:
            take.stopped = take.stopped or time.monotonic()
            take.queue.put(None)

    def _arrived(self, take: _Take, index: int, value: Any) -> None:
        """A recorder delivered its segment (on the kernel's main thread): queue it for the worker."""
        data = bytes(value or b"")
        if not data:
            return
        # Two segments may be byte for byte the same (digital silence): empty the value, so the next
        # one is a change again.
        take.recorders[index].audio.value = b""
        with take.lock:
            if not take.pending[index]:
                return  # not asked for: a segment of an ended take
            seq = take.pending[index].popleft()
            take.arrived += 1
            if take.arrived >= take.asked:
                take.all_in.set()
        take.queue.put((seq, data))

    def _segment(self, take: _Take, seq: int, data: bytes) -> np.ndarray | None:
        """The new audio of a segment (decoded, its overlap with the previous one cut), or None if empty."""
        from jupyter_speechcustom.io.audio import load_audio

        try:
            samples = load_audio(data, SAMPLE_RATE)
        except AudioError:
            samples = np.zeros(0, np.float32)
        follows = seq == take.last_seq + 1 and bool(take.audio)
        take.last_seq = seq
        if len(samples) < MIN_SEGMENT_SECONDS * SAMPLE_RATE:
            take.empty += 1
            take.empty_in_row += 1
            if take.empty_in_row >= EMPTY_SEGMENTS_LIMIT:
                take.fail(f"The microphone gave {take.empty_in_row} empty recordings in a row: check that it is not "
                          "muted or used by another program, allow this page to use it, then press Start again")
            take.last_seq = -2  # the next segment does not follow audio
            return None
        take.empty_in_row = 0
        take.segments += 1
        if not follows:
            return samples
        new, overlap, measured = stitch(np.concatenate(take.audio[-3:]), samples,
                                        expected=expected_overlap(take.overlaps))
        if measured:
            take.overlaps.append(overlap)
        else:
            take.assumed += 1
        return new

    def _work(self, take: _Take, key: tuple[Any, ...], title: str) -> None:
        """The recognition thread: decode, stitch and recognize segments until the clock thread ends the take."""
        from jupyter_speechcustom.asr.streaming import RecognitionStream

        streams: dict[str, RecognitionStream] = {}
        try:
            pair = self._recognizer_pair(key)
            streams = {name: RecognitionStream(recognizer, interim_results=True)
                       for name, recognizer in zip(("base", "custom"), pair)}
        except Exception as exc:  # noqa: BLE001 - shown in the panel, never raised from the thread
            take.fail(f"Loading the recognizers failed: {error_text(exc)}")
        # Every item is taken until the end mark, even after an error: the clock thread ends the take.
        while (item := take.queue.get()) is not None:
            if take.error is not None:
                continue
            try:
                self._recognize(take, streams, *item)
                self._show_sides(take, title)
                self.elapsed.value = self._elapsed_html(take.elapsed, take.recognized,
                                                        not take.stop_requested.is_set())
            except Exception as exc:  # noqa: BLE001
                take.fail(f"Recognition failed: {error_text(exc)}")
        if take.error is None:
            try:
                for name, stream in streams.items():
                    for final in stream.finish():
                        take.sides[name].take(final)
            except Exception as exc:  # noqa: BLE001
                take.fail(f"Recognition failed: {error_text(exc)}")
        for side in take.sides.values():
            side.interim = ""
        self._show_sides(take, title)
        self._main.call(self._ended, take)

    def _recognize(self, take: _Take, streams: dict[str, RecognitionStream], seq: int, data: bytes) -> None:
        samples = self._segment(take, seq, data)
        if samples is None or not len(samples):
            return
        take.audio.append(samples)
        for name, stream in streams.items():
            for event in stream.feed(samples, SAMPLE_RATE):
                take.sides[name].take(event)
        take.recognized = take.seconds

    def _ended(self, take: _Take) -> None:
        """Back on the main thread: close the microphone and recorders, show the outcome."""
        try:
            for widget in (*take.recorders, take.camera):
                if widget is not None:
                    widget.close()
            if take is not self.take:
                return
            self.elapsed.value = self._elapsed_html(take.elapsed, take.recognized, False)
            self.start_button.disabled = False
            self.stop_button.disabled = True
            self.save_button.disabled = not take.audio
            if take.error is not None:
                self.show(take.error, "error")
            else:
                note = f" Note: {'; '.join(take.notes)}." if take.notes else ""
                empty = f" {take.empty} empty segment(s) skipped." if take.empty else ""
                heard = (f"Recognized {take.seconds:.1f} s of audio in {take.segments} segment(s).{empty}{note}"
                         if take.audio else "The take held no audio.")
                self.show(heard, "success" if take.audio else "info")
        finally:
            if take is self.take:
                self.live = False
            take.done.set()
