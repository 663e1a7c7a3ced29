"""Custom acoustic models: fine-tuning a base model on the user's audio.

Three modes, as in IBM's customization service (where lightly supervised training is
now gone):

- ``supervised``: audio with transcripts;
- ``lightly-supervised``: untranscribed audio, pseudo-labelled by decoding with a custom
  LM (and custom words); confident utterances are kept;
- ``unsupervised``: pseudo-labels from the base model alone (greedy).

Pseudo-labels form a reviewable :class:`PseudoLabel` table that can be edited before
training. Training is NeMo's own (``setup_training_data`` … ``Trainer.fit``) through
PyTorch Lightning, so GPUs and multi-node setups work through ``trainer_kwargs``.
The result is a ``.nemo`` whose config records its base model: the weights of the epoch with
the lowest dev WER (Lightning's ``ModelCheckpoint``), never silently a worse last epoch; the
:class:`TrainingResult` says why training stopped and whether the base model is better.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import numbers
import os
import random
import shutil
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from jupyter_speechcustom.constants import (
    CONFIDENCE_FLOOR,
    CONFIDENCE_KEEP_SHARE,
    CONFIDENCE_THRESHOLD,
    CUSTOM_AM_KEY,
    FINETUNE_BATCH_SIZE,
    FINETUNE_EPOCHS,
    FINETUNE_LR,
    GENERAL_MIX_RATIO,
    MAX_TRAIN_SECONDS,
    MIN_TRAIN_SECONDS,
)
from jupyter_speechcustom.errors import AudioError, InvalidOptionError, SpeechCustomError, check_list
from jupyter_speechcustom.evaluation.diffview import confidence_text
from jupyter_speechcustom.io.audio import level_warnings, load_audio, split_on_pauses
from jupyter_speechcustom.io.files import atomic_path, atomic_write, check_output_path
from jupyter_speechcustom.io.manifest import audio_source, read_manifest, write_manifest
from jupyter_speechcustom.jobs.progress import JobCancelled, ProgressCallback, no_progress, scaled

if TYPE_CHECKING:
    from jupyter_speechcustom.asr.decoding import DecodingWeights
    from jupyter_speechcustom.asr.models import BaseModel
    from jupyter_speechcustom.lm.language_model import CustomLanguageModel
    from jupyter_speechcustom.text.words import CustomWord

log = logging.getLogger(__name__)

Mode = Literal["supervised", "lightly-supervised", "unsupervised"]
MODES: tuple[str, ...] = ("supervised", "lightly-supervised", "unsupervised")
Progress = ProgressCallback


class TrainingError(SpeechCustomError, RuntimeError):
    """Fine-tuning cannot start or did not finish."""


class TrainingCancelled(TrainingError, JobCancelled):
    """The user cancelled the training; nothing was saved."""


@dataclass(frozen=True)
class PreparedAudio:
    """Training audio converted to the model's rate (16-bit mono WAV), with any problems found."""

    entries: tuple[dict[str, Any], ...]
    skipped: tuple[tuple[str, str], ...] = ()
    warnings: tuple[tuple[str, str], ...] = ()


def prepare_audio(
    entries: Sequence[dict[str, Any]], out_dir: Path, sample_rate: int, *, max_seconds: float = MAX_TRAIN_SECONDS
) -> PreparedAudio:
    """Decode, check, resample and (when long) split training audio into ``out_dir``.

    Undecodable and too-short files are skipped with a reason, never fatal one by one;
    :class:`AudioError` is raised only when no usable audio is left.
    """
    import soundfile as sf

    out_dir.mkdir(parents=True, exist_ok=True)
    prepared, skipped, warnings = [], [], []
    for n, entry in enumerate(entries):
        source = str(entry["audio_filepath"])
        try:
            audio = load_audio(audio_source(entry), sample_rate)
        except AudioError as exc:
            skipped.append((source, str(exc)))
            continue
        for warning in level_warnings(audio, sample_rate):
            warnings.append((source, warning))
        segments = split_on_pauses(audio, sample_rate, max_seconds)
        if len(segments) > 1 and entry.get("text"):
            # A transcript cannot be split without an alignment: keep such files whole if short enough.
            skipped.append((source, f"longer than {max_seconds:.0f} s with a transcript: split it into sentences"))
            continue
        for k, segment in enumerate(segments):
            if len(segment) < MIN_TRAIN_SECONDS * sample_rate:
                skipped.append((source, f"shorter than {MIN_TRAIN_SECONDS} s"))
                continue
            path = out_dir / f"{n:05d}-{k:03d}.wav"
            sf.write(path, segment, sample_rate, subtype="PCM_16")
            item = {"audio_filepath": str(path), "duration": round(len(segment) / sample_rate, 3), "source": source}
            if entry.get("text") is not None:
                item["text"] = entry["text"]
            prepared.append(item)
    if not prepared:
        reasons = "; ".join(f"{Path(s).name}: {r}" for s, r in skipped[:5])
        msg = f"no usable training audio among {len(entries)} files ({reasons}). Add decodable speech of 0.5-20 s."
        raise AudioError(msg)
    return PreparedAudio(tuple(prepared), tuple(skipped), tuple(warnings))


