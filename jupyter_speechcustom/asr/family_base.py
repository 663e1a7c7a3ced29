"""What every model family implements, and the beam-search plumbing the families share.

A family (:class:`ModelFamily`) is stateless: what a call needs of the model it is given, and the
head that decodes (a hybrid has two) is an argument of each decoding call, never a setting of the
family. The frames cached per utterance (:attr:`~jupyter_speechcustom.asr.recognize.AcousticOutput.frames`)
are the encoder output as :meth:`ModelFamily.project` gives it for the family's default head.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from jupyter_speechcustom.asr.threads import torch_threads
from jupyter_speechcustom.errors import InvalidOptionError

if TYPE_CHECKING:
    import torch
    from nemo.collections.asr.models import ASRModel

__all__ = ["DECODE_BATCH", "HEADS", "ModelFamily"]

#: Utterances per batch of beam search.
DECODE_BATCH = 16

#: The heads of a hybrid transducer + CTC model, the default first.
HEADS = ("transducer", "ctc")


class ModelFamily(ABC):
    """The operations a family of models implements.

    The acoustic pass (:meth:`encode`) gives each utterance's frames, which the toolkit caches so
    that decoding with other weights or another head never runs the acoustic model again: the
    encoder output projected by the family's default head (:meth:`project`). Decoding calls take
    ``head``: which of :attr:`heads` decodes (None: the default, the first).
    """

    #: Short name: ``"ctc"``, ...
    name: str = ""

    #: The heads a model of this family decodes with (a hybrid's two), the default first; empty: only one.
    heads: tuple[str, ...] = ()

    @classmethod
    @abstractmethod
    def matches(cls, asr_model: ASRModel) -> bool:
        """Whether this family handles ``asr_model``."""

    def decoding_head(self, head: str | None, source: object = "this model") -> str | None:
        """The head that decodes when ``head`` is asked for (None: the default); misuse is an
        :class:`InvalidOptionError` that says what to do."""
        if not self.heads:
            if head is None:
                return None
            raise InvalidOptionError(f"{source} has one decoder: head={head!r} applies to hybrid models only "
                                     "(transducer + CTC; leave the head unset)")
        if head is None:
            return self.heads[0]
        if head not in self.heads:
            raise InvalidOptionError(f"a {self.name} model has a {' and a '.join(map(repr, self.heads))} head, "
                                     f"not {head!r}")
        return head

    def length_bonus(self, head: str | None = None) -> bool:
        """Whether beam search on ``head`` has a bonus per emitted token (``lm_beta``); a transducer's has none."""
        self.decoding_head(head)
        return True

    # ------------------------------------------------------------------ vocabulary

    @abstractmethod
    def vocabulary(self, asr_model: ASRModel) -> list[str]:
        """Output tokens in id order, blank excluded."""

    def blank_id(self, asr_model: ASRModel) -> int:
        """The blank's id: after the vocabulary in NeMo's models."""
        return len(self.vocabulary(asr_model))

    def tokenizer(self, asr_model: ASRModel) -> Any | None:
        """The model's tokenizer (SentencePiece for BPE models), or None for a character model."""
        return getattr(asr_model, "tokenizer", None)

    # ------------------------------------------------------------------ acoustic pass

    def frame_shift(self, asr_model: ASRModel) -> float:
        """Seconds per output frame: the feature hop times the encoder's subsampling."""
        cfg = asr_model.cfg
        hop = float(cfg.preprocessor.get("window_stride", 0.01))
        factor = int(cfg.encoder.get("subsampling_factor", 1) or 1)
        return hop * factor

    @abstractmethod
    def encode(self, asr_model: ASRModel, batch: torch.Tensor, lengths: torch.Tensor) -> list[np.ndarray]:
        """Run the acoustic model on a padded batch of audio: each utterance's frames, as cached."""

    @abstractmethod
    def project(self, asr_model: ASRModel, encoded: np.ndarray, head: str | None = None) -> np.ndarray:
        """Encoder output ``(frames, d_model)`` as the frames ``head`` reads: a CTC head's per-frame
        log-probabilities ``(frames, vocabulary + blank)``; for a transducer head the encoder frames
        themselves (its prediction and joint networks run when it decodes). With the default head,
        these are the frames :meth:`encode` gives (a streaming encoder's chunks become them so)."""

    def log_probs(self, asr_model: ASRModel, frames: np.ndarray, head: str | None = None) -> np.ndarray | None:
        """Per-frame log-probabilities ``(frames, vocabulary + blank)`` that ``head`` gives for cached
        ``frames``, or None where it gives none (a transducer head)."""
        return None

    # ------------------------------------------------------------------ decoding

    @abstractmethod
    def greedy_ids(self, asr_model: ASRModel, frames: Sequence[np.ndarray], head: str | None = None
                   ) -> list[list[int]]:
        """Token ids of greedy decoding with ``head``, per utterance."""

    def beam_ids(
        self,
        asr_model: ASRModel,
        frames: Sequence[np.ndarray],
        *,
        beam_size: int,
        fusion_models: Sequence[Any],
        fusion_alphas: Sequence[float],
        beta: float,
        head: str | None = None,
    ) -> list[list[int]]:
        """Token ids of the best beam-search hypothesis per utterance, with NeMo's fusion models
        (an NGPU-LM n-gram model, a boosting tree) weighted by ``fusion_alphas``."""
        nbest = self.beam_nbest(asr_model, frames, n=1, beam_size=beam_size, fusion_models=fusion_models,
                                fusion_alphas=fusion_alphas, beta=beta, head=head)
        return [alternatives[0][0] if alternatives else [] for alternatives in nbest]

    @abstractmethod
    def beam_nbest(
        self,
        asr_model: ASRModel,
        frames: Sequence[np.ndarray],
        *,
        n: int,
        beam_size: int,
        fusion_models: Sequence[Any],
        fusion_alphas: Sequence[float],
        beta: float,
        head: str | None = None,
    ) -> list[list[tuple[list[int], float]]]:
        """Up to ``n`` beam-search hypotheses per utterance, best first, as ``(token ids, score)``."""

    @abstractmethod
    def word_timings(
        self, asr_model: ASRModel, frames: np.ndarray, frame_shift: float, words: Sequence[str],
        token_ids: Sequence[Sequence[int]],
    ) -> list[dict[str, Any]]:
        """Start, end and confidence per word of a transcript (``token_ids``: each word's tokens)."""

    # ------------------------------------------------------------------ fine-tuning

    @abstractmethod
    def dataset_config(self, asr_model: ASRModel) -> dict[str, Any]:
        """What NeMo's training and validation data configs need for this family."""

    def training_problem(self, asr_model: ASRModel, accelerator: str) -> str | None:
        """Why this model cannot be fine-tuned on ``accelerator`` (what to do instead), or None."""
        return None

    def prepare_training(self, asr_model: ASRModel, accelerator: str) -> None:
        """Ready a fresh copy of the model for fine-tuning on ``accelerator`` (before its data and
        optimizer are set up): whatever this family's training needs that NeMo does not give there."""
        return None


