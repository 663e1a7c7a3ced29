"""Custom LMs on the real demo model: KenLM builds, NeMo NGPU-LM fusion, tuning, bad input."""

import json
import re

import pytest

from jupyter_speechcustom import demo
from jupyter_speechcustom.asr.decoding import Decoder, DecodingWeights, default_weights, tune
from jupyter_speechcustom.asr.recognize import greedy_decode
from jupyter_speechcustom.constants import GENERAL_TEXT_WEIGHT, KENLM_BIN_ENV, TUNE_CONFIDENCE
from jupyter_speechcustom.errors import BaseModelMismatchError, BuildersMissingError, CorpusError
from jupyter_speechcustom.evaluation.metrics import evaluate
from jupyter_speechcustom.lm.language_model import (
    CustomLanguageModel,
    LanguageModelError,
    build_language_model,
    choose_order,
)
from jupyter_speechcustom.services.recognition import Recognizer

pytestmark = pytest.mark.slow


def test_token_arpa_is_in_nemo_ngpu_format(demo_lm, demo_model):
    from nemo.collections.asr.parts.submodules.ngram_lm.constants import DEFAULT_TOKEN_OFFSET

    text = demo_lm.token_arpa.read_text(encoding="utf-8")
    counts = dict(re.findall(r"ngram (\d+)=(\d+)", text))
    assert int(max(counts)) == demo_lm.order
    unigrams = text.split("\\1-grams:")[1].split("\\2-grams:")[0].split("\n")
    tokens = {line.split("\t")[1] for line in unigrams if "\t" in line} - {"<s>", "</s>", "<unk>"}
    ids = {ord(t) - DEFAULT_TOKEN_OFFSET for t in tokens}
    assert ids <= set(range(len(demo_model.vocabulary)))
    if demo_model.is_character_model:
        assert 0 in ids  # the space token of a character model is modelled too


def test_perplexity_prefers_domain_text(demo_lm, demo_model):
    in_domain = demo_lm.perplexity("scale the checkout deployment in the payments namespace", demo_model)
    general = demo_lm.perplexity("the old farmer planted corn in the spring", demo_model)
    assert 1 < in_domain < general


def test_damaged_lm_file_is_a_clear_error(tmp_path, demo_model, demo_lm, capfd):
    import shutil

    copy = CustomLanguageModel.load(shutil.copytree(demo_lm.path, tmp_path / "lm"))
    copy.token_arpa.write_text("\\data\\\nngram 1=zz\n")
    with pytest.raises(LanguageModelError, match="cannot load .*tokens.arpa.*rebuild the language model"):
        copy.perplexity("restart the pods", demo_model)
    assert "Loading the LM" not in capfd.readouterr().err  # KenLM's own chatter stays out of sight


def test_word_model_export_loads_in_kenlm(tmp_path, demo_model):
    import kenlm

    lm = build_language_model(demo_model, [demo.corpus_path()], tmp_path / "lm", word_model=True)
    model = kenlm.Model(str(lm.word_binary))
    assert model.order == 3 and lm.word_arpa.read_text().startswith("\\data\\")
    assert model.score("restart the pods") > model.score("pods the restart")


def test_metadata_ties_lm_to_its_base(demo_lm, demo_model, other_model):
    loaded = CustomLanguageModel.load(demo_lm.path)
    assert loaded.base_model == {"name": "demo", "fingerprint": demo_model.fingerprint}
    assert len(loaded.words) >= 30 and loaded.corpora[0]["sentences"] >= 1000
    loaded.check_base(demo_model)
    with pytest.raises(BaseModelMismatchError, match="rebuild it on this base model"):
        Decoder(other_model, demo_lm)
    with pytest.raises(BaseModelMismatchError):
        Recognizer(other_model, lm=demo_lm.path)


@pytest.fixture(scope="module")
def dev_set(demo_model):
    """The demo's domain dev set: its acoustic outputs and references, for tuning as the chain does."""
    from jupyter_speechcustom import read_manifest
    from jupyter_speechcustom.asr.recognize import acoustic_outputs

    entries = read_manifest(demo.manifest("domain/dev"), require_text=True)
    return acoustic_outputs(demo_model, [e["audio_filepath"] for e in entries]), [e["text"] for e in entries]


@pytest.fixture(scope="module")
def general_set(demo_model):
    """The first 50 utterances of the demo's general test set (a voice the models never heard)."""
    from jupyter_speechcustom import read_manifest
    from jupyter_speechcustom.asr.recognize import acoustic_outputs

    entries = read_manifest(demo.manifest("general/test"), require_text=True)[:50]
    return acoustic_outputs(demo_model, [e["audio_filepath"] for e in entries]), [e["text"] for e in entries]


