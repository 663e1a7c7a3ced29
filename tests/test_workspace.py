"""The workspace: resources, model lifecycle, jobs, recovery after a kill, concurrent access.

Run as a script (``python tests/test_workspace.py --child WS CORPUS_ID``) this file is the child
process the recovery test kills.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from helpers.archives import tar_bytes, zip_bytes
from helpers.audio import tone, wav_bytes

from jupyter_speechcustom.demo import model_path as demo_model_path
from jupyter_speechcustom.errors import AudioError, CorpusError
from jupyter_speechcustom.jobs.runner import JobCancelled
from jupyter_speechcustom.services.workspace import Workspace
from jupyter_speechcustom.store.workspace import (
    ModelInUseError,
    RecordNotFoundError,
    WorkspaceError,
    register_job_kind,
)

WAIT = 600  # a guard against hanging, never a timing assertion
FAKE_BASE = {"name": "fake-base", "fingerprint": "0123456789abcdef"}
STANDIN_ENV = "SPEECHCUSTOM_TEST_NEMO"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------- a model-building job kind


def partial_model_job(ws: Workspace, params: dict, model) -> object:
    """Writes half a model, then waits ``seconds`` (to be killed) or finishes at once."""
    staging = ws.staging_path(model.id)

    def run(progress, cancel):
        staging.mkdir(parents=True)
        (staging / "part-1.bin").write_bytes(b"\x01" * 1000)
        progress(0.5, "half-written model")
        deadline = time.monotonic() + float(params.get("seconds", 0))
        while time.monotonic() < deadline:
            if cancel.wait(0.05):
                raise JobCancelled("stopped while half-written")
        if params.get("fail"):
            raise RuntimeError(params["fail"])
        (staging / "part-2.bin").write_bytes(b"\x02" * 1000)
        progress(1.0, "model complete")

    return run


register_job_kind("test.partial_model", partial_model_job)


def child_main(ws_path: str, corpus_id: str) -> None:
    ws = Workspace(ws_path)
    model = ws.create_language_model(FAKE_BASE, "partial", corpus_ids=[corpus_id])
    params = {"seconds": 600}
    job = ws.submit(
        partial_model_job(ws, params, model), kind="test.partial_model", params=params, model_id=model.id,
        uses=[corpus_id],
    )
    print(job.id, flush=True)
    job.wait()


# --------------------------------------------------------------------------- layout and resources


def test_layout_and_index(tmp_path):
    ws = Workspace(tmp_path / "ws")
    for folder in ("corpora", "words", "audio", "lms", "ams", "jobs", "results"):
        assert (ws.path / folder).is_dir()
    conn = sqlite3.connect(ws.index_path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    assert Workspace(tmp_path / "ws").records() == []  # opens again


def test_refuses_a_folder_that_is_not_a_workspace(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("precious")
    with pytest.raises(WorkspaceError, match="not a workspace"):
        Workspace(tmp_path / "mine")
    (tmp_path / "afile").write_text("x")
    with pytest.raises(WorkspaceError, match="is a file"):
        Workspace(tmp_path / "afile")


def test_add_corpus_records_stats_and_keeps_the_raw_file(tmp_path):
    ws = Workspace(tmp_path / "ws")
    raw = b"Restart the kubectl rollout.\nThe nginx ingress failed twice!\n"
    rec = ws.add_corpus(raw, name="ops notes.txt")
    assert rec.id.startswith("c-") and rec.kind == "corpus" and rec.status == "available"
    assert rec.path.read_bytes() == raw and rec.name == "ops notes.txt"
    assert rec.info["sentences"] == 2 and rec.info["words"] == 9
    assert ["kubectl", 1] in rec.info["top_oov"]
    assert rec.created and rec.updated
    assert ws.corpus(rec.id).sentences == ("restart the kubectl rollout", "the nginx ingress failed twice")
    assert ws.get(rec.id) == rec and ws.corpora() == [rec]
    path = tmp_path / "more.txt"
    path.write_text("more text here\n")
    assert ws.add_corpus(path).name == "more.txt"


def test_add_corpus_refuses_binary_and_stores_nothing(tmp_path):
    ws = Workspace(tmp_path / "ws")
    with pytest.raises(CorpusError, match="binary"):
        ws.add_corpus(b"\x00\x01\x02PNG" * 50, name="image.png")
    assert ws.corpora() == [] and list((ws.path / "corpora").iterdir()) == []


def test_add_words(tmp_path):
    ws = Workspace(tmp_path / "ws")
    rec = ws.add_words(b"word,sounds_like,display_as\nkubectl,cube control,\npostgres,post gress,PostgreSQL\n",
                       name="terms.csv")
    assert rec.info["count"] == 2 and rec.info["words"] == ["kubectl", "postgres"]
    assert [w.word for w in ws.custom_words(rec.id)] == ["kubectl", "postgres"]
    with pytest.raises(CorpusError):
        ws.add_words(b"word,sounds_like\n,empty word\n", name="bad.csv")
    assert len(ws.word_lists()) == 1


def test_add_audio_files_and_browser_recordings(tmp_path, write_audio):
    ws = Workspace(tmp_path / "ws")
    wav = write_audio("clip.wav", tone(1.0, 22_050, 2), 22_050)
    rec = ws.add_audio(wav, transcript="  hello   world ")
    assert rec.info["sample_rate"] == 22_050 and rec.info["channels"] == 2
    assert rec.info["duration"] == pytest.approx(1.0, abs=1e-3)
    assert rec.info["transcript"] == "hello   world"
    assert digest(rec.path) == digest(wav)  # stored as given
    webm = write_audio("rec.webm", tone(1.0, 48_000), 48_000).read_bytes()
    recorded = ws.add_audio(webm)  # bytes from a browser: no name
    assert recorded.name == "recording.webm" and recorded.path.read_bytes() == webm
    assert recorded.info["duration"] == pytest.approx(1.0, abs=0.1)
    with pytest.raises(AudioError, match="not_audio.wav"):
        ws.add_audio(b"RIFF....WAVEjunk" * 10, name="not_audio.wav")
    assert len(ws.audio()) == 2 and len(list((ws.path / "audio").iterdir())) == 2


def test_add_audio_archive_with_transcripts(tmp_path):
    ws = Workspace(tmp_path / "ws")
    archive = zip_bytes({
        "calls/one.wav": wav_bytes(0.5),
        "calls/one.txt": b"restart the pod\n",
        "calls/two.wav": wav_bytes(0.7),
        "other/two.wav": wav_bytes(0.3),  # same name elsewhere: a second file, no overwrite
        "README.md": b"not audio",
        "__MACOSX/calls/._one.wav": b"resource fork",
        "broken.wav": b"RIFF not really",
    })
    records = ws.add_audio_archive(archive, name="calls.zip")
    by_name = {r.name: r for r in records}
    assert sorted(by_name) == ["one.wav", "two-2.wav", "two.wav"]
    assert by_name["one.wav"].info["transcript"] == "restart the pod"
    assert by_name["two.wav"].info["transcript"] is None
    assert sorted(round(r.info["duration"], 1) for r in records) == [0.3, 0.5, 0.7]
    assert not [p for p in (ws.path / "audio").iterdir() if p.name.startswith(".")]  # extraction cleaned up
    tar_path = tmp_path / "more.tar.gz"
    tar_path.write_bytes(tar_bytes([("x/three.wav", wav_bytes(0.4))]))
    assert [r.name for r in ws.add_audio_archive(tar_path)] == ["three.wav"]
    with pytest.raises(AudioError, match="no usable audio"):
        ws.add_audio_archive(zip_bytes({"notes.txt": b"hi"}))


def test_results_are_versioned_json(tmp_path):
    ws = Workspace(tmp_path / "ws")
    first = ws.add_result("baseline", {"wer": 0.31, "systems": ["base"]})
    second = ws.add_result("baseline", {"wer": 0.12})
    assert (first.version, second.version) == (1, 2) and first.path != second.path
    assert ws.result(second.id) == {"wer": 0.12}
    assert json.loads(first.path.read_text()) == {"wer": 0.31, "systems": ["base"]}
    with pytest.raises(TypeError, match="JSON"):
        ws.add_result("bad", {"x": object()})


# --------------------------------------------------------------------------- model lifecycle


def test_model_lifecycle_through_submit(tmp_path):
    ws = Workspace(tmp_path / "ws")
    corpus = ws.add_corpus(b"some domain text\n")
    pending = ws.create_language_model(FAKE_BASE, "support")
    assert pending.status == "pending" and pending.version == 1
    model = ws.create_language_model(FAKE_BASE, "support", corpus_ids=[corpus.id])
    assert (model.status, model.version, model.sources, model.base) == ("ready", 2, (corpus.id,), FAKE_BASE)
    gate = threading.Event()
    statuses: list[str] = []

    def build(progress, cancel):
        gate.wait(WAIT)
        statuses.append(ws.get(model.id).status)
        staging = ws.staging_path(model.id)
        staging.mkdir()
        (staging / "model.bin").write_bytes(b"weights")
        progress(1.0, "built")

    job = ws.submit(build, kind="custom", model_id=model.id, uses=[corpus.id])
    assert ws.get(model.id).status == "training" and ws.get(model.id).job_id == job.id
    gate.set()
    assert job.wait(WAIT) == "completed"
    done = ws.get(model.id)
    assert statuses == ["training"] and done.status == "available"
    assert job.result == done and (done.path / "model.bin").read_bytes() == b"weights"
    assert done.path == ws.path / "lms" / model.id
    assert not list((ws.path / "lms").glob(".*"))  # no staging left
    with pytest.raises(WorkspaceError, match="new version"):
        ws.submit(build, kind="custom", model_id=model.id)  # a model is trained once
    assert [m.status for m in ws.language_models(name="support")] == ["pending", "available"]


def test_failed_and_cancelled_builds_mark_the_model_failed(tmp_path):
    ws = Workspace(tmp_path / "ws")
    model = ws.create_acoustic_model(FAKE_BASE, "am")
    params = {"seconds": 0, "fail": "out of memory: lower batch_size"}
    job = ws.submit(partial_model_job(ws, params, model), kind="test.partial_model", params=params, model_id=model.id)
    assert job.wait(WAIT) == "failed"
    rec = ws.get(model.id)
    assert rec.status == "failed" and "out of memory: lower batch_size" in rec.message
    assert not list((ws.path / "ams").iterdir())  # the half-written staging folder is gone
    model2 = ws.create_acoustic_model(FAKE_BASE, "am")
    params = {"seconds": 600}
    job = ws.submit(partial_model_job(ws, params, model2), kind="test.partial_model", params=params, model_id=model2.id)
    while job.progress < 0.5 and not job.done:
        job.wait(0.02)
    job.cancel()
    assert job.wait(WAIT) == "cancelled"
    assert ws.get(model2.id).status == "failed" and "cancelled" in ws.get(model2.id).message


def test_delete_refuses_what_a_running_job_uses(tmp_path):
    ws = Workspace(tmp_path / "ws")
    corpus = ws.add_corpus(b"text to train on\n")
    model = ws.create_language_model(FAKE_BASE, "lm", corpus_ids=[corpus.id])
    params = {"seconds": 600}
    job = ws.submit(partial_model_job(ws, params, model), kind="test.partial_model", params=params,
                    model_id=model.id, uses=[corpus.id])
    for record_id in (model.id, corpus.id, job.id):
        with pytest.raises(ModelInUseError, match=job.id if record_id != job.id else "cancel"):
            ws.delete(record_id)
    job.cancel()
    job.wait(WAIT)
    ws.delete(model.id)
    ws.delete(corpus.id)
    ws.delete(job.id)
    assert not corpus.path.exists() and not (ws.path / "jobs" / job.id).exists()
    with pytest.raises(RecordNotFoundError):
        ws.get(model.id)
    assert ws.records() == [] and ws.jobs() == []


def test_rerun_makes_a_new_version_and_keeps_the_old(tmp_path):
    ws = Workspace(tmp_path / "ws")
    model = ws.create_language_model(FAKE_BASE, "lm")
    job = ws.submit(partial_model_job(ws, {}, model), kind="test.partial_model", params={}, model_id=model.id)
    assert job.wait(WAIT) == "completed"
    again = ws.rerun(job.id)
    assert again.wait(WAIT) == "completed"
    versions = ws.language_models(name="lm")
    assert [(m.version, m.status) for m in versions] == [(1, "available"), (2, "available")]
    assert versions[0].path.exists() and versions[1].path.exists()
    assert versions[1].info["rerun_of"] == job.id
    with pytest.raises(WorkspaceError, match="cannot be re-run"):
        ws.rerun(_finished(ws).id)


def _finished(ws: Workspace):
    job = ws.submit(lambda progress, cancel: None, kind="unregistered.kind")
    job.wait(WAIT)
    return job


# --------------------------------------------------------------------------- cancelling from another process


def _start_child_job(ws_path, corpus_id: str) -> subprocess.Popen:
    """Another process that opens the workspace and runs a long model job (see child_main); it
    prints the job's id first."""
    return subprocess.Popen([sys.executable, __file__, "--child", str(ws_path), corpus_id],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_job_of_another_process_is_cancelled_through_the_workspace(tmp_path):
    ws_path = tmp_path / "ws"
    ws = Workspace(ws_path)
    corpus = ws.add_corpus(b"the corpus the job reads\n", name="domain.txt")
    ws.close()
    child = _start_child_job(ws_path, corpus.id)
    try:
        job_id = child.stdout.readline().strip()
        assert job_id.startswith("j-"), child.stderr.read()
        other = Workspace(ws_path)
        deadline = time.monotonic() + WAIT
        while other.job(job_id).status != "running":
            assert child.poll() is None and time.monotonic() < deadline, child.stderr.read()
            time.sleep(0.05)
        view = other.job(job_id)
        assert view.cancel() is True  # a view of the child's job: the request goes through the workspace
        assert view.wait(WAIT) == "cancelled"
        assert child.wait(WAIT) == 0  # the child's job.wait() returned: its job really stopped
        model = other.get(view.model_id)
        assert model.status == "failed" and "cancelled" in model.message
        assert not other.staging_path(model.id).exists()
        assert "cancel" in view.read_log()
        assert other.request_cancel(job_id) is False  # finished: nothing to cancel
    finally:
        if child.poll() is None:
            os.kill(child.pid, signal.SIGKILL)
            child.wait()
        child.stdout.close()
        child.stderr.close()


# --------------------------------------------------------------------------- recovery after kill -9


def test_recovery_after_the_process_is_killed(tmp_path):
    ws_path = tmp_path / "ws"
    ws = Workspace(ws_path)
    corpus = ws.add_corpus(b"the corpus the job reads\n", name="domain.txt")
    audio = ws.add_audio(wav_bytes(0.5), name="clip.wav", transcript="a clip")
    before = {corpus.id: digest(corpus.path), audio.id: digest(audio.path)}
    ws.close()

    child = _start_child_job(ws_path, corpus.id)
    try:
        job_id = child.stdout.readline().strip()
        assert job_id.startswith("j-"), child.stderr.read()
        watcher = Workspace(ws_path)
        deadline = time.monotonic() + WAIT
        while True:  # until the child's job runs and has written half a model
            job = watcher.job(job_id)
            if job.status == "running" and job.progress >= 0.5:
                break
            assert child.poll() is None and time.monotonic() < deadline, child.stderr.read()
            time.sleep(0.05)
        model_id = job.model_id
        assert watcher.get(model_id).status == "training"
        assert watcher.staging_path(model_id).exists()  # the half-written model
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        child.stdout.close()
        child.stderr.close()

    ws = Workspace(ws_path)  # the "restarted kernel"
    job = ws.job(job_id)
    assert job.status == "interrupted"
    assert "interrupted" in job.error and "rerun" in job.error
    log_text = job.read_log()
    assert "half-written model" in log_text and "interrupted" in log_text
    model = ws.get(model_id)
    assert model.status == "failed" and "interrupted" in model.message
    assert ws.language_models(status="available") == []
    assert not ws.staging_path(model_id).exists() and not model.path.exists()
    assert {r.id: digest(r.path) for r in (ws.get(corpus.id), ws.get(audio.id))} == before
    assert [r.id for r in ws.records("corpus")] == [corpus.id] and [r.id for r in ws.audio()] == [audio.id]

    again = ws.rerun(job_id, seconds=0)  # the same work, made quick
    assert again.wait(WAIT) == "completed"
    new = ws.get(again.model_id)
    assert (new.name, new.version, new.status, new.sources) == ("partial", 2, "available", (corpus.id,))
    assert sorted(p.name for p in new.path.iterdir()) == ["part-1.bin", "part-2.bin"]
    assert ws.job(job_id).status == "interrupted"  # the history stays


# --------------------------------------------------------------------------- two processes at once


def _add_many(ws_path: str, tag: str, start, count: int) -> None:
    ws = Workspace(ws_path)
    start.wait()
    for i in range(count):
        ws.add_corpus(f"sentence {i} from process {tag}\n".encode(), name="shared.txt")
        ws.add_result("metrics", {"process": tag, "i": i})
    ws.close()


def test_two_processes_share_one_workspace(tmp_path):
    ws_path = str(tmp_path / "ws")
    Workspace(ws_path).close()
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    procs = [ctx.Process(target=_add_many, args=(ws_path, tag, start, 8)) for tag in ("a", "b")]
    for proc in procs:
        proc.start()
    start.set()
    for proc in procs:
        proc.join(WAIT)
        assert proc.exitcode == 0
    ws = Workspace(ws_path)
    corpora = ws.corpora()
    assert len(corpora) == 16 and len({c.path for c in corpora}) == 16
    texts = sorted(c.path.read_text() for c in corpora)
    assert texts == sorted(f"sentence {i} from process {t}\n" for t in "ab" for i in range(8))
    results = ws.results()
    assert sorted(r.version for r in results) == list(range(1, 17))
    assert sorted((ws.result(r.id)["process"], ws.result(r.id)["i"]) for r in results) == [
        (t, i) for t in "ab" for i in range(8)
    ]
    assert len(list((ws.path / "corpora").iterdir())) == 16
    conn = sqlite3.connect(ws.index_path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


# --------------------------------------------------------------------------- a real LM build


def build_lm_in_workspace(tmp_path: Path, base) -> None:
    from jupyter_speechcustom.demo.domain_text import write_domain_files

    files = write_domain_files(tmp_path / "domain")
    ws = Workspace(tmp_path / "ws")
    corpus = ws.add_corpus(files["corpus"])
    words = ws.add_words(files["custom_words"])
    assert corpus.info["sentences"] > 100 and words.info["count"] > 10
    job = ws.build_language_model(base, [corpus.id], words.id, name="support-calls")
    messages: list[str] = []
    job.on_change(lambda j: messages.append(j.message))
    assert job.wait(WAIT) == "completed", job.error
    rec = job.result
    assert (rec.name, rec.version, rec.status) == ("support-calls", 1, "available")
    assert rec.base["fingerprint"] == base.family_fingerprint
    assert rec.sources == (corpus.id, words.id) and rec.info["order"] >= 2
    assert rec.info["number_variants"]["per_sentence"] == 3 and rec.info["number_variants"]["sentences"] > 0
    lm = ws.language_model(rec.id)
    assert lm.base_model["fingerprint"] == base.fingerprint
    lm.check_base(base)
    assert lm.token_arpa.is_file() and len(lm.words) == words.info["count"]
    assert "lmplz" in job.read_log()
    assert [b["fingerprint"] for b in ws.base_models()] == [base.fingerprint]
    again = ws.rerun(job.id)
    assert again.wait(WAIT) == "completed", again.error
    assert [m.version for m in ws.language_models(name="support-calls", status="available")] == [1, 2]
    plain = ws.build_language_model(base, [corpus.id], name="plain", number_variants=0)
    assert plain.wait(WAIT) == "completed", plain.error
    assert plain.result.info["number_variants"] == {"per_sentence": 0, "sentences": 0}
    with pytest.raises(TypeError, match="unknown option"):
        ws.build_language_model(base, [corpus.id], name="x", beam_size=4)


@pytest.mark.slow
@pytest.mark.skipif(not demo_model_path().exists(), reason="the demo model is not built yet")
def test_build_language_model_job_on_the_demo_model(tmp_path, demo_model):
    build_lm_in_workspace(tmp_path, demo_model)


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get(STANDIN_ENV), reason=f"set {STANDIN_ENV} to a .nemo CTC model to run")
def test_build_language_model_job_on_a_standin_model(tmp_path):
    from jupyter_speechcustom.asr.models import load_base_model

    build_lm_in_workspace(tmp_path, load_base_model(os.environ[STANDIN_ENV]))


if __name__ == "__main__" and len(sys.argv) == 4 and sys.argv[1] == "--child":
    child_main(sys.argv[2], sys.argv[3])


def test_a_labellings_segments_are_a_record_that_training_uses_in_place(tmp_path, demo_model):
    """Pseudo-labelling keeps the audio it prepared as a ``segments`` record made from that audio:
    labelling it again reuses it, deleting the job keeps it, training on the labels names it among
    the model's sources, and it is deleted only when asked (the model is then kept, and training
    on the old labels is refused with what to do)."""
    from jupyter_speechcustom import demo
    from jupyter_speechcustom.io.manifest import read_manifest
    from jupyter_speechcustom.services import management

    ws = Workspace(tmp_path / "ws")
    ids = [ws.add_audio(Path(e["audio_filepath"])).id for e in read_manifest(demo.manifest("domain/train"))[:3]]
    job = ws.pseudo_label(demo_model, ids, threshold=0.5)
    assert job.wait(300) == "completed", job.error
    segments = ws.get(job.result["segments_id"], "segments")
    assert segments.path is not None and segments.path.parent == ws.path / "segments"
    assert ws.sources_of(segments.id) == sorted(ids) and segments.info["count"] == len(job.result["labels"])
    assert {Path(r["audio_filepath"]).parent for r in job.result["labels"]} == {segments.path}
    assert not list((ws.path / "segments").glob(".tmp-*"))  # the folder it was prepared in is gone
    again = ws.pseudo_label(demo_model, ids, threshold=0.5)
    assert again.wait(300) == "completed", again.error
    assert again.result["segments_id"] == segments.id and len(ws.records("segments")) == 1
    ws.delete(job.id)
    assert segments.path.is_dir()

    labels = again.result["labels"]
    train = ws.train_acoustic_model(demo_model, ids, mode="unsupervised", labels=labels, name="seg-am", epochs=1,
                                    general=None, general_test=None, batch_size=4)
    assert segments.id in ws.sources_of(train.model_id)
    with pytest.raises(WorkspaceError, match="used by running job"):
        ws.delete(segments.id)
    assert train.wait(600) == "completed", train.error
    with pytest.raises(management.HasDependantsError, match="seg-am"):
        management.delete(ws, "segments", segments.id)
    management.delete(ws, "segments", segments.id, force=True)
    assert not segments.path.exists() and ws.get(train.model_id).status == "available"
    with pytest.raises(WorkspaceError, match="label the audio again"):
        ws.train_acoustic_model(demo_model, ids, mode="unsupervised", labels=labels, name="seg-am", epochs=1)
    ws.close()


def test_prepared_segments_are_trained_on_where_they_are(tmp_path):
    """Training prepares its audio, but a segment that preparation wrote before (it names its
    ``source``) is used as it is; the same file given as plain audio is prepared again."""
    import numpy as np
    import soundfile as sf

    from jupyter_speechcustom.am.acoustic_model import prepare_audio

    rng = np.random.default_rng(0)
    segment = tmp_path / "seg" / "00000-000.wav"
    segment.parent.mkdir()
    sf.write(segment, (0.1 * rng.standard_normal(16000)).astype("float32"), 16000, subtype="PCM_16")
    out = tmp_path / "out"
    (entry,) = prepare_audio([{"audio_filepath": str(segment), "source": "/elsewhere/call.ogg", "text": "hi"}],
                             out, 16000).entries
    assert entry == {"audio_filepath": str(segment), "source": "/elsewhere/call.ogg", "text": "hi", "duration": 1.0}
    assert not list(out.iterdir())
    (plain,) = prepare_audio([{"audio_filepath": str(segment)}], out, 16000).entries
    assert Path(plain["audio_filepath"]).parent == out
    (resampled,) = prepare_audio([{"audio_filepath": str(segment), "source": "x.ogg"}], out, 8000).entries
    assert Path(resampled["audio_filepath"]).parent == out
