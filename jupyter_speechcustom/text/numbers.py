"""Number variants of corpus sentences: an LM that learns where numbers go, not which ones a corpus held.

A domain corpus of a few hundred sentences names a handful of call signs, prices and dates. An n-gram
counted on it prefers those exact numbers; any other (and almost every number a user says is another)
backs off to the general estimate, so a spoken number loses to whatever words the corpus held there, or
a digit is dropped. :func:`number_variants` writes each sentence with spelled-out numbers again with each
number word drawn at random from its class (digits, teens, tens), so that the n-gram learns the shape of
the domain's numbers ("reduce speed to two eight zero knots") and leaves the digits to the acoustics.

The classes are the English spoken forms that :mod:`~jupyter_speechcustom.text.normalize` writes numbers
in. "niner" (as radio speech says nine) stands in for "nine" in a sentence that uses it; "oh", "hundred",
"thousand" and the like are kept as they are.
"""

from __future__ import annotations

import random
from collections.abc import Iterable

DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
TEENS = ("ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
         "nineteen")
TENS = ("twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
RADIO_DIGITS = tuple("niner" if d == "nine" else d for d in DIGITS)

_CLASS = {word: cls for cls in (DIGITS, TEENS, TENS) for word in cls} | {"niner": RADIO_DIGITS}


def number_variants(sentences: Iterable[str], count: int, seed: int = 0) -> list[str]:
    """``count`` variants of each sentence that holds number words, each number word drawn from its class.

    The draw is seeded, so the same corpus always gives the same variants (and the same LM). Sentences
    without numbers give none; a variant may equal its sentence.
    """
    rng = random.Random(seed)
    variants = []
    for sentence in sentences:
        words = sentence.split()
        if not any(word in _CLASS for word in words):
            continue
        for _ in range(count):
            variants.append(" ".join(rng.choice(_CLASS[w]) if w in _CLASS else w for w in words))
    return variants
