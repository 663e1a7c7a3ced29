from __future__ import annotations

import re

import pytest

from jupyter_speechcustom.evaluation import diffview
from jupyter_speechcustom.evaluation.metrics import evaluate, term_hit_rates

REFS = ["run kubectl get pods now", "restart nginx"]
BASE = ["run cube cuttle get pods", "restart nginx"]
CUSTOM = ["run kubectl get the pods now", "restart engine x"]


@pytest.fixture
def evaluations():
    return {"base": evaluate(REFS, BASE), "+LM": evaluate(REFS, CUSTOM)}


def _cells(html: str, cls: str) -> list[str]:
    return re.findall(rf'<span class="{cls}"[^>]*>([^<]*)</span>', html)


def test_align_columns_shares_reference_positions_and_insertion_slots(evaluations):
    alignments = [evaluations[n].utterances[0].alignment for n in ("base", "+LM")]
    columns = diffview.align_columns(REFS[0], alignments)
    refs = [c.reference for c in columns]
    # reference words in order, with insertion columns (None) where some system inserted
    assert [r for r in refs if r is not None] == REFS[0].split()
    assert refs == ["run", None, "kubectl", "get", None, "pods", "now"]
    kubectl = columns[2].cells
    assert kubectl[0] == ("substitute", "cuttle") and kubectl[1] == ("equal", "kubectl")
    assert columns[1].cells == (("insert", "cube"), ("gap", ""))
    assert columns[4].cells == (("gap", ""), ("insert", "the"))
    assert columns[6].cells[0] == ("delete", "now")


def test_align_columns_accepts_triples_and_empty_hypotheses():
    columns = diffview.align_columns("a b", [[("delete", "a", None), ("delete", "b", None)]])
    assert [c.cells[0] for c in columns] == [("delete", "a"), ("delete", "b")]
    columns = diffview.align_columns("", [[("insert", None, "x")]])
    assert columns == [diffview.DiffColumn(None, (("insert", "x"),))]


def test_diff_html_colours_each_operation_and_escapes(evaluations):
    html = diffview.diff_html(REFS[0], {"base": evaluations["base"].utterances[0],
                                        "+LM": evaluations["+LM"].utterances[0]})
    assert html.startswith('<div class="sc-root sc-diff">')
    assert _cells(html, "sc-ref") == REFS[0].split()
    assert "cuttle" in _cells(html, "sc-sub") and "now" in _cells(html, "sc-del")
    assert set(_cells(html, "sc-ins")) == {"cube", "the"}
    assert 'title="base: kubectl → cuttle"' in html
    labels = re.search(r'<span class="sc-col sc-labels">(.*?)</span></span>', html).group(1)
    assert "reference" in labels and "base" in labels and "+LM" in labels
    nasty = evaluate(["<b>x</b>"], ["<i>y</i>"])
    html = diffview.diff_html("<b>x</b>", {"<sys>": nasty.utterances[0]})
    assert "<b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html and "&lt;sys&gt;" in html


def test_utterance_html_shows_per_system_wer(evaluations):
    html = diffview.utterance_html("utt-1", REFS[0], {"base": evaluations["base"].utterances[0],
                                                      "+LM": evaluations["+LM"].utterances[0]})
    assert "utt-1" in html and "base 60%" in html and "+LM 20%" in html and "sc-diff" in html
    assert "base 60%" not in diffview.utterance_html("u", REFS[0], {"base": evaluations["base"].utterances[0]},
                                                     show_wer=False)


def test_wer_table_counts_and_relative_change(evaluations):
    html = diffview.wer_table_html(evaluations)
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", html)
    assert len(rows) == 3  # header + two systems
    cells = re.findall(r"<td[^>]*>(.*?)</td>", rows[1])
    ev = evaluations["base"]
    assert cells[0] == "base" and cells[1] == diffview.percent(ev.wer)
    assert cells[3:6] == [str(ev.substitutions), str(ev.deletions), str(ev.insertions)]
    assert "sc-best" not in rows[1] or ev.wer <= evaluations["+LM"].wer
    # works from summary() dicts too (as stored in a workspace result)
    summaries = {k: v.summary() for k, v in evaluations.items()}
    assert diffview.wer_table_html(summaries) == html
    assert "no results" in diffview.wer_table_html({})


