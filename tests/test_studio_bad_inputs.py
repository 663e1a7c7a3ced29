"""Bad input through the Studio's own entry points: uploads, recordings, buttons, the Manage area.

Each case drives a real panel on one real workspace (demo base model, no training) the way the
front end does (upload values set, buttons clicked), then checks that the panel's status area
says what is wrong and what to do (no traceback, no bare exception name, nothing logged at
ERROR), that every item the workspace held is unchanged, and that nothing half-added remains.

Case ids start with the outcome: ``error-`` (refused with a clear message), ``ok-`` (a correct
result, e.g. an unsafe file name stored under a safe one) or ``fixed-`` (a case the Studio used
to get wrong: a bare ``ValueError:`` prefix, an API argument named instead of the panel's
control, a raw ``FileNotFoundError``, files left out of an archive without a word).
"""

from __future__ import annotations

import html
import logging
import os
import re
import struct
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from helpers.archives import tar_bytes, zip_bytes
from helpers.audio import encode_av, tone, wav_bytes
from helpers.widgets import upload

from jupyter_speechcustom.services.workspace import Workspace
from jupyter_speechcustom.text.corpus import read_text
from jupyter_speechcustom.widgets import AcousticModelPanel, ComparePanel, DataPanel, LanguageModelPanel
from jupyter_speechcustom.widgets.manage import ManagePanel

WAV = wav_bytes(1.0)
ONE_HZ_WAV = WAV[:24] + struct.pack("<II", 1, 2) + WAV[32:]  # sample rate 1 Hz, byte rate 2


@pytest.fixture(scope="module")
def studio(tmp_path_factory, demo_model) -> SimpleNamespace:
    """One workspace holding a little of everything, and every panel on it."""
    ws = Workspace(tmp_path_factory.mktemp("studio") / "ws")
    corpus = ws.add_corpus(b"restart the pod\nroll back the deployment\n", name="ops.txt")
    other = ws.add_corpus(b"scale the service\n", name="more.txt")
    words = ws.add_words(b"word,sounds_like\nkubectl,cube control\n", name="words.csv")
    transcribed = ws.add_audio(WAV, name="said.wav", transcript="restart the pod")
    untranscribed = ws.add_audio(WAV, name="heard.wav")
    result = ws.add_result("baseline", {"systems": {"base": {"wer": 0.25}}}, sources=[corpus.id])
    return SimpleNamespace(
        ws=ws, corpus=corpus, other=other, words=words, transcribed=transcribed, untranscribed=untranscribed,
        result=result, out=tmp_path_factory.mktemp("exports"),
        data=DataPanel(ws, demo_model), lm=LanguageModelPanel(ws, demo_model),
        am=AcousticModelPanel(ws, demo_model), compare=ComparePanel(ws, demo_model), manage=ManagePanel(ws, demo_model),
    )


def records(ws: Workspace) -> dict[str, tuple[Any, ...]]:
    """Every record with what a user sees of it, and its file's bytes."""
    return {r.id: (r.kind, r.name, r.version, r.status, repr(sorted(r.info.items())),
                   r.path.read_bytes() if r.path is not None and r.path.is_file() else None)
            for r in ws.records()}


def stray_files(ws: Workspace) -> list[str]:
    """Temporary extraction folders or partial files left in the workspace."""
    return sorted(str(p.relative_to(ws.path)) for p in ws.path.rglob("*")
                  if p.name.startswith(".tmp") or p.name.endswith(".part"))


# ------------------------------------------------------------------------------------------- cases


@dataclass
class Case:
    panel: str  # the panel whose status area shows the outcome
    act: Callable[[SimpleNamespace], Any]
    message: str  # a regular expression the status text must match
    kind: str = "error"  # the status kind shown
    added: tuple[str, ...] = ()  # names of the records a correct result adds
    stored: str = ""  # text an added corpus holds


def corpus(name: str, data: bytes) -> Callable[[SimpleNamespace], None]:
    def act(s: SimpleNamespace) -> None:
        s.data.corpus_upload.value = upload((name, data))
    return act


