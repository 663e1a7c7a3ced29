"""Uploads whose names are already stored: refused, replaced, kept beside or skipped, never renamed in silence.

Real workspaces and the real Data tab driven from Python (as ``test_widgets.py`` does).
"""

from __future__ import annotations

import html
import threading

import pytest
from helpers.archives import zip_bytes
from helpers.widgets import status_of, upload

from jupyter_speechcustom.errors import InvalidOptionError
from jupyter_speechcustom.services.workspace import Workspace
from jupyter_speechcustom.store import intake as intake_module
from jupyter_speechcustom.store.workspace import DuplicateNameError, ModelInUseError
from jupyter_speechcustom.widgets import DataPanel


def _snapshot(ws: Workspace) -> dict[str, tuple]:
    """Every audio record as a user sees it, and its file's bytes."""
    return {r.id: (r.name, repr(sorted(r.info.items())), r.path.read_bytes() if r.path and r.path.is_file() else None)
            for r in ws.audio()}


def _files(ws: Workspace) -> list[str]:
    return sorted(p.name for p in (ws.path / "audio").iterdir())


# ------------------------------------------------------------------------------------------ the store


def test_a_duplicate_name_is_an_error_by_default_naming_the_choices(ws, wav):
    first = ws.add_audio(wav(0.5), name="call.wav", transcript="restart the pod")
    before = _snapshot(ws)
    with pytest.raises(DuplicateNameError, match=r"already in the workspace under the same name: call\.wav\. "
                       r"Choose on_duplicate='replace' .*'keep' .*'skip'") as info:
        ws.add_audio(wav(1.0), name="call.wav")
    assert info.value.names == ["call.wav"]
    assert _snapshot(ws) == before and _files(ws) == ["call.wav"]
    with pytest.raises(InvalidOptionError, match="on_duplicate='rename' is not a choice: use 'error'.*'replace'"):
        ws.add_audio(wav(1.0), name="call.wav", on_duplicate="rename")
    assert ws.get(first.id).info["duration"] == 0.5


def test_keep_both_numbers_the_new_one_and_skip_stores_nothing(ws, wav):
    first = ws.add_audio(wav(0.5), name="call.wav")
    kept = ws.add_audio(wav(1.0), name="call.wav", on_duplicate="keep")
    assert kept.id != first.id and kept.name == "call-2.wav" and kept.info["original_name"] == "call.wav"
    skipped = ws.add_audio(wav(1.5), name="call.wav", on_duplicate="skip")
    assert skipped.id == first.id and skipped.info["duration"] == 0.5
    assert _files(ws) == ["call-2.wav", "call.wav"] and len(ws.audio()) == 2


def test_replace_keeps_the_record_takes_the_new_file_and_keeps_its_role(ws, wav):
    old = ws.add_audio(wav(0.5), name="call.wav", transcript="old words", role="test")
    new = ws.add_audio(wav(1.0), name="call.wav", transcript="new words", on_duplicate="replace")
    assert new.id == old.id and new.name == "call.wav" and new.path == old.path
    assert new.info["duration"] == 1.0 and new.info["transcript"] == "new words" and new.info["role"] == "test"
    assert new.path.read_bytes() == wav(1.0) and _files(ws) == ["call.wav"]
    assert [e["event"] for e in ws.events(old.id)] == ["created", "replaced"]
    assert ws.add_audio(wav(0.7), name="call.wav", role="dev", on_duplicate="replace").info["role"] == "dev"


