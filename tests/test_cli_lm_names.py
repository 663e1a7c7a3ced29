"""The CLI's --lm takes a custom LM's folder, or its name in a workspace."""

from __future__ import annotations

from pathlib import Path

import pytest

from jupyter_speechcustom import demo
from jupyter_speechcustom.cli import main
from jupyter_speechcustom.io.manifest import read_manifest
from jupyter_speechcustom.services import management as m
from jupyter_speechcustom.services.workspace import Workspace
from jupyter_speechcustom.store.workspace import WorkspaceError

pytestmark = pytest.mark.slow


def test_lm_by_folder_name_version_or_id(tmp_path: Path, demo_lm, capsys):
    ws = Workspace(tmp_path / "ws")
    first = ws.add_language_model(demo_lm.path, name="ops")
    second = ws.add_language_model(demo_lm.path, name="ops")
    assert m.language_model_path(demo_lm.path, ws.path) == demo_lm.path  # a folder is a folder
    assert m.language_model_path("ops", ws.path) == second.path  # the latest version
    assert m.language_model_path("ops v1", ws.path) == first.path
    assert m.language_model_path(first.id, ws.path) == first.path
    with pytest.raises(WorkspaceError, match=r"'opz' is not a custom language model folder .*nor the name of one in "
                                             r"the workspace .*its language models: ops v1, ops v2"):
        m.language_model_path("opz", ws.path)
    with pytest.raises(WorkspaceError, match=r"no workspace at .*nowhere"):
        m.language_model_path("ops", tmp_path / "nowhere")

    audio = read_manifest(demo.manifest("domain/test"))[0]["audio_filepath"]
    assert main(["transcribe", audio, "--lm", "ops", "--workspace", str(ws.path), "--format", "txt"]) == 0
    out = capsys.readouterr()
    assert out.out.strip()
    # Where the weights come from, on stderr (stdout holds the transcripts).
    assert "decoding with the custom LM's default weights (this LM was never tuned)" in out.err
    second_lm = ws.language_model(second.id).save_tuning({"lm_alpha": 0.7, "lm_beta": 3.5}, 0.1, "clinic dev", 20)
    assert main(["transcribe", audio, "--lm", "ops", "--workspace", str(ws.path), "--format", "txt",
                 "--lm-beta", "2"]) == 0
    assert ("decoding with the custom LM's weights tuned on clinic dev (20 utterances, dev WER 10.0%); given here: "
            "lm_beta 2.0") in capsys.readouterr().err and second_lm.tuning is not None
    assert main(["transcribe", audio, "--lm", "nothing", "--workspace", str(ws.path)]) == 2
    err = capsys.readouterr().err
    assert "speechcustom transcribe: error: 'nothing' is not a custom language model folder" in err
    assert "ops v1, ops v2" in err
