"""Decoding cached log-probs: greedy, or beam search fused with a custom LM and phrase boosting.

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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from jupyter_speechcustom.asr.recognize import AcousticOutput, Transcript, greedy_decode
from jupyter_speechcustom.constants import BEAM_SIZE, BOOST_ALPHA, LM_ALPHA, LM_BETA
from jupyter_speechcustom.text.words import CustomWord, apply_display_as, apply_sounds_like

if TYPE_CHECKING:
    from jupyter_speechcustom.asr.models import BaseModel
    from jupyter_speechcustom.lm.language_model import CustomLanguageModel

log = logging.getLogger(__name__)

#: Utterances per beam-search batch.
DECODE_BATCH = 16


@dataclass(frozen=True)
class DecodingWeights:
    """Customization weights.

    Attributes:
        lm_alpha: weight of the custom LM's log-probability (0 turns it off).
        lm_beta: bonus per emitted token, countering the LM's pull towards short output.
        boost_alpha: weight of phrase boosting (0 turns it off).
        beam_size: hypotheses kept per step.
    """

    lm_alpha: float = LM_ALPHA
    lm_beta: float = LM_BETA
    boost_alpha: float = BOOST_ALPHA
    beam_size: int = BEAM_SIZE


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """Beam search is thousands of tiny tensor ops: thread pools only add overhead (10x on 2 cores)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


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
        weights: default weights for :meth:`decode`.
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
        self.base = base
        self.lm = lm
        self.words = tuple(words if words is not None else (lm.words if lm else ()))
        self.weights = weights or DecodingWeights()
        self._lm_model = None
        self._boost_model = None
        if lm is not None:
            lm.check_base(base)
            from nemo.collections.asr.parts.submodules.ngram_lm import NGramGPULanguageModel

            with contextlib.redirect_stderr(io.StringIO()):  # NeMo draws progress bars while reading
                self._lm_model = NGramGPULanguageModel.from_file(lm.token_arpa, vocab_size=base.blank_id,
                                                                 use_triton=False)
        phrases = list(boost_phrases) if boost_phrases is not None else [w.word for w in self.words]
        self.boost_phrases = tuple(dict.fromkeys(p for p in phrases if base.text_to_ids(p)))
        if self.boost_phrases:
            from nemo.collections.asr.parts.context_biasing.boosting_graph_batched import (
                BoostingTreeModelConfig,
                GPUBoostingTreeModel,
            )

            tokenizer = getattr(base.asr_model, "tokenizer", None) or _VocabularyTokenizer(base)
            cfg = BoostingTreeModelConfig(key_phrases_list=list(self.boost_phrases), use_triton=False)
            self._boost_model = GPUBoostingTreeModel.from_config(cfg, tokenizer=tokenizer)

    def _uses_beam(self, weights: DecodingWeights) -> bool:
        return (self._lm_model is not None and weights.lm_alpha > 0) or (
            self._boost_model is not None and weights.boost_alpha > 0
        )

    def _beam_ids(self, outputs: Sequence[AcousticOutput], weights: DecodingWeights) -> list[list[int]]:
        import torch
        from nemo.collections.asr.parts.submodules.ctc_batched_beam_decoding import BatchedBeamCTCComputer

        fusion, alphas = [], []
        if self._lm_model is not None and weights.lm_alpha > 0:
            fusion.append(self._lm_model)
            alphas.append(weights.lm_alpha)
        if self._boost_model is not None and weights.boost_alpha > 0:
            fusion.append(self._boost_model)
            alphas.append(weights.boost_alpha)
        search = BatchedBeamCTCComputer(
            blank_index=self.base.blank_id, beam_size=weights.beam_size, return_best_hypothesis=True,
            fusion_models=fusion, fusion_models_alpha=alphas, beam_beta=weights.lm_beta,
            allow_cuda_graphs=False,
        )
        results: list[list[int]] = [[] for _ in outputs]
        order = sorted(range(len(outputs)), key=lambda i: len(outputs[i].log_probs))
        with torch.inference_mode(), _one_thread():
            for start in range(0, len(order), DECODE_BATCH):
                idx = order[start : start + DECODE_BATCH]
                lengths = torch.tensor([len(outputs[i].log_probs) for i in idx])
                batch = torch.full((len(idx), int(lengths.max()), outputs[idx[0]].log_probs.shape[1]), -1e4)
                # Padding frames are certain blanks: a blank never changes a hypothesis, so a short
                # utterance decodes the same whatever it is batched with.
                batch[:, :, self.base.blank_id] = 0.0
                for row, i in enumerate(idx):
                    batch[row, : lengths[row]] = torch.from_numpy(outputs[i].log_probs)
                hyps = search(batch, lengths).to_hyps_list(score_norm=False)
                for row, i in enumerate(idx):
                    seq = hyps[row].y_sequence
                    ids = seq.tolist() if hasattr(seq, "tolist") else list(seq)
                    results[i] = [t for t in ids if 0 <= t < self.base.blank_id]
        return results

    def _ids_to_text(self, ids: list[int]) -> str:
        tokenizer = getattr(self.base.asr_model, "tokenizer", None)
        text = tokenizer.ids_to_text(ids) if tokenizer is not None else "".join(self.base.vocabulary[i] for i in ids)
        return " ".join(text.split())

    def decode_text(self, outputs: Sequence[AcousticOutput], weights: DecodingWeights | None = None) -> list[str]:
        """Transcripts only (no timings): the fast path for tuning and sliders."""
        weights = weights or self.weights
        if self._uses_beam(weights):
            texts = [self._ids_to_text(ids) for ids in self._beam_ids(outputs, weights)]
        else:
            texts = greedy_decode(self.base, outputs)
        if self.words:
            texts = [apply_sounds_like(t, self.words) for t in texts]
        return texts

    def decode(self, outputs: Sequence[AcousticOutput], weights: DecodingWeights | None = None) -> list[Transcript]:
        """Transcripts with word timings and confidences."""
        texts = self.decode_text(outputs, weights)
        transcripts = []
        for out, text in zip(outputs, texts):
            words = word_timings(self.base, out, text)
            display = apply_display_as(text, self.words) if self.words else None
            transcripts.append(Transcript(text, out.audio, tuple(words), display))
        return transcripts


