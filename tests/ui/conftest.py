"""Fixtures for real-browser tests: a JupyterLab 4 server and Debian's Chromium driven by Playwright.

Nothing is downloaded: Chromium is ``/usr/bin/chromium`` (``apt-get install -y chromium``;
``make test`` installs it). Each test gets its own server, port, token and ``JUPYTER_*``
folders. Screenshots go to ``$SPEECHCUSTOM_SCREENSHOTS`` when set, else to the test's
temporary folder.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers.server import stop_server

# studio.ipynb is the page the browser tests open, not a tutorial: nbval must not collect it.
collect_ignore = ["studio.ipynb"]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
]
NOTEBOOK = Path(__file__).with_name("studio.ipynb")
SERVER_START_TIMEOUT = 60.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Lab:
    """A running JupyterLab server."""

    url: str
    token: str
    root: Path
    workspace: Path
    log: Path

    def notebook_url(self, name: str) -> str:
        return f"{self.url}/lab/tree/{name}?token={self.token}"


@pytest.fixture
def chromium_path() -> Path:
    if not CHROMIUM.exists():
        msg = f"{CHROMIUM} is missing: install Debian's Chromium with `apt-get install -y chromium`"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return CHROMIUM


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("SPEECHCUSTOM_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    """A JupyterLab server rooted in a temporary folder holding ``studio.ipynb``."""
    root = tmp_path / "root"
    root.mkdir()
    shutil.copy(NOTEBOOK, root / NOTEBOOK.name)
    jupyter = tmp_path / "jupyter"
    config = jupyter / "config"
    (config / "labconfig").mkdir(parents=True)
    # No news or update pop-ups over the page.
    (config / "labconfig" / "page_config.json").write_text(json.dumps(
        {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}))
    workspace = tmp_path / "studio-workspace"
    token = secrets.token_hex(16)
    port = _free_port()
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(config),
        "JUPYTER_DATA_DIR": str(jupyter / "data"),
        "JUPYTER_RUNTIME_DIR": str(jupyter / "runtime"),
        "IPYTHONDIR": str(jupyter / "ipython"),
        "JUPYTERLAB_SETTINGS_DIR": str(jupyter / "lab-settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(jupyter / "lab-workspaces"),
        "SPEECHCUSTOM_STUDIO_WORKSPACE": str(workspace),
        "PYTHONUNBUFFERED": "1",
    }
    log = tmp_path / "jupyter.log"
    cmd = [
        sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={root}", f"--IdentityProvider.token={token}",
        "--LabApp.expose_app_in_browser=True", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while True:
            if proc.poll() is not None:
                pytest.fail(f"jupyter lab exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"jupyter lab did not start in {SERVER_START_TIMEOUT:.0f} s:\n{log.read_text()[-3000:]}")
            time.sleep(0.3)
        yield Lab(url=url, token=token, root=root, workspace=workspace, log=log)
    finally:
        stop_server(proc)  # the server and its kernels run in their own session: that process group only


@pytest.fixture
def chromium_args() -> list[str]:
    """Chromium's command-line flags; a test module overrides this fixture to add its own (e.g.
    ``--use-file-for-fake-audio-capture=speech.wav``, a spoken file as the fake microphone)."""
    return list(CHROMIUM_ARGS)


@pytest.fixture
def page(chromium_path: Path, chromium_args: list[str]) -> Iterator[object]:
    """A Playwright page in headless Chromium with a fake microphone (a beep, unless ``chromium_args``
    names a file)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium_path), args=chromium_args, headless=True)
        context = browser.new_context(viewport={"width": 1400, "height": 1800}, permissions=["microphone"])
        page = context.new_page()
        messages: list[str] = []
        page.on("console", lambda msg: messages.append(f"{msg.type}: {msg.text}"))
        page.on("pageerror", lambda exc: messages.append(f"pageerror: {exc}"))
        page.console_messages = messages  # type: ignore[attr-defined]
        try:
            yield page
        finally:
            context.close()
            browser.close()
