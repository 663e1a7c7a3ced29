"""Re-decoding a comparison with new weights: the page on screen first, then the rest.

Real demo model, real custom LM (KenLM), real beam search: the first pass must give the very
transcripts of a full decode, the state must stay consistent in between, and a newer weight
change must win over the one it supersedes.
"""

from __future__ import annotations

import threading
from dataclasses import asdict

import pytest

from jupyter_speechcustom import demo, evaluate, read_manifest
from jupyter_speechcustom.asr import decoding
from jupyter_speechcustom.asr.decoding import Decoder, DecodingWeights
from jupyter_speechcustom.io.manifest import Utterance
from jupyter_speechcustom.services import compare
from jupyter_speechcustom.services.compare import Comparison, run_comparison

W0 = DecodingWeights()  # the comparison's weights when it ran
W1 = DecodingWeights(lm_alpha=1.0, lm_beta=1.5, boost_alpha=1.0)
W2 = DecodingWeights(lm_alpha=0.3, lm_beta=0.5, boost_alpha=0.0)
N = 12


@pytest.fixture(scope="module")
def items() -> list[Utterance]:
    entries = read_manifest(demo.manifest("domain/test"), require_text=True)[:N]
    return [Utterance.from_entry(e) for e in entries]


@pytest.fixture(scope="module")
def cache() -> dict:
    return {}


@pytest.fixture
def comparison(demo_model, demo_lm, items, cache) -> Comparison:
    return run_comparison(demo_model, items, ["base", "+LM"], label="test", lm=demo_lm, weights=W0, cache=cache)


def full_decode(c: Comparison, weights: DecodingWeights) -> dict[str, list[str]]:
    """What decoding every utterance at once gives, system by system."""
    return {name: c.decoders[name].decode_text(c.outputs[c.acoustic[name]], weights) for name in c.systems}


def test_first_pass_publishes_the_full_decodes_transcripts_with_the_old_scores_marked(comparison):
    c = comparison
    refs = [item.text or "" for item in c.items]
    before_texts = {name: list(texts) for name, texts in c.texts.items()}
    before_eval = c.evaluations["+LM"]
    expected = full_decode(c, W1)
    assert expected["+LM"] != before_texts["+LM"]  # the new weights change some transcripts
    seen: dict = {}

    def on_first(cc: Comparison) -> None:
        seen["left"] = cc.left
        seen["texts"] = {name: list(texts) for name, texts in cc.texts.items()}
        seen["weights"], seen["target"], seen["evaluation"] = cc.weights, cc.target, cc.evaluations["+LM"]
        seen["updated"] = [cc.updated(i) for i in range(N)]
        seen["rows"] = {i: cc.utterance(i)[2] for i in range(N)}
        seen["saved"] = cc.to_dict()

    page = [7, 2, 5]
    assert c.decode(W1, first=page, on_first=on_first) is True

    # After the first pass: the page's transcripts are the full decode's; the rest are the old ones.
    assert seen["left"] == tuple(i for i in range(N) if i not in page)
    for name in c.systems:
        for i in range(N):
            assert seen["texts"][name][i] == (expected[name][i] if i in page else before_texts[name][i])
    assert seen["updated"] == [i in page for i in range(N)]
    # The test-set scores are still the old weights' (nothing mixed), the target is the new weights.
    assert seen["weights"] == W0 and seen["target"] == W1 and seen["evaluation"] is before_eval
    assert seen["saved"]["weights"] == asdict(W0)
    assert [u["hypotheses"]["+LM"] for u in seen["saved"]["utterances"]] == before_texts["+LM"]
    # Each row's own scores are those of the transcript it shows.
    for i in range(N):
        score = seen["rows"][i]["+LM"]
        assert score.hypothesis == seen["texts"]["+LM"][i]
        assert score.errors == evaluate([refs[i]], [score.hypothesis]).utterances[0].errors

    # After the full pass: everything is of the new weights, re-scored once.
    assert c.left == () and c.weights == c.target == W1
    assert c.texts == expected
    assert c.evaluations["+LM"].wer == pytest.approx(evaluate(refs, expected["+LM"]).wer)
    assert [c.utterance(i)[2]["+LM"].hypothesis for i in range(N)] == expected["+LM"]
    assert [u["hypotheses"]["+LM"] for u in c.to_dict()["utterances"]] == expected["+LM"]
    assert c.summary()["wer"]["+LM"] == c.evaluations["+LM"].wer


def test_redecode_in_chunks_equals_a_comparison_run_with_those_weights(comparison, demo_model, demo_lm, items, cache,
                                                                       monkeypatch):
    monkeypatch.setattr(compare, "REDECODE_CHUNK", 4)
    messages: list[str] = []
    c = comparison
    assert c.decode(W1, first=[0, 1], progress=lambda f, m: messages.append(m)) is True
    assert messages == [f"re-decoded {n} of {N} utterances" for n in (2, 6, 10, 12)]
    direct = run_comparison(demo_model, items, ["base", "+LM"], label="test", lm=demo_lm, weights=W1, cache=cache)
    assert c.texts == direct.texts
    assert c.evaluations["+LM"].wer == direct.evaluations["+LM"].wer
    assert c.hits == direct.hits

    # The same weights again: nothing to decode.
    messages.clear()
    assert c.decode(W1, first=[3]) is True and messages == [] and c.left == ()


