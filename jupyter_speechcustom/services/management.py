"""Managing what a workspace holds: list, show, rename, delete, history, transcripts and export.

Every kind of item (corpus, word list, audio, language model, acoustic model, result) is named
the way the Studio shows it: by ``name`` (every version of it), by ``"name vN"`` (one version of
a model or result) or by its id. What depends on what is read from the workspace itself:

- a custom LM depends on the corpora and word lists it was built from;
- a custom AM on the audio it was trained on and on the LM that labelled it (its job's ``lm_id``);
- a result on the models it names (its ``sources``, or ``model_id``/``lm_id``/``am_id`` in it);
- a customization (the IBM-style ones of :mod:`~jupyter_speechcustom.services.customization`) on
  its corpora, audio and trained model.

Deleting something others depend on is refused with :class:`HasDependantsError` naming them,
unless ``force=True``: the dependants are kept, usable (a built model holds everything it needs),
with the deleted item noted in their ``info["missing_sources"]`` and history; a customization drops
the deleted resource and needs training again. Nothing is deleted while a job uses it.

Exports are written atomically and never over an existing file unless ``overwrite=True``.
"""

from __future__ import annotations

import csv
import difflib
import html
import io
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jupyter_speechcustom.constants import DEMO_MODEL_NAME
from jupyter_speechcustom.errors import OutputError, SpeechCustomError, check_list
from jupyter_speechcustom.io.files import check_output_path, describe_os_error
from jupyter_speechcustom.services.customization import KEY as CUSTOMIZATION_KEY
from jupyter_speechcustom.store.workspace import (
    ModelInUseError,
    Record,
    RecordNotFoundError,
    Store,
    WorkspaceError,
)

if TYPE_CHECKING:
    from jupyter_speechcustom.asr.models import BaseModel

__all__ = [
    "EXPORT_FORMATS",
    "IF_EXISTS",
    "KINDS",
    "Deletion",
    "HasDependantsError",
    "ResultExistsError",
    "add_files",
    "default_workspace_path",
    "delete",
    "dependants",
    "dependencies",
    "describe",
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
    "save_result",
    "set_transcript",
    "suggest_export_name",
    "with_format_suffix",
]

#: The kinds of item, as the workspace names them, with what they are called in messages.
KINDS = {
    "corpus": "corpus",
    "words": "word list",
    "audio": "audio",
    "lm": "language model",
    "am": "acoustic model",
    "result": "result",
}
_ALIASES = {
    "corpora": "corpus", "word-list": "words", "wordlist": "words", "word-lists": "words", "word": "words",
    "language-model": "lm", "lms": "lm", "acoustic-model": "am", "ams": "am", "results": "result",
}
#: Formats :func:`export_result` writes.
EXPORT_FORMATS = ("csv", "json", "html")
#: The order a multi-kind delete goes in: what depends on others first.
_DELETE_ORDER = ("result", "am", "lm", "words", "corpus", "audio")
_LABEL = re.compile(r"^(?P<name>.+?)\s+v(?P<version>\d+)$")
_ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")


class HasDependantsError(WorkspaceError):
    """Deleting an item others depend on (``dependants``), without ``force``."""

    def __init__(self, message: str, dependants: Sequence[Record] = ()) -> None:
        super().__init__(message)
        self.dependants = list(dependants)


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


def _what(rec: Record) -> str:
    return f"{KINDS.get(rec.kind, rec.kind)} {rec.label!r} ({rec.id})"


# --------------------------------------------------------------------------- finding items


def find(ws: Store, ref: str, kind: str | None = None) -> list[Record]:
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
    if not matches and (m := _LABEL.match(text)):
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


def _one(ws: Store, ref: str, kind: str | None = None, *, available: bool = False) -> Record:
    """The one record ``ref`` names: of several versions, the latest (the latest available one)."""
    records = sorted(find(ws, ref, kind), key=lambda r: r.version)
    if available:
        ready = [r for r in records if r.status == "available"]
        if not ready:
            last = records[-1]
            raise WorkspaceError(f"{_what(last)} is {last.status}, not available: build or train it first")
        records = ready
    return records[-1]


