"""NeMo manifests: JSON lines with ``audio_filepath``, ``duration`` and optional ``text``."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from jupyter_speechcustom.errors import SpeechCustomError
from jupyter_speechcustom.io.files import atomic_writer


class ManifestError(SpeechCustomError, ValueError):
    """A manifest that cannot be read."""


def read_manifest(path: str | Path, *, require_text: bool = False) -> list[dict[str, Any]]:
    """Entries of a manifest, with ``audio_filepath`` made absolute.

    Relative audio paths are resolved against the manifest's folder, as NeMo does.
    """
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"no manifest at {path}: check the path")
    entries = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
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
        audio = Path(entry["audio_filepath"]).expanduser()
        entry["audio_filepath"] = str(audio if audio.is_absolute() else (path.parent / audio).resolve())
        entries.append(entry)
    if not entries:
        raise ManifestError(f"{path} lists no audio")
    return entries


def write_manifest(path: str | Path, entries: Iterable[dict[str, Any]]) -> Path:
    """Write entries as JSON lines, atomically (a reader never sees half a file)."""
    path = Path(path)
    with atomic_writer(path, "w") as f:
        for entry in entries:
            f.write(json.dumps(entry, ensure_ascii=False) + "\n")
    return path
