"""Changing what the store holds: names, transcripts, audio roles, and deleting.

Each change is an event of the record's history, and each is refused while a queued or running
job builds or reads the record (:class:`ModelInUseError`): a training must see its data the same
from start to end.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jupyter_speechcustom.errors import check_list
from jupyter_speechcustom.io import safety as _safety
from jupyter_speechcustom.io.safety import reserve_path, sanitize_filename
from jupyter_speechcustom.jobs.runner import now_iso
from jupyter_speechcustom.store.db import Database, log_event
from jupyter_speechcustom.store.index import (
    FILE_KINDS,
    FOLDERS,
    MAX_NAME_LENGTH,
    MODEL_KINDS,
    InvalidNameError,
    ModelInUseError,
    NameInUseError,
    Record,
    RecordNotFoundError,
    WorkspaceError,
    audio_role,
    check_role,
)
from jupyter_speechcustom.store.intake import link_or_copy
from jupyter_speechcustom.store.jobs import Jobs
from jupyter_speechcustom.store.links import delete_links
from jupyter_speechcustom.store.models import Models
from jupyter_speechcustom.store.records import Records

__all__ = ["Edits"]


class Edits:
    """Renames, transcripts, roles and deletion in the workspace whose index is ``db``."""

    def __init__(self, db: Database, records: Records, models: Models, jobs: Jobs) -> None:
        self._db = db
        self._records = records
        self._models = models
        self._jobs = jobs

    def check_name(self, kind: str, new_name: Any, current: str | None = None) -> str:
        """``new_name`` as the workspace would store it for a record of ``kind`` (renamed from
        ``current``), or an :class:`InvalidNameError` saying what to use.

        Corpora, word lists and audio are named after their file: a file name (no folders, no
        leading dot); a word list or audio file keeps its type's suffix (added when missing), since
        its format is read from it. Models and results take any one-line text.
        """
        if not isinstance(new_name, str) or not new_name.strip():
            raise InvalidNameError(f"a {kind} needs a name: give a non-empty name")
        text = new_name.strip()
        if len(text) > MAX_NAME_LENGTH:
            raise InvalidNameError(f"the name {text[:40]!r}... is {len(text)} characters long: use at most "
                                   f"{MAX_NAME_LENGTH}")
        if any(unicodedata.category(ch)[0] == "C" for ch in text):
            raise InvalidNameError(f"the name {text!r} contains control characters (a line break, a tab, NUL): "
                                   "use one line of plain text")
        if kind not in FILE_KINDS:
            return text
        cleaned = sanitize_filename(text, default="")
        if not cleaned:
            raise InvalidNameError(f"{text!r} is not a usable file name: give a name such as 'notes.txt'")
        if cleaned != text:
            raise InvalidNameError(f"{text!r} is not a usable file name (folders, leading dots and characters such "
                                   f"as : * ? < > | are not allowed): use {cleaned!r}")
        suffix, old_suffix = Path(cleaned).suffix, Path(current).suffix if current else ""
        typed = kind in ("words", "audio") and bool(old_suffix)  # the format is read from the suffix
        if not suffix:
            cleaned += old_suffix if typed else ".txt" if kind == "corpus" else ""
        elif typed and suffix.lower() != old_suffix.lower():
            raise InvalidNameError(f"{text!r} changes the file type of {current!r}: keep the suffix {old_suffix} "
                                   f"(its format is read from it), e.g. {Path(cleaned).stem + old_suffix!r}")
        return cleaned

    def rename(self, kind: str, name: str, new_name: str) -> list[Record]:
        """Rename every version of the ``kind`` record named ``name`` to ``new_name``.

        The name is checked (:meth:`check_name`) and must be free. Files named after the record
        (corpora, word lists, audio, results) are renamed too: the new name is linked to the file
        first, the index is committed, and only then is the old name removed, so a failure at any
        point leaves the file and its record as they were. Returns the renamed records.
        """
        if kind not in FOLDERS:
            raise WorkspaceError(f"unknown kind {kind!r}: one of {', '.join(FOLDERS)}")
        records = self._records.records(kind, name=name)
        if not records:
            raise RecordNotFoundError(f"no {kind} named {name!r} in the workspace {self._db.path}: list them first")
        new_name = self.check_name(kind, new_name, current=name)
        if new_name == name:
            raise NameInUseError(f"{kind} {name!r} already has that name: give a different one")
        users = [u for rec in records for u in self._jobs.jobs_using(rec.id)]
        if users:
            raise ModelInUseError(f"{kind} {name!r} is used by running job(s) {', '.join(sorted(set(users)))}: "
                                  "wait for them or cancel them first")
        if self._records.records(kind, name=new_name):
            raise NameInUseError(f"there is already a {kind} named {new_name!r}: choose another name, or rename "
                                 "or delete that one first")
        folder = self._db.path / FOLDERS[kind]
        moved: list[tuple[Record, Path]] = []  # (record, its file under the new name)
        try:
            for rec in records:
                if kind in MODEL_KINDS or rec.path is None or not rec.path.is_file():
                    continue  # models are kept under their id; a missing file keeps its recorded path
                wanted = new_name if kind in FILE_KINDS else sanitize_filename(new_name, default="result") + ".json"
                target = reserve_path(folder, wanted)
                moved.append((rec, target))
                if kind in FILE_KINDS and target.name != wanted:
                    raise NameInUseError(f"{folder / wanted} already exists (a file the index does not list): "
                                         "choose another name, or move that file away")
                link_or_copy(rec.path, target)
            new_paths = {rec.id: target.relative_to(self._db.path).as_posix() for rec, target in moved}
            with self._db.write() as conn:
                if conn.execute("SELECT 1 FROM records WHERE kind = ? AND name = ?", (kind, new_name)).fetchone():
                    raise NameInUseError(f"there is already a {kind} named {new_name!r}: choose another name")
                stamp = now_iso()
                for rec in records:
                    path = new_paths.get(rec.id)
                    conn.execute("UPDATE records SET name = ?, path = COALESCE(?, path), updated = ? WHERE id = ?",
                                 (new_name, path, stamp, rec.id))
                    detail = {"from": name, "to": new_name, **({"path": path} if path else {})}
                    log_event(conn, {"id": rec.id, "kind": kind, "name": new_name, "version": rec.version},
                              "renamed", detail, at=stamp)
        except BaseException:
            for _, target in moved:
                target.unlink(missing_ok=True)
            raise
        for rec, _ in moved:  # the index names the new files now; the old names are spare links
            assert rec.path is not None
            rec.path.unlink(missing_ok=True)
        return [self._records.get(rec.id) for rec in records]

    def set_transcript(self, audio_id: str, transcript: str | None) -> Record:
        """Set (or with ``None``/``""`` remove) the transcript of stored audio ``audio_id``.

        Whitespace is collapsed, as for transcripts added with the audio. Refused while a job
        reads the audio (a training must see one transcript from start to end).
        """
        if transcript is not None and not isinstance(transcript, str):
            raise TypeError(f"a transcript must be text or None, got {type(transcript).__name__}")
        text = " ".join((transcript or "").split()) or None
        self._records.get(audio_id, "audio")
        users = self._jobs.jobs_using(audio_id)
        if users:
            raise ModelInUseError(f"audio {audio_id} is used by running job(s) {', '.join(users)}: wait for them or "
                                  "cancel them first")
        with self._db.write() as conn:
            row = conn.execute("SELECT * FROM records WHERE id = ? AND kind = 'audio'", (audio_id,)).fetchone()
            if row is None:
                raise RecordNotFoundError(f"no audio record {audio_id!r} in the workspace {self._db.path}")
            info = json.loads(row["info"])
            old = info.get("transcript")
            if old != text:
                info["transcript"] = text
                conn.execute("UPDATE records SET info = ?, updated = ? WHERE id = ?",
                             (json.dumps(info), now_iso(), audio_id))
                log_event(conn, row, "transcript", {"from": old, "to": text})
        return self._records.get(audio_id)

    def set_role(self, audio_ids: Sequence[str], role: str) -> list[Record]:
        """Give stored audio ``audio_ids`` the role ``role`` (:data:`AUDIO_ROLES`), in one transaction.

        Each change is an event of the record's history. Refused while a job reads any of them
        (a training must not see its audio become test audio halfway).
        """
        check_list(audio_ids, "audio_ids", "audio ids", fix="pass [{}]")
        role = check_role(role)
        ids = list(dict.fromkeys(audio_ids))
        for audio_id in ids:
            self._records.get(audio_id, "audio")
        users = sorted({u for audio_id in ids for u in self._jobs.jobs_using(audio_id)})
        if users:
            raise ModelInUseError(f"the audio is used by running job(s) {', '.join(users)}: wait for them or cancel "
                                  "them first")
        with self._db.write() as conn:
            stamp = now_iso()
            for audio_id in ids:
                row = conn.execute("SELECT * FROM records WHERE id = ? AND kind = 'audio'", (audio_id,)).fetchone()
                if row is None:
                    raise RecordNotFoundError(f"no audio record {audio_id!r} in the workspace {self._db.path}")
                info = json.loads(row["info"])
                old = audio_role(info)
                if old != role or info.get("role") != role:
                    info["role"] = role
                    conn.execute("UPDATE records SET info = ?, updated = ? WHERE id = ?",
                                 (json.dumps(info), stamp, audio_id))
                    if old != role:
                        log_event(conn, row, "role", {"from": old, "to": role}, at=stamp)
        return [self._records.get(audio_id) for audio_id in ids]

    # ------------------------------------------------------------------ deleting

    def delete(self, record_id: str) -> None:
        """Delete a record (its files and index row) or a finished job (its log and row).

        Refuses while a queued or running job builds or reads it.
        """
        users = self._jobs.jobs_using(record_id)
        if users:
            msg = f"{record_id} is used by running job(s) {', '.join(users)}: wait for them or cancel them first"
            raise ModelInUseError(msg)
        if self._jobs.delete(record_id):
            return
        rec = self._records.get(record_id)
        path = self._db.path
        with self._db.write() as conn:  # the row goes first: a crash leaves an orphan file, never a dangling row
            conn.execute("DELETE FROM records WHERE id = ?", (record_id,))
            delete_links(conn, record_id)
            log_event(conn, rec, "deleted", {"path": rec.path.relative_to(path).as_posix()}
                      if rec.path is not None and rec.path.is_relative_to(path) else {})
        if rec.path is not None:
            _safety.remove_path(rec.path)
        if rec.kind in MODEL_KINDS:
            self._models.clear_staging(rec.kind, record_id)
