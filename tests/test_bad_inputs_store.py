"""The workspace index, damaged or foreign, and workspace paths no file system takes.

Part of the adversarial probe of bad inputs and faults against the CLI, the Python API and the
workspace. Each case is a small generated fixture; each asserts the message (what is wrong, what
to do) and that nothing of the user's was lost.

Test names say the outcome: ``test_error_*`` a specific error before any work is wasted,
``test_ok_*`` a correct result where a wrong one (or a traceback) came before.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from helpers.files import snapshot, user_folder

# ------------------------------------------------------------ the workspace index: damaged, foreign


def _index_case(tmp_path: Path, content: bytes | None = None, sql: str | None = None) -> Path:
    from jupyter_speechcustom.store.index import INDEX

    folder = tmp_path / "ws"
    folder.mkdir()
    if content is not None:
        (folder / INDEX).write_bytes(content)
    if sql is not None:
        with sqlite3.connect(folder / INDEX) as conn:
            conn.executescript(sql)
    (folder / "notes.txt").write_text("mine")
    return folder


@pytest.mark.parametrize("content", [b"garbage" * 2000, b"SQLite format 3\x00" + b"\xff" * 4000])
def test_error_a_corrupt_index(tmp_path, content):
    from jupyter_speechcustom.services.workspace import Workspace
    from jupyter_speechcustom.store.index import WorkspaceError

    folder = _index_case(tmp_path, content)
    before = snapshot(folder)
    with pytest.raises(WorkspaceError, match="is damaged or not a jupyter_speechcustom workspace index .*backup"):
        Workspace(folder)
    assert snapshot(folder) == before


def test_error_a_foreign_index_with_other_columns(tmp_path):
    from jupyter_speechcustom.services.workspace import Workspace
    from jupyter_speechcustom.store.index import WorkspaceError

    folder = _index_case(tmp_path, sql="CREATE TABLE records (id TEXT, whatever TEXT);"
                                       "INSERT INTO records VALUES ('x', 'y');")
    with pytest.raises(WorkspaceError, match="damaged or not a jupyter_speechcustom workspace index"):
        Workspace(folder).records()
    assert (folder / "notes.txt").read_text() == "mine"


def test_error_a_foreign_schema_version(tmp_path):
    from jupyter_speechcustom.services.workspace import Workspace
    from jupyter_speechcustom.store.index import WorkspaceError

    folder = _index_case(tmp_path, sql="CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);"
                                       "INSERT INTO meta VALUES ('schema_version', '999');")
    with pytest.raises(WorkspaceError, match="another version of jupyter_speechcustom"):
        Workspace(folder)


# ------------------------------------------------------------- workspace paths no file system takes


@pytest.mark.parametrize(("make", "match"), [
    (lambda tmp: str(tmp / "ws\x00evil"), r"contains a NUL character, which no file system allows"),
    (lambda tmp: tmp / ("w" * 300), r"is too long: a folder name of 300 bytes \(the limit is 255\)"),
    (lambda tmp: tmp.joinpath(*["d" * 200] * 25), r"is too long: \d[\d,]* bytes \(the limit is about 4096\)"),
])
def test_error_workspace_paths_that_cannot_exist(tmp_path, make, match):
    from jupyter_speechcustom.services.workspace import Workspace
    from jupyter_speechcustom.store.index import WorkspaceError

    mine = user_folder(tmp_path / "mine")
    before = snapshot(tmp_path)
    with pytest.raises(WorkspaceError, match=match):
        Workspace(make(tmp_path))
    assert snapshot(tmp_path) == before and snapshot(mine)
