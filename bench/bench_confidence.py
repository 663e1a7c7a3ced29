"""How well does utterance confidence separate good pseudo-labels from bad ones?

Labels the demo's untranscribed domain audio with the custom LM (as lightly supervised training
does), then scores several utterance-confidence measures by ROC-AUC against "the label has an
error" (the demo keeps the true transcripts aside). A confidence that separates well lets the
threshold drop bad labels; 0.5 is chance. Run it for each demo model: the default threshold must
mean the same on both.

    python bench/bench_confidence.py [--model demo-char|demo] [--limit N]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from jupyter_speechcustom import demo
from jupyter_speechcustom.am.acoustic_model import utterance_confidence
from jupyter_speechcustom.asr.confidence import (
    STABILITY_SCALES,
    posterior_reference,
    utterance_confidences,
    word_agreement,
)
from jupyter_speechcustom.asr.decoding import Decoder, DecodingWeights, tune
from jupyter_speechcustom.asr.models import BaseModel, load_base_model
from jupyter_speechcustom.asr.recognize import AcousticOutput, Transcript, acoustic_outputs, greedy_decode
from jupyter_speechcustom.constants import CONFIDENCE_THRESHOLD
from jupyter_speechcustom.evaluation.metrics import evaluate
from jupyter_speechcustom.io.manifest import read_manifest
from jupyter_speechcustom.lm.language_model import build_language_model


def roc_auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Probability that a random positive scores above a random negative (ties count half)."""
    pos, neg = scores[positive], scores[~positive]
    if not len(pos) or not len(neg):
        return float("nan")
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(greater / (len(pos) * len(neg)))


def entropy_confidence(log_probs: np.ndarray, blank: int) -> float:
    """1 - normalized entropy, averaged over the frames whose best token is not blank (NeMo's
    'entropy' confidence with the Gibbs entropy and linear normalization)."""
    probs = np.exp(log_probs)
    entropy = -(probs * log_probs).sum(axis=-1) / np.log(log_probs.shape[-1])
    speech = log_probs.argmax(axis=-1) != blank
    frames = entropy[speech] if speech.any() else entropy
    return float(1.0 - frames.mean())


def nbest_lists(base: BaseModel, decoder: Decoder, outputs: list[AcousticOutput]) -> list[list[tuple[str, float]]]:
    """The beam's n-best (text, fused score) per utterance, from the model family's own search."""
    w = decoder.weights
    fusion, alphas = decoder._fusion(w)
    beam = decoder.beam_size(w)
    found = base.family.beam_nbest(base.asr_model, [o.frames for o in outputs], n=beam, beam_size=beam,
                                   fusion_models=fusion, fusion_alphas=alphas, beta=w.lm_beta, head=decoder._head(w))
    return [[(base.ids_to_text(ids), score) for ids, score in alternatives] for alternatives in found]


def ctc_log_probs(base: BaseModel, output: AcousticOutput) -> np.ndarray:
    """Frame log-probabilities of the model's CTC head (a hybrid's cached frames are its encoder's)."""
    head = "ctc" if "ctc" in base.family.heads else None  # a hybrid's CTC head, else the model's only one
    probs = base.family.log_probs(base.asr_model, output.frames, head)
    assert probs is not None, "this bench needs a model with a CTC head"
    return probs


def label_posterior(nbest: list[tuple[str, float]], label: str, temperature: float) -> float:
    """The posterior of ``label`` among the n-best: softmax of the fused scores over ``temperature``."""
    scores = np.array([score for _, score in nbest]) / temperature
    p = np.exp(scores - scores.max())
    return float(p[[text == label for text, _ in nbest]].sum() / p.sum())


