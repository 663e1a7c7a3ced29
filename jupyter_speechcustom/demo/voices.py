"""Training speech from several synthesizers, augmented to sound like real recordings.

A model trained on one formant synthesizer hears nothing else, so the demo's general speech
can also come from three engines, all Debian packages (:data:`DEBIAN_PACKAGES`):

- ``espeak``: espeak-ng, formant synthesis (dialects and voice variants);
- ``flite``: CMU Flite, diphone and statistical parametric (clustergen) voices;
- ``festival``: Festival, diphone and HTS voices. This whole engine is held out from
  training (:data:`HELD_OUT_ENGINE`), to measure how a model copes with a synthesizer it
  never heard.

A voice is written ``engine:voice`` (``espeak:en-gb+f3``, ``flite:slt``,
``festival:kal_diphone``); each training engine keeps some voices out of training too
(:data:`ENGINES`). Speaking rate and pitch vary where the engine supports it, and every
take is converted to 16 kHz mono 16-bit with its silences trimmed.

Training takes then get a random, seeded chain of augmentations (some stay clean), written
into the manifest as ``"augment": "reverb(50,room80)+noise(pink,15dB)"``: speed or tempo
perturbation, room reverberation, background noise (white, pink, brown or babble made of
other utterances) at several signal-to-noise ratios, a telephone channel (300-3400 Hz,
8 kHz, GSM or mu-law) or a laptop microphone (high-pass, presence boost, 8-bit or clipping).

Everything is planned from a seed, made by two worker processes, resumable (finished files
are skipped) and written atomically::

    python -m jupyter_speechcustom.demo.voices --work DIR --sentences 6000 [--engines flite]

writes ``train.json`` (training voices, augmented), ``dev.json`` (likewise),
``test_heldout_voices.json`` (the general test sentences by the held-out voices of each
training engine, clean) and ``test_heldout_engine.json`` (by the held-out engine, clean),
with the sentence split of :func:`jupyter_speechcustom.demo.recipe.main`.
"""

from __future__ import annotations

import argparse
import logging
import math
import random
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_speechcustom.constants import SAMPLE_RATE
from jupyter_speechcustom.demo.recipe import (
    HELD_OUT_VOICES,
    TRAIN_DIALECTS,
    TRAIN_VARIANTS,
    general_sentences,
)
from jupyter_speechcustom.errors import AudioError, InvalidOptionError, SpeechCustomError
from jupyter_speechcustom.io.manifest import write_manifest

log = logging.getLogger(__name__)

#: Every Debian package this module needs (``apt-get install -y ...``).
DEBIAN_PACKAGES = (
    "sox",
    "espeak-ng",
    "flite",
    "festival",
    "festvox-kallpc16k",
    "festvox-kdlpc16k",
    "festvox-us-slt-hts",
    "wordnet-base",
)

FESTIVAL_VOICE_DIR = Path("/usr/share/festival/voices")


class SynthesizerMissingError(SpeechCustomError, FileNotFoundError):
    """A speech synthesizer, one of its voices or sox is not installed."""


@dataclass(frozen=True)
class Engine:
    """A speech synthesizer: its program, its Debian packages and its voices."""

    binary: str
    package: str
    train: tuple[str, ...]
    held_out: tuple[str, ...]
    #: Debian package of each voice that is packaged apart from the engine.
    voice_packages: dict[str, str] = field(default_factory=dict)


