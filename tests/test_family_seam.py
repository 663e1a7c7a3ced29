"""The family seam: a family defined here alone, registered with ``register_family``, runs recognition
and decoding through the toolkit's normal code path (acoustic pass, greedy decoding, beam search with
boosting, n-best, word timings, the services' recognizer) without the toolkit knowing its model's class.

The model is a character CTC model behind an interface of its own (:class:`WrappedModel`), which no
built-in family matches; :class:`WrappedFamily` reaches the CTC model inside it and counts its calls.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

import numpy as np
import pytest

from jupyter_speechcustom import demo
from jupyter_speechcustom.asr.decoding import Decoder, DecodingWeights
from jupyter_speechcustom.asr.families import CTCFamily, ModelFamily, family_of, register_family, unregister_family
from jupyter_speechcustom.asr.models import BaseModel
from jupyter_speechcustom.asr.recognize import acoustic_outputs, greedy_decode
from jupyter_speechcustom.errors import InvalidOptionError, ModelLoadError
from jupyter_speechcustom.io.manifest import read_manifest

pytestmark = pytest.mark.slow


class WrappedModel:
    """A model of a kind no built-in family knows: a NeMo CTC model kept inside, not subclassed."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.cfg = inner.cfg  # sample rate, preprocessor and encoder settings, as NeMo's models have them

    def eval(self) -> WrappedModel:
        self.inner.eval()
        return self


class WrappedFamily(ModelFamily):
    """The family of :class:`WrappedModel`: the CTC machinery, reached through the wrapper."""

    name = "wrapped"
    calls: ClassVar[Counter[str]] = Counter()
    _ctc = CTCFamily()

    @classmethod
    def matches(cls, asr_model: Any) -> bool:
        return isinstance(asr_model, WrappedModel)

    def _count(self, what: str) -> CTCFamily:
        self.calls[what] += 1
        return self._ctc

    def vocabulary(self, asr_model: Any) -> list[str]:
        return self._ctc.vocabulary(asr_model.inner)

    def encode(self, asr_model: Any, batch: Any, lengths: Any) -> list[np.ndarray]:
        return self._count("encode").encode(asr_model.inner, batch, lengths)

    def project(self, asr_model: Any, encoded: np.ndarray, head: str | None = None) -> np.ndarray:
        return self._count("project").project(asr_model.inner, encoded, self.decoding_head(head))

    def log_probs(self, asr_model: Any, frames: np.ndarray, head: str | None = None) -> np.ndarray | None:
        return self._ctc.log_probs(asr_model.inner, frames, self.decoding_head(head))

    def greedy_ids(self, asr_model: Any, frames: Sequence[np.ndarray], head: str | None = None) -> list[list[int]]:
        return self._count("greedy_ids").greedy_ids(asr_model.inner, frames, self.decoding_head(head))

    def beam_nbest(self, asr_model: Any, frames: Sequence[np.ndarray], *, n: int, beam_size: int,
                   fusion_models: Sequence[Any], fusion_alphas: Sequence[float], beta: float,
                   head: str | None = None) -> list[list[tuple[list[int], float]]]:
        return self._count("beam_nbest").beam_nbest(
            asr_model.inner, frames, n=n, beam_size=beam_size, fusion_models=fusion_models,
            fusion_alphas=fusion_alphas, beta=beta, head=self.decoding_head(head))

    def word_timings(self, asr_model: Any, frames: np.ndarray, frame_shift: float, words: Sequence[str],
                     token_ids: Sequence[Sequence[int]]) -> list[dict[str, Any]]:
        return self._count("word_timings").word_timings(asr_model.inner, frames, frame_shift, words, token_ids)

    def dataset_config(self, asr_model: Any) -> dict[str, Any]:
        return self._ctc.dataset_config(asr_model.inner)


@pytest.fixture
def wrapped_family() -> Iterator[type[WrappedFamily]]:
    register_family(WrappedFamily)
    WrappedFamily.calls.clear()
    try:
        yield WrappedFamily
    finally:
        unregister_family(WrappedFamily)


@pytest.fixture(scope="module")
def audio() -> list[str]:
    return [e["audio_filepath"] for e in read_manifest(demo.manifest("domain/test"))[:3]]


