"""The workspace users open: the store, plus the work that runs on what it holds.

:class:`Workspace` holds a :class:`~jupyter_speechcustom.store.workspace.Store` (records, files,
statuses, job state) and offers its methods, with the services that run as its jobs: building custom LMs,
pseudo-labelling and training custom AMs, and comparing systems. Every job kind is registered
here, so :meth:`Store.rerun` can rebuild any of them from its saved parameters after a restart.
The store gives records and paths; loading models (NeMo, KenLM) from them happens here
(:meth:`Workspace.language_model`, :meth:`Workspace.acoustic_model`, :meth:`Workspace.load_base_model`).
The Studio, the CLI and plain Python all go through these methods.
"""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jupyter_speechcustom.constants import MAX_ARCHIVE_BYTES, MAX_ARCHIVE_FILES, MAX_UPLOAD_BYTES
from jupyter_speechcustom.errors import BaseModelMismatchError, check_list
from jupyter_speechcustom.io.files import file_fingerprint
from jupyter_speechcustom.io.safety import warn_untrusted_nemo
from jupyter_speechcustom.jobs.runner import JobFunction, JobRunner, ProgressCallback, raise_if_cancelled
from jupyter_speechcustom.services.systems import System
from jupyter_speechcustom.store.index import FOLDERS
from jupyter_speechcustom.store.intake import SEGMENTS_MANIFEST
from jupyter_speechcustom.store.workspace import (
    AudioRoleError,
    Record,
    Store,
    StoreAPI,
    WorkspaceError,
    audio_role,
    check_json,
    register_job_kind,
)

if TYPE_CHECKING:
    from jupyter_speechcustom.am.acoustic_model import EpochRecord
    from jupyter_speechcustom.asr.decoding import DecodingWeights
    from jupyter_speechcustom.asr.models import BaseModel
    from jupyter_speechcustom.io.manifest import Utterance
    from jupyter_speechcustom.jobs.runner import Job
    from jupyter_speechcustom.lm.language_model import CustomLanguageModel
    from jupyter_speechcustom.services.compare import AcousticCache

__all__ = [
    "JOB_KINDS",
    "Workspace",
    "base_ref",
    "check_acoustic_model_options",
    "check_language_model_options",
    "load_acoustic_model",
    "load_base_from_ref",
    "load_language_model",
    "prepare_segments",
    "segment_entries",
]

#: The job kinds a workspace runs (each can be re-run with :meth:`Store.rerun`).
JOB_KINDS = ("build_language_model", "pseudo_label", "train_acoustic_model", "compare")

_LM_OPTIONS = frozenset({"order", "general_text", "general_weight", "number_variants"})


def check_language_model_options(options: Mapping[str, Any]) -> None:
    """Refuse options of :meth:`Workspace.build_language_model` it does not take (:class:`TypeError`) or
    whose values it cannot build with (:class:`~jupyter_speechcustom.errors.InvalidOptionError`), before
    any job starts."""
    from jupyter_speechcustom.lm.language_model import check_build_options

    unknown = sorted(set(options) - _LM_OPTIONS)
    if unknown:
        raise TypeError(f"unknown option(s) {unknown}; build_language_model takes {sorted(_LM_OPTIONS)}")
    check_build_options(**{key: value for key, value in options.items() if key != "general_text"})


#: Arguments of :func:`~jupyter_speechcustom.am.acoustic_model.train_acoustic_model` that the
#: workspace's training job gives itself, so not options.
_AM_ARGUMENTS = frozenset({"base", "audio", "out_path", "mode", "lm", "pseudo_labels", "progress", "on_epoch",
                           "cancel"})


def check_acoustic_model_options(options: Mapping[str, Any], mode: str | None = None) -> None:
    """Refuse options of :meth:`Workspace.train_acoustic_model` it does not take (:class:`TypeError`) or
    impossible values of them and of ``mode``
    (:class:`~jupyter_speechcustom.errors.InvalidOptionError`), before any job starts."""
    import inspect

    from jupyter_speechcustom.am.acoustic_model import check_training_options, train_acoustic_model

    taken = set(inspect.signature(train_acoustic_model).parameters) - _AM_ARGUMENTS
    unknown = sorted(set(options) - taken)
    if unknown:
        raise TypeError(f"unknown option(s) {unknown}; train_acoustic_model takes {sorted(taken)}")
    checked = inspect.signature(check_training_options).parameters
    check_training_options(mode=mode, **{key: value for key, value in options.items() if key in checked})


_ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")


def _is_archive(path: Path) -> bool:
    return path.name.lower().endswith(_ARCHIVE_SUFFIXES)


def base_ref(base: BaseModel) -> dict[str, str]:
    """How a job's parameters name its base model: name, file and fingerprint."""
    return {"name": base.name, "path": str(base.path), "fingerprint": base.fingerprint}


def load_base_from_ref(ref: Mapping[str, Any]) -> BaseModel:
    """The base model of a saved job: from its file if unchanged, else by name; same fingerprint."""
    from jupyter_speechcustom.asr.models import load_base_model

    path = Path(ref.get("path") or "")
    if ref.get("path") and path.is_file() and file_fingerprint(path) == ref["fingerprint"]:
        return load_base_model(path)
    base = load_base_model(ref["name"])
    if base.fingerprint != ref["fingerprint"]:
        msg = (
            f"base model {ref['name']!r} has changed (fingerprint {base.fingerprint}, the job used "
            f"{ref['fingerprint']}): restore that model file, or start a new job on the current one"
        )
        raise BaseModelMismatchError(msg)
    return base


def load_language_model(ws: StoreAPI, lm_id: str) -> CustomLanguageModel:
    """Custom LM ``lm_id`` of workspace ``ws`` (available), loaded for decoding."""
    from jupyter_speechcustom.lm.language_model import CustomLanguageModel

    rec = ws.available_model(lm_id, "lm")
    assert rec.path is not None
    return CustomLanguageModel.load(rec.path)


def load_acoustic_model(ws: StoreAPI, am_id: str) -> BaseModel:
    """Custom AM ``am_id`` of workspace ``ws`` (available), loaded (it is a base model for recognition)."""
    from jupyter_speechcustom.asr.models import load_base_model

    rec = ws.available_model(am_id, "am")
    assert rec.path is not None
    return load_base_model(rec.path)


