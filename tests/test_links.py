"""The index's links table: what each record was made from, written with what it comes from and
deleted with the record, so that dependants are one query."""

from __future__ import annotations

import sqlite3

from jupyter_speechcustom.services import customization as cz
from jupyter_speechcustom.services import management as m
from jupyter_speechcustom.services.workspace import Workspace

BASE = {"name": "demo", "fingerprint": "0123456789abcdef"}


def _links(ws: Workspace) -> set[tuple[str, str]]:
    with sqlite3.connect(ws.index_path) as db:
        return set(db.execute("SELECT user_id, source_id FROM links").fetchall())


def test_links_follow_records_results_and_customizations(tmp_path):
    ws = Workspace(tmp_path / "ws")
    corpus = ws.add_corpus(b"restart the pods\n", name="ops.txt")
    words = ws.add_words(b"kubectl\n", name="terms.txt")
    lm = ws.create_language_model(BASE, "ops", [corpus.id], words.id)
    result = ws.add_result("wer", {"lm_id": lm.id, "wer": 0.1})
    assert _links(ws) == {(lm.id, corpus.id), (lm.id, words.id), (result.id, lm.id)}
    assert ws.sources_of(lm.id) == sorted([corpus.id, words.id]) and ws.link_graph()[lm.id] == {result.id}
    assert [r.id for r in m.dependants(ws, [corpus])] == [lm.id]

    # A customization's resources are links as soon as its state is saved, and go when taken out.
    custom = cz.create_customization(ws, "language", BASE, "clinic")
    added = cz.add_customization_corpus(ws, custom.id, "notes", b"five milligrams of metoprolol\n")
    assert ws.sources_of(custom.id) == [added.id]
    cz.delete_customization_corpus(ws, custom.id, "notes")
    assert ws.sources_of(custom.id) == []

    # Deleting a record deletes its links both ways.
    m.delete(ws, "result", "wer")
    m.delete(ws, "lm", "ops")
    assert _links(ws) == set()
    ws.close()