ENGINES: dict[str, Engine] = {
    "espeak": Engine(
        "espeak-ng",
        "espeak-ng",
        train=tuple(f"{d}+{v}" if v else d for d in TRAIN_DIALECTS for v in TRAIN_VARIANTS),
        held_out=HELD_OUT_VOICES,
    ),
    # awb_time only speaks clock times; kal is kal16's speaker at 8 kHz.
    "flite": Engine("flite", "flite", train=("awb", "slt", "kal16"), held_out=("rms", "kal")),
    "festival": Engine(
        "text2wave",
        "festival",
        train=("kal_diphone", "ked_diphone"),
        held_out=("cmu_us_slt_arctic_hts",),
        voice_packages={
            "kal_diphone": "festvox-kallpc16k",
            "ked_diphone": "festvox-kdlpc16k",
            "cmu_us_slt_arctic_hts": "festvox-us-slt-hts",
        },
    ),
}
#: The engine never heard in training: all its voices make ``test_heldout_engine.json``.
HELD_OUT_ENGINE = "festival"
TRAIN_ENGINES = tuple(e for e in ENGINES if e != HELD_OUT_ENGINE)

#: Flite voices whose pitch can be set, with their usual mean F0 in Hz (rms ignores it).
_FLITE_F0 = {"awb": 110.0, "slt": 170.0, "kal": 105.0, "kal16": 105.0}

NOISE_KINDS = ("white", "pink", "brown", "babble")
SNRS_DB = (5, 10, 15, 20, 25)
_SNR_WEIGHTS = (1, 2, 3, 3, 2)
_NOISE_SECONDS = 60
_BLOCK = 500
_SOX_NOISE = {"white": "whitenoise", "pink": "pinknoise", "brown": "brownnoise"}


@dataclass(frozen=True)
class Step:
    """One augmentation: a kind (speed, tempo, reverb, noise, phone, laptop) and its settings."""

    kind: str
    args: tuple[Any, ...]

    @property
    def label(self) -> str:
        a = self.args
        if self.kind == "reverb":
            return f"reverb({a[0]},room{a[1]})"
        if self.kind == "noise":
            return f"noise({a[0]},{a[1]}dB)"
        if self.kind == "laptop":
            return f"laptop(hp{a[0]},{a[1]})"
        return f"{self.kind}({a[0]})"


@dataclass(frozen=True)
class Take:
    """One sentence to speak: voice (``engine:voice``), rate and pitch factors, augmentations."""

    text: str
    voice: str
    rate: float
    pitch: float
    name: str
    augment: tuple[Step, ...] = ()

    @property
    def engine(self) -> str:
        return self.voice.split(":", 1)[0]

    @property
    def augment_label(self) -> str:
        return "+".join(s.label for s in self.augment) or "clean"


def parse_voice(voice: str) -> tuple[str, str]:
    """Split ``engine:voice`` and check that the engine is known."""
    engine, sep, name = voice.partition(":")
    if not sep or engine not in ENGINES or not name:
        msg = f"voice {voice!r}: write it as engine:voice with an engine among {', '.join(ENGINES)}"
        raise InvalidOptionError(msg)
    return engine, name


def voices(engines: Sequence[str] = TRAIN_ENGINES, held_out: bool = False) -> list[str]:
    """The training (or held-out) voices of ``engines``, as ``engine:voice``."""
    out = []
    for e in engines:
        if e not in ENGINES:
            msg = f"unknown engine {e!r}: choose among {', '.join(ENGINES)}"
            raise InvalidOptionError(msg)
        out += [f"{e}:{v}" for v in (ENGINES[e].held_out if held_out else ENGINES[e].train)]
    return out


def check_installed(voice: str) -> None:
    """Raise :class:`SynthesizerMissingError`, naming the Debian package, if ``voice`` cannot speak."""
    engine, name = parse_voice(voice)
    spec = ENGINES[engine]
    for binary, package in ((spec.binary, spec.package), ("sox", "sox")):
        if shutil.which(binary) is None:
            msg = (f"{binary} not found: the {engine} voices need Debian's {package} "
                   f"(apt-get install -y {package})")
            raise SynthesizerMissingError(msg)
    voice_package = spec.voice_packages.get(name)
    if voice_package and not any(FESTIVAL_VOICE_DIR.glob(f"*/{name}")):
        msg = (f"Festival voice {name} not found: install Debian's {voice_package} "
               f"(apt-get install -y {voice_package})")
        raise SynthesizerMissingError(msg)