@dataclass
class PseudoLabel:
    """One row of the reviewable pseudo-label table; edit ``text`` or ``kept`` before training."""

    audio_filepath: str
    text: str
    confidence: float
    kept: bool
    duration: float = 0.0
    source: str = ""  # the file the audio came from, when audio_filepath is a prepared segment of it

    def __post_init__(self) -> None:
        # Rows often come back from pandas or numpy: keep plain Python types (widgets insist).
        self.kept = bool(self.kept)
        self.confidence = float(self.confidence)
        self.duration = float(self.duration)
        self.text = str(self.text)
        self.source = str(self.source or self.audio_filepath)

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> PseudoLabel:
        """A row from JSON, a job's parameters or a DataFrame record (unknown keys are ignored)."""
        return cls(**{f.name: row[f.name] for f in fields(cls) if f.name in row})

    def to_entry(self) -> dict[str, Any]:
        return {"audio_filepath": self.audio_filepath, "duration": self.duration, "text": self.text}


def utterance_confidence(words: Sequence[dict[str, Any]]) -> float:
    """The mean of a transcript's word confidences (0 when empty): the acoustic posterior, what
    :func:`pseudo_label` scores when it decodes without a custom LM or boosting."""
    values = [w["confidence"] for w in words if w.get("confidence") is not None]
    return float(np.mean(values)) if values else 0.0


def calibrated_threshold(confidences: Sequence[float]) -> float:
    """The confidence bar for labels of one audio set: :data:`CONFIDENCE_THRESHOLD`, lowered to keep
    the most confident :data:`CONFIDENCE_KEEP_SHARE` of them, never below :data:`CONFIDENCE_FLOOR`.
    On a domain the model hears well, most labels clear the fixed bar; on a new one, few do, and a
    handful of labels teaches the acoustic model nothing."""
    if not len(confidences):
        return CONFIDENCE_THRESHOLD
    top = float(np.quantile(np.asarray(confidences, dtype=float), 1.0 - CONFIDENCE_KEEP_SHARE))
    return round(min(CONFIDENCE_THRESHOLD, max(CONFIDENCE_FLOOR, top)), 4)


def pseudo_label(
    model: BaseModel,
    entries: Sequence[dict[str, Any]],
    *,
    lm: CustomLanguageModel | None = None,
    words: Sequence[CustomWord] | None = None,
    weights: DecodingWeights | None = None,
    threshold: float | None = None,
    progress: Progress | None = None,
) -> list[PseudoLabel]:
    """Transcribe untranscribed audio and score each transcript's confidence.

    With ``lm`` this is the labelling step of lightly supervised training; without it,
    of unsupervised training. Rows at or above ``threshold`` are marked kept (None: the bar
    :func:`calibrated_threshold` sets on these confidences). The confidence
    is :func:`~jupyter_speechcustom.asr.confidence.utterance_confidences`: the share of the
    label's words that survive decoding again with the acoustic model weighed less against the
    LM (1 without one), times the square root of the words' mean posterior over the model's
    median word posterior on these entries (capped at 1), so one threshold suits every model.
    Words keep their own confidences.
    """
    from jupyter_speechcustom.asr.confidence import utterance_confidences
    from jupyter_speechcustom.asr.decoding import Decoder
    from jupyter_speechcustom.asr.recognize import acoustic_outputs

    check_list(entries, "entries", "manifest entries", fix="read a manifest with read_manifest({})")
    paths = [str(e["audio_filepath"]) for e in entries]
    report = progress or no_progress
    outputs = acoustic_outputs(model, paths, progress=scaled(report, 0.0, 0.5))
    report(0.5, "decoding" + (" with the custom language model" if lm else ""))
    decoder = Decoder(model, lm, words=words, weights=weights)
    transcripts = decoder.decode(outputs)
    report(0.8, "scoring confidence")
    confidences = [round(v, 4) for v in utterance_confidences(decoder, outputs, transcripts)]  # as the table shows
    bar = calibrated_threshold([c for c, t in zip(confidences, transcripts) if t.text]) if threshold is None \
        else threshold
    rows = []
    for entry, out, t, confidence in zip(entries, outputs, transcripts, confidences):
        duration = float(entry.get("duration") or out.duration)
        rows.append(PseudoLabel(str(entry["audio_filepath"]), t.text, confidence,
                                bool(t.text) and confidence >= bar, duration, str(entry.get("source") or "")))
    how = " (calibrated on this audio)" if threshold is None else ""
    report(1.0, f"{sum(r.kept for r in rows)} of {len(rows)} utterances kept, confidence {bar:g} or more{how}")
    return rows