# --------------------------------------------------------------------------- dependencies


def _result_sources(ws: Store, rec: Record) -> set[str]:
    found = set(rec.sources)
    try:
        data = ws.result(rec.id)
    except (WorkspaceError, OSError, ValueError):
        return found
    for key in ("model_id", "lm_id", "am_id"):
        if isinstance(data.get(key), str):
            found.add(data[key])
    return found


def _customization_sources(rec: Record) -> set[str]:
    state = rec.info.get(CUSTOMIZATION_KEY)
    if not isinstance(state, dict):
        return set()
    found = {v for v in (state.get("corpora") or {}).values() if isinstance(v, str)}
    for ids in (state.get("audio") or {}).values():
        found.update(i for i in (ids if isinstance(ids, list) else [ids]) if isinstance(i, str))
    if isinstance(state.get("trained"), str):
        found.add(state["trained"])
    return found


def _sources(ws: Store, rec: Record) -> set[str]:
    """Ids of the records ``rec`` was made from."""
    if rec.kind == "result":
        return _result_sources(ws, rec)
    found = set(rec.sources) | _customization_sources(rec)
    if rec.kind == "am" and rec.job_id:
        params = ws.job_params(rec.job_id) or {}
        if isinstance(params.get("lm_id"), str):
            found.add(params["lm_id"])
    found.discard(rec.id)
    return found


def dependencies(ws: Store, rec: Record) -> list[Record]:
    """The records ``rec`` was made from that are still in the workspace."""
    out = []
    for record_id in sorted(_sources(ws, rec)):
        try:
            out.append(ws.get(record_id))
        except RecordNotFoundError:
            continue
    return out


def _graph(ws: Store) -> dict[str, set[str]]:
    """For every record id, the ids of the records made from it."""
    users: dict[str, set[str]] = {}
    for rec in ws.records():
        if rec.kind in ("corpus", "words", "audio"):
            continue  # made from nothing in the workspace
        for source in _sources(ws, rec):
            users.setdefault(source, set()).add(rec.id)
    return users


def dependants(ws: Store, records: Iterable[Record], graph: Mapping[str, set[str]] | None = None) -> list[Record]:
    """The records made from any of ``records`` (those among ``records`` left out)."""
    graph = _graph(ws) if graph is None else graph
    ids = {r.id for r in records}
    found = sorted({user for r in ids for user in graph.get(r, set())} - ids)
    out = []
    for record_id in found:
        try:
            out.append(ws.get(record_id))
        except RecordNotFoundError:
            continue
    return out


# --------------------------------------------------------------------------- out-of-vocabulary words


def known_words_of(base: BaseModel | str | Path = DEMO_MODEL_NAME) -> frozenset[str]:
    """The words base model ``base`` knows (a loaded model, or its name or path, not loaded for
    this): its profile's general text, else common English, as
    :func:`~jupyter_speechcustom.asr.models.known_words_for` gives them."""
    from jupyter_speechcustom.asr.models import BaseModel, known_words_for
    from jupyter_speechcustom.asr.profiles import get_profile
    from jupyter_speechcustom.text.corpus import known_words

    if isinstance(base, BaseModel):
        return known_words_for(base)
    profile = get_profile(str(base))
    if profile is not None and profile.general_text is not None:
        return known_words(profile.general_text)
    return known_words()


_OOV_CACHE: dict[tuple[str, str, str, int], list[tuple[str, int]]] = {}