def audio(name: str, data: bytes) -> Callable[[SimpleNamespace], None]:
    def act(s: SimpleNamespace) -> None:
        s.data.audio_upload.value = upload((name, data))
    return act


def words(name: str, data: bytes) -> Callable[[SimpleNamespace], None]:
    def act(s: SimpleNamespace) -> None:
        s.data.words_upload.value = upload((name, data))
    return act


def record(data: bytes) -> Callable[[SimpleNamespace], None]:
    def act(s: SimpleNamespace) -> None:
        s.data.recorder.audio.value = data
    return act


def train(mode: str, chosen: str) -> Callable[[SimpleNamespace], None]:
    def act(s: SimpleNamespace) -> None:
        s.am.mode = mode
        s.am.lm.value = None
        s.am.audio.value = {"none": (), "untranscribed": (s.untranscribed.id,),
                            "all": (s.transcribed.id, s.untranscribed.id)}[chosen]
        s.am.train_button.click()
    return act


def compare(test_set: str, button: str = "run_button") -> Callable[[SimpleNamespace], None]:
    def act(s: SimpleNamespace) -> None:
        s.compare.test_set.value = test_set
        s.compare.audio.value = ()
        s.compare.recording.value = None
        getattr(s.compare, button).click()
    return act


def build_lm(s: SimpleNamespace) -> None:
    s.lm.corpora.value = ()
    s.lm.words.value = None
    s.lm.build_button.click()


def manage(kind: str, item: str | None, button: str, **values: Any) -> Callable[[SimpleNamespace], None]:
    def act(s: SimpleNamespace) -> None:
        m = s.manage
        m.kind.value = kind
        m.items.value = getattr(s, item).id if item else None
        for name, value in values.items():
            value = value(s) if callable(value) else value
            getattr(m, name).value = value
        getattr(m, f"{button}_button").click()
    return act


def export(path: Callable[[SimpleNamespace], str], **values: Any) -> Callable[[SimpleNamespace], None]:
    return manage("result", "result", "export", export_format="csv", export_path=path, **values)


def _existing(s: SimpleNamespace) -> str:
    path = s.out / "kept.csv"
    path.write_text("a file the user had\n")
    return str(path)