def _pick_steps(rng: random.Random, babble_pool: Sequence[str]) -> tuple[Step, ...]:
    """A random augmentation chain, in the order sound meets it: talker, room, noise, channel."""
    if rng.random() < 0.2:
        return ()
    steps = []
    if rng.random() < 0.35:
        steps.append(Step(rng.choice(("speed", "tempo")), (rng.choice((0.9, 0.95, 1.05, 1.1)),)))
    if rng.random() < 0.45:
        steps.append(Step("reverb", (rng.randint(20, 80), rng.randint(20, 100), rng.randint(0, 30))))
    if rng.random() < 0.6:
        kinds = NOISE_KINDS if len(babble_pool) >= 3 else NOISE_KINDS[:-1]
        kind = rng.choice(kinds)
        snr = rng.choices(SNRS_DB, _SNR_WEIGHTS)[0]
        talkers = tuple(rng.sample(list(babble_pool), rng.randint(3, min(6, len(babble_pool))))) \
            if kind == "babble" else ()
        steps.append(Step("noise", (kind, snr, rng.randrange(2**31), talkers)))
    channel = rng.random()
    if channel < 0.2:
        steps.append(Step("phone", (rng.choice(("gsm", "ulaw")),)))
    elif channel < 0.4:
        steps.append(Step("laptop", (rng.choice((120, 180, 250)), rng.choice(("8bit", "clip")))))
    return tuple(steps)


def plan_takes(
    texts: Sequence[str], prefix: str, seed: int, voice_list: Sequence[str], augment: bool = False
) -> list[Take]:
    """Give each text a voice (an engine first, then one of its voices), rate, pitch and chain."""
    if not voice_list:
        raise InvalidOptionError("no voices to plan with: give at least one engine:voice")
    rng = random.Random(seed)
    by_engine: dict[str, list[str]] = {}
    for v in voice_list:
        by_engine.setdefault(parse_voice(v)[0], []).append(v)
    engines = sorted(by_engine)
    names = [f"{prefix}-{i:05d}" for i in range(len(texts))]
    takes = []
    for i, text in enumerate(texts):
        voice = rng.choice(by_engine[rng.choice(engines)])
        rate, pitch = round(rng.uniform(0.85, 1.2), 3), round(rng.uniform(0.85, 1.15), 3)
        steps: tuple[Step, ...] = ()
        if augment:
            # Babble from earlier takes only: a plan for more texts starts with the plan for fewer.
            steps = _pick_steps(rng, names[:i])
        takes.append(Take(text, voice, rate, pitch, names[i], steps))
    return takes


def _run(cmd: list[str]) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        msg = f"{cmd[0]} failed ({' '.join(cmd[:6])} ...): {done.stderr.strip()[-500:]}"
        raise RuntimeError(msg)


def speak(take: Take, out: Path) -> Path:
    """Speak ``take`` (no augmentation) into ``out``: 16 kHz mono 16-bit, silences trimmed."""
    check_installed(take.voice)
    engine, name = parse_voice(take.voice)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.wav"
        if engine == "espeak":
            speed = round(160 * take.rate)
            pitch = min(99, max(0, round(50 + (take.pitch - 1) * 133)))
            _run(["espeak-ng", "-v", name, "-s", str(speed), "-p", str(pitch), "-w", str(raw), take.text])
        elif engine == "flite":
            cmd = ["flite", "-voice", name, "--setf", f"duration_stretch={1 / take.rate:.3f}"]
            if name in _FLITE_F0:
                cmd += ["--setf", f"int_f0_target_mean={_FLITE_F0[name] * take.pitch:.1f}"]
            _run([*cmd, "-t", take.text, "-o", str(raw)])
        else:
            text = Path(tmp) / "text.txt"
            text.write_text(take.text + "\n", encoding="utf-8")
            _run(["text2wave", "-eval", f"(voice_{name})",
                  "-eval", f"(Parameter.set 'Duration_Stretch {1 / take.rate:.3f})",
                  str(text), "-o", str(raw)])
        part = out.with_name(out.stem + ".part.wav")
        # Trim to 0.1 s of silence at each end. Sound counts from its first 10 ms above the
        # threshold: asking for longer runs cuts quiet voices' last words (kal16's, awb's).
        trim = ["silence", "1", "0.01", "0.5%"]
        _run(["sox", str(raw), "-r", str(SAMPLE_RATE), "-c", "1", "-b", "16", str(part),
              *trim, "reverse", *trim, "reverse", "pad", "0.1", "0.1"])
        part.replace(out)
    return out


