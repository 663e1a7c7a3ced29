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

import logging
import math
import numbers
import os
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from jupyter_speechcustom.am.fit import _fit
from jupyter_speechcustom.am.outcome import (
    DEV_SOURCES,
    FORGETTING_TOLERANCE,
    HOLD_OUT_MIN_UTTERANCES,
    HOLD_OUT_SHARE,
    STOP_REASONS,
    EpochRecord,
    TrainingCancelled,
    TrainingError,
    TrainingResult,
    _greedy_wer,
    _recommend,
    _write_report,
)
from jupyter_speechcustom.am.processes import (
    RANK0_WORK_ENV,
    WORK_MARK,
    _check_launch,
    _host_tag,
    _joined_work,
    _remove_stale_work,
)
from jupyter_speechcustom.am.pseudo_labels import (
    PseudoLabel,
    calibrated_threshold,
    load_pseudo_labels,
    pseudo_label,
    save_pseudo_labels,
    utterance_confidence,
)
from jupyter_speechcustom.constants import (
    FINETUNE_BATCH_SIZE,
    FINETUNE_EPOCHS,
    FINETUNE_LR,
    GENERAL_MIX_RATIO,
    MAX_TRAIN_SECONDS,
    MIN_TRAIN_SECONDS,
)
from jupyter_speechcustom.errors import AudioError, InvalidOptionError
from jupyter_speechcustom.evaluation.diffview import confidence_text
from jupyter_speechcustom.io.audio import level_warnings, load_audio, split_on_pauses
from jupyter_speechcustom.io.files import check_output_path
from jupyter_speechcustom.io.manifest import audio_source, read_manifest
from jupyter_speechcustom.jobs.progress import ProgressCallback, no_progress

if TYPE_CHECKING:
    from jupyter_speechcustom.asr.decoding import DecodingWeights
    from jupyter_speechcustom.asr.models import BaseModel
    from jupyter_speechcustom.lm.language_model import CustomLanguageModel
    from jupyter_speechcustom.text.words import CustomWord

__all__ = [
    "DEV_SOURCES",
    "FORGETTING_TOLERANCE",
    "HOLD_OUT_MIN_UTTERANCES",
    "HOLD_OUT_SHARE",
    "MODES",
    "RANK0_WORK_ENV",
    "STOP_REASONS",
    "WORK_MARK",
    "EpochRecord",
    "Mode",
    "PreparedAudio",
    "PseudoLabel",
    "TrainingCancelled",
    "TrainingError",
    "TrainingResult",
    "calibrated_threshold",
    "check_training_options",
    "load_pseudo_labels",
    "prepare_audio",
    "pseudo_label",
    "save_pseudo_labels",
    "train_acoustic_model",
    "utterance_confidence",
]

log = logging.getLogger(__name__)

Mode = Literal["supervised", "lightly-supervised", "unsupervised"]
MODES: tuple[str, ...] = ("supervised", "lightly-supervised", "unsupervised")
Progress = ProgressCallback


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

    Segments this function wrote before (entries naming the ``source`` they were cut from, as a
    labelling's do) are used where they are, not written again. Undecodable and too-short files are skipped with a reason, never fatal one by one;
    :class:`AudioError` is raised only when no usable audio is left.
    """
    import soundfile as sf

    out_dir.mkdir(parents=True, exist_ok=True)
    prepared, skipped, warnings = [], [], []
    for n, entry in enumerate(entries):
        source = str(entry["audio_filepath"])
        duration = _prepared_duration(entry, sample_rate, max_seconds)
        if duration is not None:  # a segment prepared before (by a labelling): used as it is
            prepared.append({**entry, "duration": duration})
            continue
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


def _prepared_duration(entry: Mapping[str, Any], sample_rate: int, max_seconds: float) -> float | None:
    """The length of ``entry``'s audio if it is a segment :func:`prepare_audio` wrote (it names the
    ``source`` it was cut from), still as it wrote it: 16-bit mono WAV at ``sample_rate``, of a length
    training takes; else None."""
    import soundfile as sf

    path = str(entry["audio_filepath"])
    if entry.get("offset") is not None or not entry.get("source") or entry["source"] == path:
        return None
    try:
        info = sf.info(path)
    except (OSError, RuntimeError):
        return None
    same = info.format == "WAV" and info.subtype == "PCM_16" and info.channels == 1 and info.samplerate == sample_rate
    return round(float(info.duration), 3) if same and MIN_TRAIN_SECONDS <= info.duration <= max_seconds else None


def _general_entries(base: BaseModel, choice: str | Path | None, which: str) -> list[dict[str, Any]]:
    """Transcribed general speech: a manifest, none, or ``"auto"``: the base model's profile's
    ``which`` set (``general_speech`` or ``general_test``), none when it has no such set."""
    if choice is None:
        return []
    if str(choice) == "auto":
        manifest = getattr(base.profile, which, None)
        return read_manifest(manifest, require_text=True) if manifest is not None else []
    return read_manifest(choice, require_text=True)


def check_training_options(
    *,
    mode: str | None = None,
    epochs: int = FINETUNE_EPOCHS,
    learning_rate: float = FINETUNE_LR,
    confidence_threshold: float | None = None,
    iterations: int = 1,
    batch_size: int = FINETUNE_BATCH_SIZE,
    general_ratio: float = GENERAL_MIX_RATIO,
) -> None:
    """Refuse impossible training options before any work (:class:`InvalidOptionError`); ``mode``
    is checked unless None."""

    def whole(name: str, value: Any, advice: str) -> None:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise InvalidOptionError(f"{name} must be a whole number, 1 or more ({advice}), got {value!r}")

    def real(value: Any) -> bool:
        return not isinstance(value, bool) and isinstance(value, numbers.Real) and math.isfinite(value)

    if mode is not None and mode not in MODES:
        raise InvalidOptionError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
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

    check_training_options(mode=mode, epochs=epochs, learning_rate=learning_rate,
                           confidence_threshold=confidence_threshold, iterations=iterations, batch_size=batch_size,
                           general_ratio=general_ratio)
    if lm is not None and not isinstance(lm, CustomLanguageModel):
        lm = CustomLanguageModel.load(lm)
    if lm is not None:
        lm.check_base(base)
    if mode == "lightly-supervised" and lm is None and pseudo_labels is None:
        raise TrainingError("lightly supervised training needs a custom language model (lm=...) to label the audio")
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


def _load_trained(path: Path) -> BaseModel:
    from jupyter_speechcustom.asr.models import load_base_model

    return load_base_model(path)

