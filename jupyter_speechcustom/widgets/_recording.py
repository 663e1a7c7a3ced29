"""What the Data panel shows of a microphone take: the clock while it records, and its levels."""

from __future__ import annotations

import numpy as np

from jupyter_speechcustom.constants import SAMPLE_RATE


def clock_html(seconds: float) -> str:
    """The clock shown while the microphone records."""
    minutes, rest = divmod(int(seconds), 60)
    return f'<span class="sc-recording" style="color:#c62828">&#9679; recording {minutes}:{rest:02d}</span>'


def recording_level(samples: np.ndarray) -> str:
    """A recording's levels in dB full scale: its peak, and the loudness of its louder half
    (speech, not the pauses around it)."""
    if samples.size == 0:
        return "no samples"
    peak = float(np.max(np.abs(samples)))
    frame = max(1, SAMPLE_RATE // 50)
    frames = samples[: len(samples) - len(samples) % frame].reshape(-1, frame) if len(samples) >= frame else (
        samples.reshape(1, -1))
    rms = np.sqrt(np.mean(np.square(frames, dtype=np.float64), axis=1))
    loud = float(np.sqrt(np.mean(np.square(np.sort(rms)[len(rms) // 2:]))))

    def db(x: float) -> str:
        return "-inf" if x <= 0 else str(round(20 * np.log10(x)))  # whole dB: never "-0"

    return f"peak {db(peak)} dBFS, speech level {db(loud)} dBFS"
