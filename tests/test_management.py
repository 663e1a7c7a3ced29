"""Managing a workspace: list, rename, delete with dependants, history, transcripts, exports; and the CLI.

One real workspace is built once (a custom LM from the demo corpus and words with KenLM, a custom
AM fine-tuned lightly supervised on three demo recordings with that LM, a comparison of the base
model and the LM system, the training summary), and each test works on its own copy of it.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import sqlite3
import zipfile
from pathlib import Path

import pytest

from jupyter_speechcustom import demo, read_manifest
from jupyter_speechcustom.cli import main
from jupyter_speechcustom.errors import OutputError
from jupyter_speechcustom.evaluation.metrics import evaluate
from jupyter_speechcustom.services import management as m
from jupyter_speechcustom.services.workspace import Workspace
from jupyter_speechcustom.store.bundle import BundleError, import_bundle
from jupyter_speechcustom.store.index import InvalidNameError, NameInUseError, WorkspaceError

WAIT = 600  # a guard against hanging, never a timing assertion


@pytest.fixture(scope="module")
def template(tmp_path_factory, demo_model):
    """A workspace with every kind of item, made by the workspace's own jobs; ids by role."""
    from jupyter_speechcustom.io.manifest import Utterance

    folder = tmp_path_factory.mktemp("management") / "ws"
    ws = Workspace(folder)
    corpus = ws.add_corpus(demo.corpus_path())
    words = ws.add_words(demo.custom_words_path())
    job = ws.build_language_model(demo_model, [corpus.id], words.id, name="ops-lm")
    assert job.wait(WAIT) == "completed", job.error
    lm = job.result
    dev = read_manifest(demo.manifest("domain/dev"), require_text=True)[:3]
    audio = [ws.add_audio(e["audio_filepath"], transcript=e["text"]) for e in dev]
    job = ws.train_acoustic_model(demo_model, [a.id for a in audio], mode="lightly-supervised", lm_id=lm.id,
                                  name="ops-am", epochs=1, general=None, general_test=None, batch_size=4)
    assert job.wait(WAIT) == "completed", job.error
    am = ws.get(job.model_id)
    training = ws.add_result(f"{am.label} training", job.result)  # as the Studio's training tab keeps it
    items = [Utterance(str(a.path), a.info["transcript"], title=a.name) for a in audio]
    job = ws.compare(demo_model, items, ["base", "+LM"], label="dev3", lm_id=lm.id)
    assert job.wait(WAIT) == "completed", job.error
    comparison = ws.add_result("dev3", job.result.to_dict(), sources=[lm.id])
    ws.close()
    return folder, {"corpus": corpus.id, "words": words.id, "lm": lm.id, "am": am.id, "audio": [a.id for a in audio],
                    "training": training.id, "comparison": comparison.id}


@pytest.fixture
def built(template, tmp_path):
    folder, ids = template
    copy = tmp_path / "ws"
    shutil.copytree(folder, copy)
    with Workspace(copy) as ws:
        yield ws, ids


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.name.startswith("index.sqlite")}


# --------------------------------------------------------------------------- listing and dependencies


def test_list_shows_each_kind_with_what_it_was_made_from_and_what_uses_it(built):
    ws, ids = built
    items = {i["id"]: i for i in m.list_items(ws)}
    corpus, lm, am = items[ids["corpus"]], items[ids["lm"]], items[ids["am"]]
    assert corpus["summary"].startswith(f"{ws.get(ids['corpus']).info['sentences']} sentences")
    assert [u["id"] for u in corpus["used_by"]] == [ids["lm"]]
    assert {s["id"] for s in lm["sources"]} == {ids["corpus"], ids["words"]}
    assert {u["id"] for u in lm["used_by"]} == {ids["am"], ids["comparison"]}  # the AM was labelled with it
    assert {s["id"] for s in am["sources"]} == {*ids["audio"], ids["lm"]}
    assert [u["id"] for u in am["used_by"]] == [ids["training"]]  # its training summary names it
    assert "lightly-supervised" in am["summary"] and "available" in am["summary"]
    audio = items[ids["audio"][0]]
    assert "transcript: " in audio["summary"] and audio["summary"].split(" s,")[0].replace(".", "").isdigit()
    assert [i["kind"] for i in m.list_items(ws, "audio")] == ["audio"] * 3
    assert m.list_items(ws, "language-model") == [lm]
    with pytest.raises(WorkspaceError, match="unknown kind 'model'"):
        m.list_items(ws, "model")


