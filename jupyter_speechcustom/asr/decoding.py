"""Decoding cached acoustic frames: greedy, or beam search fused with a custom LM and phrase boosting.

Beam search is NeMo's batched CTC beam search (the ``beam_batch`` strategy) with its
NGPU-LM for the custom LM and its boosting tree for key phrases. Both are loaded once per
:class:`Decoder`, so re-decoding with other weights (sliders, :func:`tune`) is cheap and
never re-runs the acoustic model.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from jupyter_speechcustom.asr.families import known_heads
from jupyter_speechcustom.asr.recognize import AcousticOutput, Transcript, greedy_decode, join_texts, utterances
from jupyter_speechcustom.asr.threads import torch_threads
from jupyter_speechcustom.constants import (
    BEAM_SIZE,
    BOOST_ALPHA,
    CHARACTER_LM_ALPHA,
    CHARACTER_LM_BETA,
    CTC_BEAM_SIZE,
    LM_ALPHA,
    LM_BETA,
    LM_HEAD,
    TRANSDUCER_LM_ALPHA,
    TUNE_CONFIDENCE,
    TUNE_LM_ALPHAS,
    TUNE_LM_BETAS,
    TUNE_RESAMPLES,
    TUNE_TOLERANCE,
)
from jupyter_speechcustom.errors import InvalidOptionError, check_list
from jupyter_speechcustom.jobs.progress import ProgressCallback
from jupyter_speechcustom.text.words import CustomWord, apply_display_as, apply_sounds_like

if TYPE_CHECKING:
    from jupyter_speechcustom.asr.models import BaseModel
    from jupyter_speechcustom.evaluation.metrics import Evaluation
    from jupyter_speechcustom.lm.language_model import CustomLanguageModel

log = logging.getLogger(__name__)

#: The widest beam :class:`DecodingWeights` accepts (wider ones cost memory and gain nothing).
MAX_BEAM_SIZE = 1024

#: How many (state, token) steps of a fusion graph a decoder keeps computed (12 bytes each: at
#: most about 100 MB, usually far less: only the states a search reaches are kept). 0: none.
FUSION_CACHE_MAX_ENTRIES = 8_000_000


@dataclass(frozen=True)
class DecodingWeights:
    """Customization weights.

    Attributes:
        lm_alpha: weight of the custom LM's log-probability (0 turns it off).
        lm_beta: bonus per emitted token, countering the LM's pull towards short output.
        boost_alpha: weight of phrase boosting (0 turns it off).
        beam_size: hypotheses kept per step; None: the head's own (:meth:`Decoder.beam_size`).
        head: for a hybrid transducer + CTC model, the head that decodes (``"transducer"`` or
            ``"ctc"``); None: the head the model was loaded with. :func:`tune` tries both.
    """

    lm_alpha: float = LM_ALPHA
    lm_beta: float = LM_BETA
    boost_alpha: float = BOOST_ALPHA
    beam_size: int | None = None
    head: str | None = None

    def __post_init__(self) -> None:
        # Checked here, so a NaN weight never decodes as greedy while labelled customized.
        import math
        import numbers

        for name, lowest in (("lm_alpha", 0.0), ("lm_beta", None), ("boost_alpha", 0.0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) \
                    or (lowest is not None and value < lowest):
                where = "0 or more" if lowest is not None else "a finite number"
                raise InvalidOptionError(f"{name} must be {where} (0 turns it off), got {value!r}"
                                         if lowest is not None else f"{name} must be {where}, got {value!r}")
        beam = self.beam_size
        if beam is not None and (isinstance(beam, bool) or not isinstance(beam, numbers.Integral)
                                 or not 1 <= beam <= MAX_BEAM_SIZE):
            raise InvalidOptionError(f"beam_size must be a whole number from 1 to {MAX_BEAM_SIZE}, got {beam!r}")
        heads = known_heads()
        if self.head not in (None, *heads):
            raise InvalidOptionError(f"head must be one of {', '.join(map(repr, heads))} (or None), got {self.head!r}")


class _VocabularyTokenizer:
    """The two things NeMo's boosting tree asks of a tokenizer, for character models."""

    def __init__(self, base: BaseModel) -> None:
        self._base = base
        self.vocab_size = len(base.vocabulary)

    def text_to_ids(self, text: str, *_: Any) -> list[int]:
        return self._base.text_to_ids(text)


