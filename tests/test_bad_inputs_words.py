"""Custom-words files: broken quoting, huge fields, pathological JSON.

Part of the adversarial probe of bad inputs and faults against the CLI, the Python API and the
workspace. Each case is a small generated fixture; each asserts the message (what is wrong, what
to do) and that nothing of the user's was lost.

Test names say the outcome: ``test_error_*`` a specific error before any work is wasted,
``test_ok_*`` a correct result where a wrong one (or a traceback) came before.
"""

from __future__ import annotations

import json

import pytest
from helpers.files import snapshot

# --------------------------------------------------- custom-words files: broken quoting, huge fields


def _words_error(data: bytes, name: str, match: str) -> None:
    from jupyter_speechcustom.errors import CorpusError
    from jupyter_speechcustom.text.words import read_custom_words

    with pytest.raises(CorpusError, match=match):
        read_custom_words(data, name=name)


def test_error_an_unclosed_quote_in_a_words_csv_names_its_line():
    rows = "".join(f"word{n},sounds like {n},\n" for n in range(50))
    data = f'word,sounds_like,display_as\nkubectl,"cube control,\n{rows}'.encode()
    _words_error(data, "w.csv", r"w.csv, line 2: a quote \(\"\) opened on this line is not closed before line 52, "
                                r"so the lines in between were read as one value")


def test_error_an_unclosed_quote_beyond_the_csv_field_limit():
    data = b'word,sounds_like\nkubectl,"cube control\n' + b"x" * 140_000 + b"\n"
    _words_error(data, "w.csv", r"w.csv, line 2: field larger than field limit .*a quote .* never closed")


@pytest.mark.parametrize(("data", "name", "match"), [
    (b"word\n" + b"k" * 201 + b"\n", "w.csv", r"w.csv, line 2: the word 'k+'\.\.\. is 201 characters long, more than 200"),
    (b"k" * 5000 + b"\n", "w.txt", r"w.txt, line 1: the word .* is 5,000 characters long"),
    (b"word,sounds_like\nkubectl," + ";".join(f"cube {n}" for n in range(21)).encode() + b"\n", "w.csv",
     r"w.csv, line 2: 'kubectl' has 21 sounds-like spellings, more than 20"),
    (b"word,sounds_like\nkubectl,cube " + b"x" * 300 + b"\n", "w.csv",
     r"w.csv, line 2: a sounds-like spelling of 'kubectl' is 305 characters long, more than 200"),
    (b"word,display_as\nkubectl," + b"K" * 300 + b"\n", "w.csv",
     r"w.csv, line 2: the display form of 'kubectl' is 300 characters long, more than 200"),
    (json.dumps([{"word": "k" * 300}]).encode(), "w.json", r"w.json, item 1: the word .* 300 characters long"),
    (json.dumps([{"word": "kubectl", "sounds_like": [f"c {n}" for n in range(40)]}]).encode(), "w.json",
     r"w.json, item 1: 'kubectl' has 40 sounds-like spellings"),
])
def test_error_words_fields_beyond_sane_sizes(data, name, match):
    _words_error(data, name, match)


@pytest.mark.parametrize(("data", "match"), [
    (b"[" * 100_000 + b"]" * 100_000, r"w.json nests lists or objects too deeply to be a list of words"),
    (b'{"words": ' + b"[" * 50_000 + b"]" * 50_000 + b"}", r"w.json nests lists or objects too deeply"),
    (json.dumps([{"word": 42}]).encode(), r'w.json, item 1: "word" is missing or empty'),
    (json.dumps([{"word": ["kubectl"]}]).encode(), r'w.json, item 1: "word" is missing or empty'),
    (json.dumps([{"word": "kubectl", "sounds_like": [["cube"]]}]).encode(),
     r'w.json, item 1: "sounds_like" must be a list of strings'),
    (json.dumps([{"word": "kubectl", "sounds_like": {"a": "b"}}]).encode(),
     r'w.json, item 1: "sounds_like" must be a list of strings'),
    (json.dumps([{"word": "kubectl", "display_as": {"x": [1]}}]).encode(),
     r'w.json, item 1: "display_as" must be a string or null, got dict'),
    (json.dumps([[["kubectl"]]]).encode(), r'w.json, item 1: expected an object with a "word", got list'),
])
def test_error_pathological_words_json(data, match):
    _words_error(data, "w.json", match)


def test_ok_a_quoted_comma_in_a_words_csv_is_still_one_value():
    from jupyter_speechcustom.text.words import read_custom_words

    words = read_custom_words(b'word,sounds_like,display_as\nkubectl,"cube control;cube cuddle",kubectl\n', name="w.csv")
    assert [(w.word, w.sounds_like) for w in words] == [("kubectl", ("cube control", "cube cuddle"))]


def test_error_words_with_an_unclosed_quote_are_never_stored(ws):
    from jupyter_speechcustom.errors import CorpusError

    before = snapshot(ws.path)
    with pytest.raises(CorpusError, match="line 2: a quote"):
        ws.add_words(b'word,sounds_like\nkubectl,"cube control\netcd,et cd\n', name="w.csv")
    assert snapshot(ws.path) == before and ws.word_lists() == []
