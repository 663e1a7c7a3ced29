"""The services layer: profiles, the workspace's job kinds (compare, rerun) and the model-family seam."""

from __future__ import annotations

import json
import sqlite3
from types import SimpleNamespace

import pytest

from jupyter_speechcustom.asr.families import CTCFamily, HybridFamily, family_of
from jupyter_speechcustom.asr.models import load_base_model
from jupyter_speechcustom.asr.profiles import ModelProfile, get_profile, profiles, register_profile
from jupyter_speechcustom.errors import ModelLoadError, SpeechCustomError
from jupyter_speechcustom.io.manifest import Utterance, read_manifest
from jupyter_speechcustom.services.compare import run_comparison
from jupyter_speechcustom.services.workspace import Workspace

WAIT = 600  # a guard against hanging, never a timing assertion


def test_the_demo_registers_its_profile_through_its_entry_point():
    profile = get_profile("demo")
    assert profile is not None and profile.model_path is not None and profile.model_path.is_file()
    assert profile.general_text is not None and profile.general_text.is_file()
    for name in (profile.train_set, profile.dev_set, *profile.test_sets):
        assert name is not None and profile.example_set(name).is_file()
    assert "demo" in [p.name for p in profiles()]
    with pytest.raises(SpeechCustomError, match="no example set 'nope'"):
        profile.example_set("nope")


def test_a_user_profile_names_a_model_and_its_general_text(tmp_path, demo_model):
    from jupyter_speechcustom.asr.models import known_words_for, load_base_model

    text = tmp_path / "general.txt"
    text.write_text("hello world\nthe quick brown fox\n", encoding="utf-8")
    profile = ModelProfile("my-clinic-model", model_path=demo_model.path, general_text=text)
    register_profile(profile)
    register_profile(profile)  # the same profile again is fine
    with pytest.raises(SpeechCustomError, match="already registered"):
        register_profile(ModelProfile("my-clinic-model"))
    model = load_base_model("my-clinic-model")
    assert model.profile is profile and model.fingerprint == demo_model.fingerprint
    assert known_words_for(model) == {"hello", "world", "the", "quick", "brown", "fox"}


def test_the_family_is_chosen_and_other_models_are_refused_by_name(demo_model):
    char_model = load_base_model("demo-char")
    assert isinstance(char_model.family, CTCFamily) and char_model.family.name == "ctc"
    assert isinstance(demo_model.family, HybridFamily) and demo_model.family.name == "hybrid"
    for model in (char_model, demo_model):
        assert model.vocabulary == model.family.vocabulary(model.asr_model)
        assert model.frame_shift > 0

    class NotAnAsrModel:
        pass

    with pytest.raises(ModelLoadError, match="NotAnAsrModel.*supported model families: ctc"):
        family_of(NotAnAsrModel(), "thing.nemo")


@pytest.mark.slow
def test_a_comparison_runs_as_a_workspace_job_and_can_be_rerun(tmp_path, demo_model):
    entries = read_manifest(get_profile("demo").example_set("domain/test"))[:3]
    items = [Utterance.from_entry(e) for e in entries]
    ws = Workspace(tmp_path / "ws")
    job = ws.compare(demo_model, items, ["base"], label="three")
    assert job.wait(WAIT) == "completed", job.error
    comparison = job.result  # the job's own result, not a side channel
    direct = run_comparison(demo_model, items, ["base"], label="three")
    assert comparison.texts == direct.texts and comparison.evaluations["base"].wer == direct.evaluations["base"].wer
    with sqlite3.connect(ws.path / "index.sqlite") as db:  # what other processes see: the summary
        (saved,) = db.execute("SELECT result FROM jobs WHERE id = ?", (job.id,)).fetchone()
    assert json.loads(saved) == {"test_set": "three", "wer": {"base": direct.evaluations["base"].wer}}
    again = ws.rerun(job.id)
    assert again.wait(WAIT) == "completed", again.error
    assert again.result.texts == comparison.texts
    with pytest.raises(ValueError, match="needs a custom acoustic model"):
        ws.compare(demo_model, items, ["+AM"], label="three")


