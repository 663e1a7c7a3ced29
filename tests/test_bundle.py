"""Customization bundles: export from one workspace, import into another, refuse bad bundles."""

from __future__ import annotations

import json
import logging
import os
import zipfile
from pathlib import Path

import pytest
from helpers.archives import zip_bytes
from helpers.models import BASE, fake_nemo

from jupyter_speechcustom.demo import model_path as demo_model_path
from jupyter_speechcustom.errors import BaseModelMismatchError
from jupyter_speechcustom.io.safety import UnsafeArchiveError
from jupyter_speechcustom.services.workspace import Workspace
from jupyter_speechcustom.store.bundle import BundleError, export_bundle, import_bundle, read_bundle_manifest

WAIT = 120
STANDIN_ENV = "SPEECHCUSTOM_TEST_NEMO"


@pytest.fixture(scope="module")
def lm_base(request):
    """The demo base model, or the model named by $SPEECHCUSTOM_TEST_NEMO; else skip."""
    if demo_model_path().exists():
        return request.getfixturevalue("demo_model")
    if os.environ.get(STANDIN_ENV):
        from jupyter_speechcustom.asr.models import load_base_model

        return load_base_model(os.environ[STANDIN_ENV])
    pytest.skip(f"no base model: the demo model is missing and {STANDIN_ENV} is not set")


def counts(ws: Workspace) -> dict[str, int]:
    return {kind: len(ws.records(kind)) for kind in ("lm", "am", "words", "result", "corpus")}


@pytest.mark.slow
def test_language_model_round_trip(tmp_path, lm_base):
    from jupyter_speechcustom.demo.domain_text import write_domain_files

    files = write_domain_files(tmp_path / "domain")
    source = Workspace(tmp_path / "source")
    corpus = source.add_corpus(files["corpus"])
    words = source.add_words(files["custom_words"])
    job = source.build_language_model(lm_base, [corpus.id], words.id, name="support-calls")
    assert job.wait(WAIT) == "completed", job.error
    lm_rec = job.result
    result = source.add_result("domain-test", {"wer": {"base": 0.55, "base+lm": 0.09}, "utterances": 80})

    bundle = export_bundle(source, tmp_path / "out" / "support", lm_id=lm_rec.id, result_ids=[result.id])
    assert bundle.name == "support.zip"
    manifest = read_bundle_manifest(bundle)
    assert manifest["format_version"] == 1
    assert manifest["base_model"] == lm_rec.base
    assert [w["name"] for w in manifest["custom_words"]] == [words.name]  # the LM's words by default
    assert "lm/tokens.arpa" in manifest["files"] and "lm/lm.json" in manifest["files"]

    target = Workspace(tmp_path / "target")
    new = import_bundle(target, bundle)
    assert new["acoustic_model"] is None and len(new["custom_words"]) == 1 and len(new["results"]) == 1
    imported = target.get(new["language_model"])
    assert (imported.name, imported.status, imported.base) == ("support-calls", "available", lm_rec.base)
    lm = target.language_model(imported.id)
    assert lm.base_model["fingerprint"] == lm_base.fingerprint == source.language_model(lm_rec.id).base_model["fingerprint"]
    lm.check_base(lm_base)
    assert lm.token_arpa.read_bytes() == source.language_model(lm_rec.id).token_arpa.read_bytes()
    assert target.result(new["results"][0]) == source.result(result.id)
    assert [w.word for w in target.custom_words(new["custom_words"][0])] == [w.word for w in source.custom_words(words.id)]
    assert not [p for p in target.path.iterdir() if p.name.startswith(".tmp")]  # extraction cleaned up


def test_acoustic_model_words_and_results_round_trip(tmp_path, caplog):
    source = Workspace(tmp_path / "source")
    with caplog.at_level(logging.WARNING):
        am = source.add_acoustic_model(fake_nemo(tmp_path / "custom.nemo"), name="tuned")
    assert "pickled" in caplog.text  # from outside the workspace
    assert (am.status, am.base, am.name) == ("available", BASE, "tuned")
    words = source.add_words(b"kubectl\nterraform\n", name="terms.txt")
    result = source.add_result("eval", {"wer": 0.1})
    bundle = export_bundle(source, tmp_path / "b.zip", am_id=am.id, result_ids=[result.id], words_ids=[words.id])

    target = Workspace(tmp_path / "target")
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        new = import_bundle(target, bundle.read_bytes())
    assert "pickled" in caplog.text
    imported = target.get(new["acoustic_model"])
    assert (imported.status, imported.base, imported.name) == ("available", BASE, "tuned")
    assert imported.path.read_bytes() == am.path.read_bytes()
    assert [w.word for w in target.custom_words(new["custom_words"][0])] == ["kubectl", "terraform"]
    assert target.result(new["results"][0]) == {"wer": 0.1}


