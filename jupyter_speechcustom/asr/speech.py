"""Speech detection: where in a recording someone speaks, before any recognition work.

Silero VAD (the ``silero-vad`` package, whose weights ship in its wheel) gives a speech
probability per 32 ms window; its own post-processing turns them into padded speech spans.
Recognition uses the spans twice: audio without any (silence, a tone, noise) is not decoded at
all, so the language model cannot make up words for it; and long recordings are cut between
spans, their long non-speech stretches skipped (:func:`speech_pieces`).

Windows quieter than :data:`~jupyter_speechcustom.constants.SILENCE_RMS` are silence without
running the model, and the model runs over many stretches of a long recording at once (one
batch row each, after a second of context), so hours of audio take seconds.

A recording too long to hold is given a block at a time (:func:`stream_speech_spans`): the rows
and batches are the same, so are the spans, and only a batch of loud rows is held at once.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from jupyter_speechcustom.asr.threads import torch_threads
from jupyter_speechcustom.constants import (
    MIN_SPEECH_SECONDS,
    SILENCE_RMS,
    SPEECH_PAD_SECONDS,
    SPEECH_THRESHOLD,
)
from jupyter_speechcustom.errors import AudioError
from jupyter_speechcustom.jobs.progress import raise_if_cancelled

__all__ = ["speech_pieces", "speech_spans", "stream_speech_spans"]

#: Windows per batch row (~10 s at 16 kHz) and windows of context run before each row's own.
_ROW_WINDOWS = 320
_CONTEXT_WINDOWS = 32
#: Batch rows per model call: bounds memory (rows x windows x 512 floats) on hours of audio.
_ROWS_PER_BATCH = 128
#: A pause this long inside speech ends a span (silero's ``min_silence_duration_ms``).
_MIN_SILENCE_MS = 100
#: Windows whose loudness is computed at once (~2 MB of float32 at 16 kHz).
_LOUDNESS_WINDOWS = 1024

_lock = threading.Lock()
_model: Any = None


def _silero() -> Any:
    """The ``silero_vad`` module and its model, loaded once (TorchScript, CPU). Call with ``_lock`` held."""
    global _model
    import torch

    threads = torch.get_num_threads()
    try:
        import silero_vad
    except ImportError as exc:  # pragma: no cover - a declared dependency
        msg = "speech detection needs the silero-vad package: `pip install silero-vad`, or pass speech_detection=False"
        raise AudioError(msg) from exc
    finally:
        torch.set_num_threads(threads)  # importing silero_vad sets the whole process to one thread
    if _model is None:
        _model = silero_vad.load_silero_vad()
    return silero_vad


def _window(rate: int) -> int:
    """Samples per detector window: 512 at 16 kHz, 256 at 8 kHz."""
    return 512 if rate == 16_000 else 256


def _loud_windows(audio: np.ndarray, size: int) -> np.ndarray:
    """Whether each window of ``audio`` (the last one padded with zeros) is louder than
    :data:`~jupyter_speechcustom.constants.SILENCE_RMS`.

    Computed a thousand windows at a time in float32: no temporary as long as the audio."""
    count = math.ceil(len(audio) / size)
    whole = len(audio) // size
    least = SILENCE_RMS**2 * size  # the least sum of squares of a loud window
    loud = np.empty(count, dtype=bool)
    for first in range(0, whole, _LOUDNESS_WINDOWS):
        last = min(whole, first + _LOUDNESS_WINDOWS)
        windows = audio[first * size : last * size].reshape(last - first, size)
        loud[first:last] = np.einsum("ij,ij->i", windows, windows) >= least
    if whole < count:
        tail = audio[whole * size :]
        loud[whole] = float(np.dot(tail, tail)) >= least
    return loud


def _run_rows(batch: np.ndarray, rate: int) -> np.ndarray:
    """The detector's speech probability of each window of each row of ``batch`` (rows, windows,
    window samples), the rows run side by side from a fresh state."""
    import torch

    out = np.empty(batch.shape[:2], dtype=np.float32)
    with _lock, torch.inference_mode():
        _silero()
        _model.reset_states()
        tensor = torch.from_numpy(batch)
        with torch_threads(1):  # hundreds of tiny steps
            for w in range(batch.shape[1]):
                out[:, w] = _model(tensor[:, w], rate)[:, 0].numpy()
    return out


def _probabilities(audios: list[np.ndarray], rate: int, cancel: threading.Event | None) -> list[np.ndarray]:
    """Speech probability of each window (512 samples at 16 kHz, 256 at 8 kHz) of each audio.

    Stretches of every audio are the rows of one batch, so many short files cost about as much as
    the longest of them, and hours of audio are a few hundred steps of the model."""
    size = _window(rate)
    probs = [np.zeros(math.ceil(len(audio) / size), dtype=np.float32) for audio in audios]
    rows: list[tuple[int, int]] = []  # (audio, first window) of each batch row
    for n, audio in enumerate(audios):
        loud = _loud_windows(audio, size)
        rows.extend((n, s) for s in range(0, len(loud), _ROW_WINDOWS) if loud[s : s + _ROW_WINDOWS].any())
    for first in range(0, len(rows), _ROWS_PER_BATCH):
        raise_if_cancelled(cancel)
        group = rows[first : first + _ROWS_PER_BATCH]
        # Each row: up to _CONTEXT_WINDOWS windows before its own, so the model has settled when they start.
        bounds = [(n, max(0, s - _CONTEXT_WINDOWS), s, min(len(probs[n]), s + _ROW_WINDOWS)) for n, s in group]
        width = max(stop - lo for _, lo, _, stop in bounds)
        batch = np.zeros((len(group), width, size), dtype=np.float32)
        for r, (n, lo, _, stop) in enumerate(bounds):
            samples = audios[n][lo * size : stop * size]
            batch[r].reshape(-1)[: len(samples)] = samples
        out = _run_rows(batch, rate)
        for r, (n, lo, s, stop) in enumerate(bounds):
            probs[n][s:stop] = out[r, s - lo : stop - lo]
    return probs


def _stream_probabilities(blocks: Iterable[np.ndarray], rate: int,
                          cancel: threading.Event | None) -> tuple[np.ndarray, int]:
    """:func:`_probabilities` of one audio given a block at a time, and its length in samples.

    The rows are the same, batched the same way, so the probabilities are too; but only a batch of
    loud rows and one row of samples are held at a time, never the whole audio."""
    size = _window(rate)
    row_samples = _ROW_WINDOWS * size
    batch = np.zeros((_ROWS_PER_BATCH, _CONTEXT_WINDOWS + _ROW_WINDOWS, size), dtype=np.float32)
    pending: list[tuple[int, int, int]] = []  # per batch row: (row, context windows, own windows)
    probs: list[np.ndarray] = []  # per row
    context = np.zeros((0, size), dtype=np.float32)  # the windows before the next row

    def run() -> None:
        raise_if_cancelled(cancel)
        width = max(c + w for _, c, w in pending)
        out = _run_rows(batch[: len(pending), :width], rate)
        for r, (row, c, w) in enumerate(pending):
            probs[row][:] = out[r, c : c + w]
        pending.clear()

    def add(samples: np.ndarray) -> None:  # a row: _ROW_WINDOWS windows of samples, or the last, fewer
        nonlocal context
        count = math.ceil(len(samples) / size)
        windows = np.zeros((count, size), dtype=np.float32)
        windows.reshape(-1)[: len(samples)] = samples
        probs.append(np.zeros(count, dtype=np.float32))
        if _loud_windows(samples, size).any():
            r, c = len(pending), len(context)
            batch[r, :c] = context
            batch[r, c : c + count] = windows
            batch[r, c + count :] = 0
            pending.append((len(probs) - 1, c, count))
            if len(pending) == _ROWS_PER_BATCH:
                run()
        context = windows[-_CONTEXT_WINDOWS:]

    held: list[np.ndarray] = []
    count = length = 0
    for block in blocks:
        raise_if_cancelled(cancel)
        held.append(np.asarray(block, dtype=np.float32))
        count += len(block)
        length += len(block)
        if count < row_samples:
            continue
        samples = np.concatenate(held)
        whole = len(samples) // row_samples * row_samples
        for first in range(0, whole, row_samples):
            add(samples[first : first + row_samples])
        held, count = [samples[whole:]], len(samples) - whole
    if count:
        add(np.concatenate(held))
    if pending:
        run()
    return (np.concatenate(probs) if probs else np.zeros(0, dtype=np.float32)), length


def _spans(probs: np.ndarray, rate: int, vad_rate: int, length: int, vad_length: int,
           threshold: float) -> list[tuple[int, int]]:
    """Speech spans of audio of ``length`` samples at ``rate`` from the detector's probabilities at
    ``vad_rate`` (silero's post-processing: minimum speech, minimum pause, padding)."""
    if not (probs >= threshold).any():
        return []
    with _lock:
        postprocess = _silero().get_speech_timestamps_from_probs
    found = postprocess(
        probs.tolist(), sampling_rate=vad_rate, threshold=threshold,
        min_speech_duration_ms=int(MIN_SPEECH_SECONDS * 1000), min_silence_duration_ms=_MIN_SILENCE_MS,
        speech_pad_ms=int(SPEECH_PAD_SECONDS * 1000), audio_length_samples=vad_length,
    )
    scale = rate / vad_rate
    spans = [(int(s["start"] * scale), min(length, math.ceil(s["end"] * scale))) for s in found]
    return [(start, end) for start, end in spans if end > start]


def _check_threshold(threshold: float) -> None:
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"the speech threshold must be between 0 and 1, not {threshold}")


