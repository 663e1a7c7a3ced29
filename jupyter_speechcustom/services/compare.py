"""Compare recognition systems on a test set: base, + custom LM, + custom AM, both.

The acoustic models run once per test set; :meth:`Comparison.decode` re-decodes the cached
log-probs with other weights (never re-running an acoustic model) and re-scores. This is the
one comparison service: the Studio's Compare panel, the workspace's ``compare`` jobs and the
customization chain all use it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from jupyter_speechcustom.asr.decoding import Decoder, DecodingWeights, TuneResult
from jupyter_speechcustom.asr.recognize import AcousticOutput, acoustic_outputs
from jupyter_speechcustom.evaluation.metrics import Evaluation, TermHits, UtteranceScore
from jupyter_speechcustom.jobs.progress import raise_if_cancelled, scaled

if TYPE_CHECKING:
    from jupyter_speechcustom.asr.models import BaseModel
    from jupyter_speechcustom.lm.language_model import CustomLanguageModel

__all__ = ["SYSTEMS", "AcousticCache", "Comparison", "TestItem", "cached_acoustic_outputs", "check_comparison", "dev_items", "run_comparison"]

#: Acoustic outputs kept across comparisons, by (model fingerprint, audio files).
AcousticCache = dict[tuple[str, tuple[str, ...]], list[AcousticOutput]]

#: System names: the base model, with the custom LM, with the custom AM, with both.
SYSTEMS = ("base", "+LM", "+AM", "+AM+LM")


@dataclass(frozen=True)
class TestItem:
    """One utterance to recognize: a title, its audio file and its reference (None if unknown)."""

    title: str
    audio: str
    reference: str | None = None


@dataclass(frozen=True)
class _Scores:
    texts: dict[str, list[str]]
    evaluations: dict[str, Evaluation]
    hits: dict[str, list[TermHits]]
    weights: DecodingWeights


@dataclass
class Comparison:
    """Systems run on a test set: cached log-probs, decoders, transcripts and scores.

    ``evaluations`` is empty when some utterance has no reference: then each system is
    diffed against the first one instead.
    """

    label: str
    items: list[TestItem]
    systems: list[str]
    outputs: dict[str, list[AcousticOutput]] = field(repr=False)
    decoders: dict[str, Decoder] = field(repr=False)
    acoustic: dict[str, str] = field(repr=False)
    terms: list[str]
    scores: _Scores = field(repr=False)

    @property
    def has_references(self) -> bool:
        return all(item.reference is not None and item.reference.strip() for item in self.items)

    @property
    def texts(self) -> dict[str, list[str]]:
        return self.scores.texts

    @property
    def evaluations(self) -> dict[str, Evaluation]:
        return self.scores.evaluations

    @property
    def hits(self) -> dict[str, list[TermHits]]:
        return self.scores.hits

    @property
    def weights(self) -> DecodingWeights:
        return self.scores.weights

    def display_forms(self, index: int) -> dict[str, str]:
        """Each system's transcript of utterance ``index`` as shown with its custom words' display-as
        forms (``Transcript.display_text``), for the systems where those forms change it."""
        from jupyter_speechcustom.text.words import apply_display_as

        forms = {}
        for name in self.systems:
            words = self.decoders[name].words
            text = self.texts[name][index]
            shown = apply_display_as(text, words) if words else text
            if shown != text:
                forms[name] = shown
        return forms

    def decode(self, weights: DecodingWeights) -> None:
        """Re-decode every system from the cached log-probs with ``weights``, and re-score."""
        texts = {name: self.decoders[name].decode_text(self.outputs[self.acoustic[name]], weights)
                 for name in self.systems}
        self.scores = self._score(texts, weights)  # one assignment: readers never see half an update

    def _score(self, texts: dict[str, list[str]], weights: DecodingWeights) -> _Scores:
        from jupyter_speechcustom.evaluation.metrics import evaluate, term_hit_rates

        evaluations: dict[str, Evaluation] = {}
        hits: dict[str, list[TermHits]] = {}
        if self.has_references:
            refs = [item.reference or "" for item in self.items]
            for name in self.systems:
                evaluations[name] = evaluate(refs, texts[name])
                if self.terms:
                    hits[name] = term_hit_rates(refs, texts[name], self.terms)
        return _Scores(texts, evaluations, hits, weights)

    def utterance(self, index: int) -> tuple[str, str, dict[str, UtteranceScore], str]:
        """``(title, reference, {system: score}, reference label)`` of utterance ``index``.

        Without references, the first system's transcript stands in as the reference.
        """
        from jupyter_speechcustom.evaluation.metrics import evaluate

        item = self.items[index]
        current = self.scores  # one snapshot: a re-decode may swap the scores meanwhile
        if self.has_references:
            scores = {name: current.evaluations[name].utterances[index] for name in self.systems}
            return item.title, item.reference or "", scores, "reference"
        first = self.systems[0]
        reference = current.texts[first][index]
        others = self.systems[1:] or self.systems
        scores = {}
        for name in others:
            hyp = current.texts[name][index]
            if reference.split():
                scores[name] = evaluate([reference], [hyp]).utterances[0]
            else:
                from jupyter_speechcustom.evaluation.metrics import AlignedWord, UtteranceScore

                words = hyp.split()
                scores[name] = UtteranceScore("", hyp, 0, 0, len(words), 0,
                                              tuple(AlignedWord("insert", None, w) for w in words))
        return item.title, reference, scores, f"{first} (no reference)"

    def to_dict(self) -> dict[str, Any]:
        """A JSON summary: per system its weights and scores, and every transcript."""
        return {
            "test_set": self.label,
            "weights": asdict(self.weights),
            "systems": {name: (self.evaluations[name].summary() if name in self.evaluations else {})
                        for name in self.systems},
            "term_hits": {name: [{"term": h.term, "occurrences": h.occurrences, "recognized": h.recognized}
                                 for h in hits] for name, hits in self.hits.items()},
            "utterances": [{"title": item.title, "audio": item.audio, "reference": item.reference,
                            "hypotheses": {name: self.texts[name][i] for name in self.systems}}
                           for i, item in enumerate(self.items)],
        }

    def summary(self) -> dict[str, Any]:
        """What a job keeps of a comparison: the test set and each system's WER."""
        return {"test_set": self.label, "wer": {name: e.wer for name, e in self.evaluations.items()}}

    def differs(self, index: int) -> bool:
        texts = self.texts
        return len({texts[name][index] for name in self.systems}) > 1

    def gain(self, index: int) -> float:
        """Errors of the first system minus errors of the last, for utterance ``index``."""
        if not self.has_references or len(self.systems) < 2:
            return 0.0
        evaluations = self.evaluations
        first = evaluations[self.systems[0]].utterances[index].errors
        last = evaluations[self.systems[-1]].utterances[index].errors
        return float(first - last)

    def tune(
        self,
        dev: Sequence[TestItem],
        *,
        cache: AcousticCache | None = None,
        progress: Callable[[float, str], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> dict[str, TuneResult]:
        """Tune LM alpha, beta and boost of each LM system (``+LM``, ``+AM+LM``) on ``dev``.

        ``dev`` is a transcribed development set (e.g. :func:`dev_items`), never the test
        set. Each acoustic model runs once on it (kept in ``cache``, as in
        :func:`run_comparison`); :func:`~jupyter_speechcustom.asr.decoding.tune` then
        grid-searches the weights by re-decoding those log-probs with the system's decoder.
        Returns each LM system's :class:`TuneResult` (``.best`` is its best weights); the
        comparison itself is not re-decoded.
        """
        from jupyter_speechcustom.asr.decoding import tune

        names = [name for name in self.systems if "LM" in name]
        if not names:
            raise ValueError("tuning needs a +LM system: tick +LM or +AM+LM and compare first")
        if not dev:
            raise ValueError("the dev set is empty: tuning needs transcribed audio")
        if not all(item.reference is not None and item.reference.strip() for item in dev):
            raise ValueError("every dev utterance needs a reference transcript to tune on")
        cache = cache if cache is not None else {}
        report = progress or (lambda fraction, message: None)
        stop = cancel or threading.Event()
        paths = tuple(item.audio for item in dev)
        references = [item.reference or "" for item in dev]
        keys = sorted({self.acoustic[name] for name in names})
        outputs: dict[str, list[AcousticOutput]] = {}
        for n, key in enumerate(keys):
            model = self.decoders[next(name for name in names if self.acoustic[name] == key)].base
            share = 0.4 / len(keys)
            outputs[key] = cached_acoustic_outputs(model, paths, cache, cancel=stop,
                                                   progress=scaled(report, share * n, share * (n + 1)))
        results: dict[str, TuneResult] = {}
        for n, name in enumerate(names):
            step = scaled(report, 0.4 + 0.6 * n / len(names), 0.4 + 0.6 * (n + 1) / len(names))

            def tuning(fraction: float, message: str, name: str = name,
                       step: Callable[[float, str], None] = step) -> None:
                raise_if_cancelled(stop, "tuning was cancelled")
                step(fraction, f"tuning {name}: {message}")

            results[name] = tune(self.decoders[name], outputs[self.acoustic[name]], references, progress=tuning)
        report(1.0, "tuned " + ", ".join(f"{name} (dev WER {r.best_wer:.1%})" for name, r in results.items()))
        return results


def dev_items(base: BaseModel) -> list[TestItem]:
    """The transcribed dev set of ``base``'s profile (its ``dev_set``) as test items; [] if none."""
    from pathlib import Path

    from jupyter_speechcustom.io.manifest import read_manifest

    profile = base.profile
    if profile is None or not profile.dev_set:
        return []
    entries = read_manifest(profile.example_set(profile.dev_set))
    return [TestItem(Path(e["audio_filepath"]).stem, e["audio_filepath"], e.get("text")) for e in entries]



def cached_acoustic_outputs(
    model: BaseModel,
    paths: Sequence[str],
    cache: AcousticCache,
    *,
    progress: Callable[[float, str], None] | None = None,
    cancel: threading.Event | None = None,
) -> list[AcousticOutput]:
    """``model``'s acoustic outputs for the audio files ``paths``: from ``cache`` when it has
    them, else computed once and kept there (keyed by the model's fingerprint and the files)."""
    key = (model.fingerprint, tuple(paths))
    if key not in cache:
        cache[key] = acoustic_outputs(model, list(paths), progress=progress, cancel=cancel)
    raise_if_cancelled(cancel)
    return cache[key]


def check_comparison(systems: Sequence[str], items: Sequence[TestItem], *, has_lm: bool, has_am: bool) -> None:
    """Raise ``ValueError`` saying what is missing before any work starts."""
    unknown = [s for s in systems if s not in SYSTEMS]
    if unknown:
        raise ValueError(f"unknown system(s) {unknown}; choose from {', '.join(SYSTEMS)}")
    if not systems:
        raise ValueError("choose at least one system to run")
    if not items:
        raise ValueError("the test set is empty: choose audio to compare on")
    if any("LM" in s for s in systems) and not has_lm:
        raise ValueError("a +LM system needs a custom language model: build one first")
    if any("AM" in s for s in systems) and not has_am:
        raise ValueError("a +AM system needs a custom acoustic model: train one first")


def run_comparison(
    base: BaseModel,
    items: Sequence[TestItem],
    systems: Sequence[str],
    *,
    label: str,
    lm: CustomLanguageModel | None = None,
    am: BaseModel | None = None,
    weights: DecodingWeights | None = None,
    cache: AcousticCache | None = None,
    progress: Callable[[float, str], None] | None = None,
    cancel: threading.Event | None = None,
) -> Comparison:
    """Run ``systems`` (names from :data:`SYSTEMS`) on ``items`` and score them.

    ``lm`` is needed by the ``+LM`` systems, ``am`` (a custom acoustic model of ``base``) by
    the ``+AM`` ones. ``cache`` keeps acoustic outputs per (model fingerprint, audio files)
    across runs. ``cancel``: set it to stop between steps (:class:`JobCancelled`).
    """
    check_comparison(systems, items, has_lm=lm is not None, has_am=am is not None)
    weights = weights or DecodingWeights()
    cache = cache if cache is not None else {}
    report = progress or (lambda fraction, message: None)
    stop = cancel or threading.Event()
    paths = tuple(item.audio for item in items)
    models = {"base": base, "am": am}
    wanted = sorted({"am" if "AM" in s else "base" for s in systems})
    outputs: dict[str, list[AcousticOutput]] = {}
    for n, key in enumerate(wanted):
        model = models[key]
        assert model is not None
        share = 0.75 / len(wanted)
        outputs[key] = cached_acoustic_outputs(model, paths, cache, cancel=stop,
                                               progress=scaled(report, 0.05 + share * n, 0.05 + share * (n + 1)))
    report(0.8, "decoding")
    decoders: dict[str, Decoder] = {}
    acoustic: dict[str, str] = {}
    for name in systems:
        key = "am" if "AM" in name else "base"
        model = models[key]
        assert model is not None
        decoders[name] = Decoder(model, lm, weights=weights) if "LM" in name else Decoder(model, None, words=())
        acoustic[name] = key
    terms = [w.word for w in lm.words] if lm is not None else []
    comparison = Comparison(label, list(items), list(systems), outputs, decoders, acoustic, terms,
                            scores=_Scores({}, {}, {}, weights))
    comparison.decode(weights)
    raise_if_cancelled(stop)
    report(1.0, "done")
    return comparison
