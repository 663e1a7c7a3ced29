"""Bad outputs: ``--overwrite`` replaces only what the toolkit wrote, outputs are regular files
written atomically, and temporary training data is never leaked.

Part of the adversarial probe of bad inputs and faults against the CLI, the Python API and the
workspace. Each case is a small generated fixture; each asserts the message (what is wrong, what
to do) and that nothing of the user's was lost.

Test names say the outcome: ``test_error_*`` a specific error before any work is wasted,
``test_ok_*`` a correct result where a wrong one (or a traceback) came before.
"""

from __future__ import annotations

import json
import os
import stat

import pytest
from helpers.cli import run_cli
from helpers.files import snapshot, user_folder
from helpers.models import lm_folder

from jupyter_speechcustom.errors import OutputError
from jupyter_speechcustom.io.files import atomic_write, check_output_path, describe_os_error
from jupyter_speechcustom.io.manifest import write_manifest
from jupyter_speechcustom.lm.language_model import LanguageModelError, build_language_model

# ------------------------------------------------- 1. --overwrite only replaces what the toolkit wrote


def test_error_overwrite_refuses_a_folder_of_user_files(tmp_path, capsys):
    out = user_folder(tmp_path / "mine")
    before = snapshot(out)
    code, err = run_cli(capsys, "lm", "build", "--base", "demo", "--corpus", "x.txt", "--out", str(out), "--overwrite")
    assert code == 2
    assert "not a custom language model folder (no lm.json), so --overwrite does not replace it" in err
    assert "overwrite=True" not in err
    assert snapshot(out) == before


def test_error_overwrite_refuses_the_current_folder(tmp_path, capsys, monkeypatch):
    here = user_folder(tmp_path / "here")
    before = snapshot(here)
    monkeypatch.chdir(here)
    code, err = run_cli(capsys, "lm", "build", "--base", "demo", "--corpus", "x.txt", "--out", ".", "--overwrite")
    assert code == 2 and "--overwrite does not replace it" in err
    assert snapshot(here) == before


def test_error_overwrite_refuses_a_folder_holding_the_current_one(tmp_path, capsys, monkeypatch):
    lm = lm_folder(tmp_path / "lm")
    (lm / "sub").mkdir()
    monkeypatch.chdir(lm / "sub")
    before = snapshot(lm)
    code, err = run_cli(capsys, "lm", "build", "--base", "demo", "--corpus", "x.txt", "--out", "..", "--overwrite")
    assert code == 2 and "current folder" in err
    assert snapshot(lm) == before


def test_error_without_overwrite_the_cli_names_its_flag(tmp_path, capsys):
    lm = lm_folder(tmp_path / "lm")
    before = snapshot(lm)
    code, err = run_cli(capsys, "lm", "build", "--base", "demo", "--corpus", "x.txt", "--out", str(lm))
    assert code == 2 and "pass --overwrite to replace it" in err and "overwrite=True" not in err
    assert snapshot(lm) == before


def test_error_a_non_empty_folder_without_overwrite(tmp_path, capsys):
    out = user_folder(tmp_path / "mine")
    before = snapshot(out)
    code, err = run_cli(capsys, "lm", "build", "--base", "demo", "--corpus", "x.txt", "--out", str(out))
    assert code == 2 and "already exists and is not empty: choose another folder" in err
    assert snapshot(out) == before


def test_error_overwrite_keeps_an_lm_folder_the_user_added_files_to(tmp_path, capsys):
    lm = lm_folder(tmp_path / "lm")
    (lm / "notes.txt").write_text("my notes")
    (lm / "experiments").mkdir()
    before = snapshot(lm)
    code, err = run_cli(capsys, "lm", "build", "--base", "demo", "--corpus", "x.txt", "--out", str(lm), "--overwrite")
    assert code == 2 and "did not write (experiments, notes.txt)" in err and "move them out" in err
    assert snapshot(lm) == before


def test_error_overwrite_of_a_file(tmp_path, capsys):
    out = tmp_path / "report.txt"
    out.write_text("keep me")
    code, err = run_cli(capsys, "lm", "build", "--base", "demo", "--corpus", "x.txt", "--out", str(out), "--overwrite")
    assert code == 2 and "is a file, not a folder" in err
    assert out.read_text() == "keep me"


def test_error_overwrite_of_a_symbolic_link(tmp_path, capsys):
    target = user_folder(tmp_path / "mine")
    link = tmp_path / "link"
    link.symlink_to(target)
    before = snapshot(target)
    code, err = run_cli(capsys, "lm", "build", "--base", "demo", "--corpus", "x.txt", "--out", str(link), "--overwrite")
    assert code == 2 and "symbolic link" in err
    assert snapshot(target) == before and link.is_symlink()


def test_error_python_api_names_its_keyword(tmp_path):
    lm = lm_folder(tmp_path / "lm")
    with pytest.raises(LanguageModelError, match="pass overwrite=True to replace it"):
        build_language_model(object(), [], lm)  # type: ignore[arg-type]  # refused before the base is used


