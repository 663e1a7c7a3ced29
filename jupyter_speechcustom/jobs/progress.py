"""The one convention for progress and cancellation, for every long function of the toolkit.

A long function takes ``progress`` and ``cancel`` keyword arguments:

- ``progress(fraction, message)``: ``fraction`` of the work done (0 to 1) and what it is doing;
  :func:`scaled` maps a step's own 0–1 onto its share of a larger job.
- ``cancel``: a :class:`threading.Event` (a :class:`CancelToken` in jobs); the function checks
  it between steps with :func:`raise_if_cancelled` and stops by raising :class:`JobCancelled`.

A :class:`CancelToken` can also be set from outside the process: a workspace job's token
looks for a cancel request in the workspace, so a job started by one kernel can be cancelled
from another (or from the command line).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from jupyter_speechcustom.errors import SpeechCustomError

__all__ = ["CancelToken", "JobCancelled", "ProgressCallback", "no_progress", "raise_if_cancelled", "scaled"]

#: ``progress(fraction, message)``.
ProgressCallback = Callable[[float, str], None]


class JobCancelled(SpeechCustomError):
    """Raised inside long work to stop because its ``cancel`` event is set."""


def no_progress(fraction: float, message: str) -> None:
    """A progress callback that ignores what it is told."""


def scaled(progress: ProgressCallback | None, start: float, end: float) -> ProgressCallback:
    """``progress`` for a step that covers ``start``–``end`` of the whole: the step reports 0–1."""
    report = progress or no_progress
    return lambda fraction, message: report(start + (end - start) * min(1.0, max(0.0, fraction)), message)


def raise_if_cancelled(cancel: threading.Event | None, message: str = "cancelled") -> None:
    """Raise :class:`JobCancelled` when ``cancel`` is set: call it between steps of long work."""
    if cancel is not None and cancel.is_set():
        raise JobCancelled(message)


class CancelToken(threading.Event):
    """A cancel event that may also be set from outside the process.

    ``requested`` (if given) is asked at most every ``interval`` seconds whether someone
    elsewhere asked for a cancel (a workspace checks for a request file); once it says yes the
    token stays set.
    """

    def __init__(self, requested: Callable[[], bool] | None = None, interval: float = 0.5) -> None:
        super().__init__()
        self._requested = requested
        self._interval = interval
        self._checked = 0.0

    def is_set(self) -> bool:
        if super().is_set():
            return True
        if self._requested is not None:
            now = time.monotonic()
            if now - self._checked >= self._interval:
                self._checked = now
                try:
                    asked = self._requested()
                except OSError:
                    asked = False
                if asked:
                    self.set()
                    return True
        return False

    def wait(self, timeout: float | None = None) -> bool:
        if self._requested is None:
            return super().wait(timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.is_set():
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            super().wait(self._interval if left is None else min(self._interval, left))
        return True
