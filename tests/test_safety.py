"""Untrusted names, sizes and archives stay inside the workspace."""

from __future__ import annotations

import io
import logging
import tarfile
import zipfile
from pathlib import Path

import pytest
from helpers.archives import tar_bytes, zip_bytes
from helpers.audio import wav_bytes

from jupyter_speechcustom.errors import ModelLoadError
from jupyter_speechcustom.io.safety import (
    ArchiveLimitError,
    UnsafeArchiveError,
    UploadTooLargeError,
    reserve_path,
    safe_extract,
    sanitize_filename,
)
from jupyter_speechcustom.services.workspace import Workspace


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")}


@pytest.fixture
def sandbox(tmp_path: Path) -> tuple[Path, Workspace]:
    """A workspace inside a sandbox folder: anything written beside the workspace is a breach."""
    ws = Workspace(tmp_path / "sandbox" / "ws")
    return tmp_path / "sandbox", ws


def assert_nothing_outside(sandbox: Path, ws: Workspace) -> None:
    outside = [p for p in files_under(sandbox) if not p.resolve().is_relative_to(ws.path)]
    assert outside == []


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("/abs/path.wav", "path.wav"),
        ("a/../../b.txt", "b.txt"),
        ("..\\..\\windows\\system.ini", "system.ini"),
        ("con", "_con"),
        ("LPT1.txt", "_LPT1.txt"),
        ("bad\x00name.txt", "badname.txt"),
        ("tab\tand\nnewline.csv", "tabandnewline.csv"),
        ("..", "file"),
        ("", "file"),
        (".hidden", "hidden"),
        ("what?*<>|.wav", "what_____.wav"),
        ("notes.txt", "notes.txt"),
    ],
)
def test_sanitize_filename(name, expected):
    assert sanitize_filename(name) == expected


def test_sanitize_keeps_extension_of_long_names():
    name = sanitize_filename("x" * 500 + ".webm", max_length=40)
    assert name.endswith(".webm") and len(name) <= 40


def test_reserve_path_never_overwrites(tmp_path):
    first = reserve_path(tmp_path, "a.txt")
    second = reserve_path(tmp_path, "a.txt")
    third = reserve_path(tmp_path, "a.txt")
    assert [p.name for p in (first, second, third)] == ["a.txt", "a-2.txt", "a-3.txt"]


@pytest.mark.parametrize("name", ["../../etc/passwd", "/abs/path.wav", "a/../../b.txt", "con", "x\x00y.txt"])
def test_upload_names_cannot_escape(sandbox, name):
    root, ws = sandbox
    rec = ws.add_corpus(b"a line of text for the corpus\n", name=name)
    assert rec.path.parent == ws.path / "corpora"
    assert rec.path.read_bytes() == b"a line of text for the corpus\n"
    assert "/" not in rec.name and "\x00" not in rec.name and rec.name.lower() != "con"
    assert_nothing_outside(root, ws)


def test_same_name_twice_makes_two_files(sandbox):
    _, ws = sandbox
    first = ws.add_corpus(b"first text\n", name="notes.txt")
    second = ws.add_corpus(b"second text\n", name="notes.txt")
    assert first.path != second.path
    assert first.path.read_bytes() == b"first text\n"
    assert second.path.read_bytes() == b"second text\n"
    assert {r.name for r in ws.corpora()} == {"notes.txt", "notes-2.txt"}


def test_upload_size_limit(tmp_path):
    ws = Workspace(tmp_path / "ws", max_upload_bytes=100)
    with pytest.raises(UploadTooLargeError, match="limit") as err:
        ws.add_corpus(b"word " * 100, name="big.txt")
    assert "max_upload_bytes" in str(err.value)
    big = tmp_path / "big.txt"
    big.write_bytes(b"word " * 100)
    with pytest.raises(UploadTooLargeError):
        ws.add_corpus(big)
    assert ws.corpora() == []
    assert list((ws.path / "corpora").iterdir()) == []


@pytest.mark.parametrize(
    "entry", ["../evil.wav", "../../evil.wav", "a/../../evil.wav", "/abs/evil.wav", "..\\..\\evil.wav", "C:/evil.wav"]
)
def test_zip_slip_is_refused(sandbox, entry):
    root, ws = sandbox
    archive = zip_bytes({"ok.wav": wav_bytes(0.5), entry: wav_bytes(0.5)})
    with pytest.raises(UnsafeArchiveError, match="refusing"):
        ws.add_audio_archive(archive)
    assert ws.audio() == []
    assert list((ws.path / "audio").iterdir()) == []  # the partial extraction is gone
    assert_nothing_outside(root, ws)


