"""ARPA n-gram files and KenLM: checking that an ARPA file is whole, loading one with KenLM (once
per file version, its progress bar kept out of sight) and building one with ``lmplz`` from lines
streamed to it; :class:`LanguageModelError` when a language model cannot be built or loaded."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from jupyter_speechcustom.errors import SpeechCustomError
from jupyter_speechcustom.io.files import atomic_path
from jupyter_speechcustom.lm.builders import find_builder


class LanguageModelError(SpeechCustomError, RuntimeError):
    """A language model that cannot be built or loaded."""


_ARPA_COUNT = re.compile(r"ngram (\d+)=(\d+)")


def check_arpa(path: Path) -> None:
    """A cheap check that an ARPA file is whole: its header, and the ``\\end\\`` it closes with.

    Reads the first and last few kilobytes only, so a truncated or foreign file is refused when
    a model is opened or added, not later in the middle of decoding.
    """
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(4096).decode("utf-8", errors="replace")
            fh.seek(max(0, size - 64))
            tail = fh.read().decode("utf-8", errors="replace")
    except OSError as exc:
        raise LanguageModelError(f"cannot read {path}: {exc.strerror or exc}; check the file") from None
    lines = head.lstrip().splitlines()
    problem = None
    if not lines or lines[0].strip() != "\\data\\":
        problem = "it does not start with \\data\\"
    else:
        counts = []
        for line in lines[1:]:
            match = _ARPA_COUNT.fullmatch(line.strip())
            if not match:
                break
            counts.append((int(match[1]), int(match[2])))
        if not counts or [n for n, _ in counts] != list(range(1, len(counts) + 1)) or counts[0][1] == 0:
            problem = "its header has no n-gram counts"
        elif not tail.rstrip().endswith("\\end\\"):
            problem = "it does not end with \\end\\ (truncated)"
        elif size < 4 * sum(c for _, c in counts):
            problem = f"it is too short ({size} bytes) for the {sum(c for _, c in counts)} n-grams its header counts"
    if problem:
        raise LanguageModelError(f"{path} is damaged: {problem}. Rebuild the language model")


_KENLM_CACHE: dict[tuple[str, float], Any] = {}


def kenlm_model(path: Path) -> Any:
    """A kenlm.Model per file version: loading an ARPA takes a while, scoring is fast."""
    import kenlm

    key = (str(path), path.stat().st_mtime)
    if key not in _KENLM_CACHE:
        _KENLM_CACHE.clear()
        error: Exception | None = None
        with stderr_to_file():
            try:
                model = kenlm.Model(str(path))
            except (OSError, RuntimeError) as exc:
                error = exc
        if error is not None:
            msg = f"cannot load {path} ({error}); rebuild the language model"
            raise LanguageModelError(msg) from error
        _KENLM_CACHE[key] = model
    return _KENLM_CACHE[key]


@contextlib.contextmanager
def stderr_to_file() -> Iterator[None]:
    """Keep what C++ code writes to file descriptor 2 out of sight (KenLM draws a progress bar
    while it reads an ARPA file, which would land in a notebook as red text)."""
    with tempfile.TemporaryFile() as sink:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def run_lmplz(lines: Iterable[str], arpa_path: Path, order: int, tmp: Path) -> None:
    """Run lmplz on lines streamed to its stdin as they are produced.

    Streaming lets lmplz count n-grams while Python is still tokenizing the corpus (two cores
    working at once), and no token file is written.
    """
    lmplz = find_builder("lmplz")
    cmd = [str(lmplz), "-o", str(order), "--discount_fallback", "-S", "10%", "-T", str(tmp)]
    # lmplz reports progress on stderr: a file, so a chatty run can never fill a pipe and stall.
    with atomic_path(arpa_path) as part, tempfile.TemporaryFile(dir=tmp) as stderr, part.open("wb") as stdout:
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=stdout, stderr=stderr, encoding="utf-8")
        assert proc.stdin is not None  # stdin=PIPE
        try:
            proc.stdin.writelines(f"{line}\n" for line in lines)
        except BrokenPipeError:
            pass  # lmplz stopped reading: it failed, and its stderr says why
        except BaseException:
            proc.kill()
            raise
        finally:
            with contextlib.suppress(BrokenPipeError):
                proc.stdin.close()
            returncode = proc.wait()
        stderr.seek(0)
        errors = stderr.read().decode(errors="replace")
        if returncode != 0:
            tail = errors.strip().splitlines()[-5:]
            msg = f"lmplz failed (exit {returncode}): {' / '.join(tail)}"
            raise LanguageModelError(msg)
