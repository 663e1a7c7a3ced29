"""Transducer families: NeMo's RNNT and TDT models, and hybrid transducer + CTC models.

Their frames are the encoder output ``(frames, d_model)``; greedy decoding and beam search (NeMo's
batched modified ALSD, with the same n-gram LM and boosting-tree fusion models as CTC) run the
prediction and joint networks on it, and a hybrid's CTC head projects it to log-probabilities.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from jupyter_speechcustom.asr.family_base import (
    HEADS,
    ModelFamily,
    as_list,
    hypotheses,
    hypothesis_ids,
    search_in_batches,
    unknown_timings,
)
from jupyter_speechcustom.asr.family_ctc import ctc_beam_nbest, ctc_greedy_ids, ctc_projection, ctc_word_timings

if TYPE_CHECKING:
    import torch
    from nemo.collections.asr.models import ASRModel

__all__ = ["TRANSDUCER_FUSION_PRUNING", "HybridFamily", "TransducerFamily"]

#: When a transducer's beam search (NeMo's modified ALSD) prunes, with an LM or boosting fused:
#: ``"late"`` ranks the candidates by the fused score, so the LM can bring in a token the acoustic
#: model alone ranks outside the beam; NeMo's default, ``"early"``, keeps the acoustic top-k first.
#: Same cost on a CPU; domain test WER with a custom LM at tuned weights, beam 8 (bench_families):
#: TDT 31.1% -> 27.7%, RNN-T 32.7% -> 30.3%.
TRANSDUCER_FUSION_PRUNING = "late"


def _pad(frames: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Cached per-utterance ``(frames, dim)`` arrays as one zero-padded ``(batch, frames, dim)`` tensor."""
    import torch

    lengths = torch.tensor([len(o) for o in frames])
    batch = torch.zeros(len(frames), int(lengths.max()), frames[0].shape[1])
    for row, out in enumerate(frames):
        batch[row, : len(out)] = torch.from_numpy(out)
    return batch, lengths


def _on_cpu(accelerator: str) -> bool:
    import torch

    return str(accelerator).lower() == "cpu" or not torch.cuda.is_available()


