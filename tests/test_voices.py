from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from jupyter_speechcustom.demo import voices as mv
from jupyter_speechcustom.errors import AudioError, InvalidOptionError

SENTENCE = "the weather is fine today"


def needs(engine: str):
    spec = mv.ENGINES[engine]
    missing = shutil.which(spec.binary) is None or shutil.which("sox") is None
    return pytest.mark.skipif(missing, reason=f"needs Debian's {spec.package} and sox")


def take(voice: str, name: str = "t", text: str = SENTENCE) -> mv.Take:
    return mv.Take(text, voice, 1.0, 1.0, name)


@pytest.mark.parametrize(
    "voice",
    [
        pytest.param("espeak:en-gb+f3", marks=needs("espeak")),
        pytest.param("flite:slt", marks=needs("flite")),
        pytest.param("flite:kal", marks=needs("flite")),
        pytest.param("festival:kal_diphone", marks=needs("festival")),
        pytest.param("festival:cmu_us_slt_arctic_hts", marks=needs("festival")),
    ],
)
def test_each_engine_speaks_16k_mono(voice: str, tmp_path: Path) -> None:
    out = mv.speak(take(voice), tmp_path / "out.wav")
    info = sf.info(str(out))
    assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
    assert 0.8 < info.duration < 4.0  # five words, silences trimmed to 0.1 s
    audio, _ = sf.read(str(out))
    assert np.abs(audio[:800]).max() < np.abs(audio).max() / 4  # the leading pad is quiet


