"""A full disk under the workspace, and the n-gram orders a custom LM may have.

The disk is a real one: a small tmpfs mounted for the test (root only; the test is skipped where
mounting is not allowed), filled to the last byte, so the errors are the kernel's and SQLite's own.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from jupyter_speechcustom.cli import build_parser
from jupyter_speechcustom.constants import LM_ORDER_RANGE
from jupyter_speechcustom.errors import InvalidOptionError
from jupyter_speechcustom.lm.language_model import check_build_options, choose_order
from jupyter_speechcustom.services.workspace import Workspace
from jupyter_speechcustom.store.workspace import DiskFullError

CORPUS = b"kubectl get pods in the staging cluster\nterraform plan before every apply\n"


@pytest.fixture
def small_disk(tmp_path):
    """A fresh 8 MB tmpfs, unmounted afterwards."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root and mount(8)")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not allowed here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    """Fill ``disk`` to the last byte with one file; deleting it frees the space again."""
    filler = disk / "filler.bin"
    block = b"\0" * (1 << 16)
    with filler.open("wb", buffering=0) as fh:
        for size in (len(block), 4096, 512, 1):
            with contextlib.suppress(OSError):
                while True:
                    fh.write(block[:size])
    with pytest.raises(OSError) as full:
        (disk / "probe").write_bytes(b"x" * 4096)
    assert full.value.errno == errno.ENOSPC
    (disk / "probe").unlink(missing_ok=True)
    return filler


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_full_disk_while_storing_a_file_changes_nothing(small_disk):
    ws = Workspace(small_disk / "ws")
    kept = ws.add_corpus(CORPUS, "kept.txt")
    ws.add_result("baseline", {"wer": 0.5})
    before = (listing(ws.path / "corpora"), listing(ws.path / "results"), [r.id for r in ws.records()])
    filler = fill(small_disk)

    big = CORPUS * 20_000  # ~1.5 MB
    with pytest.raises(DiskFullError) as err:
        ws.add_corpus(big, "notes.txt")
    message = str(err.value)
    assert message == (f"the disk holding the workspace at {ws.path} is full: free space and retry; "
                       "nothing was changed")
    assert err.value.errno == errno.ENOSPC and isinstance(err.value, OSError)
    with pytest.raises(DiskFullError):
        ws.add_result("baseline", {"wer": 0.4, "hyps": ["word " * 200] * 200})
    # Nothing half-written (no placeholder, no temporary file), nothing lost.
    after = (listing(ws.path / "corpora"), listing(ws.path / "results"), [r.id for r in ws.records()])
    assert after == before
    assert (ws.path / kept.path).read_bytes() == CORPUS
    assert ws.result(ws.results()[0].id) == {"wer": 0.5}

    filler.unlink()  # free space, retry: it works
    again = ws.add_corpus(big, "notes.txt")
    assert (ws.path / again.path).read_bytes() == big
    ws.close()


def test_full_disk_while_writing_the_index_changes_nothing(small_disk):
    ws = Workspace(small_disk / "ws")
    rec = ws.add_corpus(CORPUS, "kept.txt")
    info = dict(ws.get(rec.id).info)
    filler = fill(small_disk)
    with pytest.raises(DiskFullError, match=r"is full: free space and retry; nothing was changed"):
        ws.update_info(rec.id, {"notes": "x" * 2_000_000})  # far more than fits: SQLite reports SQLITE_FULL
    assert ws.get(rec.id).info == info
    filler.unlink()
    ws.update_info(rec.id, {"notes": "short"})
    assert ws.get(rec.id).info["notes"] == "short"
    ws.close()
    assert Workspace(small_disk / "ws").get(rec.id).info["notes"] == "short"  # the index is sound after it


def test_lm_order_range_is_one_constant(capsys):
    low, high = LM_ORDER_RANGE
    sizes = (0, 100, 10**4, 10**5, 10**6, 10**7, 10**9)
    orders = {choose_order(n, character) for n in sizes for character in (True, False)}
    assert orders <= set(range(low, high + 1))
    assert choose_order(10**9, True) == high  # the largest corpora get the longest order the builders take
    for order in (low, high):
        check_build_options(order=order)
    for order in (low - 1, high + 1):
        with pytest.raises(InvalidOptionError, match=f"from {low} to {high}"):
            check_build_options(order=order)

    parser = build_parser()
    common = ["lm", "build", "--base", "demo", "--corpus", "c.txt", "--out", "lm"]
    assert parser.parse_args([*common, "--order", str(high)]).order == high
    assert parser.parse_args([*common, "--order", str(low)]).order == low
    for order in (low - 1, high + 1):
        with pytest.raises(SystemExit):
            parser.parse_args([*common, "--order", str(order)])
        assert f"give a whole number from {low} to {high}" in capsys.readouterr().err
