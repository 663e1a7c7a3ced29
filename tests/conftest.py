"""Fixtures the whole suite shares. Plain helpers (audio, archives, model stand-ins, clients) live in
``helpers/``; import them from there, not from other test modules."""

from __future__ import annotations

import secrets
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from helpers import audio as audio_helpers
from helpers.server import Server, free_port, jupyter_env, start_server, stop_server


@pytest.fixture(scope="session")
def demo_model():
    from jupyter_speechcustom import load_base_model

    return load_base_model("demo")


@pytest.fixture
def write_audio(tmp_path: Path):
    """Write ``audio`` (samples, channels) at ``rate`` as ``name``; the suffix picks the format."""

    def write(name: str, audio: np.ndarray, rate: int) -> Path:
        return audio_helpers.write_audio(tmp_path / name, audio, rate)

    return write


@pytest.fixture
def wav():
    """WAV bytes of a tone: ``wav(seconds, freq)``."""

    def make(seconds: float = 0.5, freq: float = 440.0) -> bytes:
        return audio_helpers.wav_bytes(seconds, freq=freq)

    return make


@pytest.fixture
def ws(tmp_path: Path):
    """An empty workspace of the test's own."""
    from jupyter_speechcustom.services.workspace import Workspace

    return Workspace(tmp_path / "ws")


@pytest.fixture(scope="session")
def other_model(tmp_path_factory):
    """A second, untrained model of the demo's architecture: a different base model."""
    from nemo.collections.asr.models import EncDecCTCModel
    from omegaconf import OmegaConf

    from jupyter_speechcustom import load_base_model
    from jupyter_speechcustom.demo.recipe import model_config

    cfg = model_config(Path("unused.json"), Path("unused.json"))
    for key in ("train_ds", "validation_ds"):
        cfg.pop(key)
    path = tmp_path_factory.mktemp("other") / "other.nemo"
    EncDecCTCModel(cfg=OmegaConf.create(cfg)).save_to(str(path))
    return load_base_model(path)


@pytest.fixture(scope="session")
def demo_lm(tmp_path_factory, demo_model):
    from jupyter_speechcustom import demo
    from jupyter_speechcustom.lm.language_model import build_language_model

    out = tmp_path_factory.mktemp("lm") / "demo_lm"
    return build_language_model(demo_model, [demo.corpus_path()], out, words=demo.custom_words_path())


@pytest.fixture(scope="session")
def domain_test():
    from jupyter_speechcustom import demo, read_manifest

    return read_manifest(demo.manifest("domain/test"), require_text=True)


@pytest.fixture(scope="session")
def domain_test_outputs(demo_model, domain_test):
    from jupyter_speechcustom.asr.recognize import acoustic_outputs

    return acoustic_outputs(demo_model, [e["audio_filepath"] for e in domain_test])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A real ``jupyter server`` with the extension enabled by its enable file (one per test module)."""
    folder = tmp_path_factory.mktemp("jupyter-server")
    root = folder / "root"
    root.mkdir()
    workspace = folder / "speech-workspace"
    token = secrets.token_hex(16)
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    log = folder / "server.log"
    cmd = [sys.executable, "-m", "jupyter", "server", "--no-browser", "--allow-root", "--ServerApp.ip=127.0.0.1",
           f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--ServerApp.root_dir={root}",
           f"--IdentityProvider.token={token}", f"--SpeechCustomService.workspace={workspace}"]
    proc = start_server(cmd, jupyter_env(folder / "jupyter"), root, log, url, token)
    try:
        yield Server(url=url, token=token, workspace=workspace, log=log)
    finally:
        stop_server(proc)
