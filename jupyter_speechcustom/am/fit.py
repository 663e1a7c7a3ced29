"""One round of fine-tuning with NeMo and PyTorch Lightning: the data, the trainer, the epoch kept.

``fit`` writes the round's manifests (holding out a dev set when none is given), restores a fresh copy
of the model, lets its family ready it for training (``prepare_training``), trains with a
:class:`Monitor <_Monitor>` for progress, cancellation and the per-epoch history, keeps the weights of
the epoch with the lowest dev WER, and saves the model with a record of its base.
"""

from __future__ import annotations

import logging
import math
import os
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jupyter_speechcustom.constants import (
    CUSTOM_AM_KEY,
    MAX_TRAIN_SECONDS,
)
from jupyter_speechcustom.io.files import atomic_path
from jupyter_speechcustom.io.manifest import read_manifest, write_manifest
from jupyter_speechcustom.jobs.progress import ProgressCallback

if TYPE_CHECKING:
    from jupyter_speechcustom.asr.models import BaseModel

from jupyter_speechcustom.am.outcome import (
    DEV_SOURCES,
    HOLD_OUT_MIN_UTTERANCES,
    HOLD_OUT_SHARE,
    EpochRecord,
    TrainingCancelled,
    TrainingResult,
    _stop,
)
from jupyter_speechcustom.am.processes import RANK0_WORK_ENV

log = logging.getLogger(__name__)

Progress = ProgressCallback


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
