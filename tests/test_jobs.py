"""Background jobs: progress, logs, results and errors, cancellation, queueing, observers."""

from __future__ import annotations

import logging
import threading

import pytest

from jupyter_speechcustom.jobs.runner import Job, JobCancelled, JobError, JobRunner, raise_if_cancelled
from jupyter_speechcustom.services.workspace import Workspace

WAIT = 60  # a guard against hanging, never a timing assertion


@pytest.fixture
def runner() -> JobRunner:
    """A runner of its own, so no other test's job sits in its queue."""
    return JobRunner()


def blocker() -> tuple[threading.Event, threading.Event, object]:
    """A job function that says when it runs and then waits to be released (or cancelled)."""
    started, release = threading.Event(), threading.Event()

    def fn(progress, cancel):
        started.set()
        while not release.wait(0.01):
            raise_if_cancelled(cancel, "stopped by the test")
        return "released"

    return started, release, fn


def test_progress_log_and_result(runner, tmp_path):
    def fn(progress, cancel):
        for i in range(4):
            progress(i / 4, f"step {i}")
        logging.getLogger("jupyter_speechcustom.test").warning("a warning from inside the job")
        return {"answer": 42}

    job = runner.submit(fn, kind="demo", log_path=tmp_path / "log.txt", heavy=False)
    assert job.wait(WAIT) == "completed"
    assert job.result == {"answer": 42} and job.get() == {"answer": 42}
    assert job.progress == 1.0 and job.message == "step 3" and job.error is None
    text = job.read_log()
    assert job.log_path == tmp_path / "log.txt"
    for expected in ("queued", "started", "step 0", "step 3", "a warning from inside the job", "completed"):
        assert expected in text


def test_error_goes_to_the_log_not_the_console(runner, capfd):
    def fn(progress, cancel):
        progress(0.3, "reading input")
        raise ValueError("the corpus is empty: add sentences")

    job = runner.submit(fn, kind="demo")
    assert job.wait(WAIT) == "failed"
    assert job.error == "the corpus is empty: add sentences"
    assert job.result is None
    log_text = job.read_log()
    assert "Traceback" in log_text and "ValueError" in log_text
    captured = capfd.readouterr()
    assert "Traceback" not in captured.err + captured.out
    with pytest.raises(JobError, match="the corpus is empty"):
        job.get()


def test_cancel_running_job(runner):
    started, _release, fn = blocker()
    job = runner.submit(fn, kind="demo")
    assert started.wait(WAIT)
    assert job.status == "running"
    assert job.cancel() is True
    assert job.wait(WAIT) == "cancelled"
    assert "cancel requested" in job.read_log()
    assert job.cancel() is False  # already finished


def test_job_that_returns_early_on_cancel_is_cancelled(runner):
    started = threading.Event()

    def fn(progress, cancel):
        started.set()
        cancel.wait(WAIT)
        return "partial"

    job = runner.submit(fn, kind="demo")
    assert started.wait(WAIT)
    job.cancel()
    assert job.wait(WAIT) == "cancelled"
    assert job.result is None


def test_cancelled_job_is_logged_at_info_without_a_traceback(runner):
    """Whatever the work raises on its way out once cancelled (JobCancelled, or an error of a
    library it stopped), the log says it stopped, at INFO, with no traceback and no ERROR line."""
    for raised in (JobCancelled("training was cancelled"), RuntimeError("trainer interrupted")):
        started = threading.Event()

        def fn(progress, cancel, raised=raised, started=started):
            started.set()
            cancel.wait(WAIT)
            raise raised

        job = runner.submit(fn, kind="demo")
        assert started.wait(WAIT)
        job.cancel()
        assert job.wait(WAIT) == "cancelled"
        log_text = job.read_log()
        assert "INFO    stopped: " in log_text and str(raised) in log_text
        assert "Traceback" not in log_text and "ERROR" not in log_text, log_text


