"""Bad manifests: a segment is one utterance per manifest line; encodings and field types are
checked, naming the line.

Part of the adversarial probe of bad inputs and faults against the CLI, the Python API and the
workspace. Each case is a small generated fixture; each asserts the message (what is wrong, what
to do) and that nothing of the user's was lost.

Test names say the outcome: ``test_error_*`` a specific error before any work is wasted,
``test_ok_*`` a correct result where a wrong one (or a traceback) came before.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from helpers.audio import encode_av, mono_tone, write_wav
from helpers.cli import run_cli

from jupyter_speechcustom.cli import main as cli_main
from jupyter_speechcustom.errors import AudioError
from jupyter_speechcustom.io.audio import Segment, load_audio
from jupyter_speechcustom.io.manifest import ManifestError, audio_source, entry_key, read_manifest, write_manifest

# ------------------------------------------- 4. manifest segments: one utterance per manifest line


def test_ok_a_segment_is_read_as_that_segment(tmp_path):
    audio = np.concatenate([np.zeros(16_000, np.float32), mono_tone(1.0)])
    path = write_wav(tmp_path / "two.wav", audio, 16_000)
    silence = load_audio(Segment(path, 0.0, 1.0))
    speech = load_audio(Segment(path, 1.0, 0.5))
    assert len(silence) == 16_000 and len(speech) == 8000
    assert np.abs(silence).max() < 1e-3 < np.abs(speech).max()
    assert len(load_audio(Segment(path, 1.5))) == 8000  # to the end


def test_ok_a_segment_through_ffmpeg(tmp_path):
    path = tmp_path / "two.webm"
    path.write_bytes(encode_av(mono_tone(2.0, 48_000)[:, None], 48_000, "webm", "libopus"))
    assert abs(len(load_audio(Segment(path, 0.5, 1.0))) - 16_000) < 400


@pytest.mark.parametrize(("offset", "duration", "match"), [
    (-1.0, None, "offset -1.0"), (math.nan, None, "offset nan"), ("1", None, "offset '1'"),
    (0.0, -2.0, "duration -2.0"), (0.0, 0.0, "duration 0"),
])
def test_error_impossible_segments(tmp_path, offset, duration, match):
    with pytest.raises(AudioError, match=match):
        Segment(tmp_path / "a.wav", offset, duration)


def test_error_a_segment_after_the_end(tmp_path):
    path = write_wav(tmp_path / "a.wav", mono_tone(1.0), 16_000)
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
