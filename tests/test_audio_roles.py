"""Audio roles: train, dev and test audio in the store, the CLI, the services and the Studio's tabs.

Real workspaces, real widgets driven from Python (as ``test_widgets.py`` does), the real demo model.
"""

from __future__ import annotations

import html
import json
import sqlite3

import pytest
from helpers.archives import zip_bytes
from helpers.widgets import status_of, upload

from jupyter_speechcustom.cli import main
from jupyter_speechcustom.errors import InvalidOptionError, NotAListError
from jupyter_speechcustom.services.workspace import Workspace
from jupyter_speechcustom.store.workspace import AudioRoleError, ModelInUseError
from jupyter_speechcustom.widgets import AcousticModelPanel, ComparePanel, DataPanel, ExplorerPanel
from jupyter_speechcustom.widgets.acoustic_model import WORKSPACE_DEV


def _roles(ws: Workspace) -> dict[str, str]:
    return {r.name: r.info.get("role") for r in ws.audio()}


# ------------------------------------------------------------------------------------------ the store


def test_audio_has_a_role_given_or_train_and_set_role_logs_it(ws, wav):
    plain = ws.add_audio(wav(), name="plain.wav")
    held = ws.add_audio(wav(0.6), name="held.wav", transcript="restart the pod", role="test")
    assert (plain.info["role"], held.info["role"]) == ("train", "test")
    assert [r.id for r in ws.audio("test")] == [held.id] and [r.id for r in ws.audio("train")] == [plain.id]
    with pytest.raises(InvalidOptionError, match=r"unknown audio role 'eval': the roles are train, dev, test"):
        ws.add_audio(wav(0.7), name="bad.wav", role="eval")
    assert len(ws.audio()) == 2  # a bad role stores nothing

    changed = ws.set_role([plain.id, held.id], "dev")
    assert [r.info["role"] for r in changed] == ["dev", "dev"]
    assert ws.events(plain.id)[-1]["event"] == "role"
    assert ws.events(plain.id)[-1]["detail"] == {"from": "train", "to": "dev"}
    ws.set_role([plain.id], "dev")  # no change, no event
    assert [e["event"] for e in ws.events(plain.id)] == ["created", "role"]
    with pytest.raises(InvalidOptionError, match="the roles are train, dev, test"):
        ws.set_role([plain.id], "validation")
    with pytest.raises(NotAListError):
        ws.set_role(plain.id, "test")
    assert ws.get(plain.id).info["role"] == "dev"


def test_an_archive_takes_its_folders_roles_unless_one_is_given(ws, wav):
    data = zip_bytes({"calls/train/a.wav": wav(0.5), "calls/dev/b.wav": wav(0.6), "calls/dev/b.txt": b"scale it\n",
                 "Test/c.wav": wav(0.7), "loose.wav": wav(0.8)})
    ws.add_audio_archive(data, name="calls.zip")
    assert _roles(ws) == {"a.wav": "train", "b.wav": "dev", "c.wav": "test", "loose.wav": "train"}
    assert ws.get(ws.audio("dev")[0].id).info["transcript"] == "scale it"
    other = Workspace(ws.path.parent / "other")
    other.add_audio_archive(data, name="calls.zip", role="test")
    assert set(_roles(other).values()) == {"test"}


def test_a_schema_2_index_is_upgraded_its_audio_reads_as_train(ws, wav):
    rec = ws.add_audio(wav(), name="old.wav")
    ws.close()
    with sqlite3.connect(ws.index_path) as db:  # as a workspace was before roles existed
        info = json.loads(db.execute("SELECT info FROM records WHERE id = ?", (rec.id,)).fetchone()[0])
        del info["role"]
        db.execute("UPDATE records SET info = ? WHERE id = ?", (json.dumps(info), rec.id))
        db.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    again = Workspace(ws.path)
    assert again.get(rec.id).info["role"] == "train" and [r.id for r in again.audio("train")] == [rec.id]
    with sqlite3.connect(again.index_path) as db:
        assert db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("5",)


def test_set_role_is_refused_while_a_job_reads_the_audio(ws, wav):
    import threading

    rec = ws.add_audio(wav(), name="busy.wav")
    release = threading.Event()
    job = ws.submit(lambda progress, cancel: release.wait(30), kind="reader", heavy=False, uses=[rec.id])
    try:
        with pytest.raises(ModelInUseError, match=f"running job\\(s\\) {job.id}"):
            ws.set_role([rec.id], "test")
    finally:
        release.set()
        job.wait(30)
    assert ws.set_role([rec.id], "test")[0].info["role"] == "test"


# ------------------------------------------------------------------------------------------ the CLI


