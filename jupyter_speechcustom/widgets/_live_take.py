"""The Live panel's takes: the state one recording shares between its threads, each recognizer's
transcript so far, and :func:`stitch`, which joins the overlapping segments of two recorders taking turns."""

from __future__ import annotations

import collections
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from jupyter_speechcustom.asr.streaming import Event, Final
from jupyter_speechcustom.constants import SAMPLE_RATE

__all__ = ["OVERLAP_SECONDS", "expected_overlap", "stitch"]

#: Seconds both recorders record at each switch, so that no audio is lost (the overlap is cut).
OVERLAP_SECONDS = 0.1
#: Alignment of a new segment with the previous one: the longest overlap searched (seconds), then the
#: parts of the new segment compared, tried in turn: (seconds skipped, seconds compared, the least
#: correlation trusted). Its very beginning is skipped (a new Opus encoder's first milliseconds differ
#: most); the shorter parts find overlaps too short for the longer ones (a busy browser starts the next
#: recorder late, leaving 10-40 ms). The same audio encoded twice correlates at over 0.995; voiced
#: speech matches itself a pitch period away at up to 0.93 over 30 ms or more, and higher over 12 ms,
#: so the shortest part must match at 0.995.
_MAX_OVERLAP = 0.25
_ALIGN_WINDOWS = ((0.02, 0.06, 0.98), (0.01, 0.03, 0.98), (0.004, 0.012, 0.995))
#: Audio compared is at least this level (below it, the match is not measured).
_ALIGN_MIN_RMS = 10 ** (-60 / 20)


def expected_overlap(measured: list[float]) -> float:
    """The overlap (seconds) to cut where it cannot be measured (silence): the median of the last
    overlaps measured in the take, or :data:`OVERLAP_SECONDS` before any was."""
    return float(np.median(measured[-9:])) if measured else OVERLAP_SECONDS


def stitch(previous: np.ndarray, segment: np.ndarray, rate: int = SAMPLE_RATE,
           expected: float = OVERLAP_SECONDS) -> tuple[np.ndarray, float, bool]:
    """The part of ``segment`` that ``previous`` (the audio just before it) does not already hold.

    The segments of two recorders taking turns overlap by a few tens of milliseconds: the overlap is
    found where ``segment``'s beginning matches ``previous``'s end (normalized correlation). On
    silence, noise, or a match that is not close enough, ``expected`` seconds are cut.

    Returns:
        the new samples, the overlap cut (seconds) and whether it was measured (True) or assumed.
    """
    tail = previous[-int(_MAX_OVERLAP * rate):]
    for skip_seconds, window_seconds, min_correlation in _ALIGN_WINDOWS:
        skip, window = int(skip_seconds * rate), int(window_seconds * rate)
        head = segment[skip:skip + window]
        if len(head) < window or len(tail) <= skip:
            continue
        norm = float(np.linalg.norm(head))
        if norm / np.sqrt(window) < _ALIGN_MIN_RMS:
            continue
        padded = np.concatenate([tail, np.zeros(window, np.float32)])
        frames = np.lib.stride_tricks.sliding_window_view(padded, window)[: len(tail) - skip]
        scores = (frames @ head) / (np.linalg.norm(frames, axis=1) * norm + 1e-12)
        best = int(np.argmax(scores))
        if scores[best] >= min_correlation:
            overlap = min(len(tail) - best + skip, len(segment))
            return segment[overlap:], overlap / rate, True
    cut = min(round(expected * rate), len(segment))
    return segment[cut:], cut / rate, False



@dataclass
class _Side:
    """One recognizer's transcript so far: final results, the current interim hypothesis, and every event."""

    finals: list[str] = field(default_factory=list)
    interim: str = ""
    events: list[Event] = field(default_factory=list)

    def take(self, event: Event) -> None:
        self.events.append(event)
        text = event.text.strip()
        if isinstance(event, Final):
            if text:
                self.finals.append(text)
            self.interim = ""
        else:
            self.interim = text

    @property
    def text(self) -> str:
        return " ".join(self.finals)


class _Take:
    """One recording: its microphone stream and recorders, its threads' shared state and its results."""

    def __init__(self, number: int, segment_seconds: float) -> None:
        self.number = number
        self.segment_seconds = segment_seconds
        self.camera: Any = None
        self.recorders: list[Any] = []
        self.pending: list[collections.deque[int]] = [collections.deque(), collections.deque()]
        self.queue: queue.Queue[tuple[int, bytes] | None] = queue.Queue()
        self.lock = threading.Lock()
        self.stop_requested = threading.Event()
        self.all_in = threading.Event()  # every segment asked for has arrived
        self.done = threading.Event()
        self.started = time.monotonic()
        self.stopped: float | None = None
        self.asked = 0  # segments asked for (recorders stopped)
        self.arrived = 0
        self.empty_in_row = 0
        self.error: str | None = None
        self.notes: list[str] = []
        self.sides = {"base": _Side(), "custom": _Side()}
        self.audio: list[np.ndarray] = []
        self.last_seq = -1
        self.overlaps: list[float] = []  # measured overlaps cut (seconds)
        self.assumed = 0  # overlaps cut without a measurement (silence)
        self.segments = 0  # segments with audio
        self.empty = 0
        self.recognized = 0.0  # seconds of audio recognized

    @property
    def elapsed(self) -> float:
        return (self.stopped or time.monotonic()) - self.started

    @property
    def seconds(self) -> float:
        return sum(len(a) for a in self.audio) / SAMPLE_RATE

    def fail(self, message: str) -> None:
        if self.error is None:
            self.error = message
        self.stop_requested.set()

    def stats(self) -> dict[str, Any]:
        """Figures of the take: segments, measured overlaps (ms), audio seconds against the clock."""
        overlaps = [round(o * 1000, 1) for o in self.overlaps]
        return {"segments": self.segments, "empty_segments": self.empty, "overlaps_ms": overlaps,
                "assumed_overlaps": self.assumed, "audio_seconds": round(self.seconds, 3),
                "elapsed_seconds": round(self.elapsed, 3)}
