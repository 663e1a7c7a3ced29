"""The adversarial probe (issue 15): bad inputs and faults against the CLI, the Python API and the
workspace. Each case is a small generated fixture; each asserts the message (what is wrong, what
to do) and that nothing of the user's was lost.

Test names say the outcome: ``test_error_*`` a specific error before any work is wasted,
``test_ok_*`` a correct result where a wrong one (or a traceback) came before.
"""

from __future__ import annotations

import io
import json
import math
import os
import sqlite3
import stat
import tarfile
import wave
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml

from jupyter_speechcustom.cli import main as cli_main
from jupyter_speechcustom.errors import AudioError, InvalidOptionError, OutputError
from jupyter_speechcustom.io.audio import Segment, audio_info, load_audio
from jupyter_speechcustom.io.files import atomic_write, check_output_path, describe_os_error
from jupyter_speechcustom.io.manifest import ManifestError, audio_source, entry_key, read_manifest, write_manifest
from jupyter_speechcustom.lm.language_model import CustomLanguageModel, LanguageModelError, build_language_model

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


# ---------------------------------------------------------------------------------------- helpers


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every file (bytes) and folder (None) under ``folder``: what must survive a refusal."""
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None) for p in sorted(folder.rglob("*"))}


def user_folder(path: Path) -> Path:
    """A folder of the user's: files, a subfolder, nothing this toolkit wrote."""
    (path / "photos").mkdir(parents=True)
    (path / "photos" / "cat.jpg").write_bytes(b"\xff\xd8 a cat")
    (path / "thesis.tex").write_text("\\documentclass{article}")
    return path


def lm_folder(path: Path, arpa: str = ARPA, meta: object | None = None) -> Path:
    """A custom LM folder as a build writes it (a tiny but whole ARPA)."""
    path.mkdir(parents=True)
    (path / "tokens.arpa").write_text(arpa)
    meta = {"name": "fake", "base_model": BASE, "order": 2, "corpora": []} if meta is None else meta
    (path / "lm.json").write_text(meta if isinstance(meta, str) else json.dumps(meta))
    (path / "corpus.txt").write_text("a b\n")
    return path


def fake_nemo(path: Path, config: object = None, *, extra: bytes = b"\0" * 4096, with_config: bool = True) -> Path:
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


