"""Reading a result's fields: the renderers take result objects (dataclasses) or their dict form."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def field_of(obj: Any, name: str, default: Any = None) -> Any:
    """A field of a dataclass or a key of a mapping: renderers take either."""
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)
