"""Live recognition of an audio stream: interim hypotheses while audio arrives, a final result at each pause.

A :class:`RecognitionStream` takes raw audio bytes as they arrive (16-bit PCM ``audio/l16;rate=N``,
``audio/mulaw;rate=N``, a WAV stream, or a compressed stream such as OGG/Opus or WebM), keeps the
current utterance's samples, and returns IBM Watson-shaped result messages:

- interim (``"final": false``) hypotheses: the buffered utterance decoded again, greedily, at
  most once per ``interim_seconds`` of new audio (the acoustic pass over the whole utterance, so
  a bidirectional model sees its full context so far);
- a final result at a pause (``pause_seconds`` of audio under ``silence_db``, measured on the
  incoming samples in 20 ms frames) and at the end of the stream, decoded like ``Recognizer.transcribe``
  (the custom LM and boosting when the recognizer has them, word timings and confidences) with
  its times counted from the start of the stream.

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
results and its final result share one index. The stream is plain Python and not thread-safe:
feed it from one thread at a time.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from jupyter_speechcustom.asr.threads import torch_threads
from jupyter_speechcustom.constants import SEGMENT_SECONDS
from jupyter_speechcustom.errors import AudioError, InvalidOptionError
from jupyter_speechcustom.io.audio import MAX_SAMPLE_RATE, MIN_SAMPLE_RATE, decode, split_on_pauses, to_mono

__all__ = [
    "INTERIM_SECONDS",
    "PAUSE_SECONDS",
    "SILENCE_DB",
    "AudioFormat",
    "RecognitionStream",
    "cache_aware_problem",
    "ibm_alternative",
    "parse_content_type",
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
#: A compressed stream is decoded again (from its first byte) each time this many more bytes of it have arrived.
COMPRESSED_STEP_BYTES = 8_000

#: Torch threads for a stream's decoding steps: each step is small (one utterance), and on a busy
#: machine a thread pool per step costs far more than it gains (10-30x slower on 2 loaded cores).
STREAM_TORCH_THREADS = 1

#: Compressed content types, decoded from the bytes received so far (see :class:`_CompressedDecoder`).
COMPRESSED_TYPES = frozenset({
    "audio/ogg", "audio/webm", "audio/flac", "audio/x-flac", "audio/mp3", "audio/mpeg", "audio/mp4", "audio/m4a",
    "audio/x-m4a", "audio/aac", "audio/basic",
})
WAV_TYPES = frozenset({"audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave"})


@dataclass(frozen=True)
class AudioFormat:
    """A parsed content type: ``kind`` is ``"l16"``, ``"mulaw"``, ``"wav"`` or ``"compressed"``."""

    kind: str
    content_type: str
    rate: int | None = None
    channels: int = 1
    big_endian: bool = False


def parse_content_type(content_type: str) -> AudioFormat:
    """The audio format a content type names (IBM's spelling: ``audio/l16;rate=16000;channels=1;endianness=little-endian``).

    Raises:
        InvalidOptionError: an unknown type, or ``l16``/``mulaw`` without a valid ``rate``.
    """
    parts = [p.strip() for p in (content_type or "").split(";") if p.strip()]
    if not parts:
        raise InvalidOptionError("no content type: give one such as audio/l16;rate=16000, audio/wav or audio/ogg")
    kind = parts[0].lower()
    params: dict[str, str] = {}
    for part in parts[1:]:
        key, _, value = part.partition("=")
        params[key.strip().lower()] = value.strip().strip('"').lower()
    if kind in ("audio/l16", "audio/mulaw"):
        try:
            rate = int(params["rate"])
            channels = int(params.get("channels", "1"))
        except (KeyError, ValueError):
            raise InvalidOptionError(f"{content_type} needs its sample rate: e.g. {kind};rate=16000") from None
        if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE or not 1 <= channels <= 16:
            raise InvalidOptionError(f"{content_type}: the rate must be from {MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE} Hz "
                                     "and channels from 1 to 16")
        endianness = params.get("endianness", "little-endian")
        if endianness not in ("little-endian", "big-endian"):
            raise InvalidOptionError(f"{content_type}: endianness must be little-endian or big-endian")
        return AudioFormat("l16" if kind == "audio/l16" else "mulaw", kind, rate, channels,
                           endianness == "big-endian")
    if kind in WAV_TYPES:
        return AudioFormat("wav", kind)
    if kind in COMPRESSED_TYPES or kind == "application/octet-stream":
        return AudioFormat("compressed", kind)
    raise InvalidOptionError(
        f"unsupported content type {content_type!r}: use audio/l16;rate=N, audio/mulaw;rate=N, audio/wav, "
        "audio/flac, audio/ogg, audio/webm or audio/mpeg"
    )


# --------------------------------------------------------------------------- incremental decoders


def _mulaw_table() -> np.ndarray:
    codes = ~np.arange(256, dtype=np.uint8)
    sign = (codes & 0x80) != 0
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = ((mantissa.astype(np.int32) << 3) + 0x84) << exponent
    values = np.where(sign, 0x84 - magnitude, magnitude - 0x84)
    return (values / 32768.0).astype(np.float32)


class _PcmDecoder:
    """Raw samples (``l16``, ``mulaw``, or a WAV's data chunk) to mono float32, keeping partial frames."""

    def __init__(self, rate: int, channels: int, width: int, *, big_endian: bool = False, encoding: str = "int") -> None:
        self.rate, self.channels, self.width = rate, channels, width
        self.encoding = encoding
        self._dtype = np.dtype({1: "u1", 2: "i2", 4: "i4" if encoding == "int" else "f4"}.get(width, "u1"))
        if width in (2, 4):
            self._dtype = self._dtype.newbyteorder(">" if big_endian else "<")
        self._rest = b""
        self._table = _mulaw_table() if encoding == "mulaw" else None

    def push(self, data: bytes) -> np.ndarray:
        data = self._rest + data
        frame = self.width * self.channels
        usable = len(data) - len(data) % frame
        self._rest = data[usable:]
        raw = data[:usable]
        if not raw:
            return np.zeros(0, np.float32)
        if self.width == 3:
            b = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
            ints = (b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16))
            samples = (np.where(ints >= 1 << 23, ints - (1 << 24), ints) / float(1 << 23)).astype(np.float32)
        else:
            values = np.frombuffer(raw, self._dtype)
            if self._table is not None:
                samples = self._table[values]
            elif self.encoding == "float":
                samples = values.astype(np.float32)
            elif self.width == 1:
                samples = (values.astype(np.float32) - 128.0) / 128.0
            else:
                samples = (values / float(1 << (8 * self.width - 1))).astype(np.float32)
        samples = samples.reshape(-1, self.channels)
        return to_mono(samples).astype(np.float32, copy=False) if self.channels > 1 else samples[:, 0]

    def finish(self) -> np.ndarray:
        return np.zeros(0, np.float32)


class _WavDecoder:
    """A WAV stream: the RIFF header is parsed as it arrives, then the data chunk is read as PCM.

    The data chunk may announce any length (streaming writers put 0 or 0xFFFFFFFF there):
    everything after its header is taken as samples.
    """

    def __init__(self) -> None:
        self._head = b""
        self._pcm: _PcmDecoder | None = None
        self.rate: int | None = None

    def push(self, data: bytes) -> np.ndarray:
        if self._pcm is not None:
            return self._pcm.push(data)
        self._head += data
        head = self._head
        if len(head) < 12:
            return np.zeros(0, np.float32)
        if head[:4] not in (b"RIFF", b"RIFX") or head[8:12] != b"WAVE":
            raise AudioError("the stream is not WAV (no RIFF/WAVE header): send audio/wav from its first byte, "
                             "or name its real content type")
        big = head[:4] == b"RIFX"
        order = ">" if big else "<"
        pos = 12
        fmt: tuple[int, int, int, int] | None = None
        while len(head) >= pos + 8:
            chunk, size = head[pos:pos + 4], struct.unpack(order + "I", head[pos + 4:pos + 8])[0]
            if chunk == b"data":
                if fmt is None:
                    raise AudioError("the WAV stream has its data before its fmt chunk: it is damaged")
                tag, channels, rate, bits = fmt
                if tag == 3 and bits == 32:
                    encoding, width = "float", 4
                elif tag == 7 and bits == 8:
                    encoding, width = "mulaw", 1
                elif tag == 1 and bits in (8, 16, 24, 32):
                    encoding, width = "int", bits // 8
                else:
                    raise AudioError(f"the WAV stream is encoded as format {tag} with {bits}-bit samples: stream "
                                     "16-bit PCM WAV (or audio/l16), or send the file to /v1/recognize")
                if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE or not 1 <= channels <= 16:
                    raise AudioError(f"the WAV stream's header says {rate} Hz and {channels} channels: it is damaged")
                self.rate = rate
                self._pcm = _PcmDecoder(rate, channels, width, big_endian=big, encoding=encoding)
                rest = head[pos + 8:]
                self._head = b""
                return self._pcm.push(rest)
            if len(head) < pos + 8 + size:
                break  # wait for the rest of this chunk
            if chunk == b"fmt ":
                tag, channels, rate = struct.unpack(order + "HHI", head[pos + 8:pos + 16])
                bits = struct.unpack(order + "H", head[pos + 22:pos + 24])[0]
                if tag == 0xFFFE and size >= 40:  # WAVE_FORMAT_EXTENSIBLE: the sub-format's first two bytes
                    tag = struct.unpack(order + "H", head[pos + 32:pos + 34])[0]
                fmt = (tag, channels, rate, bits)
            pos += 8 + size + (size & 1)
        if len(head) > 1 << 20:
            raise AudioError("the WAV stream's header is over 1 MB without a data chunk: it is damaged")
        return np.zeros(0, np.float32)

    def finish(self) -> np.ndarray:
        if self._pcm is None and self._head:
            raise AudioError("the WAV stream ended before its data chunk: no audio was received")
        return np.zeros(0, np.float32)


class _CompressedDecoder:
    """OGG, WebM, FLAC, MP3…: the bytes received so far are decoded again (from the first byte)
    every :data:`COMPRESSED_STEP_BYTES`, and the samples not yet returned are returned.

    A truncated last page or packet is normal mid-stream: its samples come with a later step.
    Decoding from the start costs more as the stream grows; long live streams should use l16 or WAV.
    """

    def __init__(self) -> None:
        self._data = bytearray()
        self._done = 0  # samples already returned
        self._decoded_at = 0
        self.rate: int | None = None

    def _decode(self, final: bool) -> np.ndarray:
        self._decoded_at = len(self._data)
        try:
            samples, rate = decode(bytes(self._data))
        except AudioError:
            if final:
                raise
            return np.zeros(0, np.float32)
        if self.rate is None:
            self.rate = rate
        mono = to_mono(samples).astype(np.float32, copy=False)
        # Mid-stream, the last few milliseconds may still change once the next packet arrives.
        keep = len(mono) if final else max(self._done, len(mono) - int(0.05 * rate))
        new = mono[self._done:keep]
        self._done = keep
        return new

    def push(self, data: bytes) -> np.ndarray:
        self._data += data
        if len(self._data) - self._decoded_at < COMPRESSED_STEP_BYTES:
            return np.zeros(0, np.float32)
        return self._decode(final=False)

    def finish(self) -> np.ndarray:
        if not self._data:
            return np.zeros(0, np.float32)
        return self._decode(final=True)


# --------------------------------------------------------------------------- cache-aware streaming

#: Feature normalizations computed over a whole utterance: features of the audio so far would change later.
_UTTERANCE_NORMALIZATIONS = frozenset({"per_feature", "all_features"})


def cache_aware_problem(model: Any) -> str | None:
    """Why ``model`` (a :class:`~jupyter_speechcustom.asr.models.BaseModel`) cannot be streamed with
    its encoder's caches, or None when it can (a model trained for cache-aware streaming)."""
    from jupyter_speechcustom.asr.families import CTCFamily, TransducerFamily

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
    family = model.family
    if not isinstance(family, (CTCFamily, TransducerFamily)):
        return f"its family ({type(family).__name__}) has no cached output built from encoder frames"
    return None


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

        from jupyter_speechcustom.asr.families import CTCFamily

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
        self.ctc = isinstance(model.family, CTCFamily)
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
                if self.ctc:
                    output = self.asr.decoder(encoder_output=encoded)[0].numpy().copy()
                else:
                    output = encoded[0].T.numpy().copy()
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


# --------------------------------------------------------------------------- results


def ibm_alternative(transcript: Any, *, timestamps: bool = False, word_confidence: bool = False,
                    offset: float = 0.0) -> dict[str, Any]:
    """IBM's ``alternatives[0]`` for a :class:`Transcript`: transcript (display forms), confidence (the mean
    word confidence), and on request ``timestamps`` (``[word, start, end]``, ``offset`` seconds added) and
    ``word_confidence`` (``[word, confidence]``)."""
    words = list(transcript.words)
    text = transcript.display_text or transcript.text
    confidences = [float(w["confidence"]) for w in words if w.get("confidence") is not None]
    alternative: dict[str, Any] = {"transcript": text,
                                   "confidence": round(sum(confidences) / len(confidences), 4) if confidences else 1.0}
    if timestamps:
        alternative["timestamps"] = [[w["word"], round(float(w["start"]) + offset, 2), round(float(w["end"]) + offset, 2)]
                                     for w in words if w.get("start") is not None]
    if word_confidence:
        alternative["word_confidence"] = [[w["word"], round(float(w.get("confidence") or 0.0), 4)] for w in words]
    return alternative


class RecognitionStream:
    """One live recognition: feed it audio bytes, get IBM-shaped result messages back.

    Args:
        recognizer: a :class:`~jupyter_speechcustom.services.recognition.Recognizer` (any model family).
        content_type: the audio's format (see :func:`parse_content_type`).
        interim_results: also return interim hypotheses while an utterance goes on.
        timestamps, word_confidence: add them to final results.
        weights: customization weights for final results (``None``: the recognizer's).
        pause_seconds: silence that ends an utterance.
        interim_seconds: least new audio between two interim hypotheses.
        silence_db: frames quieter than this (dBFS) are silence.
        max_alternatives: transcripts per final result (the best, then next-best ones from a beam search).

    Each message is ``{"result_index": n, "results": [{"final": bool, "alternatives": [...]}]}``.
    """

    def __init__(
        self,
        recognizer: Any,
        content_type: str = "audio/l16;rate=16000",
        *,
        interim_results: bool = False,
        timestamps: bool = False,
        word_confidence: bool = False,
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
        self.format = parse_content_type(content_type)
        self.interim_results = interim_results
        self.timestamps = timestamps
        self.word_confidence = word_confidence
        self.weights = weights
        self.max_alternatives = max_alternatives
        model = recognizer.acoustic_model
        self.rate: int = model.sample_rate
        self._frame = max(1, int(FRAME_SECONDS * self.rate))
        self._pause_frames = max(1, round(pause_seconds / FRAME_SECONDS))
        self._interim_samples = int(interim_seconds * self.rate)
        self._max_samples = int(max_utterance_seconds * self.rate)
        self._lead = int(LEAD_SECONDS * self.rate)
        self._threshold = float((10 ** (silence_db / 20)) ** 2)  # mean square
        fmt = self.format
        if fmt.kind in ("l16", "mulaw"):
            assert fmt.rate is not None
            self._decoder: Any = _PcmDecoder(fmt.rate, fmt.channels, 2 if fmt.kind == "l16" else 1,
                                             big_endian=fmt.big_endian, encoding="int" if fmt.kind == "l16" else "mulaw")
        elif fmt.kind == "wav":
            self._decoder = _WavDecoder()
        else:
            self._decoder = _CompressedDecoder()
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

    def feed(self, data: bytes, *, interim: bool = True) -> list[dict[str, Any]]:
        """Take the next bytes of the stream; returns the result messages they complete (finals at
        pauses, then at most one interim hypothesis; none with ``interim=False``, e.g. when the
        stream's end is already known to follow)."""
        if self.finished:
            raise InvalidOptionError("the stream has ended: start a new one")
        samples = self._to_model_rate(self._decoder.push(bytes(data)), last=False)
        messages = self._consume(samples)
        if self.cache_aware is not None and self._speech:
            self.cache_aware.advance(self._audio())
        if interim and self.interim_results and self._speech and self._since_interim >= self._interim_samples:
            self._since_interim = 0
            message = self._interim()
            if message is not None:
                messages.append(message)
        return messages

    def finish(self) -> list[dict[str, Any]]:
        """End the stream: the final result of the last utterance (none if it held no speech)."""
        if self.finished:
            return []
        self.finished = True
        tail = self._decoder.finish()
        messages = self._consume(self._to_model_rate(tail, last=True))
        if len(self._pending):
            self._append(self._pending, speech=False)
            self._pending = np.zeros(0, np.float32)
        final = self._final(self._utterance_len)
        if final is not None:
            messages.append(final)
        return messages

    # ------------------------------------------------------------------ audio

    def _to_model_rate(self, samples: np.ndarray, *, last: bool) -> np.ndarray:
        rate = getattr(self._decoder, "rate", None)
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

    def _consume(self, samples: np.ndarray) -> list[dict[str, Any]]:
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
        messages: list[dict[str, Any]] = []
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
                        messages.append(final)
                    continue
                if not self._speech and self._utterance_len > self._lead + self._frame * 25:
                    self._drop_silence()
            if self._speech and self._utterance_len >= self._max_samples:
                # No pause for too long: cut at the quietest moment of the utterance's last third.
                cut = len(split_on_pauses(self._audio(), self.rate, self._max_samples / self.rate)[0])
                final = self._final(cut)
                if final is not None:
                    messages.append(final)
        return messages

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

    def _interim(self) -> dict[str, Any] | None:
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
        return {"result_index": self.result_index, "results": [{"final": False, "alternatives": [{"transcript": text}]}]}

    def _final(self, length: int) -> dict[str, Any] | None:
        """Decode the utterance's first ``length`` samples as a final result; the rest starts the next utterance."""
        audio = self._audio()
        head, rest = audio[:length], audio[length:]
        offset = self._start / self.rate
        message = None
        if len(head) and self._speech:
            outputs = self._outputs(head) if self.cache_aware is None else self._cache_aware_outputs(head)
            with torch_threads(STREAM_TORCH_THREADS):
                transcript = self.recognizer.decoder.decode(outputs, self.weights,
                                                            alternatives=self.max_alternatives)[0]
            text = transcript.display_text or transcript.text
            if text.strip() or self._interim_sent:
                alternative = ibm_alternative(transcript, timestamps=self.timestamps,
                                              word_confidence=self.word_confidence, offset=offset)
                others = [{"transcript": text} for text in transcript.alternatives]
                message = {"result_index": self.result_index,
                           "results": [{"final": True, "alternatives": [alternative, *others]}]}
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
        return message

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