def _wrapped(model: BaseModel) -> BaseModel:
    return BaseModel(name="wrapped", path=model.path, fingerprint=model.fingerprint,
                     asr_model=WrappedModel(model.asr_model))


def test_a_family_registered_from_outside_recognizes_and_decodes_through_the_normal_path(
        wrapped_family, other_model, audio):
    from jupyter_speechcustom.services.recognition import Recognizer

    base = _wrapped(other_model)
    assert type(base.family) is WrappedFamily and base.vocabulary == other_model.vocabulary
    assert base.frame_shift == other_model.frame_shift and base.is_character_model

    outputs = acoustic_outputs(base, audio)
    theirs = acoustic_outputs(other_model, audio)
    assert wrapped_family.calls["encode"] >= 1
    assert all(np.array_equal(a.frames, b.frames) for a, b in zip(outputs, theirs, strict=True))
    assert greedy_decode(base, outputs) == greedy_decode(other_model, theirs)
    assert wrapped_family.calls["greedy_ids"] >= 1

    # Beam search with phrase boosting, n-best alternatives and word timings: the family's own calls.
    weights = DecodingWeights(boost_alpha=1.0, beam_size=4)
    phrases = ["kubernetes", "latency"]
    mine = Decoder(base, boost_phrases=phrases).decode(outputs, weights, alternatives=2)
    expected = Decoder(other_model, boost_phrases=phrases).decode(theirs, weights, alternatives=2)
    assert [(t.text, t.alternatives, t.words) for t in mine] == [(t.text, t.alternatives, t.words) for t in expected]
    assert wrapped_family.calls["beam_nbest"] >= 2 and wrapped_family.calls["word_timings"] >= 1

    # The services' recognizer takes the model as it is.
    recognized = Recognizer(base, speech_detection=False).transcribe(audio[:1])
    assert recognized[0].text == Recognizer(other_model, speech_detection=False).transcribe(audio[:1])[0].text

    # What a head reads of encoder frames goes through the family too (here: the CTC decoder's log-probs).
    encoded = np.zeros((5, int(other_model.asr_model.decoder._feat_in)), np.float32)
    projected = base.family.project(base.asr_model, encoded)
    assert projected.shape == (5, base.blank_id + 1) and wrapped_family.calls["project"] == 1

    # The family has one head: asking for another is refused where decoding happens.
    with pytest.raises(InvalidOptionError, match="hybrid models only"):
        greedy_decode(base, outputs, head="ctc")


def test_a_family_is_found_only_while_registered(other_model):
    wrapped = WrappedModel(other_model.asr_model)
    with pytest.raises(ModelLoadError, match="cannot customize"):
        family_of(wrapped)
    register_family(WrappedFamily)
    try:
        assert type(family_of(wrapped)) is WrappedFamily
        assert type(family_of(other_model.asr_model)) is CTCFamily  # the built-in families still answer theirs
    finally:
        unregister_family(WrappedFamily)
    with pytest.raises(ModelLoadError):
        family_of(wrapped)


def test_a_registered_family_brings_its_own_head_names():
    """Decoding weights take the heads of every registered family: a family with heads of its own needs
    no change elsewhere, and the names are refused again once it is taken back."""
    from jupyter_speechcustom.asr.families import known_heads

    class TwoHeaded(WrappedFamily):
        name = "two-headed"
        heads = ("attention", "ctc")

        @classmethod
        def matches(cls, asr_model: Any) -> bool:
            return False

    assert known_heads() == ("transducer", "ctc")
    with pytest.raises(InvalidOptionError, match="head must be one of 'transducer', 'ctc'"):
        DecodingWeights(head="attention")
    register_family(TwoHeaded)
    try:
        assert known_heads() == ("transducer", "ctc", "attention")
        assert DecodingWeights(head="attention").head == "attention"
        assert TwoHeaded().decoding_head(None) == "attention"
        with pytest.raises(InvalidOptionError, match="not 'transducer'"):
            TwoHeaded().decoding_head("transducer")
    finally:
        unregister_family(TwoHeaded)
    with pytest.raises(InvalidOptionError, match="head must be one of"):
        DecodingWeights(head="attention")
