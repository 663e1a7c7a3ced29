"""One notion of out-of-vocabulary words: the Data tab, the Language model tab, Manage and the CLI
count the same words of one corpus (those the base model does not know)."""

from __future__ import annotations

import html
import json
import re
from collections import Counter
from pathlib import Path

import pytest

from jupyter_speechcustom.asr.models import known_words_for
from jupyter_speechcustom.cli import main
from jupyter_speechcustom.services import management as m
from jupyter_speechcustom.services.workspace import Workspace
from jupyter_speechcustom.text.corpus import Corpus, known_words, oov_words
from jupyter_speechcustom.text.words import CustomWord, word_list_oov

pytestmark = pytest.mark.slow

# Jargon no model knows, and common English the demo model never heard (so that a count against
# common English, as Manage and the CLI made before, differs from one against the base model).
CORPUS = (
    "restart the kubectl rollout and check grafana\n"
    "the etcd quorum was lost after the terraform apply\n"
    "page the on call engineer about the latency of the payments api\n"
    "scale the deployment to three replicas in staging\n"
)


def test_oov_words_counts_the_words_not_known_most_frequent_first():
    assert oov_words(Counter({"b": 1, "a": 1, "c": 3, "known": 9}), {"known"}) == [("c", 3), ("a", 1), ("b", 1)]
    assert oov_words(["x", "y", "x"], frozenset()) == [("x", 2), ("y", 1)]
    corpus = Corpus.from_text(CORPUS, name="ops.txt")
    assert corpus.oov({"the"}) == oov_words(corpus.word_counts(), {"the"})
    words = [CustomWord.create("kubectl"), CustomWord.create("Sgr A*"), CustomWord.create("the")]
    assert word_list_oov(words, {"the"}) == [("a", 1), ("kubectl", 1), ("sgr", 1)]


def test_the_data_and_lm_tabs_manage_and_the_cli_agree_on_one_corpus(tmp_path: Path, demo_model, capsys):
    from jupyter_speechcustom.widgets import DataPanel, LanguageModelPanel
    from jupyter_speechcustom.widgets.manage import ManagePanel

    ws = Workspace(tmp_path / "ws")
    path = tmp_path / "ops.txt"
    path.write_text(CORPUS)
    corpus = ws.add_corpus(path)
    known = known_words_for(demo_model)
    expected = Corpus.from_text(CORPUS, name="ops.txt").oov(known)
    assert len(expected) != len(Corpus.from_text(CORPUS, name="x").oov(known_words()))  # the notions differ here
    n = len(expected)

    data = DataPanel(ws, demo_model)
    assert data._summaries[corpus.id]["oov_count"] == n
    cells = re.findall(r"<td[^>]*>(.*?)</td>", data.corpus_table.value)
    assert cells[4] == str(n)

    job = ws.build_language_model(demo_model, [corpus.id], name="ops", general_text=None)
    assert job.wait(300) == "completed", job.error
    lm = LanguageModelPanel(ws, demo_model)
    lm.refresh()
    lm.models.value = ws.language_models()[0].id
    assert f"OOV words</b> of its corpora ({n}, 0 of them custom words)" in html.unescape(lm.oov.value)

    manage = ManagePanel(ws, demo_model)
    manage.kind.value = "corpus"
    assert f"{n} out-of-vocabulary" in html.unescape(manage.summary.value)
    assert m.oov_of(ws, corpus, m.known_words_of(demo_model)) == expected
    assert m.known_words_of("demo") == known  # by name, without loading the model

    assert main(["workspace", "--workspace", str(ws.path), "list", "corpus"]) == 0
    assert f"{n} out-of-vocabulary" in capsys.readouterr().out
    assert main(["workspace", "--workspace", str(ws.path), "show", "ops.txt", "--json"]) == 0
    (entry,) = json.loads(capsys.readouterr().out)
    assert [tuple(w) for w in entry["oov"]] == expected
