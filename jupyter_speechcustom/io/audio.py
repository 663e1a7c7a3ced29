"""Loading audio of any common format into mono float32 at the model's sample rate.

soundfile (libsndfile) reads WAV, FLAC, OGG/Vorbis, OGG/Opus and MP3; PyAV (FFmpeg)
reads the rest, notably the WebM/Opus that browsers record. soxr resamples.
"""

from __future__ import annotations

import io
import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Union

import numpy as np

from jupyter_speechcustom.constants import MAX_AUDIO_SECONDS, SAMPLE_RATE
from jupyter_speechcustom.errors import AudioError

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
        start, frames = 0, f.frames
        if segment is not None:
            start = round(segment.offset * rate)
            if start >= f.frames:
                msg = f"{name} starts after the end of the file (it lasts {f.frames / rate:.2f} s): check the offset"
                raise _Refused(msg)
            frames = f.frames - start if segment.duration is None else min(round(segment.duration * rate), f.frames - start)
            f.seek(start)
        _check_length(frames, rate, max_seconds, name)
        data = f.read(frames, dtype="float32", always_2d=True)
    return data, rate


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
            errors.append(f"{decoder}: " + re.sub(r"<_io\.BytesIO object at 0x[0-9a-fA-F]+>", "the audio", str(exc)))
            continue
        if data.size == 0:
            raise AudioError(f"{name} decodes to no samples: it holds no audio")
        _check_finite(data, name)
        return data, rate
    msg = (
        f"cannot decode {name}: not a supported audio file ({SUPPORTED}), or corrupt "
        f"({'; '.join(errors)}). Convert it, e.g. `ffmpeg -i INPUT -ar 16000 -ac 1 OUTPUT.wav`."
    )
    raise AudioError(msg)


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


def level_warnings(audio: np.ndarray, rate: int) -> list[str]:
    """Soft problems worth telling the user: near-silence and clipping."""
    warnings = []
    if audio.size == 0:
        return ["no samples"]
    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))
    if rms < 1e-3:
        warnings.append(f"nearly silent (RMS {rms:.1e}): check the microphone or the file")
    clipped = float(np.mean(np.abs(audio) >= 0.999))
    if clipped > 1e-3:
        warnings.append(f"{clipped:.1%} of samples are clipped: record with lower input gain")
    return warnings


def split_on_pauses(audio: np.ndarray, rate: int, max_seconds: float, min_seconds: float = 1.0) -> list[np.ndarray]:
    """Cut long audio into segments of at most ``max_seconds``, at the quietest moments.

    Each cut is placed at the lowest-energy 20 ms frame in the last third of the allowed
    window, so words are rarely split.
    """
    max_len = int(max_seconds * rate)
    if len(audio) <= max_len:
        return [audio]
    frame = max(1, int(0.02 * rate))
    segments = []
    start = 0
    while len(audio) - start > max_len:
        window = audio[start : start + max_len]
        lo = int(len(window) * 2 / 3) // frame
        energies = [float(np.mean(np.square(window[i * frame : (i + 1) * frame]))) for i in range(lo, len(window) // frame)]
        cut = start + (lo + int(np.argmin(energies))) * frame + frame // 2 if energies else start + max_len
        segments.append(audio[start:cut])
        start = cut
    tail = audio[start:]
    if len(tail) >= min_seconds * rate or not segments:
        segments.append(tail)
    else:
        segments[-1] = np.concatenate([segments[-1], tail])
    return segments