def oov_of(ws: Store, rec: Record, known: frozenset[str] | None = None) -> list[tuple[str, int]] | None:
    """The out-of-vocabulary words of a corpus or word list (None for other kinds): its words that
    base model's known words (``known``, default: :func:`known_words_of` the demo) do not hold,
    with their counts, most frequent first (:func:`~jupyter_speechcustom.text.corpus.oov_words`,
    the one notion of OOV of the Data and Language model tabs too); None too for a file that
    cannot be read now."""
    from jupyter_speechcustom.text.words import word_list_oov

    if rec.kind not in ("corpus", "words"):
        return None
    known = known_words_of() if known is None else known
    key = (rec.id, rec.kind, rec.updated, id(known))
    if key not in _OOV_CACHE:
        if len(_OOV_CACHE) > 256:
            _OOV_CACHE.clear()
        try:
            oov = (ws.corpus(rec.id).oov(known) if rec.kind == "corpus"
                   else word_list_oov(ws.custom_words(rec.id), known))
        except (SpeechCustomError, OSError):
            return None  # a file unreadable now: the listing still shows the item, without the count
        _OOV_CACHE[key] = oov
    return list(_OOV_CACHE[key])


# --------------------------------------------------------------------------- listing


def describe(rec: Record, oov: Sequence[tuple[str, int]] | None = None) -> str:
    """One line of what the Studio shows about an item; ``oov``: a corpus's or word list's
    out-of-vocabulary words (:func:`oov_of`)."""
    info = rec.info
    unknown = f", {len(oov)} out-of-vocabulary" if oov is not None else ""
    if rec.kind == "corpus":
        return f"{info.get('sentences', '?')} sentences, {info.get('words', '?')} words{unknown}"
    if rec.kind == "words":
        return f"{info.get('count', '?')} custom words{unknown}"
    if rec.kind == "audio":
        duration = info.get("duration")
        seconds = f"{duration:.1f} s" if isinstance(duration, (int, float)) else "? s"
        transcript = info.get("transcript")
        return f"{seconds}, " + (f"transcript: {_short(transcript)}" if transcript else "no transcript")
    if rec.kind == "result":
        return _result_line(info)
    parts = [rec.status]
    if isinstance(info.get(CUSTOMIZATION_KEY), dict):
        parts.append("customization")
    if rec.base:
        parts.append(f"base {rec.base['name']}")
    if rec.kind == "lm":
        if info.get("order"):
            parts.append(f"{info['order']}-gram")
        if info.get("custom_words") is not None:
            words = info["custom_words"]
            parts.append(f"{len(words) if isinstance(words, list) else words} custom words")
    training = info.get("training") if rec.kind == "am" else None
    if isinstance(training, dict):
        if training.get("mode"):
            parts.append(str(training["mode"]))
        before, after = training.get("general_wer_before"), training.get("general_wer_after")
        if isinstance(before, (int, float)) and isinstance(after, (int, float)):
            parts.append(f"general WER {before:.1%} -> {after:.1%}")
    if rec.sources:
        parts.append(f"from {len(rec.sources)} {'resource' if len(rec.sources) == 1 else 'resources'}")
    if rec.message and rec.status == "failed":
        parts.append(_short(rec.message, 80))
    if info.get("missing_sources"):
        parts.append(f"{len(info['missing_sources'])} source(s) deleted")
    return ", ".join(parts)


def _result_line(info: Mapping[str, Any]) -> str:
    keys = info.get("keys") or []
    return f"fields: {', '.join(map(str, keys[:8]))}" + (" ..." if len(keys) > 8 else "")


def _short(text: Any, limit: int = 60) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def item(ws: Store, rec: Record, graph: Mapping[str, set[str]] | None = None, *,
         known: frozenset[str] | None = None) -> dict[str, Any]:
    """An item as JSON: its record, a one-line summary, what it was made from and what uses it; a
    corpus's or word list's ``oov`` words are those the base model does not know (``known``, see
    :func:`oov_of`)."""
    graph = _graph(ws) if graph is None else graph
    oov = oov_of(ws, rec, known)
    entry = {
        "id": rec.id,
        "kind": rec.kind,
        "name": rec.name,
        "version": rec.version,
        "label": rec.label,
        "status": rec.status,
        "summary": describe(rec, oov),
        "path": str(rec.path) if rec.path else None,
        "base": rec.base,
        "sources": [_ref(r) for r in dependencies(ws, rec)],
        "used_by": [_ref(r) for r in dependants(ws, [rec], graph)],
        "message": rec.message,
        "created": rec.created,
        "updated": rec.updated,
        "info": rec.info,
    }
    if oov is not None:
        entry["oov"] = [list(w) for w in oov]
    return entry


