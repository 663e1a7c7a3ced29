"""The decoding defaults a user without a dev set gets, chosen leave-one-domain-out.

For every domain of ``bench_domains.py`` (legal, aviation, finance and the demo's cloud sentences
spoken by new voices) and every base model, this builds the custom LM as a new user would, caches
the acoustic outputs of the test, dev and general sets once, and decodes them at every point of a
wide weight grid (head, LM alpha, beta, boosting). It then asks, for each domain in turn: had the
defaults been chosen on the *other* domains only, what would this one have got? The point best on
all domains together is the one to ship as the default; its leave-one-domain-out figures are the
honest estimate of what an unseen domain gets.

    python bench/bench_default_weights.py --out /tmp/weights.json        # measure (minutes per domain)
    python bench/bench_default_weights.py --report /tmp/weights.json     # the tables again

The selection criterion is the median relative test-WER cut against base greedy over the fitting
domains; points that raise general-speech WER by more than 5% relative on any fitting domain are not
eligible (the forgetting guard's bound).
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from bench_domains import NEW_DOMAINS, VOICE_SETS, make_domain

from jupyter_speechcustom import (
    DecodingWeights,
    Recognizer,
    build_language_model,
    evaluate,
    load_base_model,
    read_manifest,
)
from jupyter_speechcustom.lm.builders import cache_dir

DOMAINS = (*NEW_DOMAINS, "cloud-voices")
ALPHAS = (0.3, 0.5, 0.7, 1.0, 1.4, 2.0)
BETAS = (0.5, 1.5, 2.5, 3.5, 5.0, 7.0, 10.0)
BOOSTS = (0.0, 1.0)
GENERAL_RISE = 0.05


def grid(base: Any) -> list[DecodingWeights]:
    heads = base.family.heads or (None,)
    points = []
    for head in heads:
        bonus = base.family.length_bonus(head)
        for alpha, beta, boost in itertools.product(ALPHAS, BETAS if bonus else (1.0,), BOOSTS):
            points.append(DecodingWeights(lm_alpha=alpha, lm_beta=beta, boost_alpha=boost, head=head))
    return points


def measure(domain: str, model: str, voices: str, data_root: Path, work: Path, log: Any) -> dict[str, Any]:
    data = make_domain(domain, data_root, 0, voices)
    base = load_base_model(model)
    sets = {"test": read_manifest(data.test), "dev": read_manifest(data.dev)}
    general = base.profile.general_test if base.profile else None
    if general is not None:
        sets["general"] = read_manifest(general)
    refs = {k: [e["text"] for e in v] for k, v in sets.items()}
    lm = build_language_model(base, [data.corpus], work / f"{model}-{domain}-lm", words=data.words, overwrite=True)
    fused = Recognizer(base, lm=lm)
    outputs = {k: fused.acoustic_outputs([e["audio_filepath"] for e in v]) for k, v in sets.items()}
    greedy = Recognizer(base).decoder
    base_wer = {k: evaluate(refs[k], greedy.decode_text(outputs[k])).wer for k in sets}
    rows = []
    points = grid(base)
    started = time.perf_counter()
    for n, w in enumerate(points, 1):
        row = {**asdict(w)}
        for k in sets:
            if k == "general" and w.boost_alpha:  # boosting is a domain's phrases: general speech sees the same LM
                row[k] = next((r[k] for r in reversed(rows) if r["head"] == w.head and r["lm_alpha"] == w.lm_alpha
                               and r["lm_beta"] == w.lm_beta), None)
                continue
            row[k] = round(evaluate(refs[k], fused.decoder.decode_text(outputs[k], w)).wer, 4)
        rows.append(row)
        if n % 10 == 0:
            log(f"{n}/{len(points)} points, {time.perf_counter() - started:.0f} s")
    return {"domain": domain, "model": model, "voices": voices, "base": {k: round(v, 4) for k, v in base_wer.items()},
            "grid": rows}


def _key(row: dict[str, Any]) -> tuple[Any, ...]:
    return (row["head"], row["lm_alpha"], row["lm_beta"], row["boost_alpha"])


def _cut(result: dict[str, Any], row: dict[str, Any]) -> float:
    return 1 - row["test"] / result["base"]["test"]


def _rise(result: dict[str, Any], row: dict[str, Any]) -> float:
    if row.get("general") is None or "general" not in result["base"]:
        return 0.0
    return row["general"] / result["base"]["general"] - 1


def choose(results: list[dict[str, Any]]) -> tuple[tuple[Any, ...], float]:
    """The grid point with the best median test-WER cut over ``results`` among those that keep general
    speech within the bound on every one."""
    by_point: dict[tuple[Any, ...], list[tuple[float, float]]] = {}
    for r in results:
        for row in r["grid"]:
            by_point.setdefault(_key(row), []).append((_cut(r, row), _rise(r, row)))
    eligible = {k: v for k, v in by_point.items() if len(v) == len(results) and max(x[1] for x in v) <= GENERAL_RISE}
    pool = eligible or by_point
    best = max(pool, key=lambda k: (statistics.median(x[0] for x in pool[k]), statistics.mean(x[0] for x in pool[k])))
    return best, statistics.median(x[0] for x in pool[best])


def report(results: list[dict[str, Any]]) -> None:
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in results:
        groups.setdefault((r["model"], r["voices"]), []).append(r)
    for (model, voices), rs in sorted(groups.items()):
        print(f"\n{model}, {voices} voices: test WER, base -> default chosen on the other domains (leave-one-out)")
        print(f"{'held out':<14} {'base':>6} {'LODO':>6} {'cut':>6} {'general':>15}  weights chosen on the others")
        cuts = []
        for r in rs:
            others = [o for o in rs if o is not r]
            if not others:
                continue
            point, _ = choose(others)
            row = next(x for x in r["grid"] if _key(x) == point)
            cuts.append(_cut(r, row))
            gen = f"{r['base'].get('general', 0):.1%}->{row.get('general') or 0:.1%}"
            print(f"{r['domain']:<14} {r['base']['test']:>6.1%} {row['test']:>6.1%} {_cut(r, row):>6.1%} {gen:>15}  {point}")
        if cuts:
            print(f"median leave-one-domain-out cut: {statistics.median(cuts):.1%}")
        point, med = choose(rs)
        print(f"chosen on all {len(rs)} domains: {point} (median cut {med:.1%})")
        ranked = sorted({_key(x) for x in rs[0]["grid"]},
                        key=lambda k: -statistics.median(_cut(r, next(x for x in r["grid"] if _key(x) == k)) for r in rs))
        for k in ranked[:5]:
            print(f"  {k}: " + ", ".join(f"{r['domain']} {_cut(r, next(x for x in r['grid'] if _key(x) == k)):.0%}"
                                           for r in rs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--domain", action="append", choices=DOMAINS, help=f"repeatable; default: {', '.join(DOMAINS)}")
    parser.add_argument("--model", action="append", help="base model (repeatable); default: demo, demo-char")
    parser.add_argument("--voices", action="append", choices=sorted(VOICE_SETS), help="repeatable; default: unseen")
    parser.add_argument("--data", type=Path, default=cache_dir() / "bench-domains")
    parser.add_argument("--out", type=Path, help="write the grid results as JSON (after every domain)")
    parser.add_argument("--report", type=Path, nargs="+", metavar="JSON", help="only print the tables of earlier runs")
    args = parser.parse_args()
    if args.report:
        results = [r for p in args.report for r in json.loads(p.read_text(encoding="utf-8"))["results"]]
        report(results)
        return
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-weights-") as tmp:
        for voices in args.voices or ["unseen"]:
            for model in args.model or ["demo", "demo-char"]:
                for domain in args.domain or DOMAINS:
                    started = time.perf_counter()

                    def log(line: str, d: str = domain, m: str = model, s: float = started) -> None:
                        print(f"[{d} / {m} +{time.perf_counter() - s:.0f} s] {line}", flush=True)

                    results.append(measure(domain, model, voices, args.data, Path(tmp), log))
                    log("done")
                    if args.out:
                        args.out.write_text(json.dumps({"results": results}, indent=1) + "\n", encoding="utf-8")
    report(results)


if __name__ == "__main__":
    main()
