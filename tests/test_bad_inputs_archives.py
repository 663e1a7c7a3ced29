"""Zip and tar bombs are refused before anything is written.

Part of the adversarial probe of bad inputs and faults against the CLI, the Python API and the
workspace. Each case is a small generated fixture; each asserts the message (what is wrong, what
to do) and that nothing of the user's was lost.

Test names say the outcome: ``test_error_*`` a specific error before any work is wasted,
``test_ok_*`` a correct result where a wrong one (or a traceback) came before.
"""

from __future__ import annotations

import io
import os
import tarfile
import zipfile
from pathlib import Path

import pytest
from helpers.files import snapshot, user_folder

# ------------------------------------------------------- zip bombs: refused before anything is written


def _bomb(path: Path, megabytes: int, compression: int = zipfile.ZIP_DEFLATED) -> Path:
    """A small zip whose one member declares ``megabytes`` MB of zeros (a zip bomb in miniature)."""
    with zipfile.ZipFile(path, "w", compression) as zf:
        zf.writestr("audio/a.wav", b"\0" * (megabytes << 20))
    return path


def _no_writes(monkeypatch) -> list[object]:
    """Record every file the extractor starts to write: a refusal up front leaves this empty."""
    from jupyter_speechcustom.io import safety

    written: list[object] = []
    original = safety._Extractor.file

    def spy(self, rel, stream):
        written.append(rel)
        return original(self, rel, stream)

    monkeypatch.setattr(safety._Extractor, "file", spy)
    return written


def test_error_a_zip_bomb_is_refused_from_its_declared_sizes(tmp_path, monkeypatch):
    from jupyter_speechcustom.io.safety import ArchiveLimitError, safe_extract

    bomb = _bomb(tmp_path / "bomb.zip", 8)
    assert bomb.stat().st_size < 100_000
    target = user_folder(tmp_path / "target")
    before = snapshot(target)
    written = _no_writes(monkeypatch)
    with pytest.raises(ArchiveLimitError, match=r"declares more than 1.0 MB of files \(at 'audio/a.wav'; a zip bomb.*"
                                                r"nothing was extracted.*max_archive_bytes="):
        safe_extract(bomb, target, max_bytes=1 << 20)
    assert written == [] and snapshot(target) == before


def test_error_a_zip_bomb_is_refused_from_its_compression_ratio(tmp_path, monkeypatch):
    from jupyter_speechcustom.io.safety import ArchiveLimitError, safe_extract

    bomb = _bomb(tmp_path / "bomb.zip", 4, zipfile.ZIP_BZIP2)  # within the byte limit, but 4 MB from ~100 bytes
    target = tmp_path / "target"
    written = _no_writes(monkeypatch)
    with pytest.raises(ArchiveLimitError, match=r"'audio/a.wav' is compressed more than 1000:1 .*only a zip bomb"):
        safe_extract(bomb, target, max_bytes=64 << 20)
    assert written == [] and list(target.iterdir()) == []


def test_error_a_zip_bomb_uploaded_to_a_workspace_writes_nothing(ws, tmp_path, monkeypatch):
    from jupyter_speechcustom.io.safety import ArchiveLimitError

    data = _bomb(tmp_path / "bomb.zip", 8).read_bytes()
    before = snapshot(ws.path)
    written = _no_writes(monkeypatch)
    with pytest.raises(ArchiveLimitError, match="declares more than 1.0 MB of files"):
        ws.add_audio_archive(data, name="calls.zip", max_bytes=1 << 20)
    assert written == [] and snapshot(ws.path) == before and ws.records() == []


def test_error_a_tar_bomb_is_refused_from_its_headers(tmp_path, monkeypatch):
    from jupyter_speechcustom.io.safety import ArchiveLimitError, safe_extract

    bomb = tmp_path / "bomb.tar.gz"
    with tarfile.open(bomb, "w:gz") as tf:
        for n in range(3):
            info = tarfile.TarInfo(f"a{n}.wav")
            info.size = 1 << 20
            tf.addfile(info, io.BytesIO(b"\0" * info.size))
    target = tmp_path / "target"
    written = _no_writes(monkeypatch)
    with pytest.raises(ArchiveLimitError, match=r"declares more than 2.0 MB of files \(at 'a2.wav'"):
        safe_extract(bomb, target, max_bytes=2 << 20)
    assert written == [] and list(target.iterdir()) == []


def test_ok_a_normal_archive_still_extracts(tmp_path):
    from jupyter_speechcustom.io.safety import safe_extract

    archive = tmp_path / "ok.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.txt", "hello " * 1000)
        zf.writestr("b/c.wav", os.urandom(2000))
    root, files = safe_extract(archive, tmp_path / "target", max_bytes=1 << 20)
    assert sorted(map(str, files)) == ["a.txt", "b/c.wav"] and (root / "a.txt").read_text() == "hello " * 1000