@needs("flite")
def test_trimming_keeps_quiet_voices_last_words(tmp_path: Path) -> None:
    text = "we got up before dawn"  # kal16 speaks it quietly, with short gaps between words
    raw = tmp_path / "raw.wav"
    settings = ["--setf", "duration_stretch=1.000", "--setf", "int_f0_target_mean=105.0"]  # as speak() sets them
    subprocess.run(["flite", "-voice", "kal16", *settings, "-t", text, "-o", str(raw)], check=True, capture_output=True)
    x, rate = sf.read(str(raw))
    frame = rate // 100
    rms = np.sqrt((x[: len(x) // frame * frame].reshape(-1, frame) ** 2).mean(axis=1))
    loud = np.flatnonzero(rms > 0.01)  # 10 ms frames clearly holding speech
    span = (loud[-1] - loud[0] + 1) / 100
    out = mv.speak(mv.Take(text, "flite:kal16", 1.0, 1.0, "k"), tmp_path / "out.wav")
    assert span + 0.15 < sf.info(str(out)).duration < span + 0.35  # all the speech, 0.1 s either side


def test_rate_changes_duration(tmp_path: Path) -> None:
    if shutil.which("flite") is None:
        pytest.skip("needs Debian's flite")
    slow = mv.speak(mv.Take(SENTENCE, "flite:slt", 0.85, 1.0, "slow"), tmp_path / "slow.wav")
    fast = mv.speak(mv.Take(SENTENCE, "flite:slt", 1.2, 1.0, "fast"), tmp_path / "fast.wav")
    assert sf.info(str(slow)).duration > 1.2 * sf.info(str(fast)).duration


STEPS = [
    mv.Step("speed", (1.1,)),
    mv.Step("tempo", (0.9,)),
    mv.Step("reverb", (60, 80, 10)),
    mv.Step("noise", ("white", 10, 1, ())),
    mv.Step("noise", ("pink", 15, 2, ())),
    mv.Step("noise", ("brown", 5, 3, ())),
    mv.Step("noise", ("babble", 10, 4, ("b0", "b1", "b2"))),
    mv.Step("phone", ("gsm",)),
    mv.Step("phone", ("ulaw",)),
    mv.Step("laptop", (180, "8bit")),
    mv.Step("laptop", (120, "clip")),
]


@pytest.fixture(scope="module")
def clean_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("flite") is None or shutil.which("sox") is None:
        pytest.skip("needs Debian's flite and sox")
    folder = tmp_path_factory.mktemp("clean")
    mv.speak(take("flite:awb"), folder / "src.wav")
    for i, text in enumerate(("a quiet voice in the next room", "call me later", "the train was late")):
        mv.speak(take("flite:slt", text=text), folder / f"b{i}.wav")
    return folder


@pytest.mark.parametrize("step", STEPS, ids=[s.label for s in STEPS])
def test_each_augmentation_keeps_format_and_length(step: mv.Step, clean_dir: Path, tmp_path: Path) -> None:
    src = clean_dir / "src.wav"
    dst = mv.apply_step(step, src, tmp_path / "out.wav", clean_dir, tmp_path / "noise")
    info = sf.info(str(dst))
    assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
    x, _ = sf.read(str(src))
    y, _ = sf.read(str(dst))
    expected = len(x) / step.args[0] if step.kind in ("speed", "tempo") else len(x)
    assert abs(len(y) - expected) <= 0.01 * len(x)
    if len(y) == len(x):
        assert np.abs(y - x).mean() > 0.1 * np.abs(x).mean()  # the signal really changed
    assert np.abs(y).max() <= 1.0
    assert np.abs(y).mean() > 0.001


def test_noise_is_at_the_planned_snr(clean_dir: Path, tmp_path: Path) -> None:
    src = clean_dir / "src.wav"
    x, _ = sf.read(str(src))
    y, _ = sf.read(str(mv.apply_step(mv.Step("noise", ("white", 10, 7, ())), src, tmp_path / "n.wav",
                                     clean_dir, tmp_path / "noise")))
    assert np.abs(y).max() < 0.99  # not rescaled, so y - x is the noise alone
    frames = x[: len(x) // 320 * 320].reshape(-1, 320)
    power = (frames**2).mean(axis=1)
    snr = 10 * np.log10(power[power > power.max() * 1e-3].mean() / ((y - x) ** 2).mean())
    assert 9.5 < snr < 10.5


def test_noise_refuses_silence(clean_dir: Path, tmp_path: Path) -> None:
    silent = tmp_path / "silent.wav"
    sf.write(str(silent), np.zeros(16000), 16000, subtype="PCM_16")
    with pytest.raises(AudioError, match="silent"):
        mv.apply_step(mv.Step("noise", ("pink", 10, 1, ())), silent, tmp_path / "n.wav", clean_dir, tmp_path / "noise")


def test_plans_are_deterministic_and_grow_by_prefix() -> None:
    texts = [f"sentence number {i}" for i in range(300)]
    pool = mv.voices(["espeak", "flite"])
    a = mv.plan_takes(texts, "train", 5, pool, augment=True)
    assert a == mv.plan_takes(texts, "train", 5, pool, augment=True)
    assert a != mv.plan_takes(texts, "train", 6, pool, augment=True)
    assert mv.plan_takes(texts[:100], "train", 5, pool, augment=True) == a[:100]
    labels = {t.augment_label for t in a}
    assert "clean" in labels and len(labels) > 50
    assert {s.kind for t in a for s in t.augment} == {"speed", "tempo", "reverb", "noise", "phone", "laptop"}
    assert {t.engine for t in a} == {"espeak", "flite"}
    babble = [s for t in a for s in t.augment if s.args[0] == "babble"]
    assert babble and all(len(s.args[3]) >= 3 for s in babble)


def test_held_out_voices_and_engine_never_in_training() -> None:
    texts = [f"sentence number {i}" for i in range(3000)]
    plan = mv.plan_takes(texts, "train", 1, mv.voices(), augment=True)
    used = {t.voice for t in plan}
    held = set(mv.voices(mv.TRAIN_ENGINES, held_out=True))
    assert held and not used & held
    assert mv.HELD_OUT_ENGINE not in {t.engine for t in plan}
    assert {"flite:rms", "flite:kal", "espeak:en-us+m2"} <= held
    with pytest.raises(InvalidOptionError, match="held out from training"):
        mv.build_training_speech(texts, Path("unused"), Path("unused.json"), 0, engines=["flite", "festival"])


def test_missing_engine_names_its_debian_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(mv.SynthesizerMissingError, match=r"flite not found.*apt-get install -y flite"):
        mv.speak(take("flite:slt"), tmp_path / "x.wav")
    with pytest.raises(mv.SynthesizerMissingError, match=r"apt-get install -y festival"):
        mv.check_installed("festival:kal_diphone")
    with pytest.raises(InvalidOptionError, match="engine:voice"):
        mv.check_installed("slt")


def test_missing_festival_voice_names_its_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    if shutil.which("text2wave") is None:
        pytest.skip("needs Debian's festival")
    monkeypatch.setattr(mv, "FESTIVAL_VOICE_DIR", tmp_path)
    with pytest.raises(mv.SynthesizerMissingError, match=r"apt-get install -y festvox-kdlpc16k"):
        mv.check_installed("festival:ked_diphone")


@needs("flite")
def test_build_writes_a_resumable_augmented_manifest(tmp_path: Path) -> None:
    texts = ["a quiet voice in the next room", "call me later", "the train was late", "open the door please",
             "he sold his car last week", "we walked along the river"]
    manifest = mv.build_training_speech(texts, tmp_path / "train", tmp_path / "train.json", seed=3,
                                        engines=["flite"], workers=2)
    entries = [json.loads(line) for line in manifest.read_text().splitlines()]
    assert [e["text"] for e in entries] == texts
    for e in entries:
        assert e["engine"] == "flite" and e["voice"] in mv.voices(["flite"])
        assert Path(e["audio_filepath"]).exists() and e["duration"] > 0.5
        assert ("augmented" in e["audio_filepath"]) == (e["augment"] != "clean")
    mtimes = {e["audio_filepath"]: Path(e["audio_filepath"]).stat().st_mtime_ns for e in entries}
    mv.build_training_speech(texts, tmp_path / "train", tmp_path / "train.json", seed=3, engines=["flite"])
    assert {p: Path(p).stat().st_mtime_ns for p in mtimes} == mtimes
    assert not list((tmp_path / "train").rglob("*.part.wav"))
