"""Exception types. Each message says what is wrong and what to do about it."""

from __future__ import annotations


class SpeechCustomError(Exception):
    """Base class of every error this toolkit raises on purpose."""


class BuildersMissingError(SpeechCustomError, FileNotFoundError):
    """The KenLM builders (``lmplz``, ``build_binary``) are not installed."""


class BuildersInstallError(SpeechCustomError, RuntimeError):
    """Compiling the KenLM builders failed."""


class ModelNotFoundError(SpeechCustomError, LookupError):
    """A base model name or path that cannot be resolved."""


class ModelLoadError(SpeechCustomError, ValueError):
    """A model file that exists but cannot be loaded (corrupt or not a NeMo model)."""


class BaseModelMismatchError(SpeechCustomError, ValueError):
    """A custom model used with a base model other than the one it was built on."""


class AudioError(SpeechCustomError, ValueError):
    """Audio that cannot be decoded or used."""


class CorpusError(SpeechCustomError, ValueError):
    """Text that cannot be used as a corpus or word list."""


class InvalidOptionError(SpeechCustomError, ValueError):
    """An option outside its allowed range (a negative beam size, a NaN weight, ``order=1``)."""


class OutputError(SpeechCustomError, OSError):
    """An output path this toolkit refuses to write (not a regular file) or cannot write."""
