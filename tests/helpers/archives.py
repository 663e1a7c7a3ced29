"""Zip and tar archives built in memory, including the hostile kinds (symlinks, traversal names)."""

from __future__ import annotations

import io
import tarfile
import zipfile
from collections.abc import Iterable, Mapping


def zip_bytes(entries: Mapping[str, bytes] | Iterable[tuple[str, bytes]], *, compression: int = zipfile.ZIP_STORED,
              symlinks: Mapping[str, str] | None = None) -> bytes:
    """A zip of ``entries`` (name to bytes; pairs allow a name twice) and ``symlinks`` (name to target)."""
    pairs = entries.items() if isinstance(entries, Mapping) else entries
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in pairs:
            zf.writestr(name, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o120777 << 16)  # a symlink, as Info-ZIP stores one
            zf.writestr(info, target)
    return buf.getvalue()


def tar_bytes(members: Iterable[tuple[str | tarfile.TarInfo, bytes | None]]) -> bytes:
    """A gzipped tar of (name or ``TarInfo``, bytes) members; ``None`` adds the header alone (links, folders)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for member, data in members:
            info = tarfile.TarInfo(member) if isinstance(member, str) else member
            if data is not None:
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
            else:
                tf.addfile(info)
    return buf.getvalue()