def wav(path: Path, samples: np.ndarray, rate: int) -> Path:
    """16-bit mono WAV written with the standard library (any header rate, even absurd ones)."""
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def tone(seconds: float, rate: int = 16_000, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def run_cli(capsys, *args: str) -> tuple[int, str]:
    """Run ``speechcustom`` in-process: (exit code, stderr)."""
    try:
        code = cli_main(list(args))
    except SystemExit as exc:  # argparse refusals
        code = int(exc.code or 0)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


@pytest.fixture
def ws(tmp_path):
    from jupyter_speechcustom.services.workspace import Workspace

    return Workspace(tmp_path / "ws")


def no_models(ws) -> None:
    """Nothing half-added: no records and no files in the model folders."""
    assert ws.language_models() == [] and ws.acoustic_models() == []
    assert [p.name for p in (ws.path / "lms").iterdir()] == [] and [p.name for p in (ws.path / "ams").iterdir()] == []


# ------------------------------------------------- 1. --overwrite only replaces what the toolkit wrote


def test_error_overwrite_refuses_a_folder_of_user_files(tmp_path, capsys):
    out = user_folder(tmp_path / "mine")
    before = snapshot(out)
    code, err = run_cli(capsys, "lm", "build", "--base", "demo", "--corpus", "x.txt", "--out", str(out), "--overwrite")
    assert code == 2
    assert "not a custom language model folder (no lm.json), so --overwrite does not replace it" in err
    assert "overwrite=True" not in err
    assert snapshot(out) == before


def test_error_overwrite_refuses_the_current_folder(tmp_path, capsys, monkeypatch):
    here = user_folder(tmp_path / "here")
    before = snapshot(here)
    monkeypatch.chdir(here)
    code, err = run_cli(capsys, "lm", "build", "--base", "demo", "--corpus", "x.txt", "--out", ".", "--overwrite")
    assert code == 2 and "--overwrite does not replace it" in err
    assert snapshot(here) == before


def test_error_overwrite_refuses_a_folder_holding_the_current_one(tmp_path, capsys, monkeypatch):
    lm = lm_folder(tmp_path / "lm")
    (lm / "sub").mkdir()
    monkeypatch.chdir(lm / "sub")
    before = snapshot(lm)
    code, err = run_cli(capsys, "lm", "build", "--base", "demo", "--corpus", "x.txt", "--out", "..", "--overwrite")
    assert code == 2 and "current folder" in err
    assert snapshot(lm) == before


def test_error_without_overwrite_the_cli_names_its_flag(tmp_path, capsys):
    lm = lm_folder(tmp_path / "lm")
    before = snapshot(lm)
    code, err = run_cli(capsys, "lm", "build", "--base", "demo", "--corpus", "x.txt", "--out", str(lm))
    assert code == 2 and "pass --overwrite to replace it" in err and "overwrite=True" not in err
    assert snapshot(lm) == before


def test_error_a_non_empty_folder_without_overwrite(tmp_path, capsys):
    out = user_folder(tmp_path / "mine")
    before = snapshot(out)
    code, err = run_cli(capsys, "lm", "build", "--base", "demo", "--corpus", "x.txt", "--out", str(out))
    assert code == 2 and "already exists and is not empty: choose another folder" in err
    assert snapshot(out) == before


def test_error_overwrite_keeps_an_lm_folder_the_user_added_files_to(tmp_path, capsys):
    lm = lm_folder(tmp_path / "lm")
    (lm / "notes.txt").write_text("my notes")
    (lm / "experiments").mkdir()
    before = snapshot(lm)
    code, err = run_cli(capsys, "lm", "build", "--base", "demo", "--corpus", "x.txt", "--out", str(lm), "--overwrite")
    assert code == 2 and "did not write (experiments, notes.txt)" in err and "move them out" in err
    assert snapshot(lm) == before


def test_error_overwrite_of_a_file(tmp_path, capsys):
    out = tmp_path / "report.txt"
    out.write_text("keep me")
    code, err = run_cli(capsys, "lm", "build", "--base", "demo", "--corpus", "x.txt", "--out", str(out), "--overwrite")
    assert code == 2 and "is a file, not a folder" in err
    assert out.read_text() == "keep me"


def test_error_overwrite_of_a_symbolic_link(tmp_path, capsys):
    target = user_folder(tmp_path / "mine")
    link = tmp_path / "link"
    link.symlink_to(target)
    before = snapshot(target)
    code, err = run_cli(capsys, "lm", "build", "--base", "demo", "--corpus", "x.txt", "--out", str(link), "--overwrite")
    assert code == 2 and "symbolic link" in err
    assert snapshot(target) == before and link.is_symlink()


def test_error_python_api_names_its_keyword(tmp_path):
    lm = lm_folder(tmp_path / "lm")
    with pytest.raises(LanguageModelError, match="pass overwrite=True to replace it"):
        build_language_model(object(), [], lm)  # type: ignore[arg-type]  # refused before the base is used


def test_error_python_api_overwrite_refuses_user_files(tmp_path):
    out = user_folder(tmp_path / "mine")
    before = snapshot(out)
    with pytest.raises(LanguageModelError, match="no lm.json"):
        build_language_model(object(), [], out, overwrite=True)  # type: ignore[arg-type]
    assert snapshot(out) == before


@pytest.mark.slow
def test_ok_overwrite_replaces_a_toolkit_lm_folder(tmp_path, demo_model):
    from jupyter_speechcustom import demo

    target = tmp_path / "lm"
    build_language_model(demo_model, [demo.corpus_path()], target)
    corpus = tmp_path / "c.txt"
    corpus.write_text("restart the pods\nscale the deployment\n" * 5)
    lm = build_language_model(demo_model, [corpus], target, overwrite=True)
    assert lm.corpus_text.read_text().startswith("restart the pods")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.txt", "lm"]  # nothing set aside is left


# ------------------------------------------------------ 2. outputs: regular files only, atomically


@pytest.mark.parametrize("device", ["/dev/full", "/dev/null"])
def test_error_an_output_is_never_written_over_a_device(device):
    mode = os.stat(device).st_mode
    with pytest.raises(OutputError, match="is a device, not a regular file"):
        atomic_write(device, "x")
    assert stat.S_ISCHR(os.stat(device).st_mode) and os.stat(device).st_mode == mode


def test_error_cli_transcribe_to_a_device(tmp_path, capsys):
    manifest = write_manifest(tmp_path / "m.json", [{"audio_filepath": "a.wav"}])
    code, err = run_cli(capsys, "transcribe", "--manifest", str(manifest), "--out", "/dev/full")
    assert code == 2 and "the --out file /dev/full is a device" in err
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


def test_error_cli_am_train_to_a_device(tmp_path, capsys):
    code, err = run_cli(capsys, "am", "train", "--base", "demo", "--audio", "m.json", "--out", "/dev/full")
    assert code == 2 and "is a device" in err


def test_error_output_over_a_folder(tmp_path):
    folder = user_folder(tmp_path / "out")
    before = snapshot(folder)
    with pytest.raises(OutputError, match="is a folder, not a regular file"):
        write_manifest(folder, [{"audio_filepath": "a.wav"}])
    assert snapshot(folder) == before


def test_error_output_over_a_pipe(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(OutputError, match="is a pipe"):
        write_manifest(fifo, [{"audio_filepath": "a.wav"}])
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_error_output_under_a_file(tmp_path, capsys):
    (tmp_path / "f").write_text("keep")
    manifest = write_manifest(tmp_path / "m.json", [{"audio_filepath": "a.wav"}])
    code, err = run_cli(capsys, "transcribe", "--manifest", str(manifest), "--out", str(tmp_path / "f" / "h.jsonl"))
    assert code == 2 and "a part of the path is a file" in err
    assert (tmp_path / "f").read_text() == "keep"


@pytest.mark.parametrize("name", ["", "a\x00b"])
def test_error_output_names_that_are_not_file_names(name):
    with pytest.raises(OutputError, match="is not a file name"):
        check_output_path(name)


def test_ok_output_over_a_regular_file_replaces_it(tmp_path):
    out = tmp_path / "h.jsonl"
    out.write_text("old\n")
    write_manifest(out, [{"audio_filepath": "a.wav"}])
    assert json.loads(out.read_text()) == {"audio_filepath": "a.wav"}
    assert [p.name for p in tmp_path.iterdir()] == ["h.jsonl"]


@pytest.mark.parametrize(("err", "advice"), [
    (OSError(28, "No space left on device", "/x"), "/x: the disk is full"),
    (PermissionError(13, "Permission denied", "/y"), "/y: permission denied"),
    (OSError(30, "Read-only file system", "/z"), "read-only"),
    (OSError(36, "File name too long", "/w"), "too long"),
])
def test_error_os_errors_are_described_with_what_to_do(err, advice):
    assert advice in describe_os_error(err)


# --------------------------------------- 3. memory follows the real content, not a header's claims


def test_error_a_one_hertz_header_is_refused_before_resampling(tmp_path):
    path = wav(tmp_path / "odd.wav", np.zeros(70_000), rate=1)  # claims 19.4 hours
    with pytest.raises(AudioError, match="header is damaged"):
        load_audio(path)
    with pytest.raises(AudioError, match="1 Hz"):
        audio_info(path)


def test_error_a_one_hertz_wav_is_never_stored(ws, tmp_path):
    path = wav(tmp_path / "odd.wav", np.zeros(70_000), rate=1)
    with pytest.raises(AudioError, match="header is damaged"):
        ws.add_audio(path)
    assert ws.audio() == [] and list((ws.path / "audio").iterdir()) == []


def test_error_too_long_audio_is_refused_before_it_is_read_or_resampled(tmp_path):
    path = wav(tmp_path / "long.wav", tone(3.0, 8000), rate=8000)
    with pytest.raises(AudioError, match="over the .* limit: split it into shorter files"):
        load_audio(path, max_seconds=2.0)


def test_error_too_long_audio_through_ffmpeg(tmp_path):
    from conftest import encode_av

    path = tmp_path / "long.webm"
    path.write_bytes(encode_av(tone(3.0, 48_000)[:, None], 48_000, "webm", "libopus"))
    with pytest.raises(AudioError, match="over the .* limit"):
        load_audio(path, max_seconds=1.0)


def test_error_too_long_array(tmp_path):
    with pytest.raises(AudioError, match="over the .* limit"):
        load_audio(np.zeros(30_000, np.float32), source_rate=8000, max_seconds=2.0)


# ----------------------------------------------------------- NaN/Inf samples, bad rates, bad arrays


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_error_non_finite_samples_in_a_file(tmp_path, bad):
    import soundfile as sf

    audio = tone(1.0)
    audio[100:110] = bad
    path = tmp_path / "bad.wav"
    sf.write(path, audio, 16_000, subtype="FLOAT")
    with pytest.raises(AudioError, match="10 samples that are not numbers .*re-export"):
        load_audio(path)


def test_error_non_finite_samples_in_an_array():
    audio = tone(1.0)
    audio[0] = np.nan
    with pytest.raises(AudioError, match="1 samples that are not numbers"):
        load_audio(audio, source_rate=16_000)


def test_error_non_finite_samples_are_never_stored(ws, tmp_path):
    import soundfile as sf

    audio = tone(1.0)
    audio[5] = np.inf
    sf.write(tmp_path / "bad.wav", audio, 16_000, subtype="FLOAT")
    with pytest.raises(AudioError, match="not numbers"):
        ws.add_audio(tmp_path / "bad.wav")
    assert ws.audio() == []


@pytest.mark.parametrize("rate", [0, -16_000, 1.5, math.nan, True, 10**9])
def test_error_impossible_source_rates(rate):
    with pytest.raises(AudioError, match="source_rate is .* a sample rate must be a whole number"):
        load_audio(tone(0.1), source_rate=rate)


@pytest.mark.parametrize("rate", [0, -1])
def test_error_impossible_target_rates(tmp_path, rate):
    with pytest.raises(AudioError, match="sample_rate is"):
        load_audio(tone(0.1), rate, source_rate=16_000)


@pytest.mark.parametrize(("array", "match"), [
    (np.array(["a", "b"]), "must hold numbers"),
    (np.zeros((2, 2, 2), np.float32), "1-D .* or 2-D"),
    (np.array([True, False] * 100), "must hold numbers"),
])
def test_error_arrays_that_are_not_audio(array, match):
    with pytest.raises(AudioError, match=match):
        load_audio(array, source_rate=16_000)


def test_error_unreadable_audio(tmp_path, monkeypatch):
    path = wav(tmp_path / "a.wav", tone(0.5), 16_000)
    real_open = Path.open

    def deny(self, *args, **kwargs):
        if self == path:
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", deny)
    with pytest.raises(AudioError, match="cannot read .*permission denied; check the file's permissions"):
        load_audio(path)


# ------------------------------------------- 4. manifest segments: one utterance per manifest line


def test_ok_a_segment_is_read_as_that_segment(tmp_path):
    audio = np.concatenate([np.zeros(16_000, np.float32), tone(1.0)])
    path = wav(tmp_path / "two.wav", audio, 16_000)
    silence = load_audio(Segment(path, 0.0, 1.0))
    speech = load_audio(Segment(path, 1.0, 0.5))
    assert len(silence) == 16_000 and len(speech) == 8000
    assert np.abs(silence).max() < 1e-3 < np.abs(speech).max()
    assert len(load_audio(Segment(path, 1.5))) == 8000  # to the end


def test_ok_a_segment_through_ffmpeg(tmp_path):
    from conftest import encode_av

    path = tmp_path / "two.webm"
    path.write_bytes(encode_av(tone(2.0, 48_000)[:, None], 48_000, "webm", "libopus"))
    assert abs(len(load_audio(Segment(path, 0.5, 1.0))) - 16_000) < 400


@pytest.mark.parametrize(("offset", "duration", "match"), [
    (-1.0, None, "offset -1.0"), (math.nan, None, "offset nan"), ("1", None, "offset '1'"),
    (0.0, -2.0, "duration -2.0"), (0.0, 0.0, "duration 0"),
])
def test_error_impossible_segments(tmp_path, offset, duration, match):
    with pytest.raises(AudioError, match=match):
        Segment(tmp_path / "a.wav", offset, duration)


def test_error_a_segment_after_the_end(tmp_path):
    path = wav(tmp_path / "a.wav", tone(1.0), 16_000)
    with pytest.raises(AudioError, match="starts after the end of the file .*check the offset"):
        load_audio(Segment(path, 5.0, 1.0))


def test_ok_manifest_lines_with_offset_are_segments(tmp_path):
    manifest = write_manifest(tmp_path / "m.json", [
        {"audio_filepath": "a.wav", "offset": 0.0, "duration": 1.0, "text": "one"},
        {"audio_filepath": "a.wav", "offset": 1.0, "duration": 1.0, "text": "two"},
        {"audio_filepath": "b.wav", "duration": 3.2, "text": "three"},
    ])
    entries = read_manifest(manifest)
    sources = [audio_source(e) for e in entries]
    assert sources[0] == Segment(str(tmp_path / "a.wav"), 0.0, 1.0)
    assert sources[1] == Segment(str(tmp_path / "a.wav"), 1.0, 1.0)
    assert sources[2] == str(tmp_path / "b.wav")  # a duration alone describes the whole file
    assert len({entry_key(e) for e in entries}) == 3


def _segments_case(tmp_path):
    refs = write_manifest(tmp_path / "ref.json", [
        {"audio_filepath": "a.wav", "offset": 0.0, "duration": 1.0, "text": "restart the pods"},
        {"audio_filepath": "a.wav", "offset": 1.0, "duration": 1.0, "text": "scale the deployment"},
    ])
    return refs


def test_ok_evaluate_keeps_one_row_per_segment(tmp_path, capsys):
    refs = _segments_case(tmp_path)
    hyp = write_manifest(tmp_path / "hyp.json", [
        {"audio_filepath": "a.wav", "offset": 1.0, "duration": 1.0, "pred_text": "scale the deployment"},
        {"audio_filepath": "a.wav", "offset": 0.0, "duration": 1.0, "pred_text": "restart the pods"},
    ])
    code = cli_main(["evaluate", "--manifest", str(refs), "--hyp", str(hyp), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["wer"] == 0 and out["reference_words"] == 6


def test_ok_evaluate_keeps_a_file_listed_twice(tmp_path, capsys):
    refs = write_manifest(tmp_path / "ref.json", [{"audio_filepath": "a.wav", "text": "one two"},
                                                  {"audio_filepath": "a.wav", "text": "three"}])
    hyp = write_manifest(tmp_path / "hyp.json", [{"audio_filepath": "a.wav", "pred_text": "one two"},
                                                 {"audio_filepath": "a.wav", "pred_text": "three"}])
    assert cli_main(["evaluate", "--manifest", str(refs), "--hyp", str(hyp)]) == 0
    assert "in 2 utterances" in capsys.readouterr().out


def test_error_evaluate_with_a_segment_missing(tmp_path, capsys):
    refs = _segments_case(tmp_path)
    hyp = write_manifest(tmp_path / "hyp.json", [
        {"audio_filepath": "a.wav", "offset": 0.0, "duration": 1.0, "pred_text": "restart the pods"}])
    code, err = run_cli(capsys, "evaluate", "--manifest", str(refs), "--hyp", str(hyp))
    assert code == 2 and "1 manifest entries have no hypothesis" in err and "speechcustom transcribe" in err


@pytest.mark.slow
def test_ok_transcribe_decodes_each_segment(tmp_path, capsys, domain_test):
    import soundfile as sf

    first, second = (load_audio(e["audio_filepath"]) for e in domain_test[:2])
    joined = tmp_path / "joined.wav"
    sf.write(joined, np.concatenate([first, second]), 16_000)
    manifest = write_manifest(tmp_path / "m.json", [
        {"audio_filepath": str(joined), "offset": 0.0, "duration": len(first) / 16_000},
        {"audio_filepath": str(joined), "offset": len(first) / 16_000},
    ])
    single = write_manifest(tmp_path / "s.json", [{"audio_filepath": e["audio_filepath"]} for e in domain_test[:2]])
    for m, out in ((manifest, "seg.jsonl"), (single, "single.jsonl")):
        assert cli_main(["transcribe", "--manifest", str(m), "--out", str(tmp_path / out)]) == 0
    seg = [json.loads(line) for line in (tmp_path / "seg.jsonl").read_text().splitlines()]
    alone = [json.loads(line) for line in (tmp_path / "single.jsonl").read_text().splitlines()]
    assert [r["pred_text"] for r in seg] == [r["pred_text"] for r in alone]
    assert seg[1]["offset"] == pytest.approx(len(first) / 16_000)


# ------------------------------------------------------------------ manifests: encodings, fields


def test_ok_utf16_manifest_with_a_byte_order_mark(tmp_path):
    path = tmp_path / "m.json"
    path.write_bytes(json.dumps({"audio_filepath": "é.wav", "text": "café"}).encode("utf-16"))
    assert read_manifest(path, require_text=True)[0]["text"] == "café"


def test_ok_utf8_manifest_with_a_byte_order_mark(tmp_path):
    path = tmp_path / "m.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps({"audio_filepath": "a.wav"}).encode())
    assert read_manifest(path)[0]["audio_filepath"].endswith("a.wav")


def test_error_latin1_manifest_names_the_line(tmp_path):
    path = tmp_path / "m.json"
    path.write_bytes(b'{"audio_filepath": "a.wav", "text": "ok"}\n{"audio_filepath": "b.wav", "text": "caf\xe9"}\n')
    before = path.read_bytes()
    with pytest.raises(ManifestError, match=r"m.json:2 is not UTF-8 text .*save it as UTF-8"):
        read_manifest(path)
    assert path.read_bytes() == before


@pytest.mark.parametrize(("line", "match"), [
    ({"audio_filepath": 3, "text": "x"}, '"audio_filepath" must be a file path'),
    ({"audio_filepath": None, "text": "x"}, '"audio_filepath" must be a file path'),
    ({"audio_filepath": ["a.wav"], "text": "x"}, '"audio_filepath" must be a file path'),
    ({"audio_filepath": "", "text": "x"}, '"audio_filepath" must be a file path'),
    ({"audio_filepath": "a.wav", "text": 5}, '"text" must be a string'),
    ({"audio_filepath": "a.wav", "text": "x", "offset": -1}, '"offset" must be a number of seconds'),
    ({"audio_filepath": "a.wav", "text": "x", "offset": "1.5"}, '"offset" must be a number of seconds'),
    ({"audio_filepath": "a.wav", "text": "x", "duration": True}, '"duration" must be a number of seconds'),
    ({"audio_filepath": "a.wav", "text": "x", "offset": 1, "duration": 0}, "holds no audio"),
])
def test_error_manifest_fields_of_the_wrong_type(tmp_path, line, match):
    path = tmp_path / "m.json"
    path.write_text(json.dumps(line) + "\n")
    with pytest.raises(ManifestError, match=match):
        read_manifest(path, require_text=True)


def test_error_manifest_nan_offset(tmp_path):
    path = tmp_path / "m.json"
    path.write_text('{"audio_filepath": "a.wav", "offset": NaN}\n')
    with pytest.raises(ManifestError, match='m.json:1: "offset" must be a number of seconds'):
        read_manifest(path)


def test_error_unreadable_manifest(tmp_path, monkeypatch):
    path = write_manifest(tmp_path / "m.json", [{"audio_filepath": "a.wav"}])
    real = Path.read_bytes

    def deny(self):
        if self == path:
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", deny)
    with pytest.raises(ManifestError, match="cannot read .*permission denied"):
        read_manifest(path)


def test_error_cli_evaluate_with_a_latin1_manifest(tmp_path, capsys):
    path = tmp_path / "m.json"
    path.write_bytes(b'{"audio_filepath": "a.wav", "text": "caf\xe9"}\n')
    code, err = run_cli(capsys, "evaluate", "--manifest", str(path), "--hyp", str(path))
    assert code == 2 and "is not UTF-8 text" in err


# -------------------------------------------------------- 5. damaged models are refused when added


def test_ok_a_whole_language_model_is_added(ws, tmp_path):
    rec = ws.add_language_model(lm_folder(tmp_path / "lm"))
    assert rec.status == "available"


@pytest.mark.parametrize(("arpa", "match"), [
    (ARPA[: len(ARPA) // 2], r"does not end with \\end\\ \(truncated\)"),
    ("", r"does not start with \\data\\"),
    ("hello world\n", r"does not start with \\data\\"),
    ("\\data\\\n\\end\\\n", "header has no n-gram counts"),
    ("\\data\\\nngram 1=1000000\n\n\\end\\\n", "too short"),
])
def test_error_a_damaged_arpa_is_refused_and_nothing_is_added(ws, tmp_path, arpa, match):
    source = lm_folder(tmp_path / "lm", arpa=arpa)
    before = snapshot(source)
    with pytest.raises(LanguageModelError, match=match + ".*Rebuild the language model"):
        ws.add_language_model(source)
    no_models(ws)
    assert snapshot(source) == before


@pytest.mark.parametrize(("meta", "match"), [
    ("{not json", "not JSON"),
    ("[]", "not a JSON object"),
    ({"order": 2, "corpora": []}, 'no "base_model"'),
    ({"base_model": BASE, "order": "two", "corpora": []}, '"order" is'),
    ({"base_model": BASE, "order": 2, "corpora": "x"}, '"corpora" is not a list'),
])
def test_error_a_damaged_lm_json_is_refused(ws, tmp_path, meta, match):
    source = lm_folder(tmp_path / "lm", meta=meta)
    with pytest.raises(LanguageModelError, match=f"lm.json is damaged .*{match}.*rebuild the language model"):
        ws.add_language_model(source)
    no_models(ws)
    with pytest.raises(LanguageModelError, match="damaged"):
        CustomLanguageModel.load(source)


def test_error_a_damaged_lm_fails_clearly_in_the_cli(tmp_path, capsys):
    lm = lm_folder(tmp_path / "lm", arpa=ARPA[:40])
    manifest = write_manifest(tmp_path / "m.json", [{"audio_filepath": "a.wav"}])
    code, err = run_cli(capsys, "am", "train", "--base", "demo", "--audio", str(manifest), "--mode", "lightly-supervised",
                        "--lm", str(lm), "--out", str(tmp_path / "am.nemo"))
    assert code == 2 and "tokens.arpa is damaged" in err
    assert not (tmp_path / "am.nemo").exists()


def test_ok_a_whole_acoustic_model_is_added(ws, tmp_path):
    assert ws.add_acoustic_model(fake_nemo(tmp_path / "m.nemo")).status == "available"


def test_error_a_truncated_nemo_is_refused_and_nothing_is_added(ws, tmp_path):
    whole = fake_nemo(tmp_path / "whole.nemo", extra=os.urandom(50_000)).read_bytes()
    cut = tmp_path / "cut.nemo"
    cut.write_bytes(whole[: len(whole) - 20_000])
    with pytest.raises(Exception, match="cut.nemo is (truncated|not a whole .nemo archive).*again"):
        ws.add_acoustic_model(cut)
    no_models(ws)
    assert cut.read_bytes() == whole[: len(whole) - 20_000]


def test_error_a_nemo_without_a_config(ws, tmp_path):
    with pytest.raises(Exception, match="not a NeMo model: it has no model_config.yaml"):
        ws.add_acoustic_model(fake_nemo(tmp_path / "m.nemo", with_config=False), base=BASE)
    no_models(ws)


def test_error_a_nemo_whose_config_is_not_a_mapping(ws, tmp_path):
    with pytest.raises(Exception, match="model_config.yaml is not a model configuration"):
        ws.add_acoustic_model(fake_nemo(tmp_path / "m.nemo", config="- just\n- a list\n"), base=BASE)
    no_models(ws)


def _rebundle(bundle: Path, damage: dict[str, bytes]) -> Path:
    """The bundle with some files replaced and its checksums recomputed (as a careful attacker would)."""
    import hashlib

    with zipfile.ZipFile(bundle) as zf:
        files = {name: zf.read(name) for name in zf.namelist()}
    files.update(damage)
    manifest = json.loads(files["bundle.json"])
    manifest["files"] = {name: hashlib.sha256(files[name]).hexdigest() for name in manifest["files"]}
    files["bundle.json"] = json.dumps(manifest).encode()
    out = bundle.with_name("damaged.zip")
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return out


def test_error_a_bundle_with_a_damaged_arpa_and_recomputed_sums(tmp_path):
    from jupyter_speechcustom.services.workspace import Workspace
    from jupyter_speechcustom.store.bundle import BundleError, export_bundle, import_bundle

    source = Workspace(tmp_path / "source")
    lm = source.add_language_model(lm_folder(tmp_path / "lm"))
    bundle = _rebundle(export_bundle(source, tmp_path / "b.zip", lm_id=lm.id), {"lm/tokens.arpa": ARPA[:60].encode()})
    target = Workspace(tmp_path / "target")
    with pytest.raises(BundleError, match="language model is not usable: .*tokens.arpa is damaged"):
        import_bundle(target, bundle)
    no_models(target)


def test_error_a_bundle_with_a_truncated_acoustic_model_and_recomputed_sums(tmp_path):
    from jupyter_speechcustom.services.workspace import Workspace
    from jupyter_speechcustom.store.bundle import BundleError, export_bundle, import_bundle

    source = Workspace(tmp_path / "source")
    am = source.add_acoustic_model(fake_nemo(tmp_path / "m.nemo", extra=os.urandom(50_000)))
    words = source.add_words(b"kubectl\n", name="w.txt")
    data = am.path.read_bytes()
    bundle = _rebundle(export_bundle(source, tmp_path / "b.zip", am_id=am.id, words_ids=[words.id]),
                       {"am/model.nemo": data[: len(data) - 20_000]})
    target = Workspace(tmp_path / "target")
    with pytest.raises(BundleError, match="the bundle's acoustic model is (truncated|not a whole .nemo)"):
        import_bundle(target, bundle)
    no_models(target)
    assert target.word_lists() == []


# ----------------------------------------------------------------------- invalid numeric options


@pytest.mark.parametrize(("args", "match"), [
    (["--lm-alpha", "nan"], "argument --lm-alpha: 'nan' is not a finite number"),
    (["--lm-alpha", "inf"], "argument --lm-alpha: 'inf' is not a finite number"),
    (["--lm-alpha", "-1"], "argument --lm-alpha: -1 is out of range"),
    (["--lm-beta", "nan"], "argument --lm-beta"),
    (["--boost-alpha", "-0.5"], "argument --boost-alpha: -0.5 is out of range"),
    (["--beam-size", "-3"], "argument --beam-size: -3 is out of range"),
    (["--beam-size", "0"], "argument --beam-size: 0 is out of range"),
    (["--beam-size", "2.5"], "argument --beam-size: '2.5' is not a whole number"),
    (["--beam-size", "100000"], "argument --beam-size: 100000 is out of range"),
])
def test_error_cli_transcribe_options(tmp_path, capsys, args, match):
    code, err = run_cli(capsys, "transcribe", "--manifest", "m.json", "--out", str(tmp_path / "h.jsonl"), *args)
    assert code == 2 and match in err
    assert not (tmp_path / "h.jsonl").exists()


@pytest.mark.parametrize(("args", "match"), [
    (["--order", "1"], "argument --order: 1 is out of range: give a whole number from 2 to 6"),
    (["--order", "50"], "argument --order: 50 is out of range"),
    (["--order", "three"], "argument --order: 'three' is not a whole number"),
    (["--general-weight", "1.5"], "argument --general-weight: 1.5 is out of range"),
    (["--general-weight", "1"], "argument --general-weight: 1 is out of range"),
    (["--general-weight", "-0.1"], "argument --general-weight: -0.1 is out of range"),
    (["--general-weight", "nan"], "argument --general-weight: 'nan' is not a finite number"),
])
def test_error_cli_lm_build_options(tmp_path, capsys, args, match):
    code, err = run_cli(capsys, "lm", "build", "--base", "demo", "--out", str(tmp_path / "lm"), *args)
    assert code == 2 and match in err
    assert not (tmp_path / "lm").exists()


@pytest.mark.parametrize(("args", "match"), [
    (["--lr", "nan"], "argument --lr: 'nan' is not a finite number"),
    (["--lr", "0"], "argument --lr: 0 is out of range: give a number above 0 and at most 1"),
    (["--lr", "-1e-3"], "argument --lr"),
    (["--epochs", "0"], "argument --epochs: 0 is out of range: give a whole number 1 or more"),
    (["--epochs", "-2"], "argument --epochs"),
    (["--iterations", "0"], "argument --iterations: 0 is out of range"),
    (["--threshold", "2"], "argument --threshold: 2 is out of range: give a number at least 0 and at most 1"),
    (["--threshold", "-0.1"], "argument --threshold"),
    (["--threshold", "nan"], "argument --threshold: 'nan' is not a finite number"),
    (["--devices", "0"], "argument --devices"),
])
def test_error_cli_am_train_options(tmp_path, capsys, args, match):
    code, err = run_cli(capsys, "am", "train", "--base", "demo", "--audio", "m.json", "--out",
                        str(tmp_path / "am.nemo"), *args)
    assert code == 2 and match in err


def test_error_cli_demo_epochs(capsys):
    code, err = run_cli(capsys, "demo", "--epochs", "0")
    assert code == 2 and "argument --epochs: 0 is out of range" in err


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"lm_alpha": math.nan}, "lm_alpha must be 0 or more"),
    ({"lm_alpha": math.inf}, "lm_alpha must be 0 or more"),
    ({"lm_alpha": -0.5}, "lm_alpha must be 0 or more"),
    ({"lm_beta": math.nan}, "lm_beta must be a finite number"),
    ({"boost_alpha": -1.0}, "boost_alpha must be 0 or more"),
    ({"boost_alpha": "2"}, "boost_alpha must be 0 or more"),
    ({"beam_size": 0}, "beam_size must be a whole number from 1"),
    ({"beam_size": -3}, "beam_size must be a whole number from 1"),
    ({"beam_size": 2.5}, "beam_size must be a whole number from 1"),
    ({"beam_size": True}, "beam_size must be a whole number from 1"),
    ({"head": "joint"}, "head must be one of 'transducer', 'ctc'"),
])
def test_error_decoding_weights(kwargs, match):
    from jupyter_speechcustom.asr.decoding import DecodingWeights

    with pytest.raises(InvalidOptionError, match=match):
        DecodingWeights(**kwargs)


def test_ok_decoding_weights_accept_numpy_numbers():
    from jupyter_speechcustom.asr.decoding import DecodingWeights

    assert DecodingWeights(lm_alpha=np.float32(0.5), beam_size=np.int64(4)).beam_size == 4


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"order": 1}, "order must be a whole number from 2 to 6"),
    ({"order": 2.5}, "order must be a whole number"),
    ({"order": 99}, "order must be a whole number"),
    ({"general_weight": 1.5}, "general_weight must be a share from 0"),
    ({"general_weight": math.nan}, "general_weight must be a share"),
    ({"general_weight": -0.2}, "general_weight must be a share"),
])
def test_error_build_language_model_options_before_any_work(tmp_path, kwargs, match):
    corpus = tmp_path / "c.txt"
    corpus.write_text("hello\n")
    with pytest.raises(InvalidOptionError, match=match):
        build_language_model(object(), [corpus], tmp_path / "lm", **kwargs)  # type: ignore[arg-type]
    assert not (tmp_path / "lm").exists()


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"epochs": 0}, "epochs must be a whole number, 1 or more .*untrained"),
    ({"epochs": 2.5}, "epochs must be a whole number"),
    ({"learning_rate": math.nan}, "learning_rate must be a number above 0"),
    ({"learning_rate": 0}, "learning_rate must be a number above 0"),
    ({"learning_rate": 5}, "learning_rate must be a number above 0 and at most 1"),
    ({"confidence_threshold": 2}, "confidence_threshold must be a number from 0 to 1"),
    ({"confidence_threshold": math.nan}, "confidence_threshold must be a number from 0 to 1"),
    ({"iterations": 0}, "iterations must be a whole number"),
    ({"batch_size": 0}, "batch_size must be a whole number"),
    ({"general_ratio": -1}, "general_ratio must be a number, 0 or more"),
    ({"mode": "semi"}, "mode must be one of"),
])
def test_error_train_acoustic_model_options_before_any_work(tmp_path, kwargs, match):
    from jupyter_speechcustom.am.acoustic_model import train_acoustic_model

    manifest = write_manifest(tmp_path / "m.json", [{"audio_filepath": "a.wav"}])
    kwargs = {"mode": "unsupervised", **kwargs}
    # The base model is a stand-in that any real work (loading, pseudo-labelling) would trip over.
    with pytest.raises(InvalidOptionError, match=match):
        train_acoustic_model(object(), manifest, tmp_path / "am.nemo", **kwargs)  # type: ignore[arg-type]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json"]


