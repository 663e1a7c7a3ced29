"""Driving widgets from Python the way the front end does."""

from __future__ import annotations

import html
from datetime import datetime, timezone


def upload(*files: tuple[str, bytes]) -> tuple[dict, ...]:
    """A ``FileUpload`` value, as the front end sends it."""
    now = datetime.now(timezone.utc)
    return tuple({"name": name, "type": "", "size": len(data), "content": memoryview(data), "last_modified": now}
                 for name, data in files)


def finish(panel, timeout: float = 300) -> str:
    """Wait for the panel's latest job; return its status."""
    assert panel.job is not None
    status = panel.job.wait(timeout)
    assert status not in ("queued", "running"), f"job still {status}"
    return status


def status_of(panel) -> str:
    """The panel's status area as text."""
    return html.unescape(panel.status.value)
