"""Customizations in the store: custom models with a stable id that gathers resources, as tables of the index.

A customization (IBM Watson's custom language or custom acoustic model; the services are
:mod:`jupyter_speechcustom.services.customization`) is a ``pending`` custom model record of its own,
its *anchor*, and a row of the ``customizations`` table with the same id: its type (``language`` or
``acoustic``), its description, the model its last training made (``trained``, with that training's
``job_id``) and whether its resources changed since (``dirty``). Its named resources are rows of
``customization_resources``: corpora and audio name workspace records (``record_ids``), words keep
their ``sounds_like`` and ``display_as`` (``value``).

Each method reads or writes in one transaction; a change writes the anchor's links (its resources'
records and its trained model, :mod:`~jupyter_speechcustom.store.links`) in the same one. Deleting the
anchor record deletes its rows, and deleting a record a customization names takes it out of the
customization, in the deletion's transaction (:func:`~jupyter_speechcustom.store.links.delete_links`).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from jupyter_speechcustom.errors import InvalidOptionError
from jupyter_speechcustom.jobs.runner import now_iso
from jupyter_speechcustom.store.db import Database, new_id
from jupyter_speechcustom.store.index import (
    CUSTOMIZATION_FIELDS,
    ModelInUseError,
    Record,
    RecordNotFoundError,
    WorkspaceError,
)
from jupyter_speechcustom.store.links import links_of, write_links
from jupyter_speechcustom.store.models import Models
from jupyter_speechcustom.store.records import Records

if TYPE_CHECKING:
    from jupyter_speechcustom.store.models import BaseRef

__all__ = ["Customizations"]

#: The custom model kind of each kind of customization.
_MODEL_KINDS = {"language": "lm", "acoustic": "am"}
#: The resources whose rows name records (words keep their value instead).
_RECORD_FIELDS = ("corpora", "audio")


class Customizations:
    """The customizations of the workspace whose index is ``db``."""

    def __init__(self, db: Database, records: Records, models: Models) -> None:
        self._db = db
        self._records = records
        self._models = models

    def create_customization(self, kind: str, base: BaseRef, name: str, description: str = "") -> Record:
        """A new, empty customization of ``kind`` (``language`` or ``acoustic``) on ``base``: its anchor
        record (a ``pending`` custom LM or AM named ``name``) and its row, written in one transaction."""
        if kind not in _MODEL_KINDS:
            raise InvalidOptionError(f"unknown customization type {kind!r}: use 'language' or 'acoustic'")
        if not isinstance(name, str) or not name.strip():
            raise ValueError("a customization needs a name, e.g. name='support-calls'")
        model_kind = _MODEL_KINDS[kind]
        ref = self._models.note_base(base)
        record_id = new_id(model_kind)
        with self._db.write() as conn:  # the version is chosen inside the transaction: no two processes share one
            version = self._records.next_version(conn, model_kind, name.strip())
            self._records.insert(conn, model_kind, name.strip(), Models._model_path(model_kind, record_id),
                                 status="pending", version=version, base=ref, record_id=record_id)
            conn.execute("INSERT INTO customizations (id, type, description) VALUES (?, ?, ?)",
                         (record_id, kind, str(description or "")))
        return self._records.get(record_id)

    def customization_state(self, customization_id: str) -> dict[str, Any] | None:
        """The state of customization ``customization_id``, or None when that id names none: ``{"type",
        "description", "trained", "job_id", "dirty"}`` and its resources by name, ``"corpora"`` (record ids)
        and ``"words"`` (``{"sounds_like", "display_as"}``) for a language customization, ``"audio"``
        (lists of record ids) for an acoustic one; each in the order it was first added."""
        rows = self._db.rows(  # one statement: one consistent reading of both tables
            "SELECT c.*, r.field, r.name, r.record_ids, r.value FROM customizations c "
            "LEFT JOIN customization_resources r ON r.customization_id = c.id WHERE c.id = ? ORDER BY r.rowid",
            (customization_id,),
        )
        return _state(rows) if rows else None

    def customizations(self, kind: str | None = None) -> list[Record]:
        """The anchor records of the customizations (of ``kind``, ``language`` or ``acoustic``), oldest first."""
        sql, args = "SELECT r.* FROM records r JOIN customizations c ON c.id = r.id", []
        if kind is not None:
            sql += " WHERE c.type = ?"
            args.append(kind)
        return [self._records.record(row) for row in self._db.rows(sql + " ORDER BY r.created, r.rowid", args)]

    def set_customization_resource(self, customization_id: str, field: str, name: str,
                                   record_ids: Sequence[str]) -> list[str]:
        """Name records ``record_ids`` resource ``name`` of ``field`` (``corpora`` or ``audio``) of the
        customization, replacing what that name named; it then needs training again. Returns the record
        ids the name named before (empty when it is new). Refused while the customization is trained."""
        if field not in _RECORD_FIELDS:
            raise InvalidOptionError(f"a customization's records are corpora or audio, not {field!r}")
        with self._changing(customization_id, field) as conn:
            before = _resource_ids(conn, customization_id, field, name)
            conn.execute(
                "INSERT INTO customization_resources (customization_id, field, name, record_ids) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (customization_id, field, name) DO UPDATE SET record_ids = excluded.record_ids",
                (customization_id, field, name, json.dumps(list(record_ids))),
            )
        return before or []

    def set_customization_words(self, customization_id: str, words: Mapping[str, Mapping[str, Any]]) -> None:
        """Add or replace the custom words of a language customization (``{word: {"sounds_like": [...],
        "display_as"}}``); it then needs training again. Refused while the customization is trained."""
        rows = [(customization_id, word, json.dumps({"sounds_like": list(entry.get("sounds_like") or []),
                                                      "display_as": entry.get("display_as") or None}))
                for word, entry in words.items()]
        with self._changing(customization_id, "words") as conn:
            conn.executemany(
                "INSERT INTO customization_resources (customization_id, field, name, value) VALUES (?, 'words', ?, ?) "
                "ON CONFLICT (customization_id, field, name) DO UPDATE SET value = excluded.value",
                rows,
            )

    def remove_customization_resource(self, customization_id: str, field: str, name: str) -> list[str] | None:
        """Take resource ``name`` of ``field`` (``corpora``, ``words`` or ``audio``) out of the customization,
        which then needs training again. Returns the record ids it named (empty for a word), or None when
        the customization has no such resource (nothing changes). Refused while the customization is trained."""
        with self._changing(customization_id, field) as conn:
            before = _resource_ids(conn, customization_id, field, name)
            if before is not None:
                conn.execute("DELETE FROM customization_resources WHERE customization_id = ? AND field = ? AND name = ?",
                             (customization_id, field, name))
        return before

    def mark_customization_trained(self, customization_id: str, model_id: str | None, job_id: str | None,
                                   trained_from: Mapping[str, Any] | None = None) -> str | None:
        """Note that job ``job_id`` trains the customization's new version, model ``model_id``; returns the
        model its previous training made. ``trained_from``: the state the training read; when the
        resources changed since, the customization stays in need of training (``dirty``)."""
        with self._changing(customization_id, None, check_training=False) as conn:
            row = conn.execute("SELECT trained FROM customizations WHERE id = ?", (customization_id,)).fetchone()
            now = conn.execute(
                "SELECT c.*, r.field, r.name, r.record_ids, r.value FROM customizations c LEFT JOIN "
                "customization_resources r ON r.customization_id = c.id WHERE c.id = ? ORDER BY r.rowid",
                (customization_id,),
            ).fetchall()
            state = _state(now)
            fields = CUSTOMIZATION_FIELDS[state["type"]]
            changed = trained_from is not None and any(state[f] != trained_from.get(f) for f in fields)
            conn.execute("UPDATE customizations SET trained = ?, job_id = ?, dirty = ? WHERE id = ?",
                         (model_id, job_id, int(changed), customization_id))
        return row["trained"] if row is not None else None

    @contextmanager
    def _changing(self, customization_id: str, field: str | None, *,
                  check_training: bool = True) -> Iterator[sqlite3.Connection]:
        """A write transaction that changes customization ``customization_id`` (its resources of ``field``:
        then it needs training again), refused while it is being trained; the anchor's ``updated`` time
        and links are written with the change."""
        with self._db.write() as conn:
            row = conn.execute(
                "SELECT c.type, m.status FROM customizations c LEFT JOIN records m ON m.id = c.trained WHERE c.id = ?",
                (customization_id,),
            ).fetchone()
            if row is None:
                raise RecordNotFoundError(f"no customization {customization_id!r} in the workspace {self._db.path}")
            if field is not None and field not in CUSTOMIZATION_FIELDS[row["type"]]:
                raise WorkspaceError(f"a {row['type']} customization has no {field}: its resources are "
                                     f"{' and '.join(CUSTOMIZATION_FIELDS[row['type']])}")
            if check_training and row["status"] == "training":
                raise ModelInUseError(f"customization {customization_id} is being trained: wait until it is available")
            yield conn
            if field is not None:
                conn.execute("UPDATE customizations SET dirty = 1 WHERE id = ?", (customization_id,))
            conn.execute("UPDATE records SET updated = ? WHERE id = ?", (now_iso(), customization_id))
            anchor = conn.execute("SELECT * FROM records WHERE id = ?", (customization_id,)).fetchone()
            if anchor is not None:
                write_links(conn, customization_id, links_of(conn, anchor, self._db.path), replace=True)


def _resource_ids(conn: sqlite3.Connection, customization_id: str, field: str, name: str) -> list[str] | None:
    """The record ids resource ``name`` of ``field`` names, read in ``conn``'s transaction (None: no such resource)."""
    row = conn.execute(
        "SELECT record_ids FROM customization_resources WHERE customization_id = ? AND field = ? AND name = ?",
        (customization_id, field, name),
    ).fetchone()
    return None if row is None else list(json.loads(row["record_ids"] or "[]"))


def _state(rows: Sequence[sqlite3.Row]) -> dict[str, Any]:
    """A customization's state from its row joined with its resources' rows (see :meth:`Customizations.customization_state`)."""
    first = rows[0]
    state: dict[str, Any] = {"type": first["type"], "description": first["description"] or ""}
    for field in CUSTOMIZATION_FIELDS.get(first["type"], ()):
        state[field] = {}
    for row in rows:
        if row["field"] is None:  # a customization without resources: its row alone
            continue
        if row["field"] == "words":
            state.setdefault("words", {})[row["name"]] = json.loads(row["value"] or "{}")
        elif row["field"] == "corpora":
            ids = json.loads(row["record_ids"] or "[]")
            state.setdefault("corpora", {})[row["name"]] = ids[0] if ids else None
        else:
            state.setdefault(row["field"], {})[row["name"]] = json.loads(row["record_ids"] or "[]")
    state.update(trained=first["trained"], job_id=first["job_id"], dirty=bool(first["dirty"]))
    return state
