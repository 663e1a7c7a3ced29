"""The one way files are written and fingerprinted.

Every file the toolkit writes is published atomically: it is written beside its final name and
renamed into place only when complete, so a reader (or a process killed mid-write) sees the old
file or the new one, never half. Every content hash is SHA-256 of the file's bytes.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_path", "atomic_write", "atomic_writer", "file_fingerprint", "sha256_file"]

_BLOCK = 1 << 20


@contextmanager
def atomic_path(path: str | Path, suffix: str = ".part") -> Iterator[Path]:
    """A temporary path beside ``path`` to create (by this process or another program).

    On leaving the block without an error, the file there replaces ``path``; on an error it is
    removed and ``path`` is left as it was.
    """
    path = Path(path)
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
