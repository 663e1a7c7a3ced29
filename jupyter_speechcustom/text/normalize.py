"""Text normalization: written text to the spoken form a model's alphabet can write.

A CTC model writes only the characters of its vocabulary (the demo model: ``a``-``z``,
apostrophe and space), and a language model for it must be trained on text in that same
form, or its words never match what the model writes. So numbers, symbols and units are
spelled out as they are spoken ("3.5mg" -> "three point five milligrams"), accents are
stripped, case is folded, and what the model cannot write is dropped.

The spoken forms are English. ``num2words`` is imported on first use, not at import time.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from jupyter_speechcustom.constants import DEFAULT_ALPHABET

__all__ = ["CURRENCIES", "UNITS", "Normalizer", "default_normalizer", "normalize", "normalize_corpus", "split_sentences"]

# Integers with more digits than this (IDs, phone numbers) are read digit by digit.
_MAX_CARDINAL_DIGITS = 9

_ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]

# Typographic variants of the apostrophe, of double quotes and of dashes.
_PUNCT_MAP = str.maketrans(
    {
        **dict.fromkeys("\u2018\u2019\u201a\u201b\u2032\u0060\u00b4\u02bc\uff07", "'"),
        **dict.fromkeys("\u201c\u201d\u201e\u201f\u2033\u00ab\u00bb", '"'),
        **dict.fromkeys("\u2010\u2011\u2012\u2212\ufe63\uff0d", "-"),
        "\u2014": " ",
        "\u2015": " ",
        "\u2044": "/",
        "\u200b": " ",  # zero-width space separates words; other format characters are dropped
    }
)

# Letters with no Unicode decomposition to strip accents from.
_TRANSLITERATE = {
    "ß": "ss",
    "ẞ": "SS",
    "æ": "ae",
    "Æ": "AE",
    "œ": "oe",
    "Œ": "OE",
    "ø": "o",
    "Ø": "O",
    "ł": "l",
    "Ł": "L",
    "đ": "d",
    "Đ": "D",
    "ð": "d",
    "Ð": "D",
    "þ": "th",
    "Þ": "TH",
    "ı": "i",
}

# Symbols read aloud wherever they stand.
_SYMBOL_WORDS = {"&": "and", "@": "at", "+": "plus", "=": "equals", "#": "number", "%": "percent"}

# Symbols the rules read aloud (they count as kept in :meth:`Normalizer.coverage`).
_SPOKEN_SYMBOLS = frozenset(_SYMBOL_WORDS) | frozenset("$€£¥₹°")

# Characters the rewriting rules act on even when the alphabet has them.
_REWRITTEN = frozenset("0123456789&@+=#%-_/\\.:$€£¥₹°–")

#: Units read after a number: written form -> (singular, plural).
UNITS: dict[str, tuple[str, str]] = {
    "ns": ("nanosecond", "nanoseconds"),
    "μs": ("microsecond", "microseconds"),
    "ms": ("millisecond", "milliseconds"),
    "s": ("second", "seconds"),
    "sec": ("second", "seconds"),
    "min": ("minute", "minutes"),
    "h": ("hour", "hours"),
    "hr": ("hour", "hours"),
    "hrs": ("hour", "hours"),
    "mg": ("milligram", "milligrams"),
    "g": ("gram", "grams"),
    "kg": ("kilogram", "kilograms"),
    "ml": ("milliliter", "milliliters"),
    "mm": ("millimeter", "millimeters"),
    "cm": ("centimeter", "centimeters"),
    "km": ("kilometer", "kilometers"),
    "kb": ("kilobyte", "kilobytes"),
    "mb": ("megabyte", "megabytes"),
    "gb": ("gigabyte", "gigabytes"),
    "tb": ("terabyte", "terabytes"),
    "kib": ("kibibyte", "kibibytes"),
    "mib": ("mebibyte", "mebibytes"),
    "gib": ("gibibyte", "gibibytes"),
    "tib": ("tebibyte", "tebibytes"),
    "hz": ("hertz", "hertz"),
    "khz": ("kilohertz", "kilohertz"),
    "mhz": ("megahertz", "megahertz"),
    "ghz": ("gigahertz", "gigahertz"),
    "kbps": ("kilobit per second", "kilobits per second"),
    "mbps": ("megabit per second", "megabits per second"),
    "gbps": ("gigabit per second", "gigabits per second"),
}

#: Currency symbols: symbol -> (singular, plural, cent singular, cent plural or None).
CURRENCIES: dict[str, tuple[str, str, str | None, str | None]] = {
    "$": ("dollar", "dollars", "cent", "cents"),
    "€": ("euro", "euros", "cent", "cents"),
    "£": ("pound", "pounds", "penny", "pence"),
    "¥": ("yen", "yen", None, None),
    "₹": ("rupee", "rupees", None, None),
}

_MAGNITUDES = {"k": "thousand", "m": "million", "mm": "million", "b": "billion", "bn": "billion", "t": "trillion"}

_ABBREVIATIONS = {"mr": "mister", "mrs": "missus", "dr": "doctor", "vs": "versus", "etc": "et cetera"}

# Abbreviations after which a "." does not end a sentence ("ms." is milliseconds more often).
_NON_FINAL = frozenset({"mr.", "mrs.", "dr.", "prof.", "st.", "vs.", "e.g.", "i.e.", "approx.", "cf."})

_L = r"[^\W\d_]"  # a letter of any script
_NUM = r"\d+(?:\.\d+)?"
_I = re.IGNORECASE


def _alternation(words: Iterable[str]) -> str:
    """Regex alternation, longest first so "ms" wins over "s"."""
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


_RE_RANGE = re.compile(r"(\d)\s*–\s*(?=\d)")
_RE_TIME = re.compile(r"(?<![\d:.])([01]?\d|2[0-3]):([0-5]\d)(?![\d:])(?:\s?(am|pm|a\.m\.|p\.m\.)(?!\w))?", _I)
_RE_AMPM = re.compile(r"(?<![\w.])(\d{1,2})\s?(am|pm|a\.m\.|p\.m\.)(?!\w)", _I)
_RE_INITIALISM = re.compile(rf"(?<![\w.])(?:{_L}\.){{2,}}(?!\w)")
_RE_ABBREVIATION = re.compile(rf"\b({_alternation(_ABBREVIATIONS)})(?:\.|\b(?<=vs))(?!\w)", _I)
_RE_THOUSANDS = re.compile(r"(?<![\d,.])\d{1,3}(?:,\d{3})+(?![\d,])")
_RE_CURRENCY = re.compile(
    rf"(?P<sym>[{''.join(CURRENCIES)}])\s?(?P<num>{_NUM})"
    rf"(?:(?P<mag>{_alternation(_MAGNITUDES)})|\s?(?P<magw>thousand|million|billion|trillion))?(?!\w)",
    _I,
)
_RE_CURRENCY_AFTER = re.compile(rf"(?<![\w.])(?P<num>{_NUM})\s?(?P<sym>[{''.join(CURRENCIES)}])")
_RE_PERCENT = re.compile(rf"(?<![\w.])({_NUM})\s?%")
_RE_DEGREES = re.compile(rf"(?<![\w.])({_NUM})\s?°\s?([cf](?!\w))?", _I)
_RE_ORDINAL = re.compile(r"(?<![\w.])(\d+)(st|nd|rd|th)(?!\w)", _I)
_RE_DECADE_SHORT = re.compile(r"(?<!\w)'(\d)0'?s(?!\w)", _I)
_RE_DECADE = re.compile(r"(?<![\w.])(1\d\d0|20\d0)'?s(?!\w)", _I)
_RE_UNIT = re.compile(rf"(?<![\w.])({_NUM})\s?({_alternation(UNITS)})(?!\w)", _I)
_RE_NEGATIVE = re.compile(r"(?<![\w.\-])-(?=\d)")
_RE_SHARP = re.compile(r"(?<!\w)([cf])#(?!\w)", _I)
_RE_INNER_DOT = re.compile(r"(?<=[^\W_])\.(?=[^\W_])")
_RE_LETTER_DIGIT = re.compile(rf"(?<={_L})(?=\d)|(?<=\d)(?={_L})")
_RE_NUMBER = re.compile(r"\d+(?:\.\d+)*")
_RE_SYMBOL = re.compile(f"[{re.escape(''.join(_SYMBOL_WORDS))}]")
_RE_SEPARATOR = re.compile(r"[-_/\\–]")
_RE_EDGE_APOSTROPHE = re.compile(rf"(?<!{_L})'|'(?!{_L})")

_RE_SENTENCE_END = re.compile(r"(?:(?<=[.!?;…])|(?<=[.!?;…][\"'”’)\]]))\s+|(?<=[。！？])\s*")


# --------------------------------------------------------------------------- numbers


def _clean_number_words(words: str) -> str:
    """num2words output in the spoken form: no "and", no hyphens, no commas."""
    words = words.replace("-", " ").replace(",", " ")
    return " ".join(w for w in words.split() if w != "and")


def _say_digits(digits: str) -> str:
    return " ".join(_ONES[int(d)] for d in digits)


@functools.lru_cache(maxsize=8192)
def _say_integer(digits: str, years: bool = False) -> str:
    """An integer as spoken; 1900-2099 as a year when ``years`` ("twenty twenty four")."""
    from num2words import num2words

    if (len(digits) > 1 and digits[0] == "0") or len(digits) > _MAX_CARDINAL_DIGITS:
        return _say_digits(digits)
    value = int(digits)
    if years and len(digits) == 4 and 1900 <= value <= 2099:
        return _clean_number_words(num2words(value, to="year"))
    return _clean_number_words(num2words(value))


def _say_number(text: str, years: bool = False) -> str:
    """ "3" -> "three", "3.05" -> "three point zero five", "1.2.3" -> "one point two point three"."""
    parts = text.split(".")
    if len(parts) == 1:
        return _say_integer(text, years)
    if len(parts) == 2:
        return f"{_say_integer(parts[0])} point {_say_digits(parts[1])}"
    return " point ".join(_say_integer(p) for p in parts)


@functools.lru_cache(maxsize=1024)
def _say_ordinal(digits: str) -> str:
    from num2words import num2words

    return _clean_number_words(num2words(int(digits), to="ordinal"))


def _plural(words: str) -> str:
    """ "nineteen ninety" -> "nineteen nineties" (decades)."""
    return words[:-1] + "ies" if words.endswith("y") else words + "s"


def _spaced(text: str) -> str:
    return f" {text} "


def _currency(match: re.Match[str]) -> str:
    one, many, cent, cents = CURRENCIES[match["sym"]]
    num, groups = match["num"], match.groupdict()
    magnitude = _MAGNITUDES.get((groups.get("mag") or "").lower()) or (groups.get("magw") or "").lower()
    if magnitude:
        return _spaced(f"{_say_number(num)} {magnitude} {many}")
    whole, _, frac = num.partition(".")
    if frac and len(frac) == 2 and cent:
        parts = []
        if int(whole) or not int(frac):
            parts.append(f"{_say_integer(whole)} {one if whole == '1' else many}")
        if int(frac):
            parts.append(f"{_say_integer(str(int(frac)))} {cent if frac == '01' else cents}")
        return _spaced(" ".join(parts))
    return _spaced(f"{_say_number(num)} {one if num == '1' else many}")


def _time(match: re.Match[str]) -> str:
    hour, minute, meridiem = match.group(1), match.group(2), match.group(3)
    said = _say_integer(str(int(hour)))
    if minute == "00":
        said += "" if meridiem else " o'clock"
    elif minute[0] == "0":
        said += f" oh {_ONES[int(minute[1])]}"
    else:
        said += " " + _say_integer(minute)
    if meridiem:
        said += f" {meridiem[0].lower()} m"
    return _spaced(said)


def _unit(match: re.Match[str]) -> str:
    one, many = UNITS[match.group(2).lower().replace("µ", "μ")]
    num = match.group(1)
    return _spaced(f"{_say_number(num)} {one if num == '1' else many}")


def _inner_dot(match: re.Match[str]) -> str:
    before, after = match.string[match.start() - 1], match.string[match.end()]
    return "." if before.isdigit() and after.isdigit() else " dot "


# Ordered rewriting rules; each sees the output of the ones before it.
_RULES: tuple[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]], ...] = (
    (_RE_RANGE, r"\1 to "),
    (_RE_TIME, _time),
    (_RE_AMPM, lambda m: _spaced(f"{_say_integer(m.group(1))} {m.group(2)[0].lower()} m")),
    (_RE_INITIALISM, lambda m: _spaced(" ".join(m.group(0).replace(".", "")))),
    (_RE_ABBREVIATION, lambda m: _ABBREVIATIONS[m.group(1).lower()]),
    (_RE_THOUSANDS, lambda m: m.group(0).replace(",", "")),
    (_RE_NEGATIVE, "minus "),
    (_RE_CURRENCY, _currency),
    (_RE_CURRENCY_AFTER, _currency),
    (_RE_PERCENT, lambda m: _spaced(f"{_say_number(m.group(1))} percent")),
    (
        _RE_DEGREES,
        lambda m: _spaced(
            f"{_say_number(m.group(1))} {'degree' if m.group(1) == '1' else 'degrees'}"
            + {"c": " celsius", "f": " fahrenheit", "": ""}[(m.group(2) or "").lower()]
        ),
    ),
    (_RE_ORDINAL, lambda m: _spaced(_say_ordinal(m.group(1)))),
    (_RE_DECADE_SHORT, lambda m: _spaced(_plural(_say_integer(m.group(1) + "0")))),
    (_RE_DECADE, lambda m: _spaced(_plural(_say_integer(m.group(1), years=True)))),
    (_RE_UNIT, _unit),
    (_RE_SHARP, r"\1 sharp"),
    (_RE_INNER_DOT, _inner_dot),
    (_RE_LETTER_DIGIT, " "),
    (_RE_NUMBER, lambda m: _spaced(_say_number(m.group(0), years=True))),
    (_RE_SYMBOL, lambda m: _spaced(_SYMBOL_WORDS[m.group(0)])),
    (_RE_SEPARATOR, " "),
)


# --------------------------------------------------------------------------- normalizer


def _is_special_token(token: str) -> bool:
    """``<unk>``, ``<0x0A>``, ``[UNK]``: control tokens, not text."""
    return len(token) > 2 and ((token[0] == "<" and token[-1] == ">") or (token[0] == "[" and token[-1] == "]"))


@dataclass(frozen=True)
class Normalizer:
    """Turns written text into the spoken form a model with ``alphabet`` can write.

    Space is always part of the alphabet (it separates words). Text is lowercased when the
    alphabet has no uppercase letters (uppercased when it has only uppercase letters).
    """

    alphabet: frozenset[str] = DEFAULT_ALPHABET
    # Per-character translation tables (code point -> replacement), filled as characters appear.
    _fold: dict[int, str] = field(default_factory=dict, init=False, repr=False, compare=False)
    _drop: dict[int, str] = field(default_factory=dict, init=False, repr=False, compare=False)
    _work: frozenset[str] = field(default=frozenset(), init=False, repr=False, compare=False)
    _case: str = field(default="lower", init=False, repr=False, compare=False)
    _plain: re.Pattern[str] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        chars = frozenset(self.alphabet) | {" "}
        bad = sorted(repr(c) for c in chars if not isinstance(c, str) or len(c) != 1)
        if bad:
            msg = f'an alphabet is a set of single characters, got {", ".join(bad[:5])}; pass e.g. set("abc\' ")'
            raise ValueError(msg)
        if not any(c.isalpha() for c in chars):
            msg = f"alphabet {sorted(chars)!r} has no letters: nothing could be written in it; check the vocabulary"
            raise ValueError(msg)
        object.__setattr__(self, "alphabet", chars)
        has_upper = any(c.isupper() for c in chars)
        has_lower = any(c.islower() for c in chars)
        object.__setattr__(self, "_case", "keep" if has_upper and has_lower else "upper" if has_upper else "lower")
        # Rules work on lowercase text; an uppercase-only alphabet is matched in lowercase.
        object.__setattr__(self, "_work", frozenset(c.lower() for c in chars) if self._case == "upper" else chars)
        # Text already in spoken form (alphabet letters, inner apostrophes, single spaces) is
        # its own normalization: recognizing it with one regex makes big corpora cheap.
        letters = "".join(sorted(c for c in chars if c.isalpha()))
        if letters:
            word = f"[{re.escape(letters)}]+"
            if "'" in chars:
                word += f"(?:'[{re.escape(letters)}]+)*"
            object.__setattr__(self, "_plain", re.compile(f"{word}(?: {word})*"))

    @classmethod
    def for_vocabulary(cls, tokens: Iterable[str]) -> Normalizer:
        """The normalizer for a model whose output tokens are ``tokens``.

        Character vocabularies give their characters; BPE/WordPiece vocabularies give the
        characters of their pieces (without the ``▁`` and ``##`` markers and control tokens
        like ``<unk>``), plus space.
        """
        chars: set[str] = set()
        for token in tokens:
            if _is_special_token(token):
                continue
            piece = token.replace("▁", "")
            if piece.startswith("##") and len(piece) > 2:
                piece = piece[2:]
            chars.update(piece)
        return cls(frozenset(chars))

    @property
    def case(self) -> str:
        """ "lower", "upper" or "keep": what the alphabet's letters say about case."""
        return self._case

    def describe(self) -> str:
        """The alphabet for messages: ``"a-z, ' and space"``."""
        chars = sorted(self.alphabet - {" "}, key=lambda c: (not c.isalpha(), not c.isdigit(), c))
        parts: list[str] = []
        i = 0
        while i < len(chars):
            j = i
            while j + 1 < len(chars) and ord(chars[j + 1]) == ord(chars[j]) + 1 and chars[j].isalnum():
                j += 1
            parts.append(f"{chars[i]}-{chars[j]}" if j - i >= 2 else ", ".join(chars[i : j + 1]))
            i = j + 1
        return ", ".join(parts) + " and space"

    # -- characters

    def _fold_char(self, ch: str) -> str:
        """``ch`` with accents stripped unless the alphabet has it as it is."""
        if ch in self._work or ch.isascii():
            return ch
        if ch in _TRANSLITERATE:
            return _TRANSLITERATE[ch]
        decomposed = unicodedata.normalize("NFKD", ch)
        stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
        return unicodedata.normalize("NFC", stripped) or ch

    @staticmethod
    def _translate(text: str, table: dict[int, str], make: Callable[[str], str]) -> str:
        for ch in set(text):
            if ord(ch) not in table:
                table[ord(ch)] = make(ch)
        return text.translate(table)

    def _drop_char(self, ch: str) -> str:
        if ch in self._work:
            return ch
        if ch == "'" or unicodedata.category(ch) == "Cf":  # zero-width, soft hyphen: inside words
            return ""
        return " "

    def _prepare(self, text: str) -> str:
        text = unicodedata.normalize("NFKC", text).translate(_PUNCT_MAP)
        if self._case != "keep":
            text = text.lower()
        return self._translate(text, self._fold, self._fold_char)

    # -- public

    def normalize(self, text: str) -> str:
        """One line of text in the spoken form of this alphabet ("" when nothing remains)."""
        if self._plain is not None and text.isascii() and self._plain.fullmatch(text):
            return text
        text = self._prepare(text)
        used = set(text)
        if not (used <= self._work and not used & _REWRITTEN):
            for pattern, replacement in _RULES:
                text = pattern.sub(replacement, text)
        if "'" in self._work and "'" in text:
            text = _RE_EDGE_APOSTROPHE.sub("", text)
        text = " ".join(self._translate(text, self._drop, self._drop_char).split())
        return text.upper() if self._case == "upper" else text

    def normalize_corpus(self, text: str) -> list[str]:
        """Raw text to normalized sentences, one per line, empty results dropped."""
        return [s for s in map(self.normalize, split_sentences(text)) if s]

    def coverage(self, text: str) -> float:
        """Fraction of the letters, digits and symbols of ``text`` this alphabet can render.

        Punctuation does not count (dropping it loses nothing spoken); letters of other
        scripts, emoji and unknown symbols count as lost. 1.0 for text with none of them.
        """
        if text.isascii():
            # Fast path for big corpora: when no distinct character is lost, nothing is, and
            # counting is not needed (for ASCII, preparing characters one by one is exact).
            prepared = {ch for c in set(text) for ch in self._prepare(c)}
            if all(self._renders(ch) for ch in prepared if unicodedata.category(ch)[0] in "LNS"):
                return 1.0
        counts = Counter(self._prepare(text))
        content = kept = 0
        for ch, n in counts.items():
            if unicodedata.category(ch)[0] not in "LNS":
                continue
            content += n
            kept += n if self._renders(ch) else 0
        return kept / content if content else 1.0

    def _renders(self, ch: str) -> bool:
        return ch in self._work or ch in _SPOKEN_SYMBOLS or (ch.isdigit() and ch.isascii())


