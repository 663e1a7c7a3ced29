"""Why a fine-tuning stopped, which epoch it saved and which model it recommends: the rules, on real
records (no training here; tests/test_acoustic_model.py trains the demo model for real)."""

import math
from pathlib import Path

import pytest

from jupyter_speechcustom.am.outcome import (
    FORGETTING_TOLERANCE,
    STOP_REASONS,
    EpochRecord,
    TrainingResult,
    _recommend,
    _stop,
)
from jupyter_speechcustom.evaluation import diffview
from jupyter_speechcustom.widgets.acoustic_model import outcome_html


def history(*wers: float) -> list[EpochRecord]:
    """Epoch 0 (the base model's dev WER, before training) then one record per epoch."""
    return [EpochRecord(n, 3 * n, None if n == 0 else 1.0 / (n + 1), wer, 2.0) for n, wer in enumerate(wers)]


def test_all_epochs_done():
    stop = _stop(history(0.5, 0.4, 0.3, 0.35), 3, best_epoch=2, patience=3, patience_ran_out=False)
    assert stop["stop_reason"] == "completed" and stop["stop_message"] == "all 3 epochs done"
    assert stop["best_epoch"] == stop["saved_epoch"] == 2 and stop["best_dev_wer"] == 0.3
    assert _stop(history(0.5, 0.4), 1, 1, 3, False)["stop_message"] == "its 1 epoch done"


def test_early_stopping_names_the_best_epoch_and_the_patience():
    stop = _stop(history(0.6, 0.5, 0.52, 0.55), 10, best_epoch=1, patience=2, patience_ran_out=True)
    assert stop["stop_reason"] == "early-stopping" and stop["saved_epoch"] == 1
    assert stop["stop_message"] == ("stopped early after epoch 3 of 10: the dev WER had not improved on epoch 1's "
                                    "(50.0%) for 2 epochs (early stopping, patience 2)")


def test_no_epoch_better_than_the_base_is_no_improvement():
    # The user's report: dev WER 59.9% before, every epoch worse, stopped after 4 of 10 epochs.
    stop = _stop(history(0.599, 0.62, 0.644, 0.65, 0.66), 10, best_epoch=1, patience=4, patience_ran_out=True)
    assert stop["stop_reason"] == "no-improvement" and stop["saved_epoch"] == 1 and stop["best_dev_wer"] == 0.62
    assert stop["stop_message"] == ("stopped early after epoch 4 of 10: no epoch improved on the base model's dev "
                                    "WER (59.9%) (early stopping, patience 4)")


def test_a_diverged_training_and_a_trainer_limit():
    stop = _stop(history(0.5, 0.6, math.nan), 10, best_epoch=1, patience=3, patience_ran_out=False)
    assert stop["stop_reason"] == "diverged" and "lower the learning rate" in stop["stop_message"]
    stop = _stop(history(0.5, 0.4), 10, best_epoch=1, patience=3, patience_ran_out=False)  # e.g. max_time
    assert stop["stop_reason"] == "stopped" and "trainer_kwargs" in stop["stop_message"]
    assert {"completed", "early-stopping", "no-improvement", "diverged", "stopped"} == set(STOP_REASONS)


def test_without_a_dev_set_the_last_epoch_is_saved():
    records = [EpochRecord(n, n, 1.0, None, None) for n in (1, 2, 3)]
    stop = _stop(records, 3, best_epoch=None, patience=0, patience_ran_out=False)
    assert stop["stop_reason"] == "completed" and stop["best_epoch"] is None and stop["saved_epoch"] == 3


def result(**figures) -> TrainingResult:
    return TrainingResult(Path("am.nemo"), "supervised", {"name": "demo"}, 10, 0, dev_source="dev set", **figures)


def test_worse_on_the_dev_set_recommends_the_base():
    r = result(dev_wer_before=0.599, dev_wer_after=0.644)
    _recommend(r)
    assert r.recommended == "base"
    assert r.recommended_reason.startswith("the base model is better: on the dev set its WER is 64.4%, the base "
                                           "model's 59.9%")
    assert r.recommended_reason.endswith("The custom model is saved so you can inspect it")
    same = result(dev_wer_before=0.5, dev_wer_after=0.5)  # no better is not worth switching to
    _recommend(same)
    assert same.recommended == "base"


def test_forgetting_recommends_the_base_even_when_the_domain_improved():
    r = result(dev_wer_before=0.599, dev_wer_after=0.30, general_wer_before=0.394, general_wer_after=0.456)
    _recommend(r)
    assert r.recommended == "base" and "forgets general speech" in r.recommended_reason
    assert "39.4% -> 45.6% (16% worse)" in r.recommended_reason and "on the dev set" not in r.recommended_reason


def test_a_little_forgetting_with_a_domain_gain_recommends_the_custom_model():
    after = 0.40 * (1 + FORGETTING_TOLERANCE) - 0.001
    r = result(dev_wer_before=0.599, dev_wer_after=0.30, general_wer_before=0.40, general_wer_after=after)
    _recommend(r)
    assert r.recommended == "custom"
    assert r.recommended_reason == ("WER on the dev set 59.9% -> 30.0%; general speech WER 40.0% -> 43.9%, within "
                                    "the forgetting guard's 10%")
    zero = result(general_wer_before=0.0, general_wer_after=0.05)  # from no errors to some: worse, however relative
    _recommend(zero)
    assert zero.recommended == "base"
    unchecked = result()
    _recommend(unchecked)
    assert unchecked.recommended == "custom" and unchecked.recommended_reason.startswith("not checked")


def test_pseudo_label_dev_sets_are_named_as_such():
    r = result(dev_wer_before=0.3, dev_wer_after=0.2)
    r.dev_source = "held-out pseudo-labels"
    _recommend(r)
    assert "held-out pseudo-labelled audio (against its pseudo-labels)" in r.recommended_reason


@pytest.mark.parametrize("recommended", ["base", "custom"])
def test_the_studio_shows_the_outcome(recommended):
    r = result(dev_wer_before=0.599, dev_wer_after=0.644 if recommended == "base" else 0.3,
               history=history(0.599, 0.62, 0.644), epochs_planned=10, dev_utterances=16,
               **_stop(history(0.599, 0.62, 0.644), 10, 1, 2, True))
    _recommend(r)
    summary = r.summary()
    shown = outcome_html(summary)
    if recommended == "base":
        assert "sc-status-warning" in shown and "Keep using the base model. The base model is better" in shown
    else:
        assert "sc-status" not in shown and "Recommended: this custom model" in shown
    assert "stopped early after epoch 2 of 10" in shown and "epoch 1, the lowest dev WER (62.0%)" in shown
    assert "the dev set (16 utterances)" in shown
    assert "sc-status-success" not in shown


def test_the_studio_says_when_there_was_no_dev_set():
    r = result(history=[EpochRecord(1, 1, 1.0, None, None)], **_stop([EpochRecord(1, 1, 1.0, None, None)], 1, None,
                                                                      0, False))
    r.dev_source = None
    shown = outcome_html(r.summary())
    assert "epoch 1, the last (no dev set to choose the best one on)" in shown and "10% can be held out" in shown


def test_a_warning_is_a_status_kind():
    assert 'class="sc-root sc-status sc-status-warning"' in diffview.status_html("worse than the base", "warning")
    assert ".sc-status-warning" in diffview.CSS
