import json
import subprocess
import sys

from jupyter_speechcustom import demo, read_manifest, write_manifest


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