def test_items_are_found_by_name_label_or_id_and_a_typo_gets_a_suggestion(built):
    ws, ids = built
    assert [r.id for r in m.find(ws, "ops-lm")] == [ids["lm"]]
    assert [r.id for r in m.find(ws, "ops-lm v1", "lm")] == [ids["lm"]]
    assert [r.id for r in m.find(ws, ids["am"])] == [ids["am"]]
    with pytest.raises(WorkspaceError, match="did you mean 'ops-lm'"):
        m.find(ws, "ops-lmm")


# --------------------------------------------------------------------------- deleting


def test_deleting_what_others_depend_on_is_refused_naming_them_and_changes_nothing(built):
    ws, ids = built
    before, records = files_of(ws.path), ws.records()
    with pytest.raises(m.HasDependantsError, match="ops-lm v1") as info:
        m.delete(ws, "corpus", ws.get(ids["corpus"]).name)
    assert [r.id for r in info.value.dependants] == [ids["lm"]]
    with pytest.raises(m.HasDependantsError) as info:
        m.delete(ws, "lm", "ops-lm")
    assert {r.id for r in info.value.dependants} == {ids["am"], ids["comparison"]}
    assert files_of(ws.path) == before and ws.records() == records


def test_a_forced_delete_keeps_the_dependants_usable_and_marked(built):
    ws, ids = built
    corpus = ws.get(ids["corpus"])
    deletion = m.delete(ws, "corpus", corpus.name, force=True)
    assert [r.id for r in deletion.deleted] == [corpus.id] and [r.id for r in deletion.kept_dependants] == [ids["lm"]]
    assert not corpus.path.exists() and corpus.id not in {r.id for r in ws.records()}
    lm = ws.get(ids["lm"])
    assert lm.status == "available" and lm.info["missing_sources"][0]["id"] == corpus.id
    assert ws.language_model(lm.id).order >= 2  # the built LM holds what it needs: it still loads
    assert any(e["event"] == "source-deleted" and e["detail"]["id"] == corpus.id for e in m.history(ws, lm.id))
    assert "1 source(s) deleted" in m.describe(lm)

    m.delete(ws, "lm", "ops-lm", force=True)
    am = ws.get(ids["am"])
    assert am.status == "available" and am.path.is_file()
    assert [s["id"] for s in am.info["missing_sources"]] == [ids["lm"]]
    assert ws.result(ids["comparison"])["test_set"] == "dev3"  # a result stays readable
    assert [e["event"] for e in m.history(ws, "ops-lm")][-1] == "deleted"  # a deleted item keeps its history


def test_deleting_a_customization_resource_takes_it_out_of_the_customization(built, demo_model):
    from jupyter_speechcustom.services import customization as cz

    ws, _ = built
    custom = cz.create_customization(ws, "language", demo_model, "ibm-style")
    corpus = cz.add_customization_corpus(ws, custom.id, "notes", b"restart the grafana pod\n")
    with pytest.raises(m.HasDependantsError, match="ibm-style"):
        m.delete(ws, "corpus", corpus.name)
    m.delete(ws, "corpus", corpus.id, force=True)
    rec, state = cz.customization(ws, custom.id, "language")
    assert state["corpora"] == {} and cz.customization_status(ws, rec) == "pending"


