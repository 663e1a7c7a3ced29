"""Jobs in the store: the registry of job kinds, and jobs' saved state, recovery, cancelling and re-runs.

A job's state lives in the index's ``jobs`` table, so it outlives the kernel that ran it: each
job records its owner (host, pid, process start time), and a job whose process died is found
``interrupted`` when the workspace is opened again; the model it was producing becomes
``failed``, and :meth:`Jobs.rerun` runs the same work again from the job's saved kind and
parameters (a factory registered with :func:`register_job_kind` rebuilds its function).
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jupyter_speechcustom.io import safety as _safety
from jupyter_speechcustom.io.files import atomic_write
from jupyter_speechcustom.jobs.runner import (
    ACTIVE_STATUSES,
    FINAL_STATUSES,
    Job,
    JobCancelled,
    JobFunction,
    JobRunner,
    live_job,
    now_iso,
    owner_alive,
    process_identity,
)
from jupyter_speechcustom.store.db import Database, log_event
from jupyter_speechcustom.store.index import (
    MODEL_KINDS,
    ModelInUseError,
    Record,
    RecordNotFoundError,
    WorkspaceError,
    check_json,
    json_or_none,
)
from jupyter_speechcustom.store.links import write_links
from jupyter_speechcustom.store.models import Models
from jupyter_speechcustom.store.records import Records

if TYPE_CHECKING:
    from jupyter_speechcustom.store.workspace import Store

__all__ = ["JobFactory", "Jobs", "register_job_kind"]

log = logging.getLogger(__name__)

#: Rebuilds a job function from its saved parameters: ``factory(workspace, params, model)``.
JobFactory = Callable[["Store", dict[str, Any], "Record | None"], JobFunction]
_JOB_KINDS: dict[str, JobFactory] = {}

# Jobs of this process between their index row and their start: not to be taken for interrupted.
_SUBMITTING: set[str] = set()
_SUBMITTING_LOCK = threading.Lock()


def register_job_kind(kind: str, factory: JobFactory) -> None:
    """Let :meth:`Store.rerun` rebuild jobs of ``kind`` from their saved parameters.

    ``factory(workspace, params, model)`` returns the job function; ``model`` is the new model
    version the job must build (its staging path is ``workspace.staging_path(model.id)``), or
    None for jobs that produce no model.
    """
    _JOB_KINDS[kind] = factory


class Jobs:
    """The jobs of ``store``'s workspace (index ``db``), run by ``runner``.

    ``store`` is what job factories get to rebuild a job (the workspace, with its services).
    """

    def __init__(self, store: Store, db: Database, records: Records, models: Models, runner: JobRunner) -> None:
        self._store = store
        self._db = db
        self._records = records
        self._models = models
        self._runner = runner

    def submit(
        self,
        fn: JobFunction,
        *,
        kind: str,
        params: Mapping[str, Any] | None = None,
        heavy: bool = True,
        model_id: str | None = None,
        uses: Sequence[str] = (),
        rerun_of: str | None = None,
    ) -> Job:
        """Run ``fn(progress, cancel)`` as a job whose state and log live in the workspace.

        ``kind`` and the JSON ``params`` are saved so :meth:`rerun` can rebuild the job (see
        :func:`register_job_kind`). With ``model_id`` (a ``pending`` or ``ready`` custom model)
        the job builds that model: it is ``training`` meanwhile; ``fn`` writes it to
        :meth:`staging_path`, and it becomes ``available`` when ``fn`` returns (the job's result
        is then the model's record, unless ``fn`` returned something else), ``failed`` otherwise.
        ``uses``: ids the job reads, which cannot be deleted while it runs.
        """
        if not callable(fn):
            raise TypeError(f"a job needs a function fn(progress, cancel), got {type(fn).__name__}")
        params = dict(params or {})
        check_json(params, "job parameters")
        job_id = f"j-{os.urandom(4).hex()}"
        log_path = self._db.path / "jobs" / job_id / "log.txt"
        owner = process_identity()
        uses = [u for u in uses if u]
        stamp = now_iso()
        with _SUBMITTING_LOCK:
            _SUBMITTING.add(job_id)
        try:
            with self._db.write() as conn:
                if model_id is not None:
                    row = conn.execute("SELECT kind, status FROM records WHERE id = ?", (model_id,)).fetchone()
                    if row is None or row["kind"] not in MODEL_KINDS:
                        raise RecordNotFoundError(f"no custom model {model_id!r} in the workspace {self._db.path}")
                    if row["status"] not in ("pending", "ready"):
                        msg = (
                            f"model {model_id} is {row['status']}; a model is trained once. Train again to make a "
                            "new version (ws.rerun(job_id), or build/train with the same name)"
                        )
                        raise WorkspaceError(msg)
                    conn.execute(
                        "UPDATE records SET status = 'training', job_id = ?, message = NULL, updated = ? WHERE id = ?",
                        (job_id, stamp, model_id),
                    )
                    model_row = conn.execute("SELECT * FROM records WHERE id = ?", (model_id,)).fetchone()
                    log_event(conn, model_row, "training", {"job_id": job_id, "job_kind": kind}, at=stamp)
                    write_links(conn, model_id, uses)  # a model is made from what its job uses (an AM's LM too)
                conn.execute(
                    "INSERT INTO jobs (id, kind, status, params, heavy, model_id, uses, rerun_of, owner_host, owner_pid,"
                    " owner_started, log_path, created, updated) VALUES (?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        job_id, kind, json.dumps(params), int(heavy), model_id, json.dumps(uses), rerun_of,
                        owner["host"], owner["pid"], owner["started"], log_path.relative_to(self._db.path).as_posix(),
                        stamp, stamp,
                    ),
                )
            log_path.parent.mkdir(parents=True, exist_ok=True)
            run = self._model_job(fn, model_id) if model_id else fn
            try:
                flag = self._cancel_flag(job_id)
                return self._runner.submit(
                    run, kind=kind, params=params, heavy=heavy, job_id=job_id, log_path=log_path, store=self,
                    model_id=model_id, cancel_requested=flag.exists,
                )
            except BaseException as exc:  # never leave a job row queued that nothing will run
                with self._db.write() as conn:
                    conn.execute(
                        "UPDATE jobs SET status = 'failed', error = ?, finished = ?, updated = ? WHERE id = ?",
                        (f"could not start: {exc}", now_iso(), now_iso(), job_id),
                    )
                if model_id:
                    self._models.mark_failed(model_id, f"job {job_id} could not start: {exc}")
                raise
        finally:
            with _SUBMITTING_LOCK:
                _SUBMITTING.discard(job_id)

    def _model_job(self, fn: JobFunction, model_id: str) -> JobFunction:
        def run(progress: Callable[[float, str], None], cancel: threading.Event) -> Any:
            result = fn(progress, cancel)
            if cancel.is_set():
                raise JobCancelled("cancelled before the model was finished")
            record = self._models.finalize(model_id)
            # The model is in place: a cancel arriving now is too late, and the job completed.
            cancel.clear()
            return record if result is None else result

        return run

    def save_job(self, job: Job) -> None:
        """Save a job's state (called by the job from its worker thread)."""
        snap = job.snapshot()
        failed_model = snap["model_id"] if snap["status"] in FINAL_STATUSES and snap["status"] != "completed" else None
        with self._db.write() as conn:
            conn.execute(
                "UPDATE jobs SET status = ?, progress = ?, message = ?, error = ?, result = ?, started = ?,"
                " finished = ?, updated = ? WHERE id = ?",
                (
                    snap["status"], snap["progress"], snap["message"], snap["error"], json_or_none(snap["result"]),
                    snap["started"], snap["finished"], now_iso(), snap["id"],
                ),
            )
        if failed_model:
            reason = "cancelled" if snap["status"] == "cancelled" else f"failed: {snap['error']}"
            self._models.mark_failed(failed_model, f"job {snap['id']} {reason}")

    def _job_state(self, row: sqlite3.Row) -> dict[str, Any]:
        state = dict(row)
        state["params"] = json.loads(row["params"])
        state["uses"] = json.loads(row["uses"])
        state["result"] = json.loads(row["result"]) if row["result"] else None
        state["log_path"] = str(self._db.path / row["log_path"])
        return state

    def job(self, job_id: str) -> Job:
        """A job: the live object while it runs in this process, else a view of its saved state."""
        return self._job(job_id, recover=True)

    def _job(self, job_id: str, recover: bool) -> Job:
        live = self._runner.get(job_id) or live_job(job_id)
        if live is not None:
            return live
        if recover:
            self.recover()
        row = self._db.one("SELECT * FROM jobs WHERE id = ?", (job_id,))
        if row is None:
            raise RecordNotFoundError(f"no job {job_id!r} in the workspace {self._db.path}: list them with ws.jobs()")

        def reload() -> dict[str, Any] | None:
            self.recover()
            fresh = self._db.one("SELECT * FROM jobs WHERE id = ?", (job_id,))
            return self._job_state(fresh) if fresh else None

        def request_cancel() -> None:
            self.request_cancel(job_id)

        return Job.from_state(self._job_state(row), reload, request_cancel=request_cancel)

    def _cancel_flag(self, job_id: str) -> Path:
        return self._db.path / "jobs" / job_id / "cancel"

    def request_cancel(self, job_id: str) -> bool:
        """Ask job ``job_id`` to stop, whichever process runs it: this one cancels it directly;
        another sees the request within a second at its job's next check. Returns False when
        the job had already finished."""
        live = self._runner.get(job_id) or live_job(job_id)
        if live is not None:
            return live.cancel()
        self.recover()
        row = self._db.one("SELECT status FROM jobs WHERE id = ?", (job_id,))
        if row is None:
            raise RecordNotFoundError(f"no job {job_id!r} in the workspace {self._db.path}: list them with ws.jobs()")
        if row["status"] not in ACTIVE_STATUSES:
            return False
        atomic_write(self._cancel_flag(job_id), now_iso())
        return True

    def jobs(self, status: str | None = None) -> list[Job]:
        """Jobs of this workspace, oldest first (live ones as live objects)."""
        self.recover()
        sql = "SELECT id FROM jobs" + (" WHERE status = ?" if status else "") + " ORDER BY created, rowid"
        return [self._job(r["id"], recover=False) for r in self._db.rows(sql, (status,) if status else ())]

    def job_params(self, job_id: str) -> dict[str, Any] | None:
        """The saved parameters of job ``job_id`` (None if there is no such job)."""
        row = self._db.one("SELECT params FROM jobs WHERE id = ?", (job_id,))
        return json.loads(row["params"]) if row is not None else None

    def jobs_using(self, record_id: str) -> list[str]:
        """Ids of the queued or running jobs that build or read record ``record_id``."""
        self.recover()
        users = []
        for row in self._db.rows("SELECT id, model_id, uses FROM jobs WHERE status IN (?, ?)", ACTIVE_STATUSES):
            if row["model_id"] == record_id or record_id in json.loads(row["uses"]):
                users.append(row["id"])
        return users

    def delete(self, job_id: str) -> bool:
        """Delete a finished job (its log, row, and the files its result names as its own under
        ``"files"``: paths in the workspace's ``jobs`` folder); False when ``job_id`` names no job."""
        row = self._db.one("SELECT status, result FROM jobs WHERE id = ?", (job_id,))
        if row is None:
            return False
        if row["status"] in ACTIVE_STATUSES:
            raise ModelInUseError(f"job {job_id} is still {row['status']}: cancel it first")
        with self._db.write() as conn:
            conn.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
        jobs_folder = self._db.path / "jobs"
        _safety.remove_path(jobs_folder / job_id)
        try:
            result = json.loads(row["result"]) if row["result"] else None
        except ValueError:
            result = None
        owned = result.get("files") if isinstance(result, dict) else None
        for relative in owned if isinstance(owned, list) else []:
            path = (self._db.path / str(relative)).resolve()
            if path.is_relative_to(jobs_folder.resolve()) and path != jobs_folder.resolve():
                _safety.remove_path(path)
        return True

    def recover(self) -> list[str]:
        """Mark jobs whose process is gone ``interrupted`` and their models ``failed``.

        Runs when the workspace opens and when jobs are listed. A job is taken as gone when its
        owner (host, pid, process start time) is this host's and that process no longer runs, or
        is this very process but the job is not running here (it was started before a restart
        that reused the pid). Returns the ids marked.
        """
        rows = self._db.rows(
            "SELECT id, owner_host, owner_pid, owner_started FROM jobs WHERE status IN (?, ?)", ACTIVE_STATUSES
        )
        me = process_identity()
        gone = []
        for row in rows:
            if live_job(row["id"]) is not None or row["id"] in _SUBMITTING:
                continue
            same_process = (row["owner_host"], row["owner_pid"], row["owner_started"]) == (
                me["host"], me["pid"], me["started"],
            )
            if same_process or not owner_alive(row["owner_host"], row["owner_pid"], row["owner_started"]):
                gone.append(row["id"])
        if not gone:
            return []
        marked: list[tuple[str, str | None, str, str]] = []
        stamp = now_iso()
        model_message = (
            "interrupted: job {job_id} stopped before the model was finished (kernel restart or crash); nothing "
            "half-written is kept. Re-run it with ws.rerun('{job_id}')"
        )
        with self._db.write() as conn:
            for job_id in gone:
                row = conn.execute(
                    "SELECT status, model_id, owner_pid, owner_host, log_path FROM jobs WHERE id = ?", (job_id,)
                ).fetchone()
                if row is None or row["status"] not in ACTIVE_STATUSES:
                    continue  # finished meanwhile
                error = (
                    f"interrupted: the process that ran this job (pid {row['owner_pid']} on {row['owner_host']}) "
                    f"stopped before it finished (kernel restart or crash); run ws.rerun({job_id!r}) to run it again"
                )
                conn.execute(
                    "UPDATE jobs SET status = 'interrupted', error = ?, finished = ?, updated = ? WHERE id = ?",
                    (error, stamp, stamp, job_id),
                )
                if row["model_id"]:
                    changed = conn.execute(
                        "UPDATE records SET status = 'failed', message = ?, updated = ? "
                        "WHERE id = ? AND status IN ('pending', 'ready', 'training')",
                        (model_message.format(job_id=job_id), stamp, row["model_id"]),
                    ).rowcount
                    model_row = conn.execute("SELECT * FROM records WHERE id = ?", (row["model_id"],)).fetchone()
                    if changed and model_row is not None:
                        log_event(conn, model_row, "failed", {"message": model_message.format(job_id=job_id)}, at=stamp)
                marked.append((job_id, row["model_id"], row["log_path"], error))
        for job_id, model_id, log_rel, error in marked:
            try:
                with (self._db.path / log_rel).open("a", encoding="utf-8") as fh:
                    fh.write(f"{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())} ERROR   {error}\n")
            except OSError:
                pass
            if model_id:
                kind_row = self._db.one("SELECT kind FROM records WHERE id = ?", (model_id,))
                if kind_row is not None:
                    self._models.clear_staging(kind_row["kind"], model_id)
            log.warning("job %s was interrupted; its log is at %s", job_id, self._db.path / log_rel)
        return [m[0] for m in marked]

    def rerun(self, job_id: str, **overrides: Any) -> Job:
        """Run a finished (failed, interrupted, cancelled or completed) job's work again.

        Its kind and saved parameters (updated with ``overrides``) rebuild the job function; a
        job that built a model builds a new version of it (same name, resources and base).
        """
        self.recover()
        row = self._db.one("SELECT * FROM jobs WHERE id = ?", (job_id,))
        if row is None:
            raise RecordNotFoundError(f"no job {job_id!r} in the workspace {self._db.path}")
        if row["status"] in ACTIVE_STATUSES:
            raise WorkspaceError(f"job {job_id} is still {row['status']}: wait for it or cancel it first")
        factory = _JOB_KINDS.get(row["kind"])
        if factory is None:
            msg = (
                f"jobs of kind {row['kind']!r} cannot be re-run: nothing registered to rebuild them; "
                "call jupyter_speechcustom.store.workspace.register_job_kind() first"
            )
            raise WorkspaceError(msg)
        params = {**json.loads(row["params"]), **overrides}
        model = None
        if row["model_id"]:
            old = self._db.one("SELECT * FROM records WHERE id = ?", (row["model_id"],))
            if old is None:
                raise WorkspaceError(f"the model job {job_id} built was deleted; start a new build instead")
            old_rec = self._records.record(old)
            model = self._models.create(
                old_rec.kind, old_rec.base or {}, old_rec.name, old_rec.sources, info={"rerun_of": job_id}
            )
        fn = factory(self._store, params, model)
        return self.submit(
            fn, kind=row["kind"], params=params, heavy=bool(row["heavy"]), model_id=model.id if model else None,
            uses=json.loads(row["uses"]), rerun_of=job_id,
        )