def _ref(rec: Record) -> dict[str, Any]:
    return {"id": rec.id, "kind": rec.kind, "label": rec.label}


def _refs_text(refs: Sequence[Mapping[str, Any]]) -> str:
    return ", ".join(f"{KINDS.get(r['kind'], r['kind'])} {r['label']} ({r['id']})" for r in refs)


def list_items(ws: Store, kind: str | None = None, *, known: frozenset[str] | None = None) -> list[dict[str, Any]]:
    """Every item (of ``kind``), grouped by kind and oldest first, as :func:`item` gives them."""
    kinds = [kind_of(kind)] if kind else list(KINDS)
    graph = _graph(ws)
    known = known_words_of() if known is None and kinds != ["result"] else known
    return [item(ws, rec, graph, known=known) for k in kinds for rec in ws.records(k)]


# --------------------------------------------------------------------------- renaming and deleting


def rename(ws: Store, kind: str, old: str, new: str) -> list[Record]:
    """Rename item ``old`` of ``kind`` (every version of it) to ``new``; see :meth:`Store.rename`."""
    kind = kind_of(kind)
    name = find(ws, old, kind)[0].name
    renamed = ws.rename(kind, name, new)
    if kind == "lm":
        for rec in renamed:
            _name_lm_folder(rec)
    return renamed


def _name_lm_folder(rec: Record) -> None:
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


@dataclass(frozen=True)
class Deletion:
    """What :func:`delete` did: the records deleted and the dependants kept (and marked)."""

    deleted: list[Record]
    kept_dependants: list[Record]

    def to_dict(self) -> dict[str, Any]:
        return {"deleted": [_ref(r) for r in self.deleted], "kept_dependants": [_ref(r) for r in self.kept_dependants]}


def delete(ws: Store, kind: str, ref: str, *, force: bool = False) -> Deletion:
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
    graph = _graph(ws)
    users = dependants(ws, records, graph)
    if users and not force:
        shown = ", ".join(_what(u) for u in users[:10]) + (f" and {len(users) - 10} more" if len(users) > 10 else "")
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


def _mark_source_deleted(ws: Store, user_id: str, gone: Record) -> None:
    try:
        user = ws.get(user_id)
    except RecordNotFoundError:
        return
    note = {"id": gone.id, "kind": gone.kind, "name": gone.name, "version": gone.version}
    missing = [*(user.info.get("missing_sources") or []), note]
    info: dict[str, Any] = {"missing_sources": missing}
    state = user.info.get(CUSTOMIZATION_KEY)
    if isinstance(state, dict):  # a customization drops the resource and needs training again
        state = json.loads(json.dumps(state))
        before = json.dumps(state, sort_keys=True)
        if isinstance(state.get("corpora"), dict):
            state["corpora"] = {n: i for n, i in state["corpora"].items() if i != gone.id}
        if isinstance(state.get("audio"), dict):
            audio = {n: [i for i in ids if i != gone.id] for n, ids in state["audio"].items() if isinstance(ids, list)}
            state["audio"] = {n: ids for n, ids in audio.items() if ids}
        if json.dumps(state, sort_keys=True) != before:
            state["dirty"] = True
        if state.get("trained") == gone.id:
            state["trained"] = None
        info[CUSTOMIZATION_KEY] = state
    ws.note_event(user_id, "source-deleted", note, info=info)


# --------------------------------------------------------------------------- history and transcripts


