"""Which process owns a job: this process's identity as recorded with a job (host, pid and, on
Linux, a start token that tells a reused pid apart), and whether a job's owner still runs."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path
from typing import Any


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _proc_stat(pid: int) -> tuple[str, str] | None:
    """(state, start time in clock ticks since boot) from ``/proc``, or None if no such process."""
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = data[data.rindex(")") + 2 :].split()  # the command name may contain spaces and ')'
    return fields[0], fields[19]


def _start_token(pid: int) -> str:
    """Identifies one run of process ``pid``: a reused pid gets another token."""
    stat = _proc_stat(pid) if sys.platform.startswith("linux") else None
    return f"{_boot_id()}:{stat[1]}" if stat else ""


def process_identity() -> dict[str, Any]:
    """This process, as recorded with a job: host, pid and a start token (Linux)."""
    return {"host": socket.gethostname(), "pid": os.getpid(), "started": _start_token(os.getpid())}


def owner_alive(host: str | None, pid: int | None, started: str | None) -> bool:
    """Whether the process that owns a job still runs.

    A process on another host cannot be checked and counts as alive (a workspace on a shared
    drive must not have its jobs marked interrupted by a second machine). On Linux a reused
    pid is told apart by its start time; a zombie counts as gone.
    """
    if host != socket.gethostname():
        return True
    if not pid:
        return False
    if pid == os.getpid():
        return (started or "") == _start_token(pid)
    if sys.platform.startswith("linux") and Path("/proc/self/stat").exists():
        stat = _proc_stat(pid)
        if stat is None or stat[0] in ("Z", "X", "x"):
            return False
        return not started or started == f"{_boot_id()}:{stat[1]}"
    if os.name == "nt":  # os.kill would terminate the process there; assume alive
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