class TransducerFamily(ModelFamily):
    """NeMo transducers (``EncDecRNNTBPEModel``): an RNNT or a TDT joint over BPE pieces.

    Transducer beam search has no length bonus, so ``lm_beta`` does not apply. Word timings and
    confidences come from the model's own greedy alignment where the transcript is the greedy one.
    NeMo computes the TDT loss on CUDA only: :meth:`prepare_training` gives a TDT model the
    CPU loss of :mod:`jupyter_speechcustom.asr.tdt_loss` when it trains without a GPU.
    """

    name = "transducer"

    @classmethod
    def matches(cls, asr_model: ASRModel) -> bool:
        return hasattr(asr_model, "joint") and not hasattr(asr_model, "ctc_decoder")

    def length_bonus(self, head: str | None = None) -> bool:
        self.decoding_head(head)
        return False

    @staticmethod
    def durations(asr_model: ASRModel) -> list[int] | None:
        """A TDT model's durations, or None for a plain RNNT model."""
        loss = TransducerFamily._loss_config(asr_model)
        if loss.get("loss_name") != "tdt":
            return None
        durations = (loss.get("tdt_kwargs") or {}).get("durations") or (asr_model.cfg.get("decoding") or {}).get(
            "durations")
        return [int(d) for d in durations] if durations else None

    @staticmethod
    def _loss_config(asr_model: ASRModel) -> Any:
        return asr_model.cfg.get("loss") or {}

    def vocabulary(self, asr_model: ASRModel) -> list[str]:
        return list(asr_model.joint.vocabulary)

    def encode(self, asr_model: ASRModel, batch: torch.Tensor, lengths: torch.Tensor) -> list[np.ndarray]:
        features, feature_lengths = asr_model.preprocessor(input_signal=batch, length=lengths)
        encoded, encoded_len = asr_model.encoder(audio_signal=features, length=feature_lengths)
        return [encoded[row, :, : int(encoded_len[row])].T.numpy().copy() for row in range(len(lengths))]

    def project(self, asr_model: ASRModel, encoded: np.ndarray, head: str | None = None) -> np.ndarray:
        self.decoding_head(head)
        return encoded

    def _greedy_hypotheses(self, asr_model: ASRModel, frames: Sequence[np.ndarray]) -> list[Any]:
        import torch

        _keep_token_confidence(asr_model)
        batch, lengths = _pad(frames)
        with torch.inference_mode():
            hyps = asr_model.decoding.rnnt_decoder_predictions_tensor(
                encoder_output=batch.transpose(1, 2), encoded_lengths=lengths, return_hypotheses=True)
        return list(hyps[0] if isinstance(hyps, tuple) else hyps)

    def greedy_ids(self, asr_model: ASRModel, frames: Sequence[np.ndarray], head: str | None = None
                   ) -> list[list[int]]:
        self.decoding_head(head)
        blank = self.blank_id(asr_model)
        return [hypothesis_ids(h, blank) for h in self._greedy_hypotheses(asr_model, frames)]

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
        self.decoding_head(head)
        blank = self.blank_id(asr_model)
        search = self.beam_search(asr_model, beam_size=max(beam_size, n), fusion_models=fusion_models,
                                  fusion_alphas=fusion_alphas)

        def decode(group: list[np.ndarray]) -> list[Any]:
            batch, lengths = _pad(group)
            hyps, _ = search(x=batch, out_len=lengths)
            return hypotheses(hyps, n, score_norm=True)

        return search_in_batches(frames, blank, n, decode)

    def beam_search(self, asr_model: ASRModel, *, beam_size: int, fusion_models: Sequence[Any],
                    fusion_alphas: Sequence[float]) -> Any:
        """NeMo's batched modified ALSD search for this model (TDT or RNNT), with the fusion models;
        they prune late (:data:`TRANSDUCER_FUSION_PRUNING`)."""
        common: dict[str, Any] = {
            "decoder": asr_model.decoder, "joint": asr_model.joint, "blank_index": self.blank_id(asr_model),
            "beam_size": beam_size, "max_symbols_per_step": 10, "fusion_models": list(fusion_models) or None,
            "fusion_models_alpha": list(fusion_alphas) or None, "allow_cuda_graphs": False}
        if fusion_models:
            common["pruning_mode"] = TRANSDUCER_FUSION_PRUNING
        durations = self.durations(asr_model)
        if durations is not None:
            from nemo.collections.asr.parts.submodules.tdt_malsd_batched_computer import (
                ModifiedALSDBatchedTDTComputer,
            )

            return ModifiedALSDBatchedTDTComputer(durations=durations, **common)
        from nemo.collections.asr.parts.submodules.rnnt_malsd_batched_computer import ModifiedALSDBatchedRNNTComputer

        return ModifiedALSDBatchedRNNTComputer(**common)

    def word_timings(
        self, asr_model: ASRModel, frames: np.ndarray, frame_shift: float, words: Sequence[str],
        token_ids: Sequence[Sequence[int]],
    ) -> list[dict[str, Any]]:
        """From the greedy alignment when the transcript is the greedy one: a word spans the frames
        where the joint emitted its pieces; its confidence is the mean of NeMo's token confidences
        of those pieces. Another transcript (from beam search) gets no timings: None."""
        unknown = unknown_timings(words)
        hyp = self._greedy_hypotheses(asr_model, [frames])[0]
        emitted = hypothesis_ids(hyp, self.blank_id(asr_model))
        stamps = getattr(hyp, "timestamp", None)
        if isinstance(stamps, dict):  # some NeMo versions keep per-token frames under "timestep"
            stamps = stamps.get("timestep")
        at = [int(f) for f in as_list(stamps)] if stamps is not None else []
        tokenizer = self.tokenizer(asr_model)
        if not emitted or len(at) != len(emitted) or tokenizer is None:
            return unknown
        if " ".join(tokenizer.ids_to_text(emitted).split()) != " ".join(words):
            return unknown
        # SentencePiece marks a word's first piece with "▁": that is where the next word starts.
        word_of_piece, current = [], -1
        for piece in tokenizer.ids_to_tokens(emitted):
            if piece.startswith("\u2581") or current < 0:
                current += 1
            word_of_piece.append(current)
        if current != len(words) - 1:
            return unknown
        confidence = list(getattr(hyp, "token_confidence", None) or [])
        spans: dict[int, list[int]] = {}
        scores: dict[int, list[float]] = {}
        for k, (frame, w) in enumerate(zip(at, word_of_piece)):
            spans.setdefault(w, []).append(frame)
            if k < len(confidence):
                scores.setdefault(w, []).append(float(confidence[k]))
        return [{"word": word,
                 "start": round(spans[n][0] * frame_shift, 3),
                 "end": round((spans[n][-1] + 1) * frame_shift, 3),
                 "confidence": round(float(np.mean(scores[n])), 4) if scores.get(n) else None}
                for n, word in enumerate(words)]

    def dataset_config(self, asr_model: ASRModel) -> dict[str, Any]:
        return {}

    def training_problem(self, asr_model: ASRModel, accelerator: str) -> str | None:
        """A TDT model trains on a CPU with this toolkit's TDT loss, which has no FastEmit regularization."""
        if self.durations(asr_model) is None or not _on_cpu(accelerator):
            return None
        fastemit = float((self._loss_config(asr_model).get("tdt_kwargs") or {}).get("fastemit_lambda") or 0.0)
        if fastemit:
            return (f"this TDT model's loss has FastEmit regularization (fastemit_lambda={fastemit}), which the "
                    "CPU TDT loss does not support: fine-tune it on a GPU (trainer_kwargs={'accelerator': 'gpu'}) "
                    "or set its loss's tdt_kwargs.fastemit_lambda to 0")
        return None

    def prepare_training(self, asr_model: ASRModel, accelerator: str) -> None:
        """NeMo computes the TDT loss on CUDA only: without a GPU, a TDT model trains with the CPU loss."""
        if self.durations(asr_model) is not None and _on_cpu(accelerator):
            from jupyter_speechcustom.asr.tdt_loss import use_cpu_tdt_loss

            use_cpu_tdt_loss(asr_model)