def word_timings(base: BaseModel, out: AcousticOutput, text: str) -> list[dict[str, Any]]:
    """Start, end and confidence of each word of ``text``, by CTC forced alignment.

    Confidence is the mean posterior of the word's tokens at their aligned frames.
    """
    import torch
    from nemo.collections.asr.parts.utils.aligner_utils import viterbi_decoding

    words = text.split()
    if not words:
        return []
    char_model = base.is_character_model
    token_ids: list[int] = []
    word_of_token: list[int] = []
    for w_index, word in enumerate(words):
        piece = (word + " ") if char_model and w_index < len(words) - 1 else word
        ids = base.text_to_ids(piece)
        token_ids.extend(ids)
        word_of_token.extend([w_index] * len(ids))
    frames = len(out.log_probs)
    if not token_ids or 2 * len(token_ids) + 1 > 2 * frames + 1:
        return [{"word": w, "start": None, "end": None, "confidence": None} for w in words]
    blank = base.blank_id
    states = [blank]
    for t in token_ids:
        states += [t, blank]
    log_probs = torch.from_numpy(out.log_probs).unsqueeze(0)
    alignment = viterbi_decoding(log_probs, torch.tensor([states]), torch.tensor([frames]),
                                 torch.tensor([len(states)]), viterbi_device=torch.device("cpu"))[0]
    spans: dict[int, list[int]] = {}
    probs: dict[int, list[float]] = {}
    posteriors = np.exp(out.log_probs)
    for frame, state in enumerate(alignment):
        if state % 2 == 1:  # odd states are tokens, even ones blanks
            token_index = state // 2
            w = word_of_token[token_index]
            if char_model and base.vocabulary[token_ids[token_index]] == " ":
                continue
            spans.setdefault(w, []).append(frame)
            probs.setdefault(w, []).append(float(posteriors[frame, token_ids[token_index]]))
    shift = out.frame_shift
    timed = []
    for w_index, word in enumerate(words):
        f = spans.get(w_index)
        timed.append({
            "word": word,
            "start": round(f[0] * shift, 3) if f else None,
            "end": round((f[-1] + 1) * shift, 3) if f else None,
            "confidence": round(float(np.mean(probs[w_index])), 4) if f else None,
        })
    return timed


@dataclass(frozen=True)
class TuneResult:
    """The best weights found, and every grid point with its WER."""

    best: DecodingWeights
    best_wer: float
    grid: tuple[tuple[DecodingWeights, float], ...]


def tune(
    decoder: Decoder,
    outputs: Sequence[AcousticOutput],
    references: Sequence[str],
    *,
    lm_alphas: Sequence[float] = (0.4, 0.7, 1.0),
    lm_betas: Sequence[float] = (0.5, 1.5),
    boost_alphas: Sequence[float] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> TuneResult:
    """Grid search of customization weights on a dev set, re-decoding cached log-probs."""
    from jupyter_speechcustom.evaluation.metrics import evaluate

    if decoder.lm is None:
        lm_alphas, lm_betas = (0.0,), (decoder.weights.lm_beta,)
    if boost_alphas is None:
        boost_alphas = (0.0, 1.0) if decoder.boost_phrases else (0.0,)
    points = list(itertools.product(lm_alphas, lm_betas, boost_alphas))
    grid = []
    for n, (alpha, beta, boost) in enumerate(points, start=1):
        weights = replace(decoder.weights, lm_alpha=alpha, lm_beta=beta, boost_alpha=boost)
        wer = evaluate(list(references), decoder.decode_text(outputs, weights)).wer
        grid.append((weights, wer))
        if progress:
            progress(n, len(points))
    best, best_wer = min(grid, key=lambda item: item[1])
    return TuneResult(best, best_wer, tuple(grid))
