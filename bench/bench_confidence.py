"""How well does utterance confidence separate good pseudo-labels from bad ones?

Labels the demo's untranscribed domain audio with the custom LM (as lightly supervised training
does), then scores several utterance-confidence measures by ROC-AUC against "the label has an
error" (the demo keeps the true transcripts aside). A confidence that separates well lets the
threshold drop bad labels; 0.5 is chance.

    python bench/bench_confidence.py [--limit N]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from jupyter_speechcustom import demo
from jupyter_speechcustom.am.acoustic_model import utterance_confidence
from jupyter_speechcustom.asr.decoding import Decoder, tune
from jupyter_speechcustom.asr.models import load_base_model
from jupyter_speechcustom.asr.recognize import acoustic_outputs, greedy_decode
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=0, help="only the first N utterances")
    args = parser.parse_args()
    base = load_base_model("demo")
    refs = {e["audio_filepath"]: e["text"] for e in
            (json.loads(line) for line in demo.data_path("domain", "train", "reference_transcripts.json")
             .read_text(encoding="utf-8").splitlines())}
    entries = read_manifest(demo.manifest("domain/train"))
    if args.limit:
        entries = entries[: args.limit]
    with tempfile.TemporaryDirectory() as tmp:
        lm = build_language_model(base, [demo.corpus_path()], Path(tmp) / "lm", words=demo.custom_words_path())
        dev = read_manifest(demo.manifest("domain/dev"))
        weights = tune(Decoder(base, lm), acoustic_outputs(base, [e["audio_filepath"] for e in dev]),
                       [e["text"] for e in dev]).best
        decoder = Decoder(base, lm, weights=weights)
        outputs = acoustic_outputs(base, [e["audio_filepath"] for e in entries])
        transcripts = decoder.decode(outputs)
    greedy = greedy_decode(base, outputs)
    references = [refs[Path(e["audio_filepath"]).name] for e in entries]
    wrong = np.array([evaluate([r], [t.text]).wer > 0 for r, t in zip(references, transcripts)])
    measures = {
        "mean word posterior (today's)": [utterance_confidence(t.words) for t in transcripts],
        "weakest word posterior": [min((w["confidence"] for w in t.words if w["confidence"] is not None), default=0.0)
                                   for t in transcripts],
        "1 - entropy (speech frames)": [entropy_confidence(o.log_probs, base.blank_id) for o in outputs],
        "agreement with greedy (1 - WER)": [max(0.0, 1 - evaluate([t.text], [g]).wer) if t.text else 0.0
                                            for t, g in zip(transcripts, greedy)],
    }
    print(f"{len(entries)} utterances, {int(wrong.sum())} labels with an error "
          f"(label WER {evaluate(references, [t.text for t in transcripts]).wer:.1%})")
    print(f"{'confidence':<36} {'ROC-AUC':>8} {'mean ok':>8} {'mean bad':>9}")
    for name, values in measures.items():
        scores = np.array(values, dtype=float)
        print(f"{name:<36} {roc_auc(-scores, wrong):>8.3f} {scores[~wrong].mean():>8.3f} {scores[wrong].mean():>9.3f}")


if __name__ == "__main__":
    main()
