"""Does a custom LM keep general speech? Domain and general test WER of each demo model, greedy and
with custom LMs built with and without the base model's general text mixed in.

For each model, the acoustic outputs of the domain dev and test sets and the general test set are
computed once; each LM variant is then decoded at every point of the weight grid, and the weights
are chosen on the domain dev set as the chain does (:func:`jupyter_speechcustom.asr.decoding.tune`'s
grid: LM alpha, LM beta where the head's search has a length bonus, boosting of the custom words on or
off, and both heads of a hybrid model).

    python bench/bench_general.py [--model demo-char --model demo] [--general-weight 0.3 ...] [--out FILE]

Goal: the custom LM at least halves the domain test WER, and the general test WER stays within a
few points of greedy decoding.
"""

from __future__ import annotations

import argparse
import itertools
import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from jupyter_speechcustom import demo
from jupyter_speechcustom.asr.decoding import Decoder, DecodingWeights
from jupyter_speechcustom.asr.models import load_base_model
from jupyter_speechcustom.asr.recognize import acoustic_outputs, greedy_decode
from jupyter_speechcustom.constants import GENERAL_TEXT_WEIGHT
from jupyter_speechcustom.evaluation.metrics import evaluate
from jupyter_speechcustom.io.manifest import read_manifest
from jupyter_speechcustom.lm.language_model import build_language_model

SPLITS = {"dev": "domain/dev", "domain": "domain/test", "general": "general/test"}
ALPHAS = (0.4, 0.7, 1.0)
BETAS = (0.5, 1.5)
BOOSTS = (0.0, 1.0)


def bench_model(name: str, work: Path, general_weights: list[float]) -> dict[str, Any]:
    base = load_base_model(name)
    data = {}
    for key, split in SPLITS.items():
        entries = read_manifest(demo.manifest(split))
        data[key] = (acoustic_outputs(base, [e["audio_filepath"] for e in entries]), [e["text"] for e in entries])
    scores = {key: evaluate(refs, greedy_decode(base, outs)) for key, (outs, refs) in data.items()}
    greedy = {key: score.wer for key, score in scores.items()}
    greedy["general_deletions"] = scores["general"].deletions
    print(f"{name} greedy: domain {greedy['domain']:.1%}, general {greedy['general']:.1%} "
          f"({scores['general'].deletions} of {scores['general'].reference_words} words deleted)", flush=True)
    # A transducer's beam search has no length bonus: beta changes nothing there.
    heads = base.family.heads or (None,)
    points = [(head, alpha, beta, boost) for head in heads
              for alpha, beta, boost in itertools.product(
                  ALPHAS, BETAS if base.family.length_bonus(head) else BETAS[:1], BOOSTS)]
    variants = []
    for label, general_text, weight in [("domain only", "none", 0.0),
                                        *((f"+ general {w:g}", "base", w) for w in general_weights)]:
        lm = build_language_model(base, [demo.corpus_path()], work / f"{name}-{label.replace(' ', '_')}",
                                  words=demo.custom_words_path(), general_text=general_text, general_weight=weight)
        decoder = Decoder(base, lm)
        grid = []
        started = time.perf_counter()
        for head, alpha, beta, boost in points:
            weights = replace(DecodingWeights(), lm_alpha=alpha, lm_beta=beta, boost_alpha=boost, head=head)
            scores = {key: evaluate(refs, decoder.decode_text(outs, weights)) for key, (outs, refs) in data.items()}
            wers = {key: score.wer for key, score in scores.items()}
            grid.append({"head": head, "alpha": alpha, "beta": beta, "boost": boost, **wers,
                         "general_deletions": scores["general"].deletions})
            print(f"  {label:>14} {head or ''} a={alpha} b={beta} boost={boost}: dev {wers['dev']:.1%} "
                  f"domain {wers['domain']:.1%} general {wers['general']:.1%}", flush=True)
        tuned = min(grid, key=lambda point: point["dev"])
        variants.append({"lm": label, "order": lm.order, "tuned": tuned, "grid": grid,
                         "seconds": round(time.perf_counter() - started, 1)})
        print(f"{name} {label} (order {lm.order}), tuned on dev ({tuned['head'] or 'the'} head): "
              f"domain {tuned['domain']:.1%}, "
              f"general {tuned['general']:.1%} ({tuned['general_deletions']} general words deleted)", flush=True)
    return {"model": name, "family": base.family.name, "greedy": greedy, "variants": variants}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", action="append", help="base model (repeatable); default: demo-char, demo")
    parser.add_argument("--general-weight", type=float, action="append",
                        help=f"share of the base model's general text in a mixed LM (repeatable; default "
                             f"{GENERAL_TEXT_WEIGHT}, the toolkit's default)")
    parser.add_argument("--out", type=Path, help="write the results as JSON")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.model or ["demo-char", "demo"]:
            results.append(bench_model(name, Path(tmp), args.general_weight or [GENERAL_TEXT_WEIGHT]))
    print(f"\n{'model':<12} {'LM':<14} {'domain WER':>10} {'general WER':>12}  weights (alpha/beta/boost, head)")
    for r in results:
        print(f"{r['model']:<12} {'greedy':<14} {r['greedy']['domain']:>10.1%} {r['greedy']['general']:>12.1%}")
        for v in r["variants"]:
            t = v["tuned"]
            print(f"{r['model']:<12} {v['lm']:<14} {t['domain']:>10.1%} {t['general']:>12.1%}  "
                  f"{t['alpha']}/{t['beta']}/{t['boost']}{', ' + t['head'] if t['head'] else ''}")
    if args.out:
        args.out.write_text(json.dumps(results, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
