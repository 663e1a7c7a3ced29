"""Naming a workspace's items the way the Studio shows them: by ``name`` (every version of it), by
``"name vN"`` (one version of a model or result) or by id; the kinds of item and their names in
messages."""

from __future__ import annotations

import difflib
import json
import re
from pathlib import Path

from jupyter_speechcustom.store.workspace import Record, RecordNotFoundError, StoreAPI, WorkspaceError

#: The kinds of item, as the workspace names them, with what they are called in messages.
KINDS = {
    "corpus": "corpus",
    "words": "word list",
    "audio": "audio",
    "lm": "language model",
    "am": "acoustic model",
    "result": "result",
    "segments": "prepared segments",
}
_ALIASES = {
    "corpora": "corpus", "word-list": "words", "wordlist": "words", "word-lists": "words", "word": "words",
    "language-model": "lm", "lms": "lm", "acoustic-model": "am", "ams": "am", "results": "result",
    "segment": "segments",
}
#: ``"name vN"``: one version of a model or result.
LABEL = re.compile(r"^(?P<name>.+?)\s+v(?P<version>\d+)$")


def default_workspace_path() -> Path:
    """The workspace a front end opens when given none: ``~/speechcustom-workspace``, the
    folder the Watson-compatible service keeps its customizations in by default."""
    return Path("~/speechcustom-workspace").expanduser()


def kind_of(text: str) -> str:
    """The workspace's name of a kind (``corpus``, ``words``, ``audio``, ``lm``, ``am``, ``result``)."""
    key = str(text).strip().lower()
    key = _ALIASES.get(key, key)
    if key not in KINDS:
        raise WorkspaceError(f"unknown kind {text!r}: use one of {', '.join(KINDS)}")
    return key


def title(rec: Record) -> str:
    """How messages name a record: its kind, label and id."""
    return f"{KINDS.get(rec.kind, rec.kind)} {rec.label!r} ({rec.id})"



def find(ws: StoreAPI, ref: str, kind: str | None = None) -> list[Record]:
    """The records ``ref`` names (of ``kind``, when given): an id, ``"name vN"`` or a name (every
    version, oldest first). A name used by several kinds needs ``kind``."""
    if not isinstance(ref, str) or not ref.strip():
        raise WorkspaceError("give the name or id of an item (list them with `speechcustom workspace list`)")
    kind = kind_of(kind) if kind else None
    text = ref.strip()
    try:
        return [ws.get(text, kind)]
    except RecordNotFoundError:
        pass
    matches = ws.records(kind, name=text)
    if not matches and (m := LABEL.match(text)):
        matches = [r for r in ws.records(kind, name=m["name"]) if r.version == int(m["version"])]
    if not matches:
        names = sorted({r.name for r in ws.records(kind)})
        close = difflib.get_close_matches(text, names, n=3)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        what = KINDS[kind] if kind else "item"
        raise RecordNotFoundError(f"no {what} named {text!r} in the workspace {ws.path}{hint} "
                                  "(list them with `speechcustom workspace list`)")
    kinds = sorted({r.kind for r in matches})
    if len(kinds) > 1:
        raise WorkspaceError(f"{text!r} names a {' and a '.join(KINDS[k] for k in kinds)}: give the kind too "
                             f"(one of {', '.join(kinds)})")
    return matches


def latest(ws: StoreAPI, ref: str, kind: str | None = None, *, available: bool = False) -> Record:
    """The one record ``ref`` names: of several versions, the latest (the latest available one)."""
    records = sorted(find(ws, ref, kind), key=lambda r: r.version)
    if available:
        ready = [r for r in records if r.status == "available"]
        if not ready:
            last = records[-1]
            raise WorkspaceError(f"{title(last)} is {last.status}, not available: build or train it first")
        records = ready
    return records[-1]



def write_lm_name(rec: Record) -> None:
    """Write a renamed LM's name into its folder's ``lm.json``, so that the folder, and a bundle of
    it, carry the name the workspace shows (the LM loaded from the folder shows it too)."""
    from jupyter_speechcustom.io.files import atomic_path

    meta_path = rec.path / "lm.json" if rec.path else None
    if meta_path is None or not meta_path.is_file():
        return
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return  # a damaged lm.json is reported when the LM is loaded
    if not isinstance(meta, dict) or meta.get("name") == rec.name:
        return
    meta["name"] = rec.name
    with atomic_path(meta_path) as part:
        part.write_text(json.dumps(meta, indent=2), encoding="utf-8")

