"""Model families: what differs between kinds of NeMo ASR model, behind one interface.

Everything the toolkit does with a base model's internals goes through its family: the output
vocabulary and tokenizer, the acoustic pass and what is cached from it, greedy decoding, beam
search with n-gram LM fusion and phrase boosting, word timings with confidences, and the
specifics of fine-tuning. The rest of the toolkit (decoders, LM building, training, the
services) asks the family and never reads a model's CTC or transducer attributes itself.

:class:`CTCFamily` covers NeMo's CTC models, character (``EncDecCTCModel``) and BPE
(``EncDecCTCModelBPE``). A family is chosen by :func:`family_of`; :func:`register_family`
adds one (tried before the built-in ones).
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from jupyter_speechcustom.errors import ModelLoadError

if TYPE_CHECKING:
    import torch
    from nemo.collections.asr.models import ASRModel

__all__ = ["CTCFamily", "ModelFamily", "family_of", "register_family"]

#: Utterances per batch of beam search.
DECODE_BATCH = 16


class ModelFamily(ABC):
    """The operations a family of models implements.

    Acoustic outputs are what the toolkit caches per utterance, so that decoding with other
    weights never runs the acoustic model again: for CTC, frame log-probabilities of shape
    ``(frames, vocabulary + blank)``.
    """

    #: Short name: ``"ctc"``, ...
    name: str = ""

    @classmethod
    @abstractmethod
    def matches(cls, asr_model: ASRModel) -> bool:
        """Whether this family handles ``asr_model``."""

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

    @abstractmethod
    def frame_shift(self, asr_model: ASRModel) -> float:
        """Seconds per output frame."""

    @abstractmethod
    def acoustic_pass(self, asr_model: ASRModel, batch: torch.Tensor, lengths: torch.Tensor) -> list[np.ndarray]:
        """Run the acoustic model on a padded batch of audio; one cached array per utterance."""

    # ------------------------------------------------------------------ decoding

    @abstractmethod
    def greedy_ids(self, asr_model: ASRModel, output: np.ndarray) -> list[int]:
        """Token ids of the best path of one utterance's acoustic output."""

    @abstractmethod
    def beam_ids(
        self,
        asr_model: ASRModel,
        outputs: Sequence[np.ndarray],
        *,
        beam_size: int,
        fusion_models: Sequence[Any],
        fusion_alphas: Sequence[float],
        beta: float,
    ) -> list[list[int]]:
        """Token ids of the best beam-search hypothesis per utterance, with NeMo's fusion models
        (an NGPU-LM n-gram model, a boosting tree) weighted by ``fusion_alphas``."""

    @abstractmethod
    def word_timings(
        self, asr_model: ASRModel, output: np.ndarray, frame_shift: float, words: Sequence[str],
        token_ids: Sequence[Sequence[int]],
    ) -> list[dict[str, Any]]:
        """Start, end and confidence per word of a transcript (``token_ids``: each word's tokens)."""

    # ------------------------------------------------------------------ fine-tuning

    @abstractmethod
    def dataset_config(self, asr_model: ASRModel) -> dict[str, Any]:
        """What NeMo's training and validation data configs need for this family."""