def measures(base: BaseModel, decoder: Decoder, outputs: list[AcousticOutput],
             transcripts: list[Transcript]) -> tuple[list[str], dict, float]:
    """The labels ``transcripts`` of ``outputs`` and every confidence measure tried; the seconds the
    new one took."""
    labels = [t.text for t in transcripts]
    w = decoder.weights
    greedy = greedy_decode(base, outputs, head=w.head)  # the labelling head, without the LM
    posterior = np.array([utterance_confidence(t.words) for t in transcripts])
    agreement = {}
    for name, weights in {"LM weight x0.5": replace(w, lm_alpha=w.lm_alpha * 0.5),
                          "LM weight x1.5": replace(w, lm_alpha=w.lm_alpha * 1.5),
                          "LM weight x2": replace(w, lm_alpha=w.lm_alpha * 2),
                          **{f"fusion weights x{s:g}": replace(w, lm_alpha=w.lm_alpha * s, lm_beta=w.lm_beta * s,
                                                               boost_alpha=w.boost_alpha * s)
                             for s in STABILITY_SCALES}}.items():
        agreement[name] = np.array([word_agreement(t, o) for t, o in zip(labels, decoder.decode_text(outputs, weights))])
    stability = np.mean([agreement[f"fusion weights x{s:g}"] for s in STABILITY_SCALES], axis=0)
    reference = posterior_reference(transcripts)
    start = time.perf_counter()
    new = utterance_confidences(decoder, outputs, transcripts)
    seconds = time.perf_counter() - start
    found = {
        "mean word posterior": posterior,
        "weakest word posterior": [min((x["confidence"] for x in t.words if x["confidence"] is not None), default=0.0)
                                   for t in transcripts],
        "1 - entropy (speech frames)": [entropy_confidence(ctc_log_probs(base, o), base.blank_id) for o in outputs],
        "words kept by greedy (LM off)": [word_agreement(t, g) for t, g in zip(labels, greedy)],
        **{f"words kept at {name}": v for name, v in agreement.items()},
        "stability, every fusion weight scaled (before)": stability,
        "posterior / reference (capped)": np.minimum(posterior / max(reference, 1e-9), 1.0),
        "every-weight stability x sqrt(posterior / reference) (before)":
            stability * np.sqrt(np.minimum(posterior / max(reference, 1e-9), 1.0)),
    }
    lists = nbest_lists(base, decoder, outputs)
    if any(len(n) > 1 for n in lists):
        for temperature in (0.5, 1.0, 2.0):
            found[f"n-best posterior of label (T={temperature:g})"] = np.array(
                [label_posterior(n, label, temperature) for n, label in zip(lists, labels)])
    found[NEW] = new
    return labels, found, seconds


def percentiles(scores: np.ndarray) -> str:
    """The 10th, 50th and 90th percentiles of ``scores``: where a threshold falls in them."""
    return "/".join(f"{q:.2f}" for q in np.quantile(scores, [0.1, 0.5, 0.9])) if len(scores) else "-"


NEW = "NEW: LM-weight stability x sqrt(posterior / reference)"


