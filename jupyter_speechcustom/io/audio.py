"""Loading audio of any common format into mono float32 at the model's sample rate.

soundfile (libsndfile) reads WAV, FLAC, OGG/Vorbis, OGG/Opus and MP3; PyAV (FFmpeg)
reads the rest, notably the WebM/Opus that browsers record. soxr resamples.

Recordings too long to hold several times over are read a block at a time instead
(:class:`AudioFile`): the same samples, without a float array of the whole file.

Levels (:mod:`~jupyter_speechcustom.io.levels`) and cutting at pauses
(:mod:`~jupyter_speechcustom.io.pauses`) are re-exported here.
"""

from __future__ import annotations

import io
import logging
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

import numpy as np

from jupyter_speechcustom.constants import MAX_AUDIO_SECONDS, SAMPLE_RATE
from jupyter_speechcustom.errors import AudioError
from jupyter_speechcustom.io.levels import CLIPPING_PEAK as CLIPPING_PEAK
from jupyter_speechcustom.io.levels import level_warnings as level_warnings
from jupyter_speechcustom.io.pauses import pause_cuts as pause_cuts
from jupyter_speechcustom.io.pauses import split_on_pauses as split_on_pauses

if TYPE_CHECKING:
    from numpy.typing import NDArray

log = logging.getLogger(__name__)

SUPPORTED = "WAV, FLAC, MP3, OGG (Vorbis/Opus), WebM/Opus, M4A"


@dataclass(frozen=True)
class AudioInfo:
    """What was decoded before conversion: for reports and warnings."""

    sample_rate: int
    channels: int
    duration: float


@dataclass(frozen=True)
class Segment:
    """A stretch of an audio file: ``duration`` seconds from ``offset`` (to the end when None),
    as a NeMo manifest line with ``offset``/``duration`` names it."""

    path: str | Path
    offset: float = 0.0
    duration: float | None = None

    def __post_init__(self) -> None:
        for name, value in (("offset", self.offset), ("duration", self.duration)):
            if value is None and name == "duration":
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise AudioError(f"a segment of {self.path} has {name} {value!r}: it must be a number of seconds, 0 or more")
        if self.duration == 0:
            raise AudioError(f"a segment of {self.path} has duration 0: give its length in seconds, or leave it out")

    def __str__(self) -> str:
        end = "end" if self.duration is None else f"{self.offset + self.duration:g} s"
        return f"{self.path} [{self.offset:g} s to {end}]"


AudioSource = Union[str, Path, bytes, Segment, "NDArray[np.floating]"]

#: Sample rates outside this range are a damaged header, not audio (speech needs at least 1 kHz).
MIN_SAMPLE_RATE = 1_000
MAX_SAMPLE_RATE = 768_000


class _Refused(AudioError):
    """Decoded far enough to know the audio cannot be used: no other decoder is tried."""


def _name(source: str | Path | bytes) -> str:
    return f"{len(source)} bytes of audio" if isinstance(source, bytes) else str(source)


def _check_rate(rate: object, what: str) -> int:
    if isinstance(rate, bool) or not isinstance(rate, (int, np.integer, float)) or not math.isfinite(rate) \
            or int(rate) != rate or not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        msg = (f"{what} is {rate!r} Hz: a sample rate must be a whole number of Hz from {MIN_SAMPLE_RATE} "
               f"to {MAX_SAMPLE_RATE}" + (" (the file's header is damaged: re-export it)" if what.endswith("header") else ""))
        raise _Refused(msg)
    return int(rate)


def _check_length(frames: int, rate: int, max_seconds: float | None, name: str) -> None:
    """Refuse audio longer than ``max_seconds`` before its samples are read or resampled."""
    if max_seconds is not None and frames > max_seconds * rate:
        msg = (f"{name} lasts {frames / rate / 3600:.1f} h, over the {max_seconds / 3600:g} h limit"
               f"{' (its header says ' + str(rate) + ' Hz)' if rate < 8000 else ''}: split it into shorter files")
        raise _Refused(msg)


