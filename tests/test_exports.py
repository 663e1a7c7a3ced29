"""The Manage area's exports, deletes and saved results, driven in Python as the front end would."""

from __future__ import annotations

import html
import json
import os
import zipfile
from pathlib import Path

import pytest
from helpers.widgets import status_of

from jupyter_speechcustom.errors import OutputError
from jupyter_speechcustom.services import management as m
from jupyter_speechcustom.services.workspace import Workspace

pytestmark = pytest.mark.slow


@pytest.fixture
def panel(ws, demo_model):
    from jupyter_speechcustom.widgets.manage import ManagePanel

    return ManagePanel(ws, demo_model)


def test_exports_write_absolute_paths_and_ask_before_replacing(ws, panel, tmp_path, monkeypatch):
    ws.add_result("baseline", {"wer": 0.25})
    monkeypatch.chdir(tmp_path)  # a kernel's folder: the path typed is relative to it
    panel.refresh()
    assert panel.export_path.value == "baseline.csv"  # suggested from the item and the format
    panel.export_path.value = "results/wer.csv"
    panel.export_button.click()
    written = tmp_path / "results" / "wer.csv"
    assert f"Wrote {written}." in status_of(panel) and written.is_file()

    written.write_text("the user's own file\n")
    panel.export_button.click()  # it exists now: asked, nothing written yet
    assert f"{written} already exists. Replace it?" in status_of(panel) and "sc-status-warning" in panel.status.value
    assert set(panel.confirm.answers) == {"Replace", "Cancel"} and written.read_text() == "the user's own file\n"
    panel.confirm.answers["Cancel"].click()
    assert written.read_text() == "the user's own file\n" and not panel.confirm.asking
    panel.export_button.click()
    panel.confirm.answers["Replace"].click()
    assert f"Wrote {written}." in status_of(panel) and written.read_text().startswith("field,value")

    # The service: absolute paths, and never over a file without overwrite=True.
    assert m.export_result(ws, "baseline", "again.json") == tmp_path / "again.json"
    with pytest.raises(OutputError, match=r"again\.json already exists: .*overwrite=True"):
        m.export_result(ws, "baseline", "again.json")
    assert json.loads(m.export_result(ws, "baseline", "again.json", overwrite=True).read_text()) == {"wer": 0.25}


def test_the_suggested_name_follows_the_format(ws, panel, demo_lm, tmp_path):
    ws.add_result("compare base vs +LM", {"wer": 0.1})
    panel.refresh()
    assert panel.export_path.value == "compare-base-vs-_LM.csv"
    panel.export_format.value = "html"
    assert panel.export_path.value == "compare-base-vs-_LM.html"
    panel.export_path.value = str(tmp_path / "report.html")  # typed by the user: its folder is kept
    ws.add_language_model(demo_lm.path, name="ops")
    panel.kind.value = "lm"  # the format becomes the bundle: .zip, never report.html.zip
    assert panel.export_format.value == "bundle" and panel.export_path.value == str(tmp_path / "report.zip")
    assert m.with_format_suffix("a/report.html", "bundle") == "a/report.zip"
    assert m.with_format_suffix("notes", "csv") == "notes"
    assert m.export_path("x.html", "bundle") == Path("x.html.zip").absolute()  # the service adds .zip alone


def test_a_renamed_lms_bundle_carries_its_new_name(ws, panel, demo_lm, tmp_path):
    rec = ws.add_language_model(demo_lm.path, name="ops")
    panel.kind.value = "lm"
    panel.items.value = rec.id
    assert panel.export_path.value == "ops.zip"
    panel.new_name.value = "support-lm"
    panel.rename_button.click()
    assert "Renamed 'ops' to 'support-lm'" in status_of(panel)
    assert panel.export_path.value == "support-lm.zip"  # the suggestion follows the new name
    panel.export_path.value = str(tmp_path / "bundle.zip")
    panel.export_button.click()
    assert f"Wrote {tmp_path / 'bundle.zip'}." in status_of(panel)
    with zipfile.ZipFile(tmp_path / "bundle.zip") as zf:
        manifest = json.loads(zf.read("bundle.json"))
        meta = json.loads(zf.read("lm/lm.json"))
    assert manifest["language_model"]["name"] == "support-lm" and meta["name"] == "support-lm"
    assert json.loads((demo_lm.path / "lm.json").read_text())["name"] != "support-lm"  # the original is its own

    from jupyter_speechcustom.store.bundle import import_bundle

    other = Workspace(tmp_path / "other")
    import_bundle(other, tmp_path / "bundle.zip")
    assert [r.name for r in other.language_models()] == ["support-lm"]

    # Renamed in the store alone (as before lm.json followed renames): the bundle still carries the name.
    ws.rename("lm", "support-lm", "ops-lm")
    assert json.loads((rec.path / "lm.json").read_text())["name"] == "support-lm"
    m.export_bundle(ws, "ops-lm", tmp_path / "again.zip")
    with zipfile.ZipFile(tmp_path / "again.zip") as zf:
        assert json.loads(zf.read("lm/lm.json"))["name"] == "ops-lm"


def test_results_of_one_name_are_told_apart_and_saving_one_asks(ws, panel):
    long = "compare base, base + custom LM ops v1, custom AM, custom AM + custom LM on domain/test"
    first = m.save_result(ws, long, {"wer": 0.3})
    with pytest.raises(m.ResultExistsError, match=r"exists \(.* v1\): replace it .*or keep both") as caught:
        m.save_result(ws, long, {"wer": 0.2})
    assert [r.id for r in caught.value.existing] == [first.id]
    second = m.save_result(ws, long, {"wer": 0.2}, if_exists="keep")
    assert (first.version, second.version) == (1, 2)
    panel.refresh()
    shown = [text for text, _ in panel.items.options]
    assert len(shown) == 2 and len(set(shown)) == 2  # told apart, without scrolling sideways
    assert shown[0].split(" · ")[0].endswith(" v2") and shown[1].split(" · ")[0].endswith(" v1")
    assert all(len(text.split(" · ")[0]) <= 64 for text in shown)
    panel.items.value = first.id
    assert long in status_of(panel) or long in html.unescape(panel.summary.value)  # the full name is shown

    third = m.save_result(ws, long, {"wer": 0.1}, if_exists="replace")
    assert [r.id for r in ws.results()] == [third.id] and ws.result(third.id) == {"wer": 0.1}
    with pytest.raises(m.WorkspaceError, match="if_exists must be one of"):
        m.save_result(ws, long, {}, if_exists="overwrite")


def test_deleting_asks_first(ws, panel, tmp_path):
    wav = tmp_path / "take.wav"
    import numpy as np
    import soundfile

    soundfile.write(wav, np.zeros(16_000, np.float32), 16_000)
    rec = ws.add_audio(wav)
    panel.kind.value = "audio"
    panel.items.value = rec.id
    panel.delete_button.click()
    assert f"Delete audio {rec.label} ({rec.id})? This cannot be undone." in status_of(panel)
    assert [r.id for r in ws.audio()] == [rec.id]  # nothing deleted before the answer
    panel.confirm.answers["Cancel"].click()
    assert [r.id for r in ws.audio()] == [rec.id] and "nothing was changed" in status_of(panel)
    panel.delete_button.click()
    panel.confirm.answers["Delete"].click()
    assert ws.audio() == [] and f"Deleted {rec.label}." in status_of(panel)
    assert not os.path.exists(rec.path)