def save_pseudo_labels(rows: Sequence[PseudoLabel], path: str | Path) -> Path:
    return write_manifest(path, [asdict(r) for r in rows])


def load_pseudo_labels(path: str | Path) -> list[PseudoLabel]:
    return [PseudoLabel.from_dict(e) for e in read_manifest(path)]


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


def _general_entries(base: BaseModel, choice: str | Path | None, which: str) -> list[dict[str, Any]]:
    """Transcribed general speech: a manifest, none, or ``"auto"``: the base model's profile's
    ``which`` set (``general_speech`` or ``general_test``), none when it has no such set."""
    if choice is None:
        return []
    if str(choice) == "auto":
        manifest = getattr(base.profile, which, None)
        return read_manifest(manifest, require_text=True) if manifest is not None else []
    return read_manifest(choice, require_text=True)


class _Monitor:
    """A Lightning callback: progress, per-epoch history, cancellation (reported by rank 0 of a multi-process run)."""

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        import lightning.pytorch as pl

        class Monitor(pl.Callback):
            def __init__(self, total_steps: int, report: Progress, cancel: threading.Event | None,
                         history: list[EpochRecord], on_epoch: Callable[[EpochRecord], None] | None,
                         world_size: int = 1) -> None:
                self.world_size = world_size
                self.total_steps = max(total_steps, 1)
                self.report = report
                self.cancel = cancel
                self.history = history
                self.on_epoch = on_epoch
                self.cancelled = False
                self.cancelled_epoch = 0
                self.audio_seconds = 0.0
                self.validation_seconds = 0.0
                self._validation_start = 0.0

            def on_validation_start(self, trainer, module):
                self._validation_start = time.perf_counter()

            def on_validation_end(self, trainer, module):
                self.validation_seconds += time.perf_counter() - self._validation_start

            def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
                loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
                value = float(loss) if loss is not None else float("nan")
                signal_len = batch[1] if isinstance(batch, (list, tuple)) and len(batch) > 1 else None
                if signal_len is not None:
                    self.audio_seconds += float(signal_len.sum()) / module.cfg.sample_rate
                step = trainer.global_step
                if trainer.is_global_zero:
                    self.report(0.1 + 0.8 * min(step / self.total_steps, 1.0),
                                f"epoch {trainer.current_epoch + 1}, step {step}/{self.total_steps}, loss {value:.3f}")
                cancelled = self.cancel is not None and self.cancel.is_set()
                if self.world_size > 1:  # all processes stop together, or the others would wait for this one
                    cancelled = trainer.strategy.reduce_boolean_decision(cancelled, all=False)
                if cancelled and not self.cancelled:
                    self.cancelled = True
                    self.cancelled_epoch = trainer.current_epoch + 1
                if self.cancelled:
                    trainer.should_stop = True

            def on_train_epoch_end(self, trainer, module):
                if self.cancelled:  # an epoch cut short: not an epoch of the history
                    return
                # Runs after the epoch's validation, so its val_wer is in callback_metrics.
                metrics = trainer.callback_metrics

                def get(name: str) -> float | None:
                    value = metrics.get(name)
                    return float(value) if value is not None else None

                record = EpochRecord(trainer.current_epoch + 1, trainer.global_step,
                                     get("train_loss"), get("val_wer"), get("val_loss"))
                self.history.append(record)
                if self.on_epoch and trainer.is_global_zero:
                    self.on_epoch(record)

        return Monitor(*args, **kwargs)


#: Marks the working folders of training runs (``.<output name>.speechcustom-am-<pid>-<host>-<random>``).
WORK_MARK = ".speechcustom-am-"


def _host_tag() -> str:
    """This machine, in working folders' names: the processes of a multi-node run may share a drive."""
    return hashlib.sha1(socket.gethostname().encode()).hexdigest()[:8]