CASES: dict[str, Case] = {
    # ---------------------------------------------------------------- corpora
    "error-empty-corpus": Case("data", corpus("e.txt", b""), r"Not added: e\.txt: e\.txt is empty: it has no text; "
                               r"add sentences \(one per line\)"),
    "error-blank-corpus": Case("data", corpus("b.txt", b"\n  \n\t\n"), r"b\.txt is empty: it has no text"),
    "error-binary-corpus": Case("data", corpus("g.txt", bytes(range(256)) * 8),
                                r"g\.txt looks like a binary file, not text .*upload plain text \(UTF-8\)"),
    "error-punctuation-only-corpus": Case("data", corpus("p.txt", b"!!! ... ???\n---\n(( ))\n"),
                                          r"p\.txt has no text the model can use: after normalization nothing "
                                          r"remains\. It must contain words in the model's alphabet"),
    "ok-latin1-corpus": Case("data", corpus("latin.txt", "le café est prêt\nrestart the pod\n".encode("latin-1")),
                             r"Added 1 corpus file\(s\): latin\.txt \(2 sentences", "success", ("latin.txt",),
                             "le café est prêt"),
    "ok-utf16-corpus-without-bom": Case("data", corpus("wide.txt", "restart the pod\nscale it\n".encode("utf-16-le")),
                                        r"Added 1 corpus file\(s\): wide\.txt \(2 sentences", "success",
                                        ("wide.txt",), "restart the pod\nscale it"),
    "ok-name-climbing-out": Case("data", corpus("../../etc/passwd", b"restart the pod\n"),
                                 r"Added 1 corpus file\(s\): passwd\.txt", "success", ("passwd.txt",)),
    "ok-name-with-folder": Case("data", corpus("a/b.txt", b"restart the pod\n"), r"Added 1 corpus file\(s\): b\.txt",
                                "success", ("b.txt",)),
    "ok-name-with-nul": Case("data", corpus("nu\x00ll.txt", b"restart the pod\n"),
                             r"Added 1 corpus file\(s\): null\.txt", "success", ("null.txt",)),
    "ok-name-of-300-characters": Case("data", corpus("x" * 300 + ".txt", b"restart the pod\n"),
                                      r"Added 1 corpus file\(s\): x+\.txt", "success", ("x",)),
    "ok-hidden-name": Case("data", corpus(".hidden", b"restart the pod\n"), r"Added 1 corpus file\(s\): hidden\.txt",
                           "success", ("hidden.txt",)),
    # ---------------------------------------------------------------- custom words
    "error-words-with-an-unclosed-quote": Case("data", words("w.csv", b'word,sounds_like\nkubectl,"cube control\n'
                                                                      b"etcd,et cd\n"),
                                               r"Adding the word list failed: w\.csv, line 2: a quote \(\"\) opened on "
                                               r"this line is not closed before line 3.*close the quote, or remove it"),
    "error-words-that-are-binary": Case("data", words("w.csv", bytes(range(256)) * 4),
                                        r"Adding the word list failed: w\.csv"),
    # ---------------------------------------------------------------- audio files
    "error-random-bytes-named-wav": Case("data", audio("r.wav", os.urandom(5000)),
                                         r"Not added: r\.wav: r\.wav: cannot decode 5000 bytes of audio: not a "
                                         r"supported audio file .*Convert it, e\.g\. `ffmpeg"),
    "error-truncated-wav-header": Case("data", audio("t.wav", WAV[:30]), r"t\.wav: cannot decode 30 bytes of audio"),
    "error-zero-length-wav": Case("data", audio("z.wav", b""),
                                  r"z\.wav: the audio is empty \(0 bytes\): record or upload it again"),
    "error-wav-claiming-1-hz": Case("data", audio("o.wav", ONE_HZ_WAV),
                                    r"o\.wav: the sample rate .* is 1 Hz: a sample rate must be a whole number of Hz "
                                    r"from 1000 to 768000 \(the file's header is damaged: re-export it\)"),
    # ---------------------------------------------------------------- audio archives
    "error-zip-bomb": Case("data", audio("bomb.zip", zip_bytes([("a.wav", b"\0" * (4 << 20))], compression=zipfile.ZIP_BZIP2)),
                           r"bomb\.zip: 'a\.wav' is compressed more than 1000:1 .* so nothing was extracted"),
    "error-zip-climbing-out": Case("data", audio("slip.zip", zip_bytes([("ok.wav", WAV), ("../../evil.wav", WAV)])),
                                   r"slip\.zip has an entry that climbs out of its folder \('\.\./\.\./evil\.wav'"),
    "error-tar-climbing-out": Case("data", audio("slip.tar.gz", tar_bytes([("../evil.wav", WAV)])),
                                   r"slip\.tar\.gz has an entry that climbs out of its folder"),
    "error-tar-with-absolute-path": Case("data", audio("abs.tar.gz", tar_bytes([("/tmp/evil.wav", WAV)])),
                                         r"abs\.tar\.gz has an entry with an absolute path"),
    "error-empty-zip": Case("data", audio("empty.zip", zip_bytes([])), r"empty\.zip has no usable audio files"),
    "error-not-an-archive": Case("data", audio("junk.zip", b"PK\x03\x04 not really a zip"),
                                 r"junk\.zip is not a zip or tar archive .*upload a \.zip, \.tar"),
    "fixed-archive-of-undecodable-audio-says-why": Case(
        "data", audio("calls.zip", zip_bytes([("a.wav", os.urandom(3000)), ("notes.pdf", b"%PDF-1.4")])),
        r"calls\.zip has no usable audio files .*\(left out: .*a\.wav \(calls\.zip: a\.wav: cannot decode.*"
        r"notes\.pdf \(not audio\)"),
    "fixed-archive-names-the-files-left-out": Case(
        "data", audio("mixed.zip", zip_bytes([("good.wav", WAV), ("good.txt", b"restart the pod\n"),
                                         ("bad.wav", b"RIFF....WAVE"), ("readme.md", b"# calls\n")])),
        r"Added 1 audio file\(s\)\. Not added: mixed\.zip: bad\.wav \(mixed\.zip: bad\.wav: cannot decode.*; "
        r"mixed\.zip: readme\.md \(not audio\)", "error", ("good.wav",)),
    # ---------------------------------------------------------------- microphone recordings
    "error-save-with-nothing-recorded": Case("data", lambda s: s.data.save_recording_button.click(),
                                             r"Nothing recorded yet: press the record button, speak, then press it "
                                             r"again"),
    "fixed-empty-recording": Case("data", record(encode_av(np.zeros((1, 1), np.float32), 48_000, "webm", "libopus")),
                                  r"Receiving the recording failed: the recording is empty \(0\.0\d s\): allow the "
                                  r"browser to use the microphone"),
    "error-unreadable-recording": Case("data", record(b"\x1aE\xdf\xa3" + b"\0" * 100),
                                       r"Receiving the recording failed: cannot decode 104 bytes of audio"),
    "ok-silent-recording-is-flagged": Case("data", lambda s: setattr(s.data.recorder.audio, "value", encode_av(
        np.zeros((48_000, 1), np.float32), 48_000, "webm", "libopus")),
        r"Recorded 1\.0 s \(peak -inf dBFS, speech level -inf dBFS\)\. .*Note: nearly silent \(RMS 0\.0e\+00\): "
        r"check the microphone", "info"),
    # ---------------------------------------------------------------- actions without their prerequisites
    "error-build-lm-without-corpus": Case("lm", build_lm, r"Choose at least one corpus or a custom-words list \(add "
                                                          r"them in the Data tab\)"),
    "fixed-train-with-nothing-chosen": Case("am", train("supervised", "none"),
                                            r"^Training failed: choose the training audio first \(add audio in the "
                                            r"Data tab\)$"),
    "fixed-train-lightly-supervised-without-lm": Case("am", train("lightly-supervised", "untranscribed"),
                                                      r"^Training failed: lightly supervised training needs a custom "
                                                      r"language model: build one in the Language model tab"),
    "error-train-supervised-on-untranscribed-audio": Case(
        "am", train("supervised", "all"),
        r"Training failed: supervised training needs a transcript for every recording, and 1 of the 2 selected have "
        r"none: heard\.wav\. Add their transcripts, leave them out, or train lightly supervised"),
    "fixed-compare-without-test-audio": Case("compare", compare("workspace"),
                                             r"^Comparing failed: choose transcribed workspace audio to compare on"),
    "fixed-compare-without-recording": Case("compare", compare("one"),
                                            r"^Comparing failed: choose a recording \(add one in the Data tab\)"),
    "fixed-tune-before-comparing": Case("compare", compare("workspace", "tune_button"),
                                        r"^Tuning failed: run a comparison with a \+LM system first"),
    # ---------------------------------------------------------------- the Manage area
    "error-rename-to-empty-name": Case("manage", manage("corpus", "other", "rename", new_name="   "),
                                       r"Renaming failed: a corpus needs a name: give a non-empty name"),
    "error-rename-to-a-taken-name": Case("manage", manage("corpus", "other", "rename", new_name="ops.txt"),
                                         r"Renaming failed: there is already a corpus named 'ops\.txt': choose another "
                                         r"name"),
    "error-rename-to-a-path": Case("manage", manage("corpus", "other", "rename", new_name="../../x"),
                                   r"Renaming failed: '\.\./\.\./x' is not a usable file name"),
    "error-rename-with-nothing-chosen": Case("manage", manage("lm", None, "rename", new_name="x"),
                                             r"Renaming failed: choose an item first"),
    "error-delete-with-nothing-chosen": Case("manage", manage("am", None, "delete"),
                                             r"Deleting failed: choose an item first"),
    "fixed-delete-what-others-use-names-the-checkbox": Case(
        "manage", manage("corpus", "corpus", "delete", force=False),
        r"Deleting failed: corpus '.*' is used by result 'baseline' .*delete those first, or tick 'even if others use "
        r"it' to delete it anyway"),
    "error-export-without-path": Case("manage", export(lambda s: "  "), r"Exporting failed: type the path of the file "
                                                                         r"to write"),
    "error-export-to-a-folder": Case("manage", export(lambda s: str(s.out)), r"is a folder, not a regular file: give "
                                                                              r"the path of a new or existing"),
    "error-export-to-a-device": Case("manage", export(lambda s: os.devnull), r"/dev/null is a device, not a regular "
                                                                              r"file"),
    "error-export-to-a-read-only-place": Case("manage", export(lambda s: "/sys/wer.csv"),
                                              r"Exporting failed: cannot write /sys/wer\.csv: .*(permission|read-only)"),
    "fixed-export-into-a-folder-that-cannot-be-made": Case(
        "manage", export(lambda s: "/proc/no-such-folder/wer.csv"),
        r"^Exporting failed: cannot create the folder to write into: /proc/no-such-folder: "),
    "fixed-export-over-a-file-asks-first": Case(
        "manage", export(_existing), r"/kept\.csv already exists\. Replace it\?", "warning"),
    "ok-export-into-a-new-folder": Case("manage", export(lambda s: str(s.out / "new" / "folder" / "wer.csv")),
                                        r"Wrote .*/new/folder/wer\.csv\.", "success"),
}


