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

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from jupyter_speechcustom.asr.threads import torch_threads
from jupyter_speechcustom.errors import InvalidOptionError, ModelLoadError

if TYPE_CHECKING:
    import torch
    from nemo.collections.asr.models import ASRModel

__all__ = ["CTCFamily", "HybridFamily", "ModelFamily", "TransducerFamily", "family_of", "register_family"]

#: Utterances per batch of beam search.
DECODE_BATCH = 16


#: When a transducer's beam search (NeMo's modified ALSD) prunes, with an LM or boosting fused:
#: ``"late"`` ranks the candidates by the fused score, so the LM can bring in a token the acoustic
#: model alone ranks outside the beam; NeMo's default, ``"early"``, keeps the acoustic top-k first.
#: Same cost on a CPU; domain test WER with a custom LM at tuned weights, beam 8 (bench_families):
#: TDT 31.1% -> 27.7%, RNN-T 32.7% -> 30.3%.
TRANSDUCER_FUSION_PRUNING = "late"

#: The heads of a hybrid transducer + CTC model, the default first.
HEADS = ("transducer", "ctc")


class ModelFamily(ABC):
    """The operations a family of models implements.

    Acoustic outputs are what the toolkit caches per utterance, so that decoding with other
    weights never runs the acoustic model again: for CTC, frame log-probabilities of shape
    ``(frames, vocabulary + blank)``.
    """

    #: Short name: ``"ctc"``, ...
    name: str = ""

    #: Whether beam search has a bonus per emitted token (``lm_beta``); a transducer's has none.
    length_bonus: bool = True

    #: The heads a model of this family decodes with (a hybrid's two); empty: only one.
    heads: tuple[str, ...] = ()

    #: Which of :attr:`heads` decodes; None where there is only one.
    head: str | None = None

    def with_head(self, head: str | None) -> ModelFamily:
        """This family decoding with ``head`` (None: as it is)."""
        if head is None:
            return self
        raise InvalidOptionError(f"this {self.name} model has one decoder: head={head!r} applies to hybrid "
                                 "transducer + CTC models only (leave the head unset)")

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

    def frame_shift(self, asr_model: ASRModel) -> float:
        """Seconds per output frame: the feature hop times the encoder's subsampling."""
        cfg = asr_model.cfg
        hop = float(cfg.preprocessor.get("window_stride", 0.01))
        factor = int(cfg.encoder.get("subsampling_factor", 1) or 1)
        return hop * factor

    @abstractmethod
    def acoustic_pass(self, asr_model: ASRModel, batch: torch.Tensor, lengths: torch.Tensor) -> list[np.ndarray]:
        """Run the acoustic model on a padded batch of audio; one cached array per utterance."""

    # ------------------------------------------------------------------ decoding

    @abstractmethod
    def greedy_ids(self, asr_model: ASRModel, outputs: Sequence[np.ndarray]) -> list[list[int]]:
        """Token ids of greedy decoding, per utterance."""

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

    def beam_nbest(
        self,
        asr_model: ASRModel,
        outputs: Sequence[np.ndarray],
        *,
        n: int,
        beam_size: int,
        fusion_models: Sequence[Any],
        fusion_alphas: Sequence[float],
        beta: float,
    ) -> list[list[tuple[list[int], float]]]:
        """Up to ``n`` beam-search hypotheses per utterance, best first, as ``(token ids, score)``.
        A family whose search keeps no n-best list gives its best hypothesis alone (score 0)."""
        best = self.beam_ids(asr_model, outputs, beam_size=beam_size, fusion_models=fusion_models,
                             fusion_alphas=fusion_alphas, beta=beta)
        return [[(ids, 0.0)] for ids in best]

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

    def training_problem(self, asr_model: ASRModel, accelerator: str) -> str | None:
        """Why this model cannot be fine-tuned on ``accelerator`` (what to do instead), or None."""
        return None


