"""Custom acoustic models, fine-tuned for real (briefly) from the demo model."""

import html
import json
import threading
from pathlib import Path

import pytest

from jupyter_speechcustom import demo, read_manifest
from jupyter_speechcustom.am.acoustic_model import (
    PseudoLabel,
    TrainingCancelled,
    TrainingError,
    load_pseudo_labels,
    prepare_audio,
    pseudo_label,
    save_pseudo_labels,
    train_acoustic_model,
)
from jupyter_speechcustom.asr.models import load_base_model
from jupyter_speechcustom.errors import AudioError, BaseModelMismatchError
from jupyter_speechcustom.io.manifest import write_manifest
from jupyter_speechcustom.lm.language_model import build_language_model
from jupyter_speechcustom.services.recognition import Recognizer
from jupyter_speechcustom.services.workspace import Workspace
from jupyter_speechcustom.widgets import AcousticModelPanel

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def supervised(tmp_path_factory, demo_model):
    train = read_manifest(demo.manifest("domain/dev"), require_text=True)
    dev = read_manifest(demo.manifest("domain/test"), require_text=True)[:16]
    out = tmp_path_factory.mktemp("am") / "am.nemo"
    epochs = []
    result = train_acoustic_model(demo_model, train, out, mode="supervised", dev=dev, epochs=3,
                                  learning_rate=1e-3, batch_size=8, general_test=None, on_epoch=epochs.append)
    return result, epochs


def test_short_fine_tuning_lowers_dev_loss(supervised):
    result, epochs = supervised
    assert [e.epoch for e in epochs][0] == 0  # measured before training
    assert epochs[-1].dev_loss < epochs[0].dev_loss
    assert result.dev_wer_after < result.dev_wer_before
    assert result.path.exists() and result.path.with_suffix(".json").exists()
    # The dev check before training is not subtracted from the fit's time (it once made it negative).
    assert 0 < result.fit_seconds <= result.train_seconds and result.throughput > 0
    assert not list(result.path.parent.glob(".*speechcustom-am-*"))  # the working folder went with the run


def test_a_training_that_helps_saves_its_best_epoch_and_is_recommended(supervised):
    result, epochs = supervised
    trained = [e for e in epochs if e.epoch > 0]
    lowest = min(e.dev_wer for e in trained)
    best = next(e for e in trained if e.dev_wer == lowest)  # the first of equals, as ModelCheckpoint keeps
    assert result.best_epoch == result.saved_epoch == best.epoch and result.best_dev_wer == lowest
    assert result.stop_reason == "completed" and result.stop_message == "all 3 epochs done"
    assert result.epochs_planned == 3 and result.patience == 3
    assert result.dev_source == "dev set" and result.dev_utterances == 16
    assert result.recommended == "custom" and "WER on the dev set" in result.recommended_reason
    report = json.loads(result.path.with_suffix(".json").read_text())
    assert report["stop_reason"] == "completed" and report["best_epoch"] == best.epoch
    assert report["recommended"] == "custom"


def _nemo_dev_wer(base, path: Path, dev: list[dict], work: Path, batch_size: int) -> float:
    """The dev WER of a saved model as training measures it (NeMo's validation), to compare with the history."""
    import lightning.pytorch as pl
    from nemo.collections.asr.models import ASRModel
    from omegaconf import OmegaConf

    model = ASRModel.restore_from(str(path), map_location="cpu")
    base.family.prepare_training(model, "cpu")  # the demo is a hybrid TDT-CTC model: the CPU TDT loss
    trainer = pl.Trainer(accelerator="cpu", devices=1, precision=32, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False)
    model.set_trainer(trainer)
    model.setup_multiple_validation_data(OmegaConf.create({
        "manifest_filepath": str(write_manifest(work / "dev.json", dev)), "sample_rate": model.cfg.sample_rate,
        "batch_size": batch_size, "shuffle": False, "use_lhotse": False, "num_workers": 0, "pin_memory": False,
        "trim_silence": False, "max_duration": 21, **base.family.dataset_config(model)}))
    return float(trainer.validate(model, verbose=False)[0]["val_wer"])


