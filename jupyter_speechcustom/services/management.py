"""Managing what a workspace holds: list, show, rename, delete, history, transcripts and export.

The front door of the workspace's management, re-exporting what lives beside it: naming items
(:mod:`~jupyter_speechcustom.services.items`), what depends on what
(:mod:`~jupyter_speechcustom.services.dependencies`), out-of-vocabulary words
(:mod:`~jupyter_speechcustom.services.oov`), listings (:mod:`~jupyter_speechcustom.services.listing`),
history (:mod:`~jupyter_speechcustom.services.history`) and exports
(:mod:`~jupyter_speechcustom.services.exports`). Changing items is here: rename, delete, transcripts,
saving results, adding files and finding a language model by name.

Deleting something others depend on is refused with :class:`HasDependantsError` naming them,
unless ``force=True``: the dependants are kept, usable (a built model holds everything it needs),
with the deleted item noted in their ``info["missing_sources"]`` and history; a customization drops
the deleted resource and needs training again. Nothing is deleted while a job uses it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jupyter_speechcustom.errors import check_list
from jupyter_speechcustom.services.dependencies import dependants, dependencies, dependency_graph
from jupyter_speechcustom.services.exports import (
    EXPORT_FORMATS,
    export_bundle,
    export_path,
    export_result,
    result_csv,
    result_html,
    suggest_export_name,
    with_format_suffix,
)
from jupyter_speechcustom.services.history import event_text, format_history, history
from jupyter_speechcustom.services.items import (
    KINDS,
    default_workspace_path,
    find,
    kind_of,
    latest,
    title,
    write_lm_name,
)
from jupyter_speechcustom.services.listing import (
    LABEL_COLUMN,
    describe,
    format_item,
    format_items,
    item,
    list_items,
    record_ref,
)
from jupyter_speechcustom.services.oov import known_words_of, oov_of
from jupyter_speechcustom.store.workspace import (
    ModelInUseError,
    Record,
    RecordNotFoundError,
    Store,
    StoreAPI,
    WorkspaceError,
)

__all__ = [
    "EXPORT_FORMATS",
    "IF_EXISTS",
    "KINDS",
    "LABEL_COLUMN",
    "Deletion",
    "HasDependantsError",
    "ResultExistsError",
    "add_files",
    "default_workspace_path",
    "delete",
    "dependants",
    "dependencies",
    "describe",
    "event_text",
    "export_bundle",
    "export_path",
    "export_result",
    "find",
    "format_history",
    "format_item",
    "format_items",
    "history",
    "item",
    "kind_of",
    "known_words_of",
    "language_model_path",
    "list_items",
    "oov_of",
    "rename",
    "result_csv",
    "result_html",
    "save_result",
    "set_transcript",
    "suggest_export_name",
    "with_format_suffix",
]

#: The order a multi-kind delete goes in: what depends on others first.
_DELETE_ORDER = ("result", "am", "lm", "segments", "words", "corpus", "audio")
_ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")


class HasDependantsError(WorkspaceError):
    """Deleting an item others depend on (``dependants``), without ``force``."""

    def __init__(self, message: str, dependants: Sequence[Record] = ()) -> None:
        super().__init__(message)
        self.dependants = list(dependants)


# --------------------------------------------------------------------------- renaming and deleting


def rename(ws: StoreAPI, kind: str, old: str, new: str) -> list[Record]:
    """Rename item ``old`` of ``kind`` (every version of it) to ``new``; see :meth:`Store.rename`."""
    kind = kind_of(kind)
    name = find(ws, old, kind)[0].name
    renamed = ws.rename(kind, name, new)
    if kind == "lm":
        for rec in renamed:
            write_lm_name(rec)
    return renamed


@dataclass(frozen=True)
class Deletion:
    """What :func:`delete` did: the records deleted and the dependants kept (and marked)."""

    deleted: list[Record]
    kept_dependants: list[Record]

    def to_dict(self) -> dict[str, Any]:
        return {"deleted": [record_ref(r) for r in self.deleted],
                "kept_dependants": [record_ref(r) for r in self.kept_dependants]}


def delete(ws: StoreAPI, kind: str, ref: str, *, force: bool = False) -> Deletion:
    """Delete item ``ref`` of ``kind`` (every version of a name; one with ``"name vN"`` or an id).

    Refused (:class:`HasDependantsError`) when other items were made from it, unless ``force``;
    refused in any case while a job uses it. Everything is checked before anything is deleted.
    """
    kind = kind_of(kind)
    records = find(ws, ref, kind)
    busy = {r.label: ws.jobs_using(r.id) for r in records}
    busy = {label: jobs for label, jobs in busy.items() if jobs}
    if busy:
        shown = "; ".join(f"{label}: {', '.join(jobs)}" for label, jobs in busy.items())
        raise ModelInUseError(f"{KINDS[kind]} {ref!r} is used by running jobs ({shown}): wait for them or "
                              "cancel them first")
    graph = dependency_graph(ws)
    users = dependants(ws, records, graph)
    if users and not force:
        shown = ", ".join(title(u) for u in users[:10]) + (f" and {len(users) - 10} more" if len(users) > 10 else "")
        msg = (f"{KINDS[kind]} {ref!r} is used by {shown}: delete those first, or delete it anyway with "
               "force=True (--force); they are kept, usable, and marked as made from a deleted item")
        raise HasDependantsError(msg, users)
    deleted: list[Record] = []
    for rec in sorted(records, key=lambda r: (_DELETE_ORDER.index(r.kind), r.version)):
        ws.delete(rec.id)
        deleted.append(rec)
        for user_id in sorted(graph.get(rec.id, set()) - {r.id for r in records}):
            _mark_source_deleted(ws, user_id, rec)
    return Deletion(deleted, users)


def _mark_source_deleted(ws: StoreAPI, user_id: str, gone: Record) -> None:
    try:
        user = ws.get(user_id)
    except RecordNotFoundError:
        return
    note = {"id": gone.id, "kind": gone.kind, "name": gone.name, "version": gone.version}
    missing = [*(user.info.get("missing_sources") or []), note]
    info: dict[str, Any] = {"missing_sources": missing}  # a customization dropped it as it was deleted (the store)
    ws.note_event(user_id, "source-deleted", note, info=info)


# --------------------------------------------------------------------------- history and transcripts




def set_transcript(ws: StoreAPI, audio: str, text: str | None) -> Record:
    """Set (or with ``""`` remove) the transcript of audio item ``audio`` (a name or id)."""
    return ws.set_transcript(latest(ws, audio, "audio").id, text)


# --------------------------------------------------------------------------- language models by name


def language_model_path(ref: str | Path, workspace: str | Path | None = None) -> Path:
    """The folder of custom LM ``ref``: a folder holding ``lm.json``, else a language model of the
    workspace (default :func:`default_workspace_path`) by name (its latest available version),
    ``"name vN"`` or id. When neither matches, the error lists the workspace's language models."""
    path = Path(ref).expanduser()
    if (path / "lm.json").is_file():
        return path
    folder = Path(workspace).expanduser() if workspace else default_workspace_path()
    given = f"{str(ref)!r} is not a custom language model folder (one holding lm.json)"
    if not (folder / "index.sqlite").is_file():
        raise WorkspaceError(f"{given}, and there is no workspace at {folder} to look it up in by name: give the "
                             "folder, or the workspace (--workspace DIR) that holds it")
    with Store(folder) as ws:
        try:
            rec = latest(ws, str(ref), "lm", available=True)
        except WorkspaceError:
            models = ws.language_models()
            shown = ", ".join(f"{r.label} ({r.status})" if r.status != "available" else r.label for r in models)
            listing = f"its language models: {shown}" if models else "it has no language models yet"
            raise WorkspaceError(f"{given}, nor the name of one in the workspace {folder} ({listing}): give a "
                                 "folder, or a name, 'name vN' or id from that list") from None
        if rec.path is None or not (rec.path / "lm.json").is_file():
            raise WorkspaceError(f"language model {rec.label} of the workspace {folder} has no folder: build it again")
        return rec.path