def test_acoustic_model_without_a_base_reference_is_refused(tmp_path):
    ws = Workspace(tmp_path / "ws")
    with pytest.raises(Exception, match="base="):
        ws.add_acoustic_model(fake_nemo(tmp_path / "anon.nemo", {"sample_rate": 16000}))
    assert ws.acoustic_models() == []


def test_models_of_different_bases_are_not_bundled_together(tmp_path):
    ws = Workspace(tmp_path / "ws")
    am = ws.add_acoustic_model(fake_nemo(tmp_path / "a.nemo"))
    model = ws.create_language_model({"name": "other", "fingerprint": "ffffffffffffffff"}, "lm")
    job = ws.submit(_write_staging(ws, model.id), kind="custom", model_id=model.id)
    assert job.wait(WAIT) == "completed"
    with pytest.raises(BaseModelMismatchError, match="different base models"):
        export_bundle(ws, tmp_path / "x.zip", lm_id=model.id, am_id=am.id)
    with pytest.raises(BundleError, match="nothing to export"):
        export_bundle(ws, tmp_path / "x.zip")


def _write_staging(ws: Workspace, model_id: str):
    def run(progress, cancel):
        ws.staging_path(model_id).mkdir()
        (ws.staging_path(model_id) / "lm.json").write_text("{}")

    return run


def make_bundle(path: Path, manifest: dict, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("bundle.json", json.dumps(manifest))
        for name, data in files.items():
            zf.writestr(name, data)
    return path


def words_manifest(**changes) -> dict:
    import hashlib

    manifest = {
        "format": "jupyter_speechcustom.store.bundle",
        "format_version": 1,
        "base_model": None,
        "language_model": None,
        "acoustic_model": None,
        "custom_words": [{"path": "words/terms.txt", "name": "terms.txt"}],
        "results": [],
        "files": {"words/terms.txt": hashlib.sha256(b"kubectl\n").hexdigest()},
    }
    manifest.update(changes)
    return manifest


@pytest.mark.parametrize(
    ("manifest", "files", "error", "match"),
    [
        (words_manifest(), {"words/terms.txt": b"tampered\n"}, BundleError, "checksum"),
        (words_manifest(format_version=99), {"words/terms.txt": b"kubectl\n"}, BundleError, "upgrade"),
        (words_manifest(format="something-else"), {"words/terms.txt": b"kubectl\n"}, BundleError, "not a customization"),
        (
            words_manifest(custom_words=[{"path": "../../outside.txt", "name": "x"}]),
            {"words/terms.txt": b"kubectl\n"},
            BundleError,
            "outside the bundle",
        ),
        (
            words_manifest(files={"/etc/passwd": "0" * 64}),
            {"words/terms.txt": b"kubectl\n"},
            BundleError,
            "outside the bundle",
        ),
        (words_manifest(), {"words/terms.txt": b"kubectl\n", "../escape.txt": b"x"}, UnsafeArchiveError, "zip slip"),
        (
            words_manifest(language_model={"path": "lm", "name": "x"}),
            {"words/terms.txt": b"kubectl\n"},
            BundleError,
            "base_model",
        ),
    ],
)
def test_bad_bundles_are_refused_and_add_nothing(tmp_path, manifest, files, error, match):
    ws = Workspace(tmp_path / "ws")
    before = counts(ws)
    with pytest.raises(error, match=match):
        import_bundle(ws, make_bundle(tmp_path / "bad.zip", manifest, files))
    assert counts(ws) == before
    assert not [p for p in ws.path.iterdir() if p.name.startswith(".tmp")]
    assert not (tmp_path / "outside.txt").exists() and not (tmp_path / "escape.txt").exists()


def test_a_valid_words_bundle_imports(tmp_path):
    ws = Workspace(tmp_path / "ws")
    new = import_bundle(ws, make_bundle(tmp_path / "ok.zip", words_manifest(), {"words/terms.txt": b"kubectl\n"}))
    assert [w.word for w in ws.custom_words(new["custom_words"][0])] == ["kubectl"]


def test_not_a_bundle(tmp_path):
    ws = Workspace(tmp_path / "ws")
    with pytest.raises(BundleError, match="no bundle.json"):
        import_bundle(ws, zip_bytes({"readme.txt": b"just a zip"}))
    with pytest.raises(BundleError, match="no bundle at"):
        import_bundle(ws, tmp_path / "missing.zip")
