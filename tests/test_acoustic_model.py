"""Custom acoustic models, fine-tuned for real (briefly) from the demo model."""

import threading

import pytest

from jupyter_speechcustom import demo, read_manifest
from jupyter_speechcustom.am.acoustic_model import (
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
from jupyter_speechcustom.lm.language_model import build_language_model
from jupyter_speechcustom.services.recognition import Recognizer

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
    entries = read_manifest(demo.manifest("domain/train"))[:12]
    rows = pseudo_label(demo_model, entries, lm=demo_lm, threshold=0.8)
    assert len(rows) == 12 and all(r.text for r in rows)
    assert all(r.kept == (r.confidence >= 0.8) for r in rows)
    assert 0 < sum(r.kept for r in rows) < 12 or len({r.kept for r in rows}) == 1


def test_pseudo_labels_of_prepared_segments_name_the_users_file(tmp_path, demo_model):
    entries = read_manifest(demo.manifest("domain/train"))[:3]
    prepared = prepare_audio(entries, tmp_path / "prepared", demo_model.sample_rate)
    rows = pseudo_label(demo_model, prepared.entries)
    assert [r.source for r in rows] == [e["audio_filepath"] for e in entries]
    assert all(r.audio_filepath.startswith(str(tmp_path / "prepared")) for r in rows)
    assert load_pseudo_labels(save_pseudo_labels(rows, tmp_path / "labels.json")) == rows


def test_every_segment_below_threshold_is_a_clear_error(tmp_path, demo_model, demo_lm):
    entries = read_manifest(demo.manifest("domain/train"))[:6]
    with pytest.raises(TrainingError, match="lower confidence_threshold"):
        train_acoustic_model(demo_model, entries, tmp_path / "am.nemo", mode="lightly-supervised", lm=demo_lm,
                             confidence_threshold=1.0, general_test=None)
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

    with pytest.raises(TrainingCancelled):
        train_acoustic_model(demo_model, train, tmp_path / "am.nemo", epochs=5, batch_size=8, general_test=None,
                             progress=progress, cancel=cancel)
    assert not list(tmp_path.glob("*.nemo")) and not list(tmp_path.glob(".*part"))
