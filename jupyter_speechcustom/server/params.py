"""IBM's recognition parameters, one schema for both transports.

The HTTP interface sends them in the query (strings), the WebSocket interface in its start
message (JSON values); both go through :func:`parse_recognition`, so a parameter means the same
and is refused the same way on each. What this service cannot do is refused with a 400 that
says so, never accepted and silently ignored; parameters IBM does not know come back in the
response's ``warnings``, as IBM reports them ("Unknown arguments: ...").
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jupyter_speechcustom.errors import SpeechCustomError

__all__ = ["MAX_ALTERNATIVES", "ParameterError", "RecognitionParameters", "parse_recognition"]

#: Most transcripts one result may hold (IBM's ``max_alternatives``).
MAX_ALTERNATIVES = 10


class ParameterError(SpeechCustomError, ValueError):
    """A recognition parameter with a wrong type or value, or one this service does not support."""


@dataclass(frozen=True)
class RecognitionParameters:
    """IBM's recognition parameters, parsed and checked."""

    model: str | None = None
    lm_customization: str | None = None
    am_customization: str | None = None
    weight: float | None = None
    timestamps: bool = False
    word_confidence: bool = False
    speech_detector_sensitivity: float | None = None
    max_alternatives: int = 1
    # WebSocket only
    content_type: str | None = None
    interim_results: bool = False
    inactivity_timeout: float | None = None
    end_of_phrase_silence_time: float | None = None
    warnings: tuple[str, ...] = field(default=())


# name: (type, low, high, transports); types: str, bool, number, int.
_SUPPORTED: dict[str, tuple[str, float, float, tuple[str, ...]]] = {
    "model": ("str", 0, 0, ("http", "websocket")),
    "language_customization_id": ("str", 0, 0, ("http", "websocket")),
    "customization_id": ("str", 0, 0, ("http", "websocket")),  # IBM's deprecated name of the above
    "acoustic_customization_id": ("str", 0, 0, ("http", "websocket")),
    "customization_weight": ("number", 0.0, 1.0, ("http", "websocket")),
    "timestamps": ("bool", 0, 0, ("http", "websocket")),
    "word_confidence": ("bool", 0, 0, ("http", "websocket")),
    "speech_detector_sensitivity": ("number", 0.0, 1.0, ("http", "websocket")),
    "max_alternatives": ("int", 0, MAX_ALTERNATIVES, ("http", "websocket")),
    "content-type": ("str", 0, 0, ("websocket",)),
    "content_type": ("str", 0, 0, ("websocket",)),
    "interim_results": ("bool", 0, 0, ("websocket",)),
    "inactivity_timeout": ("number", -1, 10_000, ("websocket",)),
    "end_of_phrase_silence_time": ("number", 0.0, 120.0, ("websocket",)),
}
#: IBM parameters this service does not implement, with the value that asks for nothing (accepted).
_UNSUPPORTED: dict[str, Any] = {
    "speaker_labels": False,
    "keywords": (),
    "keywords_threshold": None,
    "word_alternatives_threshold": None,
    "grammar_name": "",
    "redaction": False,
    "audio_metrics": False,
    "processing_metrics": False,
    "processing_metrics_interval": None,
    "smart_formatting": False,
    "smart_formatting_version": None,
    "split_transcript_at_phrase_end": False,
    "profanity_filter": False,
    "background_audio_suppression": 0.0,
    "low_latency": False,
    "character_insertion_bias": 0.0,
    "base_model_version": None,
}
#: Parameters that are IBM's but belong to the other transport here, with what to do instead.
_OTHER_TRANSPORT = {
    "http": "send it in the WebSocket interface's start message, or leave it out",
    "websocket": "leave it out of the start message",
}


def _bool(name: str, value: Any, text: bool) -> bool:
    if text and isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if not text and isinstance(value, bool):
        return value
    raise ParameterError(f"{name} must be true or false, got {str(value)[:40]!r}")


def _number(name: str, value: Any, low: float, high: float, text: bool, whole: bool) -> float:
    number: Any = value
    if text and isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            number = None
    if isinstance(number, bool) or not isinstance(number, (int, float)) or not math.isfinite(number) \
            or not low <= number <= high or (whole and number != int(number)):
        kind = "a whole number" if whole else "a number"
        raise ParameterError(f"{name} must be {kind} from {low:g} to {high:g}, got {str(value)[:40]!r}")
    return float(number)


def _asks_for_something(value: Any, default: Any, text: bool) -> bool:
    if value is None:
        return False
    if text and isinstance(value, str):
        lowered = value.strip().lower()
        if isinstance(default, bool):
            return lowered != str(default).lower()
        if isinstance(default, float):
            try:
                return float(lowered) != default
            except ValueError:
                return True
        return lowered != ""
    if isinstance(default, (tuple, str)):
        return bool(value)
    return bool(value != default)


def parse_recognition(raw: Mapping[str, Any], transport: str, *, also: frozenset[str] = frozenset()) -> RecognitionParameters:
    """Check ``raw`` (the query of an HTTP request, or a WebSocket start message) against IBM's parameters.

    ``transport``: ``http`` (string values) or ``websocket`` (JSON values). ``also``: other names
    the caller handles itself. Raises :class:`ParameterError` for a wrong value or an unsupported feature.
    """
    text = transport == "http"
    values: dict[str, Any] = {}
    unknown = []
    for name, value in raw.items():
        if name in also:
            continue
        if name in _UNSUPPORTED:
            if _asks_for_something(value, _UNSUPPORTED[name], text):
                raise ParameterError(f"{name} is not supported by this service: leave it out")
            continue
        spec = _SUPPORTED.get(name)
        if spec is None:
            unknown.append(name)
            continue
        kind, low, high, transports = spec
        if transport not in transports:
            raise ParameterError(f"{name} is not supported on this interface: {_OTHER_TRANSPORT[transport]}")
        if value is None:
            continue
        if kind == "str":
            if not isinstance(value, str) or len(value) > 256:
                raise ParameterError(f"{name} must be a string of at most 256 characters, got {str(value)[:40]!r}")
            values[name] = value
        elif kind == "bool":
            values[name] = _bool(name, value, text)
        else:
            values[name] = _number(name, value, low, high, text, whole=kind == "int")
    warnings = (f"Unknown arguments: {', '.join(sorted(unknown))}.",) if unknown else ()
    language = values.get("language_customization_id") or values.get("customization_id")
    return RecognitionParameters(
        model=values.get("model") or None,
        lm_customization=language or None,
        am_customization=values.get("acoustic_customization_id") or None,
        weight=values.get("customization_weight"),
        timestamps=values.get("timestamps", False),
        word_confidence=values.get("word_confidence", False),
        speech_detector_sensitivity=values.get("speech_detector_sensitivity"),
        max_alternatives=max(1, int(values.get("max_alternatives", 1))),
        content_type=values.get("content-type", values.get("content_type")),
        interim_results=values.get("interim_results", False),
        inactivity_timeout=values.get("inactivity_timeout"),
        end_of_phrase_silence_time=values.get("end_of_phrase_silence_time"),
        warnings=warnings,
    )
