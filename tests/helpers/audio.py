"""Real, tiny audio: tones, noise, WAV bytes and files, and other formats through FFmpeg."""

from __future__ import annotations

import io
import wave
from pathlib import Path

import numpy as np

RATE = 16_000


def mono_tone(seconds: float = 1.0, rate: int = RATE, freq: float = 440.0) -> np.ndarray:
    """A float32 sine of ``seconds``: a real signal with a known length."""
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def tone(seconds: float = 1.0, rate: int = RATE, channels: int = 1, freq: float = 440.0) -> np.ndarray:
    """A (samples, channels) float32 sine: a real signal with a known length."""
    return np.repeat(mono_tone(seconds, rate, freq)[:, None], channels, axis=1)


def noise(seconds: float, level: float = 0.05, seed: int = 0, rate: int = RATE) -> np.ndarray:
    """Reproducible white noise of ``seconds`` (float32, mono)."""
    return (level * np.random.default_rng(seed).standard_normal(int(seconds * rate))).astype(np.float32)


def wav_of(samples: np.ndarray, rate: int = RATE) -> bytes:
    """16-bit WAV bytes of ``samples`` (1-D mono or (samples, channels))."""
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, samples, rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def wav_bytes(seconds: float = 1.0, rate: int = RATE, channels: int = 1, freq: float = 440.0) -> bytes:
    """16-bit WAV bytes of a tone."""
    return wav_of(tone(seconds, rate, channels, freq), rate)


def write_wav(path: Path, samples: np.ndarray, rate: int) -> Path:
    """16-bit mono WAV written with the standard library (any header rate, even absurd ones)."""
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def encode_av(audio: np.ndarray, rate: int, fmt: str, codec: str) -> bytes:
    """Encode (samples, channels) float audio with FFmpeg through PyAV."""
    import av

    layout = "mono" if audio.shape[1] == 1 else "stereo"
    buf = io.BytesIO()
    with av.open(buf, "w", format=fmt) as container:
        stream = container.add_stream(codec, rate=rate)
        stream.layout = layout
        frame_size = stream.codec_context.frame_size or 1024
        planar = np.ascontiguousarray(audio.T)
        for start in range(0, planar.shape[1], frame_size):
            frame = av.AudioFrame.from_ndarray(planar[:, start : start + frame_size], format="fltp", layout=layout)
            frame.sample_rate = rate
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buf.getvalue()


def write_audio(path: Path, audio: np.ndarray, rate: int) -> Path:
    """Write ``audio`` (samples, channels) at ``rate`` to ``path``; the suffix picks the format."""
    import soundfile as sf

    suffix = path.suffix.lower()
    if suffix in (".wav", ".flac"):
        sf.write(path, audio, rate)
    elif suffix == ".ogg":
        sf.write(path, audio, rate, format="OGG", subtype="OPUS")
    elif suffix == ".mp3":
        path.write_bytes(encode_av(audio, rate, "mp3", "libmp3lame"))
    elif suffix == ".webm":
        path.write_bytes(encode_av(audio, rate, "webm", "libopus"))
    elif suffix == ".m4a":
        path.write_bytes(encode_av(audio, rate, "mp4", "aac"))
    else:
        raise ValueError(suffix)
    return path