def _decode_soundfile(
    source: str | Path | bytes, max_seconds: float | None = None, segment: Segment | None = None
) -> tuple[np.ndarray, int]:
    import soundfile as sf

    handle = io.BytesIO(source) if isinstance(source, bytes) else str(source)
    with sf.SoundFile(handle) as f:
        name = str(segment) if segment is not None else _name(source)
        rate = _check_rate(f.samplerate, f"the sample rate in {name}'s header")
        start, frames = _segment_frames(segment, rate, f.frames)
        if start:
            f.seek(start)
        _check_length(frames, rate, max_seconds, name)
        data = f.read(frames, dtype="float32", always_2d=True)
    return data, rate


def _segment_frames(segment: Segment | None, rate: int, total: int) -> tuple[int, int]:
    """The first frame and the number of frames of ``segment`` in a file of ``total`` frames at ``rate``."""
    if segment is None:
        return 0, total
    start = round(segment.offset * rate)
    if start >= total:
        msg = f"{segment} starts after the end of the file (it lasts {total / rate:.2f} s): check the offset"
        raise _Refused(msg)
    return start, total - start if segment.duration is None else min(round(segment.duration * rate), total - start)


def _decode_av(source: str | Path | bytes, max_seconds: float | None = None) -> tuple[np.ndarray, int]:
    import av

    handle = io.BytesIO(source) if isinstance(source, bytes) else str(source)
    with av.open(handle) as container:
        if not container.streams.audio:
            raise AudioError("no audio stream")
        stream = container.streams.audio[0]
        # Resample every frame to planar float so frames of any layout concatenate.
        resampler = av.AudioResampler(format="fltp", layout="mono" if stream.channels == 1 else "stereo")
        chunks = []
        rate = _check_rate(stream.rate or stream.codec_context.sample_rate, f"the sample rate in {_name(source)}'s header")
        count = 0
        for frame in container.decode(stream):  # type: ignore[union-attr]  # opened for reading
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray())
                rate = out.sample_rate
                count += chunks[-1].shape[1]
            _check_length(count, rate, max_seconds, _name(source))  # memory follows the content, within the limit
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray())
    if not chunks:
        raise AudioError("no decodable audio frames")
    return np.concatenate(chunks, axis=1).T.astype(np.float32), int(rate)


def _check_finite(data: np.ndarray, name: str) -> None:
    finite = np.isfinite(data)
    if not finite.all():
        bad = int(data.size - np.count_nonzero(finite))
        msg = (f"{name} holds {bad} samples that are not numbers (NaN or infinity): it is damaged; "
               "re-export or re-record it")
        raise AudioError(msg)


def _check_readable(path: Path) -> None:
    if not path.is_file():
        raise AudioError(f"no audio file at {path}: check the path")
    try:
        size = path.stat().st_size
        with path.open("rb"):
            pass
    except PermissionError:
        raise AudioError(f"cannot read {path}: permission denied; check the file's permissions") from None
    except OSError as exc:
        raise AudioError(f"cannot read {path}: {exc.strerror or exc}") from None
    if size == 0:
        raise AudioError(f"{path} is empty (0 bytes): re-export or re-record it")


def decode(
    source: str | Path | bytes | Segment, *, max_seconds: float | None = None
) -> tuple[np.ndarray, int]:
    """Decode a file, bytes or a :class:`Segment` to a ``(samples, channels)`` float32 array and its rate.

    ``max_seconds``: refuse longer audio before reading all of it (the length is checked against
    the header where the format has one, and while decoding otherwise).
    """
    segment = source if isinstance(source, Segment) else None
    if segment is not None:
        source = segment.path
    assert not isinstance(source, Segment)
    name = str(segment) if segment is not None else _name(source)
    if isinstance(source, (str, Path)):
        _check_readable(Path(source))
    elif len(source) == 0:
        raise AudioError("the audio is empty (0 bytes): record or upload it again")
    errors = []
    for decoder in ("soundfile", "av"):
        try:
            if decoder == "soundfile":
                data, rate = _decode_soundfile(source, max_seconds, segment)
            else:
                data, rate = _decode_av(source, None if segment is not None else max_seconds)
                if segment is not None:
                    data = _cut(data, rate, segment, max_seconds)
        except _Refused:
            raise
        except Exception as exc:  # noqa: BLE001 - each library raises its own types
            errors.append(_decoder_error(decoder, exc))
            continue
        if data.size == 0:
            raise AudioError(f"{name} decodes to no samples: it holds no audio")
        _check_finite(data, name)
        return data, rate
    raise _undecodable(name, errors)


