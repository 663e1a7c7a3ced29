"""Private helpers that keep untrusted uploads inside the workspace.

File names come from browsers, archives and users: they are sanitized, never trusted as paths.
Files are written atomically (a temporary file, then ``os.replace``), names are reserved with
``O_EXCL`` so two writers never pick the same one, and archives are extracted entry by entry
with their declared sizes checked before anything is written and their real sizes counted while
writing, so a zip bomb is refused up front and a lying header still stops at the limit.
"""

from __future__ import annotations

import io
import logging
import lzma
import os
import re
import shutil
import stat
import tarfile
import tempfile
import unicodedata
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import IO

from jupyter_speechcustom.constants import (
    MAX_ARCHIVE_BYTES,
    MAX_ARCHIVE_FILES,
    MAX_FILENAME_LENGTH,
    MAX_UPLOAD_BYTES,
)
from jupyter_speechcustom.errors import SpeechCustomError

log = logging.getLogger(__name__)

Source = str | Path | bytes | bytearray | memoryview

_CHUNK = 1 << 20

# Names Windows reserves for devices, with or without an extension; harmless on POSIX, but a
# workspace may be copied to Windows, so they are renamed.
_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CLOCK$", "CONIN$", "CONOUT$"}
    | {f"COM{i}" for i in range(10)}
    | {f"LPT{i}" for i in range(10)}
)
_UNSAFE_CHARS = re.compile(r"[^\w.\- ]")
_MAX_SUFFIX = 16

#: A zip entry that expands more than this many times (deflate's own limit is about 1032:1) is a
#: zip bomb; entries under _RATIO_MIN_BYTES are not checked (their ratio cannot hurt).
MAX_COMPRESSION_RATIO = 1000
_RATIO_MIN_BYTES = 1 << 20


class UploadTooLargeError(SpeechCustomError, ValueError):
    """An upload or archive above the workspace's size limits."""


class MissingUploadError(SpeechCustomError, FileNotFoundError):
    """A path given as an upload that is not a file."""


class UnsafeArchiveError(SpeechCustomError, ValueError):
    """An archive that cannot be extracted safely (traversal, links, devices, not an archive)."""


class ArchiveLimitError(UploadTooLargeError, UnsafeArchiveError):
    """An archive that extracts to more bytes or entries than allowed (e.g. a zip bomb)."""


def _megabytes(n: int) -> str:
    return f"{n / 1024**2:,.1f} MB"


def check_size(size: int, limit: int, label: str, setting: str = "max_upload_bytes") -> None:
    """Raise :class:`UploadTooLargeError` when ``size`` exceeds ``limit``."""
    if size > limit:
        msg = (
            f"{label} is {_megabytes(size)}, more than the limit of {_megabytes(limit)}: split it into "
            f"smaller files, or open the workspace with a larger {setting}="
        )
        raise UploadTooLargeError(msg)


def sanitize_filename(name: str, default: str = "file", max_length: int = MAX_FILENAME_LENGTH) -> str:
    """A safe file name from an untrusted one: never a path, never hidden, never a device.

    Directories (``/``, ``\\``), ``..``, control and NUL characters and leading dots are
    dropped; other unusual characters become ``_``; Windows device names get a ``_`` prefix.
    The stem and the extension are kept where possible; an empty result becomes ``default``.
    """
    text = unicodedata.normalize("NFC", str(name))
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C")  # controls, NUL, format chars
    text = text.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    text = _UNSAFE_CHARS.sub("_", text)
    text = re.sub(r"\s+", " ", text).strip(" .")
    stem, dot, suffix = text.rpartition(".")
    if not dot:
        stem, suffix = suffix, ""
    stem = stem.strip(" .")
    suffix = suffix.strip(" ")[:_MAX_SUFFIX]
    if not stem:
        return default
    if stem.split(".")[0].upper() in _RESERVED:
        stem = f"_{stem}"
    room = max(1, max_length - (len(suffix) + 1 if suffix else 0))
    stem = stem[:room].rstrip(" .") or "_"
    return f"{stem}.{suffix}" if suffix else stem


def reserve_path(folder: Path, filename: str) -> Path:
    """Create an empty ``folder/filename`` that no other writer can take; add ``-2``, ``-3`` ... if taken.

    The exclusive create is atomic across threads and processes, so two uploads of the same
    name always land in two files. Replace the placeholder with :func:`atomic_write`.
    """
    folder.mkdir(parents=True, exist_ok=True)
    stem, dot, suffix = filename.rpartition(".")
    if not dot or not stem:
        stem, suffix = filename, ""
    for n in range(1, 100_000):
        candidate = filename if n == 1 else (f"{stem}-{n}.{suffix}" if suffix else f"{stem}-{n}")
        path = folder / candidate
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            continue
        os.close(fd)
        return path
    msg = f"{folder} has too many files named like {filename!r}: rename the upload"
    raise UploadTooLargeError(msg)