def test_error_train_acoustic_model_to_a_device(tmp_path):
    from jupyter_speechcustom.am.acoustic_model import train_acoustic_model

    with pytest.raises(OutputError, match="is a device"):
        train_acoustic_model(object(), [], "/dev/full", mode="unsupervised")  # type: ignore[arg-type]


# --------------------------------------------------------------- temporary data: never leaked


def test_ok_stale_training_folders_are_removed_and_live_ones_kept(tmp_path):
    from jupyter_speechcustom.am.acoustic_model import WORK_MARK, _remove_stale_work

    dead = tmp_path / f".am.nemo{WORK_MARK}999999999-abc"
    live = tmp_path / f".am.nemo{WORK_MARK}{os.getpid()}-def"
    for folder in (dead, live):
        (folder / "audio").mkdir(parents=True)
        (folder / "audio" / "00000-000.wav").write_bytes(b"RIFF")
    mine = user_folder(tmp_path / "mine")
    before = snapshot(mine)
    _remove_stale_work(tmp_path)
    assert not dead.exists() and live.exists()
    assert snapshot(mine) == before


# ------------------------------------------------------------ the workspace index: damaged, foreign


def _index_case(tmp_path: Path, content: bytes | None = None, sql: str | None = None) -> Path:
    from jupyter_speechcustom.store.index import INDEX

    folder = tmp_path / "ws"
    folder.mkdir()
    if content is not None:
        (folder / INDEX).write_bytes(content)
    if sql is not None:
        with sqlite3.connect(folder / INDEX) as conn:
            conn.executescript(sql)
    (folder / "notes.txt").write_text("mine")
    return folder


