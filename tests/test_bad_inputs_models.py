"""Damaged models are refused when added (an LM folder, a ``.nemo``, a bundle with recomputed sums)
and nothing is half-added.

Part of the adversarial probe of bad inputs and faults against the CLI, the Python API and the
workspace. Each case is a small generated fixture; each asserts the message (what is wrong, what
to do) and that nothing of the user's was lost.

Test names say the outcome: ``test_error_*`` a specific error before any work is wasted,
``test_ok_*`` a correct result where a wrong one (or a traceback) came before.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import pytest
from helpers.cli import run_cli
from helpers.files import snapshot
from helpers.models import ARPA, BASE, fake_nemo, lm_folder

from jupyter_speechcustom.io.manifest import write_manifest
from jupyter_speechcustom.lm.language_model import CustomLanguageModel, LanguageModelError

# -------------------------------------------------------- 5. damaged models are refused when added


def no_models(ws) -> None:
    """Nothing half-added: no records and no files in the model folders."""
    assert ws.language_models() == [] and ws.acoustic_models() == []
    assert [p.name for p in (ws.path / "lms").iterdir()] == [] and [p.name for p in (ws.path / "ams").iterdir()] == []


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
