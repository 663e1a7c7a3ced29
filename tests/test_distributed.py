"""Distributed fine-tuning: a real two-process DDP run on CPU (gloo), started through the CLI."""

import json
import os
import subprocess
import sys
import threading

import pytest

from jupyter_speechcustom import demo, read_manifest, write_manifest
from jupyter_speechcustom.am.acoustic_model import TrainingError, train_acoustic_model
from jupyter_speechcustom.am.processes import WORK_MARK, _host_tag, _remove_stale_work
from jupyter_speechcustom.asr.models import load_base_model

EPOCHS = 2


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ddp-data")
    train = write_manifest(folder / "train.json", read_manifest(demo.manifest("domain/dev"))[:8])
    # An odd number of dev utterances: a distributed sampler would split them unevenly and repeat one.
    dev = write_manifest(folder / "dev.json", read_manifest(demo.manifest("domain/test"))[:5])
    return train, dev


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory, data):
    """``speechcustom am train --accelerator cpu --devices 2 --strategy ddp``: Lightning starts the second
    process by running the command again."""
    train, dev = data
    out = tmp_path_factory.mktemp("ddp") / "am.nemo"
    command = [sys.executable, "-m", "jupyter_speechcustom.cli", "-v", "am", "train", "--base", "demo",
               "--audio", str(train), "--dev", str(dev), "--general", "none", "--epochs", str(EPOCHS),
               "--accelerator", "cpu", "--devices", "2", "--strategy", "ddp", "--out", str(out)]
    run = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"},
                         timeout=600)
    assert run.returncode == 0, run.stderr[-4000:]
    return out, run


@pytest.mark.slow
def test_two_processes_train_one_model(ddp_run, demo_model):
    out, run = ddp_run
    log = run.stdout + run.stderr
    assert "GLOBAL_RANK: 0, MEMBER: 1/2" in log and "GLOBAL_RANK: 1, MEMBER: 2/2" in log
    # Rank 0 alone reports progress and the result.
    assert run.stdout.count("saved a custom acoustic model") == 1
    assert f"{EPOCHS} epochs on 2 processes" in run.stdout
    assert run.stdout.count("[ 50%] epoch 1, step 1/2") == 1 and run.stdout.count("[100%] done") == 1
    # One model and one report, no working folder or half-written file left by either process.
    assert sorted(p.name for p in out.parent.iterdir()) == ["am.json", "am.nemo"]
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["world_size"] == 2 and "global_rank" not in report
    assert [h["epoch"] for h in report["history"]] == list(range(EPOCHS + 1))
    am = load_base_model(out)
    assert am.tied_base == {"name": "demo", "fingerprint": demo_model.fingerprint}


@pytest.mark.slow
def test_ddp_report_matches_the_single_process_one(ddp_run, data, demo_model, tmp_path):
    import torch

    train, dev = data
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the two processes had: one thread each on this machine's shared cores
    try:
        single = train_acoustic_model(demo_model, train, tmp_path / "am.nemo", dev=dev, general=None, epochs=EPOCHS)
    finally:
        torch.set_num_threads(threads)
    report = json.loads(ddp_run[0].with_suffix(".json").read_text())
    assert set(report) == set(single.summary()) | {"history", "pseudo_labels"}
    assert single.world_size == 1 and report["train_utterances"] == single.train_utterances == 8
    assert [h["epoch"] for h in report["history"]] == [h.epoch for h in single.history]
    # The dev check before training is over the whole dev set in both (a split set gives other figures).
    before, single_before = report["history"][0], single.history[0]
    assert before["dev_wer"] == pytest.approx(single_before.dev_wer)
    assert before["dev_loss"] == pytest.approx(single_before.dev_loss, rel=1e-5)
    # The forgetting guard and the dev WER are measured by rank 0 over the whole sets.
    assert report["general_wer_before"] == pytest.approx(single.general_wer_before)
    assert report["dev_wer_before"] == pytest.approx(single.dev_wer_before)
    assert 0 < report["general_wer_after"] < 1 and 0 < report["dev_wer_after"] < 1
    # Both processes' audio is counted: all of it, once per epoch, as in one process.
    assert report["audio_seconds"] == pytest.approx(single.audio_seconds, rel=1e-6)
    assert 0 < report["fit_seconds"] <= report["train_seconds"] and report["throughput"] > 0


@pytest.mark.slow
def test_api_refuses_launches_that_cannot_work_here(data, demo_model, tmp_path, monkeypatch):
    entries = read_manifest(data[0])
    ddp = {"accelerator": "cpu", "devices": 2, "strategy": "ddp"}

    def train(**options):
        return train_acoustic_model(demo_model, entries, tmp_path / "am.nemo", general=None, general_test=None,
                                    **options)

    # A background job (a workspace job, a widget) cannot be run again as a program.
    errors = []

    def job():
        try:
            train(trainer_kwargs=ddp)
        except TrainingError as exc:
            errors.append(str(exc))

    thread = threading.Thread(target=job)
    thread.start()
    thread.join()
    assert len(errors) == 1 and "speechcustom am train" in errors[0] and "--strategy ddp" in errors[0]
    with monkeypatch.context() as m:  # nor can a notebook or an interactive session
        m.setattr(sys, "ps1", ">>> ", raising=False)
        with pytest.raises(TrainingError, match="notebook"):
            train(trainer_kwargs=ddp)
    with pytest.raises(TrainingError, match="ddp_spawn.*cannot reach"):
        train(trainer_kwargs={**ddp, "strategy": "ddp_spawn"})
    with pytest.raises(TrainingError, match="iterations above 1 need one training process, not 2"):
        train(trainer_kwargs=ddp, mode="unsupervised", iterations=2)
    assert not list(tmp_path.iterdir())  # refused before any work


def test_working_folders_of_other_machines_are_left_alone(tmp_path):
    """The processes of a multi-node run may share a drive: a pid is only checked on its own machine."""
    dead_here = tmp_path / f".am.nemo{WORK_MARK}999999999-{_host_tag()}-abc"
    dead_elsewhere = tmp_path / f".am.nemo{WORK_MARK}999999999-{'0' * 8 if _host_tag() != '0' * 8 else '1' * 8}-def"
    for folder in (dead_here, dead_elsewhere):
        (folder / "audio").mkdir(parents=True)
    _remove_stale_work(tmp_path)
    assert not dead_here.exists() and dead_elsewhere.exists()
