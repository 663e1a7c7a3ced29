"""Base-model profiles: what the toolkit knows about a base model beyond its weights.

A profile names a base model and, where they exist, the data that goes with it: the text it
was trained on (its known words, and general text to mix into a custom LM), transcribed
general speech (mixed into fine-tuning against forgetting, and the forgetting guard's test
set), and example data a user can start from. The bundled demo registers one; so can a user,
for their own model::

    register_profile(ModelProfile("clinic", model_path=Path("clinic.nemo"),
                                  general_text=Path("notes.txt"), general_test=Path("general.json")))

Packages register profiles through the ``jupyter_speechcustom.profiles`` entry-point group
(each entry point names a :class:`ModelProfile`); they are read on first lookup.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path

from jupyter_speechcustom.errors import SpeechCustomError

__all__ = ["PROFILE_ENTRY_POINTS", "ModelProfile", "get_profile", "profiles", "register_profile"]

log = logging.getLogger(__name__)

#: Entry-point group through which packages register profiles.
PROFILE_ENTRY_POINTS = "jupyter_speechcustom.profiles"


@dataclass(frozen=True)
class ModelProfile:
    """Data that belongs to a base model.

    Attributes:
        name: the name ``load_base_model`` accepts for it (and custom models record).
        model_path: the ``.nemo`` file to load for ``name``; None for a pretrained name
            that NeMo fetches itself.
        description: one line for menus.
        general_text: text like the model's training text: its known words (OOV reports)
            and general text to mix into custom LMs (``general_text="base"``).
        general_speech: a transcribed NeMo manifest of general speech, mixed into
            fine-tuning against forgetting (``general="auto"``).
        general_test: a transcribed NeMo manifest of general speech for the forgetting
            guard (``general_test="auto"``).
        example_corpus: an example domain corpus.
        example_words: an example custom-words file.
        example_sets: named NeMo manifests of example audio (``"domain/test"`` → path).
        train_set: the name in ``example_sets`` of untranscribed domain audio to train on.
        dev_set: the name in ``example_sets`` of a transcribed development set.
        test_sets: names in ``example_sets`` of transcribed sets to compare systems on.
    """

    name: str
    model_path: Path | None = None
    description: str = ""
    general_text: Path | None = None
    general_speech: Path | None = None
    general_test: Path | None = None
    example_corpus: Path | None = None
    example_words: Path | None = None
    example_sets: Mapping[str, Path] = field(default_factory=dict)
    train_set: str | None = None
    dev_set: str | None = None
    test_sets: tuple[str, ...] = ()

    def example_set(self, name: str) -> Path:
        """The manifest of example set ``name``."""
        try:
            return self.example_sets[name]
        except KeyError:
            known = ", ".join(self.example_sets) or "none"
            msg = f"the {self.name!r} profile has no example set {name!r}; it has: {known}"
            raise SpeechCustomError(msg) from None


_LOCK = threading.Lock()
_PROFILES: dict[str, ModelProfile] = {}
_LOADED_ENTRY_POINTS = False


def register_profile(profile: ModelProfile, *, replace: bool = False) -> None:
    """Make ``profile`` known by its name; ``replace=True`` to redefine an existing name."""
    with _LOCK:
        if not replace and profile.name in _PROFILES and _PROFILES[profile.name] != profile:
            msg = f"a profile named {profile.name!r} is already registered: pass replace=True to redefine it"
            raise SpeechCustomError(msg)
        _PROFILES[profile.name] = profile


def _load_entry_points() -> None:
    global _LOADED_ENTRY_POINTS
    with _LOCK:
        if _LOADED_ENTRY_POINTS:
            return
        _LOADED_ENTRY_POINTS = True
        found = list(entry_points(group=PROFILE_ENTRY_POINTS))
    for ep in found:
        try:
            profile = ep.load()
        except Exception as exc:  # noqa: BLE001 - one broken plugin must not break every model
            log.warning("cannot load model profile %r from %s: %s", ep.name, ep.value, exc)
            continue
        if not isinstance(profile, ModelProfile):
            log.warning("entry point %r (%s) is not a ModelProfile; ignored", ep.name, ep.value)
            continue
        with _LOCK:
            _PROFILES.setdefault(profile.name, profile)


def get_profile(name: str | None) -> ModelProfile | None:
    """The profile registered under ``name``, or None."""
    if not name:
        return None
    _load_entry_points()
    return _PROFILES.get(name)


def profiles() -> list[ModelProfile]:
    """Every registered profile, by name."""
    _load_entry_points()
    return [_PROFILES[name] for name in sorted(_PROFILES)]