class CTCFamily(ModelFamily):
    """NeMo CTC models: a per-frame softmax over tokens and blank; characters or BPE pieces."""

    name = "ctc"

    @classmethod
    def matches(cls, asr_model: ASRModel) -> bool:
        decoder = getattr(asr_model, "decoder", None)
        return decoder is not None and hasattr(decoder, "vocabulary") and not hasattr(asr_model, "joint")

    def vocabulary(self, asr_model: ASRModel) -> list[str]:
        return list(asr_model.decoder.vocabulary)

    def acoustic_pass(self, asr_model: ASRModel, batch: torch.Tensor, lengths: torch.Tensor) -> list[np.ndarray]:
        log_probs, encoded_len, _ = asr_model.forward(input_signal=batch, input_signal_length=lengths)
        return [log_probs[row, : int(encoded_len[row])].numpy().copy() for row in range(len(lengths))]

    def greedy_ids(self, asr_model: ASRModel, outputs: Sequence[np.ndarray]) -> list[list[int]]:
        """The best path: the most likely token per frame, repeats merged, blanks dropped."""
        blank = self.blank_id(asr_model)
        results = []
        for output in outputs:
            best = self.log_probs(asr_model, output).argmax(axis=-1)
            results.append([int(t) for k, t in enumerate(best) if t != blank and (k == 0 or t != best[k - 1])])
        return results

    def log_probs(self, asr_model: ASRModel, output: np.ndarray) -> np.ndarray:
        """Frame log-probabilities ``(frames, vocabulary + blank)`` from a cached output."""
        return output

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
        return _best(self.beam_nbest(asr_model, outputs, n=1, beam_size=beam_size, fusion_models=fusion_models,
                                     fusion_alphas=fusion_alphas, beta=beta))

    def beam_nbest(
        self,
        asr_model: ASRModel,
        outputs: Sequence[np.ndarray],
        *,
        n: int,
        beam_size: int,
        fusion_models: Sequence[Any],
        fusion_alphas: Sequence[float],
        beta: float,
    ) -> list[list[tuple[list[int], float]]]:
        import torch
        from nemo.collections.asr.parts.submodules.ctc_batched_beam_decoding import BatchedBeamCTCComputer

        blank = self.blank_id(asr_model)
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
                batch[row, : lengths[row]] = torch.from_numpy(self.log_probs(asr_model, out))
            return _hypotheses(search(batch, lengths), n, score_norm=False)

        return _search_in_batches(outputs, blank, n, decode)

    def word_timings(
        self, asr_model: ASRModel, output: np.ndarray, frame_shift: float, words: Sequence[str],
        token_ids: Sequence[Sequence[int]],
    ) -> list[dict[str, Any]]:
        """CTC forced alignment (NeMo's Viterbi aligner): a word spans the frames of its tokens;
        its confidence is the mean posterior of those tokens at their aligned frames."""
        import torch
        from nemo.collections.asr.parts.utils.aligner_utils import viterbi_decoding

        output = self.log_probs(asr_model, output)
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