def _remove_stale_work(folder: Path) -> None:
    """Remove working folders that runs killed before they could clean up left in ``folder``."""
    if not folder.is_dir():
        return
    for path in folder.glob(f".*{WORK_MARK}*"):
        pid, *rest = path.name.rpartition(WORK_MARK)[2].split("-")
        elsewhere = len(rest) > 1 and rest[0] != _host_tag()  # another machine's process: cannot be checked
        if elsewhere or not pid.isdigit() or not path.is_dir() or path.is_symlink() or _alive(int(pid)):
            continue
        shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def check_training_options(
    *,
    epochs: int = FINETUNE_EPOCHS,
    learning_rate: float = FINETUNE_LR,
    confidence_threshold: float | None = None,
    iterations: int = 1,
    batch_size: int = FINETUNE_BATCH_SIZE,
    general_ratio: float = GENERAL_MIX_RATIO,
) -> None:
    """Refuse impossible training options before any work (:class:`InvalidOptionError`)."""

    def whole(name: str, value: Any, advice: str) -> None:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise InvalidOptionError(f"{name} must be a whole number, 1 or more ({advice}), got {value!r}")

    def real(value: Any) -> bool:
        return not isinstance(value, bool) and isinstance(value, numbers.Real) and math.isfinite(value)

    whole("epochs", epochs, "0 epochs would save the base model untrained as a custom one")
    whole("iterations", iterations, "rounds of pseudo-labelling and training")
    whole("batch_size", batch_size, "utterances per training step")
    if not real(learning_rate) or not 0 < learning_rate <= 1:
        raise InvalidOptionError(f"learning_rate must be a number above 0 and at most 1, e.g. 5e-4, got {learning_rate!r}")
    if confidence_threshold is not None and (not real(confidence_threshold) or not 0 <= confidence_threshold <= 1):
        msg = f"confidence_threshold must be a number from 0 to 1 (confidences are 0-1), got {confidence_threshold!r}"
        raise InvalidOptionError(msg)
    if not real(general_ratio) or general_ratio < 0:
        raise InvalidOptionError(f"general_ratio must be a number, 0 or more, got {general_ratio!r}")


#: Set by rank 0 of a ``ddp`` run for the processes Lightning starts: the folder holding its training data.
RANK0_WORK_ENV = "SPEECHCUSTOM_AM_RANK0_WORK"


def _rerun_advice(strategy: str) -> str:
    return (f"strategy {strategy!r} starts its other training processes by running this program again, which a "
            "notebook, an interactive session or a background job cannot do: run `speechcustom am train ... "
            "--devices N --strategy ddp` from a terminal (in a notebook, a `!speechcustom am train ...` cell), "
            "or call train_acoustic_model from a script")


def _rerunnable() -> bool:
    """Whether Lightning's ``ddp`` can start this program again to make the other processes."""
    main = sys.modules.get("__main__")
    script = getattr(main, "__file__", None) is not None or getattr(main, "__spec__", None) is not None
    interactive = hasattr(sys, "ps1") or bool(sys.flags.interactive)
    return script and not interactive and threading.current_thread() is threading.main_thread()


def _check_launch(trainer_kwargs: dict[str, Any], iterations: int) -> int:
    """Refuse Lightning options that cannot train here, before any work; the number of training processes."""
    import lightning.pytorch as pl
    from lightning.fabric.utilities.exceptions import MisconfigurationException
    from lightning.pytorch.strategies.launchers import _MultiProcessingLauncher, _SubprocessScriptLauncher

    args = {"accelerator": "cpu", "devices": 1, "logger": False, "enable_checkpointing": False,
            "enable_progress_bar": False, "enable_model_summary": False, **trainer_kwargs}
    strategy = str(trainer_kwargs.get("strategy", "auto"))
    devices_log = logging.getLogger("lightning.pytorch.utilities.rank_zero")  # "GPU available: ..." once, in the fit
    devices_log.addFilter(_hide)
    try:
        trainer = pl.Trainer(**args)  # builds the accelerator and strategy only: nothing starts yet
    except MisconfigurationException as exc:
        if "interactive" in str(exc):
            raise TrainingError(_rerun_advice(strategy)) from None
        raise TrainingError(f"Lightning cannot train with {trainer_kwargs}: {exc}") from None
    finally:
        devices_log.removeFilter(_hide)
    launcher = trainer.strategy.launcher
    if isinstance(launcher, _MultiProcessingLauncher):
        # Its processes are copies of this one: progress, cancel and the epoch history would stay in them.
        raise TrainingError(f"strategy {strategy!r} trains in copies of this process that progress, cancellation "
                            "and the per-epoch history cannot reach: use strategy 'ddp' (speechcustom am train "
                            "--strategy ddp, or a script) instead")
    if (isinstance(launcher, _SubprocessScriptLauncher) and launcher.num_processes > 1
            and not launcher.cluster_environment.creates_processes_externally and not _rerunnable()):
        raise TrainingError(_rerun_advice(strategy))
    world_size = int(trainer.num_devices * trainer.num_nodes)
    if world_size > 1 and iterations > 1:
        raise TrainingError(f"iterations above 1 need one training process, not {world_size}: train one round per "
                            "run, passing the previous custom acoustic model as the base model")
    return world_size


def _hide(record: logging.LogRecord) -> bool:
    return False


_joined: set[str] = set()


def _joined_work() -> Path | None:
    """Rank 0's working folder when Lightning started this process to join its ``ddp`` run, else None.

    Only for the run that started it: a program that trains again runs again in step in every
    process (Lightning's contract), each preparing its own data, as on several nodes.
    """
    shared = os.environ.get(RANK0_WORK_ENV)
    if shared and os.environ.get("LOCAL_RANK", "0") != "0" and shared not in _joined:
        _joined.add(shared)
        return Path(shared)
    return None