@pytest.mark.parametrize("content", [b"garbage" * 2000, b"SQLite format 3\x00" + b"\xff" * 4000])
def test_error_a_corrupt_index(tmp_path, content):
    from jupyter_speechcustom.services.workspace import Workspace
    from jupyter_speechcustom.store.index import WorkspaceError

    folder = _index_case(tmp_path, content)
    before = snapshot(folder)
    with pytest.raises(WorkspaceError, match="is damaged or not a jupyter_speechcustom workspace index .*backup"):
        Workspace(folder)
    assert snapshot(folder) == before


def test_error_a_foreign_index_with_other_columns(tmp_path):
    from jupyter_speechcustom.services.workspace import Workspace
    from jupyter_speechcustom.store.index import WorkspaceError

    folder = _index_case(tmp_path, sql="CREATE TABLE records (id TEXT, whatever TEXT);"
                                       "INSERT INTO records VALUES ('x', 'y');")
    with pytest.raises(WorkspaceError, match="damaged or not a jupyter_speechcustom workspace index"):
        Workspace(folder).records()
    assert (folder / "notes.txt").read_text() == "mine"


def test_error_a_foreign_schema_version(tmp_path):
    from jupyter_speechcustom.services.workspace import Workspace
    from jupyter_speechcustom.store.index import WorkspaceError

    folder = _index_case(tmp_path, sql="CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);"
                                       "INSERT INTO meta VALUES ('schema_version', '999');")
    with pytest.raises(WorkspaceError, match="another version of jupyter_speechcustom"):
        Workspace(folder)


