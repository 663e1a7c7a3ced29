"""The CTC family: NeMo's CTC models, and the CTC searches a hybrid's CTC head shares with them.

A CTC model's frames are per-frame log-probabilities ``(frames, vocabulary + blank)``: greedy
decoding takes the best path, beam search is NeMo's batched CTC beam search (``beam_batch``) with
its fusion models, and word timings come from NeMo's Viterbi forced alignment.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from jupyter_speechcustom.asr.family_base import ModelFamily, hypotheses, search_in_batches, unknown_timings

if TYPE_CHECKING:
    import torch
    from nemo.collections.asr.models import ASRModel

__all__ = ["CTCFamily", "ctc_beam_nbest", "ctc_greedy_ids", "ctc_word_timings"]


class CTCFamily(ModelFamily):
    """NeMo CTC models: a per-frame softmax over tokens and blank; characters (``EncDecCTCModel``)
    or BPE pieces (``EncDecCTCModelBPE``). The cached frames are the log-probabilities."""

    name = "ctc"

    @classmethod
    def matches(cls, asr_model: ASRModel) -> bool:
        decoder = getattr(asr_model, "decoder", None)
        return decoder is not None and hasattr(decoder, "vocabulary") and not hasattr(asr_model, "joint")

    def vocabulary(self, asr_model: ASRModel) -> list[str]:
        return list(asr_model.decoder.vocabulary)

    def encode(self, asr_model: ASRModel, batch: torch.Tensor, lengths: torch.Tensor) -> list[np.ndarray]:
        log_probs, encoded_len, _ = asr_model.forward(input_signal=batch, input_signal_length=lengths)
        return [log_probs[row, : int(encoded_len[row])].numpy().copy() for row in range(len(lengths))]

    def project(self, asr_model: ASRModel, encoded: np.ndarray, head: str | None = None) -> np.ndarray:
        self.decoding_head(head)
        return ctc_projection(asr_model.decoder, encoded)

    def log_probs(self, asr_model: ASRModel, frames: np.ndarray, head: str | None = None) -> np.ndarray:
        self.decoding_head(head)
        return frames

    def greedy_ids(self, asr_model: ASRModel, frames: Sequence[np.ndarray], head: str | None = None
                   ) -> list[list[int]]:
        self.decoding_head(head)
        return ctc_greedy_ids(frames, self.blank_id(asr_model))

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
        return ctc_beam_nbest(frames, self.blank_id(asr_model), n=n, beam_size=beam_size,
                              fusion_models=fusion_models, fusion_alphas=fusion_alphas, beta=beta)

    def word_timings(
        self, asr_model: ASRModel, frames: np.ndarray, frame_shift: float, words: Sequence[str],
        token_ids: Sequence[Sequence[int]],
    ) -> list[dict[str, Any]]:
        return ctc_word_timings(frames, self.vocabulary(asr_model), self.tokenizer(asr_model) is None,
                                frame_shift, words, token_ids)

    def dataset_config(self, asr_model: ASRModel) -> dict[str, Any]:
        # A character model's datasets take its labels; a BPE model's use its tokenizer.
        return {} if self.tokenizer(asr_model) is not None else {"labels": self.vocabulary(asr_model)}


def ctc_projection(decoder: Any, encoded: np.ndarray) -> np.ndarray:
    """A CTC decoder's log-probabilities ``(frames, vocabulary + blank)`` of encoder output ``(frames, d_model)``."""
    import torch

    with torch.inference_mode():
        batch = torch.from_numpy(np.ascontiguousarray(encoded)).T.unsqueeze(0)  # (1, d_model, frames)
        return decoder(encoder_output=batch)[0].numpy().copy()


def ctc_greedy_ids(log_probs: Sequence[np.ndarray], blank: int) -> list[list[int]]:
    """The best path: the most likely token per frame, repeats merged, blanks dropped."""
    results = []
    for frames in log_probs:
        best = frames.argmax(axis=-1)
        results.append([int(t) for k, t in enumerate(best) if t != blank and (k == 0 or t != best[k - 1])])
    return results


def ctc_beam_nbest(
    log_probs: Sequence[np.ndarray],
    blank: int,
    *,
    n: int,
    beam_size: int,
    fusion_models: Sequence[Any],
    fusion_alphas: Sequence[float],
    beta: float,
) -> list[list[tuple[list[int], float]]]:
    """NeMo's batched CTC beam search over per-frame log-probabilities, with its fusion models."""
    import torch
    from nemo.collections.asr.parts.submodules.ctc_batched_beam_decoding import BatchedBeamCTCComputer

    search = BatchedBeamCTCComputer(
        blank_index=blank, beam_size=max(beam_size, n), return_best_hypothesis=True,
        fusion_models=list(fusion_models), fusion_models_alpha=list(fusion_alphas), beam_beta=beta,
        allow_cuda_graphs=False,
    )

    def decode(group: list[np.ndarray]) -> list[Any]:
        lengths = torch.tensor([len(o) for o in group])
        batch = torch.full((len(group), int(lengths.max()), blank + 1), -1e4)
        # Padding frames are certain blanks: a blank never changes a hypothesis, so a short
        # utterance decodes the same whatever it is batched with.
        batch[:, :, blank] = 0.0
        for row, out in enumerate(group):
            batch[row, : lengths[row]] = torch.from_numpy(out)
        return hypotheses(search(batch, lengths), n, score_norm=False)

    return search_in_batches(log_probs, blank, n, decode)


def ctc_word_timings(
    log_probs: np.ndarray, vocabulary: Sequence[str], char_model: bool, frame_shift: float, words: Sequence[str],
    token_ids: Sequence[Sequence[int]],
) -> list[dict[str, Any]]:
    """CTC forced alignment (NeMo's Viterbi aligner): a word spans the frames of its tokens; its
    confidence is the mean posterior of those tokens at their aligned frames."""
    import torch
    from nemo.collections.asr.parts.utils.aligner_utils import viterbi_decoding

    flat: list[int] = []
    word_of_token: list[int] = []
    for w_index, ids in enumerate(token_ids):
        flat.extend(ids)
        word_of_token.extend([w_index] * len(ids))
    frames = len(log_probs)
    if not flat or 2 * len(flat) + 1 > 2 * frames + 1:
        return unknown_timings(words)
    blank = len(vocabulary)
    states = [blank]
    for t in flat:
        states += [t, blank]
    alignment = viterbi_decoding(torch.from_numpy(log_probs).unsqueeze(0), torch.tensor([states]),
                                 torch.tensor([frames]), torch.tensor([len(states)]),
                                 viterbi_device=torch.device("cpu"))[0]
    spans: dict[int, list[int]] = {}
    probs: dict[int, list[float]] = {}
    posteriors = np.exp(log_probs)
    for frame, state in enumerate(alignment):
        if state % 2 == 1:  # odd states are tokens, even ones blanks
            token_index = state // 2
            w = word_of_token[token_index]
            if char_model and vocabulary[flat[token_index]] == " ":
                continue
            spans.setdefault(w, []).append(frame)
            probs.setdefault(w, []).append(float(posteriors[frame, flat[token_index]]))
    timed = []
    for w_index, word in enumerate(words):
        f = spans.get(w_index)
        timed.append({
            "word": word,
            "start": round(f[0] * frame_shift, 3) if f else None,
            "end": round((f[-1] + 1) * frame_shift, 3) if f else None,
            "confidence": round(float(np.mean(probs[w_index])), 4) if f else None,
        })
    return timed