def history(ws: Store, ref: str, kind: str | None = None) -> list[dict[str, Any]]:
    """What the workspace recorded about an item over time, oldest first: created, training,
    built, failed, renamed, transcript changes, sources deleted, deleted. ``ref`` is a name (also
    a former one, or a deleted item's), ``"name vN"`` or an id."""
    kind = kind_of(kind) if kind else None
    text = ref.strip() if isinstance(ref, str) else ""
    events = ws.events(text) if text else []  # an id, also of a deleted record
    if not events:
        events = ws.events(kind=kind, name=text)
    if not events and (m := _LABEL.match(text)):
        events = [e for e in ws.events(kind=kind, name=m["name"]) if e["version"] == int(m["version"])]
    if not events:
        find(ws, text, kind)  # raises, with suggestions, when nothing has that name
        return []
    kinds = sorted({e["kind"] for e in events})
    if len(kinds) > 1:
        raise WorkspaceError(f"{text!r} names a {' and a '.join(KINDS.get(k, k) for k in kinds)}: give the kind too")
    return [{**e, "text": event_text(e)} for e in events]


def event_text(event: Mapping[str, Any]) -> str:
    """One line about one history event."""
    d = event.get("detail") or {}
    kind = event.get("kind")
    label = f"{event['name']} v{event['version']}" if kind in ("lm", "am", "result") else event["name"]
    name = event["event"]
    if name == "created":
        if d.get("from_index"):
            return f"{label}: created (recorded before the history was kept)"
        again = kind in ("lm", "am", "result") and int(event.get("version") or 1) > 1
        return f"{label}: {'new version created' if again else 'created'}"
    if name == "training":
        return f"{label}: training started (job {d.get('job_id')})"
    if name == "built":
        return f"{label}: built, available"
    if name == "failed":
        return f"{label}: failed: {_short(d.get('message', ''), 100)}"
    if name == "renamed":
        return f"{label}: renamed from {d.get('from')!r} to {d.get('to')!r}"
    if name == "transcript":
        return f"{label}: transcript {_short(d.get('from') or '(none)', 40)!r} -> {_short(d.get('to') or '(none)', 40)!r}"
    if name == "role":
        return f"{label}: role {d.get('from')} -> {d.get('to')}"
    if name == "replaced":
        return f"{label}: file replaced by an upload of the same name"
    if name == "source-deleted":
        return f"{label}: its source {d.get('kind')} {d.get('name')!r} ({d.get('id')}) was deleted"
    if name == "deleted":
        return f"{label}: deleted"
    return f"{label}: {name}"


def set_transcript(ws: Store, audio: str, text: str | None) -> Record:
    """Set (or with ``""`` remove) the transcript of audio item ``audio`` (a name or id)."""
    return ws.set_transcript(_one(ws, audio, "audio").id, text)


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
            rec = _one(ws, str(ref), "lm", available=True)
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