@pytest.mark.parametrize("case_id", list(CASES))
def test_studio_bad_input(case_id, studio, caplog):
    case = CASES[case_id]
    panel = getattr(studio, case.panel)
    ws = studio.ws
    before = records(ws)
    panel.status.value = ""
    with caplog.at_level(logging.WARNING):
        case.act(studio)
    text = html.unescape(re.sub(r"<[^>]+>", "", panel.status.value)).strip()

    assert re.search(case.message, text, re.S), text
    assert f"sc-status-{case.kind}" in panel.status.value, text
    assert "Traceback" not in text and not re.match(r"^([^:]* failed: )?[A-Z]\w*(Error|Exception)\b", text), text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    after = records(ws)
    assert {k: after[k] for k in before} == before  # what the user had is unchanged
    new = [after[k] for k in after if k not in before]
    assert len(new) == len(case.added) and all(n[1].startswith(a) for n, a in zip(new, case.added)), new
    assert stray_files(ws) == []
    for rec in ws.records():  # an unsafe name is stored inside the workspace under a safe one
        if rec.id not in before:
            assert rec.path is not None and rec.path.resolve().is_relative_to(ws.path.resolve())
            assert "\0" not in rec.name and "/" not in rec.name and len(rec.name) <= 255
            if case.stored:  # the text as written, whatever its encoding
                assert case.stored in read_text(rec.path, name=rec.name)
            ws.delete(rec.id)  # the next case starts from the same workspace
    studio.data.recording = b""  # a recording under review does not leak into the next case
    studio.data.save_recording_button.disabled = True


