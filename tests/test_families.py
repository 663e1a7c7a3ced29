"""Every model family through the seam, on small real NeMo models of each class (built offline).

The models are untrained: these tests check the machinery each family needs (loading, the
acoustic pass and its cache, greedy decoding, beam search with the custom LM and boosting,
timings, tuning, comparisons), not recognition quality.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest

from jupyter_speechcustom import demo
from jupyter_speechcustom.asr.decoding import Decoder, DecodingWeights, tune
from jupyter_speechcustom.asr.families import CTCFamily, HybridFamily, TransducerFamily
from jupyter_speechcustom.asr.models import load_base_model
from jupyter_speechcustom.asr.recognize import acoustic_outputs, greedy_decode
from jupyter_speechcustom.constants import NGRAM_TOKEN_OFFSET
from jupyter_speechcustom.io.manifest import Utterance, read_manifest
from jupyter_speechcustom.lm.language_model import build_language_model
from jupyter_speechcustom.services.compare import run_comparison

pytestmark = pytest.mark.slow

FAMILY_CLASSES = {"ctc_bpe": CTCFamily, "hybrid_tdt_ctc": HybridFamily, "tdt": TransducerFamily,
                  "rnnt": TransducerFamily}


@pytest.fixture(scope="session")
def family_models(tmp_path_factory) -> dict[str, Path]:
    from jupyter_speechcustom.demo.family_models import FAMILIES, build_family_model, train_tokenizer

    folder = tmp_path_factory.mktemp("family-models")
    tokenizer = train_tokenizer(folder / "tokenizer", vocab_size=128)
    return {family: build_family_model(family, folder / f"{family}.nemo", tokenizer) for family in FAMILIES}


@pytest.fixture(scope="session")
def test_audio() -> list[dict]:
    return read_manifest(demo.manifest("domain/test"))[:3]


@pytest.fixture(scope="session")
def family_lms(family_models, tmp_path_factory):
    folder = tmp_path_factory.mktemp("family-lms")
    return {family: build_language_model(load_base_model(path), [demo.corpus_path()], folder / family,
                                         words=demo.custom_words_path())
            for family, path in family_models.items()}


@pytest.mark.parametrize("family", list(FAMILY_CLASSES))
def test_each_family_loads_decodes_and_fuses_the_custom_lm(family, family_models, family_lms, test_audio):
    base = load_base_model(family_models[family])
    assert type(base.family) is FAMILY_CLASSES[family]
    assert len(base.vocabulary) == base.tokenizer.vocab_size == 128 and base.blank_id == 128
    assert not base.is_character_model
    paths = [e["audio_filepath"] for e in test_audio]
    outputs = acoustic_outputs(base, paths)
    assert len(outputs) == 3 and all(len(o.frames) > 0 and o.frame_shift == pytest.approx(0.08) for o in outputs)
    greedy = greedy_decode(base, outputs)
    assert greedy == greedy_decode(base, outputs[:1]) + greedy_decode(base, outputs[1:])  # batching changes nothing

    lm = family_lms[family]
    arpa = lm.token_arpa.read_text(encoding="utf-8")
    unigrams = arpa.split("\\1-grams:")[1].split("\\2-grams:")[0].split("\n")  # not splitlines: tokens may be U+0085
    ids = {ord(line.split("\t")[1]) - NGRAM_TOKEN_OFFSET for line in unigrams
           if "\t" in line and line.split("\t")[1] not in ("<s>", "</s>", "<unk>")}
    assert ids and ids <= set(range(128))  # the LM is written in the model's own BPE pieces

    decoder = Decoder(base, lm)
    assert decoder.boost_phrases  # custom words become boosting phrases through the BPE tokenizer
    plain = decoder.decode_text(outputs, DecodingWeights(lm_alpha=0.0, boost_alpha=0.0))
    assert plain == greedy
    fused = decoder.decode_text(outputs, DecodingWeights(lm_alpha=2.0, lm_beta=1.0, boost_alpha=2.0, beam_size=4))
    assert len(fused) == 3 and all(isinstance(t, str) for t in fused)
    again = decoder.decode_text(outputs[:1], DecodingWeights(lm_alpha=2.0, lm_beta=1.0, boost_alpha=2.0, beam_size=4))
    assert again == fused[:1]  # an utterance decodes the same whatever it is batched with
    # N-best: the best transcript stays what it was; the next-best ones are other, distinct texts.
    ranked = decoder.decode(outputs, DecodingWeights(lm_alpha=2.0, lm_beta=1.0, boost_alpha=2.0, beam_size=4),
                            alternatives=3)
    assert [t.text for t in ranked] == fused
    for t in ranked:
        assert len(t.alternatives) <= 2 and len(set(t.alternatives)) == len(t.alternatives)
        assert t.text not in t.alternatives
    assert any(t.alternatives for t in ranked)
    transcripts = decoder.decode(outputs[:1], DecodingWeights(lm_alpha=0.0, boost_alpha=0.0))
    words = transcripts[0].words
    assert [w["word"] for w in words] == transcripts[0].text.split()
    for w in words:
        if w["start"] is not None:
            assert 0 <= w["start"] < w["end"] <= outputs[0].duration + 1e-6
            assert 0 <= w["confidence"] <= 1


def test_a_hybrid_decodes_with_either_head_from_one_cached_encoder_output(family_models, test_audio):
    transducer = load_base_model(family_models["hybrid_tdt_ctc"])
    ctc = load_base_model(family_models["hybrid_tdt_ctc"], head="ctc")
    assert transducer.head is None and ctc.head == "ctc"  # the model keeps the head; its family holds none
    outputs = acoustic_outputs(transducer, [e["audio_filepath"] for e in test_audio])
    assert greedy_decode(ctc, outputs) == greedy_decode(ctc, acoustic_outputs(ctc, [o.audio for o in outputs]))
    words = Decoder(transducer).decode(outputs[:1])[0].words
    assert all(w["start"] is not None for w in words)  # the CTC head aligns whatever the transducer wrote
    with pytest.raises(ValueError, match="hybrid models only"):
        load_base_model(family_models["tdt"], head="ctc")
    with pytest.raises(ValueError, match="'transducer' and a 'ctc' head"):
        load_base_model(family_models["hybrid_tdt_ctc"], head="joint")


@pytest.mark.parametrize("family", ["hybrid_tdt_ctc", "tdt"])
def test_tuning_and_comparisons_work_on_transducers(family, family_models, family_lms, test_audio):
    base = load_base_model(family_models[family])
    lm = family_lms[family]
    items = [Utterance.from_entry(e) for e in test_audio]
    weights = DecodingWeights(lm_alpha=1.0, beam_size=2)
    comparison = run_comparison(base, items, ["base", "+LM"], label="three", lm=lm, weights=weights)
    assert set(comparison.evaluations) == {"base", "+LM"}
    outputs = comparison.outputs["base"]
    references = [i.text or "" for i in items]
    result = tune(Decoder(base, lm, weights=weights), outputs, references,
                  lm_alphas=(0.0, 1.0), lm_betas=(0.0, 2.0), boost_alphas=(0.0,))
    assert {w.lm_alpha for w, _ in result.grid} == {0.0, 1.0} and result.best_wer >= 0
    # A transducer's beam search has no length bonus: no lm_beta is tried, the decoder's stays.
    assert not base.family.length_bonus()
    tried = {(w.head, w.lm_beta) for w, _ in result.grid}
    if family == "tdt":
        assert tried == {(None, weights.lm_beta)}
    else:  # a hybrid's heads are both tried, on one cached encoder output; its CTC head has a length bonus
        assert tried == {("transducer", weights.lm_beta), ("ctc", 0.0), ("ctc", 2.0)}
        assert result.best.head in ("transducer", "ctc") and len(result.grid) == 6
        ctc_weights = replace(weights, head="ctc")
        ctc = load_base_model(family_models[family], head="ctc")  # loaded with that head: the same transcripts
        assert Decoder(base, lm).decode_text(outputs, ctc_weights) == Decoder(ctc, lm).decode_text(outputs, weights)
        assert greedy_decode(base, outputs, head="ctc") == greedy_decode(ctc, outputs)
        only = tune(Decoder(base, lm, weights=weights), outputs, references, lm_alphas=(1.0,), heads=("transducer",))
        assert {w.head for w, _ in only.grid} == {"transducer"}


@pytest.mark.parametrize("family", ["tdt", "hybrid_tdt_ctc"])
def test_tdt_models_fine_tune_on_the_cpu(family, family_models, tmp_path, test_audio):
    import torch

    from jupyter_speechcustom.am.acoustic_model import train_acoustic_model

    base = load_base_model(family_models[family])
    assert base.family.training_problem(base.asr_model, "cpu") is None
    result = train_acoustic_model(base, test_audio, tmp_path / "am.nemo", mode="supervised", epochs=1,
                                  batch_size=3, general=None, general_test=None)
    trained = load_base_model(tmp_path / "am.nemo")
    assert type(trained.family) is type(base.family)
    assert result.history and all(r.train_loss is not None and math.isfinite(r.train_loss) for r in result.history)
    before, after = base.asr_model.joint.state_dict(), trained.asr_model.joint.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)  # the TDT joint learned


def test_models_of_every_family_derive_from_a_hybrid(family_models, tmp_path, test_audio):
    import numpy as np

    from jupyter_speechcustom.demo.family_models import derive_family_model

    hybrid_path = family_models["hybrid_tdt_ctc"]
    paths = [e["audio_filepath"] for e in test_audio[:2]]
    hybrid = load_base_model(hybrid_path)
    encoded = acoustic_outputs(hybrid, paths)

    ctc = load_base_model(derive_family_model(hybrid_path, "ctc_bpe", tmp_path / "ctc.nemo"))
    assert type(ctc.family) is CTCFamily and ctc.vocabulary == hybrid.vocabulary
    for mine, theirs in zip(acoustic_outputs(ctc, paths), encoded, strict=True):  # the CTC head's log-probs
        assert np.allclose(mine.frames, hybrid.family.project(hybrid.asr_model, theirs.frames, "ctc"), atol=1e-4)

    tdt = load_base_model(derive_family_model(hybrid_path, "tdt", tmp_path / "tdt.nemo"))
    assert type(tdt.family) is TransducerFamily and tdt.family.durations(tdt.asr_model) == [0, 1, 2, 3, 4]
    tdt_encoded = acoustic_outputs(tdt, paths)
    assert all(np.allclose(a.frames, b.frames, atol=1e-4) for a, b in zip(tdt_encoded, encoded, strict=True))
    assert tdt.family.greedy_ids(tdt.asr_model, [o.frames for o in tdt_encoded]) == \
        hybrid.family.greedy_ids(hybrid.asr_model, [o.frames for o in encoded])

    rnnt = load_base_model(derive_family_model(hybrid_path, "rnnt", tmp_path / "rnnt.nemo"))
    assert type(rnnt.family) is TransducerFamily and rnnt.family.durations(rnnt.asr_model) is None
    assert all(np.allclose(a.frames, b.frames, atol=1e-4)
               for a, b in zip(acoustic_outputs(rnnt, paths), encoded, strict=True))


@pytest.mark.parametrize("family", list(FAMILY_CLASSES))
def test_each_family_pseudo_labels_and_its_customization_travels_in_a_bundle(family, family_models, family_lms,
                                                                               test_audio, tmp_path):
    import shutil

    from jupyter_speechcustom.am.acoustic_model import pseudo_label
    from jupyter_speechcustom.services.workspace import Workspace
    from jupyter_speechcustom.store.bundle import export_bundle, import_bundle

    base = load_base_model(family_models[family])
    untranscribed = [{k: v for k, v in e.items() if k != "text"} for e in test_audio]
    labels = pseudo_label(base, untranscribed, lm=family_lms[family], threshold=0.0)
    assert [r.audio_filepath for r in labels] == [e["audio_filepath"] for e in test_audio]
    assert all(0.0 <= r.confidence <= 1.0 and r.kept for r in labels)

    source = Workspace(tmp_path / "source")
    lm_rec = source.add_language_model(family_lms[family].path, name=f"{family}-lm")
    am_copy = tmp_path / f"{family}-custom.nemo"
    shutil.copyfile(family_models[family], am_copy)  # stands in for a fine-tuned model of the same base
    am_rec = source.add_acoustic_model(am_copy, name=f"{family}-am",
                                       base={"name": base.name, "fingerprint": base.fingerprint})
    bundle = export_bundle(source, tmp_path / "bundle.zip", lm_id=lm_rec.id, am_id=am_rec.id)
    target = Workspace(tmp_path / "target")
    new = import_bundle(target, bundle)
    lm = target.language_model(new["language_model"])
    lm.check_base(base)
    imported_am = load_base_model(target.get(new["acoustic_model"]).path)
    assert type(imported_am.family) is FAMILY_CLASSES[family]
    outputs = acoustic_outputs(base, [e["audio_filepath"] for e in test_audio])
    fused = DecodingWeights(lm_alpha=1.0, boost_alpha=1.0, beam_size=2)
    assert Decoder(base, lm).decode_text(outputs, fused) == Decoder(base, family_lms[family]).decode_text(outputs, fused)


def test_tuned_weights_are_saved_with_the_lm_and_decoders_start_from_them(family_models, family_lms, test_audio,
                                                                         tmp_path):
    import shutil

    from jupyter_speechcustom.asr.decoding import default_weights, tuned_weights
    from jupyter_speechcustom.constants import LM_ALPHA, LM_BETA, TRANSDUCER_LM_ALPHA
    from jupyter_speechcustom.lm.language_model import CustomLanguageModel
    from jupyter_speechcustom.services.compare import tune_language_model

    base = load_base_model(family_models["hybrid_tdt_ctc"])
    shutil.copytree(family_lms["hybrid_tdt_ctc"].path, tmp_path / "lm")
    lm = CustomLanguageModel.load(tmp_path / "lm")
    # Untuned, a hybrid fuses the LM on its CTC head (length bonus); without an LM it is the base as loaded.
    untuned = DecodingWeights(lm_alpha=LM_ALPHA, lm_beta=LM_BETA, head="ctc")
    assert lm.tuning is None and Decoder(base, lm).weights == default_weights(base, lm) == untuned
    assert Decoder(base).weights == default_weights(base) and Decoder(base).weights.head is None
    items = [Utterance.from_entry(e) for e in test_audio]
    assert tune_language_model(base, lm, [Utterance(items[0].audio, None, title="x")]) is None  # nothing transcribed
    tuned = tune_language_model(base, lm, items, label="three utterances")
    assert tuned is not None and tuned.tuning is not None
    assert tuned.tuning["dev_set"] == "three utterances" and tuned.tuning["utterances"] == 3
    assert tuned.tuning["weights"]["head"] in ("transducer", "ctc") and tuned.tuning["dev_wer"] >= 0
    reloaded = CustomLanguageModel.load(tmp_path / "lm")  # kept in lm.json
    assert reloaded.tuning == tuned.tuning
    assert Decoder(base, reloaded).weights == DecodingWeights(**tuned.tuning["weights"])
    # A model with one decoder takes the weights but not the head.
    tdt = load_base_model(family_models["tdt"])
    assert tuned_weights(reloaded, tdt) == DecodingWeights(**{**tuned.tuning["weights"], "head": None})
    assert default_weights(tdt, reloaded) == DecodingWeights(lm_alpha=TRANSDUCER_LM_ALPHA)
    # Damaged saved weights are left out, not fatal: decoding starts from the defaults.
    broken = reloaded.save_tuning({"lm_alpha": -1, "beam_size": 8}, 0.5, "x", 1)
    assert tuned_weights(broken, base) is None and Decoder(base, broken).weights == untuned


@pytest.mark.parametrize("family", ["tdt", "rnnt"])
def test_transducer_fusion_ranks_candidates_by_the_fused_score(family, family_models, family_lms):
    from nemo.collections.asr.parts.utils.batched_beam_decoding_utils import PruningMode

    base = load_base_model(family_models[family])
    lm_model = Decoder(base, family_lms[family])._lm_model
    fused = base.family.beam_search(base.asr_model, beam_size=4, fusion_models=[lm_model], fusion_alphas=[0.5])
    assert fused.pruning_mode == PruningMode.LATE  # the LM can bring in a token the acoustic top-k lacks
    plain = base.family.beam_search(base.asr_model, beam_size=4, fusion_models=[], fusion_alphas=[])
    assert plain.fusion_models is None