class CTCFamily(ModelFamily):
    """NeMo CTC models: a per-frame softmax over tokens and blank; characters or BPE pieces."""

    name = "ctc"

    @classmethod
    def matches(cls, asr_model: ASRModel) -> bool:
        decoder = getattr(asr_model, "decoder", None)
        return decoder is not None and hasattr(decoder, "vocabulary") and not hasattr(asr_model, "joint")

    def vocabulary(self, asr_model: ASRModel) -> list[str]:
        return list(asr_model.decoder.vocabulary)

    def frame_shift(self, asr_model: ASRModel) -> float:
        cfg = asr_model.cfg
        hop = float(cfg.preprocessor.get("window_stride", 0.01))
        factor = int(cfg.encoder.get("subsampling_factor", 1) or 1)
        return hop * factor

    def acoustic_pass(self, asr_model: ASRModel, batch: torch.Tensor, lengths: torch.Tensor) -> list[np.ndarray]:
        log_probs, encoded_len, _ = asr_model.forward(input_signal=batch, input_signal_length=lengths)
        return [log_probs[row, : int(encoded_len[row])].numpy().copy() for row in range(len(lengths))]

    def greedy_ids(self, asr_model: ASRModel, output: np.ndarray) -> list[int]:
        blank = self.blank_id(asr_model)
        best = output.argmax(axis=-1)
        return [int(t) for k, t in enumerate(best) if t != blank and (k == 0 or t != best[k - 1])]

    def beam_ids(
        self,
        asr_model: ASRModel,
        outputs: Sequence[np.ndarray],
        *,
        beam_size: int,
        fusion_models: Sequence[Any],
        fusion_alphas: Sequence[float],
        beta: float,
    ) -> list[list[int]]:
        import torch
        from nemo.collections.asr.parts.submodules.ctc_batched_beam_decoding import BatchedBeamCTCComputer

        blank = self.blank_id(asr_model)
        search = BatchedBeamCTCComputer(
            blank_index=blank, beam_size=beam_size, return_best_hypothesis=True,
            fusion_models=list(fusion_models), fusion_models_alpha=list(fusion_alphas), beam_beta=beta,
            allow_cuda_graphs=False,
        )
        results: list[list[int]] = [[] for _ in outputs]
        order = sorted(range(len(outputs)), key=lambda i: len(outputs[i]))
        with torch.inference_mode(), _one_thread():
            for start in range(0, len(order), DECODE_BATCH):
                idx = order[start : start + DECODE_BATCH]
                lengths = torch.tensor([len(outputs[i]) for i in idx])
                batch = torch.full((len(idx), int(lengths.max()), outputs[idx[0]].shape[1]), -1e4)
                # Padding frames are certain blanks: a blank never changes a hypothesis, so a short
                # utterance decodes the same whatever it is batched with.
                batch[:, :, blank] = 0.0
                for row, i in enumerate(idx):
                    batch[row, : lengths[row]] = torch.from_numpy(outputs[i])
                hyps = search(batch, lengths).to_hyps_list(score_norm=False)
                for row, i in enumerate(idx):
                    seq = hyps[row].y_sequence
                    ids = seq.tolist() if hasattr(seq, "tolist") else list(seq)
                    results[i] = [t for t in ids if 0 <= t < blank]
        return results

    def word_timings(
        self, asr_model: ASRModel, output: np.ndarray, frame_shift: float, words: Sequence[str],
        token_ids: Sequence[Sequence[int]],
    ) -> list[dict[str, Any]]:
        """CTC forced alignment (NeMo's Viterbi aligner): a word spans the frames of its tokens;
        its confidence is the mean posterior of those tokens at their aligned frames."""
        import torch
        from nemo.collections.asr.parts.utils.aligner_utils import viterbi_decoding

        flat: list[int] = []
        word_of_token: list[int] = []
        for w_index, ids in enumerate(token_ids):
            flat.extend(ids)
            word_of_token.extend([w_index] * len(ids))
        frames = len(output)
        if not flat or 2 * len(flat) + 1 > 2 * frames + 1:
            return [{"word": w, "start": None, "end": None, "confidence": None} for w in words]
        blank = self.blank_id(asr_model)
        vocabulary = self.vocabulary(asr_model)
        char_model = self.tokenizer(asr_model) is None
        states = [blank]
        for t in flat:
            states += [t, blank]
        log_probs = torch.from_numpy(output).unsqueeze(0)
        alignment = viterbi_decoding(log_probs, torch.tensor([states]), torch.tensor([frames]),
                                     torch.tensor([len(states)]), viterbi_device=torch.device("cpu"))[0]
        spans: dict[int, list[int]] = {}
        probs: dict[int, list[float]] = {}
        posteriors = np.exp(output)
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

    def dataset_config(self, asr_model: ASRModel) -> dict[str, Any]:
        # A character model's datasets take its labels; a BPE model's use its tokenizer.
        return {} if self.tokenizer(asr_model) is not None else {"labels": self.vocabulary(asr_model)}


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


_FAMILIES: list[type[ModelFamily]] = [CTCFamily]


def register_family(family: type[ModelFamily]) -> None:
    """Add a family; it is tried before those registered earlier."""
    if family not in _FAMILIES:
        _FAMILIES.insert(0, family)


def family_of(asr_model: ASRModel, source: object = "the model") -> ModelFamily:
    """The family that handles ``asr_model``; :class:`ModelLoadError` if none does."""
    for family in _FAMILIES:
        if family.matches(asr_model):
            return family()
    supported = ", ".join(f.name for f in _FAMILIES)
    msg = (f"{source} is a {type(asr_model).__name__}, which this toolkit cannot customize yet "
           f"(supported model families: {supported})")
    raise ModelLoadError(msg)
