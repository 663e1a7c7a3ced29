import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest

from jupyter_speechcustom import demo, read_manifest, write_manifest
from jupyter_speechcustom.asr.recognize import Transcript
from jupyter_speechcustom.cli import main
from jupyter_speechcustom.services.transcription import expand_inputs, subtitle_cues, subtitles


def speechcustom(*args, check=True):
    return subprocess.run([sys.executable, "-m", "jupyter_speechcustom.cli", *args],
                          capture_output=True, text=True, check=check)


def test_transcribe_then_evaluate_json(tmp_path):
    entries = read_manifest(demo.manifest("domain/test"))[:6]
    manifest = write_manifest(tmp_path / "m.json", entries)
    hyp = tmp_path / "hyp.jsonl"
    speechcustom("transcribe", "--base", "demo", "--manifest", str(manifest), "--out", str(hyp))
    rows = [json.loads(line) for line in hyp.read_text().splitlines()]
    assert [r["audio_filepath"] for r in rows] == [e["audio_filepath"] for e in entries]
    assert all(isinstance(r["pred_text"], str) for r in rows)
    out = speechcustom("evaluate", "--manifest", str(manifest), "--hyp", str(hyp), "--json")
    scores = json.loads(out.stdout)
    assert {"wer", "cer", "substitutions", "deletions", "insertions"} <= set(scores)
    assert 0 < scores["wer"] < 2


def test_errors_are_one_line_with_exit_code_2(tmp_path):
    out = speechcustom("transcribe", "--base", "no-such-model", "--manifest", str(demo.manifest("domain/test")),
                       "--out", str(tmp_path / "h.jsonl"), check=False)
    assert out.returncode == 2
    assert "error: unknown model 'no-such-model'" in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.slow