@pytest.fixture(scope="module")
def tuned(demo_model, demo_lm, dev_set):
    """The default custom LM's weights, tuned on the domain dev set as the chain tunes them."""
    return tune(Decoder(demo_model, demo_lm), *dev_set).best


def test_custom_lm_halves_test_wer(demo_model, demo_lm, domain_test, domain_test_outputs, tuned, dev_set):
    """The custom LM, at the weights and head tuned on the dev set, halves the domain WER of greedy
    decoding; through the TDT head alone, whose beam search has no word bonus, it cuts it by 46%
    (the README's benchmarks give both); through the CTC head alone it halves its own greedy WER."""
    from jupyter_speechcustom.asr.models import load_base_model

    refs = [e["text"] for e in domain_test]
    base_wer = evaluate(refs, greedy_decode(demo_model, domain_test_outputs)).wer
    decoder = Decoder(demo_model, demo_lm)
    lm_wer = evaluate(refs, decoder.decode_text(domain_test_outputs, tuned)).wer
    assert lm_wer <= 0.5 * base_wer, (base_wer, lm_wer, tuned)
    transducer = tune(decoder, *dev_set, heads=("transducer",)).best
    tdt_wer = evaluate(refs, decoder.decode_text(domain_test_outputs, transducer)).wer
    assert tdt_wer <= 0.6 * base_wer, (base_wer, tdt_wer)
    ctc = load_base_model("demo", head="ctc")  # the same encoder outputs, decoded by the other head
    ctc_decoder = Decoder(ctc, demo_lm)
    ctc_base = evaluate(refs, greedy_decode(ctc, domain_test_outputs)).wer
    ctc_lm = evaluate(refs, ctc_decoder.decode_text(domain_test_outputs, tune(ctc_decoder, *dev_set).best)).wer
    assert ctc_lm <= 0.5 * ctc_base, (ctc_base, ctc_lm)


def test_general_text_is_mixed_in_by_default_and_can_be_left_out(tmp_path, demo_model, demo_lm):
    general = demo_model.profile.general_text
    assert demo_lm.general_text == str(general) and demo_lm.general_weight == GENERAL_TEXT_WEIGHT
    meta = json.loads((demo_lm.path / "lm.json").read_text())
    words = meta["training_words"]
    assert words["general"] / (words["general"] + words["domain"]) == pytest.approx(GENERAL_TEXT_WEIGHT, abs=0.05)
    # Off: "none", or a share of 0; "auto" and None are the default.
    for options in ({"general_text": "none"}, {"general_weight": 0.0}):
        lm = build_language_model(demo_model, [demo.corpus_path()], tmp_path / "lm", overwrite=True, **options)
        meta = json.loads((lm.path / "lm.json").read_text())
        assert lm.general_text is None and lm.general_weight == 0.0 and meta["training_words"]["general"] == 0
        assert "fermentation" not in lm.corpus_text.read_text()  # a word of the general text only
    lm = build_language_model(demo_model, [demo.corpus_path()], tmp_path / "lm", overwrite=True, general_text=None)
    assert lm.general_text == str(general)


def test_a_model_without_general_text_builds_a_domain_lm_unless_base_is_asked(tmp_path, other_model):
    assert other_model.profile is None
    lm = build_language_model(other_model, [demo.corpus_path()], tmp_path / "lm")  # "auto": nothing to mix in
    assert lm.general_text is None and lm.general_weight == 0.0
    with pytest.raises(CorpusError, match="is not known: pass general_text= a file .*'none'"):
        build_language_model(other_model, [demo.corpus_path()], tmp_path / "lm2", general_text="base")
    assert not (tmp_path / "lm2").exists()


def test_default_lm_keeps_general_speech_a_domain_only_lm_does_not(tmp_path, demo_model, demo_lm, tuned, dev_set,
                                                                   general_set):
    """Weights tuned on domain speech: the default LM keeps general speech near greedy decoding,
    a domain-only LM at its own tuned weights does worse on it."""
    outputs, refs = general_set
    greedy = evaluate(refs, greedy_decode(demo_model, outputs)).wer
    domain_only = build_language_model(demo_model, [demo.corpus_path()], tmp_path / "lm",
                                       words=demo.custom_words_path(), general_text="none")
    domain_only_decoder = Decoder(demo_model, domain_only)
    wers = {"default": evaluate(refs, Decoder(demo_model, demo_lm).decode_text(outputs, tuned)).wer,
            "domain only": evaluate(refs, domain_only_decoder.decode_text(
                outputs, tune(domain_only_decoder, *dev_set).best)).wer}
    assert wers["default"] <= greedy + 0.03, (greedy, wers)
    assert wers["default"] < wers["domain only"], (greedy, wers)