def test_a_failed_delete_leaves_the_file_and_the_record(built):
    ws, ids = built
    result = ws.get(ids["comparison"])
    content = result.path.read_bytes()
    with sqlite3.connect(ws.index_path) as db:  # the index refuses the change, as a full disk would
        db.execute("CREATE TRIGGER refuse BEFORE DELETE ON records BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END")
    with pytest.raises(sqlite3.IntegrityError, match="disk I/O error"):
        m.delete(ws, "result", "dev3")
    assert result.path.read_bytes() == content and ws.get(result.id) == result
    assert "deleted" not in [e["event"] for e in m.history(ws, result.id)]
    with sqlite3.connect(ws.index_path) as db:
        db.execute("DROP TRIGGER refuse")
    m.delete(ws, "result", "dev3")
    assert not result.path.exists()


# --------------------------------------------------------------------------- renaming


def test_rename_moves_the_file_keeps_the_content_and_the_dependants(built):
    ws, ids = built
    corpus = ws.get(ids["corpus"])
    content = corpus.path.read_bytes()
    [renamed] = m.rename(ws, "corpus", corpus.name, "ops-notes")
    assert renamed.name == "ops-notes.txt" and renamed.path.name == "ops-notes.txt"  # the suffix is added
    assert renamed.path.read_bytes() == content and not corpus.path.exists()
    assert ws.corpus(renamed.id).summary()["sentences"] == corpus.info["sentences"]
    assert [u["id"] for u in m.item(ws, renamed)["used_by"]] == [ids["lm"]]

    [result] = m.rename(ws, "result", "dev3", "dev set, 3 calls")
    assert result.name == "dev set, 3 calls" and result.path.name == "dev set_ 3 calls.json"  # a safe file name
    assert ws.result(result.id)["test_set"] == "dev3" and not (ws.path / "results" / "dev3.json").exists()
    [lm] = m.rename(ws, "lm", "ops-lm", "support-lm")
    assert lm.label == "support-lm v1" and lm.path == ws.get(ids["lm"]).path  # models are kept under their id
    assert {u["id"] for u in m.item(ws, lm)["used_by"]} == {ids["am"], result.id}


def test_rename_refuses_a_clash_a_bad_name_and_another_file_type(built):
    ws, ids = built
    other = ws.add_corpus(b"scale the kafka brokers\n", name="kafka.txt")
    corpus = ws.get(ids["corpus"])
    with pytest.raises(NameInUseError, match="already a corpus named 'kafka.txt'"):
        m.rename(ws, "corpus", corpus.name, "kafka.txt")
    with pytest.raises(InvalidNameError, match="use 'x.txt'"):
        m.rename(ws, "corpus", corpus.name, "../x.txt")
    with pytest.raises(InvalidNameError, match="needs a name"):
        m.rename(ws, "corpus", corpus.name, "  ")
    with pytest.raises(InvalidNameError, match="control characters"):
        m.rename(ws, "lm", "ops-lm", "two\nlines")
    words = ws.get(ids["words"])
    with pytest.raises(InvalidNameError, match=r"keep the suffix \.csv"):
        m.rename(ws, "words", words.name, "ops.json")
    assert m.rename(ws, "words", words.name, "ops")[0].name == "ops.csv"
    assert ws.get(corpus.id).name == corpus.name and ws.get(other.id).path.read_bytes() == b"scale the kafka brokers\n"


def test_a_failed_rename_leaves_the_file_and_the_record(built):
    ws, ids = built
    corpus = ws.get(ids["corpus"])
    before = files_of(ws.path)
    with sqlite3.connect(ws.index_path) as db:
        db.execute("CREATE TRIGGER refuse BEFORE UPDATE ON records BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END")
    with pytest.raises(sqlite3.IntegrityError, match="disk I/O error"):
        m.rename(ws, "corpus", corpus.name, "renamed.txt")
    assert files_of(ws.path) == before  # no new name left behind, the old one intact
    assert ws.get(corpus.id) == corpus and "renamed" not in [e["event"] for e in m.history(ws, corpus.id)]


