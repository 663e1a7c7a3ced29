"""Compare recognition systems on a test set: base, + custom LM, + custom AM, both.

The acoustic models run once per test set; :meth:`Comparison.decode` re-decodes the cached
log-probs with other weights (never re-running an acoustic model) and re-scores. This is the
one comparison service: the Studio's Compare panel, the workspace's ``compare`` jobs and the
customization chain all use it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import InitVar, asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jupyter_speechcustom.asr.decoding import Decoder, DecodingWeights, TuneResult, start_weights
from jupyter_speechcustom.asr.recognize import AcousticOutput, acoustic_outputs
from jupyter_speechcustom.errors import InvalidOptionError, check_list
from jupyter_speechcustom.evaluation.metrics import Evaluation, TermHits, UtteranceScore
from jupyter_speechcustom.io.audio import Segment
from jupyter_speechcustom.io.manifest import Utterance
from jupyter_speechcustom.jobs.progress import raise_if_cancelled, scaled
from jupyter_speechcustom.services.systems import SYSTEMS as ALL_SYSTEMS
from jupyter_speechcustom.services.systems import System

if TYPE_CHECKING:
    from jupyter_speechcustom.asr.models import BaseModel
    from jupyter_speechcustom.lm.language_model import CustomLanguageModel

__all__ = ["SYSTEMS", "AcousticCache", "Comparison", "borrowed_dev_set", "cached_acoustic_outputs", "check_comparison", "dev_items", "run_comparison"]

#: Acoustic outputs kept across comparisons, by (model fingerprint, audio files).
AcousticCache = dict[tuple[str, tuple[str, ...]], list[AcousticOutput]]

#: System names: the base model, with the custom LM, with the custom AM, with both (see :class:`System`).
SYSTEMS = tuple(s.name for s in ALL_SYSTEMS)

#: Utterances re-decoded per step after the first ones (a newer re-decode can take over between steps).
REDECODE_CHUNK = 64


@dataclass(frozen=True)
class _Scores:
    """A complete state: every transcript decoded with ``weights``, and the scores of those."""

    texts: dict[str, list[str]]
    evaluations: dict[str, Evaluation]
    hits: dict[str, list[TermHits]]
    weights: DecodingWeights


@dataclass(frozen=True)
class _State:
    """What readers see, replaced in one assignment: the latest complete scores, and the
    transcripts as far as the latest re-decode has got."""

    scores: _Scores
    target: DecodingWeights  # the weights of the latest re-decode asked for
    texts: dict[str, list[str]]  # each utterance's newest transcript, per system
    decoded_with: tuple[DecodingWeights | None, ...]  # the weights of each utterance's newest transcript
    rows: dict[str, list[UtteranceScore]]  # those transcripts' scores per utterance (with references)


@dataclass
class Comparison:
    """Systems run on a test set: cached log-probs, decoders, transcripts and scores.

    ``evaluations`` is empty when some utterance has no reference: then each system is
    diffed against the first one instead.

    While :meth:`decode` re-decodes with new weights, readers see one consistent state:
    ``texts`` (and :meth:`utterance`, :meth:`differs`, :meth:`gain`) give each utterance's
    newest transcript, :attr:`left` the utterances not re-decoded with :attr:`target` yet, and
    ``evaluations``, ``hits``, ``weights``, :meth:`to_dict` and :meth:`summary` the last
    complete scores, all of one set of weights. Once :attr:`left` is empty, everything is
    of :attr:`target`.
    """

    label: str
    items: list[Utterance]
    systems: list[str]
    outputs: dict[str, list[AcousticOutput]] = field(repr=False)
    decoders: dict[str, Decoder] = field(repr=False)
    acoustic: dict[str, str] = field(repr=False)
    terms: list[str]
    weights_at_start: InitVar[DecodingWeights | None] = None
    _state: _State = field(init=False, repr=False)
    _lock: threading.Lock = field(init=False, repr=False, default_factory=threading.Lock)
    _generation: int = field(init=False, repr=False, default=0)

    def __post_init__(self, weights_at_start: DecodingWeights | None) -> None:
        weights = weights_at_start or DecodingWeights()
        empty = {name: [""] * len(self.items) for name in self.systems}
        self._state = _State(_Scores(empty, {}, {}, weights), weights, empty, (None,) * len(self.items), {})

    @property
    def has_references(self) -> bool:
        return all(item.text is not None and item.text.strip() for item in self.items)

    @property
    def texts(self) -> dict[str, list[str]]:
        """Each system's transcripts: each utterance's newest (see :attr:`left`)."""
        return self._state.texts

    @property
    def evaluations(self) -> dict[str, Evaluation]:
        """Each system's scores on the whole test set, of :attr:`weights`."""
        return self._state.scores.evaluations

    @property
    def hits(self) -> dict[str, list[TermHits]]:
        return self._state.scores.hits

    @property
    def weights(self) -> DecodingWeights:
        """The weights of the complete scores (``evaluations``, ``hits``)."""
        return self._state.scores.weights

    @property
    def target(self) -> DecodingWeights:
        """The weights of the latest re-decode asked for: :attr:`weights` once it is complete."""
        return self._state.target

    @property
    def left(self) -> tuple[int, ...]:
        """The utterances whose transcripts are not decoded with :attr:`target` yet (none once
        the scores are of :attr:`target`)."""
        state = self._state
        return tuple(i for i, w in enumerate(state.decoded_with) if w != state.target)

    def updated(self, index: int) -> bool:
        """Whether utterance ``index``'s transcripts are decoded with :attr:`target`."""
        state = self._state
        return state.decoded_with[index] == state.target

    def display_forms(self, index: int) -> dict[str, str]:
        """Each system's transcript of utterance ``index`` as shown with its custom words' display-as
        forms (``Transcript.display_text``), for the systems where those forms change it."""
        from jupyter_speechcustom.text.words import apply_display_as

        forms = {}
        texts = self.texts
        for name in self.systems:
            words = self.decoders[name].words
            text = texts[name][index]
            shown = apply_display_as(text, words) if words else text
            if shown != text:
                forms[name] = shown
        return forms

    def decode(
        self,
        weights: DecodingWeights,
        *,
        first: Sequence[int] = (),
        on_first: Callable[[Comparison], None] | None = None,
        progress: Callable[[float, str], None] | None = None,
        stop: threading.Event | None = None,
    ) -> bool:
        """Re-decode every system from the cached log-probs with ``weights``, and re-score.

        ``first``: utterance indices to re-decode before the others (the page on screen). Their
        transcripts and per-utterance scores are published as soon as they are done, with
        :attr:`left` naming the rest and the test-set scores still the previous ones, and
        ``on_first(self)`` is called (in this thread) when utterances are left; then the rest
        is decoded, in chunks, and the scores are recomputed with the last chunk, in one step.
        Utterances already decoded with ``weights`` are not decoded again.

        A later call supersedes this one (say the weights moved again): this one stops at its
        next chunk, publishes nothing more and returns False; so does setting ``stop``.
        Returns True when the comparison's state is complete with ``weights``.
        """
        report = progress or (lambda fraction, message: None)
        with self._lock:
            self._generation += 1
            generation = self._generation
            state = self._state
            self._state = replace(state, target=weights)
        todo = [i for i, w in enumerate(state.decoded_with) if w != weights]
        wanted = set(todo)
        head = [i for i in dict.fromkeys(first) if i in wanted]
        rest = sorted(wanted.difference(head), key=self._frames)  # like lengths batch with least padding
        passes = [head] if head else []
        passes += [rest[k : k + REDECODE_CHUNK] for k in range(0, len(rest), REDECODE_CHUNK)]
        done = 0
        for n, indices in enumerate(passes):
            if (stop is not None and stop.is_set()) or generation != self._generation:
                return False
            texts = {name: self.decoders[name].decode_text([self.outputs[self.acoustic[name]][i] for i in indices],
                                                           self.system_weights(name, weights))
                     for name in self.systems}
            done += len(indices)
            if not self._publish(generation, weights, indices, texts, complete=done == len(todo)):
                return False
            report(done / len(todo), f"re-decoded {done} of {len(todo)} utterances")
            if n == 0 and head and on_first is not None and done < len(todo):
                on_first(self)
        return generation == self._generation  # nothing to decode: already complete with ``weights``

    def _frames(self, index: int) -> int:
        return max(len(self.outputs[self.acoustic[name]][index].frames) for name in self.systems)

    def _publish(self, generation: int, weights: DecodingWeights, indices: Sequence[int],
                 texts: dict[str, list[str]], *, complete: bool) -> bool:
        """Apply transcripts of ``indices`` decoded with ``weights`` to the state, unless a later
        :meth:`decode` superseded ``generation``; with ``complete``, re-score everything."""
        from jupyter_speechcustom.evaluation.metrics import evaluate

        with self._lock:
            if generation != self._generation:
                return False
            state = self._state
            new_texts = {name: list(state.texts[name]) for name in self.systems}
            decoded_with = list(state.decoded_with)
            for k, i in enumerate(indices):
                for name in self.systems:
                    new_texts[name][i] = texts[name][k]
                decoded_with[i] = weights
            if complete:
                scores = self._score(new_texts, weights)
                rows = {name: list(e.utterances) for name, e in scores.evaluations.items()}
            else:
                scores = state.scores
                rows = {name: list(r) for name, r in state.rows.items()}
                if self.has_references and not rows:  # no complete scores yet: score every transcript
                    refs = [item.text or "" for item in self.items]
                    rows = {name: list(evaluate(refs, new_texts[name]).utterances) for name in self.systems}
                elif self.has_references:
                    for i in indices:
                        ref = self.items[i].text or ""
                        for name in self.systems:
                            rows[name][i] = evaluate([ref], [new_texts[name][i]]).utterances[0]
            self._state = _State(scores, weights, new_texts, tuple(decoded_with), rows)
            return True

    def _score(self, texts: dict[str, list[str]], weights: DecodingWeights) -> _Scores:
        from jupyter_speechcustom.evaluation.metrics import evaluate, term_hit_rates

        evaluations: dict[str, Evaluation] = {}
        hits: dict[str, list[TermHits]] = {}
        if self.has_references:
            refs = [item.text or "" for item in self.items]
            for name in self.systems:
                evaluations[name] = evaluate(refs, texts[name])
                if self.terms:
                    hits[name] = term_hit_rates(refs, texts[name], self.terms)
        return _Scores(texts, evaluations, hits, weights)

    def utterance(self, index: int) -> tuple[str, str, dict[str, UtteranceScore], str]:
        """``(title, reference, {system: score}, reference label)`` of utterance ``index``, for its
        newest transcripts.

        Without references, the first system's transcript stands in as the reference.
        """
        from jupyter_speechcustom.evaluation.metrics import evaluate

        item = self.items[index]
        current = self._state  # one snapshot: a re-decode may swap the state meanwhile
        if self.has_references:
            scores = {name: current.rows[name][index] for name in self.systems}
            return item.title, item.text or "", scores, "reference"
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
        """A JSON summary of the complete scores: per system its weights and scores, and every transcript."""
        scores = self._state.scores
        return {
            "test_set": self.label,
            "weights": asdict(scores.weights),
            "systems": {name: (scores.evaluations[name].summary() if name in scores.evaluations else {})
                        for name in self.systems},
            "term_hits": {name: [{"term": h.term, "occurrences": h.occurrences, "recognized": h.recognized}
                                 for h in hits] for name, hits in scores.hits.items()},
            "utterances": [{"title": item.title, "audio": item.audio, "reference": item.text,
                            "hypotheses": {name: scores.texts[name][i] for name in self.systems}}
                           for i, item in enumerate(self.items)],
        }

    def summary(self) -> dict[str, Any]:
        """What a job keeps of a comparison: the test set and each system's WER."""
        return {"test_set": self.label, "wer": {name: e.wer for name, e in self.evaluations.items()}}

    def system_weights(self, name: str, weights: DecodingWeights) -> DecodingWeights:
        """The weights system ``name`` decodes with: ``weights`` where it fuses a custom LM; a system
        without one (base, +AM) decodes as its model does by default (a hybrid's own head), so the
        base row is the same base as everywhere else, whatever head tuning chose for the LM."""
        if self.decoders[name].lm is None and weights.head is not None:
            return replace(weights, head=None)
        return weights

    def differs(self, index: int) -> bool:
        texts = self.texts
        return len({texts[name][index] for name in self.systems}) > 1

    def gain(self, index: int) -> float:
        """Errors of the first system minus errors of the last, for utterance ``index``."""
        if not self.has_references or len(self.systems) < 2:
            return 0.0
        rows = self._state.rows
        return float(rows[self.systems[0]][index].errors - rows[self.systems[-1]][index].errors)

    def tune(
        self,
        dev: Sequence[Utterance],
        *,
        cache: AcousticCache | None = None,
        progress: Callable[[float, str], None] | None = None,
        cancel: threading.Event | None = None,
        save: str | None = None,
    ) -> dict[str, TuneResult]:
        """Tune LM alpha, beta and boost (and a hybrid's head) of each LM system (``+LM``,
        ``+AM+LM``) on ``dev``; with ``save`` (the dev set's name), the base model's (``+LM``)
        best weights are saved with its LM (:meth:`CustomLanguageModel.save_tuning`).

        ``dev`` is a transcribed development set (e.g. :func:`dev_items`), never the test
        set. Each acoustic model runs once on it (kept in ``cache``, as in
        :func:`run_comparison`); :func:`~jupyter_speechcustom.asr.decoding.tune` then
        grid-searches the weights by re-decoding those log-probs with the system's decoder.
        Returns each LM system's :class:`TuneResult` (``.best`` is its best weights); the
        comparison itself is not re-decoded.
        """
        from jupyter_speechcustom.asr.decoding import tune

        names = [name for name in self.systems if System.parse(name).lm]
        if not names:
            raise ValueError("tuning needs a +LM system: tick +LM or +AM+LM and compare first")
        if not dev:
            raise ValueError("the dev set is empty: tuning needs transcribed audio")
        if not all(item.text is not None and item.text.strip() for item in dev):
            raise ValueError("every dev utterance needs a reference transcript to tune on")
        cache = cache if cache is not None else {}
        report = progress or (lambda fraction, message: None)
        stop = cancel or threading.Event()
        paths = tuple(item.source for item in dev)
        references = [item.text or "" for item in dev]
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
        lm = self.decoders["+LM"].lm if "+LM" in results else None
        if save and lm is not None:
            best = results["+LM"]
            lm.save_tuning(asdict(best.best), best.best_wer, save, len(dev), kept_defaults=best.kept_defaults)
        report(1.0, "tuned " + ", ".join(f"{name} (dev WER {r.best_wer:.1%}" + (
            "; the defaults kept: the dev set could not tell better weights)" if r.kept_defaults else ")")
            for name, r in results.items()))
        return results