def _frames(path: Path) -> int:
    import soundfile as sf

    return int(sf.info(str(path)).frames)


def _noise_file(kind: str, noise_dir: Path) -> Path:
    """A minute of generated noise, made once per folder (sox -R: the same on every run)."""
    path = noise_dir / f"{kind}.wav"
    if not path.exists():
        noise_dir.mkdir(parents=True, exist_ok=True)
        part = noise_dir / f"{kind}.{random.randrange(10**9)}.part.wav"
        _run(["sox", "-R", "-n", "-r", str(SAMPLE_RATE), "-c", "1", "-b", "16", str(part),
              "synth", str(_NOISE_SECONDS), _SOX_NOISE[kind], "gain", "-n", "-3"])
        part.replace(path)
    return path


def _add_noise(step: Step, src: Path, dst: Path, clean_dir: Path, noise_dir: Path) -> None:
    import numpy as np
    import soundfile as sf

    kind, snr, seed, talkers = step.args
    rng = np.random.default_rng(seed)
    x, rate = sf.read(str(src), dtype="float64")
    n = len(x)

    def excerpt(signal: Any) -> Any:
        reps = math.ceil(n / max(1, len(signal))) + 1
        looped = np.tile(signal, reps)
        start = int(rng.integers(0, max(1, len(signal))))
        return looped[start:start + n]

    if kind == "babble":
        noise = np.zeros(n)
        for name in talkers:
            talker, _ = sf.read(str(clean_dir / f"{name}.wav"), dtype="float64")
            noise += excerpt(talker) / (np.sqrt(np.mean(talker**2)) + 1e-9) * rng.uniform(0.5, 1.0)
    else:
        noise = excerpt(sf.read(str(_noise_file(kind, noise_dir)), dtype="float64")[0])
    # Speech power over its active 20 ms frames, so leading and trailing silence do not count.
    frame = rate // 50
    powers = np.array([np.mean(x[i:i + frame] ** 2) for i in range(0, n - frame + 1, frame)])
    if not powers.size or powers.max() == 0:
        msg = f"{src} is silent or shorter than 20 ms: there is no speech to add noise to"
        raise AudioError(msg)
    active = powers[powers > powers.max() * 1e-3]
    noise *= math.sqrt(float(np.mean(active)) / (float(np.mean(noise**2)) + 1e-12) / 10 ** (snr / 10))
    y = x + noise
    peak = float(np.max(np.abs(y))) if n else 0.0
    if peak > 0.99:
        y *= 0.99 / peak
    part = dst.with_name(dst.stem + ".part.wav")
    sf.write(str(part), y, rate, subtype="PCM_16")
    part.replace(dst)


