"""A Jupyter server extension: the IBM Watson Speech to Text v1 API for customization and recognition.

Enabled in the environment by the README's set-up, it serves ``{base_url}speechcustom/api/v1/...``.
Requests carry a workspace API key (:mod:`jupyter_speechcustom.server.auth`: IBM's IAM exchange at
``{base_url}speechcustom/identity/token``, ``Basic apikey:KEY`` or a bearer token), which grants this
API and nothing else, or the Jupyter server's own token or login cookie. ``speechcustom serve``
(:mod:`jupyter_speechcustom.server.app`) serves the API alone. Every handler checks credentials and its
body limit on the headers and streams its body (:mod:`jupyter_speechcustom.server.base`); it is a thin
front end over :mod:`jupyter_speechcustom.services` (see :mod:`jupyter_speechcustom.server.handlers`; the
WebSocket ``/v1/recognize`` and the asynchronous ``/v1/recognitions`` are in
:mod:`jupyter_speechcustom.server.live`).
"""

from __future__ import annotations

from typing import Any

__all__ = ["load_jupyter_server_extension"]


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from jupyter_speechcustom.server.app import SpeechCustomApp

    return [{"module": "jupyter_speechcustom.server", "app": SpeechCustomApp}]


def load_jupyter_server_extension(serverapp: Any) -> None:
    """Load the extension into ``serverapp`` (the classic entry point; the ``app`` above is the one
    jupyter_server uses)."""
    from jupyter_speechcustom.server.app import SpeechCustomApp

    SpeechCustomApp._load_jupyter_server_extension(serverapp)