def test_an_utterance_decodes_the_same_alone_or_batched_with_longer_ones(demo_model, demo_lm, domain_test_outputs):
    decoder = Decoder(demo_model, demo_lm)
    outputs = domain_test_outputs[:24]  # batches mix lengths; the shorter ones are padded
    batched = decoder.decode_text(outputs)
    assert batched == [decoder.decode_text([out])[0] for out in outputs]


def test_tune_searches_the_grid_from_cached_log_probs(demo_model, demo_lm, domain_test, domain_test_outputs):
    refs = [e["text"] for e in domain_test][:20]
    result = tune(Decoder(demo_model, demo_lm), domain_test_outputs[:20], refs, lm_alphas=(0.0, 0.5, 1.0),
                  lm_betas=(0.5, 1.5), boost_alphas=(0.0,))
    # Both heads of the hybrid: the transducer's search has no lm_beta to try, the CTC head's has.
    assert sorted((w.head, w.lm_beta) for w, _ in result.grid) == sorted(
        [("transducer", DecodingWeights().lm_beta)] * 3 + [("ctc", 0.5)] * 3 + [("ctc", 1.5)] * 3)
    if result.kept_defaults:  # the best point won too few resamples of the dev set: the defaults stand
        assert result.confidence is not None and result.confidence < TUNE_CONFIDENCE
        defaults = default_weights(demo_model, demo_lm)
        assert (result.best.lm_alpha, result.best.lm_beta, result.best.head) == (
            defaults.lm_alpha, defaults.lm_beta, defaults.head)
    else:
        assert result.best_wer == min(wer for _, wer in result.grid)
    no_lm = [wer for w, wer in result.grid if w.lm_alpha == 0.0]
    assert result.best_wer < min(no_lm)


def test_transcripts_carry_timings_confidences_and_display_forms(demo_model, demo_lm, domain_test):
    recognizer = Recognizer(demo_model, lm=demo_lm)
    t = recognizer.transcribe([domain_test[0]["audio_filepath"]])[0]
    assert t.text and len(t.words) == len(t.text.split())
    starts = [w["start"] for w in t.words]
    assert starts == sorted(starts) and t.words[-1]["end"] <= len(t.text) + 30
    assert all(0 <= w["confidence"] <= 1 for w in t.words)
    kube = [w for w in demo_lm.words if w.word == "kubernetes"][0]
    assert kube.display_as == "Kubernetes"
    recognizer.decoder.words = (kube,)
    assert recognizer.decoder.decode([recognizer.acoustic_outputs([domain_test[0]["audio_filepath"]])[0]])


def test_display_as_reaches_transcripts(demo_model, demo_lm, domain_test_outputs, domain_test):
    decoder = Decoder(demo_model, demo_lm)
    transcripts = decoder.decode(domain_test_outputs)
    shown = [t for t in transcripts if t.display_text and t.display_text != t.text]
    assert shown, "no test transcript contains a custom word with a display form"
    assert any(w.display_as in shown[0].display_text for w in demo_lm.words if w.display_as)


def test_phrase_boosting_runs_on_a_character_model(demo_model, domain_test_outputs):
    decoder = Decoder(demo_model, words=(), boost_phrases=["kubectl", "terraform", "grafana"])
    boosted = decoder.decode_text(domain_test_outputs[:5], DecodingWeights(boost_alpha=1.0))
    assert len(boosted) == 5 and all(isinstance(t, str) for t in boosted)


def test_order_follows_corpus_size():
    assert choose_order(5_000, True) < choose_order(500_000, True)
    assert choose_order(5_000, False) < choose_order(5_000, True)


@pytest.mark.parametrize(
    ("content", "match"),
    [(b"", "empty"), (bytes(range(256)) * 20, "binary"), ("★☆✓ ✗ ❤ 漢字 ☀".encode(), "normalization")],
    ids=["empty", "binary", "no-usable-characters"],
)
def test_bad_corpora_fail_clearly_and_leave_nothing(tmp_path, demo_model, content, match):
    corpus = tmp_path / "corpus.txt"
    corpus.write_bytes(content)
    out = tmp_path / "lm"
    with pytest.raises(CorpusError, match=match):
        build_language_model(demo_model, [corpus], out)
    assert not out.exists()
    assert corpus.read_bytes() == content
    assert [p.name for p in tmp_path.iterdir()] == ["corpus.txt"]


