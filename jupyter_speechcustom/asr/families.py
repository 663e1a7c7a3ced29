"""Model families: what differs between kinds of NeMo ASR model, behind one interface.

Everything the toolkit does with a base model's internals goes through its family
(:class:`~jupyter_speechcustom.asr.family_base.ModelFamily`): the output vocabulary and tokenizer,
the acoustic pass (``encode``) and the frames cached from it, what a head reads of encoder frames
(``project``), greedy decoding, beam search with n-gram LM fusion and phrase boosting, word timings
with confidences, and fine-tuning (``training_problem``, ``prepare_training``). The rest of the
toolkit (decoders, LM building, training, streaming, the services) asks the family and never reads
a model's CTC or transducer attributes itself, nor asks which family it is.

Built in: :class:`CTCFamily` (:mod:`~jupyter_speechcustom.asr.family_ctc`; character and BPE CTC
models), :class:`TransducerFamily` and :class:`HybridFamily`
(:mod:`~jupyter_speechcustom.asr.family_transducer`; RNNT and TDT transducers, hybrid transducer +
CTC models). A family is chosen by :func:`family_of`; :func:`register_family` adds one (tried
before those registered earlier).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jupyter_speechcustom.asr.family_base import DECODE_BATCH, HEADS, ModelFamily
from jupyter_speechcustom.asr.family_ctc import CTCFamily
from jupyter_speechcustom.asr.family_transducer import TRANSDUCER_FUSION_PRUNING, HybridFamily, TransducerFamily
from jupyter_speechcustom.errors import ModelLoadError

if TYPE_CHECKING:
    from nemo.collections.asr.models import ASRModel

__all__ = [
    "DECODE_BATCH",
    "HEADS",
    "TRANSDUCER_FUSION_PRUNING",
    "CTCFamily",
    "HybridFamily",
    "ModelFamily",
    "TransducerFamily",
    "family_of",
    "known_heads",
    "register_family",
    "unregister_family",
]

_FAMILIES: list[type[ModelFamily]] = [CTCFamily, HybridFamily, TransducerFamily]


def register_family(family: type[ModelFamily]) -> None:
    """Add a family; it is tried before those registered earlier."""
    if family not in _FAMILIES:
        _FAMILIES.insert(0, family)


def unregister_family(family: type[ModelFamily]) -> None:
    """Take back a family :func:`register_family` added (a built-in one too)."""
    if family in _FAMILIES:
        _FAMILIES.remove(family)


def known_heads() -> tuple[str, ...]:
    """The heads of every registered family (the built-in ``transducer`` and ``ctc`` first): the names a
    decoding weight's ``head`` may take. Whether a model has the head is its family's to say."""
    heads = dict.fromkeys(HEADS)
    for family in reversed(_FAMILIES):
        heads.update(dict.fromkeys(family.heads))
    return tuple(heads)


def family_of(asr_model: ASRModel, source: object = "the model", head: str | None = None) -> ModelFamily:
    """The family that handles ``asr_model``; :class:`ModelLoadError` if none does. ``head``, when
    given, must be one of the model's heads (an :class:`~jupyter_speechcustom.errors.InvalidOptionError`
    says so): the family itself holds no head, each decoding call takes one."""
    for family in _FAMILIES:
        if family.matches(asr_model):
            found = family()
            found.decoding_head(head, source)
            return found
    supported = ", ".join(f.name for f in _FAMILIES)
    msg = (f"{source} is a {type(asr_model).__name__}, which this toolkit cannot customize yet "
           f"(supported model families: {supported})")
    raise ModelLoadError(msg)
