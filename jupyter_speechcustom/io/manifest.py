"""NeMo manifests: JSON lines with ``audio_filepath``, ``duration`` and optional ``text``.

An :class:`Utterance` is one line of a manifest as a value: a supervision over a recording (its
file, or a stretch of it, and the reference transcript if known). :func:`read_utterances` and
:func:`write_utterances` read and write manifests of them; :func:`read_manifest` and
:func:`write_manifest` work on the raw JSON objects.
"""

from __future__ import annotations

import codecs
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from jupyter_speechcustom.errors import SpeechCustomError
from jupyter_speechcustom.io.audio import Segment
from jupyter_speechcustom.io.files import atomic_writer

__all__ = [
    "ManifestError",
    "Utterance",
    "audio_source",
    "entry_key",
    "read_manifest",
    "read_utterances",
    "write_manifest",
    "write_utterances",
]


class ManifestError(SpeechCustomError, ValueError):
    """A manifest that cannot be read."""


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except PermissionError:
        raise ManifestError(f"cannot read {path}: permission denied; check the file's permissions") from None
    except OSError as exc:
        raise ManifestError(f"cannot read {path}: {exc.strerror or exc}") from None
    boms = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
    encoding = next((name for bom, name in boms if data.startswith(bom)), "utf-8")
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        msg = (f"{path}:{line} is not UTF-8 text (byte {data[exc.start]:#04x}): a manifest is JSON lines in UTF-8; "
               "save it as UTF-8, e.g. `iconv -f latin1 -t utf-8 IN > OUT`")
        raise ManifestError(msg) from None


def _check_entry(entry: dict[str, Any], where: str, require_text: bool) -> None:
    audio = entry["audio_filepath"]
    if not isinstance(audio, str) or not audio.strip() or "\x00" in audio:
        raise ManifestError(f'{where}: "audio_filepath" must be a file path (a non-empty string), not {audio!r}')
    if require_text and not isinstance(entry["text"], str):
        raise ManifestError(f'{where}: "text" must be a string, not {entry["text"]!r}')
    for key in ("offset", "duration"):
        value = entry.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise ManifestError(f'{where}: "{key}" must be a number of seconds, 0 or more, not {value!r}')
    if entry.get("offset") is not None and entry.get("duration") == 0:
        raise ManifestError(f'{where}: a segment ("offset") with "duration" 0 holds no audio; give its length')


