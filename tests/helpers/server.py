"""A real ``jupyter server`` (or ``speechcustom serve``) for the HTTP and WebSocket API tests, and
small clients for it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
ENABLE_FILE = REPO / "jupyter-config" / "jupyter_server_config.d" / "jupyter_speechcustom.json"
DOMAIN = REPO / "jupyter_speechcustom" / "demo" / "data" / "domain"
START_TIMEOUT = 90.0
TRAIN_TIMEOUT = 300.0
UPLOAD_LIMIT = 3 * 1024**2  # the server's max_upload_bytes in these tests


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str  # ends with "/"
    token: str
    workspace: Path
    log: Path

    def client(self) -> Any:
        """The official SDK's client for this server (``SpeechToTextV1``)."""
        from ibm_cloud_sdk_core.authenticators import BearerTokenAuthenticator
        from ibm_watson import SpeechToTextV1

        stt = SpeechToTextV1(authenticator=BearerTokenAuthenticator(self.token))
        stt.set_service_url(self.url + "speechcustom/api")
        return stt


def jupyter_env(folder: Path) -> dict[str, str]:
    """Per-test JUPYTER_* folders; the working tree's package first on the path."""
    config = folder / "config"
    (config / "jupyter_server_config.d").mkdir(parents=True, exist_ok=True)
    shutil.copy(ENABLE_FILE, config / "jupyter_server_config.d" / ENABLE_FILE.name)
    # Acoustic training via the API: 2 epochs keep it to seconds on a CPU; at 0.5 some of the six
    # pseudo-labels of the demo model are kept.
    (config / "jupyter_server_config.json").write_text(json.dumps(
        {"SpeechCustomService": {"acoustic_training": {"epochs": 2, "confidence_threshold": 0.5},
                                 "max_upload_bytes": UPLOAD_LIMIT}}))
    return {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(config),
        "JUPYTER_CONFIG_PATH": str(config),
        "JUPYTER_DATA_DIR": str(folder / "data"),
        "JUPYTER_RUNTIME_DIR": str(folder / "runtime"),
        "IPYTHONDIR": str(folder / "ipython"),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        "PYTHONUNBUFFERED": "1",
    }


def start_server(cmd: list[str], env: dict[str, str], cwd: Path, log: Path, url: str,
                 token: str) -> subprocess.Popen[bytes]:
    """Start ``cmd`` in its own session and wait until its API answers."""
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if proc.poll() is not None:
            pytest.fail(f"{cmd[2:4]} exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            request = urllib.request.Request(f"{url}speechcustom/api/v1/models",
                                             headers={"Authorization": f"token {token}"})
            with urllib.request.urlopen(request, timeout=5) as response:
                if response.status == 200:
                    return proc
        except OSError:
            pass
        if time.monotonic() > deadline:
            stop_server(proc)
            pytest.fail(f"the server did not start in {START_TIMEOUT:.0f} s:\n{log.read_text()[-3000:]}")
        time.sleep(0.3)


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=5)


def wait_status(get: Any, customization_id: str, timeout: float = TRAIN_TIMEOUT) -> dict[str, Any]:
    """Poll ``get(customization_id)`` until the model is available or failed (or ``timeout``)."""
    deadline = time.monotonic() + timeout
    while True:
        model: dict[str, Any] = get(customization_id).get_result()
        if model["status"] in ("available", "failed") or time.monotonic() > deadline:
            return model
        time.sleep(0.5)


def domain_test_items(n: int = 4) -> list[tuple[Path, str]]:
    """The first ``n`` (audio path, transcript) pairs of the demo's domain test set."""
    lines = (DOMAIN / "test" / "manifest.json").read_text(encoding="utf-8").splitlines()[:n]
    entries = [json.loads(line) for line in lines]
    return [(DOMAIN / "test" / e["audio_filepath"], e["text"]) for e in entries]


def api_request(server: Server, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None, token: bool = True) -> tuple[int, dict[str, Any]]:
    """A raw request to ``/speechcustom/api/v1/<path>``: (status, JSON body)."""
    request = urllib.request.Request(server.url + "speechcustom/api/v1/" + path, data=body, method=method,
                                     headers={**({"Authorization": f"Bearer {server.token}"} if token else {}),
                                              **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")