def test_non_utf8_corpus_is_decoded(tmp_path, demo_model):
    corpus = tmp_path / "legacy.txt"
    corpus.write_bytes("the café’s résumé mentions kubectl\nrestart the pods\n".encode("cp1252"))
    lm = build_language_model(demo_model, [corpus], tmp_path / "lm", order=3)
    assert "cafe's resume mentions kubectl" in lm.corpus_text.read_text()


def test_failed_rebuild_keeps_the_existing_lm(tmp_path, demo_model, demo_lm):
    import shutil

    target = tmp_path / "lm"
    shutil.copytree(demo_lm.path, target)
    before = {p.name: p.read_bytes() for p in target.iterdir()}
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(CorpusError):
        build_language_model(demo_model, [empty], target, overwrite=True)
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before


def test_builder_failing_mid_stream_is_reported_and_keeps_the_existing_lm(tmp_path, monkeypatch, demo_model,
                                                                           demo_lm):
    import shutil

    # An lmplz that stops reading half-way through its input and fails, as on a full disk.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    lmplz = bin_dir / "lmplz"
    lmplz.write_text("#!/bin/sh\nhead -c 1000 >/dev/null\necho 'No space left on device' >&2\nexit 1\n")
    lmplz.chmod(0o755)
    monkeypatch.setenv(KENLM_BIN_ENV, str(bin_dir))
    target = tmp_path / "models" / "lm"
    shutil.copytree(demo_lm.path, target)
    before = {p.name: p.read_bytes() for p in target.iterdir()}
    with pytest.raises(LanguageModelError, match="lmplz failed .*No space left on device"):
        build_language_model(demo_model, [demo.corpus_path()], target, overwrite=True)
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before
    assert [p.name for p in target.parent.iterdir()] == ["lm"]  # no half-built folder left behind