class Decoder:
    """Turns :class:`AcousticOutput` into transcripts for one base model.

    Args:
        base: the base model (its vocabulary; its acoustic model is not run here).
        lm: a custom LM built on ``base`` (checked), or None.
        words: custom words: their sounds-like spellings are rewritten to the word and
            their display-as forms fill :attr:`Transcript.display_text`.
        boost_phrases: phrases to boost; by default the custom words' spellings.
        weights: default weights for :meth:`decode`; by default those tuned for ``lm``
            (:func:`tuned_weights`), else :func:`default_weights`.
    """

    def __init__(
        self,
        base: BaseModel,
        lm: CustomLanguageModel | None = None,
        *,
        words: Sequence[CustomWord] | None = None,
        boost_phrases: Sequence[str] | None = None,
        weights: DecodingWeights | None = None,
    ) -> None:
        check_list(words, "words", "custom words", fix="read a words file with read_custom_words({})")
        check_list(boost_phrases, "boost_phrases", "phrases")
        self.base = base
        self.lm = lm
        self.words = tuple(words if words is not None else (lm.words if lm else ()))
        self.weights = weights or start_weights(lm, base)
        self._lm_model = None
        self._boost_model = None
        if lm is not None:
            lm.check_base(base)
            self._lm_model = fusion_lm(lm.token_arpa, base.blank_id)
        phrases = list(boost_phrases) if boost_phrases is not None else [w.word for w in self.words]
        self.boost_phrases = tuple(dict.fromkeys(p for p in phrases if base.text_to_ids(p)))
        if self.boost_phrases:
            from nemo.collections.asr.parts.context_biasing.boosting_graph_batched import (
                BoostingTreeModelConfig,
                GPUBoostingTreeModel,
            )

            tokenizer = base.tokenizer or _VocabularyTokenizer(base)
            cfg = BoostingTreeModelConfig(key_phrases_list=list(self.boost_phrases), use_triton=False)
            self._boost_model = _cache_advance(GPUBoostingTreeModel.from_config(cfg, tokenizer=tokenizer))

    def _uses_beam(self, weights: DecodingWeights) -> bool:
        return (self._lm_model is not None and weights.lm_alpha > 0) or (
            self._boost_model is not None and weights.boost_alpha > 0
        )

    def _fusion(self, weights: DecodingWeights) -> tuple[list[Any], list[float]]:
        fusion, alphas = [], []
        if self._lm_model is not None and weights.lm_alpha > 0:
            fusion.append(self._lm_model)
            alphas.append(weights.lm_alpha)
        if self._boost_model is not None and weights.boost_alpha > 0:
            fusion.append(self._boost_model)
            alphas.append(weights.boost_alpha)
        return fusion, alphas

    def _head(self, weights: DecodingWeights) -> str | None:
        """The head that decodes with ``weights``: the one they name, else the one the model was loaded with."""
        return weights.head or self.base.head

    def beam_size(self, weights: DecodingWeights | None = None) -> int:
        """The beam that decodes with ``weights``: the one they set, else the head's own (a search with a
        length bonus, CTC's, :data:`CTC_BEAM_SIZE`; a transducer's, dearer per hypothesis, :data:`BEAM_SIZE`)."""
        weights = weights or self.weights
        if weights.beam_size is not None:
            return weights.beam_size
        return CTC_BEAM_SIZE if self.base.family.length_bonus(self._head(weights)) else BEAM_SIZE

    def _beam_ids(self, outputs: Sequence[AcousticOutput], weights: DecodingWeights) -> list[list[int]]:
        fusion, alphas = self._fusion(weights)
        return self.base.family.beam_ids(
            self.base.asr_model, [out.frames for out in outputs], beam_size=self.beam_size(weights),
            fusion_models=fusion, fusion_alphas=alphas, beta=weights.lm_beta, head=self._head(weights),
        )

    def _nbest_texts(self, parts: Sequence[AcousticOutput], weights: DecodingWeights, n: int) -> list[list[str]]:
        """Up to ``n`` distinct texts per utterance, best first, from a beam search (with the
        custom LM and boosting where ``weights`` turn them on; a beam of at least ``n``)."""
        if not parts:
            return []
        fusion, alphas = self._fusion(weights)
        nbest = self.base.family.beam_nbest(
            self.base.asr_model, [out.frames for out in parts], n=n, beam_size=max(self.beam_size(weights), n),
            fusion_models=fusion, fusion_alphas=alphas, beta=weights.lm_beta, head=self._head(weights),
        )
        texts = []
        for alternatives in nbest:
            decoded = [self.base.ids_to_text(ids) for ids, _ in alternatives]
            if self.words:
                decoded = [apply_sounds_like(t, self.words) for t in decoded]
            texts.append(list(dict.fromkeys(decoded)))
        return texts

    def _alternatives(self, parts: Sequence[AcousticOutput], owners: Sequence[tuple[int, float]],
                      texts: Sequence[str], count: int, weights: DecodingWeights, n: int) -> list[tuple[str, ...]]:
        """Each output's next-best transcripts (up to ``n - 1``): the k-th of an output cut into
        utterances joins each utterance's k-th alternative (its best where it has fewer)."""
        nbest = self._nbest_texts(parts, weights, n + 1)
        per_part = [[t for t in alts if t != best] for alts, best in zip(nbest, texts)]
        result: list[tuple[str, ...]] = []
        for output in range(count):
            mine = [(alts, best) for (owner, _), alts, best in zip(owners, per_part, texts) if owner == output]
            found: list[str] = []
            for k in range(max((len(alts) for alts, _ in mine), default=0)):
                text = " ".join(t for t in ((alts[k] if k < len(alts) else best).strip() for alts, best in mine) if t)
                if text not in found and text != " ".join(b.strip() for _, b in mine if b.strip()):
                    found.append(text)
            shown = [apply_display_as(t, self.words) if self.words else t for t in found[: n - 1]]
            result.append(tuple(shown))
        return result

    def _utterance_texts(self, parts: Sequence[AcousticOutput], weights: DecodingWeights) -> list[str]:
        if not parts:
            return []
        if self._uses_beam(weights):
            texts = [self.base.ids_to_text(ids) for ids in self._beam_ids(parts, weights)]
        else:
            texts = greedy_decode(self.base, parts, head=self._head(weights))
        if self.words:
            texts = [apply_sounds_like(t, self.words) for t in texts]
        return texts

    def decode_text(self, outputs: Sequence[AcousticOutput], weights: DecodingWeights | None = None) -> list[str]:
        """Transcripts only (no timings): the fast path for tuning and sliders. Each utterance
        speech detection found in long audio is decoded on its own; audio without speech is ""."""
        parts, owners = utterances(outputs)
        texts = self._utterance_texts(parts, weights or self.weights)
        if [n for n, _ in owners] == list(range(len(outputs))):
            return texts
        return join_texts(len(outputs), owners, texts)

    def decode(self, outputs: Sequence[AcousticOutput], weights: DecodingWeights | None = None, *,
               alternatives: int = 1) -> list[Transcript]:
        """Transcripts with word timings and confidences; with ``alternatives`` over 1, each also
        holds up to ``alternatives - 1`` next-best transcripts from a beam search."""
        if alternatives < 1:
            raise ValueError(f"alternatives must be 1 or more, not {alternatives}")
        weights = weights or self.weights
        parts, owners = utterances(outputs)
        texts = self._utterance_texts(parts, weights)
        others = (self._alternatives(parts, owners, texts, len(outputs), weights, alternatives)
                  if alternatives > 1 else [() for _ in outputs])
        words: list[list[dict[str, Any]]] = [[] for _ in outputs]
        for part, (n, start), text in zip(parts, owners, texts):
            for w in word_timings(self.base, part, text):
                if start and w.get("start") is not None and w.get("end") is not None:  # times in the whole audio
                    w = {**w, "start": round(w["start"] + start, 3), "end": round(w["end"] + start, 3)}
                words[n].append(w)
        if [n for n, _ in owners] != list(range(len(outputs))):
            texts = join_texts(len(outputs), owners, texts)
        else:
            texts = list(texts)
        transcripts = []
        for out, text, timed, more in zip(outputs, texts, words, others):
            display = apply_display_as(text, self.words) if self.words else None
            transcripts.append(Transcript(text, out.audio, tuple(timed), display, out.note, more))
        return transcripts


