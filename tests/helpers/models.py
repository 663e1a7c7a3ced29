"""Stand-in model files: a custom LM folder with a tiny whole ARPA, and a tar laid out like a .nemo."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import yaml

BASE = {"name": "demo", "fingerprint": "00aa11bb22cc33dd"}
ARPA = """\\data\\
ngram 1=4
ngram 2=2

\\1-grams:
-1.0\t<s>\t-0.3
-1.0\t</s>
-0.5\ta\t-0.2
-0.6\tb\t-0.2

\\2-grams:
-0.3\t<s> a
-0.4\ta b

\\end\\
"""


def lm_folder(path: Path, arpa: str = ARPA, meta: object | None = None) -> Path:
    """A custom LM folder as a build writes it (a tiny but whole ARPA)."""
    path.mkdir(parents=True)
    (path / "tokens.arpa").write_text(arpa)
    meta = {"name": "fake", "base_model": BASE, "order": 2, "corpora": []} if meta is None else meta
    (path / "lm.json").write_text(meta if isinstance(meta, str) else json.dumps(meta))
    (path / "corpus.txt").write_text("a b\n")
    return path


def fake_nemo(path: Path, config: object = None, *, extra: bytes = b"\0" * 4096, with_config: bool = True) -> Path:
    """A tar laid out like a .nemo (config + weights file); the workspace never unpickles it.

    ``config`` is a mapping (written as YAML) or raw text; by default it names :data:`BASE` as the base model.
    """
    config = {"sample_rate": 16000, "speechcustom": {"base_model": BASE}} if config is None else config
    with tarfile.open(path, "w:") as tf:
        members = [("./model_weights.ckpt", extra)]
        if with_config:
            members.insert(0, ("./model_config.yaml",
                               config.encode() if isinstance(config, str) else yaml.safe_dump(config).encode()))
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path
