"""What each record was made from, as rows of the index's ``links`` table.

A link ``(user_id, source_id)`` says that record ``user_id`` was made from, or names, record
``source_id``. Links are written in the transaction that writes what they come from, so the
table never disagrees with the records:

- a record's ``sources`` (an LM's corpora and word list, an AM's audio, a result's models), when
  its row is added;
- what the job that builds a model uses (the LM that labelled an AM's audio), when it is submitted;
- the models a result's data names (``model_id``, ``lm_id``, ``am_id``), when it is stored;
- a customization's resources and trained model (:func:`customization_ids`), whenever its state is saved.

Deleting a record deletes its links, both ways. :func:`links_from_records` rebuilds the table
from those same places, for an index made before it existed.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "CUSTOMIZATION_KEY",
    "RESULT_LINK_KEYS",
    "customization_ids",
    "delete_links",
    "links_from_records",
    "links_of",
    "result_ids",
    "write_links",
]

#: Where a customization keeps its state in its anchor record's info (see ``services.customization``).
CUSTOMIZATION_KEY = "customization"
#: Keys of a result's data that name the models it was made with.
RESULT_LINK_KEYS = ("model_id", "lm_id", "am_id")


def customization_ids(state: Any) -> set[str]:
    """The records a customization's state names: its corpora and word list, its audio, its trained model."""
    if not isinstance(state, Mapping):
        return set()
    found: set[str] = set()
    for group in ("corpora", "words"):
        found.update(v for v in (state.get(group) or {}).values() if isinstance(v, str))
    for ids in (state.get("audio") or {}).values():
        found.update(i for i in (ids if isinstance(ids, list) else [ids]) if isinstance(i, str))
    if isinstance(state.get("trained"), str):
        found.add(state["trained"])
    return found


def result_ids(data: Mapping[str, Any]) -> set[str]:
    """The models a result's data names (:data:`RESULT_LINK_KEYS`)."""
    return {data[key] for key in RESULT_LINK_KEYS if isinstance(data.get(key), str) and data[key]}


def write_links(conn: sqlite3.Connection, user_id: str, source_ids: Iterable[str], *, replace: bool = False) -> None:
    """Record that ``user_id`` was made from ``source_ids`` (with ``replace``: from those alone), in
    ``conn``'s transaction."""
    if replace:
        conn.execute("DELETE FROM links WHERE user_id = ?", (user_id,))
    conn.executemany("INSERT OR IGNORE INTO links (user_id, source_id) VALUES (?, ?)",
                     [(user_id, s) for s in sorted(set(source_ids)) if s and s != user_id])


def delete_links(conn: sqlite3.Connection, record_id: str) -> None:
    """Forget what ``record_id`` was made from and what was made from it (it is being deleted)."""
    conn.execute("DELETE FROM links WHERE user_id = ? OR source_id = ?", (record_id, record_id))


def links_of(conn: sqlite3.Connection, row: Mapping[str, Any], folder: Path) -> set[str]:
    """What the record of index row ``row`` was made from, read from the places links come from."""
    found = {s for s in json.loads(row["sources"] or "[]") if isinstance(s, str)}
    found |= customization_ids(json.loads(row["info"] or "{}").get(CUSTOMIZATION_KEY))
    if row["job_id"]:
        job = conn.execute("SELECT uses FROM jobs WHERE id = ?", (row["job_id"],)).fetchone()
        if job is not None:
            found.update(u for u in json.loads(job["uses"] or "[]") if isinstance(u, str))
    if row["kind"] == "result" and row["path"]:
        try:
            data = json.loads((folder / row["path"]).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {}
        if isinstance(data, Mapping):
            found |= result_ids(data)
    found.discard(row["id"])
    return found


def links_from_records(conn: sqlite3.Connection, folder: Path) -> None:
    """Write every record's links from the places they come from (see the module), in ``conn``'s transaction."""
    for row in conn.execute("SELECT id, kind, path, sources, job_id, info FROM records").fetchall():
        write_links(conn, row["id"], links_of(conn, row, folder), replace=True)