def test_a_training_that_hurts_keeps_its_best_epoch_warns_and_recommends_the_base(tmp_path, demo_model):
    """Transcripts that do not match their audio make every epoch worse than the base model (here, as in a
    user's report, dev WER 59.9% -> 64.8% after epoch 1, then ~100%): the Studio's training stops early, saves
    the least bad epoch (not the last), and says the base model is better, in a warning."""
    entries = read_manifest(demo.manifest("domain/test"), require_text=True)[-12:]
    ws = Workspace(tmp_path / "ws")
    for n, entry in enumerate(entries):
        wrong = entries[(n + 1) % len(entries)]["text"]
        path = Path(entry["audio_filepath"])
        ws.add_audio(path, name=path.name, transcript=wrong)
    panel = AcousticModelPanel(ws, demo_model)
    panel.mode = "supervised"
    panel.select_all.click()
    panel.epochs.value = 5
    panel.learning_rate.value = 3e-3
    panel.mix_general.value = False
    assert panel.dev.value == str(demo.manifest("domain/dev"))  # the demo's dev set: the user's dev split
    panel.train_button.click()
    assert panel.job is not None and panel.job.wait(600) == "completed", panel.job.error

    result = panel.job.result
    history = result["history"]
    trained = [h for h in history if h["epoch"] > 0]
    base_wer = history[0]["dev_wer"]
    assert all(h["dev_wer"] >= base_wer for h in trained)
    # Early stopping counts the epochs that do not beat the base model: patience 3, so 3 of 5 epochs.
    assert result["stop_reason"] == "no-improvement" and len(trained) == 3 == result["patience"]
    assert result["stop_message"].startswith("stopped early after epoch 3 of 5: no epoch improved on the base")
    lowest = min(h["dev_wer"] for h in trained)
    best = next(h for h in trained if h["dev_wer"] == lowest)
    assert result["best_epoch"] == result["saved_epoch"] == best["epoch"] < trained[-1]["epoch"]
    assert trained[-1]["dev_wer"] > lowest  # the last epoch was worse: it is not the one saved
    # The saved model is the best epoch's: its dev WER, measured as training measured it, is that epoch's.
    (am,) = ws.acoustic_models()
    dev = read_manifest(demo.manifest("domain/dev"), require_text=True)
    saved_wer = _nemo_dev_wer(demo_model, am.path, dev, tmp_path, batch_size=16)
    assert saved_wer == pytest.approx(lowest, abs=1e-6) and saved_wer != pytest.approx(trained[-1]["dev_wer"])
    # Worse than the base on the dev set and on general speech (the forgetting guard): the base is recommended.
    assert result["dev_wer_after"] >= result["dev_wer_before"]
    assert result["general_wer_after"] > result["general_wer_before"]
    assert result["recommended"] == "base"
    assert result["recommended_reason"].startswith("the base model is better: on the dev set its WER is")
    assert am.status == "available" and am.info["training"]["recommended"] == "base"  # kept, to inspect
    assert am.info["training"]["stop_reason"] == "no-improvement"
    # The Studio says so in a warning, not in green.
    assert "sc-status-warning" in panel.status.value and "sc-status-success" not in panel.status.value
    status = html.unescape(panel.status.value)
    assert "Trained custom-am v1" in status and "the base model is better" in status
    assert "stopped early after epoch 3 of 5" in status
    shown = html.unescape(panel.result.value)
    assert "sc-status-warning" in panel.result.value and "Keep using the base model" in shown
    assert f"epoch {best['epoch']}, the lowest dev WER" in shown and "no epoch improved" in shown


def test_without_a_dev_set_pseudo_labels_are_held_out(tmp_path, demo_model):
    entries = read_manifest(demo.manifest("domain/dev"), require_text=True)[:24]
    labels = [PseudoLabel(e["audio_filepath"], e["text"], 0.9, True, e["duration"]) for e in entries]
    result = train_acoustic_model(demo_model, entries, tmp_path / "am.nemo", mode="unsupervised",
                                  pseudo_labels=labels, epochs=1, batch_size=8, general=None, general_test=None)
    assert result.dev_source == "held-out pseudo-labels" and result.dev_utterances == 2
    assert result.train_utterances == 24 and result.dev_wer_before is not None and result.dev_wer_after is not None
    assert result.best_epoch == result.saved_epoch == 1 and result.stop_message == "its 1 epoch done"
    assert result.recommended in ("custom", "base") and result.recommended_reason


def test_custom_am_is_tied_to_its_base(supervised, demo_model, demo_lm, other_model):
    result, _ = supervised
    am = load_base_model(result.path)
    assert am.tied_base == {"name": "demo", "fingerprint": demo_model.fingerprint}
    assert Recognizer(demo_model, lm=demo_lm, am=am).name == "base + custom LM + custom AM"
    with pytest.raises(BaseModelMismatchError, match="fine-tuned from 'demo'"):
        Recognizer(other_model, am=am)


