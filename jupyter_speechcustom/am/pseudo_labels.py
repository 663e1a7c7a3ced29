"""Pseudo-labels for lightly supervised and unsupervised training, and the confidence bar that keeps them.

Untranscribed audio is decoded (with a custom LM: lightly supervised; without: unsupervised) into a
reviewable :class:`PseudoLabel` table; each row's confidence decides whether it is kept, against a
bar :func:`calibrated_threshold` sets on the audio's own confidences unless one is given.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from jupyter_speechcustom.constants import (
    CONFIDENCE_FLOOR,
    CONFIDENCE_KEEP_SHARE,
    CONFIDENCE_THRESHOLD,
)
from jupyter_speechcustom.errors import check_list
from jupyter_speechcustom.io.manifest import Utterance, read_manifest, write_manifest
from jupyter_speechcustom.jobs.progress import ProgressCallback, no_progress, scaled

if TYPE_CHECKING:
    from jupyter_speechcustom.asr.decoding import DecodingWeights
    from jupyter_speechcustom.asr.models import BaseModel
    from jupyter_speechcustom.lm.language_model import CustomLanguageModel
    from jupyter_speechcustom.text.words import CustomWord

@dataclass
class PseudoLabel:
    """One row of the reviewable pseudo-label table; edit ``text`` or ``kept`` before training.

    Its fields are flat, for JSON and DataFrames; :attr:`utterance` is the labelled utterance
    (its audio, with ``text`` as the transcript), and :meth:`from_utterance` makes a row of one.
    """

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

    @classmethod
    def from_utterance(cls, utterance: Utterance, confidence: float, kept: bool) -> PseudoLabel:
        """The row of ``utterance`` labelled ``utterance.text`` (empty when None) with ``confidence``."""
        return cls(utterance.audio, utterance.text or "", confidence, kept, utterance.duration or 0.0,
                   utterance.origin or "")

    @property
    def utterance(self) -> Utterance:
        """The labelled utterance: the audio, with this row's ``text`` and ``duration``, and its
        ``source`` as the origin when it is another file."""
        origin = self.source if self.source and self.source != self.audio_filepath else None
        return Utterance(self.audio_filepath, self.text, duration=self.duration, origin=origin)

    def to_entry(self) -> dict[str, Any]:
        """The manifest line to train on (:meth:`Utterance.to_entry` of :attr:`utterance`)."""
        return self.utterance.to_entry()


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
    progress: ProgressCallback | None = None,
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
        utterance = Utterance.from_entry(entry)
        labelled = replace(utterance, text=t.text, duration=utterance.duration or out.duration)
        rows.append(PseudoLabel.from_utterance(labelled, confidence, bool(t.text) and confidence >= bar))
    how = " (calibrated on this audio)" if threshold is None else ""
    report(1.0, f"{sum(r.kept for r in rows)} of {len(rows)} utterances kept, confidence {bar:g} or more{how}")
    return rows


def save_pseudo_labels(rows: Sequence[PseudoLabel], path: str | Path) -> Path:
    return write_manifest(path, [asdict(r) for r in rows])


def load_pseudo_labels(path: str | Path) -> list[PseudoLabel]:
    return [PseudoLabel.from_dict(e) for e in read_manifest(path)]

