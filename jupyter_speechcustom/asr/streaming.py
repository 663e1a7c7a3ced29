"""Live recognition of an audio stream: interim hypotheses while audio arrives, a final result at each pause.

A :class:`RecognitionStream` takes float samples as they arrive (at any rate: they are resampled to
the model's as a stream), keeps the current utterance's samples, and returns typed events:

- :class:`Interim` hypotheses: the buffered utterance decoded again, greedily, at most once per
  ``interim_seconds`` of new audio (the acoustic pass over the whole utterance, so a bidirectional
  model sees its full context so far);
- a :class:`Final` result at a pause (``pause_seconds`` of audio under ``silence_db``, measured on the
  incoming samples in 20 ms frames) and at the end of the stream, decoded like ``Recognizer.transcribe``
  (the custom LM and boosting when the recognizer has them, word timings and confidences) with
  its times counted from the start of the stream.

Bytes in a content type become samples with :mod:`jupyter_speechcustom.io.stream_codecs`; the IBM
Watson message shapes of the events are the server's (:mod:`jupyter_speechcustom.server.recognition`).

Which acoustic path a model takes depends on how it was trained:

- **buffered** (most models: bidirectional encoders such as the demo's LSTM or an offline FastConformer,
  which look at the whole utterance): each interim hypothesis and each final result runs the acoustic
  model again over the whole buffered utterance, so the model always has its full context; the cost of
  a step grows with the utterance.
- **cache-aware** (models trained for cache-aware streaming, such as NeMo's streaming FastConformers,
  e.g. ``nvidia/stt_en_fastconformer_hybrid_large_streaming_multi``): their encoder sees a limited
  left context and a fixed look-ahead (``att_context_style: chunked_limited``, or ``regular`` with a
  finite right context) and only past frames in its convolutions (``conv_context_size: causal``), and
  their features are not normalized over the utterance. Such an encoder is run chunk by chunk as the
  audio arrives, each chunk once, with its caches (NeMo's ``cache_aware_stream_step`` fed by its
  ``CacheAwareStreamingAudioBuffer``, in the model's ``encoder.streaming_cfg`` chunks), and the
  utterance's encoder frames are kept: an interim hypothesis is a greedy decoding of the frames so far
  and a final result builds the family's cached output from them (CTC log-probs, or the encoder
  output of a transducer or hybrid) and decodes it as above; the encoder never runs over the whole
  utterance again. The model is detected from its encoder's configuration (:func:`cache_aware_problem`
  says why a model takes the buffered path). Its frames are those of NeMo's own streaming simulation
  of the utterance's audio (``speech_to_text_cache_aware_streaming_infer.py``), bit for bit, less any
  frame past the audio's end (NeMo's last, padded chunk can add one); NeMo documents streaming and
  offline outputs as equal for such models, and they agree to float rounding (up to a frame at the
  end). Each utterance starts with fresh caches, and the encoder does not run before it holds speech;
  after a cut without a pause (``max_utterance_seconds``) the audio after the cut is encoded again as
  the next utterance's start.

``result_index`` numbers the utterances from 0, as IBM's service does: an utterance's interim
hypotheses and its final result share one index. The stream is plain Python and not thread-safe:
feed it from one thread at a time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np

from jupyter_speechcustom.asr.threads import torch_threads
from jupyter_speechcustom.constants import SEGMENT_SECONDS
from jupyter_speechcustom.errors import AudioError, InvalidOptionError
from jupyter_speechcustom.io.audio import split_on_pauses

__all__ = [
    "INTERIM_SECONDS",
    "PAUSE_SECONDS",
    "SILENCE_DB",
    "Event",
    "Final",
    "Interim",
    "RecognitionStream",
    "Word",
    "cache_aware_problem",
    "transcript_words",
]

log = logging.getLogger(__name__)

#: Seconds of silence that end an utterance (IBM's default ``end_of_phrase_silence_time``).
PAUSE_SECONDS = 0.8
#: Least seconds of new audio between two interim hypotheses of one utterance.
INTERIM_SECONDS = 0.6
#: A 20 ms frame whose RMS level is under this (dB full scale) is silence.
SILENCE_DB = -45.0
#: Energy is measured in frames of this many seconds.
FRAME_SECONDS = 0.02
#: Silence kept before speech starts, so the first sound of an utterance is never cut.
LEAD_SECONDS = 0.3
#: An utterance without a pause is cut at its quietest moment once it is this long.
MAX_UTTERANCE_SECONDS = SEGMENT_SECONDS

#: Torch threads for a stream's decoding steps: each step is small (one utterance), and on a busy
#: machine a thread pool per step costs far more than it gains (10-30x slower on 2 loaded cores).
STREAM_TORCH_THREADS = 1

# --------------------------------------------------------------------------- events


@dataclass(frozen=True)
class Word:
    """A word of a final result: its times (seconds from the start of the stream) and confidence, where
    the decoder gives them."""

    word: str
    start: float | None = None
    end: float | None = None
    confidence: float | None = None


@dataclass(frozen=True)
class Interim:
    """A hypothesis of the utterance so far (greedy, display forms applied): it may still change.

    ``result_index`` numbers the utterances from 0 (an utterance's interims and its final share it);
    ``start`` and ``end`` are the seconds of the stream the utterance's audio so far spans."""

    result_index: int
    text: str
    start: float
    end: float


@dataclass(frozen=True)
class Final:
    """The decoded utterance (display forms applied; empty when it held nothing, after interim text).

    Args:
        result_index: the utterance's number, from 0.
        text: the transcript.
        start, end: the seconds of the stream the utterance spans.
        words: its words with times counted from the start of the stream and confidences.
        alternatives: the next-best transcripts, best first, when more than one was asked for.
    """

    result_index: int
    text: str
    start: float
    end: float
    words: tuple[Word, ...] = ()
    alternatives: tuple[str, ...] = ()

    @property
    def confidence(self) -> float | None:
        """The mean of the words' confidences (None when the decoder gave none)."""
        values = [w.confidence for w in self.words if w.confidence is not None]
        return sum(values) / len(values) if values else None


#: What :meth:`RecognitionStream.feed` returns.
Event: TypeAlias = Interim | Final


def transcript_words(transcript: Any, offset: float = 0.0) -> tuple[Word, ...]:
    """The words of a :class:`~jupyter_speechcustom.asr.recognize.Transcript`, ``offset`` seconds added to their times."""
    def at(value: Any) -> float | None:
        return None if value is None else float(value) + offset

    return tuple(Word(str(w["word"]), at(w.get("start")), at(w.get("end")),
                      None if w.get("confidence") is None else float(w["confidence"])) for w in transcript.words)


# --------------------------------------------------------------------------- cache-aware streaming

#: Feature normalizations computed over a whole utterance: features of the audio so far would change later.
_UTTERANCE_NORMALIZATIONS = frozenset({"per_feature", "all_features"})


def cache_aware_problem(model: Any) -> str | None:
    """Why ``model`` (a :class:`~jupyter_speechcustom.asr.models.BaseModel`) cannot be streamed with
    its encoder's caches, or None when it can (a model trained for cache-aware streaming)."""
    asr = model.asr_model
    encoder = getattr(asr, "encoder", None)
    if not hasattr(encoder, "cache_aware_stream_step") or not hasattr(encoder, "streaming_cfg"):
        return f"its encoder ({type(encoder).__name__}) has no cache-aware streaming step"
    cfg = asr.cfg.encoder
    style = cfg.get("att_context_style", "regular")
    context = [int(c) for c in getattr(encoder, "att_context_size", None) or [-1, -1]]
    if style not in ("chunked_limited", "regular") or len(context) != 2:
        return f"its attention context style {style!r} is not one NeMo streams with caches"
    if context[1] < 0:
        return "its attention sees the whole utterance ahead (att_context_size right context -1): it was not trained for streaming"
    conv = getattr(encoder, "conv_context_size", None)
    if conv is not None and int(conv[1]) != 0:
        return "its convolutions look at future frames (conv_context_size is not causal): it was not trained for streaming"
    normalize = asr.cfg.preprocessor.get("normalize")
    if isinstance(normalize, str) and normalize in _UTTERANCE_NORMALIZATIONS:
        return f"its features are normalized over the whole utterance ({normalize})"
    return None


def _project(model: Any) -> Callable[[Any], np.ndarray]:
    """How encoder frames ``(1, d_model, frames)`` become what ``model``'s family caches: its
    :meth:`~jupyter_speechcustom.asr.family_base.ModelFamily.project` with the default head, as the
    offline acoustic pass caches them (CTC log-probs ``(frames, vocabulary + blank)`` through the CTC
    head, or the frames themselves ``(frames, d_model)`` for a transducer or hybrid, whichever head decodes)."""
    family, asr = model.family, model.asr_model
    return lambda encoded: family.project(asr, encoded[0].T.numpy().copy())


class _CacheAwareEncoder:
    """An utterance's encoder frames, computed chunk by chunk as its audio arrives, each chunk once.

    Features come from NeMo's :class:`CacheAwareStreamingAudioBuffer` preprocessor (no dither, no
    padding) over the audio received so far, only for frames whose window lies within it (bit for bit
    the frames of the whole audio); the buffer cuts them into the encoder's streaming chunks (with
    their pre-encoder cache) and ``cache_aware_stream_step`` runs each with the attention and
    convolution caches. The kept output is what the model's family caches: CTC log-probs
    ``(frames, vocabulary + blank)``, or the encoder output ``(frames, d_model)`` of a transducer or hybrid.
    """

    def __init__(self, model: Any) -> None:
        from nemo.collections.asr.parts.utils.streaming_utils import CacheAwareStreamingAudioBuffer

        self.model = model
        self.asr = model.asr_model
        self.asr.eval()
        self.encoder = self.asr.encoder
        self.buffer = CacheAwareStreamingAudioBuffer(self.asr)
        self.preprocessor = self.buffer.preprocessor.eval()
        featurizer = self.preprocessor.featurizer
        self.hop = int(featurizer.hop_length)
        self.half_window = int(featurizer.n_fft) // 2
        # Frames computed from a slice of the audio are those of the whole audio once their window and
        # the pre-emphasis sample before it lie within the slice.
        self.margin = -(-(self.half_window + 1) // self.hop) + 1
        self.subsampling = int(self.asr.cfg.encoder.get("subsampling_factor", 1) or 1)
        self.project = _project(model)
        self.reset()

    def reset(self) -> None:
        """Forget the utterance: empty buffer, fresh caches."""
        self.buffer.reset_buffer()
        self._chunks: Iterator[Any] | None = None
        self._step = 0
        self.caches = self.encoder.get_initial_cache_state(batch_size=1)
        self.feature_frames = 0
        self.outputs: list[np.ndarray] = []
        self.frames = 0
        self.chunks_run = 0

    def _features(self, audio: np.ndarray, first: int, last: int) -> Any:
        """Feature frames ``[first, last)`` of ``audio`` (the utterance so far, or its end when final)."""
        import torch

        start = max(0, first - self.margin) * self.hop
        signal = torch.from_numpy(np.ascontiguousarray(audio[start:], np.float32)).unsqueeze(0)
        with torch.inference_mode(), torch_threads(STREAM_TORCH_THREADS):
            features, _ = self.preprocessor(input_signal=signal, length=torch.tensor([signal.shape[1]]))
        offset = start // self.hop
        return features[:, :, first - offset:last - offset]

    def _append(self, features: Any) -> None:
        if features.shape[-1] <= 0:
            return
        self.buffer.append_processed_signal(features, stream_id=-1 if self.buffer.buffer is None else 0)
        self.feature_frames += int(features.shape[-1])

    def _chunk_size(self) -> int:
        sizes = self.buffer.streaming_cfg.chunk_size
        if isinstance(sizes, list):
            return int(sizes[0] if self._step == 0 else sizes[1])
        return int(sizes)

    def _run(self, *, final: bool) -> None:
        """Run the buffered chunks: whole ones only, or everything left when the utterance is final."""
        import torch

        if self.buffer.buffer is None:
            return
        if self._chunks is None:
            self._chunks = iter(self.buffer)
        drop = self.buffer.streaming_cfg.drop_extra_pre_encoded
        while final or self.feature_frames - self.buffer.buffer_idx >= self._chunk_size():
            if self.buffer.buffer_idx >= self.feature_frames:
                break
            chunk = next(self._chunks, None)
            if chunk is None:  # NeMo's buffer leaves a last piece too short for one output frame
                break
            audio, lengths = chunk
            with torch.inference_mode(), torch_threads(STREAM_TORCH_THREADS):
                encoded, encoded_len, *caches = self.encoder.cache_aware_stream_step(
                    processed_signal=audio, processed_signal_length=lengths,
                    cache_last_channel=self.caches[0], cache_last_time=self.caches[1],
                    cache_last_channel_len=self.caches[2],
                    keep_all_outputs=final and self.buffer.is_buffer_empty(),
                    drop_extra_pre_encoded=0 if self._step == 0 else drop)
                self.caches = tuple(caches)
                encoded = encoded[:, :, : int(encoded_len[0])]
                output = self.project(encoded)
            self._step += 1
            self.chunks_run += 1
            if len(output):
                self.outputs.append(output)
                self.frames += len(output)

    def advance(self, audio: np.ndarray) -> None:
        """Take the utterance's audio so far: run every whole chunk its settled frames make."""
        settled = max(0, (len(audio) - self.half_window) // self.hop + 1)
        if settled > self.feature_frames:
            self._append(self._features(audio, self.feature_frames, settled))
        self._run(final=False)

    def finish(self, audio: np.ndarray) -> np.ndarray:
        """The utterance is ``audio``: run what is left of it; its output, as the family caches it."""
        total = len(audio) // self.hop + 1  # as NeMo's preprocessor frames a whole utterance
        if total > self.feature_frames:
            self._append(self._features(audio, self.feature_frames, total))
        if self.buffer.buffer_idx < total:  # else the chunks run so far already cover the utterance
            self._run(final=True)
        # Frames past the utterance's audio are left out: those of chunks already run over the pause that
        # ended it, and those NeMo's last, padded chunk adds (the offline pass has ceil(frames / subsampling)).
        return self.output(-(-(len(audio) // self.hop) // self.subsampling))

    def output(self, frames: int | None = None) -> np.ndarray:
        """The kept output so far (its first ``frames``)."""
        if not self.outputs:
            return np.zeros((0, 0), np.float32)
        if len(self.outputs) > 1:
            self.outputs = [np.concatenate(self.outputs)]
        return self.outputs[0][:frames]


# --------------------------------------------------------------------------- the stream


class RecognitionStream:
    """One live recognition: feed it float samples, get :class:`Interim` and :class:`Final` events back.

    Args:
        recognizer: a :class:`~jupyter_speechcustom.services.recognition.Recognizer` (any model family).
        interim_results: also return interim hypotheses while an utterance goes on.
        weights: customization weights for final results (``None``: the recognizer's).
        pause_seconds: silence that ends an utterance.
        interim_seconds: least new audio between two interim hypotheses.
        silence_db: frames quieter than this (dBFS) are silence.
        max_utterance_seconds: an utterance without a pause is cut at its quietest moment once it is this long.
        max_alternatives: transcripts per final result (the best, then next-best ones from a beam search).
    """

    def __init__(
        self,
        recognizer: Any,
        *,
        interim_results: bool = False,
        weights: Any = None,
        pause_seconds: float = PAUSE_SECONDS,
        interim_seconds: float = INTERIM_SECONDS,
        silence_db: float = SILENCE_DB,
        max_utterance_seconds: float = MAX_UTTERANCE_SECONDS,
        max_alternatives: int = 1,
    ) -> None:
        if not isinstance(max_alternatives, int) or max_alternatives < 1:
            raise InvalidOptionError(f"max_alternatives must be a whole number of 1 or more, got {max_alternatives!r}")
        for name, value, low in (("pause_seconds", pause_seconds, 0.1), ("interim_seconds", interim_seconds, 0.05),
                                 ("max_utterance_seconds", max_utterance_seconds, 1.0)):
            if not isinstance(value, (int, float)) or not np.isfinite(value) or value < low:
                raise InvalidOptionError(f"{name} must be at least {low:g} seconds, got {value!r}")
        self.recognizer = recognizer
        self.interim_results = interim_results
        self.weights = weights
        self.max_alternatives = max_alternatives
        model = recognizer.acoustic_model
        #: The model's sample rate: the stream's samples are resampled to it.
        self.rate: int = model.sample_rate
        self._frame = max(1, int(FRAME_SECONDS * self.rate))
        self._pause_frames = max(1, round(pause_seconds / FRAME_SECONDS))
        self._interim_samples = int(interim_seconds * self.rate)
        self._max_samples = int(max_utterance_seconds * self.rate)
        self._lead = int(LEAD_SECONDS * self.rate)
        self._threshold = float((10 ** (silence_db / 20)) ** 2)  # mean square
        self._resampler: Any = None
        self._resampler_rate: int | None = None
        self._pending = np.zeros(0, np.float32)  # samples short of a whole frame
        self._utterance: list[np.ndarray] = []
        self._utterance_len = 0
        self._start = 0  # sample index (in the stream) of the utterance's first sample
        self._speech = False
        self._silent_frames = 0
        self._since_interim = 0
        self._last_interim = ""
        self._interim_sent = False
        self._received = 0  # samples at the model's rate
        self._last_speech = 0  # sample index just after the last speech frame
        self.result_index = 0
        self.finished = False
        problem = cache_aware_problem(model)
        #: The utterance's encoder, run chunk by chunk, for a model trained for cache-aware streaming (else None).
        self.cache_aware: _CacheAwareEncoder | None = _CacheAwareEncoder(model) if problem is None else None
        if problem is not None:
            log.debug("buffered streaming: %s", problem)

    # ------------------------------------------------------------------ public

    @property
    def seconds(self) -> float:
        """Seconds of audio received so far."""
        return self._received / self.rate

    @property
    def silent_seconds(self) -> float:
        """Seconds since the last speech in the stream (since its start when there was none): for inactivity timeouts."""
        return (self._received - self._last_speech) / self.rate

    def feed(self, samples: np.ndarray, rate: int | None = None, *, interim: bool = True) -> list[Event]:
        """Take the next samples of the stream (mono float, at ``rate``; None: the model's); returns the
        events they complete (finals at pauses, then at most one interim hypothesis; none with
        ``interim=False``, e.g. when the stream's end is already known to follow)."""
        if self.finished:
            raise InvalidOptionError("the stream has ended: start a new one")
        events: list[Event] = list(self._consume(self._to_model_rate(samples, rate, last=False)))
        if self.cache_aware is not None and self._speech:
            self.cache_aware.advance(self._audio())
        if interim and self.interim_results and self._speech and self._since_interim >= self._interim_samples:
            self._since_interim = 0
            event = self._interim()
            if event is not None:
                events.append(event)
        return events

    def finish(self, samples: np.ndarray | None = None, rate: int | None = None) -> list[Final]:
        """End the stream, after its last ``samples`` if any: the finals they complete and that of the
        last utterance (none if it held no speech)."""
        if self.finished:
            return []
        self.finished = True
        tail = np.zeros(0, np.float32) if samples is None else samples
        finals = self._consume(self._to_model_rate(tail, rate if rate is not None else self._resampler_rate, last=True))
        if len(self._pending):
            self._append(self._pending, speech=False)
            self._pending = np.zeros(0, np.float32)
        final = self._final(self._utterance_len)
        if final is not None:
            finals.append(final)
        return finals

    # ------------------------------------------------------------------ audio

    def _to_model_rate(self, samples: np.ndarray, rate: int | None, *, last: bool) -> np.ndarray:
        samples = np.asarray(samples)
        if samples.ndim != 1:
            raise AudioError(f"a stream takes mono samples (one dimension), got an array of shape {samples.shape}")
        if rate is None or rate == self.rate:
            return samples.astype(np.float32, copy=False)
        if self._resampler is None or self._resampler_rate != rate:
            import soxr

            self._resampler = soxr.ResampleStream(rate, self.rate, 1, dtype="float32", quality="HQ")
            self._resampler_rate = rate
        out: np.ndarray = self._resampler.resample_chunk(np.ascontiguousarray(samples, np.float32), last=last)
        return out.astype(np.float32, copy=False)


    def _append(self, samples: np.ndarray, *, speech: bool) -> None:
        self._utterance.append(samples)
        self._utterance_len += len(samples)
        self._received += len(samples)
        self._since_interim += len(samples)
        if speech:
            self._last_speech = self._received

    def _audio(self) -> np.ndarray:
        if len(self._utterance) > 1:
            self._utterance = [np.concatenate(self._utterance)]
        return self._utterance[0] if self._utterance else np.zeros(0, np.float32)

    def _consume(self, samples: np.ndarray) -> list[Final]:
        """Pause detection over whole frames; finals where an utterance ends."""
        if not len(samples):
            return []
        if not np.all(np.isfinite(samples)):
            raise AudioError("the stream holds samples that are not numbers (NaN or infinity): it is damaged")
        data = np.concatenate([self._pending, samples]) if len(self._pending) else samples
        whole = len(data) - len(data) % self._frame
        self._pending = data[whole:].copy()
        frames = data[:whole].reshape(-1, self._frame)
        loud = np.mean(np.square(frames, dtype=np.float64), axis=1) > self._threshold
        finals: list[Final] = []
        for frame, is_speech in zip(frames, loud):
            self._append(frame, speech=bool(is_speech))
            if is_speech:
                self._speech = True
                self._silent_frames = 0
            else:
                self._silent_frames += 1
                if self._speech and self._silent_frames >= self._pause_frames:
                    # The pause's silence beyond LEAD_SECONDS goes with the next utterance (and is dropped there).
                    silence = self._silent_frames * self._frame
                    final = self._final(self._utterance_len - silence + min(silence, self._lead))
                    if final is not None:
                        finals.append(final)
                    continue
                if not self._speech and self._utterance_len > self._lead + self._frame * 25:
                    self._drop_silence()
            if self._speech and self._utterance_len >= self._max_samples:
                # No pause for too long: cut at the quietest moment of the utterance's last third.
                cut = len(split_on_pauses(self._audio(), self.rate, self._max_samples / self.rate)[0])
                final = self._final(cut)
                if final is not None:
                    finals.append(final)
        return finals

    def _drop_silence(self) -> None:
        """Silence before speech is not kept beyond :data:`LEAD_SECONDS` (memory stays flat on a silent stream)."""
        audio = self._audio()
        drop = len(audio) - self._lead
        if drop > 0:
            self._utterance = [audio[drop:].copy()]
            self._utterance_len = len(audio) - drop
            self._start += drop

    # ------------------------------------------------------------------ decoding

    def _outputs(self, audio: np.ndarray) -> list[Any]:
        with torch_threads(STREAM_TORCH_THREADS):
            return list(self.recognizer.acoustic_outputs([audio], source_rate=self.rate))

    def _interim(self) -> Interim | None:
        from dataclasses import replace

        from jupyter_speechcustom.asr.recognize import AcousticOutput

        audio = self._audio()
        if not len(audio):
            return None
        decoder = self.recognizer.decoder
        greedy = replace(decoder.weights, lm_alpha=0.0, boost_alpha=0.0)
        if self.cache_aware is not None:  # the frames so far: no encoder run
            frames = self.cache_aware.output()
            if not len(frames):
                return None
            outputs = [AcousticOutput(frames, self.recognizer.acoustic_model.frame_shift, "<array>")]
        else:
            outputs = self._outputs(audio)
        with torch_threads(STREAM_TORCH_THREADS):
            text = decoder.decode_text(outputs, greedy)[0]
        if decoder.words:
            from jupyter_speechcustom.text.words import apply_display_as

            text = apply_display_as(text, decoder.words)
        if not text.strip() or text == self._last_interim:
            return None
        self._last_interim = text
        self._interim_sent = True
        return Interim(self.result_index, text, self._start / self.rate, (self._start + len(audio)) / self.rate)

    def _final(self, length: int) -> Final | None:
        """Decode the utterance's first ``length`` samples as a final result; the rest starts the next utterance."""
        audio = self._audio()
        head, rest = audio[:length], audio[length:]
        offset = self._start / self.rate
        final = None
        if len(head) and self._speech:
            outputs = self._outputs(head) if self.cache_aware is None else self._cache_aware_outputs(head)
            with torch_threads(STREAM_TORCH_THREADS):
                transcript = self.recognizer.decoder.decode(outputs, self.weights,
                                                            alternatives=self.max_alternatives)[0]
            text = transcript.display_text or transcript.text
            if text.strip() or self._interim_sent:
                final = Final(self.result_index, text, offset, (self._start + len(head)) / self.rate,
                              transcript_words(transcript, offset), tuple(transcript.alternatives))
                self.result_index += 1
        self._start += len(head)
        self._utterance = [rest.copy()] if len(rest) else []
        self._utterance_len = len(rest)
        rest_frames = rest[: len(rest) - len(rest) % self._frame].reshape(-1, self._frame)
        self._speech = bool(len(rest_frames)) and bool(
            np.any(np.mean(np.square(rest_frames, dtype=np.float64), axis=1) > self._threshold))
        self._silent_frames = 0
        self._since_interim = len(rest)
        self._last_interim = ""
        self._interim_sent = False
        if self.cache_aware is not None:
            self.cache_aware.reset()
        return final

    def _cache_aware_outputs(self, head: np.ndarray) -> list[Any]:
        """The final acoustic output of an utterance from its kept encoder frames (speech detection
        as :meth:`Recognizer.acoustic_outputs` does it: no speech, no frames and a note)."""
        from jupyter_speechcustom.asr.recognize import AcousticOutput
        from jupyter_speechcustom.constants import NO_SPEECH_NOTE

        assert self.cache_aware is not None
        shift = self.recognizer.acoustic_model.frame_shift
        if getattr(self.recognizer, "speech_detection", False):
            from jupyter_speechcustom.asr.speech import speech_spans

            if not speech_spans([head], self.rate)[0]:
                return [AcousticOutput(np.zeros((0, 0), np.float32), shift, "<array>",
                                       seconds=len(head) / self.rate, note=NO_SPEECH_NOTE)]
        return [AcousticOutput(self.cache_aware.finish(head), shift, "<array>")]