def unknown_timings(words: Sequence[str]) -> list[dict[str, Any]]:
    """Words without start, end or confidence."""
    return [{"word": w, "start": None, "end": None, "confidence": None} for w in words]


def search_in_batches(
    frames: Sequence[np.ndarray], blank: int, n: int, decode: Callable[[list[np.ndarray]], list[list[Any]]]
) -> list[list[tuple[list[int], float]]]:
    """Beam search over utterances in batches of similar length (less padding), on one thread:
    ``decode`` turns a batch of cached frames into each one's NeMo hypotheses, best first;
    returns up to ``n`` per utterance as ``(token ids, score)``, no two with the same ids."""
    import torch

    results: list[list[tuple[list[int], float]]] = [[] for _ in frames]
    order = sorted(range(len(frames)), key=lambda i: len(frames[i]))
    with torch.inference_mode(), torch_threads(1):
        for start in range(0, len(order), DECODE_BATCH):
            idx = order[start : start + DECODE_BATCH]
            for i, hyps in zip(idx, decode([frames[i] for i in idx])):
                seen: set[tuple[int, ...]] = set()
                for hyp in hyps:
                    ids = hypothesis_ids(hyp, blank)
                    if tuple(ids) not in seen and len(seen) < n:
                        seen.add(tuple(ids))
                        results[i].append((ids, float(hyp.score)))
    return results


def hypotheses(beams: Any, n: int, *, score_norm: bool) -> list[list[Any]]:
    """Each utterance's hypotheses, best first, from NeMo's batched beam-search result: the best
    alone when ``n`` is 1, else its n-best list."""
    if n == 1:
        return [[hyp] for hyp in beams.to_hyps_list(score_norm=score_norm)]
    return [list(nbest.n_best_hypotheses) for nbest in beams.to_nbest_hyps_list(score_norm=score_norm)]


def hypothesis_ids(hyp: Any, blank: int) -> list[int]:
    """A hypothesis's token ids, without blanks and anything outside the vocabulary."""
    return [int(t) for t in as_list(hyp.y_sequence) if 0 <= int(t) < blank]


def as_list(values: Any) -> list[Any]:
    return values.tolist() if hasattr(values, "tolist") else list(values)