def chosen_threshold(scores: np.ndarray, wrong: np.ndarray) -> float:
    """The threshold (to 0.01) that best separates on a labelled set: most good kept plus most bad
    dropped (Youden's J)."""
    grid = np.round(np.arange(0.0, 1.0001, 0.01), 2)
    j = [((scores >= t) & ~wrong).sum() / max((~wrong).sum(), 1) + ((scores < t) & wrong).sum() / max(wrong.sum(), 1)
         for t in grid]
    return float(grid[int(np.argmax(j))])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="demo-char", help="base model (demo-char, demo, ...)")
    parser.add_argument("--limit", type=int, default=0, help="only the first N utterances")
    args = parser.parse_args()
    base = load_base_model(args.model)
    refs = {e["audio_filepath"]: e["text"] for e in
            (json.loads(line) for line in demo.data_path("domain", "train", "reference_transcripts.json")
             .read_text(encoding="utf-8").splitlines())}
    entries = read_manifest(demo.manifest("domain/train"))
    if args.limit:
        entries = entries[: args.limit]
    dev = read_manifest(demo.manifest("domain/dev"))
    with tempfile.TemporaryDirectory() as tmp:
        lm = build_language_model(base, [demo.corpus_path()], Path(tmp) / "lm", words=demo.custom_words_path())
        dev_outputs = acoustic_outputs(base, [e["audio_filepath"] for e in dev])
        weights: DecodingWeights = tune(Decoder(base, lm), dev_outputs, [e["text"] for e in dev]).best
        decoder = Decoder(base, lm, weights=weights)
        start = time.perf_counter()
        outputs = acoustic_outputs(base, [e["audio_filepath"] for e in entries])
        acoustic_seconds = time.perf_counter() - start
        start = time.perf_counter()
        transcripts = decoder.decode(outputs)
        decode_seconds = time.perf_counter() - start
        dev_labels, dev_found, _ = measures(base, decoder, dev_outputs, decoder.decode(dev_outputs))
        labels, found, confidence_seconds = measures(base, decoder, outputs, transcripts)
    references = [refs[Path(e["audio_filepath"]).name] for e in entries]
    wrong = np.array([evaluate([r], [t]).wer > 0 for r, t in zip(references, labels)])
    dev_wrong = np.array([evaluate([e["text"]], [t]).wer > 0 for e, t in zip(dev, dev_labels)])
    print(f"model {args.model}; weights tuned on domain/dev: {weights}")
    print(f"{len(entries)} utterances, {int(wrong.sum())} labels with an error "
          f"(label WER {evaluate(references, labels).wer:.1%}); dev: {len(dev)}, {int(dev_wrong.sum())} with an error")
    print(f"the model's typical word posterior (median over the labels): {posterior_reference(transcripts):.2f}")
    print(f"{'confidence':<44} {'ROC-AUC':>8} {'dev AUC':>8} {'ok: 10/50/90th pct':>19} {'bad: 10/50/90th pct':>20}")
    for name, values in found.items():
        scores = np.array(values, dtype=float)
        dev_scores = np.array(dev_found[name], dtype=float)
        print(f"{name:<44} {roc_auc(-scores, wrong):>8.3f} {roc_auc(-dev_scores, dev_wrong):>8.3f} "
              f"{percentiles(scores[~wrong]):>19} {percentiles(scores[wrong]):>20}")
    new_name = NEW
    new = np.array(found[new_name], dtype=float)
    best_on_dev = chosen_threshold(np.array(dev_found[new_name], dtype=float), dev_wrong)
    print(f"threshold that best separates on domain/dev: {best_on_dev:.2f} (default CONFIDENCE_THRESHOLD "
          f"{CONFIDENCE_THRESHOLD})")
    for threshold in sorted({CONFIDENCE_THRESHOLD, best_on_dev}):
        kept = new >= threshold
        good_kept = int((kept & ~wrong).sum())
        kept_wer = evaluate([r for r, k in zip(references, kept) if k], [t for t, k in zip(labels, kept) if k]).wer \
            if kept.any() else float("nan")
        print(f"  at {threshold:.2f} on domain/train: kept {int(kept.sum())} of {len(kept)}, precision "
              f"{good_kept / max(int(kept.sum()), 1):.3f}, recall {good_kept / max(int((~wrong).sum()), 1):.3f}, "
              f"bad labels dropped {int((~kept & wrong).sum())} of {int(wrong.sum())}, WER of the kept labels "
              f"{kept_wer:.1%}")
    before = acoustic_seconds + decode_seconds
    print(f"labelling time: acoustic pass {acoustic_seconds:.1f} s + decoding {decode_seconds:.1f} s = {before:.1f} s "
          f"before; + confidence {confidence_seconds:.1f} s = {before + confidence_seconds:.1f} s after "
          f"({(before + confidence_seconds) / before:.2f}x)")


if __name__ == "__main__":
    main()
