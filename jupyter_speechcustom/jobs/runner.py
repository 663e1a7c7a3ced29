"""Background jobs: long work with progress, a log, cancellation and a result.

LM builds, fine-tuning and batch recognition take seconds to hours; a notebook kernel that
waits on them cannot redraw a widget. A job runs its function in a daemon thread instead:
heavy jobs one at a time (FIFO, so two trainings never fight over the CPU), light jobs on a
few more threads. A job function has the signature::

    def fn(progress: Callable[[float, str], None], cancel: threading.Event) -> Any

following the toolkit's one convention (:mod:`jupyter_speechcustom.jobs.progress`): it reports
``progress(fraction, message)`` and stops when ``cancel`` is set, by raising
:class:`JobCancelled` (see :func:`raise_if_cancelled`) or by returning early. Its return value
is the job's ``result``; a workspace keeps the result's JSON form (an object's ``summary()``).

Observers registered with :meth:`Job.on_change` are called **from the worker thread**. A widget
must only set traits from them (ipywidgets sends trait changes from any thread); it must not
print, display, or use ``with output:`` there.

Every job writes a log (``log.txt``): its progress messages, Python ``logging`` records emitted
by its thread, and, when it fails, the traceback, which is never printed from the thread. With
a :class:`JobStore` (a workspace), the job's state is saved on every status change and at most
every :data:`~jupyter_speechcustom.constants.JOB_PROGRESS_INTERVAL` seconds on progress, with
the owner process's identity (:mod:`~jupyter_speechcustom.jobs.owner`), so a job whose process died
can be told apart from a running one. Jobs wait in :mod:`~jupyter_speechcustom.jobs.lanes`.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from jupyter_speechcustom.constants import HEAVY_JOB_NICENESS, JOB_PROGRESS_INTERVAL, LIGHT_JOB_WORKERS
from jupyter_speechcustom.errors import SpeechCustomError
from jupyter_speechcustom.jobs.lanes import Lane
from jupyter_speechcustom.jobs.owner import owner_alive, process_identity
from jupyter_speechcustom.jobs.progress import CancelToken, JobCancelled, ProgressCallback, raise_if_cancelled

__all__ = [
    "ACTIVE_STATUSES",
    "FINAL_STATUSES",
    "Job",
    "JobCancelled",
    "JobError",
    "JobFunction",
    "JobRunner",
    "JobStore",
    "ProgressCallback",
    "default_runner",
    "live_job",
    "owner_alive",
    "process_identity",
    "raise_if_cancelled",
]

log = logging.getLogger(__name__)

JobFunction = Callable[[ProgressCallback, threading.Event], Any]

#: Statuses of a job that has not finished.
ACTIVE_STATUSES = ("queued", "running")
#: Statuses a job ends in. ``interrupted``: its process died before it finished.
FINAL_STATUSES = ("completed", "failed", "cancelled", "interrupted")


class JobError(SpeechCustomError, RuntimeError):
    """A job that failed, was cancelled or interrupted, asked for its result; or misuse of a job."""


def now_iso() -> str:
    """UTC time stamp with milliseconds, sortable as text."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


# --------------------------------------------------------------------------- jobs


class JobStore(Protocol):
    """Where a job's state is kept (a workspace's index). Called from the worker thread."""

    def save_job(self, job: Job) -> None: ...


_LIVE: dict[str, Job] = {}
_LIVE_LOCK = threading.Lock()


def live_job(job_id: str) -> Job | None:
    """The job of this process with ``job_id`` while it is queued or running, else None."""
    with _LIVE_LOCK:
        return _LIVE.get(job_id)