def _undecodable(name: str, errors: list[str]) -> AudioError:
    msg = (
        f"cannot decode {name}: not a supported audio file ({SUPPORTED}), or corrupt "
        f"({'; '.join(errors)}). Convert it, e.g. `ffmpeg -i INPUT -ar 16000 -ac 1 OUTPUT.wav`."
    )
    return AudioError(msg)


def _decoder_error(decoder: str, exc: Exception) -> str:
    return f"{decoder}: " + re.sub(r"<_io\.BytesIO object at 0x[0-9a-fA-F]+>", "the audio", str(exc))


def _cut(data: np.ndarray, rate: int, segment: Segment, max_seconds: float | None) -> np.ndarray:
    start = round(segment.offset * rate)
    if start >= len(data):
        msg = f"{segment} starts after the end of the file (it lasts {len(data) / rate:.2f} s): check the offset"
        raise _Refused(msg)
    stop = len(data) if segment.duration is None else start + round(segment.duration * rate)
    out = data[start:stop]
    _check_length(len(out), rate, max_seconds, str(segment))
    return out


def to_mono(data: np.ndarray) -> np.ndarray:
    """Average the channels of a ``(samples, channels)`` array."""
    return data.mean(axis=1) if data.ndim == 2 else data


def resample(audio: np.ndarray, rate: int, target: int) -> np.ndarray:
    if rate == target:
        return audio.astype(np.float32, copy=False)
    import soxr

    return soxr.resample(audio, rate, target, quality="HQ").astype(np.float32)


def load_audio(
    source: AudioSource,
    sample_rate: int = SAMPLE_RATE,
    *,
    source_rate: int | None = None,
    max_seconds: float | None = MAX_AUDIO_SECONDS,
) -> np.ndarray:
    """Load ``source`` as mono float32 samples at ``sample_rate``.

    Args:
        source: a file path, a :class:`Segment` of a file, encoded bytes (any supported format),
            or a numpy array of samples (then ``source_rate`` is required; 2-D arrays are
            ``(samples, channels)``).
        sample_rate: the rate to return, normally the model's.
        source_rate: the rate of an array ``source``.
        max_seconds: refuse longer audio, checked before it is resampled (None: no limit).

    Raises:
        AudioError: missing, unreadable, empty, undecodable, too long, or holding samples
            that are not numbers (NaN, infinity).
    """
    sample_rate = _check_rate(sample_rate, "sample_rate")
    if isinstance(source, np.ndarray):
        if source_rate is None:
            raise AudioError("an audio array needs its sample rate: pass source_rate=...")
        rate = _check_rate(source_rate, "source_rate")
        if source.dtype.kind not in "fiu":
            raise AudioError(f"an audio array must hold numbers, not {source.dtype}: pass float samples in [-1, 1]")
        data = np.asarray(source, dtype=np.float32)
        if data.ndim == 2 and data.shape[0] < data.shape[1] and data.shape[0] <= 8:
            data = data.T  # (channels, samples) given; expected (samples, channels)
        if data.ndim not in (1, 2):
            raise AudioError(f"an audio array must be 1-D (samples) or 2-D (samples, channels), not {data.ndim}-D")
        name = "the audio array"
        if data.size:
            _check_length(data.shape[0], rate, max_seconds, name)
    else:
        data, rate = decode(source, max_seconds=max_seconds)
        name = str(source) if isinstance(source, (str, Path, Segment)) else _name(source)
    if data.size == 0:
        raise AudioError("the audio has no samples")
    _check_finite(data, name)
    return resample(to_mono(data), rate, sample_rate)


