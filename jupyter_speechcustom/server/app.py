"""``speechcustom serve``: a server of the Watson-compatible speech API and nothing else.

It is a jupyter_server ``ServerApp`` (its HTTP stack, auth, logging and signal handling) with
every one of Jupyter's own services left out: no contents, files, kernels, kernel specs,
sessions, terminals, nbconvert, config or events routes, no JupyterLab and no other server
extension. A token given to a speech client therefore grants the speech API and nothing more;
per-workspace API keys (``speechcustom keys create``) grant the same.
"""

from __future__ import annotations

import secrets
from typing import Any

from jupyter_server.base.handlers import Template404
from jupyter_server.extension.application import ExtensionApp
from jupyter_server.serverapp import ServerApp
from tornado.routing import RuleRouter

__all__ = ["SpeechCustomApp", "SpeechCustomServer", "serve"]

EXTENSION = "jupyter_speechcustom"


class SpeechCustomApp(ExtensionApp):
    """The extension as a jupyter_server ``ExtensionApp``: it adds the API's routes when the server
    loads it, and its stop closes what it opened (executors, loaded models, the workspace)."""

    name = EXTENSION
    description = "The IBM Watson Speech to Text v1-compatible API of jupyter_speechcustom."

    def initialize_handlers(self) -> None:
        from jupyter_speechcustom.server.handlers import setup_handlers, setup_not_found
        from jupyter_speechcustom.server.live import setup_live_handlers

        # Added straight to the web app: the API routes WebSocket upgrades of /v1/recognize apart
        # from its HTTP requests, and answers every other path under it last.
        self.service = setup_handlers(self.serverapp)
        self.jobs = setup_live_handlers(self.serverapp, self.service)
        setup_not_found(self.serverapp)

    async def stop_extension(self) -> None:
        jobs = getattr(self, "jobs", None)
        if jobs is not None:
            jobs.close()
        service = getattr(self, "service", None)
        if service is not None:
            service.close()
            self.log.info("speechcustom: stopped (executors shut down, models dropped, workspace closed)")


class SpeechCustomServer(ServerApp):
    """A Jupyter server that serves this package's API alone."""

    name = "speechcustom-serve"
    description = "The IBM Watson Speech to Text v1-compatible API of jupyter_speechcustom."

    # None of Jupyter's REST services (contents, kernels, sessions, files, ...): only the extension's routes.
    default_services = ()  # type: ignore[assignment]

    def find_server_extensions(self) -> None:
        """This extension alone: no JupyterLab, and no terminals (a server extension of their own)."""
        self.jpserver_extensions = {EXTENSION: True}

    def init_webapp(self) -> None:
        """Jupyter's web app without the routes it adds whatever the services: the contents manager's
        ``/files/`` (it would serve the server's folder), ``/login``, ``/logout``, ``/api``,
        ``/metrics``, ``/static/``, ``/`` and its redirect. Only the catch-all 404 stays; the
        extension adds its routes after this."""
        super().init_webapp()
        for rule in self.web_app.default_router.rules:
            router = rule.target
            if isinstance(router, RuleRouter):
                router.rules = [r for r in router.rules if r.target is Template404]


def serve(*, port: int = 8890, ip: str = "127.0.0.1", workspace: str | None = None, token: str | None = None,
          extra_argv: list[str] | None = None) -> int:
    """Run the server until interrupted; prints the API's URL and token first."""
    token = token or secrets.token_hex(24)
    argv = [
        f"--ServerApp.ip={ip}", f"--ServerApp.port={port}", "--ServerApp.port_retries=0", "--ServerApp.open_browser=False",
        f"--IdentityProvider.token={token}",
        *([f"--SpeechCustomService.workspace={workspace}"] if workspace else []),
        *(extra_argv or []),
    ]
    app: Any = SpeechCustomServer.instance()
    app.initialize(argv=argv)
    service = app.web_app.settings["speechcustom_service"]
    url = app.connection_url.rstrip("/") + "/speechcustom/api"
    print(f"speechcustom: IBM Watson STT v1-compatible API at {url}", flush=True)
    print(f"speechcustom: token {token} (Authorization: Bearer {token}); workspace {service.workspace}", flush=True)
    print("speechcustom: API keys for clients: speechcustom keys create NAME --workspace "
          f"{service.workspace} (IAMAuthenticator(KEY, url='{app.connection_url.rstrip('/')}/speechcustom') "
          "or Basic apikey:KEY)", flush=True)
    app.start()
    return 0