def test_replace_is_refused_for_audio_a_model_or_a_running_job_uses(ws, wav):
    used = ws.add_audio(wav(0.5), name="used.wav", transcript="restart the pod")
    read = ws.add_audio(wav(0.6), name="read.wav")
    model = ws.create_acoustic_model({"name": "demo", "fingerprint": "f" * 16}, "support-am", [used.id])
    release = threading.Event()
    job = ws.submit(lambda progress, cancel: release.wait(30), kind="reader", heavy=False, uses=[read.id])
    try:
        before = _snapshot(ws)
        with pytest.raises(ModelInUseError, match=rf"cannot replace audio used\.wav \(used by am 'support-am' v1 "
                           rf"\({model.id}\)\).*Keep both \(on_duplicate='keep'\)"):
            ws.add_audio(wav(1.0), name="used.wav", on_duplicate="replace")
        with pytest.raises(ModelInUseError, match=f"read.wav \\(used by running job {job.id}\\)"):
            ws.add_audio_archive(zip_bytes({"read.wav": wav(1.0), "fresh.wav": wav(1.1)}), name="b.zip",
                                 on_duplicate="replace")
        assert _snapshot(ws) == before and _files(ws) == ["read.wav", "used.wav"]  # nothing of either call stored
    finally:
        release.set()
        job.wait(30)


def test_a_replace_that_fails_midway_loses_nothing(ws, wav, monkeypatch):
    old = ws.add_audio(wav(0.5), name="call.wav", transcript="kept words")
    before = _snapshot(ws)
    real_log = intake_module.log_event

    def failing(conn, rec, event, *args, **kwargs):
        if event == "replaced":  # the index write fails after the new file is written
            raise OSError("disk I/O error while writing the index")
        return real_log(conn, rec, event, *args, **kwargs)

    monkeypatch.setattr(intake_module, "log_event", failing)
    with pytest.raises(OSError, match="disk I/O error"):
        ws.add_audio(wav(1.0), name="call.wav", on_duplicate="replace")
    assert _snapshot(ws) == before and _files(ws) == ["call.wav"]  # the old record and file, nothing stray
    monkeypatch.setattr(intake_module, "log_event", real_log)

    # Committed, but putting the new file under the old name fails: the record points at the new file.
    def no_link(source, target):
        raise OSError("cannot link")

    monkeypatch.setattr(intake_module, "link_or_copy", no_link)
    new = ws.add_audio(wav(1.0), name="call.wav", on_duplicate="replace")
    assert new.id == old.id and new.path.is_file() and new.path.read_bytes() == wav(1.0)
    assert new.info["duration"] == 1.0 and ws.get(old.id).path == new.path


def test_archives_ask_for_every_duplicate_and_report_skipped_files(ws, wav):
    ws.add_audio(wav(0.5), name="a.wav")
    data = zip_bytes({"train/a.wav": wav(0.6), "test/a.wav": wav(0.7), "b.wav": wav(0.8)})
    assert ws.archive_audio_names(data, name="calls.zip") == ["a.wav", "a.wav", "b.wav"]
    with pytest.raises(DuplicateNameError, match=r"1 audio file\(s\) \(from calls\.zip\) already in the workspace.*a\.wav"):
        ws.add_audio_archive(data, name="calls.zip")
    assert [r.name for r in ws.audio()] == ["a.wav"] and _files(ws) == ["a.wav"]
    skipped: list[str] = []
    stored = ws.add_audio_archive(data, name="calls.zip", on_duplicate="skip", skipped=skipped)
    assert [r.name for r in stored] == ["b.wav"]
    assert skipped == ["train/a.wav (already in the workspace as a.wav: skipped)",
                       "test/a.wav (already in the workspace as a.wav: skipped)"]


def test_add_audio_files_looks_for_duplicates_before_storing_anything(ws, wav, tmp_path):
    ws.add_audio(wav(0.5), name="taken.wav")
    (tmp_path / "new.wav").write_bytes(wav(0.6))
    (tmp_path / "set.zip").write_bytes(zip_bytes({"taken.wav": wav(0.7)}))
    with pytest.raises(DuplicateNameError, match="taken.wav"):
        ws.add_audio_files([tmp_path / "new.wav", tmp_path / "set.zip"])
    assert [r.name for r in ws.audio()] == ["taken.wav"]  # new.wav, before the archive, was not stored either
    added = ws.add_audio_files([tmp_path / "new.wav", tmp_path / "set.zip"], on_duplicate="keep", role="dev")
    assert [(r.name, r.info["role"]) for r in added] == [("new.wav", "dev"), ("taken-2.wav", "dev")]


