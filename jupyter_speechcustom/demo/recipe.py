"""Reproducible recipe for the bundled demo: data synthesis and base-model training.

Users never need to run this: its outputs ship in ``jupyter_speechcustom/demo/data``.
It needs Debian's ``espeak-ng``, ``sox`` and ``wordnet-base`` and about half an hour
on two CPU cores::

    python -m jupyter_speechcustom.demo.recipe --work /tmp/demo-build

(stages ``data``, ``train`` (900 steps from scratch), ``continue`` (1250 more steps with a
fresh schedule) and ``package`` can also be run one at a time with ``--stage``; ``--stage voices``
makes speech by several synthesizers, augmented, with :mod:`jupyter_speechcustom.demo.voices`.)

Steps: general English sentences (WordNet's example sentences) and the demo domain text
are spoken by several espeak-ng voices; a small character CTC model (NeMo
``EncDecCTCModel``, bidirectional LSTM) is trained on the general speech only; the model
and small evaluation sets are written as package data.
"""

from __future__ import annotations

import argparse
import logging
import random
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from jupyter_speechcustom.constants import SAMPLE_RATE
from jupyter_speechcustom.io.manifest import read_manifest, write_manifest

log = logging.getLogger(__name__)

WORDNET_DIR = Path("/usr/share/wordnet")
DATA_DIR = Path(__file__).parent / "data"

#: Characters of the demo model, blank excluded (NeMo appends it last).
LABELS = [" ", *"abcdefghijklmnopqrstuvwxyz", "'"]

#: espeak-ng dialects and voice variants used for the base model's training speech.
TRAIN_DIALECTS = (
    "en-us",
    "en-gb",
    "en-gb-scotland",
    "en-gb-x-rp",
    "en-gb-x-gbclan",
    "en-gb-x-gbcwmd",
    "en-029",
)
TRAIN_VARIANTS = ("", "m1", "m3", "m4", "m5", "m6", "m7", "f1", "f3", "f4", "f5")
#: Voices never heard in training: the general test set and all domain audio use them.
HELD_OUT_VOICES = ("en-us+m2", "en-gb-x-rp+f2")

_SENTENCE = re.compile(r"[a-z']+( [a-z']+)*")


@dataclass(frozen=True)
class Sentence:
    """One sentence to speak, and how (``name``: its audio file's stem)."""

    text: str
    voice: str
    speed: int
    pitch: int
    name: str


def general_sentences(wordnet_dir: Path = WORDNET_DIR) -> list[str]:
    """WordNet's example sentences, normalized to the demo alphabet, sorted and unique."""
    if not wordnet_dir.is_dir():
        msg = f"{wordnet_dir} not found: install Debian's wordnet-base (apt-get install wordnet-base)"
        raise FileNotFoundError(msg)
    found: set[str] = set()
    for path in sorted(wordnet_dir.glob("data.*")):
        for line in path.read_text(encoding="latin-1").splitlines():
            if line.startswith("  ") or "|" not in line:
                continue
            for quoted in re.findall(r'"([^"]+)"', line.split("|", 1)[1]):
                if not re.fullmatch(r"[A-Za-z' ,.;:!?-]+", quoted):
                    continue  # digits, symbols or foreign letters: no safe spoken form
                text = re.sub(r"[,.;:!?]", " ", quoted.lower()).replace("-", " ")
                text = " ".join(w.strip("'") for w in text.split() if w.strip("'"))
                if 4 <= len(text.split()) <= 14 and _SENTENCE.fullmatch(text):
                    found.add(text)
    return sorted(found)


def _voice(rng: random.Random, voices: Sequence[str] | None) -> str:
    if voices:
        return rng.choice(list(voices))
    dialect = rng.choice(TRAIN_DIALECTS)
    variant = rng.choice(TRAIN_VARIANTS)
    return f"{dialect}+{variant}" if variant else dialect


def plan(
    texts: Iterable[str], prefix: str, seed: int, voices: Sequence[str] | None = None
) -> list[Sentence]:
    """Assign each text a voice, speed and pitch; ``voices=None`` draws training voices."""
    rng = random.Random(seed)
    return [
        Sentence(text, _voice(rng, voices), rng.randint(135, 190), rng.randint(30, 70), f"{prefix}-{i:05d}")
        for i, text in enumerate(texts)
    ]


