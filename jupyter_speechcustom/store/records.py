"""What the index lists: reading records, adding their rows, and their history (events).

:class:`Records` is the part of the store every other part reads through: records by id, kind,
name or status, the stored files behind them, and each record's append-only history.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jupyter_speechcustom.jobs.runner import now_iso
from jupyter_speechcustom.store.db import Database, log_event, new_id
from jupyter_speechcustom.store.index import (
    Record,
    RecordNotFoundError,
    WorkspaceError,
    audio_role,
    check_role,
)
from jupyter_speechcustom.store.links import write_links

if TYPE_CHECKING:
    from jupyter_speechcustom.text.corpus import Corpus
    from jupyter_speechcustom.text.words import CustomWord

__all__ = ["Records"]


class Records:
    """The records of the workspace whose index is ``db``."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def record(self, row: sqlite3.Row) -> Record:
        """The :class:`Record` an index row describes."""
        base = {"name": row["base_name"], "fingerprint": row["base_fingerprint"]} if row["base_fingerprint"] else None
        return Record(
            id=row["id"],
            kind=row["kind"],
            name=row["name"],
            version=row["version"],
            status=row["status"],
            path=self._db.path / row["path"] if row["path"] else None,
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
        row = self._db.one("SELECT * FROM records WHERE id = ?", (record_id,))
        if row is None or (kind is not None and row["kind"] != kind):
            what = f"{kind} " if kind else ""
            msg = f"no {what}record {record_id!r} in the workspace {self._db.path}: list them with ws.records()"
            raise RecordNotFoundError(msg)
        return self.record(row)

    def records(self, kind: str | None = None, *, name: str | None = None, status: str | None = None) -> list[Record]:
        """Records, oldest first, optionally of one kind, name or status."""
        sql, args = "SELECT * FROM records WHERE 1=1", []
        for column, value in (("kind", kind), ("name", name), ("status", status)):
            if value is not None:
                sql += f" AND {column} = ?"
                args.append(value)
        return [self.record(r) for r in self._db.rows(sql + " ORDER BY created, rowid", args)]

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
        return [dict(r) for r in self._db.rows("SELECT * FROM base_models ORDER BY created")]

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

    # ------------------------------------------------------------------ adding rows

    def insert(
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
        links: Iterable[str] = (),
    ) -> str:
        """Add a record's row and its ``created`` event, in ``conn``'s transaction; returns its id. Its
        links are its ``sources`` and ``links`` (other records it names, such as a result's models)."""
        record_id = record_id or new_id(kind)
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
        log_event(conn, {"id": record_id, "kind": kind, "name": name, "version": version}, "created", detail, at=stamp)
        write_links(conn, record_id, [*sources, *links])
        return record_id

    @staticmethod
    def next_version(conn: sqlite3.Connection, kind: str, name: str) -> int:
        """The version a new record of ``kind`` named ``name`` takes, read in ``conn``'s transaction."""
        row = conn.execute(
            "SELECT COALESCE(MAX(version), 0) + 1 AS v FROM records WHERE kind = ? AND name = ?", (kind, name)
        ).fetchone()
        return int(row["v"])

    def update_info(self, record_id: str, extra: Mapping[str, Any]) -> None:
        """Merge ``extra`` into the info of record ``record_id`` (nothing if there is no such record)."""
        with self._db.write() as conn:
            row = conn.execute("SELECT info FROM records WHERE id = ?", (record_id,)).fetchone()
            if row is not None:
                info = {**json.loads(row["info"]), **extra}
                conn.execute(
                    "UPDATE records SET info = ?, updated = ? WHERE id = ?", (json.dumps(info), now_iso(), record_id)
                )

    # ------------------------------------------------------------------ links

    def sources_of(self, record_id: str) -> list[str]:
        """Ids of the records ``record_id`` was made from or names (the ``links`` table), sorted."""
        rows = self._db.rows("SELECT source_id FROM links WHERE user_id = ? ORDER BY source_id", (record_id,))
        return [row["source_id"] for row in rows]

    def link_graph(self) -> dict[str, set[str]]:
        """For every record id, the ids of the records made from it."""
        users: dict[str, set[str]] = {}
        for row in self._db.rows("SELECT user_id, source_id FROM links"):
            users.setdefault(row["source_id"], set()).add(row["user_id"])
        return users

    # ------------------------------------------------------------------ history

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
        return [{**dict(r), "detail": json.loads(r["detail"])} for r in self._db.rows(sql + " ORDER BY seq", args)]

    def note_event(
        self, record_id: str, event: str, detail: Mapping[str, Any] | None = None, *, info: Mapping[str, Any] | None = None
    ) -> None:
        """Add an event to a record's history and, with ``info``, merge it into the record's info (one transaction)."""
        with self._db.write() as conn:
            row = conn.execute("SELECT * FROM records WHERE id = ?", (record_id,)).fetchone()
            if row is None:
                raise RecordNotFoundError(f"no record {record_id!r} in the workspace {self._db.path}")
            if info:
                merged = {**json.loads(row["info"]), **info}
                conn.execute("UPDATE records SET info = ?, updated = ? WHERE id = ?",
                             (json.dumps(merged), now_iso(), record_id))
            log_event(conn, row, event, detail)
