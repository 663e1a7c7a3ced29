"""Do a hybrid's two heads, agreeing, pick better pseudo-labels than the confidence alone?

Lightly supervised training keeps the pseudo-labels whose utterance confidence clears a bar
(``utterance_confidences``: stability under a heavier LM times the relative word posterior; the bar
``calibrated_threshold`` sets on the audio). A hybrid TDT-CTC model has a second head that errs
differently: a label both heads write may more often be right. For each domain of ``bench_domains.py``
this bench labels the 150 untranscribed utterances as a new user would (custom LM, default weights:
the CTC head), decodes them again with the other head at its own default weights (``head_defaults``),
with and without the LM, and scores each ranking of the labels against "the label has an error":

- ``confidence``: the toolkit's utterance confidence;
- ``agreement (<other head>)``: the share of the label's words the other head's transcript keeps
  (``word_agreement``);
- ``confidence x agreement``, ``confidence x sqrt(agreement)``: the two together.

For each it reports ROC-AUC and, at the number of labels the calibrated bar keeps with the confidence
alone, the WER of the labels each ranking would keep and how many of them are right.

    python bench/bench_label_consensus.py [--voices unseen|espeak] [--domain NAME ...] [--out results.json]

Needs the domains' audio (``bench_domains.py --make-data``; made on first use).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from bench_domains import NEW_DOMAINS, VOICE_SETS, make_domain, roc_auc

from jupyter_speechcustom.am.pseudo_labels import calibrated_threshold
from jupyter_speechcustom.asr.confidence import utterance_confidences, word_agreement
from jupyter_speechcustom.asr.decoding import Decoder, default_weights, head_defaults
from jupyter_speechcustom.asr.models import load_base_model
from jupyter_speechcustom.asr.recognize import acoustic_outputs
from jupyter_speechcustom.evaluation.metrics import evaluate
from jupyter_speechcustom.io.manifest import read_manifest
from jupyter_speechcustom.lm.builders import cache_dir
from jupyter_speechcustom.lm.language_model import build_language_model


def rankings(base: Any, lm: Any, outputs: list[Any]) -> tuple[list[str], dict[str, np.ndarray]]:
    """The labels at the default weights and every score of them this bench compares."""
    decoder = Decoder(base, lm)
    weights = default_weights(base, lm)
    transcripts = decoder.decode(outputs, weights)
    labels = [t.text for t in transcripts]
    confidence = np.array(utterance_confidences(decoder, outputs, transcripts, weights))
    scores = {"confidence": confidence}
    own = weights.head or base.head
    for head in (h for h in base.family.heads if h != own):
        for name, other in ((f"{head}, LM", head_defaults(base, head)),
                            (f"{head}, no LM", replace(head_defaults(base, head), lm_alpha=0.0))):
            agreed = np.array([word_agreement(label, text)
                               for label, text in zip(labels, decoder.decode_text(outputs, other))])
            scores[f"agreement ({name})"] = agreed
            scores[f"confidence x agreement ({name})"] = confidence * agreed
            scores[f"confidence x sqrt(agreement) ({name})"] = confidence * np.sqrt(agreed)
    return labels, scores


def bench_domain(base: Any, name: str, root: Path, voices: str, work: Path) -> dict[str, Any]:
    data = make_domain(name, root, 0, voices)
    lm = build_language_model(base, [data.corpus], work / f"{name}-lm", words=data.words, overwrite=True)
    entries = read_manifest(data.train)
    truth = {e["audio_filepath"]: e["text"] for e in read_manifest(data.train_references)}
    refs = [truth[e["audio_filepath"]] for e in entries]
    outputs = acoustic_outputs(base, [e["audio_filepath"] for e in entries])
    labels, scores = rankings(base, lm, outputs)
    wrong = np.array([evaluate([ref], [label]).wer > 0 for ref, label in zip(refs, labels)])
    spoken = np.array([bool(label.strip()) for label in labels])
    bar = calibrated_threshold(scores["confidence"][spoken].tolist())
    n = int(((scores["confidence"] >= bar) & spoken).sum())
    result: dict[str, Any] = {"domain": name, "voices": voices, "labels": len(labels), "wrong": int(wrong.sum()),
                              "bar": bar, "kept": n, "rankings": {}}
    for key, score in scores.items():
        top = np.argsort(-score, kind="stable")[:n]
        result["rankings"][key] = {
            "auc": roc_auc(-score, wrong),
            "kept_wer": round(evaluate([refs[i] for i in top], [labels[i] for i in top]).wer, 4) if n else None,
            "kept_right": int((~wrong[top]).sum())}
    return result


def report(results: list[dict[str, Any]]) -> None:
    keys = list(results[0]["rankings"])
    print(f"{'ranking':<50}" + "".join(f"{r['domain'][:8] + ' ' + r['voices'][:6]:>24}" for r in results)
          + f"{'median change':>16}")
    print(f"{'':<50}" + "".join(f"{'AUC  kept WER  right':>24}" for _ in results) + f"{'of kept WER':>16}")
    for key in keys:
        cells, changes = [], []
        for r in results:
            x, ref = r["rankings"][key], r["rankings"]["confidence"]
            cells.append(f"{x['auc'] or 0:.3f} {x['kept_wer'] or 0:>7.1%} {x['kept_right']:>3}/{r['kept']:<3}")
            changes.append((x["kept_wer"] or 0) - (ref["kept_wer"] or 0))
        print(f"{key:<50}" + "".join(f"{c:>24}" for c in cells) + f"{statistics.median(changes):>+15.1%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--domain", action="append", choices=NEW_DOMAINS, help="repeatable; default: all new domains")
    parser.add_argument("--model", default="demo", help="a hybrid base model (default: demo)")
    parser.add_argument("--voices", action="append", choices=sorted(VOICE_SETS), help="repeatable; default: unseen")
    parser.add_argument("--data", type=Path, default=cache_dir() / "bench-domains")
    parser.add_argument("--out", type=Path, help="write the results as JSON")
    parser.add_argument("--report", type=Path, nargs="+", metavar="JSON", help="only print the table of earlier runs")
    args = parser.parse_args()
    if args.report:
        report([r for path in args.report for r in json.loads(path.read_text(encoding="utf-8"))["results"]])
        return
    base = load_base_model(args.model)
    if len(base.family.heads) < 2:
        parser.error(f"{args.model} has one head: this bench needs a hybrid model")
    results = []
    work = cache_dir() / "bench-label-consensus"
    for voices in args.voices or ["unseen"]:
        for name in args.domain or NEW_DOMAINS:
            results.append(bench_domain(base, name, args.data, voices, work))
            print(f"{name}, {voices} voices: {results[-1]['kept']} of {results[-1]['labels']} kept at bar "
                  f"{results[-1]['bar']:g}", flush=True)
            if args.out:
                args.out.write_text(json.dumps({"model": args.model, "results": results}, indent=1), encoding="utf-8")
    report(results)


if __name__ == "__main__":
    main()