def test_studio_bad_input_side_effects(studio):
    """The checks the status text cannot show: what is left on disk and in the panels."""
    s = studio
    CASES["fixed-export-over-a-file-asks-first"].act(s)
    assert (s.out / "kept.csv").read_text() == "a file the user had\n"  # not replaced before the answer
    s.manage.confirm.answers["Cancel"].click()
    assert (s.out / "kept.csv").read_text() == "a file the user had\n"
    assert not Path("/proc/no-such-folder").exists() and not Path("/tmp/evil.wav").exists()
    good = encode_av(tone(1.0), 16_000, "webm", "libopus")
    s.data.recorder.audio.value = good
    assert s.data.recording == good and not s.data.save_recording_button.disabled
    s.data.recorder.audio.value = b"\x1aE\xdf\xa3" + b"\0" * 100  # a bad recording after a good one keeps it
    assert "cannot decode" in s.data.status.value and s.data.recording == good
    s.data.recorder.audio.value = encode_av(np.zeros((1, 1), np.float32), 48_000, "webm", "libopus")
    assert "the recording is empty" in s.data.status.value and s.data.recording == good
    s.data.recording = b""
    s.data.save_recording_button.disabled = True
    CASES["fixed-empty-recording"].act(s)  # with nothing under review, an empty recording cannot be saved
    assert s.data.recording == b"" and s.data.save_recording_button.disabled