def train_acoustic_model(
    base: BaseModel,
    audio: str | Path | Sequence[dict[str, Any]],
    out_path: str | Path,
    *,
    mode: Mode = "supervised",
    lm: CustomLanguageModel | str | Path | None = None,
    words: Sequence[CustomWord] | None = None,
    weights: DecodingWeights | None = None,
    pseudo_labels: Sequence[PseudoLabel] | None = None,
    confidence_threshold: float | None = None,
    iterations: int = 1,
    dev: str | Path | Sequence[dict[str, Any]] | None = None,
    general: str | Path | None = "auto",
    general_ratio: float = GENERAL_MIX_RATIO,
    general_test: str | Path | None = "auto",
    epochs: int = FINETUNE_EPOCHS,
    learning_rate: float = FINETUNE_LR,
    batch_size: int = FINETUNE_BATCH_SIZE,
    freeze_encoder: bool = False,
    spec_augment: bool = True,
    early_stopping_patience: int = 3,
    trainer_kwargs: dict[str, Any] | None = None,
    seed: int = 0,
    progress: Progress | None = None,
    on_epoch: Callable[[EpochRecord], None] | None = None,
    cancel: threading.Event | None = None,
) -> TrainingResult:
    """Fine-tune ``base`` on the user's audio and save a custom acoustic model to ``out_path``.

    Args:
        base: the base model (not modified: training works on a copy).
        audio: a NeMo manifest (``text`` required for supervised) or its entries.
        mode: ``"supervised"``, ``"lightly-supervised"`` (needs ``lm``) or ``"unsupervised"``.
        lm: the custom LM used to pseudo-label (lightly supervised); built on ``base``.
        pseudo_labels: a reviewed table from :func:`pseudo_label`; only kept rows are used.
        confidence_threshold: keep pseudo-labels at or above this confidence (None: the bar
            :func:`calibrated_threshold` sets on each round's labels).
        iterations: pseudo-label and train this many times, re-labelling with the improved model.
        dev: transcribed dev audio: its WER after each epoch picks the epoch saved (the best, not
            the last) and drives early stopping. Without it, 10% of the training utterances are
            held out when there are 20 or more (their transcripts, or their pseudo-labels), else
            there is none and the last epoch is saved; ``dev_source`` in the result says which.
        general: general transcribed speech mixed in against forgetting: ``"auto"`` (the base
            model profile's ``general_speech``, if any), a manifest, or None.
        general_ratio: general utterances per domain utterance.
        general_test: transcribed general audio for the forgetting guard (``"auto"``: the profile's ``general_test``).
        early_stopping_patience: stop after this many epochs in a row that do not lower the dev WER
            below the best so far, the base model's included (0: never stop early).
        trainer_kwargs: extra ``lightning.pytorch.Trainer`` arguments, e.g.
            ``{"accelerator": "gpu", "devices": 4, "strategy": "ddp"}``. ``ddp`` starts the other
            processes by running the program again, so it works from a script or ``speechcustom am
            train``, and is refused in a notebook or a background job; rank 0 alone reports progress,
            writes the model and measures the forgetting guard (the other ranks return at once).
        progress: called with (fraction, message); ``on_epoch`` with each epoch's record.
        cancel: set it to stop; :class:`TrainingCancelled` is raised and nothing is saved.

    The result says why training stopped (``stop_reason``, ``stop_message``), which epoch was
    saved, and which model to use: ``recommended`` is ``"base"`` (with ``recommended_reason``,
    and a log warning) when the saved model's greedy WER on the dev set is no lower than the
    base model's, or its general-speech WER rose by more than :data:`FORGETTING_TOLERANCE`.
    """
    from jupyter_speechcustom.lm.language_model import CustomLanguageModel

    if mode not in MODES:
        raise InvalidOptionError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if lm is not None and not isinstance(lm, CustomLanguageModel):
        lm = CustomLanguageModel.load(lm)
    if lm is not None:
        lm.check_base(base)
    if mode == "lightly-supervised" and lm is None and pseudo_labels is None:
        raise TrainingError("lightly supervised training needs a custom language model (lm=...) to label the audio")
    check_training_options(epochs=epochs, learning_rate=learning_rate, confidence_threshold=confidence_threshold,
                           iterations=iterations, batch_size=batch_size, general_ratio=general_ratio)
    out_path = check_output_path(out_path, "acoustic model")
    problem = base.family.training_problem(base.asr_model, dict(trainer_kwargs or {}).get("accelerator", "cpu"))
    if problem:
        raise TrainingError(problem)
    world_size = _check_launch(dict(trainer_kwargs or {}), iterations)
    fit_options: dict[str, Any] = {
        "mode": mode, "epochs": epochs, "learning_rate": learning_rate, "batch_size": batch_size,
        "freeze_encoder": freeze_encoder, "spec_augment": spec_augment, "patience": early_stopping_patience,
        "trainer_kwargs": trainer_kwargs or {}, "seed": seed, "world_size": world_size,
    }
    joined = _joined_work()
    if joined is not None:
        # Lightning started this process to join rank 0's ddp run: it trains on the data rank 0
        # prepared (no second preparation, the same utterances) and writes nothing.
        return _fit(base, base, [], [], [], general_ratio, joined, out_path, **fit_options,
                    report=no_progress, on_epoch=None, cancel=cancel, joined=True)
    report = progress or (lambda fraction, message: None)
    entries = read_manifest(audio, require_text=mode == "supervised") if isinstance(audio, (str, Path)) else list(audio)
    if mode == "supervised" and any("text" not in e for e in entries):
        raise TrainingError("supervised training needs a transcript (\"text\") for every utterance")
    dev_entries = (read_manifest(dev, require_text=True) if isinstance(dev, (str, Path)) else list(dev)) if dev else []

    start = time.perf_counter()
    # The converted audio goes beside the output (in a workspace: its own staging area), never
    # to the system's temp folder; what a killed run leaves is removed by the next run there.
    _remove_stale_work(out_path.parent)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{out_path.name}{WORK_MARK}{os.getpid()}-{_host_tag()}-"
    with tempfile.TemporaryDirectory(prefix=prefix, dir=out_path.parent) as tmp:
        work = Path(tmp)
        report(0.0, "preparing audio")
        prepared = prepare_audio(entries, work / "audio", base.sample_rate)
        for source, reason in prepared.skipped:
            log.warning("skipped %s: %s", source, reason)
        for source, warning in prepared.warnings:
            log.warning("%s: %s", source, warning)
        train_entries = list(prepared.entries)
        general_entries = _general_entries(base, general, "general_speech")
        general_test_entries = _general_entries(base, general_test, "general_test")

        current = base
        labels: list[PseudoLabel] = list(pseudo_labels) if pseudo_labels is not None else []
        result: TrainingResult | None = None
        for iteration in range(iterations):
            if mode != "supervised":
                if pseudo_labels is None or iteration > 0:
                    report(0.02, f"pseudo-labelling {len(train_entries)} utterances (round {iteration + 1})")
                    labels = pseudo_label(current, train_entries, lm=lm if mode == "lightly-supervised" else None,
                                          words=words, weights=weights, threshold=confidence_threshold)
                kept = [r for r in labels if r.kept and r.text.strip()]
                if not kept:
                    shown = sorted((r.confidence for r in labels), reverse=True)[:5]
                    msg = (f"every one of {len(labels)} pseudo-labelled utterances is below the confidence "
                           f"threshold {'(calibrated)' if confidence_threshold is None else confidence_threshold} "
                           f"(highest: {', '.join(confidence_text(c) for c in shown)}): "
                           "lower confidence_threshold, tick rows in the table, or add transcripts")
                    raise TrainingError(msg)
                domain = [r.to_entry() for r in kept]
            else:
                domain = train_entries
            result = _fit(current, base, domain, dev_entries, general_entries, general_ratio,
                          work / f"round{iteration}", out_path, **fit_options,
                          report=report, on_epoch=on_epoch, cancel=cancel)
            result.pseudo_labels = labels
            if iteration + 1 < iterations:
                from jupyter_speechcustom.asr.models import load_base_model

                current = load_base_model(out_path)
        assert result is not None
        if result.global_rank != 0:  # another node's process of a multi-process run: rank 0 writes and measures
            return result
        trained = _load_trained(out_path)
        # The dev set the saved epoch was chosen on: the one given, or the last round's held-out utterances.
        held_out = work / f"round{iterations - 1}" / "dev.json"
        measured_dev = dev_entries or (read_manifest(held_out) if held_out.is_file() else [])
        # Measured by one process over the whole sets (the base model is unchanged by training).
        report(0.95, "measuring the forgetting guard")
        result.general_wer_before = _greedy_wer(base, general_test_entries) if general_test_entries else None
        result.general_wer_after = _greedy_wer(trained, general_test_entries) if general_test_entries else None
        result.dev_wer_before = _greedy_wer(base, measured_dev) if measured_dev else None
        result.dev_wer_after = _greedy_wer(trained, measured_dev) if measured_dev else None
        _recommend(result)
        result.train_seconds = time.perf_counter() - start
    _write_report(result)
    if result.recommended == "base":
        log.warning("the custom acoustic model is saved, but %s", result.recommended_reason)
    report(1.0, f"done: {result.stop_message}" + ("; the base model is recommended" if result.recommended == "base"
                                                  else ""))
    return result


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


