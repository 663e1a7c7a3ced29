"""The queues jobs wait in: a FIFO served by daemon threads, at a lower priority for heavy work."""

from __future__ import annotations

import os
import queue
import sys
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jupyter_speechcustom.jobs.runner import Job


def _lower_thread_priority(niceness: int) -> None:
    """Raise the calling thread's nice value (Linux threads have their own); the threads it
    starts later, such as torch's OpenMP workers, inherit it. Elsewhere this does nothing."""
    if niceness <= 0 or not sys.platform.startswith("linux"):
        return
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + niceness))
    except (OSError, AttributeError):
        pass


class Lane:
    """A FIFO queue served by ``workers`` daemon threads, started on first use.

    Not a ``concurrent.futures`` executor: its worker threads are joined when the interpreter
    exits, so a kernel asked to shut down or restart during an hour of training would wait for
    the training to end (measured: a process with an 8-second task in a ``ThreadPoolExecutor``
    took 8.1 s to exit; with a daemon thread, 0.15 s). A job cut off at exit is found
    ``interrupted`` when its workspace is opened again.
    """

    def __init__(self, name: str, workers: int, niceness: int = 0) -> None:
        self.name = name
        self.workers = max(1, workers)
        self.niceness = niceness
        self.queue: queue.Queue[Job] = queue.Queue()
        self.threads: list[threading.Thread] = []
        self.lock = threading.Lock()

    def put(self, job: Job) -> None:
        """Queue ``job``, starting the worker threads the lane lacks."""
        with self.lock:
            self.threads = [t for t in self.threads if t.is_alive()]
            while len(self.threads) < self.workers:
                thread = threading.Thread(
                    target=self._work, name=f"speechcustom-{self.name}-{len(self.threads)}", daemon=True
                )
                thread.start()
                self.threads.append(thread)
        self.queue.put(job)

    def _work(self) -> None:
        _lower_thread_priority(self.niceness)
        while True:
            job = self.queue.get()
            try:
                job._execute()
            except BaseException:  # noqa: BLE001, S110 - _execute reports its own errors; keep serving
                pass
            finally:
                self.queue.task_done()
