"""Recognition systems: the base model, with a custom LM, with a custom AM, or with both.

A system is a value, :class:`System`, with a name the user reads (``base``, ``+LM``, ``+AM``,
``+AM+LM``: the names Compare, Explore, saved results and the chain use) and what it needs. Code
asks a system what it uses (``system.lm``, ``system.am``) instead of looking for letters in its name.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from jupyter_speechcustom.errors import InvalidOptionError

__all__ = ["SYSTEMS", "System"]


@dataclass(frozen=True)
class System:
    """A recognition system: the base model's acoustic model or a custom one, with or without a custom LM."""

    lm: bool = False
    am: bool = False

    @property
    def name(self) -> str:
        """``base``, ``+LM``, ``+AM`` or ``+AM+LM``."""
        return "+AM+LM" if self.am and self.lm else "+AM" if self.am else "+LM" if self.lm else "base"

    @property
    def acoustic(self) -> str:
        """Whose acoustic outputs it decodes: ``"am"`` (the custom acoustic model) or ``"base"``."""
        return "am" if self.am else "base"

    def __str__(self) -> str:
        return self.name

    @classmethod
    def parse(cls, name: str | System) -> System:
        """The system named ``name`` (one of :data:`SYSTEMS`' names); an unknown name says which there are."""
        if isinstance(name, System):
            return name
        for system in SYSTEMS:
            if system.name == name:
                return system
        raise InvalidOptionError(f"unknown system {name!r}: choose from {', '.join(s.name for s in SYSTEMS)}")

    @classmethod
    def all(cls, names: Iterable[str | System]) -> list[System]:
        """The systems named ``names``, in order (see :meth:`parse`)."""
        return [cls.parse(n) for n in names]


#: Every system, in the order reports show them.
SYSTEMS = (System(), System(lm=True), System(am=True), System(lm=True, am=True))
