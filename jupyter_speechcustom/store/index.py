"""The workspace index: its SQLite schema, the records it lists, and how values are kept in it."""

from __future__ import annotations

import errno
import json
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_speechcustom.constants import CUSTOM_AM_KEY
from jupyter_speechcustom.errors import InvalidOptionError, SpeechCustomError


class WorkspaceError(SpeechCustomError, RuntimeError):
    """A workspace that cannot be opened or an operation it cannot do."""


class DiskFullError(WorkspaceError, OSError):
    """The disk holding the workspace is full; the operation that met it changed nothing."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"the disk holding the workspace at {path} is full: free space and retry; nothing was changed")
        self.errno = errno.ENOSPC
        self.path = path


class RecordNotFoundError(WorkspaceError, LookupError):
    """An id that names no record (or a record of another kind) in the workspace."""


class ModelInUseError(WorkspaceError):
    """Deleting something a queued or running job uses."""


INDEX = "index.sqlite"
FOLDERS = {
    "corpus": "corpora",
    "words": "words",
    "audio": "audio",
    "lm": "lms",
    "am": "ams",
    "result": "results",
    "segments": "segments",
}
ID_PREFIX = {"corpus": "c", "words": "w", "audio": "a", "lm": "lm", "am": "am", "result": "r", "segments": "s"}
MODEL_KINDS = ("lm", "am")
#: Kinds whose records are named after their stored file.
FILE_KINDS = ("corpus", "words", "audio")
#: The longest record name (characters).
MAX_NAME_LENGTH = 255
MODEL_STATUSES = ("pending", "ready", "training", "available", "failed")

AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".mp3", ".ogg", ".opus", ".webm", ".m4a", ".aac", ".mp4", ".weba"})
_MAX_CONFIG_BYTES = 10 * 1024**2  # a model config is kilobytes; read no more than this of one

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    version INTEGER NOT NULL DEFAULT 1,
    status TEXT NOT NULL,
    message TEXT,
    path TEXT,
    base_name TEXT,
    base_fingerprint TEXT,
    sources TEXT NOT NULL DEFAULT '[]',
    job_id TEXT,
    info TEXT NOT NULL DEFAULT '{}',
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    UNIQUE (kind, name, version)
);
CREATE INDEX IF NOT EXISTS records_by_kind ON records (kind, created);
CREATE TABLE IF NOT EXISTS base_models (
    fingerprint TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    path TEXT,
    created TEXT NOT NULL,
    last_used TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    progress REAL NOT NULL DEFAULT 0,
    message TEXT NOT NULL DEFAULT '',
    error TEXT,
    result TEXT,
    params TEXT NOT NULL DEFAULT '{}',
    heavy INTEGER NOT NULL DEFAULT 1,
    model_id TEXT,
    uses TEXT NOT NULL DEFAULT '[]',
    rerun_of TEXT,
    owner_host TEXT,
    owner_pid INTEGER,
    owner_started TEXT,
    log_path TEXT NOT NULL,
    created TEXT NOT NULL,
    started TEXT,
    finished TEXT,
    updated TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (status);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    record_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    version INTEGER NOT NULL DEFAULT 1,
    event TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS events_by_record ON events (record_id, seq);
CREATE INDEX IF NOT EXISTS events_by_name ON events (kind, name);
CREATE TABLE IF NOT EXISTS links (
    user_id TEXT NOT NULL,
    source_id TEXT NOT NULL,
    PRIMARY KEY (user_id, source_id)
);
CREATE INDEX IF NOT EXISTS links_by_source ON links (source_id);
CREATE TABLE IF NOT EXISTS customizations (
    id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    trained TEXT,
    job_id TEXT,
    dirty INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS customizations_by_type ON customizations (type);
CREATE TABLE IF NOT EXISTS customization_resources (
    customization_id TEXT NOT NULL,
    field TEXT NOT NULL,
    name TEXT NOT NULL,
    record_ids TEXT NOT NULL DEFAULT '[]',
    value TEXT,
    PRIMARY KEY (customization_id, field, name)
);
"""
#: Statements run whole after :data:`SCHEMA` (trigger bodies hold semicolons): the event log is
#: append-only, whatever writes to the index.
TRIGGERS = (
    "CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events "
    "BEGIN SELECT RAISE(ABORT, 'the workspace event log is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events "
    "BEGIN SELECT RAISE(ABORT, 'the workspace event log is append-only'); END",
)
#: Version 2 added the ``events`` table (the history of every record); version 3 gave every audio
#: record a role (``info["role"]``, :data:`AUDIO_ROLES`), so that a toolkit that does not know roles
#: refuses the workspace rather than train on its test audio; version 4 added the ``links`` table (what
#: each record was made from, :mod:`~jupyter_speechcustom.store.links`); version 5 keeps customizations in
#: tables of their own (``customizations``, one row per customization, and ``customization_resources``, one
#: per named corpus, word or audio resource; :mod:`~jupyter_speechcustom.store.customizations`), where they
#: were kept in their anchor record's ``info["customization"]``. Older indexes are migrated when opened
#: (:data:`MIGRATIONS`).
SCHEMA_VERSION = "5"
#: Index schema versions this code upgrades in place, each to the next: ``{from: to}``.
MIGRATIONS = {"1": "2", "2": "3", "3": "4", "4": "5"}
#: The kinds of customization (IBM's custom language and custom acoustic models) and the fields of
#: their resources: a language customization has corpora and words, an acoustic one audio.
CUSTOMIZATION_FIELDS = {"language": ("corpora", "words"), "acoustic": ("audio",)}
#: Events of the history: what happened to a record.
EVENTS = ("created", "training", "built", "failed", "renamed", "transcript", "role", "replaced", "source-deleted",
          "deleted")