def test_cli_adds_audio_with_a_role_and_changes_roles(tmp_path, wav, capsys):
    folder = tmp_path / "cli-ws"
    (tmp_path / "one.wav").write_bytes(wav(0.5))
    (tmp_path / "two.wav").write_bytes(wav(0.6))
    base = ["workspace", "--workspace", str(folder)]
    assert main([*base, "add", "audio", str(tmp_path / "one.wav"), "--role", "test"]) == 0
    assert main([*base, "add", "audio", str(tmp_path / "two.wav")]) == 0
    ws = Workspace(folder)
    assert _roles(ws) == {"one.wav": "test", "two.wav": "train"}
    capsys.readouterr()
    assert main([*base, "set-role", "dev", "one.wav", ws.audio()[1].id]) == 0
    assert "one.wav" in capsys.readouterr().out and _roles(ws) == {"one.wav": "dev", "two.wav": "dev"}
    assert main([*base, "add", "corpus", str(tmp_path / "one.wav"), "--role", "dev"]) == 2
    assert "--role and --on-duplicate go with audio" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # argparse names the roles
        main([*base, "set-role", "eval", "one.wav"])
    assert "invalid choice: 'eval'" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------ training


def test_training_and_pseudo_labelling_refuse_test_audio(ws, wav, demo_model):
    train = ws.add_audio(wav(0.5), name="train.wav", transcript="restart the pod")
    test = ws.add_audio(wav(0.6), name="test.wav", transcript="scale the service", role="test")
    with pytest.raises(AudioRoleError, match=r"1 of the 2 audio files chosen for training are test audio \(test\.wav\)"):
        ws.train_acoustic_model(demo_model, [train.id, test.id], mode="supervised")
    with pytest.raises(AudioRoleError, match="test audio scores models and is never trained on"):
        ws.pseudo_label(demo_model, [test.id])
    assert ws.jobs() == [] and ws.acoustic_models() == []


def test_acoustic_model_tab_offers_only_train_audio_and_uses_dev_audio(ws, wav, demo_model):
    train = [ws.add_audio(wav(0.5 + k / 10), name=f"t{k}.wav") for k in range(3)]
    dev = ws.add_audio(wav(0.9), name="d.wav", transcript="roll back", role="dev")
    ws.add_audio(wav(1.0), name="d2.wav", role="dev")  # untranscribed: no use as a dev set
    ws.add_audio(wav(1.1), name="x.wav", transcript="scale it", role="test")
    panel = AcousticModelPanel(ws, demo_model)
    assert [v for _, v in panel.audio.options] == [r.id for r in train]
    text = html.unescape(panel.held_back.value)
    assert "2 dev and 1 test audio file(s)" in text and "The 1 transcribed dev file(s) are the dev set" in text
    assert panel.dev.value == WORKSPACE_DEV and "workspace's dev audio (1 transcribed files)" in panel.dev.label
    panel.select_all.click()
    assert panel.audio.value == tuple(r.id for r in train)
    assert ws.audio_manifest([dev.id]) == [{"audio_filepath": str(dev.path), "duration": dev.info["duration"],
                                           "text": "roll back"}]

    # A role changed in the Data tab shows here when the tab is opened again.
    ws.set_role([train[0].id], "test")
    panel.refresh()
    assert [v for _, v in panel.audio.options] == [r.id for r in train[1:]]
    assert "2 dev and 2 test" in html.unescape(panel.held_back.value)


# ------------------------------------------------------------------------------------------ Compare, Explore


def test_compare_defaults_to_the_workspace_test_audio_and_tunes_on_its_dev_audio(ws, wav, demo_model):
    tests = [ws.add_audio(wav(0.5 + k / 10), name=f"test{k}.wav", transcript="restart the pod", role="test")
             for k in range(3)]
    ws.add_audio(wav(0.9), name="train.wav", transcript="scale it")
    dev = ws.add_audio(wav(1.0), name="dev.wav", transcript="roll back", role="dev")
    ws.add_audio(wav(1.1), name="untranscribed.wav", role="test")
    panel = ComparePanel(ws, demo_model)
    assert panel.test_set.value == "workspace" and panel.audio_box.layout.display == ""
    assert panel.audio.value == tuple(r.id for r in tests)
    assert "3 of 5 transcribed files selected (3 of the 3 test files)" in panel.audio_count.value
    label, items = panel.items()
    assert label == "3 workspace audio files" and [i.audio for i in items] == [str(r.path) for r in tests]
    panel.select_no_audio.click()
    assert panel.audio.value == () and "0 of 5" in panel.audio_count.value
    panel.refresh()  # the user's choice stays
    assert panel.audio.value == ()
    panel.select_all_audio.click()
    assert len(panel.audio.value) == 5
    panel.select_test_audio.click()
    assert panel.audio.value == tuple(r.id for r in tests)
    label, dev_items = panel.dev_set()
    assert label == "1 workspace dev audio files" and [i.audio for i in dev_items] == [str(dev.path)]

    ws.set_role([dev.id], "test")  # without dev audio: transcribed audio other than test audio, never the test set
    label, dev_items = panel.dev_set()
    assert not {str(r.path) for r in ws.audio("test")} & {i.audio for i in dev_items}