@functools.lru_cache(maxsize=1)
def default_normalizer() -> Normalizer:
    """The normalizer for the default (demo model) alphabet."""
    return Normalizer()


def normalize(text: str, normalizer: Normalizer | None = None) -> str:
    """``text`` (one line) in spoken form; see :meth:`Normalizer.normalize`."""
    return (normalizer or default_normalizer()).normalize(text)


def split_sentences(text: str) -> list[str]:
    """Raw text to sentences: one per line, and within a line at ``. ! ? ;`` before a space.

    A dot without a following space ("3.5", "api.example.com") does not split, nor one after
    a title or "e.g.". The sentences are returned as written, stripped.
    """
    sentences: list[str] = []
    if not any(mark in text for mark in ".!?;"):  # nothing to split within lines: one C-speed pass
        return [line for line in map(str.strip, text.splitlines()) if line]
    for line in text.splitlines():
        pieces = [p.strip() for p in _RE_SENTENCE_END.split(line)]
        merged: list[str] = []
        for piece in pieces:
            if not piece:
                continue
            if merged and merged[-1].rsplit(None, 1)[-1].lower() in _NON_FINAL:
                merged[-1] += " " + piece
            else:
                merged.append(piece)
        sentences.extend(merged)
    return sentences


def normalize_corpus(text: str, normalizer: Normalizer | None = None) -> list[str]:
    """Raw text to normalized sentences, empty ones dropped."""
    return (normalizer or default_normalizer()).normalize_corpus(text)