def apply_step(step: Step, src: Path, dst: Path, clean_dir: Path, noise_dir: Path) -> Path:
    """Apply one augmentation to a 16 kHz mono file, writing another one."""
    fmt = ["-r", str(SAMPLE_RATE), "-c", "1", "-b", "16"]
    keep = ["trim", "0", f"{_frames(src)}s"]  # reverb tails and GSM frames would lengthen it
    a = step.args
    if step.kind in ("speed", "tempo"):
        effect = ["speed", str(a[0])] if step.kind == "speed" else ["tempo", "-s", str(a[0])]
        _run(["sox", str(src), *fmt, str(dst), *effect])
    elif step.kind == "reverb":
        _run(["sox", str(src), *fmt, str(dst), "gain", "-3", "reverb", str(a[0]), "50", str(a[1]), "100",
              str(a[2]), "0", "channels", "1", "norm", "-1", *keep])
    elif step.kind == "noise":
        _add_noise(step, src, dst, clean_dir, noise_dir)
    elif step.kind == "phone":
        with tempfile.TemporaryDirectory() as tmp:
            coded = Path(tmp) / ("line.gsm" if a[0] == "gsm" else "line.wav")
            codec = ["-t", "gsm"] if a[0] == "gsm" else ["-e", "u-law", "-b", "8"]
            _run(["sox", str(src), "-r", "8000", "-c", "1", *codec, str(coded), "sinc", "300-3400"])
            _run(["sox", str(coded), *fmt, str(dst), "rate", str(SAMPLE_RATE), *keep])
    elif step.kind == "laptop":
        colour = ["highpass", str(a[0]), "equalizer", "3000", "1.5q", "4", "bass", "-4", "120"]
        if a[1] == "8bit":
            with tempfile.TemporaryDirectory() as tmp:
                low = Path(tmp) / "low.wav"
                _run(["sox", str(src), "-r", str(SAMPLE_RATE), "-c", "1", "-b", "8", str(low), *colour,
                      "norm", "-1"])
                _run(["sox", str(low), *fmt, str(dst)])
        else:
            _run(["sox", str(src), *fmt, str(dst), *colour, "norm", "0", "gain", "6"])
    else:
        msg = f"unknown augmentation {step.kind!r}"
        raise InvalidOptionError(msg)
    return dst


