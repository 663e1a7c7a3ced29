"""Corpora: one huge line is refused with bounded memory.

Part of the adversarial probe of bad inputs and faults against the CLI, the Python API and the
workspace. Each case is a small generated fixture; each asserts the message (what is wrong, what
to do) and that nothing of the user's was lost.

Test names say the outcome: ``test_error_*`` a specific error before any work is wasted,
``test_ok_*`` a correct result where a wrong one (or a traceback) came before.
"""

from __future__ import annotations

import pytest
from helpers.files import snapshot

# ------------------------------------------------------------- corpora: one huge line, bounded memory


def test_error_a_one_line_corpus_over_the_limit_is_refused_before_normalizing(monkeypatch):
    from jupyter_speechcustom.constants import MAX_CORPUS_LINE_CHARS
    from jupyter_speechcustom.errors import CorpusError
    from jupyter_speechcustom.text.corpus import Corpus
    from jupyter_speechcustom.text.normalize import Normalizer

    def never(self, text):
        raise AssertionError("normalized a line over the limit")

    monkeypatch.setattr(Normalizer, "normalize_corpus", never)
    text = "first sentence\n" + "word " * (MAX_CORPUS_LINE_CHARS // 5) + "x\nlast\n"
    with pytest.raises(CorpusError, match=r"c.txt, line 2, is 1,000,001 characters long, more than the limit of "
                                          r"1,000,000: a corpus has one sentence per line; split it into sentences"):
        Corpus.from_bytes(text.encode(), name="c.txt")


def test_error_a_one_line_corpus_is_never_stored(ws):
    from jupyter_speechcustom.constants import MAX_CORPUS_LINE_CHARS
    from jupyter_speechcustom.errors import CorpusError

    before = snapshot(ws.path)
    with pytest.raises(CorpusError, match="line 1, is .* characters long.*split it into sentences"):
        ws.add_corpus(b"a " * (MAX_CORPUS_LINE_CHARS // 2 + 1), name="c.txt")
    assert snapshot(ws.path) == before and ws.corpora() == []


def test_ok_a_corpus_of_lines_at_the_limit():
    from jupyter_speechcustom.text import corpus

    # Lines of exactly the limit pass, old Mac line ends (\r) count as line ends; one over fails.
    corpus._check_line_lengths("a" * 50 + "\n" + "b" * 50 + "\r" + "c" * 50, "c.txt", 50)
    with pytest.raises(corpus.CorpusError, match="c.txt, line 2, is 51 characters"):
        corpus._check_line_lengths("a" * 50 + "\n" + "b" * 51, "c.txt", 50)
