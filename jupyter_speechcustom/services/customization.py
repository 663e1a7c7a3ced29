"""Customizations as the cloud services keep them: one id that gathers resources and is trained again.

IBM Watson Speech to Text's customization model is a *custom language model* (or *custom
acoustic model*) with a stable id: corpora, words and audio are added to it, it is trained, more
resources are added, it is trained again. A workspace keeps instead immutable model versions,
each trained once from chosen resources. A customization bridges the two: it is a ``pending``
model record of its own (its *anchor*) with a row of the index's customization tables
(:mod:`jupyter_speechcustom.store.customizations`), which keep its description, its named resources
(workspace records) and the id of the last version trained from them. Its status is derived from
that version: ``pending`` (no resources), ``ready`` (resources added since the last training, or
never trained), ``training``, ``available`` or ``failed``.

Each change of a customization's state is one transaction of the store, which also refuses it while
the customization is being trained. A file lock in the workspace (:data:`LOCK_FILE`) serializes, across
threads and processes (servers, kernels), only what checks and then acts in several transactions:
adding a corpus or audio (the name is free, the file is stored, the resource is named), training (not
being trained, the job is submitted, the new version is noted) and deleting a customization (not being
trained, the anchor and its resources are deleted). Words and taking a resource out need no lock: a
training that reads the resources before such a change leaves the customization in need of training.

These plain functions are what the Watson-compatible HTTP API of
:mod:`jupyter_speechcustom.server` calls; they work the same from Python.
"""

from __future__ import annotations

import fcntl
import json
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from jupyter_speechcustom.errors import CorpusError, check_list
from jupyter_speechcustom.store.workspace import ModelInUseError, Record, RecordNotFoundError, WorkspaceError

if TYPE_CHECKING:
    from jupyter_speechcustom.asr.models import BaseModel
    from jupyter_speechcustom.jobs.runner import Job
    from jupyter_speechcustom.services.workspace import Workspace

__all__ = [
    "ARCHIVE_TYPES",
    "add_customization_audio",
    "add_customization_corpus",
    "add_customization_words",
    "create_customization",
    "customization",
    "customization_status",
    "customizations",
    "delete_customization",
    "delete_customization_audio",
    "delete_customization_corpus",
    "delete_customization_word",
    "train_customization",
    "trained_model_id",
]

#: Content types of audio archives (added with ``add_audio_archive``).
ARCHIVE_TYPES = frozenset({"application/zip", "application/x-tar", "application/gzip", "application/x-gzip",
                           "application/x-zip-compressed"})
_KINDS = {"language": "lm", "acoustic": "am"}
_LOCK = threading.RLock()  # check-then-act on customizations within this process
_HELD = threading.local()  # how deep this thread is in _locked (the file lock is taken once)
#: The file whose lock serializes customization changes that span several transactions across processes.
LOCK_FILE = ".customizations.lock"


