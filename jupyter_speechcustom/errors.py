"""Exception types, and the check of list arguments shared by the public API.

Each message says what is wrong and what to do about it.
"""

from __future__ import annotations

import os


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


class NotAListError(SpeechCustomError, TypeError):
    """One string, bytes or path given where a list of them is expected."""


def check_list(value: object, name: str, items: str, *, fix: str = "pass [{}]") -> None:
    """Refuse a single ``str``, ``bytes`` or path as ``name``, which must be a list of ``items``.

    Python iterates a string by character, so ``transcribe("a.wav")`` would look for the files
    ``a``, ``.``, ``w``...; this says what was passed instead. ``fix`` says what to do, ``{}``
    standing for the value as the caller would write it.
    """
    if isinstance(value, str):
        shown = repr(value if len(value) <= 60 else value[:57] + "...")
        got = f"the string {shown}"
    elif isinstance(value, (bytes, bytearray)):
        shown = "data"
        got = f"{len(value)} bytes (one value, not a list)"
    elif isinstance(value, os.PathLike):
        path = os.fspath(value)
        shown = f"Path({os.fsdecode(path)!r})"
        got = f"the path {os.fsdecode(path)!r}"
    else:
        return
    raise NotAListError(f"{name} must be a list of {items}, got {got}: {fix.format(shown)}")
