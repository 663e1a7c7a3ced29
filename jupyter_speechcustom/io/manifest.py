"""NeMo manifests: JSON lines with ``audio_filepath``, ``duration`` and optional ``text``."""

from __future__ import annotations

import codecs
import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from jupyter_speechcustom.errors import SpeechCustomError
from jupyter_speechcustom.io.audio import Segment
from jupyter_speechcustom.io.files import atomic_writer


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