# --------------------------------------------------------------------------- history and transcripts


def test_history_follows_renames_and_new_versions(built):
    ws, ids = built
    lm = ws.get(ids["lm"])
    m.rename(ws, "lm", "ops-lm", "support-lm")
    rebuilt = ws.rerun(lm.job_id)  # the same build again: version 2 of the renamed model
    assert rebuilt.wait(WAIT) == "completed", rebuilt.error
    events = m.history(ws, "support-lm")
    assert [(e["version"], e["event"]) for e in events] == [
        (1, "created"), (1, "training"), (1, "built"), (1, "renamed"), (2, "created"), (2, "training"), (2, "built")]
    assert events[3]["detail"] == {"from": "ops-lm", "to": "support-lm"}
    assert "new version created" in events[4]["text"] and ws.get(rebuilt.model_id).name == "support-lm"
    assert m.history(ws, "ops-lm") == events[:4]  # the former name finds what had it, up to the rename
    assert [e["version"] for e in m.history(ws, "support-lm v2")] == [2, 2, 2]
    with sqlite3.connect(ws.index_path) as db, pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("UPDATE events SET event = 'x'")


def test_set_transcript_is_kept_and_recorded(built):
    ws, ids = built
    audio = ws.get(ids["audio"][0])
    rec = m.set_transcript(ws, audio.name, "  kubectl   rollout restart  ")
    assert rec.info["transcript"] == "kubectl rollout restart"
    assert m.set_transcript(ws, audio.id, "").info["transcript"] is None
    events = [e for e in m.history(ws, audio.name) if e["event"] == "transcript"]
    assert [e["detail"]["to"] for e in events] == ["kubectl rollout restart", None]
    assert events[0]["detail"]["from"] == audio.info["transcript"]
    with pytest.raises(WorkspaceError, match="no audio named"):
        m.set_transcript(ws, "nothing.wav", "x")


def test_role_changes_and_replaced_files_read_plainly_in_the_history(built):
    ws, ids = built
    data = ws.file_of(ids["audio"][0], "audio")
    audio = ws.add_audio(data.read_bytes(), name=f"take{data.suffix}")  # no model was made from this one
    ws.set_role([audio.id], "test")
    ws.add_audio(data.read_bytes(), name=audio.name, on_duplicate="replace")
    lines = [m.event_text(e) for e in m.history(ws, audio.id)]
    assert f"{audio.name}: role train -> test" in lines
    assert f"{audio.name}: file replaced by an upload of the same name" in lines


def test_an_index_of_version_1_is_upgraded_with_its_history_started(built):
    ws, _ = built
    before = {i["id"]: ({s["id"] for s in i["sources"]}, {u["id"] for u in i["used_by"]}) for i in m.list_items(ws)}
    ws.close()
    with sqlite3.connect(ws.index_path) as db:  # as this workspace's index was before the history and links existed
        db.execute("DROP TABLE events")
        db.execute("DROP TABLE links")
        db.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    ws = Workspace(ws.path)
    with sqlite3.connect(ws.index_path) as db:
        assert db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("5",)
    # The links were rebuilt from the records, the jobs' inputs and the results: the same dependencies both ways.
    after = {i["id"]: ({s["id"] for s in i["sources"]}, {u["id"] for u in i["used_by"]}) for i in m.list_items(ws)}
    assert after == before and any(used for _, used in after.values())
    assert [e["event"] for e in m.history(ws, "ops-lm")] == ["created", "built"]
    assert "recorded before the history was kept" in m.history(ws, "ops-lm")[0]["text"]
    m.rename(ws, "lm", "ops-lm", "after-upgrade")
    assert [e["event"] for e in m.history(ws, "after-upgrade")] == ["created", "built", "renamed"]
    ws.close()