# ------------------------------------------------------- zip bombs: refused before anything is written


def _bomb(path: Path, megabytes: int, compression: int = zipfile.ZIP_DEFLATED) -> Path:
    """A small zip whose one member declares ``megabytes`` MB of zeros (a zip bomb in miniature)."""
    with zipfile.ZipFile(path, "w", compression) as zf:
        zf.writestr("audio/a.wav", b"\0" * (megabytes << 20))
    return path


def _no_writes(monkeypatch) -> list[object]:
    """Record every file the extractor starts to write: a refusal up front leaves this empty."""
    from jupyter_speechcustom.io import safety

    written: list[object] = []
    original = safety._Extractor.file

    def spy(self, rel, stream):
        written.append(rel)
        return original(self, rel, stream)

    monkeypatch.setattr(safety._Extractor, "file", spy)
    return written


def test_error_a_zip_bomb_is_refused_from_its_declared_sizes(tmp_path, monkeypatch):
    from jupyter_speechcustom.io.safety import ArchiveLimitError, safe_extract

    bomb = _bomb(tmp_path / "bomb.zip", 8)
    assert bomb.stat().st_size < 100_000
    target = user_folder(tmp_path / "target")
    before = snapshot(target)
    written = _no_writes(monkeypatch)
    with pytest.raises(ArchiveLimitError, match=r"declares more than 1.0 MB of files \(at 'audio/a.wav'; a zip bomb.*"
                                                r"nothing was extracted.*max_archive_bytes="):
        safe_extract(bomb, target, max_bytes=1 << 20)
    assert written == [] and snapshot(target) == before


