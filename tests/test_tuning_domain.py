"""Tuning never borrows another domain: weights tuned on the demo's dev set go only into an LM of the
demo's own domain; an LM of another domain is tuned on the user's own transcribed audio, or not at all."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from jupyter_speechcustom import demo
from jupyter_speechcustom.errors import InvalidOptionError
from jupyter_speechcustom.io.manifest import read_manifest
from jupyter_speechcustom.services.compare import borrowed_dev_set, tune_language_model
from jupyter_speechcustom.services.workspace import Workspace
from jupyter_speechcustom.widgets import ComparePanel

pytestmark = pytest.mark.slow

CLINICAL = "\n".join([
    "the patient was started on metoprolol twenty five milligrams twice daily",
    "blood pressure one thirty over eighty five heart rate sixty two",
    "continue lisinopril and recheck the basic metabolic panel in one week",
    "the echocardiogram shows an ejection fraction of fifty five percent",
    "no chest pain no shortness of breath no palpitations",
] * 20) + "\n"


@pytest.fixture(scope="module")
def clinical_lm(tmp_path_factory, demo_model):
    from jupyter_speechcustom.lm.language_model import build_language_model

    folder = tmp_path_factory.mktemp("clinical")
    corpus = folder / "clinic.txt"
    corpus.write_text(CLINICAL, encoding="utf-8")
    return build_language_model(demo_model, [corpus], folder / "clinical_lm")


def test_the_demo_dev_set_is_the_demo_lms_own_and_no_other(demo_model, demo_lm, clinical_lm):
    assert borrowed_dev_set(demo_model, demo_lm) is None
    reason = borrowed_dev_set(demo_model, clinical_lm)
    assert reason is not None and "demo dev set (domain/dev)" in reason and "'clinical_lm'" in reason
    fingerprints = [c["fingerprint"] for c in clinical_lm.corpora]
    assert len(fingerprints) == 1 and len(fingerprints[0]) == 16


def test_tuning_another_domains_lm_on_the_demo_dev_set_is_refused_and_saves_nothing(demo_model, clinical_lm):
    with pytest.raises(InvalidOptionError, match="fit that domain, not this LM's"):
        tune_language_model(demo_model, clinical_lm)
    assert type(clinical_lm).load(clinical_lm.path).tuning is None


def test_cli_lm_tune_without_a_dev_set_of_the_lms_domain(demo_model, clinical_lm):
    out = subprocess.run([sys.executable, "-m", "jupyter_speechcustom.cli", "lm", "tune", str(clinical_lm.path),
                          "--base", "demo"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 2 and "--dev MANIFEST" in out.stderr and "Traceback" not in out.stderr, out.stderr


def test_compare_tunes_another_domains_lm_only_on_the_users_own_audio(tmp_path, demo_model, demo_lm, clinical_lm):
    ws = Workspace(tmp_path / "ws")
    lm = ws.add_language_model(clinical_lm.path, name="clinical")
    panel = ComparePanel(ws, demo_model)
    panel.refresh()
    panel.lm.value = lm.id
    with pytest.raises(InvalidOptionError, match="no dev set of this LM's domain"):
        panel.dev_set()
    assert not panel._has_own_dev_set()  # so a comparison does not tune by itself: the defaults apply
    entries = read_manifest(demo.manifest("domain/dev"), require_text=True)[:3]
    for e in entries:  # stand-ins for the user's own transcribed audio
        ws.add_audio(Path(e["audio_filepath"]), name=Path(e["audio_filepath"]).name, transcript=e["text"])
    label, items = panel.dev_set()
    assert label == "3 transcribed workspace audio files" and len(items) == 3
    # An LM of the demo's own domain still tunes on the demo's dev set.
    ops = ws.add_language_model(demo_lm.path, name="ops")
    panel.refresh()
    panel.lm.value = ops.id
    assert panel.dev_set()[0] == "demo domain/dev"
