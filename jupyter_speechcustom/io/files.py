"""The one way files are written and fingerprinted.

Every file the toolkit writes is published atomically: it is written beside its final name and
renamed into place only when complete, so a reader (or a process killed mid-write) sees the old
file or the new one, never half. Every content hash is SHA-256 of the file's bytes.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from jupyter_speechcustom.errors import OutputError

__all__ = [
    "atomic_path",
    "atomic_write",
    "atomic_writer",
    "check_output_path",
    "describe_os_error",
    "file_fingerprint",
    "is_disk_full",
    "sha256_file",
]

_BLOCK = 1 << 20


def check_output_path(path: str | Path, what: str = "output") -> Path:
    """``path`` as a :class:`Path`, if a file may be written there: new, or a regular file.

    A device (``/dev/full``, ``/dev/null``), a folder, a pipe or a socket is never replaced by a
    file: :class:`~jupyter_speechcustom.errors.OutputError` names it. A symbolic link counts as
    what it points to (the link itself is what is replaced).
    """
    text = str(path)
    if not text or "\x00" in text:
        raise OutputError(f"the {what} path {text!r} is not a file name: give the path of a file to write")
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return path
    except OSError as exc:
        raise OutputError(f"cannot use {path} as the {what}: {describe_os_error(exc)}") from None
    if stat.S_ISREG(mode):
        return path
    kind = "a folder" if stat.S_ISDIR(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) \
        else "a pipe" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "not a regular file"
    msg = f"the {what} {path} is {kind}, not a regular file: give the path of a new or existing regular file"
    raise OutputError(msg)


_ERRNO_ADVICE = {
    errno.ENOSPC: "the disk is full: free some space, or write elsewhere",
    errno.EDQUOT: "the disk quota is exceeded: free some space, or write elsewhere",
    errno.EACCES: "permission denied: check the permissions, or choose another location",
    errno.EPERM: "operation not permitted: check the permissions, or choose another location",
    errno.EROFS: "the file system is read-only: choose a writable location",
    errno.ENAMETOOLONG: "the name is too long: choose a shorter path",
    errno.ENOENT: "it does not exist: check the path",
    errno.ENOTDIR: "a part of the path is a file, not a folder: check the path",
    errno.EISDIR: "it is a folder: give a file",
}


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` says the disk (or the user's quota) is full: an ``OSError`` with ``ENOSPC`` or
    ``EDQUOT``, or SQLite's "database or disk is full" (``SQLITE_FULL``)."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    import sqlite3

    return isinstance(exc, sqlite3.Error) and (
        getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "disk is full" in str(exc)
    )


def describe_os_error(exc: OSError) -> str:
    """One line about a failed file operation: what failed, and what to do."""
    where = f"{exc.filename}: " if exc.filename is not None else ""
    advice = _ERRNO_ADVICE.get(exc.errno or 0)
    if advice is None:
        return f"{where}{exc.strerror or exc}"
    return f"{where}{advice}"


@contextmanager
def atomic_path(path: str | Path, suffix: str = ".part") -> Iterator[Path]:
    """A temporary path beside ``path`` to create (by this process or another program).

    On leaving the block without an error, the file there replaces ``path``; on an error it is
    removed and ``path`` is left as it was.
    """
    path = check_output_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A fresh name, not a file: whoever creates it gets the usual permissions (umask).
    tmp = path.parent / f".{path.name}.{os.urandom(6).hex()}{suffix}"
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def atomic_writer(path: str | Path, mode: str = "wb", **open_kwargs: Any) -> Iterator[IO[Any]]:
    """A file object (``mode`` ``"wb"`` or ``"w"``) whose content replaces ``path`` once complete."""
    if mode not in ("wb", "w"):
        msg = f"atomic_writer writes new files: mode must be 'wb' or 'w', not {mode!r}"
        raise ValueError(msg)
    if mode == "w":
        open_kwargs.setdefault("encoding", "utf-8")
    with atomic_path(path) as tmp, open(tmp, mode, **open_kwargs) as fh:
        yield fh
        fh.flush()
        os.fsync(fh.fileno())


def atomic_write(path: str | Path, data: bytes | str) -> Path:
    """Write ``data`` (text as UTF-8) to ``path`` atomically."""
    with atomic_writer(path) as fh:
        fh.write(data.encode("utf-8") if isinstance(data, str) else data)
    return Path(path)


def sha256_file(path: str | Path) -> str:
    """SHA-256 of a file's bytes, as hex."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def file_fingerprint(path: str | Path) -> str:
    """A short SHA-256 (16 hex digits): how custom models remember their base model's file."""
    return sha256_file(path)[:16]