def test_a_newer_weight_change_supersedes_the_running_one(comparison):
    c = comparison
    expected = full_decode(c, W2)
    inner: list[bool] = []

    # The weights move again while the first pass of W1 is on screen: W2 runs to the end, W1 stops.
    assert c.decode(W1, first=[0, 1], on_first=lambda cc: inner.append(cc.decode(W2, first=[4]))) is False
    assert inner == [True]
    assert c.weights == c.target == W2 and c.left == () and c.texts == expected


def test_a_newer_weight_change_from_another_thread_wins(comparison):
    c = comparison
    expected = full_decode(c, W2)
    on_screen, go_on = threading.Event(), threading.Event()
    result: list[bool] = []

    def first_shown(_: Comparison) -> None:
        on_screen.set()
        go_on.wait(60)

    worker = threading.Thread(target=lambda: result.append(c.decode(W1, first=[3, 4], on_first=first_shown)))
    worker.start()
    assert on_screen.wait(60)
    assert c.target == W1 and c.updated(3) and not c.updated(0)
    assert c.decode(W2) is True  # the newer weights, from this thread
    go_on.set()
    worker.join(60)
    assert result == [False]  # the older re-decode published nothing more
    assert c.weights == c.target == W2 and c.left == () and c.texts == expected


def test_a_stopped_redecode_keeps_a_consistent_state_and_resumes(comparison):
    c = comparison
    stop = threading.Event()
    assert c.decode(W1, first=[6], on_first=lambda _: stop.set(), stop=stop) is False
    assert c.weights == W0 and c.target == W1 and c.left == tuple(i for i in range(N) if i != 6)
    messages: list[str] = []
    assert c.decode(W1, progress=lambda f, m: messages.append(m)) is True
    assert messages == [f"re-decoded {N - 1} of {N - 1} utterances"]  # utterance 6 is not decoded again
    assert c.texts == full_decode(c, W1) and c.weights == W1


def test_tabulated_fusion_decodes_exactly_as_nemos_advance(demo_model, demo_lm, comparison, monkeypatch):
    outputs = comparison.outputs["base"]
    fast = Decoder(demo_model, demo_lm)
    monkeypatch.setattr(decoding, "FUSION_CACHE_MAX_ENTRIES", 0)  # no cache: NeMo's own advance
    plain = Decoder(demo_model, demo_lm)
    assert "advance" in vars(fast._lm_model) and "advance" in vars(fast._boost_model)
    assert "advance" not in vars(plain._lm_model) and "advance" not in vars(plain._boost_model)
    for weights in (W0, W1):
        assert fast.decode_text(outputs, weights) == plain.decode_text(outputs, weights)


def test_the_base_row_is_the_models_default_decoding_whatever_head_the_lm_uses(comparison, demo_model):
    """Tuning may choose a hybrid's CTC head for the custom LM; the base row still decodes as the model
    does by default (its transducer head), as the Explore tab, the CLI and the service do."""
    from dataclasses import replace

    from jupyter_speechcustom.asr.recognize import greedy_decode

    c = comparison
    ctc = replace(W1, head="ctc")
    assert c.decode(ctc) is True
    outputs = c.outputs[c.acoustic["base"]]
    assert c.texts["base"] == greedy_decode(demo_model, outputs)
    assert c.texts["base"] != greedy_decode(demo_model, outputs, head="ctc")  # the head matters on this model
    assert c.texts["+LM"] == c.decoders["+LM"].decode_text(c.outputs[c.acoustic["+LM"]], ctc)
    assert c.system_weights("base", ctc).head is None and c.system_weights("+LM", ctc) == ctc


def test_decoders_of_one_lm_share_its_fusion_model_until_the_file_changes(demo_model, demo_lm, tmp_path):
    """Reading a token ARPA takes seconds: every decoder of an LM shares one loaded model, and a changed
    file (a rebuilt LM at the same path) is read again."""
    import shutil

    first, second = Decoder(demo_model, demo_lm), Decoder(demo_model, demo_lm)
    assert first._lm_model is second._lm_model
    copy = tmp_path / "copy.arpa"
    shutil.copyfile(demo_lm.token_arpa, copy)
    again = decoding.fusion_lm(copy, demo_model.blank_id)
    assert again is not first._lm_model and decoding.fusion_lm(copy, demo_model.blank_id) is again
    copy.write_text(copy.read_text() + "\n")  # rebuilt: same path, another size and time
    assert decoding.fusion_lm(copy, demo_model.blank_id) is not again