# ------------------------------------------------------------------------------------------ the Data tab


def test_data_tab_asks_before_storing_a_duplicate_upload(ws, wav, demo_model):
    panel = DataPanel(ws, demo_model)
    panel.audio_upload.value = upload(("call.wav", wav(0.5)), ("call.txt", b"restart the pod\n"))
    first = ws.audio()[0]
    assert panel.duplicate_box.layout.display == "none"

    # The same name again, with a new file: nothing is stored until the user answers.
    panel.audio_upload.value = upload(("call.wav", wav(1.0)), ("call.txt", b"roll back the deployment\n"),
                                      ("other.wav", wav(0.8)))
    assert [r.name for r in ws.audio()] == ["call.wav"] and panel.duplicate_box.layout.display == ""
    assert "Already in the workspace</b> (1): call.wav" in panel.duplicate_names.value
    assert "Nothing added yet: 1 of the uploaded names are already in the workspace (call.wav)" in status_of(panel)
    assert "sc-status-warning" in panel.status.value
    panel.duplicate_buttons["keep"].click()
    assert sorted(r.name for r in ws.audio()) == ["call-2.wav", "call.wav", "other.wav"]
    assert panel.duplicate_box.layout.display == "none"
    text = html.unescape(status_of(panel))
    assert "Added 2 audio file(s), 1 with their .txt transcript. Kept both: stored call.wav as call-2.wav." in text
    assert ws.audio()[1].info["transcript"] == "roll back the deployment"

    # Replace: the record keeps its id and takes the new file with its paired transcript.
    panel.audio_upload.value = upload(("call.wav", wav(1.2)), ("call.txt", b"scale the service\n"))
    panel.duplicate_buttons["replace"].click()
    replaced = ws.get(first.id)
    assert replaced.info["duration"] == 1.2 and replaced.info["transcript"] == "scale the service"
    assert "Replaced 1 stored audio file(s)." in status_of(panel) and len(ws.audio()) == 3

    # Skip leaves the stored file and adds the rest; Cancel adds nothing.
    panel.audio_upload.value = upload(("call.wav", wav(1.4)), ("fresh.wav", wav(0.9)))
    panel.duplicate_buttons["skip"].click()
    assert ws.get(first.id).info["duration"] == 1.2 and "fresh.wav" in {r.name for r in ws.audio()}
    assert "Added 1 audio file(s). Skipped 1 file(s) already in the workspace." in status_of(panel)
    before = _snapshot(ws)
    panel.audio_upload.value = upload(("set.zip", zip_bytes({"calls/fresh.wav": wav(0.3), "calls/new.wav": wav(0.4)})))
    assert "fresh.wav" in panel.duplicate_names.value and _snapshot(ws) == before
    panel.duplicate_cancel.click()
    assert _snapshot(ws) == before and "Nothing was added (1 uploaded file(s) left out)." in status_of(panel)
    panel.duplicate_cancel.click()  # nothing waits any more
    assert "No upload is waiting for an answer" in status_of(panel)


def test_data_tab_recording_with_a_taken_name_asks_for_another(ws, wav, demo_model):
    from helpers.audio import encode_av, tone

    panel = DataPanel(ws, demo_model)
    take = encode_av(tone(1.0), 16_000, "webm", "libopus")
    for _ in range(2):
        panel.recorder.audio.value = b""  # the recorder sends the next take as a new value
        panel.recorder.audio.value = take
        panel.recording_name.value = "note"
        panel.save_recording_button.click()
    assert [r.name for r in ws.audio()] == ["note.webm"]
    assert "There is already a recording named note.webm: type another name" in status_of(panel)
    assert panel.recording == take  # kept for saving under another name