def synthesize(utt: Sentence, out_dir: Path, fmt: str = "wav") -> dict[str, Any]:
    """Speak one sentence with espeak-ng into a 16 kHz mono file; return its manifest entry (an
    absolute ``audio_filepath``, as :func:`~jupyter_speechcustom.io.manifest.read_manifest` gives)."""
    out = out_dir / f"{utt.name}.{fmt}"
    if not out.exists():
        with tempfile.NamedTemporaryFile(suffix=".wav") as raw:
            subprocess.run(
                ["espeak-ng", "-v", utt.voice, "-s", str(utt.speed), "-p", str(utt.pitch), "-w", raw.name, utt.text],
                check=True,
                capture_output=True,
            )
            tmp = out.with_suffix(f".part.{fmt}")
            # Trim espeak's long trailing silence (from the first 10 ms of sound, counted from the end:
            # a longer window cuts quiet final sounds); pad 0.1 s of silence on both sides.
            subprocess.run(
                ["sox", raw.name, "-r", str(SAMPLE_RATE), "-c", "1", "-b", "16", str(tmp),
                 "reverse", "silence", "1", "0.01", "0.5%", "reverse", "pad", "0.1", "0.1"],
                check=True,
                capture_output=True,
            )
            tmp.replace(out)
    info = subprocess.run(["soxi", "-D", str(out)], check=True, capture_output=True, text=True)
    return {"audio_filepath": str(out.resolve()), "duration": round(float(info.stdout), 3), "text": utt.text,
            "voice": utt.voice}


