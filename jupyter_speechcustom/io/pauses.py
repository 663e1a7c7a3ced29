"""Cutting long audio at its pauses: into segments of at most a given length, cut at the quietest
moments so that words are rarely split; from the whole audio, or from its samples in blocks."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def split_on_pauses(audio: np.ndarray, rate: int, max_seconds: float, min_seconds: float = 1.0) -> list[np.ndarray]:
    """Cut long audio into segments of at most ``max_seconds``, at the quietest moments.

    Each cut is placed at the lowest-energy 20 ms frame in the last third of the allowed
    window, so words are rarely split.
    """
    max_len = int(max_seconds * rate)
    if len(audio) <= max_len:
        return [audio]
    segments = []
    start = 0
    while len(audio) - start > max_len:
        cut = start + _pause_cut(audio[start : start + max_len], rate)
        segments.append(audio[start:cut])
        start = cut
    tail = audio[start:]
    if len(tail) >= min_seconds * rate or not segments:
        segments.append(tail)
    else:
        segments[-1] = np.concatenate([segments[-1], tail])
    return segments


def _pause_cut(window: np.ndarray, rate: int) -> int:
    """Where in ``window`` to cut: the middle of its quietest 20 ms frame in its last third (its end without one)."""
    frame = max(1, int(0.02 * rate))
    lo = int(len(window) * 2 / 3) // frame
    energies = [float(np.mean(np.square(window[i * frame : (i + 1) * frame]))) for i in range(lo, len(window) // frame)]
    return (lo + int(np.argmin(energies))) * frame + frame // 2 if energies else len(window)


def pause_cuts(blocks: Iterable[np.ndarray], rate: int, max_seconds: float, min_seconds: float = 1.0) -> list[int]:
    """The lengths of the segments :func:`split_on_pauses` cuts audio into, from its samples in blocks.

    Holds about ``max_seconds`` of audio at a time, never the whole.
    """
    max_len = int(max_seconds * rate)
    lengths: list[int] = []
    held: list[np.ndarray] = []  # the samples from the last cut on
    count = 0
    for block in blocks:
        held.append(block)
        count += len(block)
        if count <= max_len:
            continue
        window = np.concatenate(held)
        start = 0
        while len(window) - start > max_len:
            cut = _pause_cut(window[start : start + max_len], rate)
            lengths.append(cut)
            start += cut
        held, count = [window[start:]], len(window) - start
    if count >= min_seconds * rate or not lengths:
        lengths.append(count)
    else:
        lengths[-1] += count
    return lengths