def test_heavy_jobs_queue_fifo_and_light_jobs_do_not_wait(runner):
    started, release, fn = blocker()
    order: list[str] = []

    def second(progress, cancel):
        order.append("second")
        return "second"

    def third(progress, cancel):
        order.append("third")

    first = runner.submit(fn, kind="train")
    assert started.wait(WAIT)
    queued = runner.submit(second, kind="train")
    queued_too = runner.submit(third, kind="train")
    light = runner.submit(lambda progress, cancel: "light", kind="status", heavy=False)
    assert light.wait(WAIT) == "completed"  # ran beside the heavy job
    assert queued.status == "queued" and queued_too.status == "queued"  # one heavy job at a time
    assert queued.wait(0.05) == "queued"  # wait() returns the status when the timeout passes
    release.set()
    assert queued_too.wait(WAIT) == "completed"
    assert first.status == "completed" and queued.status == "completed"
    assert order == ["second", "third"]
    assert queued.started >= first.finished


def test_cancel_queued_job(runner):
    started, release, fn = blocker()
    ran = threading.Event()
    first = runner.submit(fn, kind="train")
    assert started.wait(WAIT)
    second = runner.submit(lambda progress, cancel: ran.set(), kind="train")
    assert second.cancel() is True
    assert second.status == "cancelled"  # at once: it never started
    release.set()
    assert first.wait(WAIT) == "completed"
    assert not ran.is_set()


def test_callbacks_from_worker_thread(runner):
    seen: list[tuple[str, float, str]] = []

    def observer(job: Job) -> None:
        seen.append((job.status, job.progress, threading.current_thread().name))

    def broken(job: Job) -> None:
        raise RuntimeError("observer bug")

    gate = threading.Event()

    def fn(progress, cancel):
        gate.wait(WAIT)
        progress(0.5, "half")
        return 1

    job = runner.submit(fn, kind="demo")
    job.on_change(observer)
    remove = job.on_change(broken)
    gate.set()
    assert job.wait(WAIT) == "completed"
    statuses = [s for s, _, _ in seen]
    assert statuses[-1] == "completed" and (("running", 0.5) in [(s, p) for s, p, _ in seen])
    assert all(name.startswith("speechcustom-") for _, _, name in seen)
    assert "observer bug" in job.read_log()
    remove()
    remove()  # removing twice is harmless


def test_progress_is_clamped_and_tolerant(runner):
    def fn(progress, cancel):
        progress(7, "too far")
        progress(float("nan"), "not a number")

    job = runner.submit(fn, kind="demo")
    job.wait(WAIT)
    assert job.status == "completed" and job.progress == 1.0


class CountingStore:
    """A real in-memory store: keeps every saved snapshot."""

    def __init__(self) -> None:
        self.saved: list[dict] = []

    def save_job(self, job: Job) -> None:
        self.saved.append(job.snapshot())


def test_progress_saves_are_throttled_status_changes_are_not(runner):
    store = CountingStore()

    def fn(progress, cancel):
        for i in range(2000):
            progress(i / 2000, "working")
        return "done"

    job = runner.submit(fn, kind="demo", store=store)
    assert job.wait(WAIT) == "completed"
    statuses = [s["status"] for s in store.saved]
    assert statuses[0] == "running" and statuses[-1] == "completed"
    assert len(store.saved) < 100  # 2000 progress reports, a handful of writes
    assert store.saved[-1]["progress"] == 1.0


def test_state_survives_in_the_workspace(tmp_path):
    ws = Workspace(tmp_path / "ws")

    def fn(progress, cancel):
        progress(0.5, "halfway")
        logging.getLogger("jupyter_speechcustom.test").info("info records are kept when enabled")
        return {"rows": 3}

    job = ws.submit(fn, kind="count", params={"what": "rows"}, heavy=False)
    assert job.wait(WAIT) == "completed"
    assert job.log_path == ws.path / "jobs" / job.id / "log.txt"
    reopened = Workspace(tmp_path / "ws", runner=JobRunner())
    saved = reopened.job(job.id)
    assert saved is not job
    assert (saved.status, saved.progress, saved.result, saved.params) == ("completed", 1.0, {"rows": 3}, {"what": "rows"})
    assert "halfway" in saved.read_log()
    assert [j.id for j in reopened.jobs()] == [job.id]
    assert reopened.jobs(status="failed") == []


def test_cancelled_exception_message_is_logged(runner):
    def fn(progress, cancel):
        raise JobCancelled("the user pressed stop")

    job = runner.submit(fn, kind="demo")
    assert job.wait(WAIT) == "cancelled"
    assert "the user pressed stop" in job.read_log()


def test_submit_needs_a_function(runner):
    with pytest.raises(TypeError, match="fn\\(progress, cancel\\)"):
        runner.submit("not callable", kind="demo")  # type: ignore[arg-type]