def _pad(outputs: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Cached per-utterance ``(frames, dim)`` arrays as one zero-padded ``(batch, frames, dim)`` tensor."""
    import torch

    lengths = torch.tensor([len(o) for o in outputs])
    batch = torch.zeros(len(outputs), int(lengths.max()), outputs[0].shape[1])
    for row, out in enumerate(outputs):
        batch[row, : len(out)] = torch.from_numpy(out)
    return batch, lengths


class TransducerFamily(ModelFamily):
    """NeMo transducers (``EncDecRNNTBPEModel``): an RNNT or a TDT joint over BPE pieces.

    What is cached per utterance is the encoder output ``(frames, d_model)``; greedy decoding and
    beam search (NeMo's batched modified ALSD, with the same n-gram LM and boosting-tree fusion
    models as CTC) run the prediction and joint networks on it. Transducer beam search has no
    length bonus, so ``lm_beta`` does not apply. Word timings and confidences come from the
    model's own greedy alignment where the transcript is the greedy one.
    """

    name = "transducer"
    length_bonus = False

    @classmethod
    def matches(cls, asr_model: ASRModel) -> bool:
        return hasattr(asr_model, "joint") and not hasattr(asr_model, "ctc_decoder")

    @staticmethod
    def durations(asr_model: ASRModel) -> list[int] | None:
        """A TDT model's durations, or None for a plain RNNT model."""
        cfg = asr_model.cfg
        loss = cfg.get("loss") or {}
        if loss.get("loss_name") != "tdt":
            return None
        durations = (loss.get("tdt_kwargs") or {}).get("durations") or (cfg.get("decoding") or {}).get("durations")
        return [int(d) for d in durations] if durations else None

    def vocabulary(self, asr_model: ASRModel) -> list[str]:
        return list(asr_model.joint.vocabulary)

    def acoustic_pass(self, asr_model: ASRModel, batch: torch.Tensor, lengths: torch.Tensor) -> list[np.ndarray]:
        features, feature_lengths = asr_model.preprocessor(input_signal=batch, length=lengths)
        encoded, encoded_len = asr_model.encoder(audio_signal=features, length=feature_lengths)
        return [encoded[row, :, : int(encoded_len[row])].T.numpy().copy() for row in range(len(lengths))]

    def _greedy_hypotheses(self, asr_model: ASRModel, outputs: Sequence[np.ndarray]) -> list[Any]:
        import torch

        _keep_token_confidence(asr_model)
        batch, lengths = _pad(outputs)
        with torch.inference_mode():
            hyps = asr_model.decoding.rnnt_decoder_predictions_tensor(
                encoder_output=batch.transpose(1, 2), encoded_lengths=lengths, return_hypotheses=True)
        return list(hyps[0] if isinstance(hyps, tuple) else hyps)

    def greedy_ids(self, asr_model: ASRModel, outputs: Sequence[np.ndarray]) -> list[list[int]]:
        blank = self.blank_id(asr_model)
        return [_token_ids(h, blank) for h in self._greedy_hypotheses(asr_model, outputs)]

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
        return _best(self.beam_nbest(asr_model, outputs, n=1, beam_size=beam_size, fusion_models=fusion_models,
                                     fusion_alphas=fusion_alphas, beta=beta))

    def beam_nbest(
        self,
        asr_model: ASRModel,
        outputs: Sequence[np.ndarray],
        *,
        n: int,
        beam_size: int,
        fusion_models: Sequence[Any],
        fusion_alphas: Sequence[float],
        beta: float,
    ) -> list[list[tuple[list[int], float]]]:
        blank = self.blank_id(asr_model)
        search = self.beam_search(asr_model, beam_size=max(beam_size, n), fusion_models=fusion_models,
                                  fusion_alphas=fusion_alphas)

        def decode(group: list[np.ndarray]) -> list[Any]:
            batch, lengths = _pad(group)
            hyps, _ = search(x=batch, out_len=lengths)
            return _hypotheses(hyps, n, score_norm=True)

        return _search_in_batches(outputs, blank, n, decode)

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
        self, asr_model: ASRModel, output: np.ndarray, frame_shift: float, words: Sequence[str],
        token_ids: Sequence[Sequence[int]],
    ) -> list[dict[str, Any]]:
        """From the greedy alignment when the transcript is the greedy one: a word spans the frames
        where the joint emitted its pieces; its confidence is the mean of NeMo's token confidences
        of those pieces. Another transcript (from beam search) gets no timings: None."""
        unknown = [{"word": w, "start": None, "end": None, "confidence": None} for w in words]
        hyp = self._greedy_hypotheses(asr_model, [output])[0]
        blank = self.blank_id(asr_model)
        emitted = _token_ids(hyp, blank)
        stamps = getattr(hyp, "timestamp", None)
        if isinstance(stamps, dict):  # some NeMo versions keep per-token frames under "timestep"
            stamps = stamps.get("timestep")
        frames = [int(f) for f in _as_list(stamps)] if stamps is not None else []
        tokenizer = self.tokenizer(asr_model)
        if not emitted or len(frames) != len(emitted) or tokenizer is None:
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
        for k, (frame, w) in enumerate(zip(frames, word_of_piece)):
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


class HybridFamily(TransducerFamily):
    """Hybrid transducer + CTC models (``EncDecHybridRNNTCTCBPEModel``, Parakeet TDT-CTC).

    Both heads share the encoder, so the cached output is the encoder's and either head decodes
    it. ``head="transducer"`` (the default) decodes with the TDT/RNNT head: it is the model's main
    head, trained with the full loss weight (the CTC head is auxiliary, 0.3 in NeMo's configs) and
    the more accurate of the two without a custom LM. ``head="ctc"`` decodes with the CTC head:
    cheaper, and its beam search has a length bonus (``lm_beta``). Which head gains more from a
    custom LM depends on the model and the domain (on the demo model the CTC head went from 64% to
    14% domain WER, the transducer from 57% to 31%), so :func:`~jupyter_speechcustom.asr.decoding.tune`
    tries both on the dev set and :class:`~jupyter_speechcustom.asr.decoding.DecodingWeights`
    carries the head it chose. Word timings and confidences always come from the CTC head's
    forced alignment of the transcript, whichever head wrote it.
    """

    name = "hybrid"
    heads = HEADS

    def __init__(self, head: str | None = None) -> None:
        head = head or "transducer"
        if head not in HEADS:
            raise ValueError(f"a hybrid model has a 'transducer' and a 'ctc' head, not {head!r}")
        self.head = head
        self.length_bonus = head == "ctc"
        self._ctc = _HybridCTCHead()
        self._other: HybridFamily | None = None

    def with_head(self, head: str | None) -> ModelFamily:
        if head is None or head == self.head:
            return self
        if head not in HEADS:
            raise InvalidOptionError(f"a hybrid model has a 'transducer' and a 'ctc' head, not {head!r}")
        if self._other is None:
            self._other = HybridFamily(head)
            self._other._other = self
        return self._other


    @classmethod
    def matches(cls, asr_model: ASRModel) -> bool:
        return hasattr(asr_model, "joint") and hasattr(asr_model, "ctc_decoder")

    def greedy_ids(self, asr_model: ASRModel, outputs: Sequence[np.ndarray]) -> list[list[int]]:
        if self.head == "ctc":
            return self._ctc.greedy_ids(asr_model, outputs)
        return super().greedy_ids(asr_model, outputs)

    def beam_nbest(self, asr_model: ASRModel, outputs: Sequence[np.ndarray], **kwargs: Any
                   ) -> list[list[tuple[list[int], float]]]:
        if self.head == "ctc":
            return self._ctc.beam_nbest(asr_model, outputs, **kwargs)
        return super().beam_nbest(asr_model, outputs, **kwargs)

    def word_timings(self, asr_model: ASRModel, output: np.ndarray, frame_shift: float, words: Sequence[str],
                     token_ids: Sequence[Sequence[int]]) -> list[dict[str, Any]]:
        return self._ctc.word_timings(asr_model, output, frame_shift, words, token_ids)