def test_term_hits_table(evaluations):
    hits = {name: term_hit_rates(REFS, hyps, ["kubectl", "nginx", "helm"]) for name, hyps in
            (("base", BASE), ("+LM", CUSTOM))}
    html = diffview.term_hits_html(hits)
    assert "kubectl" in html and "helm" not in html
    assert "0/1 (0%)" in html and "1/1 (100%)" in html
    assert "no custom words" in diffview.term_hits_html({"base": []})


def test_status_tables_and_escaping():
    assert 'sc-status-error' in diffview.status_html("boom <now>", "error")
    assert "&lt;now&gt;" in diffview.status_html("<now>")
    assert diffview.status_html("") == ""
    with pytest.raises(ValueError, match="kind"):
        diffview.status_html("x", "loud")
    html = diffview.table_html(("a", "b"), [("<x>", "<i>raw</i>")], raw=(1,))
    assert "&lt;x&gt;" in html and "<i>raw</i>" in html
    assert "nothing yet" in diffview.table_html(("a",), [])
    stats = diffview.corpus_stats_html([{"name": "c.txt", "sentences": 3, "words": 10, "distinct_words": 7,
                                         "oov_count": 2, "top_oov": [["kubectl", 2], ["etcd", 1]]}])
    assert "c.txt" in stats and "kubectl" in stats and "×2" in stats
    assert diffview.percent(None) == "—" and diffview.percent(0.1234) == "12.3%"


def test_training_summary_flags_forgetting():
    summary = {"mode": "lightly-supervised", "dev_wer_before": 0.5, "dev_wer_after": 0.2,
               "general_wer_before": 0.30, "general_wer_after": 0.45, "general_wer_change": 0.5,
               "train_utterances": 10, "general_utterances": 5, "epochs": 3}
    html = diffview.training_summary_html(summary)
    assert "50.0%" in html and "20.0%" in html and "-30.0 points" in html and "+15.0 points" in html
    assert "worse" in html and "sc-worse" in html
    assert "—" in diffview.training_summary_html({"dev_wer_before": None})


def test_figures_are_png(evaluations):
    png = diffview.wer_chart_png(evaluations)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 2000
    history = [{"epoch": 0, "train_loss": None, "dev_wer": 0.6}, {"epoch": 1, "train_loss": 40.0, "dev_wer": 0.4}]
    assert diffview.training_plot_png(history)[:4] == b"\x89PNG"
    assert diffview.training_plot_png([])[:4] == b"\x89PNG"


def test_comparison_html_is_self_contained(evaluations):
    utterances = [("u1", REFS[0], {"base": evaluations["base"].utterances[0],
                                   "+LM": evaluations["+LM"].utterances[0]})]
    html = diffview.comparison_html(evaluations, utterances, title="Demo", chart_png=b"\x89PNG")
    assert html.startswith("<style>") and "<h2>Demo</h2>" in html and "data:image/png;base64," in html
    assert "sc-diff" in html and "sc-wer" in html


def test_lm_summary_shows_the_tuned_weights_where_there_are_some():
    meta = {"order": 4, "token_count": 100, "corpora": [{"name": "a.txt"}], "custom_words": 2}
    assert "tuned weights" not in diffview.lm_summary_html(meta)
    tuned = {**meta, "tuning": {"weights": {"lm_alpha": 1.0, "lm_beta": 1.5, "boost_alpha": 0.0, "head": "ctc"},
                                "dev_wer": 0.18, "dev_set": "demo domain/dev", "utterances": 40}}
    assert "LM alpha 1.00, beta 1.5, boost 0.0, CTC head (dev WER 18.0% on demo domain/dev)" in diffview.lm_summary_html(tuned)


