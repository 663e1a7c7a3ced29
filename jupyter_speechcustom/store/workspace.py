"""The workspace store: a persistent, recoverable home for corpora, audio, custom models and jobs.

:class:`Store` keeps things and the state of the jobs that work on them; it runs no work of its
own. The workspace users open, :class:`jupyter_speechcustom.services.workspace.Workspace`, holds
a store, offers its methods (:class:`StoreAPI`) and adds the services (LM builds, training,
comparisons, loading models), which are its job kinds.

Notebook kernels restart often; uploads and trained models must outlive them, as they do in
the cloud services, where each customization has an id and a status. A workspace is a folder::

    index.sqlite          the index (SQLite, WAL): records, base models, jobs, the history (events)
    corpora/  words/      uploaded text and custom-word files, stored as given
    audio/                audio files, stored as given (WAV, WebM/Opus from a browser, ...)
    lms/<id>/             custom language models (folders)
    ams/<id>.nemo         custom acoustic models
    results/<name>.json   evaluation results
    segments/<id>/        audio prepared for training (cut, resampled), with its manifest.json
    jobs/<id>/log.txt     each job's log

Every record has a short id, a ``created`` and an ``updated`` time stamp. Custom models have a
status: ``pending`` (created, no resources), ``ready`` (resources chosen, not trained),
``training``, ``available`` or ``failed``; they remember their base model (name and
fingerprint) and the ids of the resources they were trained on, and training the same name
again makes a new version. Models are built in hidden staging paths and renamed into place
only when complete, so an interrupted build never shows up as ``available``.

A job whose process died (kernel restart, ``kill -9``) is found ``interrupted`` when the
workspace is opened again: each job records its owner (host, pid, process start time); the
model it was producing becomes ``failed``, and :meth:`Store.rerun` runs the same work again
from the job's saved kind and parameters.

Every record's history (created, training, built, failed, renamed, transcript changed, a source
deleted, deleted) is kept in the index's append-only ``events`` table (:meth:`Store.events`); an
index of schema version 1 is upgraded when opened, its history started from its records.

Files are written atomically (temporary file, then ``os.replace``); the index is written in
``BEGIN IMMEDIATE`` transactions with a busy timeout, so several kernels may share a workspace.

The store is made of parts, each holding the one :class:`~jupyter_speechcustom.store.db.Database`:
:class:`~jupyter_speechcustom.store.records.Records` (reading records, their history),
:class:`~jupyter_speechcustom.store.intake.Intake` (adding files),
:class:`~jupyter_speechcustom.store.models.Models` (custom models, staging, imports),
:class:`~jupyter_speechcustom.store.jobs.Jobs` (job state, recovery, re-runs),
:class:`~jupyter_speechcustom.store.edits.Edits` (renames, transcripts, roles, deletion) and
:class:`~jupyter_speechcustom.store.customizations.Customizations` (customizations: a custom model's
stable id, its named resources and its last training, as tables of the index).
:class:`StoreAPI` offers their methods, with their signatures and documentation; :class:`Store` makes the parts.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Concatenate, Generic, ParamSpec, TypeVar, overload

from jupyter_speechcustom.constants import MAX_ARCHIVE_BYTES, MAX_ARCHIVE_FILES, MAX_UPLOAD_BYTES
from jupyter_speechcustom.io.safety import (
    ArchiveLimitError,
    MissingUploadError,
    UnsafeArchiveError,
    UploadTooLargeError,
)
from jupyter_speechcustom.jobs.runner import JobRunner, default_runner
from jupyter_speechcustom.store.customizations import Customizations
from jupyter_speechcustom.store.db import Database
from jupyter_speechcustom.store.edits import Edits
from jupyter_speechcustom.store.index import (
    AUDIO_ROLES,
    ON_DUPLICATE,
    AudioRoleError,
    DiskFullError,
    DuplicateNameError,
    InvalidNameError,
    ModelInUseError,
    NameInUseError,
    Record,
    RecordNotFoundError,
    WorkspaceError,
    audio_role,
    check_json,
)
from jupyter_speechcustom.store.intake import Intake, Source
from jupyter_speechcustom.store.jobs import JobFactory, Jobs, register_job_kind
from jupyter_speechcustom.store.keys import ApiKeys
from jupyter_speechcustom.store.models import Models
from jupyter_speechcustom.store.records import Records

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = [
    "AUDIO_ROLES",
    "ON_DUPLICATE",
    "ArchiveLimitError",
    "AudioRoleError",
    "DiskFullError",
    "DuplicateNameError",
    "InvalidNameError",
    "JobFactory",
    "MissingUploadError",
    "ModelInUseError",
    "NameInUseError",
    "Record",
    "RecordNotFoundError",
    "Source",
    "Store",
    "StoreAPI",
    "UnsafeArchiveError",
    "UploadTooLargeError",
    "WorkspaceError",
    "audio_role",
    "check_json",
    "register_job_kind",
]

_Part = TypeVar("_Part")
_P = ParamSpec("_P")
_R = TypeVar("_R")


class _Forward(Generic[_Part, _P, _R]):
    """A store method that is a part's method: ``add_audio = _Forward("_intake", Intake.add_audio)``
    calls ``store._intake.add_audio`` with the part's signature (for type checkers) and docstring
    (for ``help``)."""

    def __init__(self, part: str, method: Callable[Concatenate[_Part, _P], _R]) -> None:
        self.part, self.name = part, method.__name__
        self.__doc__ = method.__doc__
        self.__wrapped__ = method

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> _Forward[_Part, _P, _R]: ...

    @overload
    def __get__(self, obj: object, owner: type | None = None) -> Callable[_P, _R]: ...

    def __get__(self, obj: object | None, owner: type | None = None) -> Any:
        if obj is None:
            return self
        return getattr(getattr(obj, self.part), self.name)


class StoreAPI:
    """What a workspace store offers: the methods of its parts, with their signatures and documentation.

    :class:`Store` makes the parts; :class:`~jupyter_speechcustom.services.workspace.Workspace`
    holds a :class:`Store` and offers the same methods over its parts. Code that needs only the
    store's methods takes a ``StoreAPI``, so either can be passed.
    """

    path: Path
    index_path: Path
    _db: Database
    _records: Records
    _intake: Intake
    _models: Models
    _jobs: Jobs
    _edits: Edits
    _customizations: Customizations

    def _offer_parts_of(self, store: Store) -> None:
        """Offer the methods of ``store``'s parts: for a front that holds ``store``."""
        self.path, self.index_path = store.path, store.index_path
        self._db, self._records, self._intake = store._db, store._records, store._intake
        self._models, self._jobs, self._edits = store._models, store._jobs, store._edits
        self._customizations = store._customizations

    @property
    def max_upload_bytes(self) -> int:
        """The largest file an ``add_*`` call accepts."""
        return self._intake.max_upload_bytes

    @property
    def max_archive_bytes(self) -> int:
        """The largest archive (extracted) or imported ``.nemo`` accepted."""
        return self._intake.max_archive_bytes

    @property
    def max_archive_files(self) -> int:
        """The most entries an archive may have."""
        return self._intake.max_archive_files

    # ------------------------------------------------------------------ the index

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction on the index (see :meth:`Database.write`)."""
        with self._db.write() as conn:
            yield conn

    def _rows(self, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:
        return self._db.rows(sql, args)

    def _one(self, sql: str, args: Sequence[Any] = ()) -> sqlite3.Row | None:
        return self._db.one(sql, args)

    @functools.cached_property
    def api_keys(self) -> ApiKeys:
        """The workspace's API keys (the credentials of its speech service)."""
        return ApiKeys(self)

    def close(self) -> None:
        """Close the index (it reopens on next use). Jobs still running keep saving their state."""
        self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"

    # ------------------------------------------------------------------ records and their history

    get = _Forward("_records", Records.get)
    records = _Forward("_records", Records.records)
    corpora = _Forward("_records", Records.corpora)
    word_lists = _Forward("_records", Records.word_lists)
    audio = _Forward("_records", Records.audio)
    language_models = _Forward("_records", Records.language_models)
    acoustic_models = _Forward("_records", Records.acoustic_models)
    results = _Forward("_records", Records.results)
    base_models = _Forward("_records", Records.base_models)
    file_of = _Forward("_records", Records.file_of)
    corpus = _Forward("_records", Records.corpus)
    custom_words = _Forward("_records", Records.custom_words)
    result = _Forward("_records", Records.result)
    update_info = _Forward("_records", Records.update_info)
    sources_of = _Forward("_records", Records.sources_of)
    link_graph = _Forward("_records", Records.link_graph)
    events = _Forward("_records", Records.events)
    note_event = _Forward("_records", Records.note_event)

    # ------------------------------------------------------------------ adding files

    duplicates = _Forward("_intake", Intake.duplicates)
    add_corpus = _Forward("_intake", Intake.add_corpus)
    add_words = _Forward("_intake", Intake.add_words)
    add_audio = _Forward("_intake", Intake.add_audio)
    add_audio_archive = _Forward("_intake", Intake.add_audio_archive)
    archive_audio_names = _Forward("_intake", Intake.archive_audio_names)
    add_result = _Forward("_intake", Intake.add_result)
    segments_folder = _Forward("_intake", Intake.segments_folder)
    add_segments = _Forward("_intake", Intake.add_segments)

    # ------------------------------------------------------------------ base models and custom models

    note_base = _Forward("_models", Models.note_base)
    create_language_model = _Forward("_models", Models.create_language_model)
    create_acoustic_model = _Forward("_models", Models.create_acoustic_model)
    staging_path = _Forward("_models", Models.staging_path)
    available_model = _Forward("_models", Models.available_model)
    add_language_model = _Forward("_models", Models.add_language_model)
    add_acoustic_model = _Forward("_models", Models.add_acoustic_model)

    # ------------------------------------------------------------------ jobs

    submit = _Forward("_jobs", Jobs.submit)
    save_job = _Forward("_jobs", Jobs.save_job)
    job = _Forward("_jobs", Jobs.job)
    jobs = _Forward("_jobs", Jobs.jobs)
    request_cancel = _Forward("_jobs", Jobs.request_cancel)
    recover = _Forward("_jobs", Jobs.recover)
    rerun = _Forward("_jobs", Jobs.rerun)
    job_params = _Forward("_jobs", Jobs.job_params)
    jobs_using = _Forward("_jobs", Jobs.jobs_using)

    # ------------------------------------------------------------------ names, transcripts, roles, deleting

    check_name = _Forward("_edits", Edits.check_name)
    rename = _Forward("_edits", Edits.rename)
    set_transcript = _Forward("_edits", Edits.set_transcript)
    set_role = _Forward("_edits", Edits.set_role)
    delete = _Forward("_edits", Edits.delete)

    # ------------------------------------------------------------------ customizations

    create_customization = _Forward("_customizations", Customizations.create_customization)
    customization_state = _Forward("_customizations", Customizations.customization_state)
    customizations = _Forward("_customizations", Customizations.customizations)
    set_customization_resource = _Forward("_customizations", Customizations.set_customization_resource)
    set_customization_words = _Forward("_customizations", Customizations.set_customization_words)
    remove_customization_resource = _Forward("_customizations", Customizations.remove_customization_resource)
    mark_customization_trained = _Forward("_customizations", Customizations.mark_customization_trained)


class Store(StoreAPI):
    """Open (or create) the workspace in folder ``path``.

    Args:
        path: the workspace folder; created when missing. An existing folder must be empty
            or already a workspace.
        runner: the job runner; by default the process-wide one (one heavy job at a time).
        max_upload_bytes: the largest file an ``add_*`` call accepts.
        max_archive_bytes, max_archive_files: limits for archives, checked while extracting.
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
        self._db = Database(path)
        self.path = self._db.path
        self.index_path = self._db.index_path
        self._records = Records(self._db)
        self._models = Models(self._db, self._records, max_archive_bytes=max_archive_bytes)
        self._jobs = Jobs(self, self._db, self._records, self._models, runner or default_runner())
        self._intake = Intake(self._db, self._records, self._jobs, max_upload_bytes=max_upload_bytes,
                              max_archive_bytes=max_archive_bytes, max_archive_files=max_archive_files)
        self._edits = Edits(self._db, self._records, self._models, self._jobs)
        self._customizations = Customizations(self._db, self._records, self._models)
        self.recover()