def speech_spans(
    audios: list[np.ndarray], rate: int, *, cancel: threading.Event | None = None,
    threshold: float = SPEECH_THRESHOLD,
) -> list[list[tuple[int, int]]]:
    """For each mono audio at ``rate``, the ``(start, end)`` sample indices of its speech, in order,
    each padded by :data:`~jupyter_speechcustom.constants.SPEECH_PAD_SECONDS`; empty when nobody
    speaks. A window is speech when the detector's probability is at least ``threshold`` (0-1:
    lower finds more speech). Safe to call from several threads (they take turns on the one model)."""
    _check_threshold(threshold)
    vad_rate = rate if rate in (8_000, 16_000) else 16_000
    samples = [np.asarray(a, dtype=np.float32) for a in audios]
    if vad_rate != rate:
        from jupyter_speechcustom.io.audio import resample

        samples = [resample(a, rate, vad_rate) for a in samples]
    return [_spans(probs, rate, vad_rate, len(audio), len(resampled), threshold)
            for audio, resampled, probs in zip(audios, samples, _probabilities(samples, vad_rate, cancel))]


def stream_speech_spans(
    blocks: Iterable[np.ndarray], rate: int, *, cancel: threading.Event | None = None,
    threshold: float = SPEECH_THRESHOLD,
) -> tuple[list[tuple[int, int]], int]:
    """:func:`speech_spans` of one mono audio at ``rate`` given a block at a time (of any sizes), and
    its length in samples: for recordings too long to hold, as
    :meth:`~jupyter_speechcustom.io.audio.AudioFile.blocks` reads them.

    The spans are those :func:`speech_spans` finds in the whole audio; memory holds a batch of the
    detector's rows (~90 MB) and the probabilities (4 bytes per 32 ms), whatever the audio's length.
    """
    _check_threshold(threshold)
    vad_rate = rate if rate in (8_000, 16_000) else 16_000
    length = 0

    def counted() -> Iterator[np.ndarray]:
        nonlocal length
        for block in blocks:
            length += len(block)
            yield block

    stream: Iterable[np.ndarray] = counted()
    if vad_rate != rate:
        from jupyter_speechcustom.io.audio import resample_blocks

        stream = resample_blocks(stream, rate, vad_rate)
    probs, vad_length = _stream_probabilities(stream, vad_rate, cancel)
    return _spans(probs, rate, vad_rate, length, vad_length, threshold), length