def default_weights(base: BaseModel, lm: CustomLanguageModel | None = None) -> DecodingWeights:
    """The weights to decode ``base`` with when nothing was tuned: the model as it is without a
    custom LM (its own head: base is base); with one, the defaults that held across domains none
    of which tuned them (``bench/bench_default_weights.py``): a hybrid's CTC head, whose beam search
    has a length bonus against the deletions an LM pulls towards, at :data:`LM_ALPHA` and
    :data:`LM_BETA`; a character CTC model at :data:`CHARACTER_LM_ALPHA` and
    :data:`CHARACTER_LM_BETA` (its bonus is per letter: the word-piece beta inserts words); a
    transducer head at :data:`TRANSDUCER_LM_ALPHA`."""
    if lm is None:
        return DecodingWeights()
    return head_defaults(base, LM_HEAD if LM_HEAD in base.family.heads else None)


def head_defaults(base: BaseModel, head: str | None) -> DecodingWeights:
    """The untuned weights for decoding ``base`` with a custom LM on ``head`` (see :func:`default_weights`)."""
    if base.family.length_bonus(head or base.head):
        if base.is_character_model:
            return DecodingWeights(lm_alpha=CHARACTER_LM_ALPHA, lm_beta=CHARACTER_LM_BETA, head=head)
        return DecodingWeights(head=head)
    return DecodingWeights(lm_alpha=TRANSDUCER_LM_ALPHA, head=head)