def dev_items(base: BaseModel) -> list[Utterance]:
    """The transcribed dev set of ``base``'s profile (its ``dev_set``) as utterances; [] if none."""
    from jupyter_speechcustom.io.manifest import read_utterances

    profile = base.profile
    if profile is None or not profile.dev_set:
        return []
    return read_utterances(profile.example_set(profile.dev_set))


_EXAMPLE_FINGERPRINTS: dict[tuple[str, str], str] = {}  # (base fingerprint, corpus path) -> corpus fingerprint


def _example_fingerprint(base: BaseModel, corpus: str) -> str:
    from jupyter_speechcustom.lm.language_model import corpus_fingerprint

    key = (base.family_fingerprint, corpus)
    if key not in _EXAMPLE_FINGERPRINTS:
        _EXAMPLE_FINGERPRINTS[key] = corpus_fingerprint(base, corpus)
    return _EXAMPLE_FINGERPRINTS[key]


def borrowed_dev_set(base: BaseModel, lm: CustomLanguageModel) -> str | None:
    """Why ``base``'s profile dev set is another domain than ``lm``'s, or None when it is the LM's own
    (the LM was built from the profile's example corpus alone) or there is none. Weights tuned on
    another domain's audio are never saved into an LM: they would follow it everywhere it is used."""
    profile = base.profile
    if profile is None or not profile.dev_set:
        return None
    corpus = profile.example_corpus
    if corpus is not None and Path(corpus).is_file():
        theirs = {c.get("fingerprint") for c in lm.corpora}
        if theirs == {_example_fingerprint(base, str(corpus))}:
            return None
    return (f"the {profile.name} dev set ({profile.dev_set}) is the {profile.name} example domain, and the "
            f"custom LM {lm.name!r} was built from other text")