def test_error_a_zip_bomb_is_refused_from_its_compression_ratio(tmp_path, monkeypatch):
    from jupyter_speechcustom.io.safety import ArchiveLimitError, safe_extract

    bomb = _bomb(tmp_path / "bomb.zip", 4, zipfile.ZIP_BZIP2)  # within the byte limit, but 4 MB from ~100 bytes
    target = tmp_path / "target"
    written = _no_writes(monkeypatch)
    with pytest.raises(ArchiveLimitError, match=r"'audio/a.wav' is compressed more than 1000:1 .*only a zip bomb"):
        safe_extract(bomb, target, max_bytes=64 << 20)
    assert written == [] and list(target.iterdir()) == []


def test_error_a_zip_bomb_uploaded_to_a_workspace_writes_nothing(ws, tmp_path, monkeypatch):
    from jupyter_speechcustom.io.safety import ArchiveLimitError

    data = _bomb(tmp_path / "bomb.zip", 8).read_bytes()
    before = snapshot(ws.path)
    written = _no_writes(monkeypatch)
    with pytest.raises(ArchiveLimitError, match="declares more than 1.0 MB of files"):
        ws.add_audio_archive(data, name="calls.zip", max_bytes=1 << 20)
    assert written == [] and snapshot(ws.path) == before and ws.records() == []


