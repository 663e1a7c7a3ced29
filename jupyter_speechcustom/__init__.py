"""Customize NeMo speech recognition in JupyterLab, offline.

Custom language models (KenLM), custom words and phrase boosting, supervised, lightly
supervised and unsupervised acoustic fine-tuning, and side-by-side evaluation.

Heavy libraries (NeMo, torch) load on first use, so importing this package is fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from jupyter_speechcustom.constants import VERSION as __version__  # noqa: F401 - the package version
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

# Public name -> module that defines it; resolved on first access.
_LAZY = {
    "BaseModel": "asr.models",
    "load_base_model": "asr.models",
    "load_audio": "io.audio",
    "read_manifest": "io.manifest",
    "write_manifest": "io.manifest",
    "Utterance": "io.manifest",
    "read_utterances": "io.manifest",
    "write_utterances": "io.manifest",
    "evaluate": "evaluation.metrics",
    "term_hit_rates": "evaluation.metrics",
    "Evaluation": "evaluation.metrics",
    "transcribe": "asr.recognize",
    "acoustic_outputs": "asr.recognize",
    "Transcript": "asr.recognize",
    "Recognizer": "services.recognition",
    "build_language_model": "lm.language_model",
    "CustomLanguageModel": "lm.language_model",
    "Decoder": "asr.decoding",
    "DecodingWeights": "asr.decoding",
    "tune": "asr.decoding",
    "train_acoustic_model": "am.acoustic_model",
    "pseudo_label": "am.acoustic_model",
    "Corpus": "text.corpus",
    "CustomWord": "text.words",
    "read_custom_words": "text.words",
    "Workspace": "services.workspace",
    "Job": "jobs.runner",
    "export_bundle": "store.bundle",
    "import_bundle": "store.bundle",
    "find_builder": "lm.builders",
    "install_kenlm_builders": "lm.builders",
}

if TYPE_CHECKING:
    from jupyter_speechcustom.am.acoustic_model import pseudo_label, train_acoustic_model
    from jupyter_speechcustom.asr.decoding import Decoder, DecodingWeights, tune
    from jupyter_speechcustom.asr.models import BaseModel, load_base_model
    from jupyter_speechcustom.asr.recognize import Transcript, acoustic_outputs, transcribe
    from jupyter_speechcustom.evaluation.metrics import Evaluation, evaluate, term_hit_rates
    from jupyter_speechcustom.io.audio import load_audio
    from jupyter_speechcustom.io.manifest import (
        Utterance,
        read_manifest,
        read_utterances,
        write_manifest,
        write_utterances,
    )
    from jupyter_speechcustom.jobs.runner import Job
    from jupyter_speechcustom.lm.builders import find_builder, install_kenlm_builders
    from jupyter_speechcustom.lm.language_model import CustomLanguageModel, build_language_model
    from jupyter_speechcustom.services.recognition import Recognizer
    from jupyter_speechcustom.services.workspace import Workspace
    from jupyter_speechcustom.store.bundle import export_bundle, import_bundle
    from jupyter_speechcustom.text.corpus import Corpus
    from jupyter_speechcustom.text.words import CustomWord, read_custom_words


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'jupyter_speechcustom' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"jupyter_speechcustom.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    """The Jupyter server extension (the IBM Watson STT v1-compatible API): see ``jupyter_speechcustom.server``."""
    from jupyter_speechcustom.server import _jupyter_server_extension_points as points

    return points()


__all__ = [
    "AudioError",
    "BaseModel",
    "BaseModelMismatchError",
    "BuildersInstallError",
    "BuildersMissingError",
    "Corpus",
    "CorpusError",
    "CustomLanguageModel",
    "CustomWord",
    "Decoder",
    "DecodingWeights",
    "Evaluation",
    "Job",
    "ModelLoadError",
    "ModelNotFoundError",
    "Recognizer",
    "SpeechCustomError",
    "Transcript",
    "Utterance",
    "Workspace",
    "acoustic_outputs",
    "build_language_model",
    "evaluate",
    "export_bundle",
    "find_builder",
    "import_bundle",
    "install_kenlm_builders",
    "load_audio",
    "load_base_model",
    "pseudo_label",
    "read_custom_words",
    "read_manifest",
    "read_utterances",
    "term_hit_rates",
    "train_acoustic_model",
    "transcribe",
    "tune",
    "write_manifest",
    "write_utterances",
]