def save_result(ws: Store, name: str, data: Mapping[str, Any], *, sources: Sequence[str] = (),
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


def add_files(ws: Store, kind: str, paths: Sequence[str | Path], *, transcript: str | None = None) -> list[Record]:
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


# --------------------------------------------------------------------------- exports


def _make_folder(folder: Path) -> None:
    """Create the folder an export goes in; an error says which folder and why."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the folder to write into: {describe_os_error(exc)}") from None


def _publish(path: Path, data: bytes | Path, overwrite: bool) -> Path:
    """Write ``data`` (bytes, or a finished file to move) to ``path`` atomically; never over an
    existing file unless ``overwrite``."""
    path = check_output_path(path, "export")
    if path.exists() and not overwrite:
        raise OutputError(f"{path} already exists: choose another path, or pass overwrite=True (--overwrite) "
                          "to replace it")
    _make_folder(path.parent)
    tmp = path.parent / f".{path.name}.{os.urandom(6).hex()}.part"
    try:
        if isinstance(data, Path):
            os.replace(data, tmp)
        else:
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)  # fails if the path was taken meanwhile: nothing is replaced
            except FileExistsError:
                raise OutputError(f"{path} already exists: choose another path, or pass overwrite=True "
                                  "(--overwrite) to replace it") from None
            except OSError:  # a file system without hard links
                if path.exists():
                    raise OutputError(f"{path} already exists: choose another path, or pass overwrite=True") from None
                os.replace(tmp, path)
    except OSError as exc:
        if isinstance(exc, OutputError):
            raise
        raise OutputError(f"cannot write {path}: {describe_os_error(exc)}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return path


def export_path(path: str | Path, fmt: str | None = None) -> Path:
    """The absolute path an export of ``fmt`` to ``path`` writes: a bundle's ends in ``.zip``
    (added when missing), a result's as given. Relative paths are taken from the current folder
    (a notebook kernel's), so messages name the file wherever it is."""
    out = Path(path).expanduser().absolute()
    if fmt == "bundle" and out.suffix.lower() != ".zip":
        out = out.with_name(out.name + ".zip")
    return out


def suggest_export_name(name: str, fmt: str) -> str:
    """A file name for exporting the item called ``name`` as ``fmt`` (``csv``, ``json``, ``html`` or
    ``bundle``): the name made safe, with the format's extension (``.zip`` for a bundle)."""
    from jupyter_speechcustom.io.safety import sanitize_filename

    stem = re.sub(r"\s+", "-", sanitize_filename(str(name), default="export").strip()) or "export"
    return f"{stem}.{'zip' if fmt == 'bundle' else fmt}"


def with_format_suffix(path: str, fmt: str) -> str:
    """``path`` with its export extension (``.csv``, ``.json``, ``.html``, ``.zip``) changed to
    ``fmt``'s; a path without one is returned as it is. ``report.html`` as a bundle is ``report.zip``,
    never ``report.html.zip``."""
    suffixes = (*(f".{f}" for f in EXPORT_FORMATS), ".zip")
    text = path.rstrip()
    for suffix in suffixes:
        if text.lower().endswith(suffix) and len(text) > len(suffix):
            return text[: -len(suffix)] + (".zip" if fmt == "bundle" else f".{fmt}")
    return path


def export_result(ws: Store, ref: str, path: str | Path, fmt: str | None = None, *, overwrite: bool = False) -> Path:
    """Write result ``ref`` (its latest version, or ``"name vN"``/an id) to ``path`` as ``fmt``.

    ``fmt`` (default: from the suffix): ``json`` (the result as stored), ``csv`` (a comparison:
    one row per utterance and system with its reference, hypothesis and errors; any other result:
    one row per field) or ``html`` (a comparison: the report with the WER table, chart and
    word-aligned transcripts; any other result: a table of its fields). Returns the file's
    absolute path.
    """
    rec = _one(ws, ref, "result")
    fmt = (fmt or Path(path).suffix.lstrip(".")).lower()
    if fmt not in EXPORT_FORMATS:
        what = f"unknown export format {fmt!r}" if fmt else f"no export format for {Path(path).name!r}"
        raise WorkspaceError(f"{what}: give a format ({', '.join(EXPORT_FORMATS)}; --format) or a path ending "
                             "in .csv, .json or .html")
    data = ws.result(rec.id)
    if fmt == "json":
        text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    elif fmt == "csv":
        text = result_csv(data)
    else:
        text = result_html(rec.label, data)
    return _publish(export_path(path), text.encode("utf-8"), overwrite)


def _is_comparison(data: Mapping[str, Any]) -> bool:
    return isinstance(data.get("utterances"), list) and isinstance(data.get("systems"), dict)


def _systems(data: Mapping[str, Any]) -> list[str]:
    return [str(s) for s in data["systems"]]


def _evaluations(data: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """Per system the evaluation of a comparison's transcripts; against the references when every
    utterance has one (True), else against the first system's transcripts (False)."""
    from jupyter_speechcustom.evaluation.metrics import evaluate

    systems = _systems(data)
    utterances = data["utterances"]
    hyps = {s: [str((u.get("hypotheses") or {}).get(s) or "") for u in utterances] for s in systems}
    refs = [u.get("reference") for u in utterances]
    if utterances and all(isinstance(r, str) and r.strip() for r in refs):
        return {s: evaluate([str(r) for r in refs], hyps[s]) for s in systems}, True
    first = systems[0]
    if not any(h.split() for h in hyps[first]):
        return {}, False
    return {s: evaluate(hyps[first], hyps[s]) for s in systems[1:] or systems}, False


def result_csv(data: Mapping[str, Any]) -> str:
    """A result as CSV text (see :func:`export_result`)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if _is_comparison(data) and data["utterances"]:
        evaluations, _ = _evaluations(data)  # without references: errors against the first system
        writer.writerow(["utterance", "title", "audio", "reference", "system", "hypothesis", "wer", "substitutions",
                         "deletions", "insertions", "reference_words"])
        for i, u in enumerate(data["utterances"]):
            for system in _systems(data):
                score = evaluations[system].utterances[i] if system in evaluations else None
                figures = ([f"{score.wer:.6g}", score.substitutions, score.deletions, score.insertions,
                            score.reference_words] if score is not None else ["", "", "", "", ""])
                writer.writerow([i + 1, u.get("title", ""), u.get("audio", ""), u.get("reference") or "",
                                 system, (u.get("hypotheses") or {}).get(system, ""), *figures])
        return out.getvalue()
    writer.writerow(["field", "value"])
    for key, value in _flatten(data):
        writer.writerow([key, value])
    return out.getvalue()


def _flatten(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, Mapping):
        rows = []
        for k, v in value.items():
            rows += _flatten(v, f"{prefix}.{k}" if prefix else str(k))
        return rows or [(prefix, "")]
    if isinstance(value, list):
        rows = []
        for i, v in enumerate(value):
            rows += _flatten(v, f"{prefix}[{i}]")
        return rows or [(prefix, "")]
    return [(prefix, "" if value is None else value)]


def result_html(title: str, data: Mapping[str, Any]) -> str:
    """A result as a self-contained HTML page (see :func:`export_result`)."""
    from jupyter_speechcustom.evaluation import diffview

    if _is_comparison(data) and data["utterances"]:
        from jupyter_speechcustom.evaluation.report import comparison_report

        evaluations, against_refs = _evaluations(data)
        if evaluations:
            notes = [f"Test set: {data.get('test_set', '')}, {len(data['utterances'])} utterances."]
            weights = data.get("weights")
            if isinstance(weights, dict) and weights:
                notes.append("Decoding weights: " + ", ".join(f"{k} {v}" for k, v in weights.items()) + ".")
            if not against_refs:
                notes.append(f"Some utterances have no reference: each system is compared with "
                             f"{_systems(data)[0]}'s transcripts instead.")
            audio = [str(u.get("audio") or u.get("title") or "") for u in data["utterances"]]
            page = comparison_report(title, evaluations, audio=audio, notes=notes,
                                     max_utterances=len(data["utterances"]))
            hits = data.get("term_hits")
            if isinstance(hits, dict) and hits:
                page = page.replace("</body></html>", "<h2>Custom words recognized</h2>"
                                    + diffview.term_hits_html(hits) + "</body></html>")
            return page
    rows = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(str(v))}</td></tr>" for k, v in _flatten(data))
    return ("<!doctype html><html><head><meta charset='utf-8'>"
            f"<title>{html.escape(title)}</title>{diffview.style_tag()}</head><body class='sc-root'>"
            f"<h1>{html.escape(title)}</h1><table class='sc-table'><thead><tr><th>field</th><th>value</th></tr>"
            f"</thead><tbody>{rows}</tbody></table></body></html>")


def export_bundle(
    ws: Store,
    ref: str,
    path: str | Path,
    *,
    kind: str | None = None,
    results: Sequence[str] = (),
    overwrite: bool = False,
) -> Path:
    """Write a customization bundle (``.zip``, see :mod:`~jupyter_speechcustom.store.bundle`) of
    the custom LM or AM ``ref`` (its latest available version), with its custom words and the
    ``results`` named; ``.zip`` is added to ``path`` when missing. Never over an existing file
    unless ``overwrite``. Returns the bundle's absolute path."""
    from jupyter_speechcustom.store.bundle import export_bundle as write_bundle

    check_list(results, "results", "result names")
    if kind is None:
        found = [r for r in find(ws, ref) if r.kind in ("lm", "am")]
        if not found:
            raise WorkspaceError(f"{ref!r} is not a language or acoustic model: a bundle holds a custom model")
        kind = found[0].kind
    kind = kind_of(kind)
    if kind not in ("lm", "am"):
        raise WorkspaceError(f"a bundle holds a custom language or acoustic model, not a {KINDS[kind]}")
    model = _one(ws, ref, kind, available=True)
    if kind == "lm":
        _name_lm_folder(model)  # renamed before its lm.json followed renames
    result_ids = [_one(ws, r, "result").id for r in results]
    out = check_output_path(export_path(path, "bundle"), "bundle")
    if out.exists() and not overwrite:
        raise OutputError(f"{out} already exists: choose another path, or pass overwrite=True (--overwrite) "
                          "to replace it")
    _make_folder(out.parent)
    staging = out.parent / f".{out.stem}.{os.urandom(6).hex()}.zip"
    try:
        written = write_bundle(ws, staging, lm_id=model.id if kind == "lm" else None,
                               am_id=model.id if kind == "am" else None, result_ids=result_ids)
        return _publish(out, written, overwrite)
    finally:
        staging.unlink(missing_ok=True)


# --------------------------------------------------------------------------- text for people


_HEADINGS = {"corpus": "Corpora", "words": "Word lists", "audio": "Audio", "lm": "Language models",
             "am": "Acoustic models", "result": "Results"}


#: Longest label shown in a listing's column; longer ones end in "…" (``item`` shows them whole).
LABEL_COLUMN = 48


def format_items(items: Sequence[Mapping[str, Any]]) -> str:
    """Items (:func:`list_items`) as text: one block per kind, one line per item."""
    lines: list[str] = []
    for kind, heading in _HEADINGS.items():
        rows = [i for i in items if i["kind"] == kind]
        if not rows:
            continue
        if lines:
            lines.append("")
        lines.append(f"{heading} ({len(rows)})")
        labels = [r["label"] if len(r["label"]) <= LABEL_COLUMN else r["label"][: LABEL_COLUMN - 1] + "…"
                  for r in rows]
        width = max(len(label) for label in labels)
        for r, label in zip(rows, labels):
            used = f"  [used by {_refs_text(r['used_by'])}]" if r["used_by"] else ""
            lines.append(f"  {label:<{width}}  {r['id']:<12}  {r['summary']}{used}")
    return "\n".join(lines)


def format_item(entry: Mapping[str, Any]) -> str:
    """One item (:func:`item`) as text, with its sources and dependants."""
    lines = [f"{KINDS.get(entry['kind'], entry['kind'])} {entry['label']} ({entry['id']})",
             f"  status:   {entry['status']}", f"  summary:  {entry['summary']}"]
    if entry.get("base"):
        lines.append(f"  base:     {entry['base']['name']} ({entry['base']['fingerprint']})")
    if entry.get("path"):
        lines.append(f"  path:     {entry['path']}")
    lines.append(f"  created:  {entry['created']}   updated: {entry['updated']}")
    if entry.get("sources"):
        lines.append(f"  made from: {_refs_text(entry['sources'])}")
    if entry.get("used_by"):
        lines.append(f"  used by:  {_refs_text(entry['used_by'])}")
    missing = entry.get("info", {}).get("missing_sources") or []
    for m in missing:
        lines.append(f"  deleted source: {m.get('kind')} {m.get('name')!r} ({m.get('id')})")
    if entry.get("message"):
        lines.append(f"  message:  {entry['message']}")
    transcript = entry.get("info", {}).get("transcript") if entry["kind"] == "audio" else None
    if transcript:
        lines.append(f"  transcript: {transcript}")
    return "\n".join(lines)


def format_history(events: Sequence[Mapping[str, Any]]) -> str:
    """History events (:func:`history`) as text, one line each."""
    return "\n".join(f"{e['at']}  {e['record_id']:<12}  {e['text']}" for e in events)