def read_upload(source: Source, name: str | None, limit: int, what: str) -> tuple[bytes, str]:
    """The bytes of an upload (bytes, or a file path) and its given name, within ``limit``."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        label = name or f"the uploaded {what}"
        check_size(len(data), limit, label)
        return data, name or ""
    path = Path(source).expanduser()
    if not path.is_file():
        reason = "is a folder, not a file" if path.is_dir() else "does not exist"
        msg = f"{path} {reason}: give the path of a {what} file (relative paths start at {Path.cwd()})"
        raise MissingUploadError(msg)
    check_size(path.stat().st_size, limit, str(path))
    with path.open("rb") as fh:
        data = fh.read(limit + 1)
    check_size(len(data), limit, str(path))  # the file may have grown since stat
    return data, name or path.name


def remove_path(path: Path) -> None:
    """Remove a file or a folder tree (never following a symlink out of it); missing is fine."""
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    elif path.is_dir():
        shutil.rmtree(path, ignore_errors=True)


def warn_untrusted_nemo(path: Path | str) -> None:
    log.warning(
        "loading %s from outside the workspace: a .nemo file can contain pickled Python code that runs "
        "when it is loaded; only load .nemo files from sources you trust",
        path,
    )


# --------------------------------------------------------------------------- archives


def _member_path(name: str, label: str) -> PurePosixPath | None:
    """The relative path of an archive entry, or raise when it could escape the folder."""
    if "\x00" in name or any(unicodedata.category(ch) == "Cc" for ch in name):
        msg = f"{label} has an entry whose name contains control characters ({name!r}): refusing to extract it"
        raise UnsafeArchiveError(msg)
    text = name.replace("\\", "/")
    if text.startswith("/") or re.match(r"^[A-Za-z]:", text):
        msg = f"{label} has an entry with an absolute path ({name!r}): refusing to extract an archive that writes outside its folder"
        raise UnsafeArchiveError(msg)
    parts = [p for p in text.split("/") if p not in ("", ".")]
    if ".." in parts:
        msg = f"{label} has an entry that climbs out of its folder ({name!r}, a 'zip slip'): refusing to extract it"
        raise UnsafeArchiveError(msg)
    return PurePosixPath(*parts) if parts else None


def _open_source(source: Source) -> IO[bytes]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return io.BytesIO(bytes(source))
    path = Path(source).expanduser()
    if not path.is_file():
        raise MissingUploadError(f"{path} does not exist or is not a file: give the path of a .zip or .tar archive")
    return path.open("rb")


class _Extractor:
    """Writes entries under ``root``, counting entries and the bytes actually decompressed."""

    def __init__(self, root: Path, label: str, max_files: int, max_bytes: int) -> None:
        self.root = root
        self.resolved = root.resolve()
        self.label = label
        self.max_files = max_files
        self.max_bytes = max_bytes
        self.entries = 0
        self.total = 0
        self.files: list[PurePosixPath] = []

    def declared(self, entries: int, sizes: list[tuple[str, int, int | None]]) -> None:
        """Refuse, before anything is written, an archive whose headers declare too much.

        ``sizes`` holds each file entry's name, declared size and (zip) compressed size. The
        bytes actually written are counted again while extracting, as headers may lie.
        """
        if entries > self.max_files:
            self.entries = entries - 1
            self._count()
        total = 0
        for name, size, packed in sizes:
            total += max(size, 0)
            if total > self.max_bytes:
                msg = (
                    f"{self.label} declares more than {_megabytes(self.max_bytes)} of files (at {name!r}; a zip bomb "
                    "or a very large archive), so nothing was extracted: split it into smaller archives, or raise "
                    "max_archive_bytes="
                )
                raise ArchiveLimitError(msg)
            if packed is not None and size > _RATIO_MIN_BYTES and size > MAX_COMPRESSION_RATIO * max(packed, 1):
                msg = (
                    f"{self.label}: {name!r} is compressed more than {MAX_COMPRESSION_RATIO}:1 "
                    f"({_megabytes(size)} from {packed:,} bytes), as only a zip bomb is, so nothing was extracted: "
                    "upload the files in a normal archive"
                )
                raise ArchiveLimitError(msg)

    def _count(self) -> None:
        self.entries += 1
        if self.entries > self.max_files:
            msg = (
                f"{self.label} has more than {self.max_files:,} entries: split it into smaller archives, or raise "
                "max_archive_files="
            )
            raise ArchiveLimitError(msg)

    def _target(self, rel: PurePosixPath) -> Path:
        target = self.root.joinpath(*rel.parts)
        if not target.resolve().is_relative_to(self.resolved):
            raise UnsafeArchiveError(f"{self.label}: entry {str(rel)!r} resolves outside the extraction folder")
        return target

    def directory(self, rel: PurePosixPath | None) -> None:
        self._count()
        if rel is not None:
            self._target(rel).mkdir(parents=True, exist_ok=True)

    def file(self, rel: PurePosixPath | None, stream: IO[bytes]) -> None:
        self._count()
        if rel is None:
            raise UnsafeArchiveError(f"{self.label} has a file entry without a name: refusing to extract it")
        target = self._target(rel)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            out = target.open("xb")
        except FileExistsError:
            raise UnsafeArchiveError(f"{self.label} lists {str(rel)!r} twice: refusing to overwrite it") from None
        except OSError as exc:
            raise UnsafeArchiveError(f"{self.label}: cannot extract {str(rel)!r} ({exc.strerror or exc})") from None
        with out:
            while chunk := stream.read(_CHUNK):
                self.total += len(chunk)
                if self.total > self.max_bytes:
                    msg = (
                        f"{self.label} extracts to more than {_megabytes(self.max_bytes)} (stopped at {str(rel)!r}; "
                        "a zip bomb or a very large archive): split it into smaller archives, or raise max_archive_bytes="
                    )
                    raise ArchiveLimitError(msg)
                out.write(chunk)
        self.files.append(rel)


def _extract_zip(fh: IO[bytes], ex: _Extractor) -> None:
    with zipfile.ZipFile(fh) as zf:
        infos = zf.infolist()
        # The central directory first: refuse a bomb before writing anything; counted again below.
        ex.declared(len(infos), [(i.filename, i.file_size, i.compress_size) for i in infos if not i.is_dir()])
        for info in infos:
            rel = _member_path(info.filename, ex.label)
            mode = info.external_attr >> 16
            kind = stat.S_IFMT(mode)
            if kind == stat.S_IFLNK:
                raise UnsafeArchiveError(f"{ex.label}: {info.filename!r} is a symbolic link: links are not extracted")
            if kind and kind not in (stat.S_IFREG, stat.S_IFDIR):
                raise UnsafeArchiveError(f"{ex.label}: {info.filename!r} is a device or special file: not extracted")
            if info.flag_bits & 0x1:
                raise UnsafeArchiveError(f"{ex.label}: {info.filename!r} is encrypted: upload an unencrypted archive")
            if info.is_dir():
                ex.directory(rel)
                continue
            with zf.open(info) as stream:
                ex.file(rel, stream)


def _extract_tar(fh: IO[bytes], ex: _Extractor) -> None:
    with tarfile.open(fileobj=fh, mode="r:*") as tf:
        # Every header first (read one at a time, so counting stops a huge archive early), to refuse
        # too many entries or bytes before writing anything; counted again while extracting.
        members: list[tarfile.TarInfo] = []
        for member in tf:
            members.append(member)
            if len(members) > ex.max_files:
                break
        ex.declared(len(members), [(m.name, m.size, None) for m in members if m.isreg()])
        for member in members:
            rel = _member_path(member.name, ex.label)
            if member.issym() or member.islnk():
                kind = "symbolic" if member.issym() else "hard"
                msg = f"{ex.label}: {member.name!r} is a {kind} link (to {member.linkname!r}): links are not extracted"
                raise UnsafeArchiveError(msg)
            if member.isdir():
                ex.directory(rel)
                continue
            if not member.isreg():
                raise UnsafeArchiveError(f"{ex.label}: {member.name!r} is a device or special file: not extracted")
            stream = tf.extractfile(member)
            if stream is None:  # pragma: no cover - isreg() members always have data
                raise UnsafeArchiveError(f"{ex.label}: cannot read {member.name!r}")
            with stream:
                ex.file(rel, stream)


def safe_extract(
    source: Source,
    parent: Path,
    *,
    label: str | None = None,
    max_files: int = MAX_ARCHIVE_FILES,
    max_bytes: int = MAX_ARCHIVE_BYTES,
    prefix: str = ".tmp-extract-",
) -> tuple[Path, list[PurePosixPath]]:
    """Extract a zip or tar archive (path or bytes) into a new hidden folder under ``parent``.

    Returns the folder and the relative paths of the files written. Entries with absolute
    paths or ``..``, links, devices, duplicate names, and archives beyond ``max_files``
    entries or ``max_bytes`` extracted raise :class:`UnsafeArchiveError` (or
    :class:`ArchiveLimitError`), and then nothing is left behind.
    """
    label = label or ("the uploaded archive" if isinstance(source, (bytes, bytearray, memoryview)) else str(source))
    parent.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    ex = _Extractor(root, label, max_files, max_bytes)
    try:
        with _open_source(source) as fh:
            if zipfile.is_zipfile(fh):
                fh.seek(0)
                _extract_zip(fh, ex)
            else:
                fh.seek(0)
                try:
                    _extract_tar(fh, ex)
                except tarfile.ReadError as exc:
                    msg = f"{label} is not a zip or tar archive ({exc}): upload a .zip, .tar, .tar.gz or .tar.bz2 file"
                    raise UnsafeArchiveError(msg) from None
    except zipfile.BadZipFile as exc:
        shutil.rmtree(root, ignore_errors=True)
        raise UnsafeArchiveError(f"{label} is a damaged zip archive ({exc}): upload it again") from None
    except (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError) as exc:
        shutil.rmtree(root, ignore_errors=True)
        raise UnsafeArchiveError(f"{label} is a damaged archive ({exc}): upload it again") from None
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    return root, ex.files


__all__ = [
    "MAX_UPLOAD_BYTES",
    "ArchiveLimitError",
    "MissingUploadError",
    "UnsafeArchiveError",
    "UploadTooLargeError",
    "check_size",
    "read_upload",
    "reserve_path",
    "safe_extract",
    "sanitize_filename",
    "warn_untrusted_nemo",
]
