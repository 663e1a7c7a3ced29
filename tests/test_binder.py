"""The Binder configuration, checked with repo2docker's own tooling (no Docker engine needed).

`jupyter-repo2docker --no-build --debug` picks a build pack from `binder/` and prints the
Dockerfile it would build; the tests read that Dockerfile.
"""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / "binder"


def setup_sh_value(pattern: str) -> str:
    match = re.search(pattern, (ROOT / "scripts" / "setup.sh").read_text(), re.S)
    assert match, f"{pattern!r} not found in scripts/setup.sh"
    return match.group(1)


@pytest.fixture(scope="module")
def dockerfile(tmp_path_factory) -> str:
    repo = tmp_path_factory.mktemp("binder-repo")
    shutil.copytree(BINDER, repo / "binder")
    shutil.copy(ROOT / "pyproject.toml", repo / "pyproject.toml")
    executable = shutil.which("jupyter-repo2docker") or str(Path(sys.executable).with_name("jupyter-repo2docker"))
    result = subprocess.run([executable, "--no-build", "--no-run", "--debug", str(repo)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    text = result.stdout + result.stderr
    assert "FROM " in text, text[-2000:]
    return text


def test_repo2docker_uses_the_binder_folder_with_python_3_11(dockerfile):
    assert "conda environment for python=3.11" in dockerfile
    assert 'pip install --no-cache-dir -r "binder/requirements.txt"' in dockerfile


def test_apt_packages_are_the_setup_scripts_runtime_packages(dockerfile):
    apt = BINDER.joinpath("apt.txt").read_text().split()
    runtime = setup_sh_value(r"apt_packages=\(([^)]*)\)").split()
    assert sorted(apt) == sorted(runtime)
    install = next(line for line in dockerfile.splitlines() if "apt-get install" in line and "cmake" in line)
    assert all(pkg in install.split() for pkg in apt)


def test_cpu_torch_is_installed_before_the_package(dockerfile):
    requirements = BINDER.joinpath("requirements.txt").read_text()
    version = setup_sh_value(r"TORCH_VERSION=(\S+)")
    assert f"torch=={version}" in requirements.split()
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in requirements
    # requirements.txt (torch) runs first, postBuild (the package, NeMo and the KenLM builders) after it.
    assert dockerfile.index("binder/requirements.txt\"") < dockerfile.index("./binder/postBuild")


def test_post_build_installs_the_package_and_compiles_the_builders():
    post_build = BINDER / "postBuild"
    assert post_build.stat().st_mode & 0o111, "binder/postBuild must be executable"
    commands = [line.strip() for line in post_build.read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    assert commands[0] == "set -euo pipefail"
    assert "python -m pip install --no-cache-dir -e \".[notebooks]\"" in commands  # the tutorials import pandas, tqdm
    assert commands[-1] == "speechcustom setup"


def test_readme_binder_link_opens_notebook_01():
    readme = (ROOT / "README.md").read_text()
    link = re.search(r"https://mybinder\.org/v2/gh/[^)\s]+", readme)
    assert link, "README has no Binder link"
    target = re.search(r"urlpath=lab(?:%2F|/)tree(?:%2F|/)(notebooks(?:%2F|/)[^&)\s]+\.ipynb)", link.group(0))
    assert target, link.group(0)
    assert (ROOT / target.group(1).replace("%2F", "/")).is_file()