def test_a_long_diff_is_cut_into_lines_that_each_have_the_row_labels():
    """The browser wrapped a long diff with one row of labels at its start: a last word wrapped
    alone onto a new line had no labels. Lines are cut here, each with its labels, none an orphan."""
    reference = " ".join(f"word{i}" for i in range(40))
    hypothesis = reference.replace("word39", "wort39").replace("word7 ", "")
    score = evaluate([reference], [hypothesis]).utterances[0]
    html = diffview.diff_html(reference, {"base": score, "+LM": score}, line_chars=60)
    lines = re.findall(r'<div class="sc-diff-line">(.*?)</div>', html)
    assert len(lines) > 1
    for line in lines:
        labels = re.search(r'<span class="sc-col sc-labels">(.*?</span>)</span>', line).group(1)
        assert re.findall(r"<span>([^<]*)</span>", labels) == ["reference", "base", "+LM"]
    words = [_cells(line, "sc-ref") for line in lines]
    assert [w for line in words for w in line] == reference.split()  # every word once, in order
    assert min(len(line) for line in words) >= len(words[0]) // 2  # even lines: the last is no orphan word
    assert "wort39" in lines[-1] and "sc-sub" in lines[-1]
    # A short diff is one line.
    short = diffview.diff_html(REFS[0], {"base": evaluate(REFS, BASE).utterances[0]})
    assert short.count('class="sc-diff-line"') == 1 and short.count("sc-labels") == 1
    # Lines never wrap in the browser (they scroll): a wrapped line would lose its labels again.
    assert re.search(r"\.sc-diff-line \{[^}]*flex-wrap: nowrap", diffview.CSS)


def test_term_hits_chart_has_a_bar_per_word_and_system():
    refs = ["restart kubectl now", "kubectl and grafana", "grafana terraform", "terraform"]
    hyps = {"base": ["restart cube now", "cube and grafana", "grafana tera", "tera"],
            "+LM": ["restart kubectl now", "kubectl and grafana", "grafana terraform", "tera"]}
    hits = {name: term_hit_rates(refs, h, ["kubectl", "grafana", "terraform", "helm"]) for name, h in hyps.items()}
    fig = diffview.term_hits_figure(hits)
    ax = fig.axes[0]
    # most frequent at the top (matplotlib lists y labels bottom up); counts in the references
    assert [t.get_text() for t in ax.get_yticklabels()] == ["terraform (2)", "kubectl (2)", "grafana (2)"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["base", "+LM"]
    widths = {c.get_label(): [round(p.get_width()) for p in c.patches] for c in ax.containers}
    assert widths == {"base": [100, 0, 0], "+LM": [100, 100, 50]}  # grafana, kubectl, terraform: top down
    assert ax.get_xlabel() == "occurrences recognized (%)" and "Custom words recognized" in ax.get_title()
    assert diffview.term_hits_chart_png(hits).startswith(b"\x89PNG")
    assert len(diffview.term_hits_figure(hits, top=1).axes[0].get_yticklabels()) == 1
    assert diffview.term_hits_chart_png({"base": []}).startswith(b"\x89PNG")  # nothing to show, still a figure


def test_training_plot_has_a_dev_wer_axis_only_when_there_is_a_dev_set():
    without = diffview.training_plot_figure([{"epoch": 1, "train_loss": 2.0}, {"epoch": 2, "train_loss": 1.5}])
    assert len(without.axes) == 1 and "no dev set" in without.axes[0].get_title()
    assert [line.get_label() for line in without.axes[0].get_lines()] == ["training loss"]
    with_dev = diffview.training_plot_figure([{"epoch": 0, "dev_wer": 0.5},
                                              {"epoch": 1, "train_loss": 2.0, "dev_wer": 0.4}])
    assert len(with_dev.axes) == 2 and with_dev.axes[1].get_ylabel() == "dev WER (%)"
    assert "loss and dev WER" in with_dev.axes[0].get_title()


def test_forgetting_advice_names_controls_that_exist():
    html = diffview.training_summary_html({"general_wer_before": 0.3, "general_wer_after": 0.4,
                                           "general_wer_change": 0.33})
    assert "mix in general speech" in html and "general ratio" not in html and "general_ratio=" in html


def test_lm_summary_says_how_many_number_variants_it_was_counted_on():
    meta = {"order": 4, "token_count": 100, "corpora": [{"name": "a.txt"}], "custom_words": 2}
    assert "number variants" not in diffview.lm_summary_html(meta)  # built before the field existed: not guessed
    varied = diffview.lm_summary_html({**meta, "number_variants": {"per_sentence": 3, "sentences": 1200}})
    assert "1,200 sentences: 3 of each sentence with numbers" in varied
    off = diffview.lm_summary_html({**meta, "number_variants": {"per_sentence": 0, "sentences": 0}})
    assert "number variants" in off and "none" in off
