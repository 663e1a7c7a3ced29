"""What a fine-tuning produced: its per-epoch history, why it stopped, which epoch was saved, and
whether the custom model or the base model is recommended (the dev set and the forgetting guard).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jupyter_speechcustom.errors import SpeechCustomError
from jupyter_speechcustom.io.files import atomic_write
from jupyter_speechcustom.io.manifest import audio_source
from jupyter_speechcustom.jobs.progress import JobCancelled

if TYPE_CHECKING:
    from jupyter_speechcustom.asr.models import BaseModel

from jupyter_speechcustom.am.pseudo_labels import PseudoLabel


class TrainingError(SpeechCustomError, RuntimeError):
    """Fine-tuning cannot start or did not finish."""


class TrainingCancelled(TrainingError, JobCancelled):
    """The user cancelled the training; nothing was saved."""


@dataclass
class EpochRecord:
    epoch: int
    step: int
    train_loss: float | None
    dev_wer: float | None
    dev_loss: float | None


#: Why a fine-tuning stopped (``TrainingResult.stop_reason``); a cancelled one raises :class:`TrainingCancelled`.
STOP_REASONS: tuple[str, ...] = ("completed", "early-stopping", "no-improvement", "diverged", "stopped")

#: Where the dev WER that picks the saved epoch comes from (``TrainingResult.dev_source``).
DEV_SOURCES: tuple[str, ...] = ("dev set", "held-out transcripts", "held-out pseudo-labels")

#: Without a dev set, this many training utterances or more lend :data:`HOLD_OUT_SHARE` of themselves as one.
HOLD_OUT_MIN_UTTERANCES = 20
HOLD_OUT_SHARE = 0.1

#: General-speech WER may rise this much (relative) before the base model is recommended instead: the
#: forgetting guard's tolerance (a few points' rise is the usual price of a domain's large gain).
FORGETTING_TOLERANCE = 0.10


@dataclass
class TrainingResult:
    """What a fine-tuning produced: the saved epoch, why training stopped, the forgetting guard's
    figures, and which model to use (``recommended``: ``"custom"``, or ``"base"`` when the custom
    model is no better on the dev set or forgets general speech; it is saved either way)."""

    path: Path
    mode: str
    base_model: dict[str, str]
    train_utterances: int
    general_utterances: int
    history: list[EpochRecord] = field(default_factory=list)
    pseudo_labels: list[PseudoLabel] = field(default_factory=list)
    dev_wer_before: float | None = None
    dev_wer_after: float | None = None
    general_wer_before: float | None = None
    general_wer_after: float | None = None
    audio_seconds: float = 0.0
    fit_seconds: float = 0.0
    train_seconds: float = 0.0
    world_size: int = 1  # training processes (devices x nodes)
    global_rank: int = 0  # this process's rank; only rank 0 writes the model and its report
    epochs_planned: int = 0
    saved_epoch: int = 0  # the epoch whose weights were saved: the best one by dev WER, else the last
    best_epoch: int | None = None  # the epoch with the lowest dev WER (None without a dev set)
    best_dev_wer: float | None = None  # its dev WER, as training measured it (the history's)
    dev_source: str | None = None  # one of DEV_SOURCES, None without a dev set
    dev_utterances: int = 0
    patience: int = 0  # early stopping's patience in epochs (0: off)
    stop_reason: str = "completed"  # one of STOP_REASONS
    stop_message: str = ""
    recommended: str = "custom"  # "custom" or "base"
    recommended_reason: str = ""

    @property
    def throughput(self) -> float:
        """Audio seconds trained per wall-clock second of fitting."""
        return self.audio_seconds / self.fit_seconds if self.fit_seconds else 0.0

    @property
    def general_wer_change(self) -> float | None:
        """Relative change of general-set WER (forgetting): +0.05 means 5% worse."""
        if self.general_wer_before is None or self.general_wer_after is None or not self.general_wer_before:
            return None
        return self.general_wer_after / self.general_wer_before - 1

    def summary(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k not in ("history", "pseudo_labels", "global_rank")}
        out["path"] = str(self.path)
        out["general_wer_change"] = self.general_wer_change
        out["throughput"] = self.throughput
        out["epochs"] = sum(1 for h in self.history if h.epoch > 0)
        return out


def _greedy_wer(model: BaseModel, entries: Sequence[dict[str, Any]]) -> float:
    from jupyter_speechcustom.asr.recognize import acoustic_outputs, greedy_decode
    from jupyter_speechcustom.evaluation.metrics import evaluate

    outputs = acoustic_outputs(model, [audio_source(e) for e in entries])
    return evaluate([str(e["text"]) for e in entries], greedy_decode(model, outputs)).wer


_DEV_WORDS = {"dev set": "the dev set", "held-out transcripts": "held-out transcribed audio",
              "held-out pseudo-labels": "held-out pseudo-labelled audio (against its pseudo-labels)"}


def _recommend(result: TrainingResult) -> None:
    """Recommend the base model when the saved epoch is no better on the dev set, or forgets general speech."""
    problems, notes = [], []
    before, after = result.dev_wer_before, result.dev_wer_after
    where = _DEV_WORDS.get(str(result.dev_source), "the dev set")
    if before is not None and after is not None:
        if after >= before:
            problems.append(f"on {where} its WER is {after:.1%}, the base model's {before:.1%}: lower the learning "
                            "rate, train fewer epochs or check the labels")
        else:
            notes.append(f"WER on {where} {before:.1%} -> {after:.1%}")
    general_before, general_after = result.general_wer_before, result.general_wer_after
    if general_before is not None and general_after is not None:
        change = result.general_wer_change
        shown = f"general speech WER {general_before:.1%} -> {general_after:.1%}"
        if general_after > general_before and (change is None or change > FORGETTING_TOLERANCE):
            worse = f" ({change:.0%} worse)" if change is not None else ""
            problems.append(f"it forgets general speech: {shown}{worse}, more than the "
                            f"{FORGETTING_TOLERANCE:.0%} the forgetting guard allows: train with general speech "
                            "mixed in (the Studio's \"mix in general speech\"; more of it with general_ratio=) or "
                            "fewer epochs")
        else:
            notes.append(f"{shown}, within the forgetting guard's {FORGETTING_TOLERANCE:.0%}")
    if problems:
        result.recommended = "base"
        result.recommended_reason = ("the base model is better: " + "; ".join(problems)
                                     + ". The custom model is saved so you can inspect it")
    else:
        result.recommended = "custom"
        result.recommended_reason = "; ".join(notes) or "not checked: no dev set and no general test set"


def _write_report(result: TrainingResult) -> None:
    """Keep the training's figures beside the model (``<name>.json``)."""
    summary = result.summary()
    summary["history"] = [asdict(h) for h in result.history]
    summary["pseudo_labels"] = [asdict(r) for r in result.pseudo_labels]
    atomic_write(result.path.with_suffix(".json"), json.dumps(summary, indent=2))