#: What an audio file is for: training, choosing epochs and tuning weights (dev), or scoring (test).
AUDIO_ROLES = ("train", "dev", "test")
#: The role of audio added without one, and of audio stored before roles existed.
DEFAULT_AUDIO_ROLE = "train"
#: What an ``add_*`` call does with a file whose name a record of its kind already has: refuse the
#: call, replace that record's file, keep both (the new one under a numbered name), or leave it out.
ON_DUPLICATE = ("error", "replace", "keep", "skip")


class NameInUseError(WorkspaceError):
    """A rename to a name another record of the same kind already has."""


class InvalidNameError(WorkspaceError, ValueError):
    """A name the workspace cannot give a record (empty, a path, control characters, another file type)."""


class DuplicateNameError(NameInUseError):
    """An upload whose file name a record of the same kind already has, with ``on_duplicate="error"``.

    ``names``: the names already taken. Nothing of the call was stored.
    """

    def __init__(self, message: str, names: list[str]) -> None:
        super().__init__(message)
        self.names = names


class AudioRoleError(WorkspaceError, ValueError):
    """Audio used against its role: test audio given to train a model."""


def check_role(role: object) -> str:
    """``role`` if it is one of :data:`AUDIO_ROLES`, else an :class:`InvalidOptionError` naming them."""
    if isinstance(role, str) and role.strip().lower() in AUDIO_ROLES:
        return role.strip().lower()
    shown = repr(role) if isinstance(role, str) else type(role).__name__
    raise InvalidOptionError(f"unknown audio role {shown}: the roles are {', '.join(AUDIO_ROLES)} (train: to "
                             "train on; dev: to choose epochs and tune weights; test: to score, never trained on)")


def check_on_duplicate(choice: object) -> str:
    """``choice`` if it is one of :data:`ON_DUPLICATE`, else an :class:`InvalidOptionError` naming them."""
    if isinstance(choice, str) and choice in ON_DUPLICATE:
        return choice
    raise InvalidOptionError(f"on_duplicate={choice!r} is not a choice: use 'error' (refuse), 'replace' (replace "
                             "the stored file), 'keep' (keep both, the new one under a numbered name) or 'skip'")


def audio_role(rec: Record | dict[str, Any]) -> str:
    """The role of an audio record (or of its ``info``): :data:`DEFAULT_AUDIO_ROLE` when it has none."""
    info = rec.info if isinstance(rec, Record) else rec
    role = info.get("role")
    return role if role in AUDIO_ROLES else DEFAULT_AUDIO_ROLE