def start_weights(lm: CustomLanguageModel | None, base: BaseModel) -> DecodingWeights:
    """The weights decoding starts from: those tuned for ``lm`` where it has them, else
    :func:`default_weights`."""
    return tuned_weights(lm, base) or default_weights(base, lm)


def weights_provenance(lm: CustomLanguageModel | None, base: BaseModel) -> str:
    """Where decoding with ``lm`` starts (:func:`start_weights`), in words: the tuning saved with it
    (which set, how many utterances, its dev WER) or the defaults. Shown wherever those weights are used."""
    if lm is None:
        return "no custom LM: the model's own decoding"
    tuning = lm.tuning if tuned_weights(lm, base) is not None else None
    if not tuning:
        return "default weights (this LM was never tuned)"
    dev_wer = tuning.get("dev_wer")
    wer = f", dev WER {float(dev_wer):.1%}" if isinstance(dev_wer, (int, float)) else ""
    where = f"{tuning.get('dev_set')} ({tuning.get('utterances')} utterances{wer})"
    if tuning.get("kept_defaults"):
        return f"default weights, kept by tuning on {where}: it could not tell better ones"
    return f"weights tuned on {where}"


def tuned_weights(lm: CustomLanguageModel | None, base: BaseModel) -> DecodingWeights | None:
    """The weights saved with ``lm`` by tuning (:meth:`CustomLanguageModel.save_tuning`), for
    decoding with ``base``; None when it has none. A head applies only where ``base`` has it
    (a transducer derived from a hybrid base keeps the hybrid's LM, not its head)."""
    if lm is None:
        return None
    saved = (lm.tuning or {}).get("weights")
    if not isinstance(saved, dict):
        return None
    known = {f.name for f in fields(DecodingWeights)}
    values = {k: v for k, v in saved.items() if k in known}
    if values.get("head") not in base.family.heads:
        values["head"] = None
    try:
        return DecodingWeights(**values)
    except (InvalidOptionError, TypeError) as exc:
        log.warning("ignoring the tuned weights saved with %s (%s): decoding with the defaults", lm.path, exc)
        return None


#: Fusion n-gram models kept loaded, the most recently used first out (each holds its n-grams as tensors).
FUSION_LMS_KEPT = 4
_FUSION_LMS: OrderedDict[tuple[str, int, int, int, int], Any] = OrderedDict()
_FUSION_LMS_LOCK = threading.Lock()