def test_ctrl_c_during_lm_build_is_one_line_with_exit_code_2_and_leaves_no_lm(tmp_path):
    """Ctrl-C (SIGINT to the process group, as a terminal sends it) while the LM is being written."""
    out = tmp_path / "out"
    out.mkdir()
    cmd = [sys.executable, "-m", "jupyter_speechcustom.cli", "lm", "build", "--base", "demo",
           "--corpus", str(demo.corpus_path()), "--out", str(out / "lm"), "--word-model"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        # The build folder beside --out appears once the corpus is read and lmplz starts.
        while not any(p.name.startswith(".lm.") for p in out.iterdir()):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the build never started"
            time.sleep(0.01)
        os.killpg(proc.pid, signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 2, (stdout, stderr)
    assert stderr.splitlines() == ["speechcustom lm: interrupted; run the command again to finish"], stderr
    assert "built" not in stdout
    assert list(out.iterdir()) == []  # no LM folder, no build folder: a later build starts clean


def test_demo_on_a_model_without_example_data_says_what_is_missing(tmp_path):
    model = tmp_path / "mine.nemo"
    shutil.copyfile(demo.data_path("demo.nemo"), model)
    out = speechcustom("demo", "--base", str(model), "--out", str(tmp_path / "run"), check=False)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "the chain needs example data" in out.stderr and "example_corpus" not in out.stderr
    assert "corpus" in out.stderr and "register a profile" in out.stderr


# --- transcribe: files, folders and manifests as inputs; jsonl, json, txt, srt, vtt ---------------

_TIMING = {"srt": re.compile(r"^(\d\d):(\d\d):(\d\d),(\d\d\d) --> (\d\d):(\d\d):(\d\d),(\d\d\d)$"),
           "vtt": re.compile(r"^(\d\d):(\d\d):(\d\d)\.(\d\d\d) --> (\d\d):(\d\d):(\d\d)\.(\d\d\d)$")}


def _cue_times(text, fmt):
    """(start, end) of each cue, checking each timing line is well-formed."""
    lines = text.splitlines()
    if fmt == "vtt":
        assert lines[0] == "WEBVTT"
    times = []
    for i, line in enumerate(lines):
        if "-->" in line:
            m = _TIMING[fmt].match(line)
            assert m, f"malformed timing line {line!r}"
            h1, m1, s1, ms1, h2, m2, s2, ms2 = map(int, m.groups())
            times.append((h1 * 3600 + m1 * 60 + s1 + ms1 / 1000, h2 * 3600 + m2 * 60 + s2 + ms2 / 1000))
            assert lines[i + 1].strip(), "a cue has text"
            if fmt == "srt":
                assert lines[i - 1] == str(len(times))
    assert times
    for (start, end), following in zip(times, [*times[1:], None]):
        assert end > start
        if following:
            assert following[0] >= end
    return times


@pytest.fixture
def recordings(tmp_path):
    """A folder of three demo recordings, one in a subfolder, and a stray non-audio file."""
    folder = tmp_path / "rec"
    (folder / "sub").mkdir(parents=True)
    entries = read_manifest(demo.manifest("domain/test"))[:3]
    for entry, dest in zip(entries, [folder / "b.ogg", folder / "a.ogg", folder / "sub" / "c.ogg"]):
        shutil.copy(entry["audio_filepath"], dest)
    (folder / "notes.txt").write_text("not audio")
    return folder


def test_transcribe_single_file_srt_to_stdout(recordings, capsys):
    assert main(["transcribe", str(recordings / "a.ogg"), "--format", "srt", "--out", "-"]) == 0
    out = capsys.readouterr().out
    _cue_times(out, "srt")
    assert "wrote" not in out  # stdout holds only the subtitles


def test_transcribe_folder_in_every_format(recordings, tmp_path, capsys):
    expected = [str(recordings / n) for n in ("a.ogg", "b.ogg", "sub/c.ogg")]  # recursive, sorted
    assert [i.source for i in expand_inputs([recordings])] == expected

    main(["transcribe", str(recordings), "--format", "txt"])
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[0] for line in lines] == ["a.ogg", "b.ogg", "sub/c.ogg"]
    assert all(line.split("\t")[1] for line in lines)

    main(["transcribe", str(recordings), "--format", "json", "--out", str(tmp_path / "all.json")])
    doc = json.loads((tmp_path / "all.json").read_text())
    assert [r["audio_filepath"] for r in doc["results"]] == expected
    for r in doc["results"]:
        assert r["pred_text"] and r["words"]
        assert all({"word", "start", "end", "confidence"} <= set(w) for w in r["words"])

    main(["transcribe", str(recordings), "--format", "jsonl", "--out", str(tmp_path / "all.jsonl")])
    rows = [json.loads(line) for line in (tmp_path / "all.jsonl").read_text().splitlines()]
    assert [r["pred_text"] for r in rows] == [r["pred_text"] for r in doc["results"]]

    for fmt in ("srt", "vtt"):
        main(["transcribe", str(recordings), "--format", fmt, "--out", str(tmp_path / fmt) + "/"])
        files = sorted(p.name for p in (tmp_path / fmt).iterdir())
        assert files == [f"a.{fmt}", f"b.{fmt}", f"c.{fmt}"]
        for name in files:
            _cue_times((tmp_path / fmt / name).read_text(), fmt)


def test_transcribe_manifest_positional_with_segments(tmp_path, capsys):
    entry = read_manifest(demo.manifest("domain/test"))[0]
    manifest = write_manifest(tmp_path / "m.jsonl", [
        {"audio_filepath": entry["audio_filepath"]},
        {"audio_filepath": entry["audio_filepath"], "offset": 0.5, "duration": 1.5},
    ])
    assert main(["transcribe", str(manifest)]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 2 and rows[1]["offset"] == 0.5 and rows[1]["duration"] == 1.5
    assert len(rows[1]["pred_text"]) < len(rows[0]["pred_text"])


def test_subtitle_cues_split_long_speech_into_increasing_cues():
    words = tuple({"word": f"word{i}", "start": i * 0.5, "end": i * 0.5 + 0.4, "confidence": 0.9} for i in range(40))
    transcript = Transcript(" ".join(w["word"] for w in words), "x.wav", words)
    cues = subtitle_cues(transcript)
    assert len(cues) > 3
    assert " ".join(text for _, _, text in cues) == transcript.text
    assert all(len(text) <= 84 and end - start <= 6.0 for start, end, text in cues)
    for fmt in ("srt", "vtt"):
        assert len(_cue_times(subtitles(transcript, fmt), fmt)) == len(cues)


def test_transcribe_refuses_empty_folders_and_unsupported_files_before_loading(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.txt").write_text("hello")
    for target, message in ((tmp_path / "empty", "holds no audio files"),
                            (tmp_path / "notes.txt", "is not an audio file or a NeMo manifest"),
                            (tmp_path / "missing.wav", "does not exist")):
        out = speechcustom("transcribe", "--base", "no-such-model", str(target), check=False)
        assert out.returncode == 2
        assert message in out.stderr and str(target) in out.stderr
        assert "Traceback" not in out.stderr
    out = speechcustom("transcribe", "--base", "no-such-model", check=False)
    assert out.returncode == 2 and "nothing to transcribe" in out.stderr


def test_lm_tune_saves_the_tuned_weights_with_the_lm(tmp_path, demo_lm):
    from jupyter_speechcustom.lm.language_model import CustomLanguageModel

    lm = tmp_path / "lm"
    shutil.copytree(demo_lm.path, lm)
    entries = read_manifest(demo.manifest("domain/dev"))[:12]
    dev = write_manifest(tmp_path / "dev.json", entries)
    out = speechcustom("lm", "tune", str(lm), "--base", "demo", "--dev", str(dev))
    assert re.search(r"tuned on .*dev\.json \(12 utterances\): LM alpha [\d.]+, beta [\d.]+, boost [\d.]+, "
                     r"(transducer|ctc) head; dev WER [\d.]+%", out.stdout), out.stdout
    tuning = CustomLanguageModel.load(lm).tuning
    assert tuning is not None and tuning["utterances"] == 12 and tuning["weights"]["head"] in ("transducer", "ctc")

    # A manifest that cuts its utterances out of longer files (offset, duration) tunes on those stretches.
    segments = write_manifest(tmp_path / "segments.json", [{**e, "offset": 0.0} for e in entries[:3]])
    out = speechcustom("lm", "tune", str(lm), "--base", "demo", "--dev", str(segments))
    assert "(3 utterances)" in out.stdout, out.stdout


def test_every_command_prints_its_help(capsys):
    """Each subcommand's --help renders (argparse formats help with %: a literal one breaks it)."""
    import argparse

    from jupyter_speechcustom.cli import build_parser

    def commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
        yield path
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    yield from commands(sub, (*path, name))

    paths = list(commands(build_parser()))
    assert ("am", "train") in paths and len(paths) > 10
    for path in paths:
        with pytest.raises(SystemExit) as exit_info:
            main([*path, "--help"])
        assert exit_info.value.code == 0, path
        assert "usage: " in capsys.readouterr().out
