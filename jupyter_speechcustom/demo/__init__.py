"""The bundled offline demo: a small English base model and a cloud-operations domain.

Everything here is package data made by :mod:`jupyter_speechcustom.demo.recipe` (the speech and
the domain) and :mod:`jupyter_speechcustom.demo.family_models` (the model):

- ``demo_hybrid.nemo``: the demo base model, ``load_base_model("demo")``: a small FastConformer
  hybrid TDT + CTC model with a 256-piece SentencePiece BPE tokenizer (the family of
  ``nvidia/parakeet-tdt_ctc-110m``), trained on general English sentences spoken by espeak-ng
  and Flite voices with augmentation.
- ``demo.nemo``: the first demo model, a character CTC BiLSTM (~1.5 M parameters) trained on the
  same sentences spoken by espeak-ng voices; ``load_base_model("demo-char")``.
- ``general/train_text.txt``: the base models' training text (their known vocabulary).
- ``general/test``: held-out sentences by a voice never heard in training.
- ``general/mix``: general speech to mix into fine-tuning against forgetting.
- ``domain/corpus.txt`` and ``domain/custom_words.csv``: text for a custom language model.
- ``domain/train``: untranscribed domain audio (for lightly supervised training); its
  true transcripts are kept apart in ``reference_transcripts.json``.
- ``domain/dev`` and ``domain/test``: domain audio with reference transcripts.

:data:`PROFILE` tells the toolkit all of this; it is registered through the package's
``jupyter_speechcustom.profiles`` entry point, so nothing outside this package imports it.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from jupyter_speechcustom.asr.profiles import ModelProfile
from jupyter_speechcustom.constants import DEMO_MODEL_NAME

#: The name the demo's character CTC model is loaded by.
CHAR_MODEL_NAME = "demo-char"

DATA_DIR = Path(__file__).parent / "data"

#: Audio splits by name, each a folder with a NeMo ``manifest.json``.
SPLITS = ("general/test", "general/mix", "domain/train", "domain/dev", "domain/test")


def data_path(*parts: str) -> Path:
    """Path of a file in the demo data, e.g. ``data_path("domain", "corpus.txt")``."""
    return DATA_DIR.joinpath(*parts)


def manifest(split: str) -> Path:
    """The NeMo manifest of an audio split (``"domain/test"``, ``"general/test"``, ...).

    Audio paths inside are relative to the manifest's folder, which NeMo and this
    toolkit both resolve.
    """
    if split not in SPLITS:
        msg = f"unknown demo split {split!r}; expected one of {', '.join(SPLITS)}"
        raise ValueError(msg)
    return DATA_DIR / split / "manifest.json"


def corpus_path() -> Path:
    """The demo domain's text corpus (one sentence a line)."""
    return data_path("domain", "corpus.txt")


def custom_words_path() -> Path:
    """The demo domain's custom words (CSV: word, sounds_like, display_as)."""
    return data_path("domain", "custom_words.csv")


def general_text_path() -> Path:
    """The demo base model's training text."""
    return data_path("general", "train_text.txt")


def model_path() -> Path:
    """The demo base model's ``.nemo`` file (hybrid TDT + CTC FastConformer, BPE)."""
    return data_path("demo_hybrid.nemo")


def char_model_path() -> Path:
    """The demo's character CTC model's ``.nemo`` file."""
    return data_path("demo.nemo")


#: The demo's profile: its model, general text and speech, and the example domain data.
PROFILE = ModelProfile(
    name=DEMO_MODEL_NAME,
    model_path=model_path(),
    description="the bundled offline demo (FastConformer hybrid TDT + CTC, English BPE, cloud-operations domain)",
    general_text=general_text_path(),
    general_speech=manifest("general/mix"),
    general_test=manifest("general/test"),
    example_corpus=corpus_path(),
    example_words=custom_words_path(),
    example_sets={split: manifest(split) for split in ("domain/train", "domain/dev", "domain/test", "general/test")},
    train_set="domain/train",
    dev_set="domain/dev",
    test_sets=("domain/test", "domain/dev", "general/test"),
)

#: The same demo data on the character CTC model.
CHAR_PROFILE = replace(
    PROFILE,
    name=CHAR_MODEL_NAME,
    model_path=char_model_path(),
    description="the demo's character CTC model (English characters, cloud-operations domain)",
)