class _ThreadLogHandler(logging.Handler):
    """Copies the log records of one thread into a job's log file."""

    def __init__(self, job: Job, thread_id: int) -> None:
        super().__init__(logging.NOTSET)
        self.job = job
        self.thread_id = thread_id
        self.setFormatter(logging.Formatter("%(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread != self.thread_id:
            return
        try:
            self.job._write_log(record.levelname, self.format(record))
        except Exception:  # noqa: BLE001, S110 - a log line must never break the job
            pass


class Job:
    """Long work running in the background; observe it, wait for it, or cancel it.

    Attributes (read them any time, from any thread):
        id, kind: the job's id and what it does (``"build_language_model"`` ...).
        status: ``queued``, ``running``, ``completed``, ``failed``, ``cancelled`` or ``interrupted``.
        progress, message: fraction done (0-1) and what it is doing.
        result: the function's return value once ``completed``.
        error: the exception's message once ``failed`` (the traceback is in the log).
        log_path: the job's log file.
    """

    def __init__(
        self,
        fn: JobFunction | None,
        *,
        id: str,
        kind: str,
        log_path: Path,
        params: dict[str, Any] | None = None,
        heavy: bool = True,
        store: JobStore | None = None,
        model_id: str | None = None,
        cancel_requested: Callable[[], bool] | None = None,
    ) -> None:
        self.id = id
        self.kind = kind
        self.params = dict(params or {})
        self.heavy = heavy
        self.model_id = model_id
        self.log_path = Path(log_path)
        self.status = "queued"
        self.progress = 0.0
        self.message = ""
        self.result: Any = None
        self.error: str | None = None
        self.created = now_iso()
        self.started: str | None = None
        self.finished: str | None = None
        self._fn = fn
        self._store = store
        self._cancel = CancelToken(cancel_requested)
        self._done = threading.Event()
        self._lock = threading.RLock()
        self._log_lock = threading.Lock()
        self._callbacks: list[Callable[[Job], None]] = []
        self._last_save = 0.0
        self._pending_save: threading.Timer | None = None
        self._save_lock = threading.Lock()
        self._reload: Callable[[], dict[str, Any] | None] | None = None
        self._request_cancel: Callable[[], None] | None = None

    # ------------------------------------------------------------------ public

    @property
    def done(self) -> bool:
        """Whether the job has finished (in any final status)."""
        return self.status in FINAL_STATUSES

    def wait(self, timeout: float | None = None) -> str:
        """Block until the job finishes or ``timeout`` seconds pass; return its status then."""
        if self._reload is None:
            self._done.wait(timeout)
            return self.status
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.done:  # a job of another process: poll its saved state
            self.refresh()
            if self.done or (deadline is not None and time.monotonic() >= deadline):
                break
            time.sleep(0.2)
        return self.status

    def get(self, timeout: float | None = None) -> Any:
        """Wait, then return the result; raise :class:`JobError` unless the job completed."""
        status = self.wait(timeout)
        if status == "completed":
            return self.result
        if status in ACTIVE_STATUSES:
            raise JobError(f"job {self.id} is still {status} after {timeout} s: wait longer or cancel() it")
        detail = f": {self.error}" if self.error else ""
        raise JobError(f"job {self.id} ({self.kind}) {status}{detail}. See its log at {self.log_path}")

    def cancel(self) -> bool:
        """Ask the job to stop. A queued job is cancelled at once; a running one when its function
        next checks ``cancel``. Returns False when the job had already finished.

        A job of another process (a view from its workspace) is asked through the workspace:
        its process stops it within a second of its next check.
        """
        with self._lock:
            if self.done:
                return False
            if self._reload is not None:
                if self._request_cancel is None:
                    msg = f"job {self.id} runs in another process and has no workspace to ask: cancel it from there"
                    raise JobError(msg)
                self._request_cancel()
                return True
            self._cancel.set()
            queued = self.status == "queued"
        if queued:
            self._finish("cancelled", None, None)
        else:
            self._write_log("INFO", "cancel requested")
        return True

    def on_change(self, callback: Callable[[Job], None]) -> Callable[[], None]:
        """Call ``callback(job)`` on every status and progress change; returns a function that
        unregisters it. Runs in the worker thread: widgets must only set traits there."""
        with self._lock:
            self._callbacks.append(callback)

        def remove() -> None:
            with self._lock:
                if callback in self._callbacks:
                    self._callbacks.remove(callback)

        return remove

    def read_log(self) -> str:
        """The job's log so far."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def refresh(self) -> Job:
        """Reload the saved state (for a job of another process or a finished one)."""
        if self._reload is not None:
            state = self._reload()
            if state is not None:
                self._apply(state)
        return self

    def snapshot(self) -> dict[str, Any]:
        """The job's state as plain values (what a store saves)."""
        with self._lock:
            return {
                "id": self.id,
                "kind": self.kind,
                "status": self.status,
                "progress": self.progress,
                "message": self.message,
                "error": self.error,
                "result": self.result,
                "params": dict(self.params),
                "heavy": self.heavy,
                "model_id": self.model_id,
                "log_path": str(self.log_path),
                "created": self.created,
                "started": self.started,
                "finished": self.finished,
            }

    def __repr__(self) -> str:
        return f"<Job {self.id} {self.kind} {self.status} {self.progress:.0%} {self.message!r}>"

    # ------------------------------------------------------------------ saved jobs

    @classmethod
    def from_state(
        cls,
        state: dict[str, Any],
        reload: Callable[[], dict[str, Any] | None] | None = None,
        request_cancel: Callable[[], None] | None = None,
    ) -> Job:
        """A view of a saved job (not running in this process): ``wait`` polls ``reload``, and
        ``cancel`` calls ``request_cancel`` (the workspace passes on the request)."""
        job = cls(
            None,
            id=state["id"],
            kind=state["kind"],
            log_path=Path(state["log_path"]),
            params=state.get("params"),
            heavy=bool(state.get("heavy", True)),
            model_id=state.get("model_id"),
        )
        job._reload = reload or (lambda: None)
        job._request_cancel = request_cancel
        job._apply(state)
        if job.done:
            job._done.set()
        return job

    def _apply(self, state: dict[str, Any]) -> None:
        with self._lock:
            for key in ("status", "progress", "message", "error", "result", "created", "started", "finished"):
                if key in state:
                    setattr(self, key, state[key])

    # ------------------------------------------------------------------ worker side

    def _write_log(self, level: str, text: str) -> None:
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        lines = "".join(f"{stamp} {level:<7} {line}\n" for line in (text.splitlines() or [""]))
        with self._log_lock:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            with self.log_path.open("a", encoding="utf-8") as fh:
                fh.write(lines)

    def _save(self, force: bool) -> None:
        """Save now when forced or when the last save is old enough; otherwise make sure a
        trailing save follows, so the latest progress is never lost to throttling."""
        if self._store is None:
            return
        with self._lock:
            wait = JOB_PROGRESS_INTERVAL - (time.monotonic() - self._last_save)
            if not force and wait > 0:
                if self._pending_save is None:
                    timer = threading.Timer(wait, self._save_trailing)
                    timer.daemon = True
                    self._pending_save = timer
                    timer.start()
                return
            self._last_save = time.monotonic()
        try:
            with self._save_lock:  # saves land in the order their snapshots were taken
                self._store.save_job(self)
        except Exception as exc:  # noqa: BLE001 - the job goes on; the log says why its saved state lags
            self._write_log("WARNING", f"could not save the job's state: {type(exc).__name__}: {exc}")

    def _save_trailing(self) -> None:
        with self._lock:
            self._pending_save = None
            if self.done:  # the final save has happened
                return
        self._save(force=True)

    def _notify(self) -> None:
        with self._lock:
            callbacks = list(self._callbacks)
        for callback in callbacks:
            try:
                callback(self)
            except Exception:  # noqa: BLE001 - an observer's bug must not stop the job
                self._write_log("ERROR", "an on_change callback failed:\n" + traceback.format_exc().rstrip())

    def _report(self, fraction: float, message: str = "") -> None:
        """The ``progress`` callable a job function receives."""
        try:
            value = float(fraction)
        except (TypeError, ValueError):
            value = self.progress
        if not math.isfinite(value):
            value = self.progress
        message = str(message) if message is not None else ""
        with self._lock:
            changed_message = bool(message) and message != self.message
            self.progress = min(1.0, max(0.0, value))
            if message:
                self.message = message
        if changed_message:
            self._write_log("INFO", f"[{self.progress:4.0%}] {message}")
        self._save(force=False)
        self._notify()

    def _execute(self) -> None:
        if self._cancel.is_set():  # asked to stop (perhaps by another process) while it waited
            self._finish("cancelled", None, None)
            return
        with self._lock:
            if self.status != "queued":
                return
            self.status = "running"
            self.started = now_iso()
        self._write_log("INFO", f"started ({self.kind}) in process {os.getpid()}")
        self._save(force=True)
        self._notify()
        handler = _ThreadLogHandler(self, threading.get_ident())
        root = logging.getLogger()
        root.addHandler(handler)
        status, result, error = "completed", None, None
        try:
            assert self._fn is not None
            result = self._fn(self._report, self._cancel)
            if self._cancel.is_set():
                status = "cancelled"
        except JobCancelled as exc:
            status = "cancelled"
            self._write_log("INFO", f"stopped: {exc}")
        except BaseException as exc:  # noqa: BLE001 - a worker thread must report, not die
            if self._cancel.is_set():
                # Cancelled, whatever the work raised on its way out: what stopped it, not a traceback.
                status = "cancelled"
                self._write_log("INFO", f"stopped: {type(exc).__name__}: {exc}")
            else:
                status, error = "failed", str(exc) or type(exc).__name__
                self._write_log("ERROR", "".join(traceback.format_exception(exc)).rstrip())
        finally:
            root.removeHandler(handler)
        self._finish(status, result if status == "completed" else None, error)

    def _finish(self, status: str, result: Any, error: str | None) -> None:
        with self._lock:
            if self.done:
                return
            self.status = status
            self.result = result
            self.error = error
            self.finished = now_iso()
            if status == "completed":
                self.progress = 1.0
        self._write_log("ERROR" if status == "failed" else "INFO", f"{status}" + (f": {error}" if error else ""))
        self._save(force=True)
        with _LIVE_LOCK:
            _LIVE.pop(self.id, None)
        self._notify()
        self._done.set()


class JobRunner:
    """Runs jobs in daemon threads: heavy ones one at a time, light ones ``light_workers`` at a time.

    Daemon threads never keep a kernel from exiting; a job cut off that way is found
    ``interrupted`` when its workspace is opened again. On Linux the heavy threads run at a
    lower priority (``heavy_niceness``), so the main thread handles widget events promptly
    even while training keeps every core busy.
    """

    def __init__(
        self, light_workers: int = LIGHT_JOB_WORKERS, heavy_workers: int = 1, heavy_niceness: int = HEAVY_JOB_NICENESS
    ) -> None:
        self._heavy = Lane("heavy", heavy_workers, heavy_niceness)
        self._light = Lane("light", light_workers)
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def submit(
        self,
        fn: JobFunction,
        *,
        kind: str = "job",
        params: dict[str, Any] | None = None,
        heavy: bool = True,
        job_id: str | None = None,
        log_path: str | Path | None = None,
        store: JobStore | None = None,
        model_id: str | None = None,
        cancel_requested: Callable[[], bool] | None = None,
    ) -> Job:
        """Queue ``fn`` and return its :class:`Job` at once.

        Without ``log_path`` the log goes to a new temporary folder. ``cancel_requested`` tells
        whether someone outside this process asked the job to stop (see :class:`CancelToken`).
        """
        if not callable(fn):
            raise TypeError(f"a job needs a function fn(progress, cancel), got {type(fn).__name__}")
        job_id = job_id or f"j-{os.urandom(4).hex()}"
        if log_path is None:
            log_path = Path(tempfile.mkdtemp(prefix=f"speechcustom-{job_id}-")) / "log.txt"
        job = Job(
            fn, id=job_id, kind=kind, log_path=Path(log_path), params=params, heavy=heavy, store=store,
            model_id=model_id, cancel_requested=cancel_requested,
        )
        with _LIVE_LOCK:
            if job_id in _LIVE:
                raise JobError(f"a job with id {job_id} is already running in this process")
            _LIVE[job_id] = job
        with self._lock:
            self._jobs[job_id] = job
        job._write_log("INFO", f"queued ({kind}, {'heavy' if heavy else 'light'})")
        (self._heavy if heavy else self._light).put(job)
        return job

    def jobs(self) -> list[Job]:
        """Jobs submitted to this runner, oldest first."""
        with self._lock:
            return list(self._jobs.values())

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)


_DEFAULT: JobRunner | None = None
_DEFAULT_LOCK = threading.Lock()


def default_runner() -> JobRunner:
    """The process-wide runner every workspace shares: one heavy job at a time per process."""
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            _DEFAULT = JobRunner()
        return _DEFAULT
