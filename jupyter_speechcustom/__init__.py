"""Customize NeMo speech recognition in JupyterLab, offline.

Custom language models (KenLM), custom words and phrase boosting, supervised, lightly
supervised and unsupervised acoustic fine-tuning, and side-by-side evaluation.

Heavy libraries (NeMo, torch) load on first use, so importing this package is fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from jupyter_speechcustom.errors import (
    AudioError,
    BaseModelMismatchError,
    BuildersInstallError,
    BuildersMissingError,
    CorpusError,
    ModelLoadError,
    ModelNotFoundError,
    SpeechCustomError,
)

__version__ = "0.1.0"

# Public name -> module that defines it; resolved on first access.
_LAZY = {
    "BaseModel": "models",
    "load_base_model": "models",
    "load_audio": "audio",
    "read_manifest": "manifest",
    "write_manifest": "manifest",
    "evaluate": "evaluation",
    "term_hit_rates": "evaluation",
    "Evaluation": "evaluation",
    "transcribe": "recognize",
    "acoustic_outputs": "recognize",
    "Transcript": "recognize",
    "Recognizer": "recognize",
    "build_language_model": "language_model",
    "CustomLanguageModel": "language_model",
    "Decoder": "decoding",
    "DecodingWeights": "decoding",
    "tune": "decoding",
    "train_acoustic_model": "acoustic_model",
    "pseudo_label": "acoustic_model",
    "Corpus": "corpus",
    "CustomWord": "words",
    "read_custom_words": "words",
    "Workspace": "workspace",
    "Job": "jobs",
    "export_bundle": "bundle",
    "import_bundle": "bundle",
    "find_builder": "builders",
    "install_kenlm_builders": "builders",
}

if TYPE_CHECKING:
    from jupyter_speechcustom.acoustic_model import pseudo_label, train_acoustic_model
    from jupyter_speechcustom.audio import load_audio
    from jupyter_speechcustom.bundle import export_bundle, import_bundle
    from jupyter_speechcustom.corpus import Corpus
    from jupyter_speechcustom.decoding import Decoder, DecodingWeights, tune
    from jupyter_speechcustom.jobs import Job
    from jupyter_speechcustom.language_model import CustomLanguageModel, build_language_model
    from jupyter_speechcustom.words import CustomWord, read_custom_words
    from jupyter_speechcustom.workspace import Workspace
    from jupyter_speechcustom.builders import find_builder, install_kenlm_builders
    from jupyter_speechcustom.evaluation import Evaluation, evaluate, term_hit_rates
    from jupyter_speechcustom.manifest import read_manifest, write_manifest
    from jupyter_speechcustom.models import BaseModel, load_base_model
    from jupyter_speechcustom.recognize import Recognizer, Transcript, acoustic_outputs, transcribe


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'jupyter_speechcustom' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"jupyter_speechcustom.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


__all__ = [
    "AudioError",
    "BaseModelMismatchError",
    "BuildersInstallError",
    "BuildersMissingError",
    "CorpusError",
    "ModelLoadError",
    "ModelNotFoundError",
    "SpeechCustomError",
    *_LAZY,
]