@pytest.mark.slow
def test_a_comparison_tunes_its_lm_systems_on_the_dev_set_from_cached_outputs(demo_model, demo_lm):
    import threading

    from jupyter_speechcustom.asr.decoding import default_weights
    from jupyter_speechcustom.constants import TUNE_CONFIDENCE, TUNE_TOLERANCE
    from jupyter_speechcustom.jobs.progress import JobCancelled
    from jupyter_speechcustom.services.compare import dev_items

    dev = dev_items(demo_model)
    assert len(dev) == 40 and all(item.text for item in dev)
    assert dev_items(SimpleNamespace(profile=None)) == []  # a model without a profile has no dev set
    test = read_manifest(get_profile("demo").example_set("domain/test"))[:3]
    items = [Utterance.from_entry(e) for e in test]
    cache: dict = {}
    comparison = run_comparison(demo_model, items, ["base", "+LM"], label="three", lm=demo_lm, cache=cache)
    seen: list[tuple[float, str]] = []
    results = comparison.tune(dev[:8], cache=cache, progress=lambda f, m: seen.append((f, m)))
    assert set(results) == {"+LM"}  # the base system has no weights to tune
    result = results["+LM"]
    lowest = min(wer for _, wer in result.grid)  # near-ties go to the point nearest the defaults
    defaults = default_weights(demo_model, demo_lm)
    if result.kept_defaults:  # the best point beat the defaults on too few resamples of 8 utterances
        assert result.confidence is not None and result.confidence < TUNE_CONFIDENCE
        assert (result.best.lm_alpha, result.best.lm_beta, result.best.head) == (
            defaults.lm_alpha, defaults.lm_beta, defaults.head)
        assert "defaults are kept" in result.note
    else:
        assert result.best in [w for w, _ in result.grid] and lowest <= result.best_wer <= lowest + TUNE_TOLERANCE
        assert result.best_wer <= min(wer for w, wer in result.grid if w.lm_alpha == 0.5) + TUNE_TOLERANCE
    assert (demo_model.fingerprint, tuple(item.audio for item in dev[:8])) in cache  # the AM ran once, kept
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any(m.startswith("tuning +LM: weights") for _, m in seen)
    # Tuning does not re-decode the comparison itself: it keeps the weights it started from.
    assert comparison.weights == default_weights(demo_model, demo_lm)

    with pytest.raises(ValueError, match="needs a reference"):
        comparison.tune([Utterance(dev[0].audio, None, title="x")])
    with pytest.raises(ValueError, match="needs a \\+LM system"):
        run_comparison(demo_model, items, ["base"], label="three", cache=cache).tune(dev[:8])
    stop = threading.Event()
    stop.set()
    with pytest.raises(JobCancelled):
        comparison.tune(dev[:8], cache=cache, cancel=stop)


def test_a_comparison_saves_the_base_models_tuning_with_its_lm_when_asked(tmp_path, demo_model, demo_lm):
    import shutil
    from dataclasses import asdict

    from jupyter_speechcustom.lm.language_model import CustomLanguageModel
    from jupyter_speechcustom.services.compare import dev_items

    shutil.copytree(demo_lm.path, tmp_path / "lm")
    lm = CustomLanguageModel.load(tmp_path / "lm")
    dev = dev_items(demo_model)[:6]
    test = read_manifest(get_profile("demo").example_set("domain/test"))[:2]
    items = [Utterance.from_entry(e) for e in test]
    cache: dict = {}
    comparison = run_comparison(demo_model, items, ["+LM", "+AM+LM"], label="two", lm=lm, am=demo_model, cache=cache)
    comparison.tune(dev, cache=cache)
    assert CustomLanguageModel.load(tmp_path / "lm").tuning is None  # only when asked
    results = comparison.tune(dev, cache=cache, save="six dev utterances")
    tuning = CustomLanguageModel.load(tmp_path / "lm").tuning
    assert tuning is not None and tuning["weights"] == asdict(results["+LM"].best)  # the base model's, not +AM+LM's
    assert tuning["dev_set"] == "six dev utterances" and tuning["utterances"] == 6