#: Suffixes of audio whose header may carry no duration (the WebM/Opus that browsers record with
#: MediaRecorder): a browser's player shows a wrong length for it (e.g. 0:02 for 3 s).
NO_DURATION_SUFFIXES = frozenset({".webm", ".weba"})


def wav_bytes(source: str | Path | bytes) -> bytes:
    """``source`` decoded to 16-bit mono WAV at its own sample rate: audio a player knows the length of."""
    import soundfile as sf

    data, rate = decode(source, max_seconds=MAX_AUDIO_SECONDS)
    buf = io.BytesIO()
    sf.write(buf, to_mono(data), rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def playable(path: str | Path) -> tuple[bytes, str]:
    """The bytes of an audio file for a browser's player, and their format (the file's suffix, or
    ``"wav"``): WebM recordings, whose header has no duration, are decoded to WAV first."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in NO_DURATION_SUFFIXES:
        return wav_bytes(path), "wav"
    return path.read_bytes(), suffix.lstrip(".") or "wav"


def audio_info(source: str | Path | bytes) -> AudioInfo:
    """Sample rate, channels and duration of a file or bytes (decodes it)."""
    data, rate = decode(source, max_seconds=MAX_AUDIO_SECONDS)
    return AudioInfo(sample_rate=rate, channels=data.shape[1], duration=data.shape[0] / rate)


def resample_blocks(blocks: Iterable[np.ndarray], rate: int, target: int) -> Iterator[np.ndarray]:
    """Mono float32 ``blocks`` at ``rate`` resampled to ``target``, one block at a time.

    soxr's stream resampler carries its filter across block edges: the samples are those
    :func:`resample` gives for the whole audio at once.
    """
    if rate == target:
        for block in blocks:
            yield block.astype(np.float32, copy=False)
        return
    import soxr

    stream = soxr.ResampleStream(rate, target, 1, dtype="float32", quality="HQ")
    for block in blocks:
        out = stream.resample_chunk(np.ascontiguousarray(block, dtype=np.float32))
        if len(out):
            yield out
    out = stream.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
    if len(out):
        yield out


#: Source frames read at a time from a long file (~33 s at 16 kHz, a few MB as float32 at any rate).
_BLOCK_FRAMES = 1 << 19
#: Seconds of audio resampled beyond each end of a stretch read from a long file, so the resampler's
#: filter has settled where the stretch begins and ends.
_RESAMPLE_MARGIN_SECONDS = 0.25
#: PyAV seeks only to stretches at least this many seconds into a file, this many seconds early (for the
#: codec's pre-roll); nearer ones are decoded from the start, sample-exact.
_SEEK_SECONDS = 30.0
_PREROLL_SECONDS = 1.0


class AudioFile:
    """An audio file, or a :class:`Segment` of one, read a block at a time rather than whole.

    For recordings too long to hold in memory: :meth:`blocks` gives all of its samples in order and
    :meth:`read` a stretch of them, both mono float32 at ``sample_rate``: the samples
    :func:`load_audio` gives (a resampled stretch agrees within float rounding). soundfile reads the
    formats it knows and seeks sample-exactly; PyAV decodes the others frame by frame and seeks by
    the frames' timestamps. An AAC (M4A) stretch decoded from a seek point differs slightly from the
    same stretch decoded from the start (by up to ~0.04 of full scale on a test file); WebM/Opus did not.

    Opening reads the header only (PyAV: the first frame, and the packets' timestamps when the header
    has no duration); the samples' checks (numbers, length where the header has none) are made
    while they are read.

    Args:
        source: a file path or a :class:`Segment` of a file.
        sample_rate: the rate of the samples given, normally the model's.
        max_seconds: refuse longer audio (None: no limit).

    Attributes:
        name: the file, or the segment, as messages name it.
        decoder: ``"soundfile"`` or ``"av"``.
        rate: the file's own sample rate.
        seconds: its length (of the segment, if one): from the header, or with PyAV where the header
            has none, from the packets' timestamps.

    Raises:
        AudioError: missing, unreadable, empty, undecodable or too long, as :func:`load_audio` says.
    """

    def __init__(self, source: str | Path | Segment, sample_rate: int = SAMPLE_RATE, *,
                 max_seconds: float | None = MAX_AUDIO_SECONDS) -> None:
        self.segment = source if isinstance(source, Segment) else None
        self.path = Path(source.path if isinstance(source, Segment) else source)
        self.name = str(source)
        self.sample_rate = _check_rate(sample_rate, "sample_rate")
        self.max_seconds = max_seconds
        _check_readable(self.path)
        errors = []
        for decoder in ("soundfile", "av"):
            try:
                self._open_soundfile() if decoder == "soundfile" else self._open_av()
            except _Refused:
                raise
            except Exception as exc:  # noqa: BLE001 - each library raises its own types
                errors.append(_decoder_error(decoder, exc))
                continue
            self.decoder = decoder
            return
        raise _undecodable(self.name, errors)

    def _open_soundfile(self) -> None:
        import soundfile as sf

        with sf.SoundFile(str(self.path)) as f:
            self.rate = _check_rate(f.samplerate, f"the sample rate in {self.name}'s header")
            self._first, frames = _segment_frames(self.segment, self.rate, f.frames)
        if frames == 0:
            raise _Refused(f"{self.name} decodes to no samples: it holds no audio")
        _check_length(frames, self.rate, self.max_seconds, self.name)
        self._frames: int | None = frames
        self.seconds = frames / self.rate

    def _open_av(self) -> None:
        import av

        with av.open(str(self.path)) as container:
            if not container.streams.audio:
                raise AudioError("no audio stream")
            stream = container.streams.audio[0]
            first = next(iter(container.decode(stream)), None)
            if first is None:
                raise AudioError("no decodable audio frames")
            self.rate = _check_rate(first.sample_rate, f"the sample rate in {self.name}'s header")
            self._time_base = stream.time_base
            self._origin = first.pts if self._time_base is not None else None
            seconds = container.duration / 1_000_000 if container.duration else None
        if seconds is None:  # a browser's recording: its length is where its last packet ends
            seconds = self._av_packets_end()
        offset = self.segment.offset if self.segment is not None else 0.0
        self._first = round(offset * self.rate)
        self._frames = None if self.segment is None or self.segment.duration is None \
            else round(self.segment.duration * self.rate)
        self.seconds = max(0.0, seconds - offset)
        if self._frames is not None:
            self.seconds = min(self.seconds, self._frames / self.rate)

    def _av_packets_end(self) -> float:
        import av

        end = 0.0
        with av.open(str(self.path)) as container:
            stream = container.streams.audio[0]
            for packet in container.demux(stream):
                if packet.pts is not None and packet.time_base is not None:
                    end = max(end, float((packet.pts + (packet.duration or 0)) * packet.time_base))
        return end

    def blocks(self) -> Iterator[np.ndarray]:
        """All of its samples, in order, a block at a time: mono float32 at ``sample_rate``."""
        return resample_blocks(self._mono(0, None), self.rate, self.sample_rate)

    def read(self, start: int, stop: int) -> np.ndarray:
        """Samples ``start`` to ``stop`` (at ``sample_rate``, from the start of the file or segment),
        read from there: mono float32, fewer where the audio ends before ``stop``."""
        if stop <= start:
            return np.zeros(0, dtype=np.float32)
        if self.rate == self.sample_rate:
            return _joined(self._mono(start, stop))
        # Resample from a sample that falls on the output's grid, a margin early, as the whole file is.
        step = math.gcd(self.rate, self.sample_rate)
        step_in, step_out = self.rate // step, self.sample_rate // step
        margin = round(_RESAMPLE_MARGIN_SECONDS * self.sample_rate)
        first = max(0, start - margin) // step_out * step_out
        last = math.ceil((stop + margin) * self.rate / self.sample_rate)
        samples = _joined(resample_blocks(self._mono(first // step_out * step_in, last), self.rate, self.sample_rate))
        return samples[start - first : stop - first]

    def _mono(self, start: int, stop: int | None) -> Iterator[np.ndarray]:
        """Its frames ``start`` to ``stop`` (the end when None) at its own rate, mono, a block at a time."""
        if self._frames is not None:
            stop = self._frames if stop is None else min(stop, self._frames)
        if stop is not None and stop <= start:
            return iter(())
        return self._mono_soundfile(start, stop) if self.decoder == "soundfile" else self._mono_av(start, stop)

    def _mono_soundfile(self, start: int, stop: int | None) -> Iterator[np.ndarray]:
        import soundfile as sf

        assert stop is not None  # the header gives the length
        with sf.SoundFile(str(self.path)) as f:
            f.seek(self._first + start)
            position = start
            while position < stop:
                try:
                    data = f.read(min(_BLOCK_FRAMES, stop - position), dtype="float32", always_2d=True)
                except Exception as exc:  # noqa: BLE001 - libsndfile's errors
                    raise self._damaged(position, exc) from None
                if not len(data):
                    break
                _check_finite(data, self.name)
                position += len(data)
                yield to_mono(data)

    def _mono_av(self, start: int, stop: int | None, *, seek: bool = True) -> Iterator[np.ndarray]:
        import av

        begin = self._first + start  # frames from the start of the file
        end = None if stop is None else self._first + stop
        with av.open(str(self.path)) as container:
            stream = container.streams.audio[0]
            # Resample every frame to planar float, as decode() does, so the samples are the same.
            resampler = av.AudioResampler(format="fltp", layout="mono" if stream.channels == 1 else "stereo")
            position: int | None = 0  # the frame index of the next sample decoded
            seconds = begin / self.rate - _PREROLL_SECONDS
            if seek and seconds >= _SEEK_SECONDS and self._origin is not None and self._time_base:
                container.seek(self._origin + int(seconds / self._time_base), stream=stream, backward=True)
                position = None
            try:
                for time, frame in self._frames_of(container, stream, resampler):
                    if position is None:  # the first frame after seeking: where it is, from its timestamp
                        if time is None or round(time * self.rate) > begin:
                            break  # no timestamp, or past the stretch: decode from the start instead
                        position = round(time * self.rate)
                    if frame.sample_rate != self.rate:
                        raise _Refused(f"{self.name} changes its sample rate midway: convert it with ffmpeg")
                    samples = frame.to_ndarray()
                    count = samples.shape[1]
                    if position + count > begin and (end is None or position < end):
                        _check_finite(samples, self.name)
                        lo = max(0, begin - position)
                        hi = count if end is None else min(count, end - position)
                        yield to_mono(samples.T)[lo:hi]
                    position += count
                    _check_length(position - self._first, self.rate, self.max_seconds, self.name)
                    if end is not None and position >= end:
                        return
            except AudioError:
                raise
            except Exception as exc:  # noqa: BLE001 - FFmpeg's errors
                raise self._damaged((position or begin) - self._first, exc) from None
        if position is None:
            yield from self._mono_av(start, stop, seek=False)

    def _frames_of(self, container: Any, stream: Any, resampler: Any) -> Iterator[tuple[Any, Any]]:
        """Decoded frames of ``stream`` in planar float, each with its time in seconds from the first
        frame's when it has a timestamp of its own (None otherwise)."""
        for frame in container.decode(stream):
            time = None if frame.pts is None or self._origin is None or frame.time_base is None \
                else (frame.pts - self._origin) * frame.time_base
            for out in resampler.resample(frame):
                yield time, out
                time = None  # a second frame out of one in has no timestamp of its own
        for out in resampler.resample(None):
            yield None, out

    def _damaged(self, frame: int, exc: Exception) -> AudioError:
        return AudioError(f"cannot read {self.name} after {frame / self.rate:.1f} s: {exc}. It is damaged: "
                          "re-export it, e.g. `ffmpeg -i INPUT -ar 16000 -ac 1 OUTPUT.wav`.")


def _joined(blocks: Iterable[np.ndarray]) -> np.ndarray:
    parts = list(blocks)
    if not parts:
        return np.zeros(0, dtype=np.float32)
    return parts[0] if len(parts) == 1 else np.concatenate(parts)
