"""Utterance confidence of a transcript: how likely it is to be right, 0-1.

With a strong custom LM most errors are the LM's choice of a likely in-domain word over what
was said; the acoustic posterior of the chosen tokens hardly flags them. What does is how
stable the transcript is: decode the same cached acoustic output again with the acoustic
model weighed less against the LM (the LM weight times each of :data:`STABILITY_SCALES`; the
boosting weight when there is no LM), and count the transcript's words that survive
(:func:`stability`). The word bonus and the boosting stay as they are: scaled with the LM they
mostly add insertions, right labels and wrong ones alike (ROC-AUC on the demo's labels with its
CTC head 0.73 with every weight scaled, 0.78 with the LM weight alone; the TDT head's labels and
``demo-char``'s score the same or better, 0.89 each; ``bench/bench_confidence.py``).
A right transcript survives; one the LM had to argue into place changes. This costs one beam
search per scale and no acoustic pass, and works for every model family (it only uses
:meth:`Decoder.decode_text`).

The confidence is that stability times a posterior factor: the square root of the words'
mean acoustic posterior (:func:`mean_word_confidence`) relative to the model's own typical
word posterior, capped at 1. Models differ widely in how sure they sound (a character CTC
model's aligned tokens score about 0.9, the auxiliary CTC head of a hybrid TDT-CTC model
about 0.6 on the same audio), so a raw posterior would need a threshold per model. The
reference is measured on the audio being labelled, with no transcript needed
(:func:`posterior_reference`: the median word posterior of all its labels), so a label as
sure as the model's typical one loses nothing, and one threshold means the same on every
model. A family that gives a beam-search transcript no word confidences leaves this factor
out. Without a custom LM or boosting there is no search to perturb (decoding is greedy) and
the stability is 1, so one threshold suits both.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jupyter_speechcustom.asr.decoding import Decoder, DecodingWeights
    from jupyter_speechcustom.asr.recognize import AcousticOutput, Transcript

__all__ = ["STABILITY_SCALES", "fuses", "mean_word_confidence", "posterior_reference", "stability",
           "utterance_confidences", "word_agreement"]

#: Factors applied to the LM weight (the boosting weight without an LM) when decoding again: 1.5, 2
#: and 3 weigh the acoustic model 2/3, 1/2 and 1/3 as much against the LM.
STABILITY_SCALES = (1.5, 2.0, 3.0)


def mean_word_confidence(words: Sequence[dict[str, Any]]) -> float:
    """The mean of the words' confidences (those that have one); 0 when none has."""
    values = [float(w["confidence"]) for w in words if w.get("confidence") is not None]
    return sum(values) / len(values) if values else 0.0


def posterior_reference(transcripts: Sequence[Transcript]) -> float:
    """The model's typical word posterior on this audio: the median confidence of every word of
    ``transcripts`` that has one (0 when none has)."""
    values = [float(w["confidence"]) for t in transcripts for w in t.words if w.get("confidence") is not None]
    return statistics.median(values) if values else 0.0


def word_agreement(label: str, other: str) -> float:
    """The fraction of ``label``'s words that a minimum edit-distance alignment with ``other``
    matches (0 when either is empty)."""
    ref, hyp = label.split(), other.split()
    if not ref or not hyp:
        return 0.0
    # (edits, -matches) per prefix pair: fewest edits first, then the most matched words.
    prev = [(j, 0) for j in range(len(hyp) + 1)]
    for i, word in enumerate(ref, start=1):
        row = [(i, 0)]
        for j, other_word in enumerate(hyp, start=1):
            edits, neg = prev[j - 1]
            diagonal = (edits, neg - 1) if word == other_word else (edits + 1, neg)
            row.append(min(diagonal, (prev[j][0] + 1, prev[j][1]), (row[j - 1][0] + 1, row[j - 1][1])))
        prev = row
    return -prev[-1][1] / len(ref)


def fuses(decoder: Decoder, weights: DecodingWeights | None = None) -> bool:
    """Whether ``decoder`` runs beam search with a custom LM or boosting at ``weights``."""
    weights = weights or decoder.weights
    return (decoder.lm is not None and weights.lm_alpha > 0) or (bool(decoder.boost_phrases)
                                                                 and weights.boost_alpha > 0)


def stability(
    decoder: Decoder,
    outputs: Sequence[AcousticOutput],
    labels: Sequence[str],
    weights: DecodingWeights | None = None,
    scales: Sequence[float] = STABILITY_SCALES,
) -> list[float]:
    """Per utterance, the mean over ``scales`` of :func:`word_agreement` between its label
    (decoded at ``weights``) and the transcript decoded with the LM weight (the boosting weight when
    no LM is fused) times the scale."""
    weights = weights or decoder.weights
    if not scales:
        raise ValueError("stability needs at least one scale")
    totals = [0.0] * len(labels)
    for scale in scales:
        if decoder.lm is not None and weights.lm_alpha > 0:
            scaled = replace(weights, lm_alpha=weights.lm_alpha * scale)
        else:
            scaled = replace(weights, boost_alpha=weights.boost_alpha * scale)
        for n, (label, other) in enumerate(zip(labels, decoder.decode_text(outputs, scaled), strict=True)):
            totals[n] += word_agreement(label, other)
    return [total / len(scales) for total in totals]


def utterance_confidences(
    decoder: Decoder,
    outputs: Sequence[AcousticOutput],
    transcripts: Sequence[Transcript],
    weights: DecodingWeights | None = None,
    *,
    reference: float | None = None,
) -> list[float]:
    """The confidence (0-1) of each transcript that ``decoder`` wrote from ``outputs`` at
    ``weights``: its :func:`stability` (1 when the decoder fuses no LM or boosting) times the
    square root of its :func:`mean_word_confidence` over ``reference``, capped at 1.
    ``reference`` is the model's typical word posterior, by default :func:`posterior_reference`
    of ``transcripts`` (score all the audio of a labelling run in one call, or pass the run's
    reference to score a part of it the same way). An empty transcript scores 0."""
    fused = fuses(decoder, weights)
    stable = stability(decoder, outputs, [t.text for t in transcripts], weights) if fused else [1.0] * len(transcripts)
    if reference is None:
        reference = posterior_reference(transcripts)
    elif not math.isfinite(reference) or not 0 <= reference <= 1:
        raise ValueError(f"reference must be a word posterior from 0 to 1, got {reference!r}")
    confidences = []
    for t, value in zip(transcripts, stable, strict=True):
        scored = any(w.get("confidence") is not None for w in t.words)
        if not t.text.strip() or not (scored or fused):
            confidences.append(0.0)
            continue
        posterior = max(mean_word_confidence(t.words), 0.0)
        if not scored:
            factor = 1.0
        else:  # all of a run's words at posterior 0 leave no reference: they are not confident
            factor = math.sqrt(min(posterior / reference, 1.0)) if reference > 0 else 0.0
        confidences.append(min(max(value * factor, 0.0), 1.0))
    return confidences