def fusion_lm(token_arpa: Path, vocab_size: int) -> Any:
    """NeMo's n-gram fusion model of a custom LM's token ARPA, loaded once per process.

    Reading the ARPA takes seconds (NeMo parses every n-gram in Python), and every
    :class:`Decoder` of the LM needs it: Compare's systems, each Live take's settings, the
    service's recognizers. The model is read-only and its advance cache is thread-safe, so all
    share one, kept while the file is unchanged (same path, size and modification time), the
    :data:`FUSION_LMS_KEPT` most recently used at most.
    """
    stat = Path(token_arpa).stat()
    # The advance table's size is part of what was loaded (0: NeMo's own advance).
    key = (str(Path(token_arpa).resolve()), stat.st_mtime_ns, stat.st_size, vocab_size, FUSION_CACHE_MAX_ENTRIES)
    with _FUSION_LMS_LOCK:  # one load at a time: two decoders of one LM read it once
        model = _FUSION_LMS.get(key)
        if model is None:
            from nemo.collections.asr.parts.submodules.ngram_lm import NGramGPULanguageModel

            with contextlib.redirect_stderr(io.StringIO()):  # NeMo draws progress bars while reading
                model = _cache_advance(NGramGPULanguageModel.from_file(token_arpa, vocab_size=vocab_size,
                                                                       use_triton=False))
            _FUSION_LMS[key] = model
            while len(_FUSION_LMS) > FUSION_LMS_KEPT:
                _FUSION_LMS.popitem(last=False)
        _FUSION_LMS.move_to_end(key)
        return model


def _cache_advance(model: Any) -> Any:
    """Make ``model.advance`` (an NGPU-LM n-gram model or a boosting tree) a table lookup.

    On a CPU, NeMo's ``advance`` walks the back-off chain of every hypothesis at every frame in
    dozens of small tensor operations: most of a beam search's time. A state's scores and next
    states never change, so each state's row is computed once, with NeMo's own code, the first time
    a search reaches it, and looked up afterwards: the same values, several times faster. Only the
    states searches reach are kept (a custom LM with general text mixed in has hundreds of thousands
    of states, of which a search visits a few thousand), up to :data:`FUSION_CACHE_MAX_ENTRIES`
    steps; beyond that, and for calls with an ``eos_id`` or states on another device, NeMo's
    ``advance`` answers.
    """
    max_rows = FUSION_CACHE_MAX_ENTRIES // max(1, model.vocab_size)
    if max_rows < 1:
        return model
    own = model.advance
    cache = _AdvanceCache(model, max_rows)

    def advance(states: Any, eos_id: int | None = None) -> tuple[Any, Any]:
        if eos_id is not None or states.device != cache.device:
            return own(states=states, eos_id=eos_id)
        found = cache.lookup(states)
        return found if found is not None else own(states=states)

    model.advance = advance  # this decoder's own model: an instance attribute, NeMo's class is untouched
    return model


class _AdvanceCache:
    """The ``(scores, next states)`` rows of the states searches have reached, grown as needed."""

    def __init__(self, model: Any, max_rows: int) -> None:
        import torch

        self.model = model
        self.max_rows = max_rows
        self.device = model.arcs_weights.device
        self.row_of = torch.full((model.num_states,), -1, dtype=torch.long, device=self.device)
        self.scores: Any = None
        self.next_states: Any = None
        self.rows = 0
        self.lock = threading.Lock()

    def lookup(self, states: Any) -> tuple[Any, Any] | None:
        """Rows for ``states`` (any shape), computing those not seen yet; None when the cache is full."""
        import torch

        rows = self.row_of[states]
        if bool((rows < 0).any()):
            with self.lock:
                rows = self.row_of[states]
                missing = torch.unique(states[rows < 0])
                if len(missing):
                    if self.rows + len(missing) > self.max_rows:
                        return None
                    self._add(missing)
                rows = self.row_of[states]
        scores, next_states = self.scores, self.next_states  # grown copies keep every row in place
        return scores[rows], next_states[rows]

    def _add(self, states: Any) -> None:
        import torch

        with torch.no_grad(), torch_threads(1):
            scores, next_states = self.model._advance_pytorch(states)
        end = self.rows + len(states)
        if self.scores is None or end > len(self.scores):
            size = min(self.max_rows, max(end, 2 * (0 if self.scores is None else len(self.scores)), 1024))
            grown_scores = torch.empty((size, scores.shape[-1]), dtype=scores.dtype, device=self.device)
            grown_next = torch.empty((size, next_states.shape[-1]), dtype=next_states.dtype, device=self.device)
            if self.scores is not None:
                grown_scores[: self.rows] = self.scores[: self.rows]
                grown_next[: self.rows] = self.next_states[: self.rows]
            self.scores, self.next_states = grown_scores, grown_next
        self.scores[self.rows : end] = scores
        self.next_states[self.rows : end] = next_states
        self.row_of[states] = torch.arange(self.rows, end, device=self.device)  # last: rows are ready
        self.rows = end