def _load_trained(path: Path) -> BaseModel:
    from jupyter_speechcustom.asr.models import load_base_model

    return load_base_model(path)


def _write_report(result: TrainingResult) -> None:
    """Keep the training's figures beside the model (``<name>.json``)."""
    summary = result.summary()
    summary["history"] = [asdict(h) for h in result.history]
    summary["pseudo_labels"] = [asdict(r) for r in result.pseudo_labels]
    atomic_write(result.path.with_suffix(".json"), json.dumps(summary, indent=2))


def _fit(
    model_in: BaseModel,
    base: BaseModel,
    domain: list[dict[str, Any]],
    dev_entries: list[dict[str, Any]],
    general_entries: list[dict[str, Any]],
    general_ratio: float,
    work: Path,
    out_path: Path,
    *,
    mode: str,
    epochs: int,
    learning_rate: float,
    batch_size: int,
    freeze_encoder: bool,
    spec_augment: bool,
    patience: int,
    trainer_kwargs: dict[str, Any],
    seed: int,
    report: Progress,
    on_epoch: Callable[[EpochRecord], None] | None,
    cancel: threading.Event | None,
    world_size: int = 1,
    joined: bool = False,
) -> TrainingResult:
    import lightning.pytorch as pl
    import torch
    from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
    from nemo.collections.asr.models import ASRModel
    from omegaconf import OmegaConf, open_dict

    torch.manual_seed(seed)
    rng = random.Random(seed)
    mix = rng.sample(general_entries, min(len(general_entries), math.ceil(general_ratio * len(domain))))
    train = domain + mix
    dev = dev_entries
    dev_source = DEV_SOURCES[0] if dev else None
    if not dev and len(domain) >= HOLD_OUT_MIN_UTTERANCES:  # hold out part of the domain data as the dev set
        shuffled = domain[:]
        rng.shuffle(shuffled)
        cut = max(2, int(len(shuffled) * HOLD_OUT_SHARE + 1e-9))
        dev, train = shuffled[:cut], shuffled[cut:] + mix
        dev_source = DEV_SOURCES[1] if mode == "supervised" else DEV_SOURCES[2]
    if joined:  # a process joining rank 0's ddp run: the manifests rank 0 wrote in its ``work``
        train = read_manifest(work / "train.json")
        dev = read_manifest(work / "dev.json") if (work / "dev.json").is_file() else []
    else:
        work.mkdir(parents=True, exist_ok=True)
        write_manifest(work / "train.json", train)
        if dev:
            write_manifest(work / "dev.json", dev)
    train_manifest = work / "train.json"
    dev_manifest = work / "dev.json" if dev else None

    # Restore a fresh copy: the caller's model object is never changed.
    model = ASRModel.restore_from(str(model_in.path), map_location="cpu")
    ds = {"sample_rate": model.cfg.sample_rate, "use_lhotse": False, "num_workers": 0, "pin_memory": False,
          "trim_silence": False, "max_duration": MAX_TRAIN_SECONDS + 1, **model_in.family.dataset_config(model)}
    # Each of the world_size processes trains on its share of the utterances (Lightning's distributed sampler).
    steps_per_epoch = math.ceil(math.ceil(len(train) / world_size) / batch_size)
    total_steps = steps_per_epoch * epochs
    trainer_args: dict[str, Any] = {
        "accelerator": "cpu", "devices": 1, "precision": 32, "max_epochs": epochs, "logger": False,
        "enable_checkpointing": False, "enable_progress_bar": False, "enable_model_summary": False,
        "log_every_n_steps": 1, "num_sanity_val_steps": 0, "gradient_clip_val": 1.0,
    }
    trainer_args.update(trainer_kwargs)
    family = model_in.family
    family.prepare_training(model, str(trainer_args.get("accelerator")))  # e.g. a TDT loss for the CPU
    history: list[EpochRecord] = []
    monitor = _Monitor(total_steps, report, cancel, history, on_epoch, world_size)
    callbacks = [monitor]
    best: Any = None
    early: Any = None
    if dev_manifest is not None:
        # Each epoch that lowers the dev WER replaces the weights kept in the working folder; those
        # are the ones saved, not the last epoch's.
        best = ModelCheckpoint(dirpath=work / "best", filename="best", monitor="val_wer", mode="min", save_top_k=1,
                               save_weights_only=True, auto_insert_metric_name=False, enable_version_counter=False)
        callbacks.append(best)
        trainer_args["enable_checkpointing"] = True
        if patience > 0:
            early = EarlyStopping(monitor="val_wer", mode="min", patience=patience)
            callbacks.append(early)
    trainer = pl.Trainer(callbacks=callbacks, **trainer_args)
    model.set_trainer(trainer)
    model.setup_training_data(OmegaConf.create({**ds, "manifest_filepath": str(train_manifest),
                                                "batch_size": batch_size, "shuffle": True}))
    if dev_manifest is not None:
        model.setup_multiple_validation_data(OmegaConf.create({**ds, "manifest_filepath": str(dev_manifest),
                                                               "batch_size": batch_size, "shuffle": False}))
        if world_size > 1:
            _validate_whole_set(model)
    optim = OmegaConf.create({"name": "adamw", "lr": learning_rate, "weight_decay": 1e-3, "betas": [0.9, 0.98],
                              "sched": {"name": "CosineAnnealing", "warmup_steps": max(1, total_steps // 10),
                                        "min_lr": learning_rate / 20, "max_steps": total_steps}})
    model.setup_optimization(optim)
    if freeze_encoder:
        model.encoder.freeze()
    if not spec_augment:
        model.spec_augmentation = None
    if world_size > 1 and not joined:  # for the processes Lightning's ddp starts (see train_acoustic_model)
        os.environ[RANK0_WORK_ENV] = str(work)
    try:
        if dev_manifest is not None:
            report(0.08, "measuring the dev set before training")
            metrics = trainer.validate(model, verbose=False)[0]
            start = EpochRecord(0, 0, None, metrics.get("val_wer"), metrics.get("val_loss"))
            history.append(start)
            if on_epoch and trainer.is_global_zero:
                on_epoch(start)
            if early is not None and start.dev_wer is not None and math.isfinite(start.dev_wer):
                # Epochs that do not beat the base model count toward the patience too.
                early.best_score = torch.tensor(float(start.dev_wer))
        report(0.1, f"training on {len(train)} utterances ({len(mix)} general) for up to {epochs} epochs")
        fit_start = time.perf_counter()
        validation_before = monitor.validation_seconds  # the dev check above is not part of the fit
        trainer.fit(model)
        # Throughput counts training only: validation (early stopping, dev WER) is extra work.
        fit_seconds = max(0.0, time.perf_counter() - fit_start - (monitor.validation_seconds - validation_before))
    finally:
        if world_size > 1 and not joined:
            os.environ.pop(RANK0_WORK_ENV, None)
    audio_seconds = monitor.audio_seconds
    if world_size > 1:  # every process trained on its share of the audio
        audio_seconds = float(trainer.strategy.reduce(torch.tensor(audio_seconds, dtype=torch.float64),
                                                      reduce_op="sum"))
    if monitor.cancelled:
        msg = (f"training was cancelled in epoch {monitor.cancelled_epoch} of {epochs}; no model was saved and the "
               "base model is unchanged")
        raise TrainingCancelled(msg)
    best_epoch = None
    if best is not None and best.best_model_path and trainer.is_global_zero:
        kept = torch.load(best.best_model_path, map_location="cpu", weights_only=False)  # written just now, by us
        model.load_state_dict(kept["state_dict"])
        best_epoch = int(kept["epoch"]) + 1
    stop = _stop(history, epochs, best_epoch, patience if early is not None else 0,
                 early is not None and early.wait_count >= early.patience)
    log.info("%s; saved epoch %d", stop["stop_message"], stop["saved_epoch"])
    with open_dict(model.cfg):
        model.cfg[CUSTOM_AM_KEY] = {
            "base_model": {"name": (base.tied_base or {}).get("name", base.name), "fingerprint": base.family_fingerprint},
            "mode": mode,
            "train_utterances": len(domain),
            "general_utterances": len(mix),
        }
    if trainer.is_global_zero:  # one process writes the model
        with atomic_path(out_path, suffix=".nemo") as part:  # a half-written model is never at out_path
            model.save_to(str(part))
    return TrainingResult(path=out_path, mode=mode, base_model=dict(model.cfg[CUSTOM_AM_KEY]["base_model"]),
                          train_utterances=len(domain), general_utterances=len(mix), history=history,
                          audio_seconds=audio_seconds, fit_seconds=fit_seconds, world_size=world_size,
                          global_rank=trainer.global_rank, epochs_planned=epochs, dev_source=dev_source,
                          dev_utterances=len(dev), **stop)


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


def _validate_whole_set(model: Any) -> None:
    """Let every process validate the whole dev set, so the dev WER and loss are the whole set's.

    Lightning would split it with a distributed sampler (padded with repeats to equal shares), and
    NeMo averages the loss per process. A sampler of one replica is left alone by Lightning; NeMo's
    WER metric sums its counts over the processes, which keeps the ratio exact.
    """
    from torch.utils.data import DataLoader, DistributedSampler

    loader = model._validation_dl
    model._validation_dl = DataLoader(loader.dataset, batch_size=loader.batch_size, collate_fn=loader.collate_fn,
                                      sampler=DistributedSampler(loader.dataset, num_replicas=1, rank=0, shuffle=False),
                                      num_workers=0, pin_memory=False)
