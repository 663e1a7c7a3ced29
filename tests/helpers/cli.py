"""The ``speechcustom`` command line, run in-process."""

from __future__ import annotations


def run_cli(capsys, *args: str) -> tuple[int, str]:
    """Run ``speechcustom`` in-process: (exit code, stderr); a traceback is a failure."""
    from jupyter_speechcustom.cli import main

    try:
        code = main(list(args))
    except SystemExit as exc:  # argparse refusals
        code = int(exc.code or 0)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err
