import subprocess

import pytest

from jupyter_speechcustom.constants import KENLM_BIN_ENV
from jupyter_speechcustom.errors import BuildersMissingError
from jupyter_speechcustom.lm.builders import builders_dir, find_builder, install_kenlm_builders


def test_builders_are_installed_and_run(tmp_path):
    lmplz = find_builder("lmplz")
    text = tmp_path / "corpus.txt"
    text.write_text("the cat sat on the mat\nthe dog sat on the log\na cat and a dog\n" * 3)
    arpa = tmp_path / "lm.arpa"
    with text.open() as stdin, arpa.open("w") as stdout:
        subprocess.run([str(lmplz), "-o", "3", "--discount_fallback"], stdin=stdin, stdout=stdout,
                       stderr=subprocess.DEVNULL, check=True)
    assert "\\data\\" in arpa.read_text()
    binary = tmp_path / "lm.bin"
    subprocess.run([str(find_builder("build_binary")), str(arpa), str(binary)], check=True, capture_output=True)
    import kenlm

    model = kenlm.Model(str(binary))
    assert model.order == 3
    assert model.score("the cat sat on the mat") > model.score("mat the on sat cat the")


def test_install_is_a_no_op_when_present():
    assert install_kenlm_builders() == builders_dir()


def test_override_pointing_nowhere_names_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv(KENLM_BIN_ENV, str(tmp_path))
    with pytest.raises(BuildersMissingError) as err:
        find_builder("lmplz")
    assert KENLM_BIN_ENV in str(err.value) and "speechcustom setup" in str(err.value)


def test_missing_builders_name_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setenv("SPEECHCUSTOM_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.delenv(KENLM_BIN_ENV, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(BuildersMissingError, match="speechcustom setup"):
        find_builder("build_binary")


def test_unknown_builder_is_misuse():
    with pytest.raises(ValueError, match="lmplz"):
        find_builder("query")
