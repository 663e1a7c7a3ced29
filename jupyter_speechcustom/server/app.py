"""``speechcustom serve``: a Jupyter server with only this package's extension (the Watson-compatible API)."""

from __future__ import annotations

import secrets
from typing import Any

from jupyter_server.serverapp import ServerApp

from jupyter_speechcustom.server.handlers import API_PREFIX

__all__ = ["SpeechCustomServer", "serve"]

EXTENSION = "jupyter_speechcustom"


class SpeechCustomServer(ServerApp):
    """A Jupyter server that loads this package's extension and no other."""

    name = "speechcustom-serve"
    description = "The IBM Watson Speech to Text v1-compatible API of jupyter_speechcustom."

    def find_server_extensions(self) -> None:
        self.jpserver_extensions = {EXTENSION: True}


def serve(*, port: int = 8890, ip: str = "127.0.0.1", workspace: str | None = None, token: str | None = None,
          extra_argv: list[str] | None = None) -> int:
    """Run the server until interrupted; prints the API's URL and token first."""
    token = token or secrets.token_hex(24)
    argv = [
        f"--ServerApp.ip={ip}", f"--ServerApp.port={port}", "--ServerApp.port_retries=0", "--ServerApp.open_browser=False",
        f"--IdentityProvider.token={token}", f"--ServerApp.default_url=/{API_PREFIX}/models",
        *([f"--SpeechCustomService.workspace={workspace}"] if workspace else []),
        *(extra_argv or []),
    ]
    app: Any = SpeechCustomServer.instance()
    app.initialize(argv=argv)
    service = app.web_app.settings["speechcustom_service"]
    url = app.connection_url.rstrip("/") + "/speechcustom/api"
    print(f"speechcustom: IBM Watson STT v1-compatible API at {url}", flush=True)
    print(f"speechcustom: token {token} (Authorization: Bearer {token}); workspace {service.workspace}", flush=True)
    app.start()
    return 0
