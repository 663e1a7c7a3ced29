from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session")
def demo_model():
    from jupyter_speechcustom import load_base_model

    return load_base_model("demo")


def tone(seconds: float = 1.0, rate: int = 16_000, channels: int = 1, freq: float = 440.0) -> np.ndarray:
    """A (samples, channels) float32 sine: a real signal with a known length."""
    t = np.arange(int(seconds * rate)) / rate
    mono = (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.repeat(mono[:, None], channels, axis=1)


def encode_av(audio: np.ndarray, rate: int, fmt: str, codec: str) -> bytes:
    """Encode (samples, channels) float audio with FFmpeg through PyAV."""
    import av

    layout = "mono" if audio.shape[1] == 1 else "stereo"
    buf = io.BytesIO()
    with av.open(buf, "w", format=fmt) as container:
        stream = container.add_stream(codec, rate=rate)
        stream.layout = layout
        frame_size = stream.codec_context.frame_size or 1024
        planar = np.ascontiguousarray(audio.T)
        for start in range(0, planar.shape[1], frame_size):
            frame = av.AudioFrame.from_ndarray(planar[:, start : start + frame_size], format="fltp", layout=layout)
            frame.sample_rate = rate
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buf.getvalue()


@pytest.fixture
def write_audio(tmp_path: Path):
    """Write ``audio`` (samples, channels) at ``rate`` as ``name``; the suffix picks the format."""
    import soundfile as sf

    def write(name: str, audio: np.ndarray, rate: int) -> Path:
        path = tmp_path / name
        suffix = path.suffix.lower()
        if suffix in (".wav", ".flac"):
            sf.write(path, audio, rate)
        elif suffix == ".ogg":
            sf.write(path, audio, rate, format="OGG", subtype="OPUS")
        elif suffix == ".mp3":
            path.write_bytes(encode_av(audio, rate, "mp3", "libmp3lame"))
        elif suffix == ".webm":
            path.write_bytes(encode_av(audio, rate, "webm", "libopus"))
        elif suffix == ".m4a":
            path.write_bytes(encode_av(audio, rate, "mp4", "aac"))
        else:
            raise ValueError(suffix)
        return path

    return write


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