@contextmanager
def _locked(ws: Workspace) -> Iterator[None]:
    """Check and then change customizations alone: across the threads of this process and across processes
    that share the workspace (two servers, a server and a kernel), so that two trainings of one
    customization never both start and one is never deleted or given a resource as it starts training."""
    with _LOCK:
        depth = getattr(_HELD, "depth", 0)
        if depth:
            _HELD.depth = depth + 1
            try:
                yield
            finally:
                _HELD.depth = depth
            return
        with (ws.path / LOCK_FILE).open("a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            _HELD.depth = 1
            try:
                yield
            finally:
                _HELD.depth = 0
                fcntl.flock(handle, fcntl.LOCK_UN)


def _state(ws: Workspace, rec: Record) -> dict[str, Any]:
    state = ws.customization_state(rec.id)
    if state is None:
        raise RecordNotFoundError(f"{rec.id} is a custom model, not a customization")
    return state


def customization(ws: Workspace, customization_id: str, kind: str) -> tuple[Record, dict[str, Any]]:
    """The anchor record and state of customization ``customization_id`` (``kind``: language or acoustic)."""
    try:
        rec = ws.get(customization_id, _KINDS[kind])
        return rec, _state(ws, rec)
    except RecordNotFoundError:
        raise RecordNotFoundError(f"Invalid customization_id: no {kind} customization {customization_id!r}") from None


def customizations(ws: Workspace, kind: str) -> list[Record]:
    """The customizations of ``kind``, oldest first."""
    return ws.customizations(kind)


def create_customization(ws: Workspace, kind: str, base: BaseModel | dict[str, str], name: str,
                         description: str = "") -> Record:
    """A new, empty customization of ``kind`` (``language`` or ``acoustic``) on ``base``."""
    return ws.create_customization(kind, base, name, description)


def trained_model_id(ws: Workspace, rec: Record) -> str | None:
    """The workspace model the customization's last training made (None if never trained or deleted)."""
    trained = _state(ws, rec).get("trained")
    if not trained:
        return None
    try:
        ws.get(trained)
    except RecordNotFoundError:
        return None
    return str(trained)


def customization_status(ws: Workspace, rec: Record) -> str:
    """IBM's status: pending, ready, training, available or failed."""
    state = _state(ws, rec)
    try:
        model = ws.get(state["trained"]) if state.get("trained") else None
    except RecordNotFoundError:
        model = None
    if model is not None:
        status = model.status
        if status in ("training", "failed"):
            return status
        if status == "available" and not state.get("dirty"):
            return "available"
    has_resources = bool(state.get("corpora") or state.get("words") or state.get("audio"))
    return "ready" if has_resources else "pending"


def _check_not_training(ws: Workspace, rec: Record) -> None:
    if customization_status(ws, rec) == "training":
        raise ModelInUseError(f"customization {rec.id} is being trained: wait until it is available")


def add_customization_corpus(ws: Workspace, customization_id: str, name: str, data: bytes,
                             allow_overwrite: bool = False) -> Record:
    """Add (or with ``allow_overwrite`` replace) corpus ``name``; returns its workspace record."""
    with _locked(ws):
        rec, state = customization(ws, customization_id, "language")
        _check_not_training(ws, rec)
        if name in state["corpora"] and not allow_overwrite:
            raise ModelInUseError(f"corpus {name!r} already exists in customization {rec.id}: "
                                  "pass allow_overwrite=true to replace it")
        corpus = ws.add_corpus(bytes(data), name=f"{name}.txt" if "." not in name else name)
        old = ws.set_customization_resource(rec.id, "corpora", name, [corpus.id])
    for corpus_id in old:
        _delete_quietly(ws, corpus_id)
    return corpus


def _remove_resource(ws: Workspace, customization_id: str, kind: str, field: str, what: str, name: str) -> list[str]:
    """Take resource ``name`` out of a customization (it then needs training again); its record ids."""
    rec, _ = customization(ws, customization_id, kind)
    removed = ws.remove_customization_resource(rec.id, field, name)  # refused while it is being trained
    if removed is None:
        raise RecordNotFoundError(f"no {what} {name!r} in customization {rec.id}")
    return removed


def delete_customization_corpus(ws: Workspace, customization_id: str, name: str) -> None:
    for corpus_id in _remove_resource(ws, customization_id, "language", "corpora", "corpus", name):
        _delete_quietly(ws, corpus_id)


def add_customization_words(ws: Workspace, customization_id: str, words: Sequence[dict[str, Any]]) -> list[str]:
    """Add or replace custom words (``{"word", "sounds_like": [...], "display_as"}``); checked first."""
    from jupyter_speechcustom.text.words import CustomWord

    check_list(words, "words", "word objects", fix='pass [{{"word": {}}}]')
    checked = {}
    for item in words:
        if not isinstance(item, dict) or not isinstance(item.get("word"), str):
            raise CorpusError(f"each word needs a 'word' string, got {str(item)[:80]}")
        sounds = item.get("sounds_like") or []
        if isinstance(sounds, str) or not all(isinstance(s, str) for s in sounds):
            raise CorpusError(f"sounds_like of {item['word']!r} must be a list of strings")
        CustomWord.create(item["word"], sounds, item.get("display_as"))  # raises CorpusError when unusable
        checked[item["word"]] = {"sounds_like": list(sounds), "display_as": item.get("display_as") or None}
    rec, _ = customization(ws, customization_id, "language")
    ws.set_customization_words(rec.id, checked)  # refused while it is being trained
    return list(checked)


def delete_customization_word(ws: Workspace, customization_id: str, word: str) -> None:
    _remove_resource(ws, customization_id, "language", "words", "word", word)


def add_customization_audio(ws: Workspace, customization_id: str, name: str, data: bytes, *,
                            archive: bool = False, transcript: str | None = None,
                            allow_overwrite: bool = False) -> list[Record]:
    """Add audio resource ``name``: one file, or with ``archive`` a zip/tar of them (transcripts beside)."""
    with _locked(ws):
        rec, state = customization(ws, customization_id, "acoustic")
        _check_not_training(ws, rec)
        if name in state["audio"] and not allow_overwrite:
            raise ModelInUseError(f"audio {name!r} already exists in customization {rec.id}: "
                                  "pass allow_overwrite=true to replace it")
        if archive:
            records = ws.add_audio_archive(bytes(data), name=name, on_duplicate="keep")
        else:
            records = [ws.add_audio(bytes(data), name=name, transcript=transcript, on_duplicate="keep")]
        old = ws.set_customization_resource(rec.id, "audio", name, [r.id for r in records])
    for audio_id in old:
        _delete_quietly(ws, audio_id)
    return records


def delete_customization_audio(ws: Workspace, customization_id: str, name: str) -> None:
    for audio_id in _remove_resource(ws, customization_id, "acoustic", "audio", "audio resource", name):
        _delete_quietly(ws, audio_id)


def train_customization(ws: Workspace, customization_id: str, kind: str, base: BaseModel, *,
                        language_customization_id: str | None = None, **options: Any) -> Job:
    """Train a new version of the customization as a workspace job.

    Language: a custom LM from its corpora and words. Acoustic: lightly supervised with the
    trained LM of ``language_customization_id`` when given, else supervised when every audio
    file has a transcript, else unsupervised. ``options`` go to the workspace's build or training.
    """
    with _locked(ws):
        rec, state = customization(ws, customization_id, kind)
        _check_not_training(ws, rec)
        if kind == "language":
            if not state["corpora"] and not state["words"]:
                raise WorkspaceError(f"customization {rec.id} has no corpora or words: add some before training")
            words_id = None
            if state["words"]:
                payload = [{"word": w, **v} for w, v in sorted(state["words"].items())]
                words_id = ws.add_words(json.dumps(payload).encode(), name=f"{rec.id}-words.json").id
            job = ws.build_language_model(base, list(state["corpora"].values()), words_id, name=rec.name, **options)
        else:
            audio_ids = [a for ids in state["audio"].values() for a in ids]
            if not audio_ids:
                raise WorkspaceError(f"customization {rec.id} has no audio: add some before training")
            lm_id = None
            if language_customization_id:
                lm_rec, _ = customization(ws, language_customization_id, "language")
                lm_id = trained_model_id(ws, lm_rec)
                if lm_id is None or ws.get(lm_id).status != "available":
                    raise WorkspaceError(f"language customization {lm_rec.id} is not trained: train it first")
                mode = "lightly-supervised"
            elif all(ws.get(a).info.get("transcript") for a in audio_ids):
                mode = "supervised"
            else:
                mode = "unsupervised"
            job = ws.train_acoustic_model(base, audio_ids, mode=mode, lm_id=lm_id, name=rec.name, **options)
        # Words changed since they were read above leave the customization in need of training (dirty).
        previous = ws.mark_customization_trained(rec.id, job.model_id, job.id, trained_from=state)
    if previous:
        _delete_quietly(ws, previous)
    return job


def delete_customization(ws: Workspace, customization_id: str, kind: str) -> None:
    """Delete the customization, its trained model and its resources (refused while training)."""
    with _locked(ws):
        rec, state = customization(ws, customization_id, kind)
        _check_not_training(ws, rec)
        owned = [state.get("trained"), *state.get("corpora", {}).values()]
        owned += [a for ids in state.get("audio", {}).values() for a in ids]
        ws.delete(rec.id)  # its customization rows go with it
    for record_id in owned:
        if record_id:
            _delete_quietly(ws, record_id)


def _delete_quietly(ws: Workspace, record_id: str) -> None:
    """Delete a record the customization no longer needs; one a running job reads is kept."""
    try:
        ws.delete(record_id)
    except (RecordNotFoundError, ModelInUseError):
        pass