def test_missing_builders_fail_before_any_work(tmp_path, monkeypatch, demo_model):
    monkeypatch.setenv(KENLM_BIN_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(BuildersMissingError, match="speechcustom setup"):
        build_language_model(demo_model, [demo.corpus_path()], tmp_path / "lm")
    assert not (tmp_path / "lm").exists()


def test_progress_follows_the_one_convention(tmp_path, demo_model):
    calls: list[tuple[float, str]] = []
    build_language_model(demo_model, [demo.corpus_path()], tmp_path / "lm",
                         progress=lambda fraction, message: calls.append((fraction, message)))
    fractions = [f for f, _ in calls]
    assert fractions == sorted(fractions) and fractions[0] >= 0.0 and fractions[-1] == 1.0
    assert all(isinstance(m, str) and m for _, m in calls)


def test_bpe_lines_are_tokenized_word_by_word_exactly_as_whole_lines(demo_model):
    from jupyter_speechcustom.lm.tokens import piece_writer

    lines = demo.corpus_path().read_text(encoding="utf-8").splitlines()[:400]

    def whole(model, line):
        return " ".join(chr(i + 100) for i in model.text_to_ids(line))

    write = piece_writer(demo_model)
    assert [write(line) for line in lines] == [whole(demo_model, line) for line in lines]

    class JoinsWords:  # a tokenizer whose pieces cross spaces: whole lines it is
        def text_to_ids(self, text):
            return demo_model.text_to_ids(text.replace(" ", ""))

    joined = JoinsWords()
    write = piece_writer(joined)
    assert [write(line) for line in lines] == [whole(joined, line) for line in lines]


def test_untuned_decoding_starts_from_defaults_that_follow_the_model(demo_model, other_model, demo_lm):
    """Without tuning: the model as loaded when there is no LM (base is base); with one, a hybrid's
    CTC head at the word-piece weights, a character model at its own (its bonus is per letter)."""
    from jupyter_speechcustom.asr.decoding import default_weights, start_weights
    from jupyter_speechcustom.constants import CHARACTER_LM_ALPHA, CHARACTER_LM_BETA, LM_ALPHA, LM_BETA

    assert default_weights(demo_model) == DecodingWeights() and DecodingWeights().head is None
    assert default_weights(demo_model, demo_lm) == DecodingWeights(lm_alpha=LM_ALPHA, lm_beta=LM_BETA, head="ctc")
    assert other_model.is_character_model and not demo_model.is_character_model
    assert default_weights(other_model, demo_lm) == DecodingWeights(lm_alpha=CHARACTER_LM_ALPHA,
                                                                    lm_beta=CHARACTER_LM_BETA)
    assert demo_lm.tuning is None and start_weights(demo_lm, demo_model) == default_weights(demo_model, demo_lm)


def test_each_head_searches_its_own_beam_unless_one_is_set(demo_model, other_model, demo_lm, domain_test_outputs):
    """A CTC search (a hybrid's CTC head, a CTC model) keeps CTC_BEAM_SIZE hypotheses, a transducer's
    BEAM_SIZE; a beam the weights set is used as it is, and the wider beam is the default's transcripts."""
    from jupyter_speechcustom.constants import BEAM_SIZE, CTC_BEAM_SIZE

    decoder = Decoder(demo_model, demo_lm)
    assert decoder.weights.beam_size is None and decoder.beam_size() == CTC_BEAM_SIZE
    assert decoder.beam_size(DecodingWeights(head="transducer")) == BEAM_SIZE
    assert decoder.beam_size(DecodingWeights(head=None)) == BEAM_SIZE  # the hybrid as loaded: its transducer
    assert decoder.beam_size(DecodingWeights(beam_size=4, head="ctc")) == 4
    assert Decoder(other_model).beam_size(DecodingWeights()) == CTC_BEAM_SIZE
    outputs = domain_test_outputs[:3]
    wide = DecodingWeights(lm_alpha=1.4, lm_beta=5.0, beam_size=CTC_BEAM_SIZE, head="ctc")
    assert decoder.decode_text(outputs) == decoder.decode_text(outputs, wide)


def test_tuning_breaks_near_ties_towards_the_defaults(demo_model, demo_lm, dev_set):
    """A dev set of a few dozen utterances cannot tell a word's difference from noise: of the points
    within the tolerance of the lowest dev WER, tuning keeps the one nearest the defaults."""
    from jupyter_speechcustom.asr.decoding import _distance, default_weights
    from jupyter_speechcustom.constants import TUNE_TOLERANCE

    decoder = Decoder(demo_model, demo_lm)
    result = tune(decoder, *dev_set, lm_alphas=(0.7, 1.4), lm_betas=(3.5, 5.0, 7.0), heads=("ctc",))
    lowest = min(wer for _, wer in result.grid)
    ties = [w for w, wer in result.grid if wer <= lowest + TUNE_TOLERANCE]
    prior = default_weights(demo_model, demo_lm)
    assert result.best in ties and dict(result.grid)[result.best] == result.best_wer
    assert _distance(result.best, prior, demo_model) == min(_distance(w, prior, demo_model) for w in ties)
    if prior in ties:
        assert result.best == prior


def test_tuned_weights_must_win_the_dev_set_as_a_whole_not_one_utterance():
    """Tuning keeps the defaults unless its best weights make fewer errors on most resamples of the dev
    set: one utterance fixed out of twenty is not enough; one word fixed in each of ten is."""
    from jupyter_speechcustom.asr.decoding import _bootstrap_win

    refs = [f"check the pager duty rotation number {n}" for n in range(20)]
    before = [*refs[:19], "check the paper duty rotation umber 19"]
    one_fixed = _bootstrap_win(evaluate(refs, before), evaluate(refs, refs))
    assert 0.5 < one_fixed < TUNE_CONFIDENCE
    before = [r.replace("pager", "paper") if n % 2 else r for n, r in enumerate(refs)]
    assert _bootstrap_win(evaluate(refs, before), evaluate(refs, refs)) > 0.99
    assert _bootstrap_win(evaluate(refs, refs), evaluate(refs, before)) < 0.01


def test_number_variants_teach_the_lm_numbers_the_corpus_never_named(tmp_path, demo_model):
    corpus = tmp_path / "atc.txt"
    corpus.write_text("reduce speed to two eight zero knots\ndescend and maintain four thousand\n"
                      "contact departure on one two four point five\nthe ramp is closed\n" * 3)
    plain = build_language_model(demo_model, [corpus], tmp_path / "plain", number_variants=0, general_text="none")
    varied = build_language_model(demo_model, [corpus], tmp_path / "varied", general_text="none")

    def recorded(lm):
        return json.loads((lm.path / "lm.json").read_text(encoding="utf-8"))["number_variants"]

    assert recorded(plain) == {"per_sentence": 0, "sentences": 0}
    assert recorded(varied) == {"per_sentence": 3, "sentences": 27}  # 3 of 4 lines hold numbers, x3
    unseen = "reduce speed to one six five knots"  # numbers the corpus never named, in its numbers' place
    assert varied.perplexity(unseen, demo_model) < plain.perplexity(unseen, demo_model) / 2
    named = "the ramp is closed"  # a sentence without numbers keeps its weight
    assert varied.perplexity(named, demo_model) < 1.5 * plain.perplexity(named, demo_model)