def read_manifest(path: str | Path, *, require_text: bool = False) -> list[dict[str, Any]]:
    """Entries of a manifest, with ``audio_filepath`` made absolute.

    Relative audio paths are resolved against the manifest's folder, as NeMo does. UTF-8 (with
    or without a byte-order mark) and UTF-16 with a byte-order mark are read; other encodings,
    and fields of the wrong type, are a :class:`ManifestError` naming the line.
    """
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"no manifest at {path}: check the path")
    entries = []
    for number, line in enumerate(_read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ManifestError(f"{path}:{number} is not valid JSON ({exc.msg}); one JSON object per line") from exc
        if not isinstance(entry, dict) or "audio_filepath" not in entry:
            raise ManifestError(f'{path}:{number} has no "audio_filepath"; each line needs one')
        if require_text and "text" not in entry:
            raise ManifestError(f'{path}:{number} has no "text"; this step needs transcripts')
        _check_entry(entry, f"{path}:{number}", require_text)
        audio = Path(entry["audio_filepath"]).expanduser()
        entry["audio_filepath"] = str(audio if audio.is_absolute() else (path.parent / audio).resolve())
        entries.append(entry)
    if not entries:
        raise ManifestError(f"{path} lists no audio")
    return entries


def audio_source(entry: dict[str, Any]) -> str | Segment:
    """What to decode for a manifest entry: its file, or the segment its ``offset`` (and
    ``duration``) name, as NeMo reads it. A ``duration`` without ``offset`` describes the whole file."""
    if entry.get("offset") is None:
        return str(entry["audio_filepath"])
    return Segment(str(entry["audio_filepath"]), float(entry["offset"]),
                   None if entry.get("duration") is None else float(entry["duration"]))


def entry_key(entry: dict[str, Any]) -> tuple[str, float | None, float | None]:
    """What identifies an utterance of a manifest: its file, and its segment when it has an ``offset``."""
    if entry.get("offset") is None:
        return (str(entry["audio_filepath"]), None, None)
    duration = entry.get("duration")
    return (str(entry["audio_filepath"]), round(float(entry["offset"]), 3),
            None if duration is None else round(float(duration), 3))


def write_manifest(path: str | Path, entries: Iterable[dict[str, Any]]) -> Path:
    """Write entries as JSON lines, atomically (a reader never sees half a file)."""
    path = Path(path)
    with atomic_writer(path, "w") as f:
        for entry in entries:
            f.write(json.dumps(entry, ensure_ascii=False) + "\n")
    return path


def _seconds(value: Any) -> float | None:
    return None if value is None else float(value)


@dataclass(frozen=True)
class Utterance:
    """One utterance: a supervision over a recording, as a line of a NeMo manifest describes it.

    Attributes:
        audio: the audio file's path.
        text: the reference transcript; None when unknown.
        offset: where the utterance starts in ``audio``, in seconds; None: the whole file.
        duration: its length in seconds; None when unknown (a segment then runs to the file's end).
        title: how it is named in output. Left empty, it is the file's stem, followed by
            ``" @<offset> s"`` for a segment (``"talk @12.5 s"``), so the segments of one file differ.
        origin: the file a prepared segment was cut from (a manifest line's ``"source"``), if any.
    """

    audio: str
    text: str | None = None
    offset: float | None = None
    duration: float | None = None
    title: str = ""
    origin: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "audio", str(self.audio))
        object.__setattr__(self, "offset", _seconds(self.offset))
        object.__setattr__(self, "duration", _seconds(self.duration))
        if not self.title:
            stem = Path(self.audio).stem
            object.__setattr__(self, "title", stem if self.offset is None else f"{stem} @{self.offset:g} s")

    @property
    def source(self) -> str | Segment:
        """What to decode: the file, or its segment when the utterance has an ``offset``
        (see :func:`audio_source`)."""
        return audio_source(self.to_entry())

    @property
    def key(self) -> tuple[str, float | None, float | None]:
        """What identifies the utterance: its file, and its segment when it has an ``offset``
        (see :func:`entry_key`)."""
        return entry_key(self.to_entry())

    @property
    def has_text(self) -> bool:
        """Whether the reference transcript has words."""
        return bool(self.text and self.text.split())

    @classmethod
    def from_entry(cls, entry: Mapping[str, Any], *, title: str = "") -> Utterance:
        """The utterance of a manifest line (a ``text`` that is not a string counts as unknown)."""
        text = entry.get("text")
        origin = entry.get("source")
        return cls(str(entry["audio_filepath"]), text if isinstance(text, str) else None,
                   _seconds(entry.get("offset")), _seconds(entry.get("duration")), title,
                   str(origin) if origin else None)

    def to_entry(self) -> dict[str, Any]:
        """The manifest line: ``audio_filepath``, then ``offset``, ``duration``, ``text`` and ``source``
        (the origin) where they are set. The title is not part of it."""
        entry: dict[str, Any] = {"audio_filepath": self.audio}
        for key, value in (("offset", self.offset), ("duration", self.duration), ("text", self.text),
                           ("source", self.origin)):
            if value is not None:
                entry[key] = value
        return entry

    @classmethod
    def from_dict(cls, row: Mapping[str, Any]) -> Utterance:
        """An utterance from its :meth:`to_dict` form, e.g. in a job's parameters. The form of older
        versions (``title``, ``audio``, ``reference``) is read too; unknown keys are ignored."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in row.items() if k in known}
        if "reference" in row and "text" not in row:
            values["text"] = row["reference"]
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """Every field, as JSON (what :meth:`from_dict` reads)."""
        return asdict(self)

    def with_text(self, text: str | None) -> Utterance:
        """The same audio with another reference transcript."""
        return replace(self, text=text)


def read_utterances(path: str | Path, *, require_text: bool = False) -> list[Utterance]:
    """The utterances of a manifest, as :func:`read_manifest` reads it (the same errors)."""
    return [Utterance.from_entry(entry) for entry in read_manifest(path, require_text=require_text)]


def write_utterances(path: str | Path, utterances: Iterable[Utterance]) -> Path:
    """Write utterances as a manifest (:meth:`Utterance.to_entry` per line), atomically."""
    return write_manifest(path, (u.to_entry() for u in utterances))