# --------------------------------------------------------------------------- saving results


class ResultExistsError(WorkspaceError):
    """Saving a result under a name the workspace already has, without saying what to do
    (``if_exists``); ``existing`` are the results of that name."""

    def __init__(self, message: str, existing: Sequence[Record] = ()) -> None:
        super().__init__(message)
        self.existing = list(existing)


#: What :func:`save_result` does when a result of the name exists.
IF_EXISTS = ("replace", "keep")


def save_result(ws: StoreAPI, name: str, data: Mapping[str, Any], *, sources: Sequence[str] = (),
                if_exists: str | None = None) -> Record:
    """Save ``data`` as the result ``name``; a name in use is refused (:class:`ResultExistsError`)
    unless ``if_exists`` says what to do: ``"replace"`` (the earlier results of that name are
    deleted, once the new one is saved) or ``"keep"`` (both kept: the new one is the name's next
    version, which ``"name v2"`` names and the Manage area shows)."""
    if if_exists is not None and if_exists not in IF_EXISTS:
        raise WorkspaceError(f"if_exists must be one of {', '.join(IF_EXISTS)} or None, got {if_exists!r}")
    existing = ws.records("result", name=name.strip()) if isinstance(name, str) else []
    if existing and if_exists is None:
        labels = ", ".join(f"{r.name} v{r.version}" for r in existing)
        raise ResultExistsError(f"a result named {name.strip()!r} exists ({labels}): replace it "
                                "(if_exists='replace') or keep both (if_exists='keep')", existing)
    rec = ws.add_result(name, data, sources=sources)
    if existing and if_exists == "replace":
        for old in existing:
            ws.delete(old.id)
    return rec


# --------------------------------------------------------------------------- adding files


def add_files(ws: StoreAPI, kind: str, paths: Sequence[str | Path], *, transcript: str | None = None) -> list[Record]:
    """Add corpora, word lists or audio files (zip/tar archives of audio too) from ``paths``.

    Every path is checked first; then each is added as the Studio adds an upload.
    """
    kind = kind_of(kind)
    if kind not in ("corpus", "words", "audio"):
        raise WorkspaceError(f"only corpora, word lists and audio are added from files, not a {KINDS[kind]}")
    check_list(paths, "paths", "files")
    if not paths:
        raise WorkspaceError("give at least one file to add")
    files = [Path(p).expanduser() for p in paths]
    for path in files:
        if not path.is_file():
            raise WorkspaceError(f"{path} is not a file: check the path")
    if transcript is not None and (kind != "audio" or len(files) != 1 or _is_archive(files[0])):
        raise WorkspaceError("a transcript goes with one audio file: add the files one at a time")
    added: list[Record] = []
    for path in files:
        if kind == "corpus":
            added.append(ws.add_corpus(path))
        elif kind == "words":
            added.append(ws.add_words(path))
        elif _is_archive(path):
            added.extend(ws.add_audio_archive(path))
        else:
            added.append(ws.add_audio(path, transcript=transcript))
    return added


def _is_archive(path: Path) -> bool:
    return path.name.lower().endswith(_ARCHIVE_SUFFIXES)