def test_error_a_tar_bomb_is_refused_from_its_headers(tmp_path, monkeypatch):
    from jupyter_speechcustom.io.safety import ArchiveLimitError, safe_extract

    bomb = tmp_path / "bomb.tar.gz"
    with tarfile.open(bomb, "w:gz") as tf:
        for n in range(3):
            info = tarfile.TarInfo(f"a{n}.wav")
            info.size = 1 << 20
            tf.addfile(info, io.BytesIO(b"\0" * info.size))
    target = tmp_path / "target"
    written = _no_writes(monkeypatch)
    with pytest.raises(ArchiveLimitError, match=r"declares more than 2.0 MB of files \(at 'a2.wav'"):
        safe_extract(bomb, target, max_bytes=2 << 20)
    assert written == [] and list(target.iterdir()) == []


def test_ok_a_normal_archive_still_extracts(tmp_path):
    from jupyter_speechcustom.io.safety import safe_extract

    archive = tmp_path / "ok.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.txt", "hello " * 1000)
        zf.writestr("b/c.wav", os.urandom(2000))
    root, files = safe_extract(archive, tmp_path / "target", max_bytes=1 << 20)
    assert sorted(map(str, files)) == ["a.txt", "b/c.wav"] and (root / "a.txt").read_text() == "hello " * 1000


# --------------------------------------------------- custom-words files: broken quoting, huge fields


def _words_error(data: bytes, name: str, match: str) -> None:
    from jupyter_speechcustom.errors import CorpusError
    from jupyter_speechcustom.text.words import read_custom_words

    with pytest.raises(CorpusError, match=match):
        read_custom_words(data, name=name)


def test_error_an_unclosed_quote_in_a_words_csv_names_its_line():
    rows = "".join(f"word{n},sounds like {n},\n" for n in range(50))
    data = f'word,sounds_like,display_as\nkubectl,"cube control,\n{rows}'.encode()
    _words_error(data, "w.csv", r"w.csv, line 2: a quote \(\"\) opened on this line is not closed before line 52, "
                                r"so the lines in between were read as one value")


def test_error_an_unclosed_quote_beyond_the_csv_field_limit():
    data = b'word,sounds_like\nkubectl,"cube control\n' + b"x" * 140_000 + b"\n"
    _words_error(data, "w.csv", r"w.csv, line 2: field larger than field limit .*a quote .* never closed")


