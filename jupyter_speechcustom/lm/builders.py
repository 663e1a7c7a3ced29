"""Finding and installing the KenLM builders ``lmplz`` and ``build_binary``.

KenLM ships no binaries; its PyPI sdist contains the full C++ sources, so
:func:`install_kenlm_builders` downloads that sdist with pip and compiles the two
programs with cmake into a per-user cache. :func:`find_builder` looks, in order, in
``$SPEECHCUSTOM_KENLM_BIN``, that cache and ``PATH``.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from jupyter_speechcustom.constants import (
    CACHE_ENV,
    KENLM_BIN_ENV,
    KENLM_BUILDERS,
    KENLM_VERSION,
    SETUP_COMMAND,
)
from jupyter_speechcustom.errors import BuildersInstallError, BuildersMissingError
from jupyter_speechcustom.io.files import atomic_path

log = logging.getLogger(__name__)

#: Debian packages the builders need to compile.
BUILD_PACKAGES = (
    "build-essential",
    "cmake",
    "libboost-program-options-dev",
    "libboost-system-dev",
    "libboost-thread-dev",
    "libboost-test-dev",
    "zlib1g-dev",
    "libbz2-dev",
    "liblzma-dev",
)


def cache_dir() -> Path:
    """The toolkit's per-user cache: ``$SPEECHCUSTOM_CACHE``, else the XDG cache folder."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "jupyter_speechcustom"


def builders_dir() -> Path:
    """Where :func:`install_kenlm_builders` puts the compiled programs."""
    return cache_dir() / f"kenlm-{KENLM_VERSION}" / "bin"


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def find_builder(name: str) -> Path:
    """Path of the KenLM program ``name`` (``lmplz`` or ``build_binary``).

    Raises :class:`BuildersMissingError`, naming the command that installs it, when absent.
    """
    if name not in KENLM_BUILDERS:
        msg = f"unknown KenLM builder {name!r}; expected one of {', '.join(KENLM_BUILDERS)}"
        raise ValueError(msg)
    override = os.environ.get(KENLM_BIN_ENV)
    if override:
        candidate = Path(override).expanduser() / name
        if _executable(candidate):
            return candidate
        msg = (
            f"{KENLM_BIN_ENV}={override} has no executable {name!r}. Point it at the folder "
            f"holding lmplz and build_binary, or unset it and run `{SETUP_COMMAND}`."
        )
        raise BuildersMissingError(msg)
    candidate = builders_dir() / name
    if _executable(candidate):
        return candidate
    on_path = shutil.which(name)
    if on_path:
        return Path(on_path)
    msg = (
        f"the KenLM builder {name!r} is not installed (looked in {builders_dir()} and on PATH). "
        f"Run `{SETUP_COMMAND}` to compile it (about a minute), or set {KENLM_BIN_ENV} to a "
        "folder that holds lmplz and build_binary."
    )
    raise BuildersMissingError(msg)


def builders_installed() -> bool:
    try:
        for name in KENLM_BUILDERS:
            find_builder(name)
    except BuildersMissingError:
        return False
    return True


def _missing_build_tools() -> list[str]:
    missing = [tool for tool in ("cmake", "c++", "make") if shutil.which(tool) is None]
    if not Path("/usr/include/boost/program_options.hpp").exists() and not os.environ.get("BOOST_ROOT"):
        missing.append("Boost headers")
    return missing


def _run(cmd: list[str], cwd: Path | None = None) -> None:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        msg = f"`{' '.join(cmd)}` failed (exit {proc.returncode}):\n{tail}"
        raise BuildersInstallError(msg)


def install_kenlm_builders(force: bool = False, jobs: int | None = None) -> Path:
    """Compile ``lmplz`` and ``build_binary`` from the kenlm sdist; return their folder.

    Does nothing when they are already in the cache, unless ``force``.
    """
    target = builders_dir()
    if not force and all(_executable(target / name) for name in KENLM_BUILDERS):
        log.info("KenLM builders already installed in %s", target)
        return target
    missing = _missing_build_tools()
    if missing:
        msg = (
            f"cannot compile the KenLM builders: missing {', '.join(missing)}. On Debian/Ubuntu run "
            f"`apt-get install -y {' '.join(BUILD_PACKAGES)}` (as root), then `{SETUP_COMMAND}` again."
        )
        raise BuildersInstallError(msg)
    with tempfile.TemporaryDirectory(prefix="speechcustom-kenlm-") as tmp:
        work = Path(tmp)
        log.info("downloading the kenlm %s sources", KENLM_VERSION)
        _run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", "kenlm",
              "--no-build-isolation", "--dest", str(work), f"kenlm=={KENLM_VERSION}"])
        sdists = sorted(work.glob("kenlm-*.tar.gz"))
        if not sdists:
            msg = f"pip downloaded no kenlm {KENLM_VERSION} source archive into {work}"
            raise BuildersInstallError(msg)
        with tarfile.open(sdists[0]) as tar:
            tar.extractall(work, filter="data")
        src = next(p for p in work.iterdir() if p.is_dir() and (p / "CMakeLists.txt").exists())
        log.info("compiling lmplz and build_binary (about a minute)")
        _run(["cmake", "-S", str(src), "-B", str(src / "build"), "-DCMAKE_BUILD_TYPE=Release"])
        _run(["cmake", "--build", str(src / "build"), "--target", *KENLM_BUILDERS,
              "-j", str(jobs or os.cpu_count() or 2)])
        target.mkdir(parents=True, exist_ok=True)
        for name in KENLM_BUILDERS:
            with atomic_path(target / name) as part:  # a half-copied builder is never found
                shutil.copy2(src / "build" / "bin" / name, part)
    log.info("KenLM builders installed in %s", target)
    return target
