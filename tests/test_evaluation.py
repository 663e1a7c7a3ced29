import pytest

from jupyter_speechcustom.evaluation.metrics import EvaluationError, evaluate, term_hit_rates


def test_counts_and_alignment():
    refs = ["the cat sat on the mat", "hello world", "good morning"]
    hyps = ["the bat sat on mat", "hello big world", "good morning"]
    result = evaluate(refs, hyps)
    assert (result.substitutions, result.deletions, result.insertions) == (1, 1, 1)
    assert result.reference_words == 10
    assert result.wer == pytest.approx(3 / 10)
    first = [(s.op, s.ref, s.hyp) for s in result.utterances[0].alignment]
    assert ("substitute", "cat", "bat") in first
    assert [s for s in first if s[0] == "delete"] == [("delete", "the", None)]
    assert ("insert", None, "big") in [(s.op, s.ref, s.hyp) for s in result.utterances[1].alignment]
    assert result.utterances[2].wer == 0
    assert 0 < result.cer < result.wer


def test_empty_hypothesis_and_reference():
    result = evaluate(["one two three", ""], ["", "extra"])
    assert (result.deletions, result.insertions) == (3, 1)
    assert result.wer == pytest.approx(4 / 3)


def test_mismatched_lengths_and_nothing_to_score():
    with pytest.raises(EvaluationError, match="pair them"):
        evaluate(["a"], ["a", "b"])
    with pytest.raises(EvaluationError, match="empty"):
        evaluate([""], ["a"])


def test_term_hit_rates():
    refs = ["run kubectl get pods", "kubectl apply then kubectl get", "restart nginx"]
    hyps = ["run cube cuttle get pods", "kubectl apply then kubectl get", "restart nginx"]
    hits = {t.term: t for t in term_hit_rates(refs, hyps, ["kubectl", "nginx", "helm"])}
    assert (hits["kubectl"].occurrences, hits["kubectl"].recognized) == (3, 2)
    assert hits["nginx"].hit_rate == 1.0
    assert "helm" not in hits