def _stop(history: list[EpochRecord], epochs: int, best_epoch: int | None, patience: int,
          patience_ran_out: bool) -> dict[str, Any]:
    """Why training stopped and which epoch is saved, as :class:`TrainingResult` fields."""
    trained = [h for h in history if h.epoch > 0]
    ran = len(trained)
    base_wer = history[0].dev_wer if history and history[0].epoch == 0 else None
    best_wer = next((h.dev_wer for h in trained if h.epoch == best_epoch), None)
    last_wer = trained[-1].dev_wer if trained else None
    after = f"stopped early after epoch {ran} of {epochs}"
    if ran >= epochs:
        reason, message = "completed", f"all {epochs} epochs done" if epochs != 1 else "its 1 epoch done"
    elif last_wer is not None and not math.isfinite(last_wer):
        reason = "diverged"
        message = f"{after}: the dev WER was not a number (the training diverged): lower the learning rate"
    elif patience_ran_out and base_wer is not None and (best_wer is None or best_wer >= base_wer):
        reason = "no-improvement"
        message = (f"{after}: no epoch improved on the base model's dev WER ({base_wer:.1%}) "
                   f"(early stopping, patience {patience})")
    elif patience_ran_out:
        shown = f" ({best_wer:.1%})" if best_wer is not None else ""
        reason = "early-stopping"
        message = (f"{after}: the dev WER had not improved on epoch {best_epoch}'s{shown} for {patience} "
                   f"epoch{'s' if patience != 1 else ''} (early stopping, patience {patience})")
    else:
        reason, message = "stopped", f"stopped after epoch {ran} of {epochs} by a limit of the trainer (trainer_kwargs)"
    return {"stop_reason": reason, "stop_message": message, "patience": patience, "best_epoch": best_epoch,
            "best_dev_wer": best_wer, "saved_epoch": best_epoch or ran}

