"""The out-of-vocabulary words of a workspace's corpora and word lists against a base model's known
words, cached per record version."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from jupyter_speechcustom.constants import DEMO_MODEL_NAME
from jupyter_speechcustom.errors import SpeechCustomError
from jupyter_speechcustom.store.workspace import Record, StoreAPI

if TYPE_CHECKING:
    from jupyter_speechcustom.asr.models import BaseModel


def known_words_of(base: BaseModel | str | Path = DEMO_MODEL_NAME) -> frozenset[str]:
    """The words base model ``base`` knows (a loaded model, or its name or path, not loaded for
    this): its profile's general text, else common English, as
    :func:`~jupyter_speechcustom.asr.models.known_words_for` gives them."""
    from jupyter_speechcustom.asr.models import BaseModel, known_words_for
    from jupyter_speechcustom.asr.profiles import get_profile
    from jupyter_speechcustom.text.corpus import known_words

    if isinstance(base, BaseModel):
        return known_words_for(base)
    profile = get_profile(str(base))
    if profile is not None and profile.general_text is not None:
        return known_words(profile.general_text)
    return known_words()


_OOV_CACHE: dict[tuple[str, str, str, int], list[tuple[str, int]]] = {}


def oov_of(ws: StoreAPI, rec: Record, known: frozenset[str] | None = None) -> list[tuple[str, int]] | None:
    """The out-of-vocabulary words of a corpus or word list (None for other kinds): its words that
    base model's known words (``known``, default: :func:`known_words_of` the demo) do not hold,
    with their counts, most frequent first (:func:`~jupyter_speechcustom.text.corpus.oov_words`,
    the one notion of OOV of the Data and Language model tabs too); None too for a file that
    cannot be read now."""
    from jupyter_speechcustom.text.words import word_list_oov

    if rec.kind not in ("corpus", "words"):
        return None
    known = known_words_of() if known is None else known
    key = (rec.id, rec.kind, rec.updated, id(known))
    if key not in _OOV_CACHE:
        if len(_OOV_CACHE) > 256:
            _OOV_CACHE.clear()
        try:
            oov = (ws.corpus(rec.id).oov(known) if rec.kind == "corpus"
                   else word_list_oov(ws.custom_words(rec.id), known))
        except (SpeechCustomError, OSError):
            return None  # a file unreadable now: the listing still shows the item, without the count
        _OOV_CACHE[key] = oov
    return list(_OOV_CACHE[key])

