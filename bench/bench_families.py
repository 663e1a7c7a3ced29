"""The customization chain on every model family, and what LM fusion costs against greedy decoding.

For each ``.nemo`` in a folder of family models (``python -m jupyter_speechcustom.demo.family_models
--out DIR [--train ...]``), registers a profile with the demo's data (general text and speech, domain
corpus, custom words, untranscribed domain audio, dev and test sets) and runs the chain
(:func:`jupyter_speechcustom.services.chain.run_chain`): domain test WER of base, + custom LM,
+ custom AM (lightly supervised) and both. Then times recognition end to end (audio files to
text) on the domain test set, greedy and with the custom LM fused at tuned weights, on ``--threads``
torch threads (default 1: on a shared CPU a thread pool waits for descheduled threads, and two
threads ran 3-20x slower than one, run to run, under a load average of 3-4).

    python bench/bench_families.py --models DIR [--family NAME ...] [--epochs N] [--threads N] [--out results.json]

``--epochs 0`` skips the custom AM (base and + custom LM only, with weights tuned on the dev set).

Goals: the custom LM cuts WER by at least half on every family; LM-fused recognition costs at
most 1.5x greedy recognition end to end on a CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from jupyter_speechcustom import demo
from jupyter_speechcustom.asr.decoding import Decoder, DecodingWeights, tune
from jupyter_speechcustom.asr.models import load_base_model
from jupyter_speechcustom.asr.profiles import register_profile
from jupyter_speechcustom.asr.recognize import acoustic_outputs, greedy_decode
from jupyter_speechcustom.constants import CONFIDENCE_THRESHOLD
from jupyter_speechcustom.evaluation.metrics import evaluate
from jupyter_speechcustom.io.manifest import read_manifest
from jupyter_speechcustom.lm.language_model import build_language_model
from jupyter_speechcustom.services.chain import format_table, run_chain
from jupyter_speechcustom.services.recognition import Recognizer


def _lm_only(base, work: Path) -> tuple[dict, dict, Path, DecodingWeights]:
    """Base and + custom LM (weights tuned on the dev set) on the domain and general test sets."""
    lm = build_language_model(base, [demo.corpus_path()], work / "lm", words=demo.custom_words_path())
    dev = read_manifest(demo.manifest("domain/dev"))
    decoder = Decoder(base, lm)
    tuned = tune(decoder, acoustic_outputs(base, [e["audio_filepath"] for e in dev]), [e["text"] for e in dev])
    domain: dict[str, float] = {}
    general: dict[str, float] = {}
    for split, table in (("domain/test", domain), ("general/test", general)):
        entries = read_manifest(demo.manifest(split))
        outputs = acoustic_outputs(base, [e["audio_filepath"] for e in entries])
        refs = [e["text"] for e in entries]
        table["base"] = evaluate(refs, greedy_decode(base, outputs)).wer
        table["base + custom LM"] = evaluate(refs, decoder.decode_text(outputs, tuned.best)).wer
    return domain, general, lm.path, tuned.best


def bench_family(path: Path, epochs: int, work: Path, threshold: float = CONFIDENCE_THRESHOLD,
                 threads: int = 1) -> dict:
    name = f"bench-{path.stem}"
    register_profile(replace(demo.PROFILE, name=name, model_path=path, description=f"{path.stem} (bench)"),
                     replace=True)
    base = load_base_model(name)
    if epochs > 0:
        chain = run_chain(base, work / path.stem, epochs=epochs, report=lambda line: print(f"[{path.stem}] {line}"),
                          confidence_threshold=threshold)
        print(format_table(chain.systems))
        wers = {s.system: s.domain.wer for s in chain.systems}
        general = {s.system: s.general.wer for s in chain.systems}
        fused = next(s for s in chain.systems if s.system == "base + custom LM")
        lm_path, weights = chain.lm_path, fused.weights
    else:
        wers, general, lm_path, weights = _lm_only(base, work / path.stem)
        print(f"[{path.stem}] {wers}")

    audio = [e["audio_filepath"] for e in read_manifest(demo.manifest("domain/test"))]
    greedy = Recognizer(base)
    customized = Recognizer(base, lm=lm_path, weights=weights)
    greedy.transcribe(audio[:2]), customized.transcribe(audio[:2])  # warm up: load the LM once
    timings = {}
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for label, recognizer in (("greedy", greedy), ("custom LM", customized)):
            started = time.perf_counter()
            recognizer.transcribe(audio)
            timings[label] = time.perf_counter() - started
    finally:
        torch.set_num_threads(before)
    return {"family": type(base.family).__name__, "model": str(path), "domain_wer": wers, "general_wer": general,
            "lm_relative_wer": wers["base + custom LM"] / wers["base"] if wers["base"] else None,
            "seconds": timings, "fused_vs_greedy": timings["custom LM"] / timings["greedy"],
            "tuned_weights": weights.__dict__ if weights else None, "utterances": len(audio),
            "torch_threads": threads, "load_average": os.getloadavg()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=Path, required=True, help="folder of family .nemo files")
    parser.add_argument("--family", action="append", help="only these (file stems)")
    parser.add_argument("--epochs", type=int, default=4, help="custom AM training epochs")
    parser.add_argument("--threshold", type=float, default=CONFIDENCE_THRESHOLD,
                        help="pseudo-label confidence threshold of the custom AM's lightly supervised training")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the timed recognition")
    parser.add_argument("--out", type=Path, help="write the figures here as JSON")
    args = parser.parse_args()
    paths = sorted(p for p in args.models.glob("*.nemo") if not args.family or p.stem in args.family)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for path in paths:
            results.append(bench_family(path, args.epochs, Path(tmp), args.threshold, args.threads))
            print(json.dumps(results[-1], indent=1))
            if args.out:  # after every family, so that a long run keeps what it has measured
                args.out.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    print("\nfamily            base   +LM    +AM    both   LM/base  fused/greedy")
    for r in results:
        w = r["domain_wer"]
        am, both = w.get("custom AM"), w.get("custom AM + custom LM")
        print(f"{Path(r['model']).stem:16s} {w['base']:6.1%} {w['base + custom LM']:6.1%} "
              f"{'   -  ' if am is None else f'{am:6.1%}'} {'   -  ' if both is None else f'{both:6.1%}'}  "
              f"{r['lm_relative_wer'] or 0:6.2f}  {r['fused_vs_greedy']:6.2f}x")


if __name__ == "__main__":
    main()
