"""The workspace folder and its index: opening, the SQLite connection, schema upgrades and transactions.

Every part of the store (:mod:`records`, :mod:`intake`, :mod:`models`, :mod:`jobs`, :mod:`edits`)
reads and writes the index through one :class:`Database`, so they share one connection, one lock
and one way of turning SQLite's failures into errors that say what to do.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from jupyter_speechcustom.constants import SQLITE_BUSY_TIMEOUT
from jupyter_speechcustom.io.files import is_disk_full
from jupyter_speechcustom.jobs.runner import now_iso
from jupyter_speechcustom.store.index import (
    AUDIO_ROLES,
    DEFAULT_AUDIO_ROLE,
    FOLDERS,
    ID_PREFIX,
    INDEX,
    MIGRATIONS,
    MODEL_KINDS,
    SCHEMA,
    SCHEMA_VERSION,
    TRIGGERS,
    DiskFullError,
    Record,
    WorkspaceError,
)
from jupyter_speechcustom.store.links import customizations_from_info, links_from_records

__all__ = ["Database", "log_event", "new_id", "workspace_path"]

log = logging.getLogger(__name__)

# Linux's limits on a whole path and on one name, in bytes (os.pathconf asks the file system).
_PATH_MAX = 4096


def workspace_path(path: str | Path) -> Path:
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


def _name_max(path: Path) -> int:
    for folder in (path, *path.parents):
        try:
            return int(os.pathconf(folder, "PC_NAME_MAX"))
        except (OSError, ValueError):
            continue
    return 255


def new_id(kind: str) -> str:
    """A fresh record id of ``kind`` (``c-1a2b3c4d``; jobs and unknown kinds: ``j-...``)."""
    return f"{ID_PREFIX.get(kind, 'j')}-{os.urandom(4).hex()}"


def log_event(
    conn: sqlite3.Connection,
    rec: Record | Mapping[str, Any] | sqlite3.Row,
    event: str,
    detail: Mapping[str, Any] | None = None,
    *,
    at: str | None = None,
) -> None:
    """Append one event to the record's history (the ``events`` table), in ``conn``'s transaction."""
    if isinstance(rec, Record):
        ident = (rec.id, rec.kind, rec.name, rec.version)
    else:
        ident = (rec["id"], rec["kind"], rec["name"], rec["version"])
    conn.execute(
        "INSERT INTO events (at, record_id, kind, name, version, event, detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (at or now_iso(), *ident, event, json.dumps(dict(detail or {}), default=str)),
    )


class Database:
    """Open (or create) the workspace folder ``path`` and its index.

    An existing folder must be empty or already a workspace. The index is created first, so a
    second process sees a workspace, then the folders of every kind.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = workspace_path(path)
        self.index_path = self.path / INDEX
        self.lock = threading.RLock()
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
        self.connection()  # creates the index first, so a second process sees a workspace
        for folder in (*FOLDERS.values(), "jobs"):
            (self.path / folder).mkdir(exist_ok=True)

    def connection(self) -> sqlite3.Connection:
        """The index's connection, opened (and the index created or upgraded) on first use."""
        with self.lock:
            if self._conn is None:
                try:
                    self._open_index()
                except (sqlite3.DatabaseError, WorkspaceError) as exc:
                    if self._conn is not None:
                        self._conn.close()
                        self._conn = None
                    if isinstance(exc, WorkspaceError):
                        raise
                    raise self.index_error(exc) from None
            assert self._conn is not None
            return self._conn

    def index_error(self, exc: sqlite3.Error) -> WorkspaceError:
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
        with self.write() as tx:
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
        meta = self.one("SELECT value FROM meta WHERE key = 'schema_version'")
        version = meta["value"] if meta is not None else None
        if version != SCHEMA_VERSION:
            msg = f"{self.path} was made by another version of jupyter_speechcustom (index schema {version}): upgrade"
            raise WorkspaceError(msg)

    def _migrate(self, conn: sqlite3.Connection, version: str) -> None:
        """Upgrade an index of an older schema ``version`` to :data:`SCHEMA_VERSION`, in ``conn``'s transaction."""
        while version in MIGRATIONS:
            if version == "4":  # 4 -> 5: customizations move from their anchors' info to their tables (after 3 -> 4,
                customizations_from_info(conn, self.path)  # which wrote the links they now rewrite from the tables)
            if version == "3":  # 3 -> 4: the links table, from what records, jobs and results say
                links_from_records(conn, self.path)
            if version == "2":  # 2 -> 3: audio stored before roles existed is training audio
                for row in conn.execute("SELECT id, info FROM records WHERE kind = 'audio'").fetchall():
                    info = json.loads(row["info"])
                    if info.get("role") not in AUDIO_ROLES:
                        info["role"] = DEFAULT_AUDIO_ROLE
                        conn.execute("UPDATE records SET info = ? WHERE id = ?", (json.dumps(info), row["id"]))
            if version == "1":  # 1 -> 2: the event log, started from what the records themselves say
                for row in conn.execute("SELECT * FROM records WHERE id NOT IN (SELECT record_id FROM events) "
                                        "ORDER BY created, rowid").fetchall():
                    log_event(conn, row, "created", {"from_index": True}, at=row["created"])
                    if row["kind"] in MODEL_KINDS and row["status"] in ("available", "failed"):
                        event = "built" if row["status"] == "available" else "failed"
                        detail = {"message": row["message"]} if row["message"] else {}
                        log_event(conn, row, event, detail, at=row["updated"])
            version = MIGRATIONS[version]
        conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (version,))
        log.info("upgraded the workspace index %s to schema %s", self.index_path, version)

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: ``BEGIN IMMEDIATE`` takes the write lock up front, so two processes
        never both read, decide and then fail to upgrade (the busy timeout makes them queue)."""
        with self.lock:
            conn = self.connection()
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.DatabaseError as exc:
                raise self.index_error(exc) from None
            try:
                yield conn
            except BaseException as exc:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.IntegrityError):
                    raise self.index_error(exc) from None
                raise
            try:
                conn.execute("COMMIT")
            except sqlite3.DatabaseError as exc:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise self.index_error(exc) from None

    def rows(self, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """The rows of a read query."""
        with self.lock:
            try:
                return self.connection().execute(sql, args).fetchall()
            except sqlite3.DatabaseError as exc:
                raise self.index_error(exc) from None

    def one(self, sql: str, args: Sequence[Any] = ()) -> sqlite3.Row | None:
        """The first row of a read query, or None."""
        rows = self.rows(sql, args)
        return rows[0] if rows else None

    def close(self) -> None:
        """Close the index (it reopens on next use)."""
        with self.lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
