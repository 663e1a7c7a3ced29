"""Can decoding weights be tuned on untranscribed audio alone? Transcript-free criteria against the defaults.

A user who builds a custom LM for a new domain but has no transcribed dev set decodes at the default
weights (``default_weights``: for the hybrid ``demo`` model, its CTC head at LM alpha 1.4, beta 5.0).
The same user often has audio of the domain with no transcripts (``bench_domains.py``'s 150 train
utterances). This bench asks whether weights chosen on that audio alone, by a criterion that needs no
transcript, beat the defaults on the domain's test set.

For every domain of ``bench_domains.py`` (legal, aviation, finance and the demo's cloud sentences spoken
by new voices) it builds the custom LM as a new user would, caches the acoustic outputs of the
untranscribed, dev and test sets once, and decodes them at every point of a modest grid (each head of a
hybrid, alpha 0.5-2.0, beta 1.5-7.0 where the head has a length bonus, no boosting). Each criterion scores
every grid point from the untranscribed audio's transcripts only (lower is better); the best wins, points
within ``TUNE_TOLERANCE`` of it being ties won by the one nearest the defaults (``tune``'s rule):

- ``agree-same``: WER between the two heads' transcripts at the point's weights (a CTC point against
  the transducer at its alpha; a transducer point against CTC at its alpha and the default beta);
- ``agree-default``: WER between the point's transcripts and the other head's at its default weights;
- ``confidence``: mean utterance confidence (``utterance_confidences``: stability under a heavier LM
  times the relative word posterior, one posterior reference for every point);
- ``posterior``: mean word posterior of the transcripts (``pseudo_labels.utterance_confidence``);
- ``consensus``: WER against pseudo-references: per utterance, the transcript most grid points agree on
  (each head's points together weigh as much as the other's), on the utterances whose confidence at the
  defaults clears the calibrated bar (``calibrated_threshold``);
- ``heads-agree``: WER against the transcripts on which both heads agree at their default weights, on
  those utterances only (circular by construction: the default point scores 0 on them);
- ``medoid``: mean WER against every other grid point's transcripts (system-level minimum Bayes risk);
- ``plateau``: mean WER against the point's grid neighbours (same head, next alpha or beta): a flat
  region of the weights;
- ``consensus-shrunk``: ``consensus`` with a ten times wider tie band (1 point of pseudo-WER), so it
  leaves the defaults only for a clear gain;
- ``length``: how far the transcripts' word count is from base greedy's (relative; ties within 1%): an LM
  pulls towards deletions, beta towards insertions, and greedy's word count is roughly right even where
  its words are wrong; ``length-beta``: the same, beta only, at the default head and alpha.

Reported per domain: base greedy test WER, the defaults', each criterion's choice and its test WER, the
oracle grid point on the test set and the weights a 20-utterance dev set tunes (``tune``), both for
reference only; also WER on the untranscribed set itself against its true transcripts (evaluation only,
never seen by a criterion: 150 utterances, a steadier figure than the 40 of test), and per criterion the
rank correlation over the grid between its score and that true WER (can it tell good weights from bad?).

    python bench/bench_unsupervised_tuning.py --out /tmp/unsup.json            # measure (minutes per domain)
    python bench/bench_unsupervised_tuning.py --report /tmp/unsup.json         # the tables again

A criterion is worth adopting if its test WER beats the defaults' on the median over the new domains
(legal, aviation, finance) and loses no more than 2 points on any. The defaults were themselves chosen
on these domains (``bench_default_weights.py``), so they are an in-sample, optimistic baseline here.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
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
    tune,
)
from jupyter_speechcustom.am.pseudo_labels import calibrated_threshold, utterance_confidence
from jupyter_speechcustom.asr.confidence import posterior_reference, utterance_confidences
from jupyter_speechcustom.asr.decoding import _distance, default_weights, head_defaults
from jupyter_speechcustom.constants import TUNE_TOLERANCE
from jupyter_speechcustom.lm.builders import cache_dir

DOMAINS = (*NEW_DOMAINS, "cloud-voices")
ALPHAS = (0.5, 0.7, 1.0, 1.4, 2.0)
BETAS = (1.5, 2.5, 3.5, 5.0, 7.0)
#: Criterion -> tie band (points within it of the best score are ties, won by the one nearest the defaults).
CRITERIA = {
    "agree-same": TUNE_TOLERANCE,
    "agree-default": TUNE_TOLERANCE,
    "confidence": TUNE_TOLERANCE,
    "posterior": TUNE_TOLERANCE,
    "consensus": TUNE_TOLERANCE,
    "heads-agree": TUNE_TOLERANCE,
    "medoid": TUNE_TOLERANCE,
    "plateau": TUNE_TOLERANCE,
    "consensus-shrunk": 10 * TUNE_TOLERANCE,
    "length": 0.01,
    "length-beta": 0.01,
}
ROUND = 4


def grid(base: Any) -> list[DecodingWeights]:
    """Each head (of a hybrid), alpha x beta where the head has a length bonus, else alpha at its default beta."""
    points = []
    for head in base.family.heads or (None,):
        bonus = base.family.length_bonus(head or base.head)
        prior = head_defaults(base, head)
        for alpha in ALPHAS:
            for beta in BETAS if bonus else (prior.lm_beta,):
                points.append(DecodingWeights(lm_alpha=alpha, lm_beta=beta, head=head))
    return points


def _key(w: DecodingWeights | dict[str, Any]) -> tuple[Any, float, float]:
    d = asdict(w) if isinstance(w, DecodingWeights) else w
    return (d["head"], d["lm_alpha"], d["lm_beta"])


# --------------------------------------------------------------------------- transcript distances


class Distances:
    """Word edit distances between transcripts, each pair of distinct strings computed once."""

    def __init__(self) -> None:
        self._memo: dict[tuple[str, str], int] = {}

    def edits(self, ref: str, hyp: str) -> int:
        if ref == hyp:
            return 0
        key = (ref, hyp) if ref <= hyp else (hyp, ref)
        found = self._memo.get(key)
        if found is None:
            a, b = ref.split(), hyp.split()
            prev = list(range(len(b) + 1))
            for i, x in enumerate(a, 1):
                row = [i]
                for j, y in enumerate(b, 1):
                    row.append(min(prev[j - 1] + (x != y), prev[j] + 1, row[j - 1] + 1))
                prev = row
            found = self._memo[key] = prev[-1]
        return found

    def wer(self, refs: Sequence[str], hyps: Sequence[str], keep: Sequence[int] | None = None) -> float:
        """Corpus WER of ``hyps`` against ``refs`` (on the utterances ``keep`` only, where given)."""
        rows = range(len(refs)) if keep is None else keep
        words = sum(len(refs[n].split()) for n in rows)
        edits = sum(self.edits(refs[n], hyps[n]) for n in rows)
        return edits / max(words, 1)

    def symmetric(self, a: Sequence[str], b: Sequence[str]) -> float:
        """The WER of each against the other, averaged: neither side is the reference."""
        return (self.wer(a, b) + self.wer(b, a)) / 2


# --------------------------------------------------------------------------- criteria (no transcripts)


def criteria_scores(points: Sequence[DecodingWeights], texts: dict[tuple[Any, float, float], list[str]],
                    conf: dict[tuple[Any, float, float], list[float]],
                    posterior: dict[tuple[Any, float, float], list[float]],
                    defaults: dict[str | None, DecodingWeights], main: DecodingWeights,
                    greedy: Sequence[str], dist: Distances) -> tuple[dict[str, dict[tuple[Any, float, float], float | None]], dict[str, Any]]:
    """Every criterion's score (lower is better) of every point, from the untranscribed set's
    transcripts and confidences only; also what the pseudo-references were."""
    keys = [_key(p) for p in points]
    heads = list(dict.fromkeys(k[0] for k in keys))
    count = len(texts[keys[0]])
    scores: dict[str, dict[tuple[Any, float, float], float | None]] = {c: {} for c in CRITERIA}
    default_key = {h: _key(w) for h, w in defaults.items()}

    def partner(k: tuple[Any, float, float]) -> tuple[Any, float, float] | None:
        head, alpha, beta = k
        others = [h for h in heads if h != head]
        if not others:
            return None
        other = others[0]
        found = [q for q in keys if q[0] == other and q[1] == alpha]
        if not found:
            return None
        return next((q for q in found if q[2] == beta), None) or next(
            (q for q in found if q[2] == default_key[other][2]), found[0])

    for k in keys:
        p = partner(k)
        scores["agree-same"][k] = dist.symmetric(texts[k], texts[p]) if p else None
        others = [h for h in heads if h != k[0]]
        scores["agree-default"][k] = dist.symmetric(texts[k], texts[default_key[others[0]]]) if others else None
        scores["confidence"][k] = -statistics.fmean(conf[k])
        scores["posterior"][k] = -statistics.fmean(posterior[k])
        words = sum(len(t.split()) for t in greedy)
        scores["length"][k] = abs(sum(len(t.split()) for t in texts[k]) / max(words, 1) - 1)
        main_k = _key(main)
        scores["length-beta"][k] = scores["length"][k] if (k[0], k[1]) == main_k[:2] else None

    # Consensus pseudo-references: the transcript most points agree on, each head's points weighing 1 in all.
    per_head = Counter(k[0] for k in keys)
    references, agreement = [], []
    for n in range(count):
        votes: Counter[str] = Counter()
        for k in keys:
            votes[texts[k][n]] += 1 / per_head[k[0]]
        text, share = votes.most_common(1)[0]
        references.append(text)
        agreement.append(share / len(heads))
    main_key = _key(main)
    bar = calibrated_threshold([c for c, t in zip(conf[main_key], texts[main_key]) if t])
    kept = [n for n in range(count) if conf[main_key][n] >= bar and texts[main_key][n]]
    for k in keys:
        scores["consensus"][k] = dist.wer(references, texts[k], kept)
        scores["consensus-shrunk"][k] = scores["consensus"][k]

    # Both heads agree at their defaults (circular: the defaults score 0 there).
    if len(heads) > 1:
        a, b = (texts[default_key[h]] for h in heads[:2])
        agreed = [n for n in range(count) if a[n] == b[n] and a[n]]
        for k in keys:
            scores["heads-agree"][k] = dist.wer(a, texts[k], agreed)
    else:
        agreed = []
        scores["heads-agree"] = dict.fromkeys(keys)

    for k in keys:
        scores["medoid"][k] = statistics.fmean(dist.symmetric(texts[k], texts[q]) for q in keys if q != k)
        alphas = sorted({q[1] for q in keys if q[0] == k[0]})
        betas = sorted({q[2] for q in keys if q[0] == k[0]})
        ia, ib = alphas.index(k[1]), betas.index(k[2])
        near = [(k[0], alphas[i], k[2]) for i in (ia - 1, ia + 1) if 0 <= i < len(alphas)]
        near += [(k[0], k[1], betas[i]) for i in (ib - 1, ib + 1) if 0 <= i < len(betas)]
        scores["plateau"][k] = statistics.fmean(dist.symmetric(texts[k], texts[q]) for q in near if q in texts)
    info = {"consensus_kept": len(kept), "consensus_bar": round(bar, ROUND),
            "consensus_mean_agreement": round(statistics.fmean(agreement), ROUND), "heads_agree": len(agreed),
            "utterances": count}
    return scores, info


def choose(rows: Sequence[dict[str, Any]], criterion: str) -> dict[str, Any] | None:
    """The row with the lowest score of ``criterion``; rows within its tie band won by the nearest the defaults."""
    scored = [r for r in rows if r["scores"].get(criterion) is not None]
    if not scored:
        return None
    lowest = min(r["scores"][criterion] for r in scored)
    ties = [r for r in scored if r["scores"][criterion] <= lowest + CRITERIA[criterion] + 1e-12]
    return min(ties, key=lambda r: (r["distance"], r["scores"][criterion]))


# --------------------------------------------------------------------------- measuring


def measure(domain: str, model: str, voices: str, data_root: Path, work: Path, log: Callable[[str], None]
            ) -> dict[str, Any]:
    started = time.perf_counter()
    data = make_domain(domain, data_root, 0, voices)
    base = load_base_model(model)
    lm = build_language_model(base, [data.corpus], work / f"{model}-{domain}-lm", words=data.words, overwrite=True)
    fused = Recognizer(base, lm=lm)
    decoder = fused.decoder
    sets = {k: read_manifest(p) for k, p in (("train", data.train), ("dev", data.dev), ("test", data.test))}
    # Evaluation only: the untranscribed set's true transcripts never reach a criterion.
    train_truth = {e["audio_filepath"]: e["text"] for e in read_manifest(data.train_references)}
    refs = {"train": [train_truth[e["audio_filepath"]] for e in sets["train"]],
            "dev": [e["text"] for e in sets["dev"]], "test": [e["text"] for e in sets["test"]]}
    outputs = {k: fused.acoustic_outputs([e["audio_filepath"] for e in v]) for k, v in sets.items()}
    log(f"acoustic outputs cached ({sum(len(v) for v in outputs.values())} utterances)")
    greedy = Recognizer(base).decoder
    greedy_texts = {k: greedy.decode_text(outputs[k]) for k in ("train", "test")}
    base_wer = {k: round(evaluate(refs[k], greedy_texts[k]).wer, ROUND) for k in ("train", "test")}

    main = default_weights(base, lm)
    defaults = {h: head_defaults(base, h) for h in base.family.heads} if base.family.heads else {None: main}
    points = grid(base)
    for w in (main, *defaults.values()):
        if _key(w) not in {_key(p) for p in points}:
            points.append(w)
    # One posterior reference for every point, so the confidence compares points on one scale.
    reference = posterior_reference(decoder.decode(outputs["train"], main))
    texts, conf, posterior, rows = {}, {}, {}, []
    for n, w in enumerate(points, 1):
        transcripts = decoder.decode(outputs["train"], w)
        k = _key(w)
        texts[k] = [t.text for t in transcripts]
        conf[k] = utterance_confidences(decoder, outputs["train"], transcripts, w, reference=reference)
        posterior[k] = [utterance_confidence(t.words) if t.text else 0.0 for t in transcripts]
        rows.append({**asdict(w), "distance": round(_distance(w, main, base), ROUND),
                     "test": round(evaluate(refs["test"], decoder.decode_text(outputs["test"], w)).wer, ROUND),
                     "train_truth": round(evaluate(refs["train"], texts[k]).wer, ROUND)})
        if n % 10 == 0:
            log(f"{n}/{len(points)} points")
    scores, info = criteria_scores(points, texts, conf, posterior, defaults, main, greedy_texts["train"],
                                   Distances())
    for row in rows:
        row["scores"] = {c: (None if scores[c][_key(row)] is None else round(scores[c][_key(row)], 6))
                         for c in CRITERIA}
    tuned = tune(decoder, outputs["dev"], refs["dev"], lm_alphas=ALPHAS, lm_betas=BETAS, boost_alphas=(0.0,))
    return {"domain": domain, "model": model, "voices": voices, "base": base_wer, "default": asdict(main),
            "dev_tuned": asdict(tuned.best), "info": info, "grid": rows,
            "seconds": round(time.perf_counter() - started, 1)}


# --------------------------------------------------------------------------- report


def _weights(row: dict[str, Any] | None) -> str:
    if row is None:
        return "-"
    head = {"ctc": "ctc", "transducer": "tdt", None: ""}.get(row["head"], str(row["head"]))
    beta = "" if head == "tdt" else f" b{row['lm_beta']:g}"
    return f"{head} a{row['lm_alpha']:g}{beta}".strip()


def _row(result: dict[str, Any], weights: dict[str, Any]) -> dict[str, Any]:
    return next(r for r in result["grid"] if _key(r) == _key(weights))


def summarize(result: dict[str, Any]) -> dict[str, Any]:
    """Per criterion: its choice and the test / untranscribed-set WER there; with defaults, oracle and dev-tuned."""
    rows = result["grid"]
    default = _row(result, result["default"])
    oracle = min(rows, key=lambda r: (r["test"], r["distance"]))
    oracle_train = min(rows, key=lambda r: (r["train_truth"], r["distance"]))
    out = {"base": result["base"], "default": default, "oracle": oracle, "oracle_train": oracle_train,
           "dev_tuned": _row(result, result["dev_tuned"]), "criteria": {c: choose(rows, c) for c in CRITERIA}}
    return out


def _ranks(values: Sequence[float]) -> list[float]:
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2
        i = j + 1
    return ranks


def rank_correlation(result: dict[str, Any], criterion: str) -> float | None:
    """Spearman correlation over the grid between ``criterion``'s score and the untranscribed set's true WER
    (a diagnostic: 1 would rank every point as its true WER does)."""
    rows = [r for r in result["grid"] if r["scores"].get(criterion) is not None]
    if len(rows) < 3:
        return None
    a, b = _ranks([r["scores"][criterion] for r in rows]), _ranks([r["train_truth"] for r in rows])
    try:
        return statistics.correlation(a, b)
    except statistics.StatisticsError:  # a constant score
        return None


def report(results: list[dict[str, Any]]) -> None:
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in results:
        groups.setdefault((r["model"], r["voices"]), []).append(r)
    for (model, voices), rs in sorted(groups.items()):
        sums = {r["domain"]: summarize(r) for r in rs}
        print(f"\n{model}, {voices} voices: test WER (40 utterances) | WER on the 150 untranscribed utterances "
              "against their true transcripts (evaluation only)")
        for r in rs:
            s = sums[r["domain"]]
            i = r["info"]
            print(f"\n{r['domain']} ({r['seconds']:.0f} s; consensus keeps {i['consensus_kept']}/{i['utterances']} "
                  f"at bar {i['consensus_bar']:g}, mean agreement {i['consensus_mean_agreement']:.0%}; "
                  f"heads agree at defaults on {i['heads_agree']})")
            print(f"  {'':<18} {'weights':<14} {'test':>6} {'untr.':>6}")
            print(f"  {'base greedy':<18} {'':<14} {s['base']['test']:>6.1%} {s['base']['train']:>6.1%}")
            for label, row in (("defaults", s["default"]), ("oracle (test)", s["oracle"]),
                               ("oracle (untr.)", s["oracle_train"]), ("dev-tuned (20 utt)", s["dev_tuned"]),
                               *s["criteria"].items()):
                if row is None:
                    print(f"  {label:<18} {'n/a':<14}")
                    continue
                print(f"  {label:<18} {_weights(row):<14} {row['test']:>6.1%} {row['train_truth']:>6.1%}")
        new = [d for d in sums if d in NEW_DOMAINS]
        print(f"\nsummary, {model} / {voices}: test WER change against the defaults (points; negative is better), "
              f"median over the new domains ({', '.join(new)}), worst loss on any")
        print(f"  {'criterion':<18} " + " ".join(f"{d:>13}" for d in sums) + f" {'median new':>11} {'worst':>7}"
              f" {'untr. median':>13}")
        labels = ["dev-tuned", "oracle", *CRITERIA]
        for label in labels:
            deltas, untr = {}, {}
            for d, s in sums.items():
                row = s["dev_tuned"] if label == "dev-tuned" else s["oracle"] if label == "oracle" \
                    else s["criteria"][label]
                if row is None:
                    continue
                deltas[d] = 100 * (row["test"] - s["default"]["test"])
                untr[d] = 100 * (row["train_truth"] - s["default"]["train_truth"])
            if not deltas:
                continue
            cells = " ".join(f"{deltas[d]:>+13.1f}" if d in deltas else f"{'-':>13}" for d in sums)
            med = [deltas[d] for d in new if d in deltas]
            med_untr = [untr[d] for d in new if d in untr]
            verdict = ""
            if label in CRITERIA and med:
                verdict = "  beats the defaults" if statistics.median(med) < 0 and max(deltas.values()) <= 2 else ""
            print(f"  {label:<18} {cells} {statistics.median(med) if med else float('nan'):>+11.1f} "
                  f"{max(deltas.values()):>+7.1f} {statistics.median(med_untr) if med_untr else float('nan'):>+13.1f}"
                  f"{verdict}")
        print(f"\nrank correlation over the grid, {model} / {voices}: each criterion's score against the "
              "untranscribed set's true WER (diagnostic; 1: it ranks the points as their true WER does)")
        print(f"  {'criterion':<18} " + " ".join(f"{d:>13}" for d in sums))
        for label in CRITERIA:
            values = [rank_correlation(r, label) for r in rs]
            print(f"  {label:<18} " + " ".join(f"{v:>13.2f}" if v is not None else f"{'-':>13}" for v in values))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--domain", action="append", choices=DOMAINS, help=f"repeatable; default: {', '.join(DOMAINS)}")
    parser.add_argument("--model", default="demo", help="base model (default: demo)")
    parser.add_argument("--voices", default="unseen", choices=sorted(VOICE_SETS), help="default: unseen")
    parser.add_argument("--data", type=Path, default=cache_dir() / "bench-domains")
    parser.add_argument("--out", type=Path, help="write the results as JSON (after every domain)")
    parser.add_argument("--report", type=Path, nargs="+", metavar="JSON", help="only print the tables of earlier runs")
    args = parser.parse_args()
    if args.report:
        report([r for p in args.report for r in json.loads(p.read_text(encoding="utf-8"))["results"]])
        return
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-unsupervised-") as tmp:
        for domain in args.domain or DOMAINS:
            started = time.perf_counter()

            def log(line: str, d: str = domain, s: float = started) -> None:
                print(f"[{d} / {args.model} / {args.voices} +{time.perf_counter() - s:.0f} s] {line}", flush=True)

            results.append(measure(domain, args.model, args.voices, args.data, Path(tmp), log))
            log("done")
            if args.out:
                args.out.write_text(json.dumps({"results": results}, indent=1) + "\n", encoding="utf-8")
    report(results)


if __name__ == "__main__":
    main()
