"""Word and character error rates with their substitutions, deletions and insertions.

Alignments come from jiwer; this module turns them into per-utterance rows usable for
word-aligned diffs, and counts how often custom words are recognized.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from jupyter_speechcustom.errors import SpeechCustomError, check_list

Op = Literal["equal", "substitute", "delete", "insert"]


class EvaluationError(SpeechCustomError, ValueError):
    """References and hypotheses that cannot be compared."""


@dataclass(frozen=True)
class AlignedWord:
    """One step of a word alignment: ``ref`` is None for an insertion, ``hyp`` for a deletion."""

    op: Op
    ref: str | None
    hyp: str | None


@dataclass(frozen=True)
class UtteranceScore:
    """Errors of one utterance, with its word alignment."""

    reference: str
    hypothesis: str
    substitutions: int
    deletions: int
    insertions: int
    reference_words: int
    alignment: tuple[AlignedWord, ...] = field(repr=False)

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def wer(self) -> float:
        return self.errors / max(self.reference_words, 1)


@dataclass(frozen=True)
class Evaluation:
    """Corpus-level scores (rates as fractions) and the per-utterance rows behind them."""

    wer: float
    cer: float
    substitutions: int
    deletions: int
    insertions: int
    hits: int
    reference_words: int
    utterances: tuple[UtteranceScore, ...] = field(repr=False)

    def summary(self) -> dict[str, Any]:
        """The figures without the per-utterance rows, e.g. for JSON."""
        out = asdict(self)
        out.pop("utterances")
        out["utterance_count"] = len(self.utterances)
        return out


def _check(references: Sequence[str], hypotheses: Sequence[str]) -> None:
    check_list(references, "references", "transcripts, one per utterance")
    check_list(hypotheses, "hypotheses", "transcripts, one per utterance")
    if len(references) != len(hypotheses):
        msg = f"{len(references)} references but {len(hypotheses)} hypotheses: pair them one to one"
        raise EvaluationError(msg)
    if not references:
        raise EvaluationError("nothing to evaluate: no references given")
    if not any(ref.split() for ref in references):
        raise EvaluationError("every reference is empty: WER needs reference words")


def _alignment(ref_words: list[str], hyp_words: list[str], chunks: Iterable[Any]) -> tuple[AlignedWord, ...]:
    steps: list[AlignedWord] = []
    for chunk in chunks:
        kind = chunk.type
        if kind == "equal" or kind == "substitute":
            op: Op = "equal" if kind == "equal" else "substitute"
            for r, h in zip(range(chunk.ref_start_idx, chunk.ref_end_idx),
                            range(chunk.hyp_start_idx, chunk.hyp_end_idx)):
                steps.append(AlignedWord(op, ref_words[r], hyp_words[h]))
        elif kind == "delete":
            steps.extend(AlignedWord("delete", ref_words[r], None) for r in range(chunk.ref_start_idx, chunk.ref_end_idx))
        else:
            steps.extend(AlignedWord("insert", None, hyp_words[h]) for h in range(chunk.hyp_start_idx, chunk.hyp_end_idx))
    return tuple(steps)


def evaluate(references: Sequence[str], hypotheses: Sequence[str]) -> Evaluation:
    """Score ``hypotheses`` against ``references`` (both already normalized text).

    Empty references are allowed for single utterances (every hypothesis word is then an
    insertion) as long as some reference has words.
    """
    import jiwer

    _check(references, hypotheses)
    rows = []
    totals = {"substitutions": 0, "deletions": 0, "insertions": 0, "hits": 0, "reference_words": 0}
    for ref, hyp in zip(references, hypotheses):
        ref_words, hyp_words = ref.split(), hyp.split()
        if not ref_words:
            alignment = tuple(AlignedWord("insert", None, h) for h in hyp_words)
            s = d = hits = 0
            i = len(hyp_words)
        elif not hyp_words:
            alignment = tuple(AlignedWord("delete", r, None) for r in ref_words)
            s = i = hits = 0
            d = len(ref_words)
        else:
            out = jiwer.process_words(" ".join(ref_words), " ".join(hyp_words))
            s, d, i, hits = out.substitutions, out.deletions, out.insertions, out.hits
            alignment = _alignment(ref_words, hyp_words, out.alignments[0])
        rows.append(UtteranceScore(ref, hyp, s, d, i, len(ref_words), alignment))
        for key, value in (("substitutions", s), ("deletions", d), ("insertions", i), ("hits", hits),
                           ("reference_words", len(ref_words))):
            totals[key] += value
    errors = totals["substitutions"] + totals["deletions"] + totals["insertions"]
    pairs = [(r, h) for r, h in zip(references, hypotheses) if r.strip()]
    cer = jiwer.cer([r for r, _ in pairs], [h if h.strip() else "" for _, h in pairs]) if pairs else 0.0
    return Evaluation(wer=errors / totals["reference_words"], cer=float(cer), utterances=tuple(rows), **totals)


@dataclass(frozen=True)
class TermHits:
    """How often a custom word or phrase in the references was recognized."""

    term: str
    occurrences: int
    recognized: int

    @property
    def hit_rate(self) -> float:
        return self.recognized / self.occurrences if self.occurrences else float("nan")


def term_hit_rates(references: Sequence[str], hypotheses: Sequence[str], terms: Iterable[str]) -> list[TermHits]:
    """Per term: occurrences in the references, and how many the hypotheses also contain.

    Counted per utterance as ``min(count in reference, count in hypothesis)``, on whole
    words, so a term that is recognized where it was not said earns nothing.
    """
    _check(references, hypotheses)
    check_list(terms, "terms", "words or phrases")
    result = []
    for term in dict.fromkeys(t.strip() for t in terms if t.strip()):
        pattern = f" {term} "
        occurrences = recognized = 0
        for ref, hyp in zip(references, hypotheses):
            in_ref = f" {' '.join(ref.split())} ".count(pattern)
            in_hyp = f" {' '.join(hyp.split())} ".count(pattern)
            occurrences += in_ref
            recognized += min(in_ref, in_hyp)
        if occurrences:
            result.append(TermHits(term, occurrences, recognized))
    return result
