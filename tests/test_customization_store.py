"""Customizations as tables of the workspace index: each change in one transaction with the anchor's links,
the rows deleted with their records, and an index of schema 4 (state in the anchor's info) upgraded."""

from __future__ import annotations

import json
import sqlite3

import pytest
from helpers.audio import wav_bytes

from jupyter_speechcustom.services import customization as cz
from jupyter_speechcustom.services.workspace import Workspace
from jupyter_speechcustom.store.index import SCHEMA_VERSION, ModelInUseError, RecordNotFoundError

BASE = {"name": "demo", "fingerprint": "0123456789abcdef"}


def _rows(ws: Workspace, sql: str, args: tuple = ()) -> list[tuple]:
    with sqlite3.connect(ws.index_path) as db:
        return db.execute(sql, args).fetchall()


def _set_status(ws: Workspace, record_id: str, status: str) -> None:
    with sqlite3.connect(ws.index_path) as db:
        db.execute("UPDATE records SET status = ? WHERE id = ?", (status, record_id))


def test_a_customization_is_a_row_with_its_resources_and_its_anchors_links(tmp_path):
    ws = Workspace(tmp_path / "ws")
    custom = cz.create_customization(ws, "language", BASE, "clinic", "notes of a clinic")
    assert custom.status == "pending" and "customization" not in custom.info
    assert _rows(ws, "SELECT id, type, description, trained, dirty FROM customizations") == [
        (custom.id, "language", "notes of a clinic", None, 0)]
    assert [r.id for r in ws.customizations("language")] == [custom.id] and ws.customizations("acoustic") == []

    corpus = cz.add_customization_corpus(ws, custom.id, "notes", b"five milligrams of metoprolol\n")
    cz.add_customization_words(ws, custom.id, [{"word": "metoprolol", "sounds_like": ["meto prolol"]}])
    rec, state = cz.customization(ws, custom.id, "language")
    assert state == {"type": "language", "description": "notes of a clinic", "corpora": {"notes": corpus.id},
                     "words": {"metoprolol": {"sounds_like": ["meto prolol"], "display_as": None}},
                     "trained": None, "job_id": None, "dirty": True}
    assert cz.customization_status(ws, rec) == "ready" and ws.sources_of(custom.id) == [corpus.id]
    assert "customization" not in rec.info and rec.updated >= custom.updated

    # Replacing a corpus keeps its place and names the new record; the old one is deleted.
    again = cz.add_customization_corpus(ws, custom.id, "notes", b"ten milligrams\n", allow_overwrite=True)
    assert cz.customization(ws, custom.id, "language")[1]["corpora"] == {"notes": again.id}
    assert ws.sources_of(custom.id) == [again.id]
    with pytest.raises(RecordNotFoundError):
        ws.get(corpus.id)

    cz.delete_customization_word(ws, custom.id, "metoprolol")
    with pytest.raises(RecordNotFoundError, match="no word"):
        cz.delete_customization_word(ws, custom.id, "metoprolol")
    with pytest.raises(RecordNotFoundError, match="Invalid customization_id"):
        cz.customization(ws, custom.id, "acoustic")

    # Deleting the anchor deletes its rows and links in the same transaction.
    cz.delete_customization(ws, custom.id, "language")
    assert _rows(ws, "SELECT * FROM customizations") == [] and _rows(ws, "SELECT * FROM customization_resources") == []
    assert _rows(ws, "SELECT * FROM links") == []


def test_deleting_a_named_record_takes_it_out_of_the_customization(tmp_path):
    ws = Workspace(tmp_path / "ws")
    custom = cz.create_customization(ws, "acoustic", BASE, "calls")
    first = cz.add_customization_audio(ws, custom.id, "takes", wav_bytes(0.3, freq=300), transcript="one")
    second = cz.add_customization_audio(ws, custom.id, "more", wav_bytes(0.3, freq=500), transcript="two")
    model = ws.create_acoustic_model(BASE, "calls-v1", [first[0].id])
    ws.mark_customization_trained(custom.id, model.id, None)
    _set_status(ws, model.id, "available")
    rec, state = cz.customization(ws, custom.id, "acoustic")
    assert state["audio"] == {"takes": [first[0].id], "more": [second[0].id]} and not state["dirty"]
    assert cz.customization_status(ws, rec) == "available"
    assert ws.sources_of(custom.id) == sorted([first[0].id, second[0].id, model.id])

    ws.delete(second[0].id)  # the store drops it from the customization, which needs training again
    state = cz.customization(ws, custom.id, "acoustic")[1]
    assert state["audio"] == {"takes": [first[0].id]} and state["dirty"] and state["trained"] == model.id
    assert cz.customization_status(ws, rec) == "ready"
    ws.delete(model.id)
    state = cz.customization(ws, custom.id, "acoustic")[1]
    assert state["trained"] is None and ws.sources_of(custom.id) == [first[0].id]