def test_error_python_api_overwrite_refuses_user_files(tmp_path):
    out = user_folder(tmp_path / "mine")
    before = snapshot(out)
    with pytest.raises(LanguageModelError, match="no lm.json"):
        build_language_model(object(), [], out, overwrite=True)  # type: ignore[arg-type]
    assert snapshot(out) == before


@pytest.mark.slow
def test_ok_overwrite_replaces_a_toolkit_lm_folder(tmp_path, demo_model):
    from jupyter_speechcustom import demo

    target = tmp_path / "lm"
    build_language_model(demo_model, [demo.corpus_path()], target)
    corpus = tmp_path / "c.txt"
    corpus.write_text("restart the pods\nscale the deployment\n" * 5)
    lm = build_language_model(demo_model, [corpus], target, overwrite=True)
    assert lm.corpus_text.read_text().startswith("restart the pods")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.txt", "lm"]  # nothing set aside is left


# ------------------------------------------------------ 2. outputs: regular files only, atomically


@pytest.mark.parametrize("device", ["/dev/full", "/dev/null"])
def test_error_an_output_is_never_written_over_a_device(device):
    mode = os.stat(device).st_mode
    with pytest.raises(OutputError, match="is a device, not a regular file"):
        atomic_write(device, "x")
    assert stat.S_ISCHR(os.stat(device).st_mode) and os.stat(device).st_mode == mode


def test_error_cli_transcribe_to_a_device(tmp_path, capsys):
    manifest = write_manifest(tmp_path / "m.json", [{"audio_filepath": "a.wav"}])
    code, err = run_cli(capsys, "transcribe", "--manifest", str(manifest), "--out", "/dev/full")
    assert code == 2 and "the --out file /dev/full is a device" in err
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


def test_error_cli_am_train_to_a_device(tmp_path, capsys):
    code, err = run_cli(capsys, "am", "train", "--base", "demo", "--audio", "m.json", "--out", "/dev/full")
    assert code == 2 and "is a device" in err


def test_error_output_over_a_folder(tmp_path):
    folder = user_folder(tmp_path / "out")
    before = snapshot(folder)
    with pytest.raises(OutputError, match="is a folder, not a regular file"):
        write_manifest(folder, [{"audio_filepath": "a.wav"}])
    assert snapshot(folder) == before


def test_error_output_over_a_pipe(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(OutputError, match="is a pipe"):
        write_manifest(fifo, [{"audio_filepath": "a.wav"}])
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_error_output_under_a_file(tmp_path, capsys):
    (tmp_path / "f").write_text("keep")
    manifest = write_manifest(tmp_path / "m.json", [{"audio_filepath": "a.wav"}])
    code, err = run_cli(capsys, "transcribe", "--manifest", str(manifest), "--out", str(tmp_path / "f" / "h.jsonl"))
    assert code == 2 and "a part of the path is a file" in err
    assert (tmp_path / "f").read_text() == "keep"


@pytest.mark.parametrize("name", ["", "a\x00b"])
def test_error_output_names_that_are_not_file_names(name):
    with pytest.raises(OutputError, match="is not a file name"):
        check_output_path(name)


def test_ok_output_over_a_regular_file_replaces_it(tmp_path):
    out = tmp_path / "h.jsonl"
    out.write_text("old\n")
    write_manifest(out, [{"audio_filepath": "a.wav"}])
    assert json.loads(out.read_text()) == {"audio_filepath": "a.wav"}
    assert [p.name for p in tmp_path.iterdir()] == ["h.jsonl"]


@pytest.mark.parametrize(("err", "advice"), [
    (OSError(28, "No space left on device", "/x"), "/x: the disk is full"),
    (PermissionError(13, "Permission denied", "/y"), "/y: permission denied"),
    (OSError(30, "Read-only file system", "/z"), "read-only"),
    (OSError(36, "File name too long", "/w"), "too long"),
])
def test_error_os_errors_are_described_with_what_to_do(err, advice):
    assert advice in describe_os_error(err)


# --------------------------------------------------------------- temporary data: never leaked


def test_ok_stale_training_folders_are_removed_and_live_ones_kept(tmp_path):
    from jupyter_speechcustom.am.acoustic_model import WORK_MARK, _remove_stale_work

    dead = tmp_path / f".am.nemo{WORK_MARK}999999999-abc"
    live = tmp_path / f".am.nemo{WORK_MARK}{os.getpid()}-def"
    for folder in (dead, live):
        (folder / "audio").mkdir(parents=True)
        (folder / "audio" / "00000-000.wav").write_bytes(b"RIFF")
    mine = user_folder(tmp_path / "mine")
    before = snapshot(mine)
    _remove_stale_work(tmp_path)
    assert not dead.exists() and live.exists()
    assert snapshot(mine) == before
