"""Adding files to the store: corpora, custom words, audio (one file or an archive) and results.

Uploads are checked before they are kept: text is read and summarized, audio is decoded
(probed for its duration, sample rate and channels), archives are extracted safely. A file is
written before its index row, so a crash leaves at most an orphan file, never a row without one.
A name already stored follows the caller's ``on_duplicate`` choice (:data:`ON_DUPLICATE`).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from jupyter_speechcustom.errors import AudioError, CorpusError, check_list
from jupyter_speechcustom.io import safety as _safety
from jupyter_speechcustom.io.files import atomic_write, is_disk_full
from jupyter_speechcustom.io.safety import reserve_path, safe_extract, sanitize_filename
from jupyter_speechcustom.jobs.runner import now_iso, owner_alive, process_identity
from jupyter_speechcustom.store.db import Database, log_event, new_id
from jupyter_speechcustom.store.index import (
    AUDIO_ROLES,
    AUDIO_SUFFIXES,
    DEFAULT_AUDIO_ROLE,
    FOLDERS,
    DiskFullError,
    DuplicateNameError,
    ModelInUseError,
    Record,
    RecordNotFoundError,
    WorkspaceError,
    audio_role,
    check_json,
    check_on_duplicate,
    check_role,
    sniff_audio_suffix,
)
from jupyter_speechcustom.store.jobs import Jobs
from jupyter_speechcustom.store.links import result_ids
from jupyter_speechcustom.store.records import Records

__all__ = ["SEGMENTS_MANIFEST", "Intake", "Source", "link_or_copy"]

log = logging.getLogger(__name__)

#: The manifest of a ``segments`` record's folder: one line per prepared segment, paths relative to it.
SEGMENTS_MANIFEST = "manifest.json"
_STAGING = ".tmp-"  # segments being prepared: ``segments/.tmp-*/`` with the preparing process in owner.json
_OWNER = "owner.json"

#: What an ``add_*`` method takes: a file path, or the uploaded bytes.
Source = str | Path | bytes | bytearray | memoryview


class Intake:
    """Files added to the workspace whose index is ``db``, within the given size limits.

    ``jobs``: the workspace's jobs, so a record a running job reads is never replaced.
    """

    def __init__(
        self,
        db: Database,
        records: Records,
        jobs: Jobs,
        *,
        max_upload_bytes: int,
        max_archive_bytes: int,
        max_archive_files: int,
    ) -> None:
        self._db = db
        self._records = records
        self._jobs = jobs
        self.max_upload_bytes = max_upload_bytes
        self.max_archive_bytes = max_archive_bytes
        self.max_archive_files = max_archive_files

    def store_files(
        self,
        kind: str,
        items: Sequence[tuple[str, bytes | Path, dict[str, Any]]],
        on_duplicate: str = "keep",
        *,
        label: str | None = None,
    ) -> list[tuple[str, Record]]:
        """Store files (content or a file to move) under ``kind``'s folder, then index them in one
        transaction. A file is written before its row, so a crash leaves at most an orphan file.

        An item whose name a record of ``kind`` already has follows ``on_duplicate``
        (:data:`ON_DUPLICATE`), decided for every item before anything is written: ``"error"``
        raises a :class:`DuplicateNameError` naming them all; ``"replace"`` is refused
        (:class:`ModelInUseError`) if a model was made from, or a running job reads, a record it
        would replace. Two items of one call with the same name are both kept, the later ones
        numbered. Returns ``(what, record)`` for each item, in order: ``"added"``, ``"kept"``
        (added under a numbered name), ``"replaced"`` (the record, same id, with the new file) or
        ``"skipped"`` (the record already there).
        """
        on_duplicate = check_on_duplicate(on_duplicate)
        folder = self._db.path / FOLDERS[kind]
        existing = {r.name: r for r in self._records.records(kind)}
        plan: list[tuple[str, bytes | Path, dict[str, Any], str, Record | None]] = []
        replacing: set[str] = set()
        for filename, content, info in items:
            old = existing.get(filename)
            action = "added" if old is None else {"replace": "replaced", "keep": "kept", "skip": "skipped"}.get(
                on_duplicate, "error")
            if action == "replaced" and filename in replacing:  # one file replaces it; the next is kept beside
                action, old = "kept", None
            replacing.add(filename)
            if kind == "audio":
                keep_role = old is not None and action in ("replaced", "skipped")
                info["role"] = info.get("role") or (audio_role(old) if keep_role and old else DEFAULT_AUDIO_ROLE)
            plan.append((filename, content, info, action, old))
        taken = list(dict.fromkeys(filename for filename, _, _, action, _ in plan if action == "error"))
        if taken:
            shown = ", ".join(taken[:10]) + (f" and {len(taken) - 10} more" if len(taken) > 10 else "")
            where = f" (from {label})" if label else ""
            msg = (f"{len(taken)} {kind} file(s){where} already in the workspace under the same name: {shown}. "
                   "Choose on_duplicate='replace' (replace the stored file), 'keep' (keep both, the new one "
                   "under a numbered name) or 'skip' (leave the new one out)")
            raise DuplicateNameError(msg, taken)
        self._check_replaceable(kind, [old for *_, action, old in plan if action == "replaced" and old])
        written: list[tuple[int, Path, dict[str, Any], str, Record | None]] = []
        results: dict[int, tuple[str, Record]] = {}
        try:
            for n, (filename, content, info, action, old) in enumerate(plan):
                if action == "skipped":
                    assert old is not None
                    results[n] = (action, old)
                    continue
                target = reserve_path(folder, filename)
                written.append((n, target, info, action, old))
                if isinstance(content, Path):
                    os.replace(content, target)
                else:
                    atomic_write(target, content)
            ids: dict[int, str] = {}
            with self._db.write() as conn:
                for n, target, info, action, old in written:
                    rel = target.relative_to(self._db.path).as_posix()
                    if action == "replaced":
                        assert old is not None
                        row = conn.execute("SELECT * FROM records WHERE id = ?", (old.id,)).fetchone()
                        if row is None:
                            raise RecordNotFoundError(f"{kind} {old.name!r} ({old.id}) was deleted meanwhile: add the "
                                                      "file again")
                        conn.execute("UPDATE records SET path = ?, info = ?, updated = ? WHERE id = ?",
                                     (rel, json.dumps(info), now_iso(), old.id))
                        log_event(conn, row, "replaced", {"path": rel, "from_path": row["path"],
                                                               "original_name": info.get("original_name")})
                        ids[n] = old.id
                        continue
                    if action == "added" and on_duplicate == "error" and conn.execute(
                            "SELECT 1 FROM records WHERE kind = ? AND name = ?", (kind, target.name)).fetchone():
                        raise DuplicateNameError(f"{kind} {target.name!r} was added meanwhile by another process: "
                                                 "choose what to do with the duplicate (on_duplicate)", [target.name])
                    ids[n] = self._records.insert(conn, kind, target.name, rel, info=info)
        except BaseException as exc:
            for _, target, *_ in written:
                target.unlink(missing_ok=True)
            if is_disk_full(exc) and not isinstance(exc, DiskFullError):
                raise DiskFullError(self._db.path) from exc
            raise
        for n, target, _, action, old in written:
            if action == "replaced" and old is not None:
                self._settle_replacement(old, target)
            results[n] = (action, self._records.get(ids[n]))
            if action == "kept":
                log.info("%s %r was already in the workspace: the new file is kept too, as %r", kind,
                         plan[n][0], results[n][1].name)
        return [results[n] for n in range(len(plan))]

    def _check_replaceable(self, kind: str, olds: Sequence[Record]) -> None:
        """Refuse to replace records a model was made from or a running job reads: the model's
        history would name a file it never saw."""
        problems = []
        for old in olds:
            users = [f"{r['kind']} {r['name']!r} v{r['version']} ({r['id']})" for r in self._db.rows(
                "SELECT id, kind, name, version FROM records WHERE kind IN ('lm', 'am') AND sources LIKE ?",
                (f'%"{old.id}"%',))]
            users += [f"running job {j}" for j in self._jobs.jobs_using(old.id)]
            if users:
                problems.append(f"{old.name} (used by {', '.join(users)})")
        if problems:
            raise ModelInUseError(f"cannot replace {kind} {'; '.join(problems)}: a model or job made from it must "
                                  "keep its data. Keep both (on_duplicate='keep'), skip the new file, or delete what "
                                  "uses it first")

    def _settle_replacement(self, old: Record, target: Path) -> None:
        """Put a replaced record's new file (``target``, committed) under the record's old file name.

        The old path gets the new content atomically, the index follows, and only then is
        ``target`` removed: a failure at any step leaves the record pointing at a whole file."""
        if old.path is None or old.path == target or old.path.parent != target.parent:
            return
        try:
            link_or_copy(target, old.path)
            with self._db.write() as conn:
                conn.execute("UPDATE records SET path = ? WHERE id = ? AND path = ?",
                             (old.path.relative_to(self._db.path).as_posix(), old.id,
                              target.relative_to(self._db.path).as_posix()))
        except (OSError, WorkspaceError) as exc:
            log.warning("the new file of %s stays at %s (could not move it to %s: %s)", old.id, target, old.path, exc)
            return
        target.unlink(missing_ok=True)

    def duplicates(self, kind: str, names: Sequence[str]) -> list[str]:
        """Those of ``names`` (file names, cleaned as the ``add_*`` methods clean them) that a record
        of ``kind`` already has: the uploads an ``on_duplicate`` choice is needed for."""
        check_list(names, "names", "file names")
        taken = {r.name for r in self._records.records(kind)}
        return [n for n in (sanitize_filename(name, default="") for name in names) if n and n in taken]

    def add_corpus(self, source: Source, name: str | None = None, *, on_duplicate: str = "keep") -> Record:
        """Store a text corpus (a path or uploaded bytes) as given, with its statistics.

        The text is checked first (encoding, not binary, not empty), and the record's ``info``
        has its sentence and word counts and the top out-of-vocabulary words. ``on_duplicate``:
        what to do when a corpus of that name exists (see :meth:`add_audio`); by default both are
        kept, the new one numbered.
        """
        from jupyter_speechcustom.text.corpus import Corpus, known_words

        data, given = _safety.read_upload(source, name, self.max_upload_bytes, "text")
        filename = sanitize_filename(given or "corpus.txt", default="corpus")
        if "." not in filename:
            filename += ".txt"
        corpus = Corpus.from_bytes(data, name=given or filename)
        summary = corpus.summary(known_words())
        info = {
            "original_name": given or None,
            "bytes": len(data),
            "sentences": summary["sentences"],
            "words": summary["words"],
            "distinct_words": summary["distinct_words"],
            "oov_count": summary["oov_count"],
            "top_oov": [list(item) for item in summary["top_oov"]],
        }
        return self.store_files("corpus", [(filename, data, info)], on_duplicate)[0][1]

    def add_words(self, source: Source, name: str | None = None, *, on_duplicate: str = "keep") -> Record:
        """Store a custom-words file (CSV, JSON or one word a line; path or bytes), checked first.
        ``on_duplicate`` as for :meth:`add_corpus`."""
        from jupyter_speechcustom.text.words import read_custom_words

        data, given = _safety.read_upload(source, name, self.max_upload_bytes, "custom words")
        filename = sanitize_filename(given or "custom_words.csv", default="custom_words")
        words = read_custom_words(data, name=filename if "." in filename else None)
        info = {
            "original_name": given or None,
            "bytes": len(data),
            "count": len(words),
            "words": [w.word for w in words[:50]],
        }
        return self.store_files("words", [(filename, data, info)], on_duplicate)[0][1]

    def _audio_info(self, source: bytes | Path, label: str) -> dict[str, Any]:
        from jupyter_speechcustom.io.audio import audio_info

        try:
            info = audio_info(source)
        except AudioError as exc:
            raise AudioError(f"{label}: {exc}") from None
        return {"duration": round(info.duration, 4), "sample_rate": info.sample_rate, "channels": info.channels}

    def add_audio(
        self,
        source: Source,
        name: str | None = None,
        transcript: str | None = None,
        *,
        role: str | None = None,
        on_duplicate: str = "error",
    ) -> Record:
        """Store one audio file (a path, or bytes such as a browser's WebM/Opus recording) as given.

        It is decoded first, so a corrupt or unsupported file is refused; the record's ``info``
        has its duration, sample rate, channels, the ``transcript``, if any, and its ``role``
        (:data:`AUDIO_ROLES`: ``"train"`` unless given; ``"test"`` audio is never trained on).

        ``on_duplicate``, when audio of the same file name is already stored: ``"error"``
        (a :class:`DuplicateNameError`, nothing stored), ``"replace"`` (the record keeps its id and
        takes the new file and transcript, and its role unless ``role`` is given; refused with
        :class:`ModelInUseError` if a model was made from it or a running job reads it),
        ``"keep"`` (both kept: the new one under a numbered name, e.g. ``clip-2.wav``) or
        ``"skip"`` (nothing stored; the stored record is returned).
        """
        if transcript is not None and not isinstance(transcript, str):
            raise TypeError(f"transcript must be text or None, got {type(transcript).__name__}")
        role = check_role(role) if role is not None else None
        on_duplicate = check_on_duplicate(on_duplicate)
        data, given = _safety.read_upload(source, name, self.max_upload_bytes, "audio")
        suffix = sniff_audio_suffix(data)
        filename = sanitize_filename(given or f"recording{suffix}", default="recording")
        if "." not in filename:
            filename += suffix
        info = self._audio_info(data, given or "the uploaded audio")
        info.update(original_name=given or None, bytes=len(data), transcript=(transcript or "").strip() or None,
                    role=role)
        return self.store_files("audio", [(filename, data, info)], on_duplicate)[0][1]

    def add_audio_archive(
        self,
        source: Source,
        *,
        name: str | None = None,
        max_files: int | None = None,
        max_bytes: int | None = None,
        skipped: list[str] | None = None,
        role: str | None = None,
        on_duplicate: str = "error",
    ) -> list[Record]:
        """Store the audio files of a zip or tar archive (path or bytes), extracted safely.

        A ``.txt`` file with the same stem next to an audio file is its transcript. Files that
        are neither audio nor transcripts are skipped, as are audio files that do not decode
        (both with a logged warning, and a line each, "file (why)", appended to ``skipped`` when
        given). Entries that climb out of the archive, links, devices, and archives beyond
        ``max_files`` entries or ``max_bytes`` extracted are refused.

        ``role``: the role of every file; without it, a file under a folder named ``train``,
        ``dev`` or ``test`` (at any depth, the nearest one) has that role, others ``"train"``.
        ``on_duplicate`` as for :meth:`add_audio`, for every file whose name is already stored
        (files of the same name in different folders of the archive are all kept, the later
        ones numbered); skipped files are named in ``skipped`` and not returned.
        """
        role = check_role(role) if role is not None else None
        on_duplicate = check_on_duplicate(on_duplicate)
        with self._archive_audio(source, name, max_files, max_bytes, skipped, role) as (label, items):
            stored = self.store_files("audio", items, on_duplicate, label=label)
            if skipped is not None:
                skipped.extend(f"{info.get('original_name')} (already in the workspace as {rec.name}: skipped)"
                               for (_, _, info), (action, rec) in zip(items, stored) if action == "skipped")
        return [rec for action, rec in stored if action != "skipped"]

    def archive_audio_names(self, source: Source, *, name: str | None = None) -> list[str]:
        """The names :meth:`add_audio_archive` would store the archive's audio files under
        before numbering, read without storing anything (to ask about duplicates first)."""
        with self._archive_audio(source, name, None, None, None, None) as (_, items):
            return [filename for filename, _, _ in items]

    @contextmanager
    def _archive_audio(
        self,
        source: Source,
        name: str | None,
        max_files: int | None,
        max_bytes: int | None,
        skipped: list[str] | None,
        role: str | None,
    ) -> Iterator[tuple[str, list[tuple[str, bytes | Path, dict[str, Any]]]]]:
        """An archive extracted into a hidden folder of ``audio/`` (removed afterwards): its label and
        its usable audio as ``(file name, path, info)``; an :class:`AudioError` if it has none."""
        label = name or ("the uploaded archive" if isinstance(source, (bytes, bytearray, memoryview)) else str(source))
        if isinstance(source, (bytes, bytearray, memoryview)):
            _safety.check_size(len(source), self.max_archive_bytes, label, "max_archive_bytes")
        root, files = safe_extract(
            source,
            self._db.path / FOLDERS["audio"],
            label=label,
            max_files=max_files or self.max_archive_files,
            max_bytes=max_bytes or self.max_archive_bytes,
        )
        try:
            present = set(files)
            items: list[tuple[str, bytes | Path, dict[str, Any]]] = []
            left_out: list[str] = []
            for rel in files:
                if any(part.startswith(".") or part == "__MACOSX" for part in rel.parts):
                    continue
                suffix = rel.suffix.lower()
                if suffix == ".txt":
                    continue
                if suffix not in AUDIO_SUFFIXES:
                    left_out.append(f"{rel} (not audio)")
                    continue
                path = root.joinpath(*rel.parts)
                try:
                    info = self._audio_info(path, f"{label}: {rel}")
                except AudioError as exc:
                    left_out.append(f"{rel} ({exc})")
                    continue
                transcript = None
                pair = rel.with_suffix(".txt")
                if pair in present:
                    from jupyter_speechcustom.text.corpus import read_text

                    try:
                        transcript = " ".join(read_text(root.joinpath(*pair.parts), name=str(pair)).split()) or None
                    except CorpusError as exc:
                        left_out.append(f"{pair} (transcript not used: {exc})")
                folder_role = next((p.lower() for p in reversed(rel.parts[:-1]) if p.lower() in AUDIO_ROLES), None)
                info.update(original_name=str(rel), archive=label, bytes=path.stat().st_size, transcript=transcript,
                            role=role or folder_role)
                items.append((sanitize_filename(rel.name, default="audio"), path, info))
            if left_out:
                log.warning("%s: skipped %d file(s): %s", label, len(left_out), "; ".join(left_out[:20]))
                if skipped is not None:
                    skipped.extend(left_out)
            if not items:
                msg = f"{label} has no usable audio files ({', '.join(sorted(AUDIO_SUFFIXES))}): check its contents"
                if left_out:
                    more = f" and {len(left_out) - 3} more" if len(left_out) > 3 else ""
                    msg += f" (left out: {'; '.join(left_out[:3])}{more})"
                raise AudioError(msg)
            yield label, items
        finally:
            shutil.rmtree(root, ignore_errors=True)

    def add_result(self, name: str, data: Mapping[str, Any], *, sources: Sequence[str] = ()) -> Record:
        """Store an evaluation result (a JSON-serializable dict) as ``results/<name>.json``.

        Adding a result with a name already used makes a new version of it. ``sources``: ids of
        the models (or other records) it was made from, kept as its dependencies.
        """
        if not isinstance(data, Mapping):
            raise TypeError(f"a result must be a dict of JSON values, got {type(data).__name__}")
        if not isinstance(name, str) or not name.strip():
            raise ValueError("a result needs a name, e.g. add_result('baseline', {...})")
        check_json(dict(data), "the result")
        content = json.dumps(dict(data), indent=2, ensure_ascii=False)
        name = name.strip()
        target = reserve_path(self._db.path / FOLDERS["result"], sanitize_filename(name, default="result") + ".json")
        try:
            atomic_write(target, content)
            with self._db.write() as conn:
                version = self._records.next_version(conn, "result", name)
                info = {"keys": sorted(str(k) for k in data)[:50], "bytes": len(content.encode())}
                record_id = self._records.insert(
                    conn, "result", name, target.relative_to(self._db.path).as_posix(), version=version, info=info,
                    sources=[s for s in sources if s], links=result_ids(data),
                )
        except BaseException as exc:
            target.unlink(missing_ok=True)
            if is_disk_full(exc) and not isinstance(exc, DiskFullError):
                raise DiskFullError(self._db.path) from exc
            raise
        return self._records.get(record_id)


    # ------------------------------------------------------------------ prepared audio

    def segments_folder(self) -> Path:
        """A new, empty hidden folder of ``segments/`` to prepare audio in, for :meth:`add_segments`.

        Folders that processes which have since died left there are removed first; one whose
        process still runs (in this kernel or another) is left alone.
        """
        root = self._db.path / FOLDERS["segments"]
        root.mkdir(exist_ok=True)
        for stale in root.glob(f"{_STAGING}*"):
            try:
                owner = json.loads((stale / _OWNER).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                owner = None
            if not isinstance(owner, dict) or not owner_alive(owner.get("host"), owner.get("pid"), owner.get("started")):
                shutil.rmtree(stale, ignore_errors=True)
        folder = Path(tempfile.mkdtemp(prefix=_STAGING, dir=root))
        atomic_write(folder / _OWNER, json.dumps(process_identity()))
        return folder

    def add_segments(
        self, folder: Path, entries: Sequence[Mapping[str, Any]], *, name: str, sources: Sequence[str],
        info: Mapping[str, Any] | None = None,
    ) -> Record:
        """Keep audio prepared for training as a record of kind ``segments``.

        ``folder`` (from :meth:`segments_folder`) holds the prepared files and ``entries`` lists
        them (manifest entries whose ``audio_filepath`` is in ``folder``). The folder moves to
        ``segments/<id>/`` with a :data:`SEGMENTS_MANIFEST` of the entries, paths relative to it,
        and is indexed in one transaction with its ``sources`` (the audio it was cut from) as its
        links. Adding a name already used makes a new version. If anything fails, the folder is
        removed and nothing is indexed.
        """
        record_id = new_id("segments")
        target = self._db.path / FOLDERS["segments"] / record_id
        try:
            lines = []
            for entry in entries:
                audio = Path(str(entry["audio_filepath"]))
                if audio.parent != folder:
                    raise WorkspaceError(f"{audio} is not in the folder of segments {folder}")
                lines.append(json.dumps({**entry, "audio_filepath": audio.name}, ensure_ascii=False))
            if not lines:
                raise WorkspaceError("no segments to keep: prepare some audio first")
            check_json(dict(info or {}), "the segments' info")
            atomic_write(folder / SEGMENTS_MANIFEST, "".join(line + "\n" for line in lines))
            (folder / _OWNER).unlink(missing_ok=True)
            os.replace(folder, target)
            with self._db.write() as conn:
                version = self._records.next_version(conn, "segments", name)
                self._records.insert(conn, "segments", name, target.relative_to(self._db.path).as_posix(),
                                     version=version, info={"count": len(lines), **dict(info or {})},
                                     sources=[s for s in sources if s], record_id=record_id)
        except BaseException as exc:
            shutil.rmtree(folder, ignore_errors=True)
            shutil.rmtree(target, ignore_errors=True)
            if is_disk_full(exc) and not isinstance(exc, DiskFullError):
                raise DiskFullError(self._db.path) from exc
            raise
        return self._records.get(record_id)


def link_or_copy(source: Path, target: Path) -> None:
    """Make ``target`` (an existing placeholder) hold ``source``'s content: a hard link where the
    file system allows one, else a copy; ``source`` is untouched either way."""
    tmp = target.parent / f".{target.name}.{os.urandom(6).hex()}.part"
    try:
        try:
            os.link(source, tmp)
        except OSError:
            shutil.copy2(source, tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