def test_zip_symlink_entry_is_refused(sandbox):
    root, ws = sandbox
    with pytest.raises(UnsafeArchiveError, match="symbolic link"):
        ws.add_audio_archive(zip_bytes({"a.wav": wav_bytes(0.5)}, symlinks={"link.wav": "/etc/passwd"}))
    assert ws.audio() == [] and list((ws.path / "audio").iterdir()) == []
    assert_nothing_outside(root, ws)


@pytest.mark.parametrize("kind", ["symlink", "hardlink", "device", "fifo", "traversal"])
def test_tar_links_devices_and_traversal_are_refused(sandbox, kind):
    root, ws = sandbox
    good = tarfile.TarInfo("clips/a.wav")
    bad = tarfile.TarInfo("clips/b.wav")
    if kind == "symlink":
        bad.type, bad.linkname = tarfile.SYMTYPE, "/etc/passwd"
    elif kind == "hardlink":
        bad.type, bad.linkname = tarfile.LNKTYPE, "../../outside.wav"
    elif kind == "device":
        bad.type, bad.devmajor, bad.devminor = tarfile.CHRTYPE, 1, 3
    elif kind == "fifo":
        bad.type = tarfile.FIFOTYPE
    else:
        bad = tarfile.TarInfo("../../outside.wav")
    data = tar_bytes([(good, wav_bytes(0.5)), (bad, wav_bytes(0.5) if kind == "traversal" else None)])
    with pytest.raises(UnsafeArchiveError):
        ws.add_audio_archive(data)
    assert ws.audio() == [] and list((ws.path / "audio").iterdir()) == []
    assert_nothing_outside(root, ws)


def test_zip_bomb_stops_at_the_byte_limit(sandbox):
    root, ws = sandbox
    bomb = zip_bytes({"zeros.wav": bytes(8 * 1024**2)}, compression=zipfile.ZIP_DEFLATED)
    assert len(bomb) < 100_000  # tiny archive, large content
    with pytest.raises(ArchiveLimitError, match="more than"):
        ws.add_audio_archive(bomb, max_bytes=1024**2)
    assert list((ws.path / "audio").iterdir()) == []
    assert_nothing_outside(root, ws)


def test_archive_entry_limit(sandbox):
    _, ws = sandbox
    many = zip_bytes({f"f{i}.txt": b"x" for i in range(20)})
    with pytest.raises(ArchiveLimitError, match="more than 5 entries"):
        ws.add_audio_archive(many, max_files=5)
    streamed = tar_bytes([(tarfile.TarInfo(f"f{i}.txt"), b"x") for i in range(20)])
    with pytest.raises(ArchiveLimitError):
        ws.add_audio_archive(streamed, max_files=5)
    assert list((ws.path / "audio").iterdir()) == []


def test_duplicate_entries_are_refused(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("a.txt", b"one")
        with pytest.warns(UserWarning, match="Duplicate name"):
            zf.writestr("a.txt", b"two")
    with pytest.raises(UnsafeArchiveError, match="twice"):
        safe_extract(buf.getvalue(), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_not_an_archive(sandbox):
    _, ws = sandbox
    with pytest.raises(UnsafeArchiveError, match="not a zip or tar"):
        ws.add_audio_archive(b"just some bytes, not an archive" * 20)


def test_safe_extract_keeps_structure(tmp_path):
    root, files = safe_extract(zip_bytes({"a/b/c.txt": b"c", "d.txt": b"d"}), tmp_path)
    assert sorted(str(f) for f in files) == ["a/b/c.txt", "d.txt"]
    assert (root / "a" / "b" / "c.txt").read_bytes() == b"c"
    assert root.parent == tmp_path and root.name.startswith(".tmp-extract-")


def test_nemo_from_outside_warns(tmp_path, caplog):
    ws = Workspace(tmp_path / "ws")
    outside = tmp_path / "downloaded.nemo"
    outside.write_bytes(b"not really a model" * 10)
    with caplog.at_level(logging.WARNING), pytest.raises(ModelLoadError):
        ws.load_base_model(outside)
    assert "pickled" in caplog.text and "trust" in caplog.text
