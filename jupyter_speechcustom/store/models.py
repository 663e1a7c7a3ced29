"""Custom models in the store: their records and versions, staging, finishing, and imports.

A custom model (an LM folder under ``lms/<id>/``, an AM under ``ams/<id>.nemo``) is built in a
hidden staging path and renamed into place only when complete, so an interrupted build never
shows up as ``available``. The store gives models' records and paths; loading them (NeMo, KenLM)
is the services' work (:class:`jupyter_speechcustom.services.workspace.Workspace`).
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jupyter_speechcustom.io import safety as _safety
from jupyter_speechcustom.jobs.runner import now_iso
from jupyter_speechcustom.store.db import Database, log_event, new_id
from jupyter_speechcustom.store.index import (
    FOLDERS,
    MODEL_KINDS,
    Record,
    WorkspaceError,
    check_nemo_archive,
    nemo_base_ref,
)
from jupyter_speechcustom.store.records import Records

if TYPE_CHECKING:
    from jupyter_speechcustom.asr.models import BaseModel

    BaseRef = BaseModel | Mapping[str, Any]

__all__ = ["Models"]

_KIND_NAMES = {"lm": "language model", "am": "acoustic model"}


class Models:
    """The custom models of the workspace whose index is ``db``.

    ``max_archive_bytes``: the largest ``.nemo`` file :meth:`add_acoustic_model` accepts.
    """

    def __init__(self, db: Database, records: Records, *, max_archive_bytes: int) -> None:
        self._db = db
        self._records = records
        self.max_archive_bytes = max_archive_bytes

    def note_base(self, base: BaseRef) -> dict[str, str]:
        """Record the base model used and return the reference custom models keep (its family)."""
        if isinstance(base, Mapping):
            if not base.get("fingerprint") or not base.get("name"):
                raise ValueError(f"a base model reference needs a name and a fingerprint, got {dict(base)!r}")
            ref = {"name": str(base["name"]), "fingerprint": str(base["fingerprint"])}
            actual = {**ref, "path": base.get("path")}
        else:
            tied = base.tied_base or {}
            ref = {"name": str(tied.get("name", base.name)), "fingerprint": base.family_fingerprint}
            actual = {"name": base.name, "fingerprint": base.fingerprint, "path": str(base.path)}
        stamp = now_iso()
        with self._db.write() as conn:
            conn.execute(
                "INSERT INTO base_models (fingerprint, name, path, created, last_used) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (fingerprint) DO UPDATE SET last_used = excluded.last_used, "
                "path = COALESCE(excluded.path, base_models.path)",
                (actual["fingerprint"], actual["name"], actual["path"], stamp, stamp),
            )
        return ref

    @staticmethod
    def _model_path(kind: str, record_id: str) -> str:
        return f"{FOLDERS[kind]}/{record_id}" + (".nemo" if kind == "am" else "")

    def _check_sources(self, ids: Sequence[str], kind: str) -> list[str]:
        ids = list(ids)
        for record_id in ids:
            rec = self._records.get(record_id, kind)
            if rec.status != "available":
                raise WorkspaceError(f"{kind} {record_id} is {rec.status}, not available: add it again")
        return ids

    def create(
        self, kind: str, base: BaseRef, name: str, sources: Sequence[str], info: Mapping[str, Any] | None = None
    ) -> Record:
        """A new version of custom model ``name`` of ``kind``: ``ready`` with ``sources``, else ``pending``."""
        if not isinstance(name, str) or not name.strip():
            raise ValueError("a custom model needs a name, e.g. name='support-calls'")
        ref = self.note_base(base)
        record_id = new_id(kind)
        with self._db.write() as conn:  # the version is chosen inside the transaction: no two processes share one
            version = self._records.next_version(conn, kind, name.strip())
            self._records.insert(
                conn, kind, name.strip(), self._model_path(kind, record_id), status="ready" if sources else "pending",
                version=version, info=info, base=ref, sources=sources, record_id=record_id,
            )
        return self._records.get(record_id)

    def create_language_model(
        self, base: BaseRef, name: str, corpus_ids: Sequence[str] = (), words_id: str | None = None
    ) -> Record:
        """A new custom LM version: ``pending`` without resources, ``ready`` with them. Train it by
        submitting a job with ``model_id=`` (or use :meth:`build_language_model`)."""
        sources = self._check_sources(corpus_ids, "corpus") + (self._check_sources([words_id], "words") if words_id else [])
        return self.create("lm", base, name, sources)

    def create_acoustic_model(self, base: BaseRef, name: str, audio_ids: Sequence[str] = ()) -> Record:
        """A new custom AM version: ``pending`` without audio, ``ready`` with it."""
        return self.create("am", base, name, self._check_sources(audio_ids, "audio"))

    def staging_path(self, model_id: str) -> Path:
        """Where a job builds model ``model_id`` (``lms/.tmp-<id>`` folder, ``ams/.tmp-<id>.nemo``);
        it is renamed into place when the job completes."""
        rec = self._records.get(model_id)
        if rec.kind not in MODEL_KINDS:
            raise WorkspaceError(f"{model_id} is a {rec.kind}, not a custom model")
        return self._db.path / FOLDERS[rec.kind] / (f".tmp-{model_id}" + (".nemo" if rec.kind == "am" else ""))

    def clear_staging(self, kind: str, model_id: str) -> None:
        """Remove what a build of model ``model_id`` left in its staging paths."""
        for leftover in (self._db.path / FOLDERS[kind]).glob(f".*{model_id}*"):
            _safety.remove_path(leftover)

    def available_model(self, model_id: str, kind: str) -> Record:
        """The record of custom model ``model_id`` of ``kind`` (``"lm"``, ``"am"``), which must be
        ``available``: its ``path`` is the model to load."""
        rec = self._records.get(model_id, kind)
        if rec.status != "available" or rec.path is None:
            detail = f": {rec.message}" if rec.message else ""
            what = _KIND_NAMES.get(kind, kind)
            raise WorkspaceError(f"{what} {model_id} ({rec.label}) is {rec.status}, not available{detail}")
        return rec

    # ------------------------------------------------------------------ models made elsewhere

    def add_language_model(self, folder: str | Path, *, name: str | None = None, move: bool = False) -> Record:
        """Add a custom LM folder built elsewhere (copied, or moved with ``move=True``); it keeps its
        base model reference and is ``available`` at once."""
        from jupyter_speechcustom.lm.language_model import CustomLanguageModel

        source = Path(folder)
        lm = CustomLanguageModel.load(source)  # raises unless it is a complete LM folder
        base = lm.base_model
        if not base.get("fingerprint"):
            raise WorkspaceError(f"{source}/lm.json names no base model fingerprint: rebuild the LM")
        model = self.create("lm", base, name or lm.name or source.name, (), info={"imported_from": str(source)})
        staging = self.staging_path(model.id)
        try:
            if move:
                os.replace(source, staging)
            else:
                _copy_regular_tree(source, staging)
            self.finalize(model.id)
        except BaseException as exc:
            self.mark_failed(model.id, f"import failed: {exc}")
            raise
        return self._records.get(model.id)

    def add_acoustic_model(
        self, path: str | Path, *, name: str | None = None, base: Mapping[str, str] | None = None, move: bool = False
    ) -> Record:
        """Add a custom AM ``.nemo`` made elsewhere (warns: a .nemo can contain pickled code).

        ``base``: ``{"name", "fingerprint"}`` of its base model; by default read from the
        model's config, where this toolkit's fine-tuning records it.
        """
        source = Path(path)
        if not source.is_file() or not tarfile.is_tarfile(source):
            raise WorkspaceError(f"{source} is not a .nemo archive: give the path of a .nemo file")
        _safety.check_size(source.stat().st_size, self.max_archive_bytes, str(source), "max_archive_bytes")
        check_nemo_archive(source)  # a damaged model is refused now, not listed as available
        if not source.resolve().is_relative_to(self._db.path):
            _safety.warn_untrusted_nemo(source)
        ref = dict(base) if base else nemo_base_ref(source)
        if not ref:
            msg = f"{source} does not record its base model: pass base={{'name': ..., 'fingerprint': ...}}"
            raise WorkspaceError(msg)
        model = self.create("am", ref, name or source.stem, (), info={"imported_from": str(source)})
        staging = self.staging_path(model.id)
        try:
            if move:
                os.replace(source, staging)
            else:
                shutil.copyfile(source, staging)
            self.finalize(model.id)
        except BaseException as exc:
            self.mark_failed(model.id, f"import failed: {exc}")
            raise
        return self._records.get(model.id)

    # ------------------------------------------------------------------ finishing a build

    @staticmethod
    def _model_info(kind: str, path: Path) -> dict[str, Any]:
        if kind == "lm" and (path / "lm.json").is_file():
            meta = json.loads((path / "lm.json").read_text(encoding="utf-8"))
            keys = ("order", "token_count", "custom_words", "corpora", "general_text", "general_weight",
                    "number_variants", "training_words", "build_seconds")
            return {k: meta[k] for k in keys if k in meta}
        if path.is_file():
            return {"bytes": path.stat().st_size}
        return {}

    def finalize(self, model_id: str) -> Record:
        """Rename a finished model from its staging path into place and mark it ``available``."""
        rec = self._records.get(model_id)
        staging = self.staging_path(model_id)
        final = self._db.path / self._model_path(rec.kind, model_id)
        if not staging.exists():
            raise WorkspaceError(f"the job finished but wrote no model at {staging}: see the job's log")
        if final.exists():
            _safety.remove_path(final)
        os.replace(staging, final)
        info = {**rec.info, **self._model_info(rec.kind, final)}
        with self._db.write() as conn:
            conn.execute(
                "UPDATE records SET status = 'available', message = NULL, info = ?, updated = ? WHERE id = ?",
                (json.dumps(info), now_iso(), model_id),
            )
            log_event(conn, rec, "built", {"job_id": rec.job_id} if rec.job_id else {})
        self.clear_staging(rec.kind, model_id)
        return self._records.get(model_id)

    def mark_failed(self, model_id: str, message: str) -> None:
        """Mark a model that was being made ``failed`` with ``message``, and clear its staging."""
        with self._db.write() as conn:
            row = conn.execute("SELECT * FROM records WHERE id = ?", (model_id,)).fetchone()
            changed = conn.execute(
                "UPDATE records SET status = 'failed', message = ?, updated = ? "
                "WHERE id = ? AND status IN ('pending', 'ready', 'training')",
                (message, now_iso(), model_id),
            ).rowcount
            if row is not None and changed:
                log_event(conn, row, "failed", {"message": message})
        if row is not None:
            self.clear_staging(row["kind"], model_id)


def _copy_regular_tree(source: Path, target: Path) -> None:
    """Copy files and folders only: a symlink in an imported model could point anywhere."""
    for path in source.rglob("*"):
        if path.is_symlink():
            raise WorkspaceError(f"{path} is a symbolic link: copy the model without links")
    shutil.copytree(source, target, symlinks=True)