@dataclass(frozen=True)
class Record:
    """One entry of a workspace: a corpus, word list, audio file, custom model or result.

    ``path`` is absolute. ``base`` (models) is ``{"name", "fingerprint"}`` of the base model;
    ``sources`` the ids of the resources a model was trained on; ``info`` the statistics
    recorded with it (sentences, duration, metrics ...).
    """

    id: str
    kind: str
    name: str
    version: int
    status: str
    path: Path | None
    created: str
    updated: str
    message: str | None = None
    base: dict[str, str] | None = None
    sources: tuple[str, ...] = ()
    job_id: str | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """``name`` with its version for models (``"support-lm v2"``)."""
        return f"{self.name} v{self.version}" if self.kind in MODEL_KINDS else self.name


def json_or_none(value: Any) -> str | None:
    if value is None:
        return None
    try:
        return json.dumps(value, default=_jsonable)
    except (TypeError, ValueError):
        return json.dumps(repr(value))


def _jsonable(value: Any) -> Any:
    """What the index keeps of a job result that is not JSON itself: a record's identity, a
    path's text, and of any other object its ``summary()`` (e.g. a comparison) if it has one."""
    summary = getattr(value, "summary", None)
    if callable(summary):
        return summary()
    if isinstance(value, Record):
        return {"id": value.id, "kind": value.kind, "name": value.name, "version": value.version}
    if isinstance(value, Path):
        return str(value)
    return repr(value)


def check_json(value: Any, what: str) -> None:
    try:
        json.dumps(value, allow_nan=True)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what} must be JSON-serializable (numbers, text, lists, dicts): {exc}") from None


def sniff_audio_suffix(data: bytes) -> str:
    if data[:4] == b"\x1a\x45\xdf\xa3":
        return ".webm"
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return ".wav"
    if data[:4] == b"OggS":
        return ".ogg"
    if data[:4] == b"fLaC":
        return ".flac"
    if data[:3] == b"ID3" or data[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"):
        return ".mp3"
    if data[4:8] == b"ftyp":
        return ".m4a"
    return ".audio"


def nemo_base_ref(path: Path) -> dict[str, str] | None:
    """The base model a custom ``.nemo`` records in its config, read without loading it."""
    import yaml

    try:
        with tarfile.open(path, "r:*") as tf:
            for member in tf:
                if member.isreg() and Path(member.name).name == "model_config.yaml":
                    stream = tf.extractfile(member)
                    cfg = yaml.safe_load(stream.read(_MAX_CONFIG_BYTES)) if stream else None
                    meta = (cfg or {}).get(CUSTOM_AM_KEY) or {}
                    base = meta.get("base_model") or {}
                    if base.get("fingerprint"):
                        return {"name": str(base.get("name", "")), "fingerprint": str(base["fingerprint"])}
                    return None
    except (tarfile.TarError, OSError, yaml.YAMLError):
        return None
    return None


def check_nemo_archive(path: Path, label: str | None = None) -> None:
    """Refuse a ``.nemo`` that is not a whole NeMo archive (:class:`WorkspaceError`), without loading it.

    Every member is walked (a truncated archive ends early, or a member runs past the end of
    the file) and ``model_config.yaml`` must be there and be a YAML mapping.
    """
    import yaml

    label = label or str(path)
    advice = "copy or export the model again"
    try:
        size = path.stat().st_size
        config_found = False
        with tarfile.open(path, "r:*") as tf:
            plain = tf.fileobj is not None and getattr(tf.fileobj, "name", None) == str(path)
            for member in tf:
                if plain and member.isreg() and member.offset_data + member.size > size:
                    raise WorkspaceError(f"{label} is truncated (its {member.name} runs past the end): {advice}")
                if member.isreg() and Path(member.name).name == "model_config.yaml":
                    stream = tf.extractfile(member)
                    cfg = yaml.safe_load(stream.read(_MAX_CONFIG_BYTES)) if stream else None
                    if not isinstance(cfg, dict):
                        raise WorkspaceError(f"{label}: its model_config.yaml is not a model configuration: {advice}")
                    config_found = True
    except WorkspaceError:
        raise
    except (tarfile.TarError, EOFError, OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0].rstrip(":")
        raise WorkspaceError(f"{label} is not a whole .nemo archive ({reason}): it is damaged or truncated; {advice}") from None
    if not config_found:
        raise WorkspaceError(f"{label} is not a NeMo model: it has no model_config.yaml; give a .nemo file")