def tune_language_model(
    base: BaseModel,
    lm: CustomLanguageModel,
    dev: Sequence[Utterance] | None = None,
    *,
    label: str | None = None,
    cache: AcousticCache | None = None,
    progress: Callable[[float, str], None] | None = None,
    cancel: threading.Event | None = None,
) -> CustomLanguageModel | None:
    """Tune ``lm``'s decoding weights on transcribed audio and save them with it
    (:meth:`CustomLanguageModel.save_tuning`), so that every decoder built with it (recognition,
    the service, the Live tab) starts from them: for a hybrid model that includes the head.

    ``dev``: the transcribed audio (``label`` names it); by default ``base``'s profile dev set.
    Returns the LM with its tuning, or None when there is no dev set to tune on.
    """
    from jupyter_speechcustom.asr.decoding import tune

    check_list(dev, "dev", "Utterance objects")
    if dev is None:
        borrowed = borrowed_dev_set(base, lm)
        if borrowed is not None:
            raise InvalidOptionError(f"{borrowed}: weights tuned there would fit that domain, not this LM's. "
                                     "Tune on transcribed audio of your own domain (dev=..., or "
                                     "`speechcustom lm tune --dev MANIFEST`); untuned, the LM decodes with defaults")
        dev = dev_items(base)
        profile = base.profile
        label = label or (f"{profile.name} {profile.dev_set}" if profile else None)
    dev = [item for item in dev if item.text]
    if not dev:
        return None
    outputs = cached_acoustic_outputs(base, [item.source for item in dev], cache if cache is not None else {},
                                      progress=scaled(progress, 0.0, 0.5), cancel=cancel)
    tuned_part = scaled(progress, 0.5, 1.0)

    def tuning(fraction: float, message: str) -> None:
        raise_if_cancelled(cancel)
        tuned_part(fraction, message)

    result = tune(Decoder(base, lm), outputs, [item.text or "" for item in dev], progress=tuning)
    return lm.save_tuning(asdict(result.best), result.best_wer, label or f"{len(dev)} transcribed utterances", len(dev),
                          kept_defaults=result.kept_defaults)


