"""Customization bundles: one ``.zip`` to move a customization between workspaces or machines.

A bundle holds ``bundle.json`` (the manifest: format version, the base model's name and
fingerprint, and what is inside with SHA-256 sums), a custom LM folder (``lm/``), a custom AM
(``am/model.nemo``), custom-word files (``words/``) and evaluation results (``results/``).
The base model itself is not included: the receiving side has it, and the fingerprint checks
it is the same. Imports are extracted with the workspace's archive rules (no traversal, no
links, size limits) and every file is checked against its sum before anything is added.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from jupyter_speechcustom.constants import BUNDLE_FORMAT_VERSION, VERSION
from jupyter_speechcustom.errors import BaseModelMismatchError, SpeechCustomError, check_list
from jupyter_speechcustom.io.files import atomic_writer, sha256_file
from jupyter_speechcustom.io.safety import check_size, safe_extract, sanitize_filename, warn_untrusted_nemo
from jupyter_speechcustom.jobs.runner import now_iso

if TYPE_CHECKING:
    from jupyter_speechcustom.store.workspace import Record, StoreAPI

__all__ = ["BUNDLE_FORMAT", "MANIFEST", "BundleError", "export_bundle", "import_bundle", "read_bundle_manifest"]

#: Name of the manifest inside a bundle.
MANIFEST = "bundle.json"
#: The ``format`` value every bundle manifest carries.
BUNDLE_FORMAT = "jupyter_speechcustom.store.bundle"


class BundleError(SpeechCustomError, ValueError):
    """A bundle that cannot be written or read (missing parts, bad manifest, changed files)."""


def _available(ws: StoreAPI, record_id: str, kind: str) -> Record:
    rec = ws.get(record_id, kind)
    if rec.status != "available" or rec.path is None or not rec.path.exists():
        raise BundleError(f"{kind} {record_id} ({rec.label}) is {rec.status}, not available: it cannot be exported")
    return rec


def export_bundle(
    ws: StoreAPI,
    path: str | Path,
    lm_id: str | None = None,
    am_id: str | None = None,
    result_ids: Sequence[str] = (),
    words_ids: Sequence[str] | None = None,
) -> Path:
    """Write a customization bundle (``.zip``) of a custom LM and/or AM, words and results.

    ``words_ids``: custom-word files to include; by default those the LM was built with.
    The LM and the AM must share a base model. The file is written atomically.
    """
    check_list(result_ids, "result_ids", "result ids")
    check_list(words_ids, "words_ids", "custom-word ids")
    if lm_id is None and am_id is None and not result_ids and not words_ids:
        raise BundleError("nothing to export: pass lm_id=, am_id=, result_ids= or words_ids=")
    lm = _available(ws, lm_id, "lm") if lm_id else None
    am = _available(ws, am_id, "am") if am_id else None
    bases = [r.base for r in (lm, am) if r is not None and r.base]
    if len({b["fingerprint"] for b in bases}) > 1:
        msg = (
            f"the language model {lm_id} (base {bases[0]['name']!r}, {bases[0]['fingerprint']}) and the acoustic "
            f"model {am_id} (base {bases[1]['name']!r}, {bases[1]['fingerprint']}) have different base models: "
            "export them in separate bundles"
        )
        raise BaseModelMismatchError(msg)
    if words_ids is None:  # the LM's own word lists, where they still exist
        known = {r.id for r in ws.word_lists()}
        words_ids = [s for s in (lm.sources if lm else ()) if s in known]
    words = [_available(ws, w, "words") for w in words_ids]
    results = [_available(ws, r, "result") for r in result_ids]

    entries: list[tuple[str, Path]] = []  # (name in the zip, file)
    manifest: dict[str, Any] = {
        "format": BUNDLE_FORMAT,
        "format_version": BUNDLE_FORMAT_VERSION,
        "created": now_iso(),
        "toolkit_version": VERSION,
        "base_model": bases[0] if bases else None,
        "language_model": None,
        "acoustic_model": None,
        "custom_words": [],
        "results": [],
    }
    if lm is not None:
        assert lm.path is not None
        for file in sorted(p for p in lm.path.rglob("*") if p.is_file() and not p.is_symlink()):
            entries.append((f"lm/{file.relative_to(lm.path).as_posix()}", file))
        manifest["language_model"] = {"path": "lm", "name": lm.name, "version": lm.version, "info": lm.info}
    if am is not None:
        assert am.path is not None
        entries.append(("am/model.nemo", am.path))
        manifest["acoustic_model"] = {"path": "am/model.nemo", "name": am.name, "version": am.version, "info": am.info}
    used: set[str] = set()
    for folder, records, key in (("words", words, "custom_words"), ("results", results, "results")):
        for rec in records:
            assert rec.path is not None
            filename = rec.path.name
            if f"{folder}/{filename}" in used:
                filename = f"{rec.id}-{filename}"
            used.add(f"{folder}/{filename}")
            entries.append((f"{folder}/{filename}", rec.path))
            manifest[key].append({"path": f"{folder}/{filename}", "name": rec.name})
    manifest["files"] = {name: sha256_file(file) for name, file in entries}

    out = Path(path).expanduser()
    if out.suffix.lower() != ".zip":
        out = out.with_name(out.name + ".zip")
    with atomic_writer(out) as fh, zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(MANIFEST, json.dumps(manifest, indent=2, ensure_ascii=False))
        for name, file in entries:
            zf.write(file, name)
    return out


def _inside(root: Path, rel: Any, what: str) -> Path:
    """``root/rel`` for a manifest path that must stay inside the bundle."""
    if not isinstance(rel, str) or not rel or "\x00" in rel:
        raise BundleError(f"{MANIFEST}: the {what} path {rel!r} is not a relative path")
    pure = PurePosixPath(rel.replace("\\", "/"))
    if pure.is_absolute() or ".." in pure.parts:
        raise BundleError(f"{MANIFEST}: the {what} path {rel!r} points outside the bundle: refusing it")
    path = root.joinpath(*pure.parts)
    if not path.resolve().is_relative_to(root.resolve()) or not path.exists():
        raise BundleError(f"{MANIFEST} lists {rel!r} ({what}) but the bundle does not contain it: export it again")
    return path


def _validate(root: Path) -> dict[str, Any]:
    manifest_path = root / MANIFEST
    if not manifest_path.is_file():
        raise BundleError(f"this is not a customization bundle: it has no {MANIFEST}. Make one with export_bundle()")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleError(f"{MANIFEST} is not valid JSON ({exc}): export the bundle again") from None
    if not isinstance(manifest, dict) or manifest.get("format") != BUNDLE_FORMAT:
        raise BundleError(f'{MANIFEST} is not a customization bundle manifest (no "format": "{BUNDLE_FORMAT}")')
    version = manifest.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise BundleError(f"{MANIFEST} has no valid format_version ({version!r}): export the bundle again")
    if version > BUNDLE_FORMAT_VERSION:
        msg = (
            f"the bundle has format version {version}, newer than this toolkit reads ({BUNDLE_FORMAT_VERSION}): "
            "upgrade jupyter_speechcustom"
        )
        raise BundleError(msg)
    base = manifest.get("base_model")
    has_model = manifest.get("language_model") or manifest.get("acoustic_model")
    if has_model and (
        not isinstance(base, dict) or not isinstance(base.get("name"), str) or not isinstance(base.get("fingerprint"), str)
    ):
        raise BundleError(f'{MANIFEST}: "base_model" must have a "name" and a "fingerprint"')
    files = manifest.get("files")
    if not isinstance(files, dict):
        raise BundleError(f'{MANIFEST} has no "files" list of checksums: export the bundle again')
    for rel, digest in files.items():
        if sha256_file(_inside(root, rel, "file")) != digest:
            raise BundleError(f"{rel} in the bundle does not match its checksum: the bundle is damaged; export it again")
    for key in ("custom_words", "results"):
        if not isinstance(manifest.get(key, []), list):
            raise BundleError(f'{MANIFEST}: "{key}" must be a list')
    return manifest


def read_bundle_manifest(path: str | Path) -> dict[str, Any]:
    """The manifest of a bundle, without importing it."""
    try:
        with zipfile.ZipFile(path) as zf:
            return json.loads(zf.read(MANIFEST))
    except (KeyError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
        raise BundleError(f"{path} is not a readable customization bundle ({exc})") from None


def import_bundle(
    ws: StoreAPI, path: str | Path | bytes, *, max_bytes: int | None = None, max_files: int | None = None
) -> dict[str, Any]:
    """Add a bundle's models, words and results to ``ws``; return the new ids.

    Returns ``{"language_model": id | None, "acoustic_model": id | None, "custom_words": [ids],
    "results": [ids]}``. Models keep the bundle's base reference and are ``available``. The whole
    bundle is checked first; if adding any part fails, the parts already added are removed.
    """
    if isinstance(path, (bytes, bytearray)):
        check_size(len(path), ws.max_archive_bytes, "the uploaded bundle", "max_archive_bytes")
        label = "the uploaded bundle"
    else:
        label = str(path)
        if not Path(path).is_file():
            raise BundleError(f"no bundle at {path}: check the path")
        check_size(Path(path).stat().st_size, ws.max_archive_bytes, label, "max_archive_bytes")
    root, _ = safe_extract(
        path,
        ws.path,
        label=label,
        max_files=max_files or ws.max_archive_files,
        max_bytes=max_bytes or ws.max_archive_bytes,
        prefix=".tmp-import-",
    )
    added: list[str] = []
    try:
        manifest = _validate(root)
        base = manifest.get("base_model") or {}
        lm_entry, am_entry = manifest.get("language_model") or {}, manifest.get("acoustic_model") or {}
        lm_dir = _inside(root, lm_entry.get("path"), "language model") if lm_entry else None
        am_file = _inside(root, am_entry.get("path"), "acoustic model") if am_entry else None
        if lm_dir is not None:
            from jupyter_speechcustom.lm.language_model import CustomLanguageModel, LanguageModelError

            try:
                lm = CustomLanguageModel.load(lm_dir)
            except (LanguageModelError, KeyError, json.JSONDecodeError) as exc:
                raise BundleError(f"the bundle's language model is not usable: {exc}") from None
            if lm.base_model.get("fingerprint") != base["fingerprint"]:
                msg = (
                    f"the bundle's language model was built for base fingerprint {lm.base_model.get('fingerprint')}, "
                    f"but the bundle says {base['fingerprint']}: the bundle is inconsistent; export it again"
                )
                raise BundleError(msg)
        if am_file is not None:
            from jupyter_speechcustom.store.index import WorkspaceError, check_nemo_archive

            try:  # checked before anything is added: a damaged model is never listed as available
                check_nemo_archive(am_file, "the bundle's acoustic model")
            except WorkspaceError as exc:
                raise BundleError(f"{exc} (export the bundle again)") from None

        new: dict[str, Any] = {"language_model": None, "acoustic_model": None, "custom_words": [], "results": []}
        if lm_dir is not None:
            rec = ws.add_language_model(lm_dir, name=str(lm_entry.get("name") or "imported-lm"), move=True)
            added.append(rec.id)
            ws.update_info(rec.id, {"imported_from": label})
            new["language_model"] = rec.id
        if am_file is not None:
            warn_untrusted_nemo(f"the acoustic model of {label}")
            rec = ws.add_acoustic_model(am_file, name=str(am_entry.get("name") or "imported-am"), base=base, move=True)
            added.append(rec.id)
            ws.update_info(rec.id, {"imported_from": label})
            new["acoustic_model"] = rec.id
        for item in manifest.get("custom_words", []):
            file = _inside(root, item.get("path"), "custom words")
            rec = ws.add_words(file, name=sanitize_filename(str(item.get("name") or file.name)))
            added.append(rec.id)
            new["custom_words"].append(rec.id)
        for item in manifest.get("results", []):
            file = _inside(root, item.get("path"), "result")
            try:
                data = json.loads(file.read_text(encoding="utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise BundleError(f"{item.get('path')} in the bundle is not valid JSON ({exc})") from None
            if not isinstance(data, dict):
                raise BundleError(f"{item.get('path')} in the bundle is not a JSON object")
            rec = ws.add_result(str(item.get("name") or file.stem), data)
            added.append(rec.id)
            new["results"].append(rec.id)
        return new
    except BaseException:
        for record_id in reversed(added):
            try:
                ws.delete(record_id)
            except SpeechCustomError:
                pass
        raise
    finally:
        shutil.rmtree(root, ignore_errors=True)