class _HybridCTCHead(CTCFamily):
    """The CTC head of a hybrid model, reading the cached encoder output."""

    def vocabulary(self, asr_model: ASRModel) -> list[str]:
        return list(asr_model.joint.vocabulary)

    def log_probs(self, asr_model: ASRModel, output: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            encoded = torch.from_numpy(output).T.unsqueeze(0)  # (1, d_model, frames)
            return asr_model.ctc_decoder(encoder_output=encoded)[0].numpy()


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


def _search_in_batches(
    outputs: Sequence[np.ndarray], blank: int, n: int, decode: Callable[[list[np.ndarray]], list[list[Any]]]
) -> list[list[tuple[list[int], float]]]:
    """Beam search over utterances in batches of similar length (less padding), on one thread:
    ``decode`` turns a batch of cached outputs into each one's NeMo hypotheses, best first;
    returns up to ``n`` per utterance as ``(token ids, score)``, no two with the same ids."""
    import torch

    results: list[list[tuple[list[int], float]]] = [[] for _ in outputs]
    order = sorted(range(len(outputs)), key=lambda i: len(outputs[i]))
    with torch.inference_mode(), torch_threads(1):
        for start in range(0, len(order), DECODE_BATCH):
            idx = order[start : start + DECODE_BATCH]
            for i, hyps in zip(idx, decode([outputs[i] for i in idx])):
                seen: set[tuple[int, ...]] = set()
                for hyp in hyps:
                    ids = _token_ids(hyp, blank)
                    if tuple(ids) not in seen and len(seen) < n:
                        seen.add(tuple(ids))
                        results[i].append((ids, float(hyp.score)))
    return results


def _hypotheses(beams: Any, n: int, *, score_norm: bool) -> list[list[Any]]:
    """Each utterance's hypotheses, best first, from NeMo's batched beam-search result: the best
    alone when ``n`` is 1, else its n-best list."""
    if n == 1:
        return [[hyp] for hyp in beams.to_hyps_list(score_norm=score_norm)]
    return [list(nbest.n_best_hypotheses) for nbest in beams.to_nbest_hyps_list(score_norm=score_norm)]


def _best(alternatives: list[list[tuple[list[int], float]]]) -> list[list[int]]:
    return [alts[0][0] if alts else [] for alts in alternatives]


def _token_ids(hyp: Any, blank: int) -> list[int]:
    """A hypothesis's token ids, without blanks and anything outside the vocabulary."""
    return [int(t) for t in _as_list(hyp.y_sequence) if 0 <= int(t) < blank]


def _as_list(values: Any) -> list[Any]:
    return values.tolist() if hasattr(values, "tolist") else list(values)


_FAMILIES: list[type[ModelFamily]] = [CTCFamily, HybridFamily, TransducerFamily]


def register_family(family: type[ModelFamily]) -> None:
    """Add a family; it is tried before those registered earlier."""
    if family not in _FAMILIES:
        _FAMILIES.insert(0, family)


def family_of(asr_model: ASRModel, source: object = "the model", head: str | None = None) -> ModelFamily:
    """The family that handles ``asr_model`` (``head``: which head of a hybrid decodes);
    :class:`ModelLoadError` if none does."""
    for family in _FAMILIES:
        if family.matches(asr_model):
            if family is HybridFamily:
                return HybridFamily(head)
            if head is not None:
                raise ValueError(f"{source} has one decoder: head={head!r} applies to hybrid models only")
            return family()
    supported = ", ".join(f.name for f in _FAMILIES)
    msg = (f"{source} is a {type(asr_model).__name__}, which this toolkit cannot customize yet "
           f"(supported model families: {supported})")
    raise ModelLoadError(msg)