@pytest.mark.parametrize(("data", "name", "match"), [
    (b"word\n" + b"k" * 201 + b"\n", "w.csv", r"w.csv, line 2: the word 'k+'\.\.\. is 201 characters long, more than 200"),
    (b"k" * 5000 + b"\n", "w.txt", r"w.txt, line 1: the word .* is 5,000 characters long"),
    (b"word,sounds_like\nkubectl," + ";".join(f"cube {n}" for n in range(21)).encode() + b"\n", "w.csv",
     r"w.csv, line 2: 'kubectl' has 21 sounds-like spellings, more than 20"),
    (b"word,sounds_like\nkubectl,cube " + b"x" * 300 + b"\n", "w.csv",
     r"w.csv, line 2: a sounds-like spelling of 'kubectl' is 305 characters long, more than 200"),
    (b"word,display_as\nkubectl," + b"K" * 300 + b"\n", "w.csv",
     r"w.csv, line 2: the display form of 'kubectl' is 300 characters long, more than 200"),
    (json.dumps([{"word": "k" * 300}]).encode(), "w.json", r"w.json, item 1: the word .* 300 characters long"),
    (json.dumps([{"word": "kubectl", "sounds_like": [f"c {n}" for n in range(40)]}]).encode(), "w.json",
     r"w.json, item 1: 'kubectl' has 40 sounds-like spellings"),
])
def test_error_words_fields_beyond_sane_sizes(data, name, match):
    _words_error(data, name, match)


@pytest.mark.parametrize(("data", "match"), [
    (b"[" * 100_000 + b"]" * 100_000, r"w.json nests lists or objects too deeply to be a list of words"),
    (b'{"words": ' + b"[" * 50_000 + b"]" * 50_000 + b"}", r"w.json nests lists or objects too deeply"),
    (json.dumps([{"word": 42}]).encode(), r'w.json, item 1: "word" is missing or empty'),
    (json.dumps([{"word": ["kubectl"]}]).encode(), r'w.json, item 1: "word" is missing or empty'),
    (json.dumps([{"word": "kubectl", "sounds_like": [["cube"]]}]).encode(),
     r'w.json, item 1: "sounds_like" must be a list of strings'),
    (json.dumps([{"word": "kubectl", "sounds_like": {"a": "b"}}]).encode(),
     r'w.json, item 1: "sounds_like" must be a list of strings'),
    (json.dumps([{"word": "kubectl", "display_as": {"x": [1]}}]).encode(),
     r'w.json, item 1: "display_as" must be a string or null, got dict'),
    (json.dumps([[["kubectl"]]]).encode(), r'w.json, item 1: expected an object with a "word", got list'),
])
def test_error_pathological_words_json(data, match):
    _words_error(data, "w.json", match)


def test_ok_a_quoted_comma_in_a_words_csv_is_still_one_value():
    from jupyter_speechcustom.text.words import read_custom_words

    words = read_custom_words(b'word,sounds_like,display_as\nkubectl,"cube control;cube cuddle",kubectl\n', name="w.csv")
    assert [(w.word, w.sounds_like) for w in words] == [("kubectl", ("cube control", "cube cuddle"))]


def test_error_words_with_an_unclosed_quote_are_never_stored(ws):
    from jupyter_speechcustom.errors import CorpusError

    before = snapshot(ws.path)
    with pytest.raises(CorpusError, match="line 2: a quote"):
        ws.add_words(b'word,sounds_like\nkubectl,"cube control\netcd,et cd\n', name="w.csv")
    assert snapshot(ws.path) == before and ws.word_lists() == []


# ------------------------------------------------------------- workspace paths no file system takes


@pytest.mark.parametrize(("make", "match"), [
    (lambda tmp: str(tmp / "ws\x00evil"), r"contains a NUL character, which no file system allows"),
    (lambda tmp: tmp / ("w" * 300), r"is too long: a folder name of 300 bytes \(the limit is 255\)"),
    (lambda tmp: tmp.joinpath(*["d" * 200] * 25), r"is too long: \d[\d,]* bytes \(the limit is about 4096\)"),
])
def test_error_workspace_paths_that_cannot_exist(tmp_path, make, match):
    from jupyter_speechcustom.services.workspace import Workspace
    from jupyter_speechcustom.store.index import WorkspaceError

    mine = user_folder(tmp_path / "mine")
    before = snapshot(tmp_path)
    with pytest.raises(WorkspaceError, match=match):
        Workspace(make(tmp_path))
    assert snapshot(tmp_path) == before and snapshot(mine)


# ------------------------------------------------------------- corpora: one huge line, bounded memory


def test_error_a_one_line_corpus_over_the_limit_is_refused_before_normalizing(monkeypatch):
    from jupyter_speechcustom.constants import MAX_CORPUS_LINE_CHARS
    from jupyter_speechcustom.errors import CorpusError
    from jupyter_speechcustom.text.corpus import Corpus
    from jupyter_speechcustom.text.normalize import Normalizer

    def never(self, text):
        raise AssertionError("normalized a line over the limit")

    monkeypatch.setattr(Normalizer, "normalize_corpus", never)
    text = "first sentence\n" + "word " * (MAX_CORPUS_LINE_CHARS // 5) + "x\nlast\n"
    with pytest.raises(CorpusError, match=r"c.txt, line 2, is 1,000,001 characters long, more than the limit of "
                                          r"1,000,000: a corpus has one sentence per line; split it into sentences"):
        Corpus.from_bytes(text.encode(), name="c.txt")


def test_error_a_one_line_corpus_is_never_stored(ws):
    from jupyter_speechcustom.constants import MAX_CORPUS_LINE_CHARS
    from jupyter_speechcustom.errors import CorpusError

    before = snapshot(ws.path)
    with pytest.raises(CorpusError, match="line 1, is .* characters long.*split it into sentences"):
        ws.add_corpus(b"a " * (MAX_CORPUS_LINE_CHARS // 2 + 1), name="c.txt")
    assert snapshot(ws.path) == before and ws.corpora() == []


def test_ok_a_corpus_of_lines_at_the_limit():
    from jupyter_speechcustom.text import corpus

    # Lines of exactly the limit pass, old Mac line ends (\r) count as line ends; one over fails.
    corpus._check_line_lengths("a" * 50 + "\n" + "b" * 50 + "\r" + "c" * 50, "c.txt", 50)
    with pytest.raises(corpus.CorpusError, match="c.txt, line 2, is 51 characters"):
        corpus._check_line_lengths("a" * 50 + "\n" + "b" * 51, "c.txt", 50)


def test_error_a_head_for_a_model_with_one_decoder(other_model, domain_test):
    from jupyter_speechcustom.asr.decoding import Decoder, DecodingWeights
    from jupyter_speechcustom.asr.recognize import acoustic_outputs

    outputs = acoustic_outputs(other_model, [domain_test[0]["audio_filepath"]])
    with pytest.raises(InvalidOptionError, match="has one decoder: head='ctc' applies to hybrid"):
        Decoder(other_model).decode_text(outputs, DecodingWeights(head="ctc"))