def speech_pieces(
    length: int,
    spans: list[tuple[int, int]],
    rate: int,
    *,
    max_seconds: float,
    skip_seconds: float,
    cut_seconds: float | None = None,
) -> list[tuple[int, int]]:
    """Where to cut ``length`` samples with speech at ``spans`` into pieces for the acoustic model.

    Pieces last at most ``max_seconds`` and are cut in the middle of the pauses between spans;
    a pause longer than ``skip_seconds`` is left out but for ``skip_seconds / 2`` on each side
    (silence around speech, as in the model's training utterances). With ``cut_seconds``, every
    pause at least that long is a cut too (utterances apart). A single span longer than
    ``max_seconds`` is one piece; the caller cuts it further. The pieces are in order and do
    not overlap.
    """
    if not spans:
        return []
    keep = length if math.isinf(skip_seconds) else int(skip_seconds * rate / 2)
    limit = int(max_seconds * rate)
    # Clusters of spans separated by short pauses; long pauses between clusters are skipped.
    clusters: list[list[tuple[int, int]]] = [[spans[0]]]
    for span in spans[1:]:
        if span[0] - clusters[-1][-1][1] > 2 * keep:
            clusters.append([span])
        else:
            clusters[-1].append(span)
    pieces: list[tuple[int, int]] = []
    for cluster in clusters:
        start = max(0, cluster[0][0] - keep)
        end_of_cluster = min(length, cluster[-1][1] + keep)
        previous_end = cluster[0][1]
        for span in cluster[1:]:
            pause = span[0] - previous_end
            if span[1] - start > limit or (cut_seconds is not None and pause >= cut_seconds * rate):
                # cut in the middle of the pause before this span
                cut = (previous_end + span[0]) // 2
                pieces.append((start, cut))
                start = cut
            previous_end = span[1]
        pieces.append((start, end_of_cluster))
    return pieces