def synthesize_all(utts: Sequence[Sentence], out_dir: Path, manifest: Path, fmt: str = "wav") -> Path:
    """Speak many sentences (two at a time) and write a NeMo manifest."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=2) as pool:
        entries = list(pool.map(lambda u: synthesize(u, out_dir, fmt), utts))
    write_manifest(manifest, entries)
    log.info("%s: %d utterances, %.0f s of audio", manifest.name, len(entries), sum(e["duration"] for e in entries))
    return manifest


def model_config(train_manifest: Path, val_manifest: Path, batch_size: int = 32) -> dict[str, object]:
    """NeMo config of the demo model: 64 mel bands, a 3-layer BiLSTM, a character CTC head."""
    ds = {"sample_rate": SAMPLE_RATE, "labels": LABELS, "use_lhotse": False, "num_workers": 0,
          "trim_silence": False, "pin_memory": False}
    return {
        "sample_rate": SAMPLE_RATE,
        "labels": LABELS,
        "train_ds": {**ds, "manifest_filepath": str(train_manifest), "batch_size": batch_size,
                     "shuffle": True, "max_duration": 16.0},
        "validation_ds": {**ds, "manifest_filepath": str(val_manifest), "batch_size": 32, "shuffle": False},
        "preprocessor": {
            "_target_": "nemo.collections.asr.modules.AudioToMelSpectrogramPreprocessor",
            "sample_rate": SAMPLE_RATE, "normalize": "per_feature", "window_size": 0.025,
            "window_stride": 0.01, "features": 64, "n_fft": 512, "dither": 1e-5, "pad_to": 0,
        },
        "spec_augment": {
            "_target_": "nemo.collections.asr.modules.SpectrogramAugmentation",
            "freq_masks": 2, "time_masks": 2, "freq_width": 12, "time_width": 0.05,
        },
        "encoder": {
            "_target_": "nemo.collections.asr.modules.RNNEncoder",
            "feat_in": 64, "n_layers": 3, "d_model": 192, "proj_size": 192, "rnn_type": "lstm",
            "bidirectional": True, "subsampling": "stacking", "subsampling_factor": 2, "dropout": 0.1,
        },
        "decoder": {
            "_target_": "nemo.collections.asr.modules.ConvASRDecoder",
            "feat_in": 192, "num_classes": len(LABELS), "vocabulary": LABELS,
        },
        "optim": {
            "name": "adamw", "lr": 3e-3, "weight_decay": 1e-3, "betas": [0.9, 0.98],
            "sched": {"name": "CosineAnnealing", "warmup_steps": 100, "min_lr": 5e-5},
        },
    }


def train(
    train_manifest: Path,
    val_manifest: Path,
    out: Path,
    max_steps: int,
    minutes: float,
    init_from: Path | None = None,
    lr: float = 3e-3,
) -> Path:
    """Train the demo model on CPU and save it as ``out`` (.nemo).

    From scratch, or, with ``init_from``, continuing from an earlier stage's weights with a
    fresh learning-rate schedule (a warm restart).
    """
    import lightning.pytorch as pl
    import torch
    from nemo.collections.asr.models import EncDecCTCModel
    from omegaconf import OmegaConf

    # One thread: on a shared 2-core machine, OpenMP threads stall each other (4x slower).
    torch.set_num_threads(1)
    torch.manual_seed(0)
    cfg = OmegaConf.create(model_config(train_manifest, val_manifest))
    cfg.optim.lr = lr
    cfg.optim.sched.max_steps = max_steps
    trainer = pl.Trainer(
        accelerator="cpu", devices=1, precision=32, max_steps=max_steps,
        max_time=timedelta(minutes=minutes), val_check_interval=300, check_val_every_n_epoch=None,
        logger=False, enable_checkpointing=False, log_every_n_steps=50, gradient_clip_val=1.0,
    )
    model = EncDecCTCModel(cfg=cfg, trainer=trainer)
    if init_from is not None:
        model.load_state_dict(EncDecCTCModel.restore_from(str(init_from), map_location="cpu").state_dict())
    trainer.fit(model)
    out.parent.mkdir(parents=True, exist_ok=True)
    model.save_to(str(out))
    return out


#: Shipped splits: package folder, build manifest, whether its transcripts ship in the manifest.
PACKAGED_SPLITS = {
    "general/test": ("gtest.json", True),
    "general/mix": ("gmix.json", True),
    "domain/train": ("dtrain.json", False),
    "domain/dev": ("ddev.json", True),
    "domain/test": ("dtest.json", True),
}


def package(work: Path, dest: Path = DATA_DIR) -> None:
    """Copy the model, text and (as 16 kHz OGG/Opus, ~9x smaller than WAV) audio into ``dest``."""
    import soundfile as sf

    from jupyter_speechcustom.demo.domain_text import write_domain_files

    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(work / "demo.nemo", dest / "demo.nemo")
    (dest / "general").mkdir(exist_ok=True)
    shutil.copy2(work / "general_train_text.txt", dest / "general" / "train_text.txt")
    copyright_file = Path("/usr/share/doc/wordnet-base/copyright")
    if copyright_file.exists():
        shutil.copy2(copyright_file, dest / "general" / "WORDNET-LICENSE")
    files = write_domain_files(dest / "domain", seed=0)
    for name in ("train", "dev", "test"):
        files[name].unlink()  # the sentences ship as manifests beside their audio
    for folder, (manifest_name, with_text) in PACKAGED_SPLITS.items():
        out_dir = dest / folder
        if out_dir.exists():
            shutil.rmtree(out_dir)
        out_dir.mkdir(parents=True)
        entries, transcripts = [], []
        for entry in read_manifest(work / manifest_name):
            src = Path(str(entry["audio_filepath"]))
            audio, rate = sf.read(src, dtype="int16")
            name = src.with_suffix(".ogg").name
            sf.write(out_dir / name, audio, rate, format="OGG", subtype="OPUS")
            item = {"audio_filepath": name, "duration": entry["duration"]}
            if with_text:
                item["text"] = entry["text"]
            else:
                transcripts.append({"audio_filepath": name, "text": entry["text"]})
            entries.append(item)
        write_manifest(out_dir / "manifest.json", entries)
        if transcripts:  # kept apart: only for measuring pseudo-labels and the supervised ceiling
            write_manifest(out_dir / "reference_transcripts.json", transcripts)


def main(argv: Sequence[str] | None = None) -> None:
    from jupyter_speechcustom.demo.domain_text import generate_domain_text

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", type=Path, required=True, help="scratch folder for synthesized audio")
    p.add_argument("--train-sentences", type=int, default=14000)
    p.add_argument("--max-steps", type=int, default=900)
    p.add_argument("--minutes", type=float, default=42.0, help="training time limit")
    p.add_argument("--stage", choices=["data", "train", "continue", "package", "all", "voices"], default="all",
                   help="'voices': multi-engine augmented speech in WORK/voices (not part of 'all')")
    p.add_argument("--continue-steps", type=int, default=1250, help="steps of the second training stage")
    p.add_argument("--continue-minutes", type=float, default=40.0)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    work: Path = args.work
    sentences = general_sentences()
    rng = random.Random(0)
    rng.shuffle(sentences)
    test, dev, mix, train_text = sentences[:100], sentences[100:250], sentences[250:400], sentences[400:]
    train_text = train_text[: args.train_sentences]
    domain = generate_domain_text(seed=0)

    if args.stage in ("data", "all"):
        synthesize_all(plan(train_text, "gtrain", 1), work / "gtrain", work / "gtrain.json")
        synthesize_all(plan(dev, "gdev", 2), work / "gdev", work / "gdev.json")
        # General speech in training voices, mixed into fine-tuning against forgetting.
        synthesize_all(plan(mix, "gmix", 3), work / "gmix", work / "gmix.json")
        synthesize_all(plan(test, "gtest", 4, HELD_OUT_VOICES[:1]), work / "gtest", work / "gtest.json")
        for split, texts, seed in (("dtrain", domain.train, 5), ("ddev", domain.dev, 6), ("dtest", domain.test, 7)):
            synthesize_all(plan(texts, split, seed, HELD_OUT_VOICES), work / split, work / f"{split}.json")
        (work / "general_train_text.txt").write_text("\n".join(train_text) + "\n", encoding="utf-8")
    if args.stage in ("train", "all"):
        train(work / "gtrain.json", work / "gdev.json", work / "stage1.nemo", args.max_steps, args.minutes)
    if args.stage in ("continue", "all"):
        train(work / "gtrain.json", work / "gdev.json", work / "demo.nemo", args.continue_steps,
              args.continue_minutes, init_from=work / "stage1.nemo", lr=1.5e-3)
    if args.stage in ("package", "all"):
        package(work)
    if args.stage == "voices":  # its own command (it builds on this module's sentences and voices)
        subprocess.run([sys.executable, "-m", "jupyter_speechcustom.demo.voices", "--work", str(work / "voices"),
                        "--sentences", str(args.train_sentences)], check=True)


if __name__ == "__main__":
    main()
