"""A recognition system: a base model with any combination of custom LM, custom AM and custom words."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from jupyter_speechcustom.asr.decoding import Decoder
from jupyter_speechcustom.asr.models import BaseModel, load_base_model
from jupyter_speechcustom.asr.recognize import AcousticOutput, Transcript, acoustic_outputs
from jupyter_speechcustom.constants import SPEECH_DETECTION
from jupyter_speechcustom.errors import BaseModelMismatchError, check_list
from jupyter_speechcustom.io.audio import AudioSource
from jupyter_speechcustom.lm.language_model import CustomLanguageModel

__all__ = ["Recognizer"]


class Recognizer:
    """A recognition system: a base model, optionally a custom AM, a custom LM and custom words.

    The acoustic part is the custom acoustic model when given (it must be fine-tuned from
    ``base``), else the base model; the custom LM must be built on the same base.

    Args:
        base: the base model, or its name or path (see :func:`load_base_model`).
        lm: a :class:`CustomLanguageModel` or its folder.
        am: a custom acoustic model (a loaded :class:`BaseModel` or its ``.nemo`` path).
        words: custom words; by default the custom LM's.
        weights: customization weights (see :class:`DecodingWeights`).
        speech_detection: detect speech first: audio without any gets an empty transcript and a
            note instead of words the LM makes up, and long audio is cut between utterances, its
            long pauses skipped (False: decode all audio as it is).
    """

    def __init__(self, base: Any, lm: Any = None, am: Any = None, *, words: Any = None, weights: Any = None,
                 speech_detection: bool = SPEECH_DETECTION) -> None:
        self.base = base if isinstance(base, BaseModel) else load_base_model(base)
        if lm is not None and not isinstance(lm, CustomLanguageModel):
            lm = CustomLanguageModel.load(lm)
        if am is not None and not isinstance(am, BaseModel):
            am = load_base_model(am)
        if am is not None and am.family_fingerprint != self.base.fingerprint:
            tied = am.tied_base or {"name": am.name, "fingerprint": am.fingerprint}
            msg = (
                f"the custom acoustic model {am.path} was fine-tuned from {tied['name']!r} "
                f"(fingerprint {tied['fingerprint']}), not from base model {self.base.name!r} "
                f"(fingerprint {self.base.fingerprint}): use the base model it was trained on"
            )
            raise BaseModelMismatchError(msg)
        self.am = am
        self.lm = lm
        self.speech_detection = speech_detection
        self.decoder = Decoder(self.acoustic_model, lm, words=words, weights=weights)

    @property
    def acoustic_model(self) -> BaseModel:
        return self.am if self.am is not None else self.base

    @property
    def name(self) -> str:
        parts = ["base"]
        if self.lm is not None:
            parts.append("custom LM")
        if self.am is not None:
            parts.append("custom AM")
        return " + ".join(parts)

    def acoustic_outputs(self, sources: Sequence[AudioSource], **kwargs: Any) -> list[AcousticOutput]:
        check_list(sources, "sources", "audio files")
        kwargs.setdefault("speech_detection", self.speech_detection)
        return acoustic_outputs(self.acoustic_model, sources, **kwargs)

    def transcribe(self, sources: Sequence[AudioSource], weights: Any = None, *, alternatives: int = 1,
                   **kwargs: Any) -> list[Transcript]:
        """Transcripts with word timings, confidences and display forms (and up to
        ``alternatives - 1`` next-best transcripts each); ``kwargs`` go to :func:`acoustic_outputs`."""
        return self.decoder.decode(self.acoustic_outputs(sources, **kwargs), weights, alternatives=alternatives)
