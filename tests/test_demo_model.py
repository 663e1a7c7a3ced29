"""The demo model, a hybrid TDT + CTC FastConformer (BPE tokenizer) of the family users bring: it
recognizes the demo's speech, and its custom LM, built in its own BPE pieces, cuts its domain
errors through either head."""

from __future__ import annotations

import pytest

from jupyter_speechcustom import demo
from jupyter_speechcustom.asr.decoding import Decoder, tune
from jupyter_speechcustom.asr.families import HybridFamily
from jupyter_speechcustom.asr.models import load_base_model
from jupyter_speechcustom.asr.recognize import acoustic_outputs, greedy_decode
from jupyter_speechcustom.evaluation.metrics import evaluate
from jupyter_speechcustom.io.manifest import read_manifest
from jupyter_speechcustom.lm.language_model import build_language_model

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sets() -> dict[str, list[dict]]:
    return {split: read_manifest(demo.manifest(split)) for split in ("domain/dev", "domain/test", "general/test")}


@pytest.fixture(scope="module")
def hybrid_lm(tmp_path_factory):
    base = load_base_model(demo.PROFILE.name)
    return build_language_model(base, [demo.corpus_path()], tmp_path_factory.mktemp("hybrid-lm") / "lm",
                                words=demo.custom_words_path())


@pytest.mark.parametrize("head", ["transducer", "ctc"])
def test_the_custom_lm_cuts_the_hybrids_domain_errors_on_either_head(head, sets, hybrid_lm):
    base = load_base_model(demo.PROFILE.name, head=head)
    assert isinstance(base.family, HybridFamily) and base.head == head
    assert base.tokenizer is not None and not base.is_character_model
    decoder = Decoder(base, hybrid_lm)  # an LM of one head decodes with the other: one tokenizer
    dev, test = sets["domain/dev"], sets["domain/test"]
    tuned = tune(decoder, acoustic_outputs(base, [e["audio_filepath"] for e in dev]), [e["text"] for e in dev],
                 heads=(head,))
    outputs = acoustic_outputs(base, [e["audio_filepath"] for e in test])
    refs = [e["text"] for e in test]
    greedy = evaluate(refs, greedy_decode(base, outputs)).wer
    fused = evaluate(refs, decoder.decode_text(outputs, tuned.best)).wer
    print(f"{head}: domain test WER greedy {greedy:.1%}, + custom LM {fused:.1%} at {tuned.best}")
    assert greedy < 0.8  # it hears words, though the domain's jargon is new to it
    assert fused < 0.6 * greedy


def test_the_hybrid_recognizes_general_speech_by_a_voice_it_never_heard(sets):
    base = load_base_model(demo.PROFILE.name)
    entries = sets["general/test"]
    outputs = acoustic_outputs(base, [e["audio_filepath"] for e in entries])
    wer = evaluate([e["text"] for e in entries], greedy_decode(base, outputs)).wer
    print(f"general test WER {wer:.1%}")
    assert wer < 0.55
