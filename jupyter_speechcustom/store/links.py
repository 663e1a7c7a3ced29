"""What each record was made from, as rows of the index's ``links`` table.

A link ``(user_id, source_id)`` says that record ``user_id`` was made from, or names, record
``source_id``. Links are written in the transaction that writes what they come from, so the
table never disagrees with the records:

- a record's ``sources`` (an LM's corpora and word list, an AM's audio, a result's models), when
  its row is added;
- what the job that builds a model uses (the LM that labelled an AM's audio), when it is submitted;
- the models a result's data names (``model_id``, ``lm_id``, ``am_id``), when it is stored;
- a customization's resources and trained model (:func:`customization_ids`: the index's ``customizations``
  and ``customization_resources`` tables), in each transaction that changes them.

Deleting a record deletes its links, both ways, and in the same transaction what the customization
tables say of it (:func:`delete_links`). :func:`links_from_records` rebuilds the table from those same
places, for an index made before it existed; :func:`customizations_from_info` moves the customizations
an index of schema 4 kept in their anchor records' info into their tables (schema 5).
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
    "customizations_from_info",
    "delete_links",
    "links_from_records",
    "links_of",
    "result_ids",
    "write_links",
]

#: Where an index of schema 4 or older kept a customization's state: its anchor record's info.
CUSTOMIZATION_KEY = "customization"
#: Keys of a result's data that name the models it was made with.
RESULT_LINK_KEYS = ("model_id", "lm_id", "am_id")


def customization_ids(conn: sqlite3.Connection, customization_id: str) -> set[str]:
    """The records customization ``customization_id`` names, read in ``conn``'s transaction: its corpora
    and audio, its trained model (none when it is no customization)."""
    found: set[str] = set()
    for row in conn.execute("SELECT record_ids FROM customization_resources WHERE customization_id = ?",
                            (customization_id,)).fetchall():
        found.update(i for i in json.loads(row["record_ids"] or "[]") if isinstance(i, str))
    row = conn.execute("SELECT trained FROM customizations WHERE id = ?", (customization_id,)).fetchone()
    if row is not None and row["trained"]:
        found.add(row["trained"])
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
    """Forget what ``record_id`` was made from and what was made from it (it is being deleted), in
    ``conn``'s transaction. A customization's rows go with its anchor record; a customization that names
    the record as a resource drops it and needs training again, one whose trained model it is is untrained."""
    conn.execute("DELETE FROM links WHERE user_id = ? OR source_id = ?", (record_id, record_id))
    conn.execute("DELETE FROM customization_resources WHERE customization_id = ?", (record_id,))
    conn.execute("DELETE FROM customizations WHERE id = ?", (record_id,))
    named = conn.execute(
        "SELECT customization_id, field, name, record_ids FROM customization_resources WHERE instr(record_ids, ?)",
        (json.dumps(record_id),),
    ).fetchall()
    for row in named:
        ids = [i for i in json.loads(row["record_ids"]) if i != record_id]
        key = (row["customization_id"], row["field"], row["name"])
        if ids:
            conn.execute("UPDATE customization_resources SET record_ids = ? "
                         "WHERE customization_id = ? AND field = ? AND name = ?", (json.dumps(ids), *key))
        else:
            conn.execute("DELETE FROM customization_resources WHERE customization_id = ? AND field = ? AND name = ?",
                         key)
        conn.execute("UPDATE customizations SET dirty = 1 WHERE id = ?", (row["customization_id"],))
    conn.execute("UPDATE customizations SET trained = NULL WHERE trained = ?", (record_id,))


def links_of(conn: sqlite3.Connection, row: Mapping[str, Any], folder: Path) -> set[str]:
    """What the record of index row ``row`` was made from, read from the places links come from."""
    found = {s for s in json.loads(row["sources"] or "[]") if isinstance(s, str)}
    found |= customization_ids(conn, row["id"])
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


def customizations_from_info(conn: sqlite3.Connection, folder: Path) -> None:
    """Move every customization an index of schema 4 kept in its anchor record's ``info["customization"]``
    into the ``customizations`` and ``customization_resources`` tables, take the key out of the info and
    write the anchor's links from the tables, in ``conn``'s transaction."""
    types = {"lm": "language", "am": "acoustic"}
    for row in conn.execute("SELECT * FROM records WHERE kind IN ('lm', 'am')").fetchall():
        info = json.loads(row["info"] or "{}")
        state = info.pop(CUSTOMIZATION_KEY, None) if isinstance(info, dict) else None
        if not isinstance(state, Mapping):
            continue
        kind = state.get("type") if state.get("type") in types.values() else types[row["kind"]]
        trained, job_id = state.get("trained"), state.get("job_id")
        conn.execute(
            "INSERT OR REPLACE INTO customizations (id, type, description, trained, job_id, dirty) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (row["id"], kind, str(state.get("description") or ""), trained if isinstance(trained, str) else None,
             job_id if isinstance(job_id, str) else None, int(bool(state.get("dirty")))),
        )
        resources: list[tuple[str, str, list[str], str | None]] = []
        for name, corpus_id in _items(state.get("corpora")):
            resources.append(("corpora", name, [corpus_id] if isinstance(corpus_id, str) else [], None))
        for name, ids in _items(state.get("audio")):
            ids = ids if isinstance(ids, list) else [ids]
            resources.append(("audio", name, [i for i in ids if isinstance(i, str)], None))
        for word, entry in _items(state.get("words")):
            entry = entry if isinstance(entry, Mapping) else {}
            value = {"sounds_like": list(entry.get("sounds_like") or []), "display_as": entry.get("display_as")}
            resources.append(("words", word, [], json.dumps(value)))
        conn.executemany(
            "INSERT OR REPLACE INTO customization_resources (customization_id, field, name, record_ids, value) "
            "VALUES (?, ?, ?, ?, ?)",
            [(row["id"], field, name, json.dumps(ids), value) for field, name, ids, value in resources],
        )
        conn.execute("UPDATE records SET info = ? WHERE id = ?", (json.dumps(info), row["id"]))
        write_links(conn, row["id"], links_of(conn, row, folder), replace=True)


def _items(group: Any) -> list[tuple[str, Any]]:
    return [(str(k), v) for k, v in group.items()] if isinstance(group, Mapping) else []