def test_a_customization_being_trained_refuses_changes_in_the_same_transaction(tmp_path):
    ws = Workspace(tmp_path / "ws")
    custom = cz.create_customization(ws, "language", BASE, "ops")
    cz.add_customization_words(ws, custom.id, [{"word": "kubectl"}])
    trained_from = ws.customization_state(custom.id)
    model = ws.create_language_model(BASE, "ops-v1")
    _set_status(ws, model.id, "training")
    # A word added between reading the resources and noting the training leaves it in need of training.
    ws.set_customization_words(custom.id, {"grafana": {}})
    assert ws.mark_customization_trained(custom.id, model.id, "j-1", trained_from=trained_from) is None
    before = _rows(ws, "SELECT * FROM customization_resources")
    with pytest.raises(ModelInUseError, match="being trained"):
        cz.add_customization_words(ws, custom.id, [{"word": "helm"}])
    with pytest.raises(ModelInUseError, match="being trained"):
        cz.delete_customization_word(ws, custom.id, "kubectl")
    assert _rows(ws, "SELECT * FROM customization_resources") == before
    _set_status(ws, model.id, "available")
    rec, state = cz.customization(ws, custom.id, "language")
    assert state["dirty"] and state["job_id"] == "j-1" and cz.customization_status(ws, rec) == "ready"


@pytest.mark.parametrize("version", ["4", "3"])
def test_an_index_of_version_4_moves_customizations_out_of_the_anchors_info(tmp_path, version):
    """A customization as schema 4 kept it (its anchor's info["customization"]) is in its tables after the
    upgrade, with the same state, status and links; from schema 3, the links are written from those tables."""
    ws = Workspace(tmp_path / "ws")
    corpus = ws.add_corpus(b"restart the pods\n", name="ops.txt")
    audio = ws.add_audio(wav_bytes(0.3), name="take.wav", transcript="restart")
    lm_anchor = ws.create_language_model(BASE, "ops")
    am_anchor = ws.create_acoustic_model(BASE, "calls")
    trained = ws.create_language_model(BASE, "ops", [corpus.id])
    _set_status(ws, trained.id, "available")
    old = {
        lm_anchor.id: {"type": "language", "description": "ops talk", "corpora": {"ops": corpus.id},
                       "words": {"kubectl": {"sounds_like": ["cube control"], "display_as": "kubectl"}},
                       "trained": trained.id, "dirty": False, "job_id": "j-0"},
        am_anchor.id: {"type": "acoustic", "description": "", "audio": {"take": [audio.id]}, "trained": None,
                       "dirty": True},
    }
    ws.close()
    with sqlite3.connect(ws.index_path) as db:  # as schema 4 kept them, before the customization tables existed
        db.execute("DROP TABLE customizations")
        db.execute("DROP TABLE customization_resources")
        for anchor_id, state in old.items():
            info = json.loads(db.execute("SELECT info FROM records WHERE id = ?", (anchor_id,)).fetchone()[0])
            db.execute("UPDATE records SET info = ? WHERE id = ?",
                       (json.dumps({**info, "customization": state}), anchor_id))
            db.executemany("INSERT OR IGNORE INTO links (user_id, source_id) VALUES (?, ?)",
                           [(anchor_id, corpus.id), (anchor_id, trained.id)] if anchor_id == lm_anchor.id
                           else [(anchor_id, audio.id)])
        if version == "3":
            db.execute("DROP TABLE links")
        db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (version,))

    ws = Workspace(ws.path)
    assert _rows(ws, "SELECT value FROM meta WHERE key = 'schema_version'") == [(SCHEMA_VERSION,)] == [("5",)]
    lm_rec, lm_state = cz.customization(ws, lm_anchor.id, "language")
    am_rec, am_state = cz.customization(ws, am_anchor.id, "acoustic")
    assert lm_state == old[lm_anchor.id] and am_state == {**old[am_anchor.id], "job_id": None}
    assert "customization" not in lm_rec.info and "customization" not in am_rec.info
    assert cz.customization_status(ws, lm_rec) == "available" and cz.customization_status(ws, am_rec) == "ready"
    assert cz.trained_model_id(ws, lm_rec) == trained.id
    assert [r.id for r in cz.customizations(ws, "language")] == [lm_anchor.id]
    assert ws.sources_of(lm_anchor.id) == sorted([corpus.id, trained.id]) and ws.sources_of(am_anchor.id) == [audio.id]
    # The upgraded customization works on: a resource taken out, its record deleted with it.
    cz.delete_customization_corpus(ws, lm_anchor.id, "ops")
    assert cz.customization(ws, lm_anchor.id, "language")[1]["corpora"] == {}
    ws.close()