def cached_acoustic_outputs(
    model: BaseModel,
    paths: Sequence[str | Segment],
    cache: AcousticCache,
    *,
    progress: Callable[[float, str], None] | None = None,
    cancel: threading.Event | None = None,
) -> list[AcousticOutput]:
    """``model``'s acoustic outputs for the audio ``paths`` (files, or segments of files, as
    :attr:`Utterance.source` gives them): from ``cache`` when it has them, else computed once and
    kept there (keyed by the model's fingerprint and the files, a segment named by its file and times)."""
    check_list(paths, "paths", "audio files")
    key = (model.fingerprint, tuple(str(p) for p in paths))
    if key not in cache:
        cache[key] = acoustic_outputs(model, list(paths), progress=progress, cancel=cancel)
    raise_if_cancelled(cancel)
    return cache[key]


def check_comparison(systems: Sequence[str], items: Sequence[Utterance], *, has_lm: bool, has_am: bool) -> None:
    """Raise ``ValueError`` saying what is missing before any work starts."""
    check_list(systems, "systems", f"system names ({', '.join(SYSTEMS)})")
    check_list(items, "items", "Utterance objects")
    unknown = [s for s in systems if s not in SYSTEMS]
    if unknown:
        raise ValueError(f"unknown system(s) {unknown}; choose from {', '.join(SYSTEMS)}")
    if not systems:
        raise ValueError("choose at least one system to run")
    if not items:
        raise ValueError("the test set is empty: choose audio to compare on")
    if any(System.parse(s).lm for s in systems) and not has_lm:
        raise ValueError("a +LM system needs a custom language model: build one first")
    if any(System.parse(s).am for s in systems) and not has_am:
        raise ValueError("a +AM system needs a custom acoustic model: train one first")


def run_comparison(
    base: BaseModel,
    items: Sequence[Utterance],
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
    weights = weights or start_weights(lm, base)
    cache = cache if cache is not None else {}
    report = progress or (lambda fraction, message: None)
    stop = cancel or threading.Event()
    paths = tuple(item.source for item in items)
    models = {"base": base, "am": am}
    wanted = sorted({System.parse(s).acoustic for s in systems})
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
        system = System.parse(name)
        key = system.acoustic
        model = models[key]
        assert model is not None
        decoders[name] = Decoder(model, lm, weights=weights) if system.lm else Decoder(model, None, words=())
        acoustic[name] = key
    terms = [w.word for w in lm.words] if lm is not None else []
    comparison = Comparison(label, list(items), list(systems), outputs, decoders, acoustic, terms, weights)
    comparison.decode(weights)
    raise_if_cancelled(stop)
    report(1.0, "done")
    return comparison
