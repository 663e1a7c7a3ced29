"""The workspace store: a persistent, recoverable home for corpora, audio, custom models and jobs.

:class:`Store` keeps things and the state of the jobs that work on them; it runs no work of its
own. The workspace users open, :class:`jupyter_speechcustom.services.workspace.Workspace`, is a
store with the services (LM builds, training, comparisons) as its job kinds.

Notebook kernels restart often; uploads and trained models must outlive them, as they do in
the cloud services, where each customization has an id and a status. A workspace is a folder::

    index.sqlite          the index (SQLite, WAL): records, base models, jobs, the history (events)
    corpora/  words/      uploaded text and custom-word files, stored as given
    audio/                audio files, stored as given (WAV, WebM/Opus from a browser, ...)
    lms/<id>/             custom language models (folders, see language_model)
    ams/<id>.nemo         custom acoustic models
    results/<name>.json   evaluation results
    jobs/<id>/log.txt     each job's log

Every record has a short id, a ``created`` and an ``updated`` time stamp. Custom models have a
status: ``pending`` (created, no resources), ``ready`` (resources chosen, not trained),
``training``, ``available`` or ``failed``; they remember their base model (name and
fingerprint) and the ids of the resources they were trained on, and training the same name
again makes a new version. Models are built in hidden staging paths and renamed into place
only when complete, so an interrupted build never shows up as ``available``.

A job whose process died (kernel restart, ``kill -9``) is found ``interrupted`` when the
workspace is opened again: each job records its owner (host, pid, process start time); the
model it was producing becomes ``failed``, and :meth:`Store.rerun` runs the same work again
from the job's saved kind and parameters.

Every record's history (created, training, built, failed, renamed, transcript changed, a source
deleted, deleted) is kept in the index's append-only ``events`` table (:meth:`Store.events`); an
index of schema version 1 is upgraded when opened, its history started from its records.

Files are written atomically (temporary file, then ``os.replace``); the index is written in
``BEGIN IMMEDIATE`` transactions with a busy timeout, so several kernels may share a workspace.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import shutil
import sqlite3
import tarfile
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jupyter_speechcustom.constants import (
    MAX_ARCHIVE_BYTES,
    MAX_ARCHIVE_FILES,
    MAX_UPLOAD_BYTES,
    SQLITE_BUSY_TIMEOUT,
)
from jupyter_speechcustom.errors import AudioError, CorpusError, check_list
from jupyter_speechcustom.io import safety as _safety
from jupyter_speechcustom.io.files import atomic_write, is_disk_full
from jupyter_speechcustom.io.safety import (
    ArchiveLimitError,
    MissingUploadError,
    UnsafeArchiveError,
    UploadTooLargeError,
    reserve_path,
    safe_extract,
    sanitize_filename,
)
from jupyter_speechcustom.jobs.runner import (
    ACTIVE_STATUSES,
    FINAL_STATUSES,
    Job,
    JobCancelled,
    JobFunction,
    JobRunner,
    default_runner,
    live_job,
    now_iso,
    owner_alive,
    process_identity,
)
from jupyter_speechcustom.store.index import (
    AUDIO_ROLES,
    AUDIO_SUFFIXES,
    DEFAULT_AUDIO_ROLE,
    FILE_KINDS,
    FOLDERS,
    ID_PREFIX,
    INDEX,
    MAX_NAME_LENGTH,
    MIGRATIONS,
    MODEL_KINDS,
    ON_DUPLICATE,
    SCHEMA,
    SCHEMA_VERSION,
    TRIGGERS,
    AudioRoleError,
    DiskFullError,
    DuplicateNameError,
    InvalidNameError,
    ModelInUseError,
    NameInUseError,
    Record,
    RecordNotFoundError,
    WorkspaceError,
    audio_role,
    check_json,
    check_nemo_archive,
    check_on_duplicate,
    check_role,
    json_or_none,
    nemo_base_ref,
    sniff_audio_suffix,
)
from jupyter_speechcustom.store.keys import ApiKeys

if TYPE_CHECKING:
    from typing_extensions import Self

    from jupyter_speechcustom.asr.models import BaseModel
    from jupyter_speechcustom.lm.language_model import CustomLanguageModel
    from jupyter_speechcustom.text.corpus import Corpus
    from jupyter_speechcustom.text.words import CustomWord

    BaseRef = BaseModel | Mapping[str, Any]

__all__ = [
    "AUDIO_ROLES",
    "ON_DUPLICATE",
    "ArchiveLimitError",
    "AudioRoleError",
    "DiskFullError",
    "DuplicateNameError",
    "InvalidNameError",
    "JobFactory",
    "MissingUploadError",
    "ModelInUseError",
    "NameInUseError",
    "Record",
    "RecordNotFoundError",
    "Store",
    "UnsafeArchiveError",
    "UploadTooLargeError",
    "WorkspaceError",
    "audio_role",
    "register_job_kind",
]

log = logging.getLogger(__name__)

Source = str | Path | bytes | bytearray | memoryview


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



def _workspace_path(path: str | Path) -> Path:
    """The absolute workspace folder, or a :class:`WorkspaceError` for a path no file system takes."""
    text = os.fspath(path) if isinstance(path, (str, Path)) else path
    if not isinstance(text, str):
        raise WorkspaceError(f"the workspace path must be a folder path (text), got {type(path).__name__}")
    if "\x00" in text:
        msg = f"the workspace path {text[:200]!r} contains a NUL character, which no file system allows: remove it"
        raise WorkspaceError(msg)
    try:
        resolved = Path(text).expanduser().resolve()
    except (OSError, RuntimeError) as exc:
        raise WorkspaceError(f"cannot use {text[:200]!r} as a workspace folder ({exc}): choose another path") from None
    name_max = _name_max(resolved)
    long_part = next((p for p in resolved.parts if len(os.fsencode(p)) > name_max), None)
    if long_part is not None or len(os.fsencode(resolved / INDEX)) >= _PATH_MAX:
        what = (f"a folder name of {len(os.fsencode(long_part)):,} bytes (the limit is {name_max})" if long_part
                else f"{len(os.fsencode(resolved)):,} bytes (the limit is about {_PATH_MAX})")
        msg = f"the workspace path {str(resolved)[:80]!r}... is too long: {what}; choose a shorter path"
        raise WorkspaceError(msg)
    return resolved


# Linux's limits on a whole path and on one name, in bytes (os.pathconf asks the file system).
_PATH_MAX = 4096


def _name_max(path: Path) -> int:
    for folder in (path, *path.parents):
        try:
            return int(os.pathconf(folder, "PC_NAME_MAX"))
        except (OSError, ValueError):
            continue
    return 255

class Store:
    """Open (or create) the workspace in folder ``path``.

    Args:
        path: the workspace folder; created when missing. An existing folder must be empty
            or already a workspace.
        runner: the job runner; by default the process-wide one (one heavy job at a time).
        max_upload_bytes: the largest file an ``add_*`` call accepts.
        max_archive_bytes, max_archive_files: limits for archives, checked while extracting.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        runner: JobRunner | None = None,
        max_upload_bytes: int = MAX_UPLOAD_BYTES,
        max_archive_bytes: int = MAX_ARCHIVE_BYTES,
        max_archive_files: int = MAX_ARCHIVE_FILES,
    ) -> None:
        self.path = _workspace_path(path)
        self.index_path = self.path / INDEX
        self.max_upload_bytes = max_upload_bytes
        self.max_archive_bytes = max_archive_bytes
        self.max_archive_files = max_archive_files
        self._runner = runner or default_runner()
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        try:
            exists, is_dir = self.path.exists(), self.path.is_dir()
        except OSError as exc:
            raise WorkspaceError(f"cannot use {str(self.path)[:200]!r} as a workspace folder ({exc.strerror or exc}): "
                                 "choose a folder with a shorter path") from None
        if exists and not is_dir:
            raise WorkspaceError(f"{self.path} is a file, not a folder: choose a folder for the workspace")
        if is_dir and not self.index_path.exists() and any(self.path.iterdir()):
            msg = (
                f"{self.path} already holds other files and is not a workspace (no {INDEX}): choose a new "
                "or empty folder, so the workspace never mixes with, or deletes, files of yours"
            )
            raise WorkspaceError(msg)
        self.path.mkdir(parents=True, exist_ok=True)
        self._connection()  # creates the index first, so a second process sees a workspace
        for folder in (*FOLDERS.values(), "jobs"):
            (self.path / folder).mkdir(exist_ok=True)
        self.recover()

    # ------------------------------------------------------------------ index

    def _connection(self) -> sqlite3.Connection:
        with self._lock:
            if self._conn is None:
                try:
                    self._open_index()
                except (sqlite3.DatabaseError, WorkspaceError) as exc:
                    if self._conn is not None:
                        self._conn.close()
                        self._conn = None
                    if isinstance(exc, WorkspaceError):
                        raise
                    raise self._index_error(exc) from None
            assert self._conn is not None
            return self._conn

    def _index_error(self, exc: sqlite3.Error) -> WorkspaceError:
        """What a failing index operation means for the user, and what to do."""
        text = str(exc)
        if is_disk_full(exc):  # SQLite rolled the transaction back
            return DiskFullError(self.path)
        if "disk I/O error" in text:
            return WorkspaceError(f"cannot write the workspace index {self.index_path}: the disk is full or failing "
                                  f"({text}); free some space and try again")
        if "readonly" in text or "read-only" in text or "unable to open" in text:
            return WorkspaceError(f"cannot open the workspace index {self.index_path} for writing ({text}): "
                                  "check the folder's permissions, or open a workspace in a writable folder")
        return WorkspaceError(f"{self.index_path} is damaged or not a jupyter_speechcustom workspace index ({text}): "
                              "restore it from a backup, or open a new folder as the workspace")

    def _open_index(self) -> None:
        conn = sqlite3.connect(
            self.index_path, timeout=SQLITE_BUSY_TIMEOUT, isolation_level=None, check_same_thread=False
        )
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_TIMEOUT * 1000)}")
        deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT
        while True:  # switching to WAL needs a moment alone with the file
            try:
                conn.execute("PRAGMA journal_mode = WAL")
                break
            except sqlite3.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        conn.execute("PRAGMA synchronous = NORMAL")
        self._conn = conn
        with self._write() as tx:
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    tx.execute(statement)
            for statement in TRIGGERS:
                tx.execute(statement)
            tx.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)", (SCHEMA_VERSION,))
            tx.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('created', ?)", (now_iso(),))
            row = tx.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            if row is not None and row["value"] in MIGRATIONS:  # an older workspace: upgraded in this transaction
                self._migrate(tx, row["value"])
        meta = self._one("SELECT value FROM meta WHERE key = 'schema_version'")
        version = meta["value"] if meta is not None else None
        if version != SCHEMA_VERSION:
            msg = f"{self.path} was made by another version of jupyter_speechcustom (index schema {version}): upgrade"
            raise WorkspaceError(msg)

    def _migrate(self, conn: sqlite3.Connection, version: str) -> None:
        """Upgrade an index of an older schema ``version`` to :data:`SCHEMA_VERSION`, in ``conn``'s transaction."""
        while version in MIGRATIONS:
            if version == "2":  # 2 -> 3: audio stored before roles existed is training audio
                for row in conn.execute("SELECT id, info FROM records WHERE kind = 'audio'").fetchall():
                    info = json.loads(row["info"])
                    if info.get("role") not in AUDIO_ROLES:
                        info["role"] = DEFAULT_AUDIO_ROLE
                        conn.execute("UPDATE records SET info = ? WHERE id = ?", (json.dumps(info), row["id"]))
            if version == "1":  # 1 -> 2: the event log, started from what the records themselves say
                for row in conn.execute("SELECT * FROM records WHERE id NOT IN (SELECT record_id FROM events) "
                                        "ORDER BY created, rowid").fetchall():
                    self._log_event(conn, row, "created", {"from_index": True}, at=row["created"])
                    if row["kind"] in MODEL_KINDS and row["status"] in ("available", "failed"):
                        event = "built" if row["status"] == "available" else "failed"
                        detail = {"message": row["message"]} if row["message"] else {}
                        self._log_event(conn, row, event, detail, at=row["updated"])
            version = MIGRATIONS[version]
        conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (version,))
        log.info("upgraded the workspace index %s to schema %s", self.index_path, version)

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: ``BEGIN IMMEDIATE`` takes the write lock up front, so two processes
        never both read, decide and then fail to upgrade (the busy timeout makes them queue)."""
        with self._lock:
            conn = self._connection()
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.DatabaseError as exc:
                raise self._index_error(exc) from None
            try:
                yield conn
            except BaseException as exc:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.IntegrityError):
                    raise self._index_error(exc) from None
                raise
            try:
                conn.execute("COMMIT")
            except sqlite3.DatabaseError as exc:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise self._index_error(exc) from None

    def _rows(self, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            try:
                return self._connection().execute(sql, args).fetchall()
            except sqlite3.DatabaseError as exc:
                raise self._index_error(exc) from None

    def _one(self, sql: str, args: Sequence[Any] = ()) -> sqlite3.Row | None:
        rows = self._rows(sql, args)
        return rows[0] if rows else None

    @functools.cached_property
    def api_keys(self) -> ApiKeys:
        """The workspace's API keys (the credentials of its speech service)."""
        return ApiKeys(self)

    def close(self) -> None:
        """Close the index (it reopens on next use). Jobs still running keep saving their state."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"

    # ------------------------------------------------------------------ records

    def _new_id(self, kind: str) -> str:
        return f"{ID_PREFIX.get(kind, 'j')}-{os.urandom(4).hex()}"

    def _record(self, row: sqlite3.Row) -> Record:
        base = {"name": row["base_name"], "fingerprint": row["base_fingerprint"]} if row["base_fingerprint"] else None
        return Record(
            id=row["id"],
            kind=row["kind"],
            name=row["name"],
            version=row["version"],
            status=row["status"],
            path=self.path / row["path"] if row["path"] else None,
            created=row["created"],
            updated=row["updated"],
            message=row["message"],
            base=base,
            sources=tuple(json.loads(row["sources"])),
            job_id=row["job_id"],
            info=json.loads(row["info"]),
        )

    def get(self, record_id: str, kind: str | None = None) -> Record:
        """The record with ``record_id`` (of ``kind``, when given)."""
        row = self._one("SELECT * FROM records WHERE id = ?", (record_id,))
        if row is None or (kind is not None and row["kind"] != kind):
            what = f"{kind} " if kind else ""
            msg = f"no {what}record {record_id!r} in the workspace {self.path}: list them with ws.records()"
            raise RecordNotFoundError(msg)
        return self._record(row)

    def records(self, kind: str | None = None, *, name: str | None = None, status: str | None = None) -> list[Record]:
        """Records, oldest first, optionally of one kind, name or status."""
        sql, args = "SELECT * FROM records WHERE 1=1", []
        for column, value in (("kind", kind), ("name", name), ("status", status)):
            if value is not None:
                sql += f" AND {column} = ?"
                args.append(value)
        return [self._record(r) for r in self._rows(sql + " ORDER BY created, rowid", args)]

    def corpora(self) -> list[Record]:
        return self.records("corpus")

    def word_lists(self) -> list[Record]:
        return self.records("words")

    def audio(self, role: str | None = None) -> list[Record]:
        """Audio records, oldest first; with ``role``, those of that role (:data:`AUDIO_ROLES`)."""
        records = self.records("audio")
        if role is None:
            return records
        role = check_role(role)
        return [r for r in records if audio_role(r) == role]

    def language_models(self, name: str | None = None, status: str | None = None) -> list[Record]:
        """Custom LMs (every version), optionally of one name or status (``"available"``)."""
        return self.records("lm", name=name, status=status)

    def acoustic_models(self, name: str | None = None, status: str | None = None) -> list[Record]:
        return self.records("am", name=name, status=status)

    def results(self) -> list[Record]:
        return self.records("result")

    def base_models(self) -> list[dict[str, Any]]:
        """Base models custom models were made on: name, fingerprint, path, first and last use."""
        return [dict(r) for r in self._rows("SELECT * FROM base_models ORDER BY created")]

    def file_of(self, record_id: str, kind: str) -> Path:
        """The stored file of record ``record_id`` (of ``kind``); an error if it went missing."""
        rec = self.get(record_id, kind)
        if rec.path is None or not rec.path.is_file():
            raise WorkspaceError(f"the file of {kind} {record_id} is missing from {rec.path}: add it again")
        return rec.path

    def corpus(self, corpus_id: str) -> Corpus:
        """A stored corpus, read and normalized (default normalizer)."""
        from jupyter_speechcustom.text.corpus import Corpus

        rec = self.get(corpus_id, "corpus")
        return Corpus.from_bytes(self.file_of(corpus_id, "corpus").read_bytes(), name=rec.name)

    def custom_words(self, words_id: str) -> list[CustomWord]:
        from jupyter_speechcustom.text.words import read_custom_words

        path = self.file_of(words_id, "words")
        return read_custom_words(path.read_bytes(), name=path.name)

    def result(self, result_id: str) -> dict[str, Any]:
        return json.loads(self.file_of(result_id, "result").read_text(encoding="utf-8"))

    # ------------------------------------------------------------------ adding resources

    def _insert(
        self,
        conn: sqlite3.Connection,
        kind: str,
        name: str,
        path: str | None,
        *,
        status: str = "available",
        version: int = 1,
        info: Mapping[str, Any] | None = None,
        base: Mapping[str, str] | None = None,
        sources: Sequence[str] = (),
        record_id: str | None = None,
    ) -> str:
        record_id = record_id or self._new_id(kind)
        stamp = now_iso()
        conn.execute(
            "INSERT INTO records (id, kind, name, version, status, path, base_name, base_fingerprint, sources,"
            " info, created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                record_id, kind, name, version, status, path,
                base["name"] if base else None, base["fingerprint"] if base else None,
                json.dumps(list(sources)), json.dumps(dict(info or {})), stamp, stamp,
            ),
        )
        detail: dict[str, Any] = {"sources": list(sources)} if sources else {}
        self._log_event(conn, {"id": record_id, "kind": kind, "name": name, "version": version}, "created", detail,
                        at=stamp)
        return record_id

    def _store_files(
        self,
        kind: str,
        items: Sequence[tuple[str, bytes | Path, dict[str, Any]]],
        on_duplicate: str = "keep",
        *,
        label: str | None = None,
    ) -> list[tuple[str, Record]]:
        """Store files (content or a file to move) under ``kind``'s folder, then index them in one
        transaction. A file is written before its row, so a crash leaves at most an orphan file.

        An item whose name a record of ``kind`` already has follows ``on_duplicate``
        (:data:`ON_DUPLICATE`), decided for every item before anything is written: ``"error"``
        raises a :class:`DuplicateNameError` naming them all; ``"replace"`` is refused
        (:class:`ModelInUseError`) if a model was made from, or a running job reads, a record it
        would replace. Two items of one call with the same name are both kept, the later ones
        numbered. Returns ``(what, record)`` for each item, in order: ``"added"``, ``"kept"``
        (added under a numbered name), ``"replaced"`` (the record, same id, with the new file) or
        ``"skipped"`` (the record already there).
        """
        on_duplicate = check_on_duplicate(on_duplicate)
        folder = self.path / FOLDERS[kind]
        existing = {r.name: r for r in self.records(kind)}
        plan: list[tuple[str, bytes | Path, dict[str, Any], str, Record | None]] = []
        replacing: set[str] = set()
        for filename, content, info in items:
            old = existing.get(filename)
            action = "added" if old is None else {"replace": "replaced", "keep": "kept", "skip": "skipped"}.get(
                on_duplicate, "error")
            if action == "replaced" and filename in replacing:  # one file replaces it; the next is kept beside
                action, old = "kept", None
            replacing.add(filename)
            if kind == "audio":
                keep_role = old is not None and action in ("replaced", "skipped")
                info["role"] = info.get("role") or (audio_role(old) if keep_role and old else DEFAULT_AUDIO_ROLE)
            plan.append((filename, content, info, action, old))
        taken = list(dict.fromkeys(filename for filename, _, _, action, _ in plan if action == "error"))
        if taken:
            shown = ", ".join(taken[:10]) + (f" and {len(taken) - 10} more" if len(taken) > 10 else "")
            where = f" (from {label})" if label else ""
            msg = (f"{len(taken)} {kind} file(s){where} already in the workspace under the same name: {shown}. "
                   "Choose on_duplicate='replace' (replace the stored file), 'keep' (keep both, the new one "
                   "under a numbered name) or 'skip' (leave the new one out)")
            raise DuplicateNameError(msg, taken)
        self._check_replaceable(kind, [old for *_, action, old in plan if action == "replaced" and old])
        written: list[tuple[int, Path, dict[str, Any], str, Record | None]] = []
        results: dict[int, tuple[str, Record]] = {}
        try:
            for n, (filename, content, info, action, old) in enumerate(plan):
                if action == "skipped":
                    assert old is not None
                    results[n] = (action, old)
                    continue
                target = reserve_path(folder, filename)
                written.append((n, target, info, action, old))
                if isinstance(content, Path):
                    os.replace(content, target)
                else:
                    atomic_write(target, content)
            ids: dict[int, str] = {}
            with self._write() as conn:
                for n, target, info, action, old in written:
                    rel = target.relative_to(self.path).as_posix()
                    if action == "replaced":
                        assert old is not None
                        row = conn.execute("SELECT * FROM records WHERE id = ?", (old.id,)).fetchone()
                        if row is None:
                            raise RecordNotFoundError(f"{kind} {old.name!r} ({old.id}) was deleted meanwhile: add the "
                                                      "file again")
                        conn.execute("UPDATE records SET path = ?, info = ?, updated = ? WHERE id = ?",
                                     (rel, json.dumps(info), now_iso(), old.id))
                        self._log_event(conn, row, "replaced", {"path": rel, "from_path": row["path"],
                                                               "original_name": info.get("original_name")})
                        ids[n] = old.id
                        continue
                    if action == "added" and on_duplicate == "error" and conn.execute(
                            "SELECT 1 FROM records WHERE kind = ? AND name = ?", (kind, target.name)).fetchone():
                        raise DuplicateNameError(f"{kind} {target.name!r} was added meanwhile by another process: "
                                                 "choose what to do with the duplicate (on_duplicate)", [target.name])
                    ids[n] = self._insert(conn, kind, target.name, rel, info=info)
        except BaseException as exc:
            for _, target, *_ in written:
                target.unlink(missing_ok=True)
            if is_disk_full(exc) and not isinstance(exc, DiskFullError):
                raise DiskFullError(self.path) from exc
            raise
        for n, target, _, action, old in written:
            if action == "replaced" and old is not None:
                self._settle_replacement(old, target)
            results[n] = (action, self.get(ids[n]))
            if action == "kept":
                log.info("%s %r was already in the workspace: the new file is kept too, as %r", kind,
                         plan[n][0], results[n][1].name)
        return [results[n] for n in range(len(plan))]

    def _check_replaceable(self, kind: str, olds: Sequence[Record]) -> None:
        """Refuse to replace records a model was made from or a running job reads: the model's
        history would name a file it never saw."""
        problems = []
        for old in olds:
            users = [f"{r['kind']} {r['name']!r} v{r['version']} ({r['id']})" for r in self._rows(
                "SELECT id, kind, name, version FROM records WHERE kind IN ('lm', 'am') AND sources LIKE ?",
                (f'%"{old.id}"%',))]
            users += [f"running job {j}" for j in self._active_users(old.id)]
            if users:
                problems.append(f"{old.name} (used by {', '.join(users)})")
        if problems:
            raise ModelInUseError(f"cannot replace {kind} {'; '.join(problems)}: a model or job made from it must "
                                  "keep its data. Keep both (on_duplicate='keep'), skip the new file, or delete what "
                                  "uses it first")

    def _settle_replacement(self, old: Record, target: Path) -> None:
        """Put a replaced record's new file (``target``, committed) under the record's old file name.

        The old path gets the new content atomically, the index follows, and only then is
        ``target`` removed: a failure at any step leaves the record pointing at a whole file."""
        if old.path is None or old.path == target or old.path.parent != target.parent:
            return
        try:
            _link_or_copy(target, old.path)
            with self._write() as conn:
                conn.execute("UPDATE records SET path = ? WHERE id = ? AND path = ?",
                             (old.path.relative_to(self.path).as_posix(), old.id,
                              target.relative_to(self.path).as_posix()))
        except (OSError, WorkspaceError) as exc:
            log.warning("the new file of %s stays at %s (could not move it to %s: %s)", old.id, target, old.path, exc)
            return
        target.unlink(missing_ok=True)

    def duplicates(self, kind: str, names: Sequence[str]) -> list[str]:
        """Those of ``names`` (file names, cleaned as the ``add_*`` methods clean them) that a record
        of ``kind`` already has: the uploads an ``on_duplicate`` choice is needed for."""
        check_list(names, "names", "file names")
        taken = {r.name for r in self.records(kind)}
        return [n for n in (sanitize_filename(name, default="") for name in names) if n and n in taken]

    def add_corpus(self, source: Source, name: str | None = None, *, on_duplicate: str = "keep") -> Record:
        """Store a text corpus (a path or uploaded bytes) as given, with its statistics.

        The text is checked first (encoding, not binary, not empty), and the record's ``info``
        has its sentence and word counts and the top out-of-vocabulary words. ``on_duplicate``:
        what to do when a corpus of that name exists (see :meth:`add_audio`); by default both are
        kept, the new one numbered.
        """
        from jupyter_speechcustom.text.corpus import Corpus, known_words

        data, given = _safety.read_upload(source, name, self.max_upload_bytes, "text")
        filename = sanitize_filename(given or "corpus.txt", default="corpus")
        if "." not in filename:
            filename += ".txt"
        corpus = Corpus.from_bytes(data, name=given or filename)
        summary = corpus.summary(known_words())
        info = {
            "original_name": given or None,
            "bytes": len(data),
            "sentences": summary["sentences"],
            "words": summary["words"],
            "distinct_words": summary["distinct_words"],
            "oov_count": summary["oov_count"],
            "top_oov": [list(item) for item in summary["top_oov"]],
        }
        return self._store_files("corpus", [(filename, data, info)], on_duplicate)[0][1]

    def add_words(self, source: Source, name: str | None = None, *, on_duplicate: str = "keep") -> Record:
        """Store a custom-words file (CSV, JSON or one word a line; path or bytes), checked first.
        ``on_duplicate`` as for :meth:`add_corpus`."""
        from jupyter_speechcustom.text.words import read_custom_words

        data, given = _safety.read_upload(source, name, self.max_upload_bytes, "custom words")
        filename = sanitize_filename(given or "custom_words.csv", default="custom_words")
        words = read_custom_words(data, name=filename if "." in filename else None)
        info = {
            "original_name": given or None,
            "bytes": len(data),
            "count": len(words),
            "words": [w.word for w in words[:50]],
        }
        return self._store_files("words", [(filename, data, info)], on_duplicate)[0][1]

    def _audio_info(self, source: bytes | Path, label: str) -> dict[str, Any]:
        from jupyter_speechcustom.io.audio import audio_info

        try:
            info = audio_info(source)
        except AudioError as exc:
            raise AudioError(f"{label}: {exc}") from None
        return {"duration": round(info.duration, 4), "sample_rate": info.sample_rate, "channels": info.channels}

    def add_audio(
        self,
        source: Source,
        name: str | None = None,
        transcript: str | None = None,
        *,
        role: str | None = None,
        on_duplicate: str = "error",
    ) -> Record:
        """Store one audio file (a path, or bytes such as a browser's WebM/Opus recording) as given.

        It is decoded first, so a corrupt or unsupported file is refused; the record's ``info``
        has its duration, sample rate, channels, the ``transcript``, if any, and its ``role``
        (:data:`AUDIO_ROLES`: ``"train"`` unless given; ``"test"`` audio is never trained on).

        ``on_duplicate``, when audio of the same file name is already stored: ``"error"``
        (a :class:`DuplicateNameError`, nothing stored), ``"replace"`` (the record keeps its id and
        takes the new file and transcript, and its role unless ``role`` is given; refused with
        :class:`ModelInUseError` if a model was made from it or a running job reads it),
        ``"keep"`` (both kept: the new one under a numbered name, e.g. ``clip-2.wav``) or
        ``"skip"`` (nothing stored; the stored record is returned).
        """
        if transcript is not None and not isinstance(transcript, str):
            raise TypeError(f"transcript must be text or None, got {type(transcript).__name__}")
        role = check_role(role) if role is not None else None
        on_duplicate = check_on_duplicate(on_duplicate)
        data, given = _safety.read_upload(source, name, self.max_upload_bytes, "audio")
        suffix = sniff_audio_suffix(data)
        filename = sanitize_filename(given or f"recording{suffix}", default="recording")
        if "." not in filename:
            filename += suffix
        info = self._audio_info(data, given or "the uploaded audio")
        info.update(original_name=given or None, bytes=len(data), transcript=(transcript or "").strip() or None,
                    role=role)
        return self._store_files("audio", [(filename, data, info)], on_duplicate)[0][1]

    def add_audio_archive(
        self,
        source: Source,
        *,
        name: str | None = None,
        max_files: int | None = None,
        max_bytes: int | None = None,
        skipped: list[str] | None = None,
        role: str | None = None,
        on_duplicate: str = "error",
    ) -> list[Record]:
        """Store the audio files of a zip or tar archive (path or bytes), extracted safely.

        A ``.txt`` file with the same stem next to an audio file is its transcript. Files that
        are neither audio nor transcripts are skipped, as are audio files that do not decode
        (both with a logged warning, and a line each, "file (why)", appended to ``skipped`` when
        given). Entries that climb out of the archive, links, devices, and archives beyond
        ``max_files`` entries or ``max_bytes`` extracted are refused.

        ``role``: the role of every file; without it, a file under a folder named ``train``,
        ``dev`` or ``test`` (at any depth, the nearest one) has that role, others ``"train"``.
        ``on_duplicate`` as for :meth:`add_audio`, for every file whose name is already stored
        (files of the same name in different folders of the archive are all kept, the later
        ones numbered); skipped files are named in ``skipped`` and not returned.
        """
        role = check_role(role) if role is not None else None
        on_duplicate = check_on_duplicate(on_duplicate)
        with self._archive_audio(source, name, max_files, max_bytes, skipped, role) as (label, items):
            stored = self._store_files("audio", items, on_duplicate, label=label)
            if skipped is not None:
                skipped.extend(f"{info.get('original_name')} (already in the workspace as {rec.name}: skipped)"
                               for (_, _, info), (action, rec) in zip(items, stored) if action == "skipped")
        return [rec for action, rec in stored if action != "skipped"]

    def archive_audio_names(self, source: Source, *, name: str | None = None) -> list[str]:
        """The names :meth:`add_audio_archive` would store the archive's audio files under
        before numbering, read without storing anything (to ask about duplicates first)."""
        with self._archive_audio(source, name, None, None, None, None) as (_, items):
            return [filename for filename, _, _ in items]

    @contextmanager
    def _archive_audio(
        self,
        source: Source,
        name: str | None,
        max_files: int | None,
        max_bytes: int | None,
        skipped: list[str] | None,
        role: str | None,
    ) -> Iterator[tuple[str, list[tuple[str, bytes | Path, dict[str, Any]]]]]:
        """An archive extracted into a hidden folder of ``audio/`` (removed afterwards): its label and
        its usable audio as ``(file name, path, info)``; an :class:`AudioError` if it has none."""
        label = name or ("the uploaded archive" if isinstance(source, (bytes, bytearray, memoryview)) else str(source))
        if isinstance(source, (bytes, bytearray, memoryview)):
            _safety.check_size(len(source), self.max_archive_bytes, label, "max_archive_bytes")
        root, files = safe_extract(
            source,
            self.path / FOLDERS["audio"],
            label=label,
            max_files=max_files or self.max_archive_files,
            max_bytes=max_bytes or self.max_archive_bytes,
        )
        try:
            present = set(files)
            items: list[tuple[str, bytes | Path, dict[str, Any]]] = []
            left_out: list[str] = []
            for rel in files:
                if any(part.startswith(".") or part == "__MACOSX" for part in rel.parts):
                    continue
                suffix = rel.suffix.lower()
                if suffix == ".txt":
                    continue
                if suffix not in AUDIO_SUFFIXES:
                    left_out.append(f"{rel} (not audio)")
                    continue
                path = root.joinpath(*rel.parts)
                try:
                    info = self._audio_info(path, f"{label}: {rel}")
                except AudioError as exc:
                    left_out.append(f"{rel} ({exc})")
                    continue
                transcript = None
                pair = rel.with_suffix(".txt")
                if pair in present:
                    from jupyter_speechcustom.text.corpus import read_text

                    try:
                        transcript = " ".join(read_text(root.joinpath(*pair.parts), name=str(pair)).split()) or None
                    except CorpusError as exc:
                        left_out.append(f"{pair} (transcript not used: {exc})")
                folder_role = next((p.lower() for p in reversed(rel.parts[:-1]) if p.lower() in AUDIO_ROLES), None)
                info.update(original_name=str(rel), archive=label, bytes=path.stat().st_size, transcript=transcript,
                            role=role or folder_role)
                items.append((sanitize_filename(rel.name, default="audio"), path, info))
            if left_out:
                log.warning("%s: skipped %d file(s): %s", label, len(left_out), "; ".join(left_out[:20]))
                if skipped is not None:
                    skipped.extend(left_out)
            if not items:
                msg = f"{label} has no usable audio files ({', '.join(sorted(AUDIO_SUFFIXES))}): check its contents"
                if left_out:
                    more = f" and {len(left_out) - 3} more" if len(left_out) > 3 else ""
                    msg += f" (left out: {'; '.join(left_out[:3])}{more})"
                raise AudioError(msg)
            yield label, items
        finally:
            shutil.rmtree(root, ignore_errors=True)

    def add_result(self, name: str, data: Mapping[str, Any], *, sources: Sequence[str] = ()) -> Record:
        """Store an evaluation result (a JSON-serializable dict) as ``results/<name>.json``.

        Adding a result with a name already used makes a new version of it. ``sources``: ids of
        the models (or other records) it was made from, kept as its dependencies.
        """
        if not isinstance(data, Mapping):
            raise TypeError(f"a result must be a dict of JSON values, got {type(data).__name__}")
        if not isinstance(name, str) or not name.strip():
            raise ValueError("a result needs a name, e.g. add_result('baseline', {...})")
        check_json(dict(data), "the result")
        content = json.dumps(dict(data), indent=2, ensure_ascii=False)
        name = name.strip()
        target = reserve_path(self.path / FOLDERS["result"], sanitize_filename(name, default="result") + ".json")
        try:
            atomic_write(target, content)
            with self._write() as conn:
                version = self._next_version(conn, "result", name)
                info = {"keys": sorted(str(k) for k in data)[:50], "bytes": len(content.encode())}
                record_id = self._insert(
                    conn, "result", name, target.relative_to(self.path).as_posix(), version=version, info=info,
                    sources=[s for s in sources if s],
                )
        except BaseException as exc:
            target.unlink(missing_ok=True)
            if is_disk_full(exc) and not isinstance(exc, DiskFullError):
                raise DiskFullError(self.path) from exc
            raise
        return self.get(record_id)

    # ------------------------------------------------------------------ base models and models

    def _note_base(self, base: BaseRef) -> dict[str, str]:
        """Record the base model used and return the reference custom models keep (its family)."""
        if isinstance(base, Mapping):
            if not base.get("fingerprint") or not base.get("name"):
                raise ValueError(f"a base model reference needs a name and a fingerprint, got {dict(base)!r}")
            ref = {"name": str(base["name"]), "fingerprint": str(base["fingerprint"])}
            actual = {**ref, "path": base.get("path")}
        else:
            tied = base.tied_base or {}
            ref = {"name": str(tied.get("name", base.name)), "fingerprint": base.family_fingerprint}
            actual = {"name": base.name, "fingerprint": base.fingerprint, "path": str(base.path)}
        stamp = now_iso()
        with self._write() as conn:
            conn.execute(
                "INSERT INTO base_models (fingerprint, name, path, created, last_used) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (fingerprint) DO UPDATE SET last_used = excluded.last_used, "
                "path = COALESCE(excluded.path, base_models.path)",
                (actual["fingerprint"], actual["name"], actual["path"], stamp, stamp),
            )
        return ref

    def _next_version(self, conn: sqlite3.Connection, kind: str, name: str) -> int:
        row = conn.execute(
            "SELECT COALESCE(MAX(version), 0) + 1 AS v FROM records WHERE kind = ? AND name = ?", (kind, name)
        ).fetchone()
        return int(row["v"])

    def _model_path(self, kind: str, record_id: str) -> str:
        return f"{FOLDERS[kind]}/{record_id}" + (".nemo" if kind == "am" else "")

    def _check_sources(self, ids: Sequence[str], kind: str) -> list[str]:
        ids = list(ids)
        for record_id in ids:
            rec = self.get(record_id, kind)
            if rec.status != "available":
                raise WorkspaceError(f"{kind} {record_id} is {rec.status}, not available: add it again")
        return ids

    def _create_model(
        self, kind: str, base: BaseRef, name: str, sources: Sequence[str], info: Mapping[str, Any] | None = None
    ) -> Record:
        if not isinstance(name, str) or not name.strip():
            raise ValueError("a custom model needs a name, e.g. name='support-calls'")
        ref = self._note_base(base)
        record_id = self._new_id(kind)
        with self._write() as conn:  # the version is chosen inside the transaction: no two processes share one
            version = self._next_version(conn, kind, name.strip())
            self._insert(
                conn, kind, name.strip(), self._model_path(kind, record_id), status="ready" if sources else "pending",
                version=version, info=info, base=ref, sources=sources, record_id=record_id,
            )
        return self.get(record_id)

    def create_language_model(
        self, base: BaseRef, name: str, corpus_ids: Sequence[str] = (), words_id: str | None = None
    ) -> Record:
        """A new custom LM version: ``pending`` without resources, ``ready`` with them. Train it by
        submitting a job with ``model_id=`` (or use :meth:`build_language_model`)."""
        sources = self._check_sources(corpus_ids, "corpus") + (self._check_sources([words_id], "words") if words_id else [])
        return self._create_model("lm", base, name, sources)

    def create_acoustic_model(self, base: BaseRef, name: str, audio_ids: Sequence[str] = ()) -> Record:
        """A new custom AM version: ``pending`` without audio, ``ready`` with it."""
        return self._create_model("am", base, name, self._check_sources(audio_ids, "audio"))

    def staging_path(self, model_id: str) -> Path:
        """Where a job builds model ``model_id`` (``lms/.tmp-<id>`` folder, ``ams/.tmp-<id>.nemo``);
        it is renamed into place when the job completes."""
        rec = self.get(model_id)
        if rec.kind not in MODEL_KINDS:
            raise WorkspaceError(f"{model_id} is a {rec.kind}, not a custom model")
        return self.path / FOLDERS[rec.kind] / (f".tmp-{model_id}" + (".nemo" if rec.kind == "am" else ""))

    def _clear_staging(self, kind: str, model_id: str) -> None:
        for leftover in (self.path / FOLDERS[kind]).glob(f".*{model_id}*"):
            _safety.remove_path(leftover)

    def language_model(self, lm_id: str) -> CustomLanguageModel:
        """An available custom LM, ready for decoding."""
        from jupyter_speechcustom.lm.language_model import CustomLanguageModel

        rec = self.get(lm_id, "lm")
        if rec.status != "available" or rec.path is None:
            detail = f": {rec.message}" if rec.message else ""
            raise WorkspaceError(f"language model {lm_id} ({rec.label}) is {rec.status}, not available{detail}")
        return CustomLanguageModel.load(rec.path)

    def acoustic_model(self, am_id: str) -> BaseModel:
        """An available custom AM, loaded (it is a base model for recognition)."""
        from jupyter_speechcustom.asr.models import load_base_model

        rec = self.get(am_id, "am")
        if rec.status != "available" or rec.path is None:
            detail = f": {rec.message}" if rec.message else ""
            raise WorkspaceError(f"acoustic model {am_id} ({rec.label}) is {rec.status}, not available{detail}")
        return load_base_model(rec.path)

    def load_base_model(self, name_or_path: str | Path = "demo") -> BaseModel:
        """Load a base model and note it in the workspace. A ``.nemo`` file from outside the
        workspace is loaded with a warning: it can contain pickled code."""
        from jupyter_speechcustom.asr.models import load_base_model

        text = str(name_or_path)
        candidate = Path(text).expanduser()
        if candidate.is_file() and not candidate.resolve().is_relative_to(self.path):
            _safety.warn_untrusted_nemo(candidate)
        base = load_base_model(name_or_path)
        self._note_base(base)
        return base

    def add_language_model(self, folder: str | Path, *, name: str | None = None, move: bool = False) -> Record:
        """Add a custom LM folder built elsewhere (copied, or moved with ``move=True``); it keeps its
        base model reference and is ``available`` at once."""
        from jupyter_speechcustom.lm.language_model import CustomLanguageModel

        source = Path(folder)
        lm = CustomLanguageModel.load(source)  # raises unless it is a complete LM folder
        base = lm.base_model
        if not base.get("fingerprint"):
            raise WorkspaceError(f"{source}/lm.json names no base model fingerprint: rebuild the LM")
        model = self._create_model("lm", base, name or lm.name or source.name, (), info={"imported_from": str(source)})
        staging = self.staging_path(model.id)
        try:
            if move:
                os.replace(source, staging)
            else:
                _copy_regular_tree(source, staging)
            self._finalize_model(model.id)
        except BaseException as exc:
            self._mark_failed(model.id, f"import failed: {exc}")
            raise
        return self.get(model.id)

    def add_acoustic_model(
        self, path: str | Path, *, name: str | None = None, base: Mapping[str, str] | None = None, move: bool = False
    ) -> Record:
        """Add a custom AM ``.nemo`` made elsewhere (warns: a .nemo can contain pickled code).

        ``base``: ``{"name", "fingerprint"}`` of its base model; by default read from the
        model's config, where this toolkit's fine-tuning records it.
        """
        source = Path(path)
        if not source.is_file() or not tarfile.is_tarfile(source):
            raise WorkspaceError(f"{source} is not a .nemo archive: give the path of a .nemo file")
        _safety.check_size(source.stat().st_size, self.max_archive_bytes, str(source), "max_archive_bytes")
        check_nemo_archive(source)  # a damaged model is refused now, not listed as available
        if not source.resolve().is_relative_to(self.path):
            _safety.warn_untrusted_nemo(source)
        ref = dict(base) if base else nemo_base_ref(source)
        if not ref:
            msg = f"{source} does not record its base model: pass base={{'name': ..., 'fingerprint': ...}}"
            raise WorkspaceError(msg)
        model = self._create_model("am", ref, name or source.stem, (), info={"imported_from": str(source)})
        staging = self.staging_path(model.id)
        try:
            if move:
                os.replace(source, staging)
            else:
                shutil.copyfile(source, staging)
            self._finalize_model(model.id)
        except BaseException as exc:
            self._mark_failed(model.id, f"import failed: {exc}")
            raise
        return self.get(model.id)

    def _model_info(self, kind: str, path: Path) -> dict[str, Any]:
        if kind == "lm" and (path / "lm.json").is_file():
            meta = json.loads((path / "lm.json").read_text(encoding="utf-8"))
            keys = ("order", "token_count", "custom_words", "corpora", "general_text", "general_weight",
                    "training_words", "build_seconds")
            return {k: meta[k] for k in keys if k in meta}
        if path.is_file():
            return {"bytes": path.stat().st_size}
        return {}

    def _finalize_model(self, model_id: str) -> Record:
        """Rename a finished model from its staging path into place and mark it ``available``."""
        rec = self.get(model_id)
        staging = self.staging_path(model_id)
        final = self.path / self._model_path(rec.kind, model_id)
        if not staging.exists():
            raise WorkspaceError(f"the job finished but wrote no model at {staging}: see the job's log")
        if final.exists():
            _safety.remove_path(final)
        os.replace(staging, final)
        info = {**rec.info, **self._model_info(rec.kind, final)}
        with self._write() as conn:
            conn.execute(
                "UPDATE records SET status = 'available', message = NULL, info = ?, updated = ? WHERE id = ?",
                (json.dumps(info), now_iso(), model_id),
            )
            self._log_event(conn, rec, "built", {"job_id": rec.job_id} if rec.job_id else {})
        self._clear_staging(rec.kind, model_id)
        return self.get(model_id)

    def update_info(self, record_id: str, extra: Mapping[str, Any]) -> None:
        with self._write() as conn:
            row = conn.execute("SELECT info FROM records WHERE id = ?", (record_id,)).fetchone()
            if row is not None:
                info = {**json.loads(row["info"]), **extra}
                conn.execute(
                    "UPDATE records SET info = ?, updated = ? WHERE id = ?", (json.dumps(info), now_iso(), record_id)
                )

    def _mark_failed(self, model_id: str, message: str) -> None:
        with self._write() as conn:
            row = conn.execute("SELECT * FROM records WHERE id = ?", (model_id,)).fetchone()
            changed = conn.execute(
                "UPDATE records SET status = 'failed', message = ?, updated = ? "
                "WHERE id = ? AND status IN ('pending', 'ready', 'training')",
                (message, now_iso(), model_id),
            ).rowcount
            if row is not None and changed:
                self._log_event(conn, row, "failed", {"message": message})
        if row is not None:
            self._clear_staging(row["kind"], model_id)

    # ------------------------------------------------------------------ jobs

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
        log_path = self.path / "jobs" / job_id / "log.txt"
        owner = process_identity()
        uses = [u for u in uses if u]
        stamp = now_iso()
        with _SUBMITTING_LOCK:
            _SUBMITTING.add(job_id)
        try:
            with self._write() as conn:
                if model_id is not None:
                    row = conn.execute("SELECT kind, status FROM records WHERE id = ?", (model_id,)).fetchone()
                    if row is None or row["kind"] not in MODEL_KINDS:
                        raise RecordNotFoundError(f"no custom model {model_id!r} in the workspace {self.path}")
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
                    self._log_event(conn, model_row, "training", {"job_id": job_id, "job_kind": kind}, at=stamp)
                conn.execute(
                    "INSERT INTO jobs (id, kind, status, params, heavy, model_id, uses, rerun_of, owner_host, owner_pid,"
                    " owner_started, log_path, created, updated) VALUES (?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        job_id, kind, json.dumps(params), int(heavy), model_id, json.dumps(uses), rerun_of,
                        owner["host"], owner["pid"], owner["started"], log_path.relative_to(self.path).as_posix(),
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
                with self._write() as conn:
                    conn.execute(
                        "UPDATE jobs SET status = 'failed', error = ?, finished = ?, updated = ? WHERE id = ?",
                        (f"could not start: {exc}", now_iso(), now_iso(), job_id),
                    )
                if model_id:
                    self._mark_failed(model_id, f"job {job_id} could not start: {exc}")
                raise
        finally:
            with _SUBMITTING_LOCK:
                _SUBMITTING.discard(job_id)

    def _model_job(self, fn: JobFunction, model_id: str) -> JobFunction:
        def run(progress: Callable[[float, str], None], cancel: threading.Event) -> Any:
            result = fn(progress, cancel)
            if cancel.is_set():
                raise JobCancelled("cancelled before the model was finished")
            record = self._finalize_model(model_id)
            # The model is in place: a cancel arriving now is too late, and the job completed.
            cancel.clear()
            return record if result is None else result

        return run

    def save_job(self, job: Job) -> None:
        """Save a job's state (called by the job from its worker thread)."""
        snap = job.snapshot()
        failed_model = snap["model_id"] if snap["status"] in FINAL_STATUSES and snap["status"] != "completed" else None
        with self._write() as conn:
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
            self._mark_failed(failed_model, f"job {snap['id']} {reason}")

    def _job_state(self, row: sqlite3.Row) -> dict[str, Any]:
        state = dict(row)
        state["params"] = json.loads(row["params"])
        state["uses"] = json.loads(row["uses"])
        state["result"] = json.loads(row["result"]) if row["result"] else None
        state["log_path"] = str(self.path / row["log_path"])
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
        row = self._one("SELECT * FROM jobs WHERE id = ?", (job_id,))
        if row is None:
            raise RecordNotFoundError(f"no job {job_id!r} in the workspace {self.path}: list them with ws.jobs()")

        def reload() -> dict[str, Any] | None:
            self.recover()
            fresh = self._one("SELECT * FROM jobs WHERE id = ?", (job_id,))
            return self._job_state(fresh) if fresh else None

        def request_cancel() -> None:
            self.request_cancel(job_id)

        return Job.from_state(self._job_state(row), reload, request_cancel=request_cancel)

    def _cancel_flag(self, job_id: str) -> Path:
        return self.path / "jobs" / job_id / "cancel"

    def request_cancel(self, job_id: str) -> bool:
        """Ask job ``job_id`` to stop, whichever process runs it: this one cancels it directly;
        another sees the request within a second at its job's next check. Returns False when
        the job had already finished."""
        live = self._runner.get(job_id) or live_job(job_id)
        if live is not None:
            return live.cancel()
        self.recover()
        row = self._one("SELECT status FROM jobs WHERE id = ?", (job_id,))
        if row is None:
            raise RecordNotFoundError(f"no job {job_id!r} in the workspace {self.path}: list them with ws.jobs()")
        if row["status"] not in ACTIVE_STATUSES:
            return False
        atomic_write(self._cancel_flag(job_id), now_iso())
        return True

    def jobs(self, status: str | None = None) -> list[Job]:
        """Jobs of this workspace, oldest first (live ones as live objects)."""
        self.recover()
        sql = "SELECT id FROM jobs" + (" WHERE status = ?" if status else "") + " ORDER BY created, rowid"
        return [self._job(r["id"], recover=False) for r in self._rows(sql, (status,) if status else ())]

    def recover(self) -> list[str]:
        """Mark jobs whose process is gone ``interrupted`` and their models ``failed``.

        Runs when the workspace opens and when jobs are listed. A job is taken as gone when its
        owner (host, pid, process start time) is this host's and that process no longer runs, or
        is this very process but the job is not running here (it was started before a restart
        that reused the pid). Returns the ids marked.
        """
        rows = self._rows(
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
        with self._write() as conn:
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
                        self._log_event(conn, model_row, "failed",
                                        {"message": model_message.format(job_id=job_id)}, at=stamp)
                marked.append((job_id, row["model_id"], row["log_path"], error))
        for job_id, model_id, log_rel, error in marked:
            try:
                with (self.path / log_rel).open("a", encoding="utf-8") as fh:
                    fh.write(f"{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())} ERROR   {error}\n")
            except OSError:
                pass
            if model_id:
                kind_row = self._one("SELECT kind FROM records WHERE id = ?", (model_id,))
                if kind_row is not None:
                    self._clear_staging(kind_row["kind"], model_id)
            log.warning("job %s was interrupted; its log is at %s", job_id, self.path / log_rel)
        return [m[0] for m in marked]

    def rerun(self, job_id: str, **overrides: Any) -> Job:
        """Run a finished (failed, interrupted, cancelled or completed) job's work again.

        Its kind and saved parameters (updated with ``overrides``) rebuild the job function; a
        job that built a model builds a new version of it (same name, resources and base).
        """
        self.recover()
        row = self._one("SELECT * FROM jobs WHERE id = ?", (job_id,))
        if row is None:
            raise RecordNotFoundError(f"no job {job_id!r} in the workspace {self.path}")
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
            old = self._one("SELECT * FROM records WHERE id = ?", (row["model_id"],))
            if old is None:
                raise WorkspaceError(f"the model job {job_id} built was deleted; start a new build instead")
            old_rec = self._record(old)
            model = self._create_model(
                old_rec.kind, old_rec.base or {}, old_rec.name, old_rec.sources, info={"rerun_of": job_id}
            )
        fn = factory(self, params, model)
        return self.submit(
            fn, kind=row["kind"], params=params, heavy=bool(row["heavy"]), model_id=model.id if model else None,
            uses=json.loads(row["uses"]), rerun_of=job_id,
        )

    # ------------------------------------------------------------------ history, names, transcripts

    @staticmethod
    def _log_event(
        conn: sqlite3.Connection,
        rec: Record | Mapping[str, Any] | sqlite3.Row,
        event: str,
        detail: Mapping[str, Any] | None = None,
        *,
        at: str | None = None,
    ) -> None:
        """Append one event to the record's history, in ``conn``'s transaction."""
        if isinstance(rec, Record):
            ident = (rec.id, rec.kind, rec.name, rec.version)
        else:
            ident = (rec["id"], rec["kind"], rec["name"], rec["version"])
        conn.execute(
            "INSERT INTO events (at, record_id, kind, name, version, event, detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (at or now_iso(), *ident, event, json.dumps(dict(detail or {}), default=str)),
        )

    def events(
        self, record_id: str | None = None, *, kind: str | None = None, name: str | None = None
    ) -> list[dict[str, Any]]:
        """The history, oldest first: of one record, or (``name``) of every record of ``kind`` that
        has ever had that name, deleted ones included. Each event is ``{seq, at, record_id, kind,
        name, version, event, detail}``; ``name`` is the record's name when it happened."""
        sql, args = "SELECT * FROM events WHERE 1=1", []
        if record_id is not None:
            sql += " AND record_id = ?"
            args.append(record_id)
        if name is not None:
            sql += " AND record_id IN (SELECT record_id FROM events WHERE name = ?" + (" AND kind = ?)" if kind else ")")
            args += [name, kind] if kind else [name]
        elif kind is not None:
            sql += " AND kind = ?"
            args.append(kind)
        return [{**dict(r), "detail": json.loads(r["detail"])} for r in self._rows(sql + " ORDER BY seq", args)]

    def note_event(
        self, record_id: str, event: str, detail: Mapping[str, Any] | None = None, *, info: Mapping[str, Any] | None = None
    ) -> None:
        """Add an event to a record's history and, with ``info``, merge it into the record's info (one transaction)."""
        with self._write() as conn:
            row = conn.execute("SELECT * FROM records WHERE id = ?", (record_id,)).fetchone()
            if row is None:
                raise RecordNotFoundError(f"no record {record_id!r} in the workspace {self.path}")
            if info:
                merged = {**json.loads(row["info"]), **info}
                conn.execute("UPDATE records SET info = ?, updated = ? WHERE id = ?",
                             (json.dumps(merged), now_iso(), record_id))
            self._log_event(conn, row, event, detail)

    def job_params(self, job_id: str) -> dict[str, Any] | None:
        """The saved parameters of job ``job_id`` (None if there is no such job)."""
        row = self._one("SELECT params FROM jobs WHERE id = ?", (job_id,))
        return json.loads(row["params"]) if row is not None else None

    def check_name(self, kind: str, new_name: Any, current: str | None = None) -> str:
        """``new_name`` as the workspace would store it for a record of ``kind`` (renamed from
        ``current``), or an :class:`InvalidNameError` saying what to use.

        Corpora, word lists and audio are named after their file: a file name (no folders, no
        leading dot); a word list or audio file keeps its type's suffix (added when missing), since
        its format is read from it. Models and results take any one-line text.
        """
        if not isinstance(new_name, str) or not new_name.strip():
            raise InvalidNameError(f"a {kind} needs a name: give a non-empty name")
        text = new_name.strip()
        if len(text) > MAX_NAME_LENGTH:
            raise InvalidNameError(f"the name {text[:40]!r}... is {len(text)} characters long: use at most "
                                   f"{MAX_NAME_LENGTH}")
        if any(unicodedata.category(ch)[0] == "C" for ch in text):
            raise InvalidNameError(f"the name {text!r} contains control characters (a line break, a tab, NUL): "
                                   "use one line of plain text")
        if kind not in FILE_KINDS:
            return text
        cleaned = sanitize_filename(text, default="")
        if not cleaned:
            raise InvalidNameError(f"{text!r} is not a usable file name: give a name such as 'notes.txt'")
        if cleaned != text:
            raise InvalidNameError(f"{text!r} is not a usable file name (folders, leading dots and characters such "
                                   f"as : * ? < > | are not allowed): use {cleaned!r}")
        suffix, old_suffix = Path(cleaned).suffix, Path(current).suffix if current else ""
        typed = kind in ("words", "audio") and bool(old_suffix)  # the format is read from the suffix
        if not suffix:
            cleaned += old_suffix if typed else ".txt" if kind == "corpus" else ""
        elif typed and suffix.lower() != old_suffix.lower():
            raise InvalidNameError(f"{text!r} changes the file type of {current!r}: keep the suffix {old_suffix} "
                                   f"(its format is read from it), e.g. {Path(cleaned).stem + old_suffix!r}")
        return cleaned

    def rename(self, kind: str, name: str, new_name: str) -> list[Record]:
        """Rename every version of the ``kind`` record named ``name`` to ``new_name``.

        The name is checked (:meth:`check_name`) and must be free. Files named after the record
        (corpora, word lists, audio, results) are renamed too: the new name is linked to the file
        first, the index is committed, and only then is the old name removed, so a failure at any
        point leaves the file and its record as they were. Returns the renamed records.
        """
        if kind not in FOLDERS:
            raise WorkspaceError(f"unknown kind {kind!r}: one of {', '.join(FOLDERS)}")
        records = self.records(kind, name=name)
        if not records:
            raise RecordNotFoundError(f"no {kind} named {name!r} in the workspace {self.path}: list them first")
        new_name = self.check_name(kind, new_name, current=name)
        if new_name == name:
            raise NameInUseError(f"{kind} {name!r} already has that name: give a different one")
        users = [u for rec in records for u in self._active_users(rec.id)]
        if users:
            raise ModelInUseError(f"{kind} {name!r} is used by running job(s) {', '.join(sorted(set(users)))}: "
                                  "wait for them or cancel them first")
        if self.records(kind, name=new_name):
            raise NameInUseError(f"there is already a {kind} named {new_name!r}: choose another name, or rename "
                                 "or delete that one first")
        folder = self.path / FOLDERS[kind]
        moved: list[tuple[Record, Path]] = []  # (record, its file under the new name)
        try:
            for rec in records:
                if kind in MODEL_KINDS or rec.path is None or not rec.path.is_file():
                    continue  # models are kept under their id; a missing file keeps its recorded path
                wanted = new_name if kind in FILE_KINDS else sanitize_filename(new_name, default="result") + ".json"
                target = reserve_path(folder, wanted)
                moved.append((rec, target))
                if kind in FILE_KINDS and target.name != wanted:
                    raise NameInUseError(f"{folder / wanted} already exists (a file the index does not list): "
                                         "choose another name, or move that file away")
                _link_or_copy(rec.path, target)
            new_paths = {rec.id: target.relative_to(self.path).as_posix() for rec, target in moved}
            with self._write() as conn:
                if conn.execute("SELECT 1 FROM records WHERE kind = ? AND name = ?", (kind, new_name)).fetchone():
                    raise NameInUseError(f"there is already a {kind} named {new_name!r}: choose another name")
                stamp = now_iso()
                for rec in records:
                    path = new_paths.get(rec.id)
                    conn.execute("UPDATE records SET name = ?, path = COALESCE(?, path), updated = ? WHERE id = ?",
                                 (new_name, path, stamp, rec.id))
                    detail = {"from": name, "to": new_name, **({"path": path} if path else {})}
                    self._log_event(conn, {"id": rec.id, "kind": kind, "name": new_name, "version": rec.version},
                                    "renamed", detail, at=stamp)
        except BaseException:
            for _, target in moved:
                target.unlink(missing_ok=True)
            raise
        for rec, _ in moved:  # the index names the new files now; the old names are spare links
            assert rec.path is not None
            rec.path.unlink(missing_ok=True)
        return [self.get(rec.id) for rec in records]

    def set_transcript(self, audio_id: str, transcript: str | None) -> Record:
        """Set (or with ``None``/``""`` remove) the transcript of stored audio ``audio_id``.

        Whitespace is collapsed, as for transcripts added with the audio. Refused while a job
        reads the audio (a training must see one transcript from start to end).
        """
        if transcript is not None and not isinstance(transcript, str):
            raise TypeError(f"a transcript must be text or None, got {type(transcript).__name__}")
        text = " ".join((transcript or "").split()) or None
        self.get(audio_id, "audio")
        users = self._active_users(audio_id)
        if users:
            raise ModelInUseError(f"audio {audio_id} is used by running job(s) {', '.join(users)}: wait for them or "
                                  "cancel them first")
        with self._write() as conn:
            row = conn.execute("SELECT * FROM records WHERE id = ? AND kind = 'audio'", (audio_id,)).fetchone()
            if row is None:
                raise RecordNotFoundError(f"no audio record {audio_id!r} in the workspace {self.path}")
            info = json.loads(row["info"])
            old = info.get("transcript")
            if old != text:
                info["transcript"] = text
                conn.execute("UPDATE records SET info = ?, updated = ? WHERE id = ?",
                             (json.dumps(info), now_iso(), audio_id))
                self._log_event(conn, row, "transcript", {"from": old, "to": text})
        return self.get(audio_id)

    def set_role(self, audio_ids: Sequence[str], role: str) -> list[Record]:
        """Give stored audio ``audio_ids`` the role ``role`` (:data:`AUDIO_ROLES`), in one transaction.

        Each change is an event of the record's history. Refused while a job reads any of them
        (a training must not see its audio become test audio halfway).
        """
        check_list(audio_ids, "audio_ids", "audio ids", fix="pass [{}]")
        role = check_role(role)
        ids = list(dict.fromkeys(audio_ids))
        for audio_id in ids:
            self.get(audio_id, "audio")
        users = sorted({u for audio_id in ids for u in self._active_users(audio_id)})
        if users:
            raise ModelInUseError(f"the audio is used by running job(s) {', '.join(users)}: wait for them or cancel "
                                  "them first")
        with self._write() as conn:
            stamp = now_iso()
            for audio_id in ids:
                row = conn.execute("SELECT * FROM records WHERE id = ? AND kind = 'audio'", (audio_id,)).fetchone()
                if row is None:
                    raise RecordNotFoundError(f"no audio record {audio_id!r} in the workspace {self.path}")
                info = json.loads(row["info"])
                old = audio_role(info)
                if old != role or info.get("role") != role:
                    info["role"] = role
                    conn.execute("UPDATE records SET info = ?, updated = ? WHERE id = ?",
                                 (json.dumps(info), stamp, audio_id))
                    if old != role:
                        self._log_event(conn, row, "role", {"from": old, "to": role}, at=stamp)
        return [self.get(audio_id) for audio_id in ids]

    # ------------------------------------------------------------------ deleting

    def jobs_using(self, record_id: str) -> list[str]:
        """Ids of the queued or running jobs that build or read record ``record_id``."""
        return self._active_users(record_id)

    def _active_users(self, record_id: str) -> list[str]:
        self.recover()
        users = []
        for row in self._rows("SELECT id, model_id, uses FROM jobs WHERE status IN (?, ?)", ACTIVE_STATUSES):
            if row["model_id"] == record_id or record_id in json.loads(row["uses"]):
                users.append(row["id"])
        return users

    def delete(self, record_id: str) -> None:
        """Delete a record (its files and index row) or a finished job (its log and row).

        Refuses while a queued or running job builds or reads it.
        """
        users = self._active_users(record_id)
        if users:
            msg = f"{record_id} is used by running job(s) {', '.join(users)}: wait for them or cancel them first"
            raise ModelInUseError(msg)
        job_row = self._one("SELECT status FROM jobs WHERE id = ?", (record_id,))
        if job_row is not None:
            if job_row["status"] in ACTIVE_STATUSES:
                raise ModelInUseError(f"job {record_id} is still {job_row['status']}: cancel it first")
            with self._write() as conn:
                conn.execute("DELETE FROM jobs WHERE id = ?", (record_id,))
            _safety.remove_path(self.path / "jobs" / record_id)
            return
        rec = self.get(record_id)
        with self._write() as conn:  # the row goes first: a crash leaves an orphan file, never a dangling row
            conn.execute("DELETE FROM records WHERE id = ?", (record_id,))
            self._log_event(conn, rec, "deleted", {"path": rec.path.relative_to(self.path).as_posix()}
                            if rec.path is not None and rec.path.is_relative_to(self.path) else {})
        if rec.path is not None:
            _safety.remove_path(rec.path)
        if rec.kind in MODEL_KINDS:
            self._clear_staging(rec.kind, record_id)


def _link_or_copy(source: Path, target: Path) -> None:
    """Make ``target`` (an existing placeholder) hold ``source``'s content: a hard link where the
    file system allows one, else a copy; ``source`` is untouched either way."""
    tmp = target.parent / f".{target.name}.{os.urandom(6).hex()}.part"
    try:
        try:
            os.link(source, tmp)
        except OSError:
            shutil.copy2(source, tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _copy_regular_tree(source: Path, target: Path) -> None:
    """Copy files and folders only: a symlink in an imported model could point anywhere."""
    for path in source.rglob("*"):
        if path.is_symlink():
            raise WorkspaceError(f"{path} is a symbolic link: copy the model without links")
    shutil.copytree(source, target, symlinks=True)