def word_timings(base: BaseModel, out: AcousticOutput, text: str) -> list[dict[str, Any]]:
    """Start, end and confidence (0-1) of each word of ``text`` in ``out``, from the model's family."""
    words = text.split()
    if not words:
        return []
    char_model = base.is_character_model
    # A character model writes the space between words as a token of its own: it belongs to the word before.
    token_ids = [base.text_to_ids((word + " ") if char_model and n < len(words) - 1 else word)
                 for n, word in enumerate(words)]
    return base.family.word_timings(base.asr_model, out.frames, out.frame_shift, words, token_ids)


@dataclass(frozen=True)
class TuneResult:
    """The weights chosen, their dev WER, and every grid point with its WER.

    ``confidence`` is the share of bootstrap resamples of the dev set on which the best grid point
    made fewer errors than the defaults (None when the best point is the defaults); below
    :data:`TUNE_CONFIDENCE` the dev set cannot tell them apart and ``best`` is the defaults
    (``kept_defaults``).
    """

    best: DecodingWeights
    best_wer: float
    grid: tuple[tuple[DecodingWeights, float], ...]
    confidence: float | None = None
    kept_defaults: bool = False

    @property
    def note(self) -> str:
        """What the tuning decided, in words."""
        if self.kept_defaults:
            return (f"the dev set could not tell its best weights from the defaults (better on {self.confidence:.0%} "
                    f"of resamples, {TUNE_CONFIDENCE:.0%} needed): the defaults are kept")
        if self.confidence is not None:
            return f"better than the defaults on {self.confidence:.0%} of resamples of the dev set"
        return "the defaults did best on the dev set"


def tune(
    decoder: Decoder,
    outputs: Sequence[AcousticOutput],
    references: Sequence[str],
    *,
    lm_alphas: Sequence[float] = TUNE_LM_ALPHAS,
    lm_betas: Sequence[float] = TUNE_LM_BETAS,
    boost_alphas: Sequence[float] | None = None,
    heads: Sequence[str | None] | None = None,
    progress: ProgressCallback | None = None,
) -> TuneResult:
    """Grid search of customization weights on a dev set, re-decoding cached acoustic frames.

    Points within :data:`TUNE_TOLERANCE` of the lowest dev WER are ties (a dev set of a few dozen
    utterances cannot tell them apart), won by the one nearest :func:`default_weights`: weights
    that held across domains, where the extreme corners of a grid fit the dev set's noise and
    cost general speech (on the demo's domain: beta 7 instead of 5 won by one dev word and raised
    general WER by a quarter).

    The best point must then beat the defaults on the dev set as a whole, not on a few of its
    utterances: unless it makes fewer errors on :data:`TUNE_CONFIDENCE` of bootstrap resamples of
    the utterances (paired), the defaults are kept (``kept_defaults``; on the bench's domains, 20
    dev utterances picked weights that won the dev set by 1-5 points and lost the test set by 4-9).

    ``lm_alphas`` and ``lm_betas`` are tried only with a custom LM, ``lm_betas`` only where the
    head's beam search has a length bonus (CTC). ``heads``: for a hybrid model, the heads to try;
    by default both where a custom LM or boosting is fused (each head decodes the one cached
    encoder output, so trying the other costs decoding only), else the decoder's.
    """
    from jupyter_speechcustom.evaluation.metrics import evaluate

    fused = decoder.lm is not None or bool(decoder.boost_phrases)
    if decoder.lm is None:
        lm_alphas, lm_betas = (0.0,), (decoder.weights.lm_beta,)
    if boost_alphas is None:
        boost_alphas = (0.0, 1.0) if decoder.boost_phrases else (0.0,)
    if heads is None:
        family = decoder.base.family
        heads = tuple(family.heads) if fused and family.heads else (decoder.weights.head,)
    points = []
    for head in heads:
        bonus = decoder.base.family.length_bonus(head or decoder.base.head)
        betas = lm_betas if bonus else (decoder.weights.lm_beta,)
        points += [(head, alpha, beta, boost) for alpha, beta, boost in itertools.product(lm_alphas, betas, boost_alphas)]
    grid = []
    for n, (head, alpha, beta, boost) in enumerate(points, start=1):
        weights = replace(decoder.weights, lm_alpha=alpha, lm_beta=beta, boost_alpha=boost, head=head)
        wer = evaluate(list(references), decoder.decode_text(outputs, weights)).wer
        grid.append((weights, wer))
        if progress:
            progress(n / len(points), f"weights {n} of {len(points)}: WER {wer:.1%}")
    lowest = min(wer for _, wer in grid)
    base = decoder.base
    prior = default_weights(base, decoder.lm)
    best, best_wer = min(((w, wer) for w, wer in grid if wer <= lowest + TUNE_TOLERANCE),
                         key=lambda item: (_distance(item[0], prior, base), item[1]))
    if not any(_same_head(w, prior, base) for w, _ in grid):  # another head asked for: its own defaults
        prior = head_defaults(base, best.head) if decoder.lm is not None else DecodingWeights(head=best.head)
    prior = replace(best, head=prior.head, **_tuned_fields(prior, decoder))
    if _same_head(best, prior, base) and _tuned_fields(best, decoder) == _tuned_fields(prior, decoder):
        return TuneResult(best, best_wer, tuple(grid))
    at_best = evaluate(list(references), decoder.decode_text(outputs, best))
    at_prior = evaluate(list(references), decoder.decode_text(outputs, prior))
    confidence = _bootstrap_win(at_prior, at_best)
    if confidence < TUNE_CONFIDENCE:
        return TuneResult(prior, at_prior.wer, tuple(grid), confidence, kept_defaults=True)
    return TuneResult(best, best_wer, tuple(grid), confidence)


