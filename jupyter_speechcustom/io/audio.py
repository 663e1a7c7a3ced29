"""Loading audio of any common format into mono float32 at the model's sample rate.

soundfile (libsndfile) reads WAV, FLAC, OGG/Vorbis, OGG/Opus and MP3; PyAV (FFmpeg)
reads the rest, notably the WebM/Opus that browsers record. soxr resamples.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Union

import numpy as np

from jupyter_speechcustom.constants import SAMPLE_RATE
from jupyter_speechcustom.errors import AudioError

if TYPE_CHECKING:
    from numpy.typing import NDArray

log = logging.getLogger(__name__)

AudioSource = Union[str, Path, bytes, "NDArray[np.floating]"]

SUPPORTED = "WAV, FLAC, MP3, OGG (Vorbis/Opus), WebM/Opus, M4A"


@dataclass(frozen=True)
class AudioInfo:
    """What was decoded before conversion: for reports and warnings."""

    sample_rate: int
    channels: int
    duration: float


def _name(source: str | Path | bytes) -> str:
    return f"{len(source)} bytes of audio" if isinstance(source, bytes) else str(source)


def _decode_soundfile(source: str | Path | bytes) -> tuple[np.ndarray, int]:
    import soundfile as sf

    handle = io.BytesIO(source) if isinstance(source, bytes) else str(source)
    data, rate = sf.read(handle, dtype="float32", always_2d=True)
    return data, int(rate)


def _decode_av(source: str | Path | bytes) -> tuple[np.ndarray, int]:
    import av

    handle = io.BytesIO(source) if isinstance(source, bytes) else str(source)
    with av.open(handle) as container:
        if not container.streams.audio:
            raise AudioError("no audio stream")
        stream = container.streams.audio[0]
        # Resample every frame to planar float so frames of any layout concatenate.
        resampler = av.AudioResampler(format="fltp", layout="mono" if stream.channels == 1 else "stereo")
        chunks = []
        rate = stream.rate or stream.codec_context.sample_rate
        for frame in container.decode(stream):  # type: ignore[union-attr]  # opened for reading
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray())
                rate = out.sample_rate
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray())
    if not chunks:
        raise AudioError("no decodable audio frames")
    return np.concatenate(chunks, axis=1).T.astype(np.float32), int(rate)


def decode(source: str | Path | bytes) -> tuple[np.ndarray, int]:
    """Decode a file or bytes to a ``(samples, channels)`` float32 array and its rate."""
    name = _name(source)
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise AudioError(f"no audio file at {path}: check the path")
        if path.stat().st_size == 0:
            raise AudioError(f"{path} is empty (0 bytes): re-export or re-record it")
    elif len(source) == 0:
        raise AudioError("the audio is empty (0 bytes): record or upload it again")
    errors = []
    for decoder in (_decode_soundfile, _decode_av):
        try:
            data, rate = decoder(source)
        except Exception as exc:  # noqa: BLE001 - each library raises its own types
            errors.append(f"{decoder.__name__[8:]}: {exc}")
            continue
        if data.size == 0:
            raise AudioError(f"{name} decodes to no samples: it holds no audio")
        return data, rate
    msg = (
        f"cannot decode {name}: not a supported audio file ({SUPPORTED}), or corrupt "
        f"({'; '.join(errors)}). Convert it, e.g. `ffmpeg -i INPUT -ar 16000 -ac 1 OUTPUT.wav`."
    )
    raise AudioError(msg)


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
) -> np.ndarray:
    """Load ``source`` as mono float32 samples at ``sample_rate``.

    Args:
        source: a file path, encoded bytes (any supported format), or a numpy array of
            samples (then ``source_rate`` is required; 2-D arrays are ``(samples, channels)``).
        sample_rate: the rate to return, normally the model's.
        source_rate: the rate of an array ``source``.

    Raises:
        AudioError: missing, empty, undecodable or silent-by-construction input.
    """
    if isinstance(source, np.ndarray):
        if source_rate is None:
            raise AudioError("an audio array needs its sample rate: pass source_rate=...")
        data, rate = np.asarray(source, dtype=np.float32), source_rate
        if data.ndim == 2 and data.shape[0] < data.shape[1] and data.shape[0] <= 8:
            data = data.T  # (channels, samples) given; expected (samples, channels)
    else:
        data, rate = decode(source)
    if data.size == 0:
        raise AudioError("the audio has no samples")
    return resample(to_mono(data), rate, sample_rate)


def audio_info(source: str | Path | bytes) -> AudioInfo:
    """Sample rate, channels and duration of a file or bytes (decodes it)."""
    data, rate = decode(source)
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
