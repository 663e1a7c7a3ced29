"""Soft problems of audio levels worth telling the user: near-silence and clipping."""

from __future__ import annotations

import numpy as np


def level_warnings(audio: np.ndarray, rate: int, *, recording: bool = False) -> list[str]:
    """Soft problems worth telling the user: near-silence and clipping.

    A file counts as clipped when 0.1% of its samples or more sit at full scale; many files are
    normalized to a peak of 0 dBFS without being clipped. A microphone ``recording`` at full scale
    is clipped, or was about to be: a codec (Opus) or a resampler smooths clipped samples to just
    under it, so counting samples finds too few.
    """
    warnings = []
    if audio.size == 0:
        return ["no samples"]
    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))
    if rms < 1e-3:
        warnings.append(f"nearly silent (RMS {rms:.1e}): check the microphone or the file")
    peak = float(np.max(np.abs(audio)))
    clipped = float(np.mean(np.abs(audio) >= CLIPPING_PEAK))
    if recording and peak >= CLIPPING_PEAK:
        share = f" ({clipped:.1%} of samples)" if clipped >= 1e-3 else ""
        warnings.append(f"the recording clips: its peak is {_dbfs(peak)} dBFS, at full scale{share}, so its loudest "
                        "parts are distorted; move back from the microphone or lower its input gain, then record "
                        "again")
    elif clipped >= 1e-3:
        warnings.append(f"{clipped:.1%} of samples are at full scale: the audio clips, so its loudest parts are "
                        "distorted; record it again with a lower input gain")
    return warnings


#: A peak at or above this (-0.1 dBFS) counts as clipping.
CLIPPING_PEAK = 10 ** (-0.1 / 20)


def _dbfs(x: float) -> str:
    return "-inf" if x <= 0 else f"{20 * np.log10(x):.1f}".replace("-0.0", "0.0")