class Workspace(StoreAPI):
    """Open (or create) the workspace in folder ``path``; see :class:`Store` for what it keeps.

    A workspace holds its :class:`Store` (``store``) and offers the store's methods
    (:class:`StoreAPI`). Besides, it loads the models it keeps and runs the long work on them
    as jobs: each job method here returns a :class:`~jupyter_speechcustom.jobs.runner.Job` at once.

    Args:
        path: the workspace folder; created when missing. An existing folder must be empty
            or already a workspace.
        runner: the job runner; by default the process-wide one (one heavy job at a time).
        max_upload_bytes, max_archive_bytes, max_archive_files: the store's limits (see :class:`Store`).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        runner: JobRunner | None = None,
        max_upload_bytes: int = MAX_UPLOAD_BYTES,
        max_archive_bytes: int = MAX_ARCHIVE_BYTES,
        max_archive_files: int = MAX_ARCHIVE_FILES,
    ) -> None:
        self.store = Store(path, runner=runner, max_upload_bytes=max_upload_bytes,
                           max_archive_bytes=max_archive_bytes, max_archive_files=max_archive_files)
        self._offer_parts_of(self.store)

    def language_model(self, lm_id: str) -> CustomLanguageModel:
        """An available custom LM, ready for decoding."""
        return load_language_model(self, lm_id)

    def acoustic_model(self, am_id: str) -> BaseModel:
        """An available custom AM, loaded (it is a base model for recognition)."""
        return load_acoustic_model(self, am_id)

    def load_base_model(self, name_or_path: str | Path = "demo") -> BaseModel:
        """Load a base model and note it in the workspace. A ``.nemo`` file from outside the
        workspace is loaded with a warning: it can contain pickled code."""
        from jupyter_speechcustom.asr.models import load_base_model

        candidate = Path(str(name_or_path)).expanduser()
        if candidate.is_file() and not candidate.resolve().is_relative_to(self.path):
            warn_untrusted_nemo(candidate)
        base = load_base_model(name_or_path)
        self.note_base(base)
        return base

    def add_audio_files(
        self,
        paths: Sequence[str | Path],
        *,
        transcript: str | None = None,
        role: str | None = None,
        on_duplicate: str = "error",
    ) -> list[Record]:
        """Add audio files and zip/tar archives of them from ``paths`` (checked first), as the Studio
        adds an upload: :meth:`add_audio` for a file (``transcript`` only with one file),
        :meth:`add_audio_archive` for an archive. ``role`` and ``on_duplicate`` apply to each.

        Duplicate names are looked for across every path before anything is stored, so with
        ``on_duplicate="error"`` a clash stores nothing.
        """
        from jupyter_speechcustom.store.index import DuplicateNameError, check_on_duplicate, check_role

        check_list(paths, "paths", "audio files")
        if role is not None:
            check_role(role)
        check_on_duplicate(on_duplicate)
        files = [Path(p).expanduser() for p in paths]
        if not files:
            raise WorkspaceError("give at least one audio file to add")
        for path in files:
            if not path.is_file():
                raise WorkspaceError(f"{path} is not a file: check the path")
        archives = [_is_archive(path) for path in files]
        if transcript is not None and (len(files) != 1 or archives[0]):
            raise WorkspaceError("a transcript goes with one audio file: add the files one at a time")
        if on_duplicate == "error":
            names = [n for path, archive in zip(files, archives)
                     for n in (self.archive_audio_names(path) if archive else [path.name])]
            taken = list(dict.fromkeys(self.duplicates("audio", names)))
            if taken:
                shown = ", ".join(taken[:10]) + (f" and {len(taken) - 10} more" if len(taken) > 10 else "")
                raise DuplicateNameError(
                    f"{len(taken)} audio file(s) already in the workspace under the same name: {shown}. Choose "
                    "on_duplicate='replace' (replace the stored file), 'keep' (keep both, the new one under a "
                    "numbered name) or 'skip' (leave the new one out)", taken)
        added: list[Record] = []
        for path, archive in zip(files, archives):
            if archive:
                added.extend(self.add_audio_archive(path, role=role, on_duplicate=on_duplicate))
            else:
                added.append(self.add_audio(path, transcript=transcript, role=role, on_duplicate=on_duplicate))
        return added

    def audio_manifest(self, audio_ids: Sequence[str]) -> list[dict[str, Any]]:
        """NeMo manifest entries (``audio_filepath``, ``duration``, ``text`` where transcribed) of stored audio."""
        check_list(audio_ids, "audio_ids", "audio ids")
        return _audio_entries(self, audio_ids)

    def _refuse_test_audio(self, audio_ids: Sequence[str], doing: str) -> None:
        test = [rec.name for rec in (self.get(a, "audio") for a in audio_ids) if audio_role(rec) == "test"]
        if test:
            shown = ", ".join(test[:5]) + (f" and {len(test) - 5} more" if len(test) > 5 else "")
            raise AudioRoleError(f"{len(test)} of the {len(audio_ids)} audio files chosen for {doing} are test audio "
                                 f"({shown}): test audio scores models and is never trained on. Leave them out, or "
                                 "give them the train role first (ws.set_role(ids, 'train'))")

    def build_language_model(
        self,
        base: BaseModel,
        corpus_ids: Sequence[str],
        words_id: str | None = None,
        *,
        name: str = "custom-lm",
        **options: Any,
    ) -> Job:
        """Build a custom LM from stored corpora and custom words in the background.

        Makes a new version of LM ``name`` (status ``training``), runs
        :func:`~jupyter_speechcustom.lm.language_model.build_language_model` into a staging
        folder and, when it succeeds, renames it into place and marks it ``available``.
        ``options``: ``order``, ``general_text``, ``general_weight``, ``number_variants``. The job's result is the
        model's :class:`Record` (open it with :meth:`language_model`).
        """
        check_list(corpus_ids, "corpus_ids", "corpus ids (ws.add_corpus)")
        check_language_model_options(options)
        if "general_text" in options and options["general_text"] is not None:
            options["general_text"] = str(options["general_text"])
        check_json(options, "language model options")
        if not corpus_ids and not words_id:
            raise ValueError("nothing to build from: pass corpus ids (ws.add_corpus) and/or a words id (ws.add_words)")
        model = self.create_language_model(base, name, corpus_ids, words_id)
        params = {"base": base_ref(base), "corpus_ids": list(corpus_ids), "words_id": words_id, "name": model.name,
                  "options": options}
        fn = _language_model_job(self, params, model, base=base)
        return self.submit(fn, kind="build_language_model", params=params, model_id=model.id,
                           uses=[*corpus_ids, *filter(None, [words_id])])

    def pseudo_label(
        self, base: BaseModel, audio_ids: Sequence[str], *, lm_id: str | None = None, threshold: float | None = None
    ) -> Job:
        """Transcribe stored audio for review before lightly supervised (with ``lm_id``) or
        unsupervised training.

        The audio is converted and cut into training segments first, kept as a ``segments`` record
        made from the audio (:func:`prepare_segments`; labelling the same, unchanged audio again
        reuses it), so that a reviewed table can be trained on after a restart and training does
        not prepare the audio again. The job's result is ``{"labels": [PseudoLabel as dict],
        "names": {segment: audio name}, "segments_id": ..., "skipped": [[file, reason], ...]}``.
        Test audio is refused, as for :meth:`train_acoustic_model`. ``threshold``: the confidence bar
        (None: calibrated on this audio, :func:`~jupyter_speechcustom.am.acoustic_model.calibrated_threshold`).
        """
        check_list(audio_ids, "audio_ids", "audio ids (ws.add_audio)")
        if not audio_ids:
            raise ValueError("nothing to label: pass audio ids (ws.add_audio or ws.add_audio_archive)")
        self._refuse_test_audio(audio_ids, "pseudo-labelling (to train on)")
        params = {"base": base_ref(base), "audio_ids": list(audio_ids), "lm_id": lm_id,
                  "threshold": None if threshold is None else float(threshold)}
        return self.submit(_label_job(self, params, None, base=base), kind="pseudo_label", params=params,
                           uses=[*audio_ids, *filter(None, [lm_id])])

    def train_acoustic_model(
        self,
        base: BaseModel,
        audio_ids: Sequence[str],
        *,
        mode: str,
        lm_id: str | None = None,
        name: str = "custom-am",
        labels: Sequence[Mapping[str, Any]] | None = None,
        on_epoch: Callable[[EpochRecord], None] | None = None,
        **options: Any,
    ) -> Job:
        """Fine-tune ``base`` on stored audio in the background (a new version of AM ``name``).

        Runs :func:`~jupyter_speechcustom.am.acoustic_model.train_acoustic_model` on the audio
        ``audio_ids`` (with their stored transcripts) in ``mode``; ``lm_id`` names a custom LM
        (lightly supervised training); ``labels`` is a reviewed pseudo-label table (from
        :meth:`pseudo_label`) to train on instead of labelling again. ``on_epoch`` is called
        from the job's thread with each epoch's record. ``options`` must be JSON values, so the
        job can be re-run. The job's result is the training's summary with its per-epoch
        history: why it stopped (``stop_reason``, ``stop_message``), the epoch saved (the best by
        dev WER) and ``recommended`` (``"base"``, with ``recommended_reason``, when the custom
        model is worse than the base model; it is available all the same, to inspect). The
        summary is also kept in the model's record (``info["training"]``).

        Test audio (role ``"test"``) is refused (:class:`AudioRoleError`): it scores models and is
        never trained on. Without a ``dev`` option, the workspace's transcribed ``"dev"`` audio
        (other than ``audio_ids``) is the dev set, when it has some.
        """
        check_list(audio_ids, "audio_ids", "audio ids (ws.add_audio)")
        check_acoustic_model_options(options, mode)
        check_json(options, "acoustic model options")
        if not audio_ids:
            raise ValueError("nothing to train on: pass audio ids (ws.add_audio or ws.add_audio_archive)")
        self._refuse_test_audio(audio_ids, "training")
        if "dev" not in options:  # the workspace's own dev audio picks the epoch, when it has some
            chosen = set(audio_ids)
            dev = [r.id for r in self.audio("dev") if r.info.get("transcript") and r.id not in chosen]
            if dev:
                options = {**options, "dev": _audio_entries(self, dev)}
        if mode == "supervised":  # refused now, not once the job has started
            untranscribed = [rec.name for rec in (self.get(a, "audio") for a in audio_ids)
                             if not rec.info.get("transcript")]
            if untranscribed:
                shown = ", ".join(untranscribed[:5]) + (f" and {len(untranscribed) - 5} more"
                                                         if len(untranscribed) > 5 else "")
                msg = (f"supervised training needs a transcript for every recording, and {len(untranscribed)} of "
                       f"the {len(audio_ids)} selected have none: {shown}. Add their transcripts, leave them out, "
                       "or train lightly supervised")
                raise WorkspaceError(msg)
        if lm_id is not None:
            lm_rec = self.get(lm_id, "lm")
            if lm_rec.status != "available":
                raise WorkspaceError(f"language model {lm_id} is {lm_rec.status}, not available: build it first")
            lm_ref = lm_rec.base
            if lm_ref and lm_ref["fingerprint"] != base.family_fingerprint:
                msg = (
                    f"language model {lm_id} was built for base model {lm_ref['name']!r} (fingerprint "
                    f"{lm_ref['fingerprint']}), not for {base.name!r} (fingerprint {base.family_fingerprint}): "
                    "build an LM on this base model, or fine-tune the LM's base"
                )
                raise BaseModelMismatchError(msg)
        segment_ids = self._segments_of_labels(labels or [])
        model = self.create_acoustic_model(base, name, audio_ids)
        params = {"base": base_ref(base), "audio_ids": list(audio_ids), "mode": mode, "lm_id": lm_id,
                  "name": model.name, "labels": [dict(r) for r in labels] if labels else None, "options": options}
        check_json(params, "acoustic model parameters")
        fn = _acoustic_model_job(self, params, model, base=base, on_epoch=on_epoch)
        return self.submit(fn, kind="train_acoustic_model", params=params, model_id=model.id,
                           uses=[*audio_ids, *filter(None, [lm_id]), *segment_ids])

    def _segments_of_labels(self, labels: Sequence[Mapping[str, Any]]) -> list[str]:
        """The ``segments`` records whose files a pseudo-label table names (checked to be there)."""
        root = self.path / FOLDERS["segments"]
        found, missing = set(), []
        for row in labels:
            audio = Path(str(row.get("audio_filepath", "")))
            if audio.parent.parent == root:
                found.add(audio.parent.name)
            if row.get("kept", True) and not audio.is_file():
                missing.append(audio.name)
        if missing:
            msg = (f"{len(missing)} labelled segment(s) are no longer in the workspace (their prepared segments were "
                   f"deleted), e.g. {missing[0]}: label the audio again")
            raise WorkspaceError(msg)
        return [self.get(segments_id, "segments").id for segments_id in sorted(found)]

    def compare(
        self,
        base: BaseModel,
        items: Sequence[Utterance],
        systems: Sequence[str],
        *,
        label: str,
        lm_id: str | None = None,
        am_id: str | None = None,
        weights: DecodingWeights | None = None,
        cache: AcousticCache | None = None,
    ) -> Job:
        """Run ``systems`` (see :data:`~jupyter_speechcustom.services.compare.SYSTEMS`) on
        ``items`` in the background. The job's result is the
        :class:`~jupyter_speechcustom.services.compare.Comparison`; what the workspace keeps of
        it is its summary. ``cache`` keeps acoustic outputs across runs in this process."""
        from jupyter_speechcustom.asr.decoding import DecodingWeights
        from jupyter_speechcustom.services.compare import check_comparison

        check_comparison(systems, items, has_lm=lm_id is not None, has_am=am_id is not None)
        weights = weights or DecodingWeights()
        params = {"base": base_ref(base), "label": label, "systems": list(systems), "lm_id": lm_id, "am_id": am_id,
                  "weights": asdict(weights), "items": [item.to_dict() for item in items]}
        check_json(params, "comparison parameters")
        fn = _compare_job(self, params, None, base=base, cache=cache)
        uses = [x for x in (lm_id, am_id) if x]
        return self.submit(fn, kind="compare", params=params, heavy=False, uses=uses)


# --------------------------------------------------------------------------- job kinds


def _audio_entries(ws: StoreAPI, audio_ids: Sequence[str]) -> list[dict[str, Any]]:
    """NeMo manifest entries of stored audio (``text`` where a transcript was stored)."""
    entries = []
    for audio_id in audio_ids:
        rec = ws.get(audio_id, "audio")
        entry: dict[str, Any] = {"audio_filepath": str(rec.path), "duration": rec.info.get("duration", 0.0)}
        if rec.info.get("transcript"):
            entry["text"] = rec.info["transcript"]
        entries.append(entry)
    return entries


def _language_model_job(
    ws: StoreAPI, params: dict[str, Any], model: Record | None, base: BaseModel | None = None
) -> JobFunction:
    if model is None:
        raise WorkspaceError("a language model build needs a model record")
    model_id = model.id

    def run(progress: ProgressCallback, cancel: threading.Event) -> None:
        from jupyter_speechcustom.lm.language_model import build_language_model

        progress(0.0, "loading the base model")
        model_base = base or load_base_from_ref(params["base"])
        corpora = [ws.file_of(cid, "corpus") for cid in params["corpus_ids"]]
        words: Any = ws.file_of(params["words_id"], "words") if params.get("words_id") else ()

        def report(fraction: float, stage: str) -> None:
            raise_if_cancelled(cancel, "cancelled while building the language model")
            progress(fraction, stage)

        build_language_model(
            model_base, corpora, ws.staging_path(model_id), words=words, name=params["name"], progress=report,
            **params.get("options", {}),
        )

    return run


def _segments_for(ws: StoreAPI, recs: Mapping[str, Record], sample_rate: int) -> Record | None:
    """A kept ``segments`` record prepared from exactly the audio ``recs`` at ``sample_rate``, the
    audio unchanged since (each record's ``updated`` stamp is what it was), or None."""
    wanted = {audio_id: rec.updated for audio_id, rec in recs.items()}
    for rec in reversed(ws.records("segments")):
        same = rec.info.get("sample_rate") == sample_rate and rec.info.get("audio") == wanted
        if same and rec.path is not None and (rec.path / SEGMENTS_MANIFEST).is_file():
            return rec
    return None


def prepare_segments(ws: StoreAPI, audio_ids: Sequence[str], sample_rate: int) -> Record:
    """Stored audio cut and converted for training at ``sample_rate``, kept as a ``segments``
    record (made from ``audio_ids``): the one already kept for the same, unchanged audio, else a new one."""
    from jupyter_speechcustom.am.acoustic_model import prepare_audio

    recs = {audio_id: ws.get(audio_id, "audio") for audio_id in audio_ids}
    kept = _segments_for(ws, recs, sample_rate)
    if kept is not None:
        return kept
    folder = ws.segments_folder()
    try:
        prepared = prepare_audio([{"audio_filepath": str(r.path)} for r in recs.values()], folder, sample_rate)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    ids = {str(r.path): audio_id for audio_id, r in recs.items()}
    entries = [{**e, "audio_id": ids[e["source"]]} for e in prepared.entries]
    names = [r.name for r in recs.values()]
    name = names[0] if len(names) == 1 else f"{names[0]} and {len(names) - 1} more"
    info = {"sample_rate": sample_rate, "audio": {a: r.updated for a, r in recs.items()},
            "skipped": [[Path(s).name, reason] for s, reason in prepared.skipped],
            "seconds": round(sum(float(e["duration"]) for e in entries), 1)}
    return ws.add_segments(folder, entries, name=name, sources=list(recs), info=info)


def segment_entries(segments: Record) -> list[dict[str, Any]]:
    """The prepared segments of a ``segments`` record, as manifest entries (``source``: the file each
    was cut from, ``audio_id``: its audio record)."""
    from jupyter_speechcustom.io.manifest import read_manifest

    assert segments.path is not None
    return read_manifest(segments.path / SEGMENTS_MANIFEST)


def _label_job(ws: StoreAPI, params: dict[str, Any], model: Record | None, base: BaseModel | None = None) -> JobFunction:
    def run(progress: ProgressCallback, cancel: threading.Event) -> dict[str, Any]:
        from jupyter_speechcustom.am.acoustic_model import pseudo_label

        model_base = base or load_base_from_ref(params["base"])
        progress(0.02, f"preparing {len(params['audio_ids'])} audio files")
        segments = prepare_segments(ws, params["audio_ids"], model_base.sample_rate)
        raise_if_cancelled(cancel)
        entries = segment_entries(segments)
        lm = load_language_model(ws, params["lm_id"]) if params.get("lm_id") else None
        rows = pseudo_label(model_base, entries, lm=lm, threshold=params["threshold"],
                            progress=lambda f, m: progress(0.05 + 0.93 * f, m))
        raise_if_cancelled(cancel)
        names = {audio_id: ws.get(audio_id).name for audio_id in params["audio_ids"]}
        segment_names = {}
        for entry in entries:
            number = int(Path(entry["audio_filepath"]).stem.rsplit("-", 1)[-1])
            segment_names[entry["audio_filepath"]] = names.get(entry.get("audio_id", ""), Path(entry["source"]).name) + (
                f" #{number + 1}" if number else "")
        return {"labels": [asdict(r) for r in rows], "names": segment_names, "segments_id": segments.id,
                "skipped": [list(s) for s in segments.info.get("skipped", [])]}

    return run


def _acoustic_model_job(
    ws: StoreAPI,
    params: dict[str, Any],
    model: Record | None,
    base: BaseModel | None = None,
    on_epoch: Callable[[EpochRecord], None] | None = None,
) -> JobFunction:
    if model is None:
        raise WorkspaceError("acoustic model training needs a model record")
    model_id = model.id

    def run(progress: ProgressCallback, cancel: threading.Event) -> dict[str, Any]:
        from jupyter_speechcustom.am.acoustic_model import PseudoLabel, train_acoustic_model

        progress(0.0, "loading the base model")
        model_base = base or load_base_from_ref(params["base"])
        labels = [PseudoLabel.from_dict(row) for row in params["labels"]] if params.get("labels") else None
        if labels is not None:
            audio = [{"audio_filepath": r.audio_filepath, "duration": r.duration, "source": r.source} for r in labels]
        else:
            audio = _audio_entries(ws, params["audio_ids"])
        lm = load_language_model(ws, params["lm_id"]) if params.get("lm_id") else None
        result = train_acoustic_model(
            model_base, audio, ws.staging_path(model_id), mode=params["mode"], lm=lm, pseudo_labels=labels,
            progress=progress, on_epoch=on_epoch, cancel=cancel, **params.get("options", {}),
        )
        summary = json.loads(json.dumps(result.summary(), default=str))
        ws.update_info(model_id, {"training": summary})  # the figures (WER before/after) stay with the model
        return {**summary, "history": [asdict(h) for h in result.history], "model_id": model_id}

    return run


def _compare_job(
    ws: StoreAPI,
    params: dict[str, Any],
    model: Record | None,
    base: BaseModel | None = None,
    cache: AcousticCache | None = None,
) -> JobFunction:
    def run(progress: ProgressCallback, cancel: threading.Event) -> Any:
        from jupyter_speechcustom.asr.decoding import DecodingWeights
        from jupyter_speechcustom.io.manifest import Utterance
        from jupyter_speechcustom.services.compare import run_comparison

        progress(0.0, "loading the models")
        model_base = base or load_base_from_ref(params["base"])
        lm = load_language_model(ws, params["lm_id"]) if params.get("lm_id") else None
        needs_am = any(System.parse(s).am for s in params["systems"])
        am = load_acoustic_model(ws, params["am_id"]) if needs_am and params.get("am_id") else None
        items = [Utterance.from_dict(item) for item in params["items"]]  # older versions' items too
        return run_comparison(model_base, items, params["systems"], label=params["label"], lm=lm, am=am,
                              weights=DecodingWeights(**params["weights"]), cache=cache, progress=progress,
                              cancel=cancel)

    return run


register_job_kind("build_language_model", _language_model_job)
register_job_kind("pseudo_label", _label_job)
register_job_kind("train_acoustic_model", _acoustic_model_job)
register_job_kind("compare", _compare_job)