def test_a_custom_am_of_the_demo_counts_as_the_demo(supervised, demo_model, other_model, tmp_path):
    am = load_base_model(supervised[0].path)
    assert am.profile is demo_model.profile and demo_model.profile.name == "demo" and other_model.profile is None
    # so the demo's general text is there to mix into an LM built for it, as the Studio offers
    lm = build_language_model(am, [demo.corpus_path()], tmp_path / "lm", general_text="base")
    assert lm.general_text == str(demo.general_text_path())


def test_pseudo_labels_are_filtered_by_confidence(demo_model, demo_lm):
    from jupyter_speechcustom.am.acoustic_model import calibrated_threshold

    entries = read_manifest(demo.manifest("domain/train"))[:12]
    rows = pseudo_label(demo_model, entries, lm=demo_lm, threshold=0.8)
    assert len(rows) == 12 and all(r.text for r in rows)
    assert all(r.kept == (r.confidence >= 0.8) for r in rows)
    assert 0 < sum(r.kept for r in rows) < 12 or len({r.kept for r in rows}) == 1
    # By default the bar is calibrated on the confidences of this audio.
    calibrated = pseudo_label(demo_model, entries, lm=demo_lm)
    bar = calibrated_threshold([r.confidence for r in calibrated])
    assert [r.confidence for r in calibrated] == [r.confidence for r in rows]
    assert all(r.kept == (r.confidence >= bar) for r in calibrated)


def test_pseudo_labels_of_prepared_segments_name_the_users_file(tmp_path, demo_model):
    entries = read_manifest(demo.manifest("domain/train"))[:3]
    prepared = prepare_audio(entries, tmp_path / "prepared", demo_model.sample_rate)
    rows = pseudo_label(demo_model, prepared.entries)
    assert [r.source for r in rows] == [e["audio_filepath"] for e in entries]
    assert all(r.audio_filepath.startswith(str(tmp_path / "prepared")) for r in rows)
    assert load_pseudo_labels(save_pseudo_labels(rows, tmp_path / "labels.json")) == rows


def test_every_segment_below_threshold_is_a_clear_error(tmp_path, demo_model, demo_lm):
    import dataclasses

    entries = read_manifest(demo.manifest("domain/train"))[:6]
    # Labels as a domain the model hears badly gets them: every one unsure, none kept.
    unsure = [dataclasses.replace(r, confidence=min(r.confidence, 0.5), kept=False)
              for r in pseudo_label(demo_model, entries, lm=demo_lm)]
    with pytest.raises(TrainingError, match="below the confidence threshold 0.9 .*lower confidence_threshold"):
        train_acoustic_model(demo_model, entries, tmp_path / "am.nemo", mode="lightly-supervised", lm=demo_lm,
                             pseudo_labels=unsure, confidence_threshold=0.9, general_test=None)
    assert not (tmp_path / "am.nemo").exists()


def test_no_usable_audio(tmp_path, demo_model):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF" + bytes(100))
    with pytest.raises(AudioError, match="no usable training audio"):
        train_acoustic_model(demo_model, [{"audio_filepath": str(bad), "text": "hello"}], tmp_path / "am.nemo",
                             general_test=None)


def test_lm_of_another_base_is_refused(tmp_path, other_model, demo_lm):
    entries = read_manifest(demo.manifest("domain/train"))[:4]
    with pytest.raises(BaseModelMismatchError):
        train_acoustic_model(other_model, entries, tmp_path / "am.nemo", mode="lightly-supervised", lm=demo_lm)


def test_lightly_supervised_needs_an_lm(tmp_path, demo_model):
    with pytest.raises(TrainingError, match="custom language model"):
        train_acoustic_model(demo_model, [], tmp_path / "am.nemo", mode="lightly-supervised")


def test_cancel_saves_nothing(tmp_path, demo_model):
    train = read_manifest(demo.manifest("domain/dev"), require_text=True)
    cancel = threading.Event()

    def progress(fraction, message):
        if "step" in message:
            cancel.set()

    with pytest.raises(TrainingCancelled, match="cancelled in epoch 1 of 5; no model was saved"):
        train_acoustic_model(demo_model, train, tmp_path / "am.nemo", epochs=5, batch_size=8, general_test=None,
                             progress=progress, cancel=cancel)
    assert not list(tmp_path.glob("*.nemo")) and not list(tmp_path.glob(".*part"))
