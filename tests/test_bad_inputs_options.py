"""Invalid options, from the CLI and the Python API, are refused before any work is wasted.

Part of the adversarial probe of bad inputs and faults against the CLI, the Python API and the
workspace. Each case is a small generated fixture; each asserts the message (what is wrong, what
to do) and that nothing of the user's was lost.

Test names say the outcome: ``test_error_*`` a specific error before any work is wasted,
``test_ok_*`` a correct result where a wrong one (or a traceback) came before.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers.audio import RATE, tone, write_wav
from helpers.cli import run_cli

from jupyter_speechcustom.errors import InvalidOptionError, OutputError
from jupyter_speechcustom.io.manifest import write_manifest
from jupyter_speechcustom.lm.language_model import build_language_model

# ----------------------------------------------------------------------- invalid numeric options


@pytest.mark.parametrize(("args", "match"), [
    (["--lm-alpha", "nan"], "argument --lm-alpha: 'nan' is not a finite number"),
    (["--lm-alpha", "inf"], "argument --lm-alpha: 'inf' is not a finite number"),
    (["--lm-alpha", "-1"], "argument --lm-alpha: -1 is out of range"),
    (["--lm-beta", "nan"], "argument --lm-beta"),
    (["--boost-alpha", "-0.5"], "argument --boost-alpha: -0.5 is out of range"),
    (["--beam-size", "-3"], "argument --beam-size: -3 is out of range"),
    (["--beam-size", "0"], "argument --beam-size: 0 is out of range"),
    (["--beam-size", "2.5"], "argument --beam-size: '2.5' is not a whole number"),
    (["--beam-size", "100000"], "argument --beam-size: 100000 is out of range"),
])
def test_error_cli_transcribe_options(tmp_path, capsys, args, match):
    code, err = run_cli(capsys, "transcribe", "--manifest", "m.json", "--out", str(tmp_path / "h.jsonl"), *args)
    assert code == 2 and match in err
    assert not (tmp_path / "h.jsonl").exists()


@pytest.mark.parametrize(("args", "match"), [
    (["--order", "1"], "argument --order: 1 is out of range: give a whole number from 2 to 6"),
    (["--order", "50"], "argument --order: 50 is out of range"),
    (["--order", "three"], "argument --order: 'three' is not a whole number"),
    (["--general-weight", "1.5"], "argument --general-weight: 1.5 is out of range"),
    (["--general-weight", "1"], "argument --general-weight: 1 is out of range"),
    (["--general-weight", "-0.1"], "argument --general-weight: -0.1 is out of range"),
    (["--general-weight", "nan"], "argument --general-weight: 'nan' is not a finite number"),
    (["--number-variants", "-1"], "argument --number-variants: -1 is out of range: give a whole number from 0 to 20"),
    (["--number-variants", "2.5"], "argument --number-variants: '2.5' is not a whole number"),
])
def test_error_cli_lm_build_options(tmp_path, capsys, args, match):
    code, err = run_cli(capsys, "lm", "build", "--base", "demo", "--out", str(tmp_path / "lm"), *args)
    assert code == 2 and match in err
    assert not (tmp_path / "lm").exists()


@pytest.mark.parametrize(("args", "match"), [
    (["--lr", "nan"], "argument --lr: 'nan' is not a finite number"),
    (["--lr", "0"], "argument --lr: 0 is out of range: give a number above 0 and at most 1"),
    (["--lr", "-1e-3"], "argument --lr"),
    (["--epochs", "0"], "argument --epochs: 0 is out of range: give a whole number 1 or more"),
    (["--epochs", "-2"], "argument --epochs"),
    (["--iterations", "0"], "argument --iterations: 0 is out of range"),
    (["--threshold", "2"], "argument --threshold: 2 is out of range: give a number at least 0 and at most 1"),
    (["--threshold", "-0.1"], "argument --threshold"),
    (["--threshold", "nan"], "argument --threshold: 'nan' is not a finite number"),
    (["--devices", "0"], "argument --devices"),
])
def test_error_cli_am_train_options(tmp_path, capsys, args, match):
    code, err = run_cli(capsys, "am", "train", "--base", "demo", "--audio", "m.json", "--out",
                        str(tmp_path / "am.nemo"), *args)
    assert code == 2 and match in err


def test_error_cli_demo_epochs(capsys):
    code, err = run_cli(capsys, "demo", "--epochs", "0")
    assert code == 2 and "argument --epochs: 0 is out of range" in err


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"lm_alpha": math.nan}, "lm_alpha must be 0 or more"),
    ({"lm_alpha": math.inf}, "lm_alpha must be 0 or more"),
    ({"lm_alpha": -0.5}, "lm_alpha must be 0 or more"),
    ({"lm_beta": math.nan}, "lm_beta must be a finite number"),
    ({"boost_alpha": -1.0}, "boost_alpha must be 0 or more"),
    ({"boost_alpha": "2"}, "boost_alpha must be 0 or more"),
    ({"beam_size": 0}, "beam_size must be a whole number from 1"),
    ({"beam_size": -3}, "beam_size must be a whole number from 1"),
    ({"beam_size": 2.5}, "beam_size must be a whole number from 1"),
    ({"beam_size": True}, "beam_size must be a whole number from 1"),
    ({"head": "joint"}, "head must be one of 'transducer', 'ctc'"),
])
def test_error_decoding_weights(kwargs, match):
    from jupyter_speechcustom.asr.decoding import DecodingWeights

    with pytest.raises(InvalidOptionError, match=match):
        DecodingWeights(**kwargs)


def test_ok_decoding_weights_accept_numpy_numbers():
    from jupyter_speechcustom.asr.decoding import DecodingWeights

    assert DecodingWeights(lm_alpha=np.float32(0.5), beam_size=np.int64(4)).beam_size == 4


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"order": 1}, "order must be a whole number from 2 to 6"),
    ({"order": 2.5}, "order must be a whole number"),
    ({"order": 99}, "order must be a whole number"),
    ({"general_weight": 1.5}, "general_weight must be a share from 0"),
    ({"general_weight": math.nan}, "general_weight must be a share"),
    ({"general_weight": -0.2}, "general_weight must be a share"),
    ({"number_variants": -1}, "number_variants must be a whole number from 0 to 20"),
    ({"number_variants": 1.5}, "number_variants must be a whole number"),
    ({"number_variants": True}, "number_variants must be a whole number"),
])
def test_error_build_language_model_options_before_any_work(tmp_path, kwargs, match):
    corpus = tmp_path / "c.txt"
    corpus.write_text("hello\n")
    with pytest.raises(InvalidOptionError, match=match):
        build_language_model(object(), [corpus], tmp_path / "lm", **kwargs)  # type: ignore[arg-type]
    assert not (tmp_path / "lm").exists()


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"epochs": 0}, "epochs must be a whole number, 1 or more .*untrained"),
    ({"epochs": 2.5}, "epochs must be a whole number"),
    ({"learning_rate": math.nan}, "learning_rate must be a number above 0"),
    ({"learning_rate": 0}, "learning_rate must be a number above 0"),
    ({"learning_rate": 5}, "learning_rate must be a number above 0 and at most 1"),
    ({"confidence_threshold": 2}, "confidence_threshold must be a number from 0 to 1"),
    ({"confidence_threshold": math.nan}, "confidence_threshold must be a number from 0 to 1"),
    ({"iterations": 0}, "iterations must be a whole number"),
    ({"batch_size": 0}, "batch_size must be a whole number"),
    ({"general_ratio": -1}, "general_ratio must be a number, 0 or more"),
    ({"mode": "semi"}, "mode must be one of"),
])
def test_error_train_acoustic_model_options_before_any_work(tmp_path, kwargs, match):
    from jupyter_speechcustom.am.acoustic_model import train_acoustic_model

    manifest = write_manifest(tmp_path / "m.json", [{"audio_filepath": "a.wav"}])
    kwargs = {"mode": "unsupervised", **kwargs}
    # The base model is a stand-in that any real work (loading, pseudo-labelling) would trip over.
    with pytest.raises(InvalidOptionError, match=match):
        train_acoustic_model(object(), manifest, tmp_path / "am.nemo", **kwargs)  # type: ignore[arg-type]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json"]


def test_error_train_acoustic_model_to_a_device(tmp_path):
    from jupyter_speechcustom.am.acoustic_model import train_acoustic_model

    with pytest.raises(OutputError, match="is a device"):
        train_acoustic_model(object(), [], "/dev/full", mode="unsupervised")  # type: ignore[arg-type]


# ------------------------------------------------------------------- decoding heads


def test_error_a_head_for_a_model_with_one_decoder(other_model, domain_test):
    from jupyter_speechcustom.asr.decoding import Decoder, DecodingWeights
    from jupyter_speechcustom.asr.recognize import acoustic_outputs

    outputs = acoustic_outputs(other_model, [domain_test[0]["audio_filepath"]])
    with pytest.raises(InvalidOptionError, match="has one decoder: head='ctc' applies to hybrid"):
        Decoder(other_model).decode_text(outputs, DecodingWeights(head="ctc"))


# ----------------------------------------------------- workspace jobs and the service's configuration


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"number_variants": 99}, InvalidOptionError, "number_variants must be a whole number from 0 to 20, got 99"),
    ({"order": 1}, InvalidOptionError, "order must be a whole number from 2 to 6"),
    ({"general_weight": 2}, InvalidOptionError, "general_weight must be a share"),
    ({"beam_size": 4}, TypeError, r"unknown option\(s\) \['beam_size'\]; build_language_model takes"),
])
def test_error_workspace_language_model_options_before_the_job(tmp_path, kwargs, error, match):
    from jupyter_speechcustom.services.workspace import Workspace

    ws = Workspace(tmp_path / "ws")
    corpus = ws.add_corpus(b"restart the pod in staging\n", name="ops.txt")
    with pytest.raises(error, match=match):
        ws.build_language_model(object(), [corpus.id], **kwargs)  # type: ignore[arg-type]
    assert ws.language_models() == [] and ws.jobs() == []  # no LM version made, no job failed
    assert [r.id for r in ws.corpora()] == [corpus.id]


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"epochs": 0}, InvalidOptionError, "epochs must be a whole number, 1 or more"),
    ({"learning_rate": 7}, InvalidOptionError, "learning_rate must be a number above 0 and at most 1"),
    ({"mode": "semi"}, InvalidOptionError, "mode must be one of supervised, lightly-supervised, unsupervised"),
    ({"epoch": 2}, TypeError, r"unknown option\(s\) \['epoch'\]; train_acoustic_model takes \[.*'epochs'"),
    ({"progress": None}, TypeError, r"unknown option\(s\) \['progress'\]"),
])
def test_error_workspace_acoustic_model_options_before_the_job(tmp_path, kwargs, error, match):
    from jupyter_speechcustom.services.workspace import Workspace

    ws = Workspace(tmp_path / "ws")
    audio = ws.add_audio(write_wav(tmp_path / "take.wav", tone(), RATE), transcript="restart the pod")
    kwargs = {"mode": "supervised", **kwargs}
    with pytest.raises(error, match=match):
        ws.train_acoustic_model(object(), [audio.id], **kwargs)  # type: ignore[arg-type]
    assert ws.acoustic_models() == [] and ws.jobs() == []
    assert [r.id for r in ws.audio()] == [audio.id]


@pytest.mark.parametrize(("config", "match"), [
    ({"language_training": {"number_variants": -2}}, "language_training: number_variants must be a whole number"),
    ({"language_training": {"order": "three"}}, "language_training: order must be a whole number"),
    ({"language_training": {"beam": 8}}, r"language_training: unknown option\(s\) \['beam'\]"),
    ({"acoustic_training": {"epochs": 0}}, "acoustic_training: epochs must be a whole number"),
    ({"acoustic_training": {"confidence_threshold": 5}}, "acoustic_training: confidence_threshold must be"),
    ({"acoustic_training": {"epoch": 2}}, r"acoustic_training: unknown option\(s\) \['epoch'\]"),
])
def test_error_service_training_options_when_configured(config, match):
    """A bad option in the server's configuration is refused when the service is configured, saying
    which setting, instead of failing every training request later."""
    from traitlets import TraitError

    from jupyter_speechcustom.server.service import SpeechCustomService

    with pytest.raises(TraitError, match=f"SpeechCustomService.{match}"):
        SpeechCustomService(**config)


def test_ok_service_training_options():
    from jupyter_speechcustom.server.service import SpeechCustomService

    service = SpeechCustomService(language_training={"order": 3, "number_variants": 0, "general_text": "none"},
                                  acoustic_training={"epochs": 2, "confidence_threshold": 0.5, "freeze_encoder": True})
    assert service.language_training["number_variants"] == 0 and service.acoustic_training["epochs"] == 2