def test_compare_and_explore_use_the_demo_sets_only_without_workspace_audio(ws, wav, demo_model):
    compare = ComparePanel(ws, demo_model)
    assert compare.test_set.value == "profile:domain/test"
    assert "The workspace has no transcribed audio yet, so the test set is the demo domain/test set" in \
        html.unescape(compare.test_note.value)
    explore = ExplorerPanel(ws, demo_model)
    assert explore.source.value == "profile:domain/test"
    assert "The workspace has no audio yet, so this is the base model's example set" in status_of(explore)

    # Untranscribed audio: Explore shows it; Compare has nothing to score on yet.
    ws.add_audio(wav(0.4), name="heard.wav")
    compare.refresh()
    explore.refresh()  # as when the tab is opened again
    assert compare.test_set.value == "profile:domain/test" and explore.source.value == "workspace"
    assert len(explore.audio_set) == 1 and "example set" not in status_of(explore)

    test = ws.add_audio(wav(), name="mine.wav", transcript="restart the pod", role="test")
    compare.refresh()
    assert compare.test_set.value == "workspace" and compare.audio.value == (test.id,)
    assert compare.test_note.value == ""
    compare.test_set.value = "profile:domain/dev"  # the user's pick stays, without a note
    compare.refresh()
    assert compare.test_set.value == "profile:domain/dev" and compare.test_note.value == ""

    ws.set_role([test.id], "train")
    fresh = ComparePanel(ws, demo_model)
    assert fresh.test_set.value == "workspace" and fresh.audio.value == ()
    assert "No transcribed test audio in the workspace" in html.unescape(fresh.test_note.value)
    explore = ExplorerPanel(ws, demo_model)
    assert explore.source.value == "workspace" and len(explore.audio_set) == 2
    explore.source.value = "profile:domain/dev"
    explore.refresh()
    assert explore.source.value == "profile:domain/dev" and "example set" not in status_of(explore)


# ------------------------------------------------------------------------------------------ the Data tab


def test_data_tab_shows_roles_uploads_with_one_and_changes_them(ws, wav, demo_model):
    panel = DataPanel(ws, demo_model)
    panel.upload_role.value = "test"
    panel.audio_upload.value = upload(("held.wav", wav(0.5)), ("held.txt", b"restart the pod\n"))
    assert _roles(ws) == {"held.wav": "test"} and "Added 1 audio file(s), 1 with their .txt" in status_of(panel)
    panel.upload_role.value = None  # an archive's folders then give the roles
    panel.audio_upload.value = upload(("set.zip", zip_bytes({"train/a.wav": wav(0.6), "dev/b.wav": wav(0.7)})))
    assert _roles(ws) == {"held.wav": "test", "a.wav": "train", "b.wav": "dev"}
    table = html.unescape(panel.audio_table.value)
    assert "3 audio files" in table and "(1 train, 1 dev, 1 test)" in table and "<th>role</th>" in table

    ids = {r.name: r.id for r in ws.audio()}
    assert "held.wav" in dict((v, k) for k, v in panel.role_audio.options)[ids["held.wav"]]
    panel.set_role_button.click()
    assert "Choose the audio whose role to set first" in status_of(panel)
    panel.role_audio.value = (ids["a.wav"], ids["b.wav"])
    panel.new_role.value = "test"
    panel.set_role_button.click()
    assert _roles(ws) == {"held.wav": "test", "a.wav": "test", "b.wav": "test"}
    assert "2 audio file(s) are test audio now (to score models, never trained on): a.wav, b.wav" in status_of(panel)
    assert set(panel.role_audio.value) == {ids["a.wav"], ids["b.wav"]}  # still selected
    assert "(3 test)" in html.unescape(panel.audio_table.value)


def test_data_tab_demo_audio_takes_the_role_of_its_example_set(ws, demo_model):
    panel = DataPanel(ws, demo_model)
    panel.demo_split.value = "domain/test"
    panel.demo_count.value = 2
    panel.demo_audio_button.click()
    assert set(_roles(ws).values()) == {"test"}
    assert "Added 2 audio files of the example set domain/test (with transcripts), as test audio" in status_of(panel)
    panel.demo_audio_button.click()  # again: nothing new, nothing renamed
    assert len(ws.audio()) == 2 and "(2 were already in the workspace)" in status_of(panel)
