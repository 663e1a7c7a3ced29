"""The training text of a token-level n-gram: each line of normalized text as the base model's
tokens, token id ``i`` written as ``chr(i + NGRAM_TOKEN_OFFSET)``; characters for a character
model, SentencePiece pieces (tokenized a word at a time where that gives the same) for a BPE one."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from jupyter_speechcustom.constants import NGRAM_TOKEN_OFFSET

if TYPE_CHECKING:
    from jupyter_speechcustom.asr.models import BaseModel


def token_writer(base: BaseModel) -> Callable[[str], str]:
    """A function from normalized text to an ARPA training line: ``chr(id + offset)`` per token."""
    if base.is_character_model:
        # One str.translate per line: C speed for the millions of characters of a big corpus.
        table = {ord(token): chr(i + NGRAM_TOKEN_OFFSET) + " " for i, token in enumerate(base.vocabulary)
                 if len(token) == 1}
        outside = re.compile(f"[^{re.escape(''.join(chr(c) for c in table))}]")

        def write(line: str) -> str:
            if outside.search(line):  # normalized text has none; custom input might
                line = outside.sub("", line)
            return line.translate(table).rstrip(" ")

        return write
    return piece_writer(base)


#: Lines of a corpus on which word-by-word tokenization is checked against whole lines.
_PIECE_CHECK_LINES = 100


def piece_writer(base: BaseModel) -> Callable[[str], str]:
    """A BPE model's token writer. SentencePiece splits text at spaces before it cuts pieces (its
    default), so a line's pieces are its words' pieces: each distinct word is tokenized once and
    looked up after (3x faster than tokenizing every line). The first lines are tokenized both
    ways; a tokenizer whose pieces cross spaces tokenizes whole lines."""
    def encode(text: str) -> str:
        return " ".join(chr(i + NGRAM_TOKEN_OFFSET) for i in base.text_to_ids(text))

    cache: dict[str, str] = {}

    def by_words(line: str) -> str:
        pieces = []
        for word in line.split():
            found = cache.get(word)
            if found is None:
                found = cache[word] = encode(word)
            if found:
                pieces.append(found)
        return " ".join(pieces)

    checked = 0
    splits_at_spaces = True

    def write(line: str) -> str:
        nonlocal checked, splits_at_spaces
        if not splits_at_spaces:
            return encode(line)
        if checked < _PIECE_CHECK_LINES:
            checked += 1
            whole = encode(line)
            if by_words(line) != whole:
                splits_at_spaces = False
            return whole
        return by_words(line)

    return write
