"""A Jupyter server extension: the IBM Watson Speech to Text v1 API for customization and recognition.

Enabled by the package's install (``etc/jupyter/jupyter_server_config.d/jupyter_speechcustom.json``),
it serves ``{base_url}speechcustom/api/v1/...`` behind the server's token and XSRF rules, so the
official ``ibm-watson`` SDK works with ``service_url = {server}/speechcustom/api`` and a
``BearerTokenAuthenticator(jupyter_token)``. It is a thin front end over
:mod:`jupyter_speechcustom.services` (see :mod:`jupyter_speechcustom.server.handlers`; the WebSocket
``/v1/recognize`` and the asynchronous ``/v1/recognitions`` are in :mod:`jupyter_speechcustom.server.live`).
"""

from __future__ import annotations

from typing import Any

__all__ = ["load_jupyter_server_extension"]


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "jupyter_speechcustom.server"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    from jupyter_speechcustom.server.handlers import setup_handlers, setup_not_found
    from jupyter_speechcustom.server.live import setup_live_handlers

    setup_live_handlers(serverapp, setup_handlers(serverapp))
    setup_not_found(serverapp)


load_jupyter_server_extension = _load_jupyter_server_extension
