"""Utterance confidence of pseudo-labels, on the demo's real audio with both demo models, and small
untrained family models."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from jupyter_speechcustom import demo
from jupyter_speechcustom.am.acoustic_model import calibrated_threshold, pseudo_label
from jupyter_speechcustom.asr.confidence import (
    fuses,
    mean_word_confidence,
    posterior_reference,
    stability,
    utterance_confidences,
    word_agreement,
)
from jupyter_speechcustom.asr.decoding import Decoder, DecodingWeights
from jupyter_speechcustom.asr.models import load_base_model
from jupyter_speechcustom.asr.recognize import Transcript, acoustic_outputs
from jupyter_speechcustom.constants import CONFIDENCE_THRESHOLD
from jupyter_speechcustom.evaluation.metrics import evaluate
from jupyter_speechcustom.io.manifest import read_manifest
from jupyter_speechcustom.lm.language_model import build_language_model


def test_word_agreement_is_the_share_of_the_labels_words_an_alignment_keeps():
    assert word_agreement("scale the web deployment", "scale the web deployment") == 1.0
    assert word_agreement("scale the web deployment", "scale a web deployment") == 0.75
    assert word_agreement("scale the web deployment", "scale the web deployment now please") == 1.0
    assert word_agreement("scale the web deployment", "the deployment") == 0.5
    assert word_agreement("a b a", "a a") == pytest.approx(2 / 3)
    assert word_agreement("", "anything") == word_agreement("something", "") == 0.0


def test_the_posterior_reference_is_the_median_word_posterior_of_the_run():
    def transcript(*confidences: float | None) -> Transcript:
        return Transcript(" ".join("w" for _ in confidences), "a.wav",
                          tuple({"word": "w", "confidence": c} for c in confidences))

    assert posterior_reference([transcript(0.9, 0.2), transcript(0.5, None)]) == 0.5
    assert posterior_reference([transcript(0.9, 0.2), transcript(0.6, 0.5)]) == pytest.approx(0.55)
    assert posterior_reference([transcript(None), transcript()]) == 0.0


@pytest.fixture(scope="module")
def char_model():
    """The character CTC demo model, by its own name."""
    return load_base_model("demo-char")


@pytest.fixture(scope="module")
def char_lm(tmp_path_factory, char_model):
    return build_language_model(char_model, [demo.corpus_path()], tmp_path_factory.mktemp("lm") / "domain",
                                words=demo.custom_words_path())


@pytest.fixture(scope="module")
def dev_audio() -> list[dict]:
    return read_manifest(demo.manifest("domain/dev"))[:6]


@pytest.fixture(scope="module")
def dev_outputs(char_model, dev_audio):
    return acoustic_outputs(char_model, [e["audio_filepath"] for e in dev_audio])


@pytest.fixture(scope="module")
def misleading_lm(tmp_path_factory, char_model):
    """An LM of the wrong text (the base model's general sentences) for the domain audio."""
    return build_language_model(char_model, [demo.general_text_path()], tmp_path_factory.mktemp("lm") / "general")


@pytest.mark.slow
def test_a_right_label_is_more_confident_than_a_wrong_one_of_the_same_audio(char_model, char_lm, misleading_lm,
                                                                             dev_audio, dev_outputs):
    right, wrong = Decoder(char_model, char_lm), Decoder(char_model, misleading_lm)
    right_labels, wrong_labels = right.decode(dev_outputs), wrong.decode(dev_outputs)
    right_conf = utterance_confidences(right, dev_outputs, right_labels)
    wrong_conf = utterance_confidences(wrong, dev_outputs, wrong_labels)
    assert all(0.0 <= c <= 1.0 for c in right_conf + wrong_conf)
    pairs = [(a, b) for e, r, w, a, b in zip(dev_audio, right_labels, wrong_labels, right_conf, wrong_conf)
             if r.text == e["text"] and w.text != e["text"]]
    assert len(pairs) >= 3  # the domain LM gets several right that the general one gets wrong
    assert all(a > b for a, b in pairs)
    # deterministic, and a part of a run scored with the run's reference scores as in the whole run
    reference = posterior_reference(right_labels)
    assert utterance_confidences(right, dev_outputs[:2], right_labels[:2], reference=reference) == right_conf[:2]
    with pytest.raises(ValueError, match="reference must be a word posterior from 0 to 1"):
        utterance_confidences(right, dev_outputs[:1], right_labels[:1], reference=float("nan"))
    assert stability(wrong, dev_outputs[:2], [t.text for t in wrong_labels[:2]], scales=(1.0,)) == [1.0, 1.0]


@pytest.mark.slow
def test_without_an_lm_the_confidence_is_the_acoustic_posterior_against_the_runs_median(char_model, dev_outputs):
    decoder = Decoder(char_model)
    assert not fuses(decoder) and not fuses(Decoder(char_model), DecodingWeights(lm_alpha=0.0))
    transcripts = decoder.decode(dev_outputs)
    reference = posterior_reference(transcripts)
    assert 0 < reference < 1
    confidences = utterance_confidences(decoder, dev_outputs, transcripts)
    assert confidences == [pytest.approx(math.sqrt(min(mean_word_confidence(t.words) / reference, 1.0)))
                           for t in transcripts]
    assert 1.0 in confidences and min(confidences) < 1.0  # as sure as the model usually is: nothing lost


@pytest.mark.slow
def test_pseudo_label_keeps_rows_at_or_above_the_threshold_by_the_new_confidence(char_model, char_lm, dev_audio):
    entries = [{k: v for k, v in e.items() if k != "text"} for e in dev_audio[:3]]
    rows = pseudo_label(char_model, entries, lm=char_lm, threshold=0.9)
    decoder = Decoder(char_model, char_lm)
    outputs = acoustic_outputs(char_model, [e["audio_filepath"] for e in entries])
    expected = utterance_confidences(decoder, outputs, decoder.decode(outputs))
    assert [r.confidence for r in rows] == [round(c, 4) for c in expected]
    assert all(r.kept == (r.confidence >= 0.9) for r in rows)
    assert all(w.get("confidence") is not None for t in decoder.decode(outputs) for w in t.words)  # words keep theirs


@pytest.mark.slow
def test_the_default_threshold_keeps_the_better_labels_of_both_demo_models(char_model, char_lm, tmp_path):
    """The same default keeps labels on the character CTC and the hybrid TDT-CTC model, whose word
    posteriors are far apart (about 0.88 and 0.57 median on this audio), and what it keeps is
    better than what it drops."""
    entries = read_manifest(demo.manifest("domain/dev"))[:24]  # with 12, the character model keeps every label
    unlabelled = [{k: v for k, v in e.items() if k != "text"} for e in entries]
    hybrid = load_base_model("demo")
    hybrid_lm = build_language_model(hybrid, [demo.corpus_path()], tmp_path / "lm", words=demo.custom_words_path())
    for name, base, lm in (("demo-char", char_model, char_lm), ("demo", hybrid, hybrid_lm)):
        rows = pseudo_label(base, unlabelled, lm=lm, weights=DecodingWeights(lm_alpha=1.0, lm_beta=1.0))
        kept = [(e["text"], r.text) for e, r in zip(entries, rows) if r.kept]
        dropped = [(e["text"], r.text) for e, r in zip(entries, rows) if not r.kept]
        bar = calibrated_threshold([r.confidence for r in rows])  # the default: 0.94, lowered to keep 30%
        assert bar <= CONFIDENCE_THRESHOLD and all(r.kept == (r.confidence >= bar) for r in rows)
        assert kept and dropped, (name, [r.confidence for r in rows])
        kept_wer = evaluate([ref for ref, _ in kept], [hyp for _, hyp in kept]).wer
        dropped_wer = evaluate([ref for ref, _ in dropped], [hyp for _, hyp in dropped]).wer
        assert kept_wer < dropped_wer, (name, kept_wer, dropped_wer)


@pytest.fixture(scope="module")
def family_models(tmp_path_factory) -> dict[str, Path]:
    from jupyter_speechcustom.demo.family_models import build_family_model, train_tokenizer

    folder = tmp_path_factory.mktemp("family-models")
    tokenizer = train_tokenizer(folder / "tokenizer", vocab_size=128)
    return {family: build_family_model(family, folder / f"{family}.nemo", tokenizer)
            for family in ("tdt", "hybrid_tdt_ctc")}


@pytest.mark.slow
@pytest.mark.parametrize("family", ["tdt", "hybrid_tdt_ctc"])
def test_an_untrained_model_of_each_family_gets_a_confidence(family, family_models, tmp_path):
    base = load_base_model(family_models[family])
    lm = build_language_model(base, [demo.corpus_path()], tmp_path / "lm", words=demo.custom_words_path())
    audio = read_manifest(demo.manifest("domain/test"))[:2]
    outputs = acoustic_outputs(base, [e["audio_filepath"] for e in audio])
    decoder = Decoder(base, lm, weights=DecodingWeights(lm_alpha=2.0, lm_beta=1.0, beam_size=4))
    transcripts = decoder.decode(outputs)
    confidences = utterance_confidences(decoder, outputs, transcripts)
    assert len(confidences) == 2 and all(0.0 <= c <= 1.0 for c in confidences)
    assert all(c == 0.0 for c, t in zip(confidences, transcripts) if not t.text.strip())
    assert utterance_confidences(decoder, outputs, transcripts) == confidences


def test_the_default_bar_is_calibrated_on_the_audio_being_labelled():
    """0.94 where enough labels clear it; lowered to keep the most confident share on a new domain;
    never below the floor."""
    from jupyter_speechcustom.constants import CONFIDENCE_FLOOR, CONFIDENCE_KEEP_SHARE

    sure = [0.99] * 60 + [0.5] * 40  # the model hears this domain well: the fixed bar keeps 60%
    assert calibrated_threshold(sure) == CONFIDENCE_THRESHOLD
    spread = [0.5 + i / 200 for i in range(100)]  # 0.50-0.995: the fixed bar keeps 12%
    bar = calibrated_threshold(spread)
    assert CONFIDENCE_FLOOR <= bar < CONFIDENCE_THRESHOLD
    assert sum(c >= bar for c in spread) == pytest.approx(CONFIDENCE_KEEP_SHARE * 100, abs=1)
    assert calibrated_threshold([0.3] * 90 + [0.7] * 10) == CONFIDENCE_FLOOR  # nothing good: nothing below the floor
    assert calibrated_threshold([]) == CONFIDENCE_THRESHOLD
