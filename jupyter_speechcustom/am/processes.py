"""Where and in how many processes a fine-tuning runs: its working folders, and Lightning's launch.

A run's working folder lies beside its output and is removed by the next run there when the process
that made it is gone. Lightning's ``ddp`` starts the other training processes by running the program
again; :func:`check_launch` refuses what cannot train here before any work, and a process that joins
rank 0's run finds rank 0's data through :data:`RANK0_WORK_ENV` (:func:`joined_work`).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import socket
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    pass

from jupyter_speechcustom.am.outcome import TrainingError

#: Marks the working folders of training runs (``.<output name>.speechcustom-am-<pid>-<host>-<random>``).
WORK_MARK = ".speechcustom-am-"


def _host_tag() -> str:
    """This machine, in working folders' names: the processes of a multi-node run may share a drive."""
    return hashlib.sha1(socket.gethostname().encode()).hexdigest()[:8]


def _remove_stale_work(folder: Path) -> None:
    """Remove working folders that runs killed before they could clean up left in ``folder``."""
    if not folder.is_dir():
        return
    for path in folder.glob(f".*{WORK_MARK}*"):
        pid, *rest = path.name.rpartition(WORK_MARK)[2].split("-")
        elsewhere = len(rest) > 1 and rest[0] != _host_tag()  # another machine's process: cannot be checked
        if elsewhere or not pid.isdigit() or not path.is_dir() or path.is_symlink() or _alive(int(pid)):
            continue
        shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True



#: Set by rank 0 of a ``ddp`` run for the processes Lightning starts: the folder holding its training data.
RANK0_WORK_ENV = "SPEECHCUSTOM_AM_RANK0_WORK"


def _rerun_advice(strategy: str) -> str:
    return (f"strategy {strategy!r} starts its other training processes by running this program again, which a "
            "notebook, an interactive session or a background job cannot do: run `speechcustom am train ... "
            "--devices N --strategy ddp` from a terminal (in a notebook, a `!speechcustom am train ...` cell), "
            "or call train_acoustic_model from a script")


def _rerunnable() -> bool:
    """Whether Lightning's ``ddp`` can start this program again to make the other processes."""
    main = sys.modules.get("__main__")
    script = getattr(main, "__file__", None) is not None or getattr(main, "__spec__", None) is not None
    interactive = hasattr(sys, "ps1") or bool(sys.flags.interactive)
    return script and not interactive and threading.current_thread() is threading.main_thread()


def _check_launch(trainer_kwargs: dict[str, Any], iterations: int) -> int:
    """Refuse Lightning options that cannot train here, before any work; the number of training processes."""
    import lightning.pytorch as pl
    from lightning.fabric.utilities.exceptions import MisconfigurationException
    from lightning.pytorch.strategies.launchers import _MultiProcessingLauncher, _SubprocessScriptLauncher

    args = {"accelerator": "cpu", "devices": 1, "logger": False, "enable_checkpointing": False,
            "enable_progress_bar": False, "enable_model_summary": False, **trainer_kwargs}
    strategy = str(trainer_kwargs.get("strategy", "auto"))
    devices_log = logging.getLogger("lightning.pytorch.utilities.rank_zero")  # "GPU available: ..." once, in the fit
    devices_log.addFilter(_hide)
    try:
        trainer = pl.Trainer(**args)  # builds the accelerator and strategy only: nothing starts yet
    except MisconfigurationException as exc:
        if "interactive" in str(exc):
            raise TrainingError(_rerun_advice(strategy)) from None
        raise TrainingError(f"Lightning cannot train with {trainer_kwargs}: {exc}") from None
    finally:
        devices_log.removeFilter(_hide)
    launcher = trainer.strategy.launcher
    if isinstance(launcher, _MultiProcessingLauncher):
        # Its processes are copies of this one: progress, cancel and the epoch history would stay in them.
        raise TrainingError(f"strategy {strategy!r} trains in copies of this process that progress, cancellation "
                            "and the per-epoch history cannot reach: use strategy 'ddp' (speechcustom am train "
                            "--strategy ddp, or a script) instead")
    if (isinstance(launcher, _SubprocessScriptLauncher) and launcher.num_processes > 1
            and not launcher.cluster_environment.creates_processes_externally and not _rerunnable()):
        raise TrainingError(_rerun_advice(strategy))
    world_size = int(trainer.num_devices * trainer.num_nodes)
    if world_size > 1 and iterations > 1:
        raise TrainingError(f"iterations above 1 need one training process, not {world_size}: train one round per "
                            "run, passing the previous custom acoustic model as the base model")
    return world_size


def _hide(record: logging.LogRecord) -> bool:
    return False


_joined: set[str] = set()


def _joined_work() -> Path | None:
    """Rank 0's working folder when Lightning started this process to join its ``ddp`` run, else None.

    Only for the run that started it: a program that trains again runs again in step in every
    process (Lightning's contract), each preparing its own data, as on several nodes.
    """
    shared = os.environ.get(RANK0_WORK_ENV)
    if shared and os.environ.get("LOCAL_RANK", "0") != "0" and shared not in _joined:
        _joined.add(shared)
        return Path(shared)
    return None