# --------------------------------------------------------------------------- exports


def test_a_comparison_exports_as_csv_json_and_html(built, tmp_path):
    ws, ids = built
    data = ws.result(ids["comparison"])
    path = m.export_result(ws, "dev3", tmp_path / "out" / "dev3.csv")
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    assert len(rows) == 3 * 2 and {r["system"] for r in rows} == {"base", "+LM"}
    lm_rows = [r for r in rows if r["system"] == "+LM"]
    scores = evaluate([r["reference"] for r in lm_rows], [r["hypothesis"] for r in lm_rows])
    assert scores.wer == pytest.approx(data["systems"]["+LM"]["wer"])
    assert [int(r["substitutions"]) for r in lm_rows] == [u.substitutions for u in scores.utterances]

    assert json.loads(m.export_result(ws, "dev3", tmp_path / "dev3.json").read_text()) == data
    page = m.export_result(ws, "dev3", tmp_path / "report.html").read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>") and "<table" in page and "Word error rate" in page
    assert "+LM" in page and data["utterances"][0]["reference"].split()[0] in page

    training = m.export_result(ws, ids["training"], tmp_path / "training.csv")
    fields = dict(csv.reader(io.StringIO(training.read_text())))
    assert fields["mode"] == "lightly-supervised" and fields["model_id"] == ids["am"]
    assert "lightly-supervised" in m.export_result(ws, ids["training"], tmp_path / "t.html").read_text()


def test_exports_never_overwrite_unless_asked_and_a_failure_keeps_the_old_file(built, tmp_path):
    ws, ids = built
    target = tmp_path / "dev3.json"
    target.write_text("mine")
    with pytest.raises(OutputError, match="already exists"):
        m.export_result(ws, "dev3", target)
    assert target.read_text() == "mine"
    m.export_result(ws, "dev3", target, overwrite=True)
    assert json.loads(target.read_text())["test_set"] == "dev3"
    with pytest.raises(OutputError, match="a folder"):
        m.export_result(ws, "dev3", tmp_path, "json")

    bundle = m.export_bundle(ws, "ops-am", tmp_path / "ops", results=["dev3"])
    assert bundle.name == "ops.zip"
    saved = bundle.read_bytes()
    with pytest.raises(OutputError, match="already exists"):
        m.export_bundle(ws, "ops-am", bundle)
    ws.get(ids["am"]).path.unlink()  # the model file lost from the workspace: the export fails half-way
    with pytest.raises(BundleError):
        m.export_bundle(ws, "ops-am", bundle, overwrite=True)
    assert bundle.read_bytes() == saved and sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_a_bundle_export_imports_into_another_workspace(built, tmp_path):
    ws, ids = built
    bundle = m.export_bundle(ws, "ops-lm", tmp_path / "lm.zip", results=["dev3"])
    with zipfile.ZipFile(bundle) as zf:
        manifest = json.loads(zf.read("bundle.json"))
    assert manifest["language_model"]["name"] == "ops-lm" and len(manifest["custom_words"]) == 1
    other = Workspace(tmp_path / "other")
    new = import_bundle(other, bundle)
    assert other.get(new["language_model"]).status == "available"
    assert other.result(new["results"][0]) == ws.result(ids["comparison"])
    with pytest.raises(WorkspaceError, match="not a language or acoustic model"):
        m.export_bundle(ws, "dev3", tmp_path / "x.zip")


# --------------------------------------------------------------------------- the command line


def cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["workspace", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_lists_shows_and_reports_dependants(built, capsys):
    ws, ids = built
    folder = str(ws.path)
    code, out, _ = cli(capsys, "--workspace", folder, "list")
    assert code == 0 and "Language models (1)" in out and "ops-lm v1" in out and "used by acoustic model ops-am v1" in out
    code, out, _ = cli(capsys, "list", "am", "--workspace", folder, "--json")
    assert code == 0 and [i["id"] for i in json.loads(out)] == [ids["am"]]
    code, out, _ = cli(capsys, "show", "ops-am", "--workspace", folder)
    assert code == 0 and "made from:" in out and "language model ops-lm v1" in out
    code, out, err = cli(capsys, "delete", "lm", "ops-lm", "--workspace", folder)
    assert code == 2 and out == "" and "ops-am v1" in err and "--force" in err
    assert err.startswith("speechcustom workspace: error:") and len(err.strip().splitlines()) == 1
    code, out, _ = cli(capsys, "delete", "lm", "ops-lm", "--force", "--json", "--workspace", folder)
    assert code == 0 and {d["id"] for d in json.loads(out)["kept_dependants"]} == {ids["am"], ids["comparison"]}


def test_cli_renames_edits_exports_adds_and_shows_history(built, capsys, tmp_path):
    ws, ids = built
    folder = str(ws.path)
    audio = ws.get(ids["audio"][1])
    code, out, _ = cli(capsys, "--workspace", folder, "rename", "result", "dev3", "dev3 final")
    assert code == 0 and out.strip() == "renamed result 'dev3' to 'dev3 final'"
    code, _, err = cli(capsys, "--workspace", folder, "rename", "result", "dev3 final", f"{ws.get(ids['training']).name}")
    assert code == 2 and "already a result named" in err
    code, out, _ = cli(capsys, "--workspace", folder, "set-transcript", audio.name, "restart the pod")
    assert code == 0 and "restart the pod" in out
    code, out, _ = cli(capsys, "--workspace", folder, "history", audio.name, "--json")
    assert [e["event"] for e in json.loads(out)] == ["created", "transcript"]
    code, out, _ = cli(capsys, "--workspace", folder, "history", "dev3")
    assert code == 0 and "renamed from 'dev3' to 'dev3 final'" in out

    out_csv = tmp_path / "r.csv"
    assert cli(capsys, "--workspace", folder, "export", "result", ids["training"], "--format", "csv",
               "--out", str(out_csv))[0] == 0
    code, _, err = cli(capsys, "--workspace", folder, "export", "result", ids["training"], "--format", "csv",
                       "--out", str(out_csv))
    assert code == 2 and "already exists" in err and "--overwrite" in err
    assert cli(capsys, "--workspace", folder, "export", "result", ids["training"], "--format", "html",
               "--out", str(out_csv), "--overwrite")[0] == 0
    assert out_csv.read_text().startswith("<!doctype html>")
    code, out, _ = cli(capsys, "--workspace", folder, "export", "bundle", "ops-am", "--out", str(tmp_path / "b"))
    assert code == 0 and (tmp_path / "b.zip").is_file()

    notes = tmp_path / "notes.txt"
    notes.write_text("the etcd cluster lost quorum\nrestart the etcd pods\n", encoding="utf-8")
    code, out, _ = cli(capsys, "--workspace", folder, "add", "corpus", str(notes), "--json")
    assert code == 0 and json.loads(out)[0]["info"]["sentences"] == 2
    code, _, err = cli(capsys, "--workspace", folder, "add", "corpus", str(tmp_path / "missing.txt"))
    assert code == 2 and "missing.txt is not a file" in err


def test_cli_uses_the_services_default_workspace(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert m.default_workspace_path() == tmp_path / "speechcustom-workspace"
    code, _, err = cli(capsys, "list")
    assert code == 2 and str(tmp_path / "speechcustom-workspace") in err and not (tmp_path / "speechcustom-workspace").exists()
    words = tmp_path / "words.csv"
    words.write_text("word,sounds_like,display_as\nnginx,engine x,NGINX\n", encoding="utf-8")
    assert cli(capsys, "add", "words", str(words))[0] == 0
    code, out, _ = cli(capsys, "list", "words", "--json")
    assert code == 0 and json.loads(out)[0]["name"] == "words.csv"


# --------------------------------------------------------------------------- the Studio's Manage area


def test_the_studios_manage_area_renames_refuses_deletes_and_exports(built, demo_model, tmp_path):
    from jupyter_speechcustom.widgets.manage import ManagePanel

    ws, ids = built
    panel = ManagePanel(ws, demo_model)
    assert panel.kind.value == "result" and {v for _, v in panel.items.options} == {ids["training"], ids["comparison"]}
    panel.kind.value = "lm"
    assert panel.items.value == ids["lm"] and "used by:" in panel.details.value and "built, available" in panel.details.value
    panel.delete_button.click()
    assert "sc-status-error" in panel.status.value and "Deleting failed" in panel.status.value
    assert "ops-am v1" in panel.status.value and ws.get(ids["lm"]).status == "available"
    panel.new_name.value = "support-lm"
    panel.rename_button.click()
    assert ws.get(ids["lm"]).name == "support-lm" and "renamed from" in panel.details.value

    panel.kind.value = "result"
    panel.items.value = ids["comparison"]
    panel.export_format.value = "html"
    panel.export_path.value = str(tmp_path / "report.html")
    panel.export_button.click()
    assert "Wrote" in panel.status.value and "<table" in (tmp_path / "report.html").read_text(encoding="utf-8")
    panel.export_button.click()  # a second time: the file exists, and the panel asks
    assert "sc-status-warning" in panel.status.value and "already exists. Replace it?" in panel.status.value
    panel.confirm.answers["Cancel"].click()
    assert "nothing was changed" in panel.status.value and not panel.confirm.asking

    panel.kind.value = "audio"
    panel.items.value = ids["audio"][0]
    panel.transcript.value = "restart the pod"
    panel.transcript_button.click()
    assert ws.get(ids["audio"][0]).info["transcript"] == "restart the pod"
    panel.kind.value = "lm"
    panel.force.value = True
    panel.delete_button.click()
    assert "Delete language model" in panel.status.value and ws.get(ids["lm"])  # asked first
    panel.confirm.answers["Delete"].click()
    assert "kept ops-am v1" in panel.status.value and ids["lm"] not in {r.id for r in ws.records()}


def test_a_comparison_saved_by_the_studio_depends_on_the_models_it_ran(built, demo_model):
    from jupyter_speechcustom.widgets.compare import ComparePanel

    ws, ids = built
    panel = ComparePanel(ws, demo_model)
    panel.test_set.value = "profile:domain/test"
    panel.auto_tune = False
    panel.lm.value = ids["lm"]
    panel.limit.value = 2
    panel.system_boxes["+AM"].value = panel.system_boxes["+AM+LM"].value = False  # the AM is not run, nor named
    assert panel.systems() == ["base", "+LM"]
    panel.run_button.click()
    assert panel.job is not None and panel.job.wait(WAIT) == "completed"
    [saved] = [r for r in ws.results() if r.name.startswith("compare ")]
    assert saved.sources == (ids["lm"],)
    with pytest.raises(m.HasDependantsError, match=re.escape(saved.label)):
        m.delete(ws, "lm", "ops-lm")


def test_a_long_name_does_not_widen_every_line_of_a_listing() -> None:
    """A 10,000-character name is cut in the listing's column (the item itself shows it whole)."""
    from jupyter_speechcustom.services.management import LABEL_COLUMN, format_items

    items = [{"kind": "lm", "label": "n" * 10_000, "id": "lm-00000001", "summary": "available", "used_by": []},
             {"kind": "lm", "label": "ops", "id": "lm-00000002", "summary": "available", "used_by": []}]
    lines = format_items(items).splitlines()
    assert lines[0] == "Language models (2)"
    assert lines[1].startswith("  " + "n" * (LABEL_COLUMN - 1) + "…  lm-00000001")
    assert lines[2].startswith("  ops" + " " * (LABEL_COLUMN - 3) + "  lm-00000002")