class HybridFamily(TransducerFamily):
    """Hybrid transducer + CTC models (``EncDecHybridRNNTCTCBPEModel``, Parakeet TDT-CTC).

    Both heads share the encoder, so the cached frames are the encoder's and either head decodes
    them: the head is an argument of each decoding call. ``"transducer"`` (the default) decodes
    with the TDT/RNNT head: it is the model's main head, trained with the full loss weight (the CTC
    head is auxiliary, 0.3 in NeMo's configs) and the more accurate of the two without a custom LM.
    ``"ctc"`` decodes with the CTC head: cheaper, and its beam search has a length bonus
    (``lm_beta``). Which head gains more from a custom LM depends on the model and the domain (on
    the demo model the CTC head went from 64% to 14% domain WER, the transducer from 57% to 31%),
    so :func:`~jupyter_speechcustom.asr.decoding.tune` tries both on the dev set and
    :class:`~jupyter_speechcustom.asr.decoding.DecodingWeights` carries the head it chose. Word
    timings and confidences always come from the CTC head's forced alignment of the transcript,
    whichever head wrote it.
    """

    name = "hybrid"
    heads = HEADS

    @classmethod
    def matches(cls, asr_model: ASRModel) -> bool:
        return hasattr(asr_model, "joint") and hasattr(asr_model, "ctc_decoder")

    def length_bonus(self, head: str | None = None) -> bool:
        return self.decoding_head(head) == "ctc"

    def project(self, asr_model: ASRModel, encoded: np.ndarray, head: str | None = None) -> np.ndarray:
        if self.decoding_head(head) == "ctc":
            return ctc_projection(asr_model.ctc_decoder, encoded)
        return encoded

    def log_probs(self, asr_model: ASRModel, frames: np.ndarray, head: str | None = None) -> np.ndarray | None:
        """The CTC head's log-probabilities of cached frames (None for the transducer head)."""
        return self.project(asr_model, frames, "ctc") if self.decoding_head(head) == "ctc" else None

    def greedy_ids(self, asr_model: ASRModel, frames: Sequence[np.ndarray], head: str | None = None
                   ) -> list[list[int]]:
        if self.decoding_head(head) == "ctc":
            return ctc_greedy_ids([self.project(asr_model, f, "ctc") for f in frames], self.blank_id(asr_model))
        return super().greedy_ids(asr_model, frames)

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
        if self.decoding_head(head) == "ctc":
            return ctc_beam_nbest([self.project(asr_model, f, "ctc") for f in frames], self.blank_id(asr_model),
                                  n=n, beam_size=beam_size, fusion_models=fusion_models,
                                  fusion_alphas=fusion_alphas, beta=beta)
        return super().beam_nbest(asr_model, frames, n=n, beam_size=beam_size, fusion_models=fusion_models,
                                   fusion_alphas=fusion_alphas, beta=beta)

    def word_timings(self, asr_model: ASRModel, frames: np.ndarray, frame_shift: float, words: Sequence[str],
                     token_ids: Sequence[Sequence[int]]) -> list[dict[str, Any]]:
        return ctc_word_timings(self.project(asr_model, frames, "ctc"), self.vocabulary(asr_model),
                                self.tokenizer(asr_model) is None, frame_shift, words, token_ids)


def _keep_token_confidence(asr_model: ASRModel) -> None:
    """Have the model's transducer decoding keep NeMo's per-token confidence (once per model)."""
    if getattr(asr_model, "_speechcustom_token_confidence", False):
        return
    import copy

    from omegaconf import open_dict

    cfg = copy.deepcopy(asr_model.cfg.decoding)
    with open_dict(cfg):
        cfg.confidence_cfg = {"preserve_token_confidence": True}
    kwargs = {"decoder_type": "rnnt"} if hasattr(asr_model, "ctc_decoder") else {}
    asr_model.change_decoding_strategy(cfg, verbose=False, **kwargs)
    asr_model._speechcustom_token_confidence = True