def _tuned_fields(weights: DecodingWeights, decoder: Decoder) -> dict[str, Any]:
    """The weights besides the head that :func:`tune` chooses and that change what ``decoder`` writes:
    the LM's with a custom LM (beta where the head's search has a length bonus), boosting's with phrases."""
    chosen: dict[str, Any] = {}
    if decoder.lm is not None:
        chosen["lm_alpha"] = weights.lm_alpha
        if decoder.base.family.length_bonus(weights.head or decoder.base.head):
            chosen["lm_beta"] = weights.lm_beta
    if decoder.boost_phrases:
        chosen["boost_alpha"] = weights.boost_alpha
    return chosen


def _same_head(a: DecodingWeights, b: DecodingWeights, base: BaseModel) -> bool:
    return base.family.decoding_head(a.head or base.head) == base.family.decoding_head(b.head or base.head)


def _bootstrap_win(before: Evaluation, after: Evaluation, resamples: int = TUNE_RESAMPLES) -> float:
    """The share of bootstrap resamples of the utterances (paired, a fixed seed) on which ``after``
    makes fewer word errors than ``before``; ties count half."""
    def errors(e: Evaluation) -> np.ndarray:
        return np.array([u.substitutions + u.deletions + u.insertions for u in e.utterances], dtype=float)

    gain = errors(before) - errors(after)
    rng = np.random.default_rng(0)
    totals = gain[rng.integers(0, len(gain), size=(resamples, len(gain)))].sum(axis=1)
    return float(np.mean(totals > 0) + 0.5 * np.mean(totals == 0))


def _distance(weights: DecodingWeights, prior: DecodingWeights, base: BaseModel) -> float:
    """How far ``weights`` are from ``prior``: relative steps of each weight, and another head
    further than any weights (measured from that head's own defaults)."""
    far = 0.0
    if not _same_head(weights, prior, base):
        far = 10.0
        prior = head_defaults(base, weights.head)
    return (far + abs(weights.lm_alpha - prior.lm_alpha) / max(prior.lm_alpha, 0.1)
            + abs(weights.lm_beta - prior.lm_beta) / max(abs(prior.lm_beta), 1.0)
            + abs(weights.boost_alpha - prior.boost_alpha))