def augment_file(take: Take, src: Path, dst: Path, clean_dir: Path, noise_dir: Path) -> Path:
    """Apply ``take``'s whole chain to ``src``; ``dst`` appears only when complete."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        cur = src
        for i, step in enumerate(take.augment):
            cur = apply_step(step, cur, Path(tmp) / f"{i}.wav", clean_dir, noise_dir)
        part = dst.with_name(dst.stem + ".part.wav")
        shutil.copyfile(cur, part)
        part.replace(dst)
    return dst


def _speak_job(job: tuple[Take, Path]) -> None:
    take, clean_dir = job
    out = clean_dir / f"{take.name}.wav"
    if not out.exists():
        speak(take, out)


def _augment_job(job: tuple[Take, Path, Path, Path]) -> None:
    take, clean_dir, aug_dir, noise_dir = job
    out = aug_dir / f"{take.name}.wav"
    if take.augment and not out.exists():
        augment_file(take, clean_dir / f"{take.name}.wav", out, clean_dir, noise_dir)


def build_speech(takes: Sequence[Take], out_dir: Path, manifest: Path, workers: int = 2) -> Path:
    """Speak (and augment) ``takes`` under ``out_dir`` with a process pool; write a NeMo manifest.

    Clean takes go to ``out_dir/clean``, augmented ones to ``out_dir/augmented``; files that
    already exist are kept, so an interrupted build resumes where it stopped.
    """
    import soundfile as sf

    for voice in sorted({t.voice for t in takes}):
        check_installed(voice)
    clean_dir, aug_dir, noise_dir = out_dir / "clean", out_dir / "augmented", out_dir / "noise"
    clean_dir.mkdir(parents=True, exist_ok=True)
    for kind in _SOX_NOISE:
        if any(s.kind == "noise" and s.args[0] == kind for t in takes for s in t.augment):
            _noise_file(kind, noise_dir)
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for start in range(0, len(takes), _BLOCK):  # block by block, so a stopped build keeps whole takes
            block = takes[start:start + _BLOCK]
            chunk = max(1, len(block) // (workers * 8))
            list(pool.map(_speak_job, [(t, clean_dir) for t in block], chunksize=chunk))
            list(pool.map(_augment_job, [(t, clean_dir, aug_dir, noise_dir) for t in block], chunksize=chunk))
            log.info("%s: %d of %d takes made", manifest.name, start + len(block), len(takes))
    entries = []
    for t in takes:
        path = (aug_dir if t.augment else clean_dir) / f"{t.name}.wav"
        entries.append({"audio_filepath": str(path), "duration": round(sf.info(str(path)).duration, 3),
                        "text": t.text, "voice": t.voice, "engine": t.engine, "augment": t.augment_label})
    write_manifest(manifest, entries)
    hours: dict[str, float] = {}
    for e in entries:
        hours[str(e["engine"])] = hours.get(str(e["engine"]), 0.0) + float(e["duration"]) / 3600
    log.info("%s: %d utterances, %s", manifest.name, len(entries),
             ", ".join(f"{k} {v:.2f} h" for k, v in sorted(hours.items())))
    return manifest


def build_training_speech(
    texts: Sequence[str],
    out_dir: Path,
    manifest: Path,
    seed: int,
    engines: Sequence[str] = TRAIN_ENGINES,
    augment: bool = True,
    workers: int = 2,
) -> Path:
    """A whole training set: ``texts`` spoken by the training voices of ``engines``, augmented."""
    if HELD_OUT_ENGINE in engines:
        msg = f"{HELD_OUT_ENGINE} is held out from training: choose engines among {', '.join(TRAIN_ENGINES)}"
        raise InvalidOptionError(msg)
    takes = plan_takes(texts, manifest.stem, seed, voices(engines), augment=augment)
    return build_speech(takes, out_dir, manifest, workers)


def split_sentences() -> tuple[list[str], list[str], list[str]]:
    """Test, dev and training sentences, split as the demo recipe splits them."""
    sentences = general_sentences()
    random.Random(0).shuffle(sentences)
    return sentences[:100], sentences[100:250], sentences[400:]


def build_all(work: Path, sentences: int, engines: Sequence[str] = TRAIN_ENGINES, seed: int = 0,
              augment: bool = True, workers: int = 2) -> dict[str, Path]:
    """Write ``train.json``, ``dev.json``, ``test_heldout_voices.json`` and ``test_heldout_engine.json``."""
    test, dev, train_text = split_sentences()
    out = {
        "train": build_training_speech(train_text[:sentences], work / "train", work / "train.json",
                                       seed + 11, engines, augment, workers),
        "dev": build_training_speech(dev, work / "dev", work / "dev.json", seed + 12, engines, augment, workers),
    }
    held: list[Take] = []
    for i, engine in enumerate(TRAIN_ENGINES):
        held += plan_takes(test, f"heldout-{engine}", seed + 13 + i, voices([engine], held_out=True))
    out["test_heldout_voices"] = build_speech(held, work / "test_heldout_voices",
                                              work / "test_heldout_voices.json", workers)
    engine_voices = voices([HELD_OUT_ENGINE]) + voices([HELD_OUT_ENGINE], held_out=True)
    out["test_heldout_engine"] = build_speech(
        plan_takes(test, f"heldout-{HELD_OUT_ENGINE}", seed + 20, engine_voices),
        work / "test_heldout_engine", work / "test_heldout_engine.json", workers)
    return out


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", type=Path, required=True, help="output folder (resumable)")
    p.add_argument("--sentences", type=int, default=6000, help="training sentences")
    p.add_argument("--engines", default=",".join(TRAIN_ENGINES),
                   help=f"training engines, comma-separated (default {','.join(TRAIN_ENGINES)})")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--no-augment", action="store_true", help="keep training and dev speech clean")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    build_all(args.work, args.sentences, engines, args.seed, not args.no_augment, args.workers)


if __name__ == "__main__":
    main()
