"""Custom words: a word, how it may sound when misheard, and how to display it.

A base model that never heard "kubectl" writes what it hears ("cube control"). A custom
word teaches the language model the word itself, rewrites its sounds-like spellings in
transcripts back to the word, and shows it in its display form ("PostgreSQL").

Files are CSV (``word,sounds_like,display_as``, sounds-like spellings separated by ``;``),
JSON (IBM Watson's custom words shape) or plain text (one word per line).
"""

from __future__ import annotations

import csv
import functools
import io
import json
import logging
import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jupyter_speechcustom.errors import CorpusError
from jupyter_speechcustom.io.files import atomic_writer
from jupyter_speechcustom.text.corpus import oov_words, read_text
from jupyter_speechcustom.text.normalize import Normalizer, default_normalizer

__all__ = [
    "CSV_COLUMNS",
    "CustomWord",
    "apply_display_as",
    "apply_sounds_like",
    "oov_words",
    "read_custom_words",
    "word_list_oov",
    "words_text",
    "write_custom_words",
]

log = logging.getLogger(__name__)

#: Columns of a custom words CSV file, in the order they are written.
CSV_COLUMNS = ("word", "sounds_like", "display_as")

# Keys of IBM Watson's custom words JSON that carry nothing for this toolkit.
_IGNORED_JSON_KEYS = frozenset({"count", "source", "error", "mapping_only"})

_HEADER_HINT = "the header row word,sounds_like,display_as"

#: Longest word, sounds-like spelling or display form, in characters, and most sounds-like
#: spellings of one word: longer values are a broken file (e.g. an unclosed quote), not a word.
MAX_WORD_CHARS = 200
MAX_SOUNDS_LIKE = 20


@dataclass(frozen=True)
class CustomWord:
    """A word in the model's normalized spelling, with optional hints.

    ``sounds_like``: normalized phrases the model may write instead of the word.
    ``display_as``: how transcripts show the word (verbatim), or None to show it as it is.
    Build one from user input with :meth:`create`, which normalizes.
    """

    word: str
    sounds_like: tuple[str, ...] = ()
    display_as: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.word, str) or not self.word.strip():
            msg = f"a custom word cannot be empty (got {self.word!r}): give the word as the model should write it"
            raise CorpusError(msg)
        sounds_like = (self.sounds_like,) if isinstance(self.sounds_like, str) else tuple(self.sounds_like)
        bad = [s for s in sounds_like if not isinstance(s, str) or not s.strip()]
        if bad:
            msg = f"sounds-like spellings of {self.word!r} must be non-empty text, got {bad!r}: remove the empty ones"
            raise CorpusError(msg)
        object.__setattr__(self, "sounds_like", sounds_like)
        if self.display_as is not None and not isinstance(self.display_as, str):
            msg = f"display_as of {self.word!r} must be text or None, got {type(self.display_as).__name__}"
            raise CorpusError(msg)
        if self.display_as is not None and not self.display_as.strip():
            object.__setattr__(self, "display_as", None)

    @classmethod
    def create(
        cls,
        word: str,
        sounds_like: Iterable[str] | str = (),
        display_as: str | None = None,
        normalizer: Normalizer | None = None,
    ) -> CustomWord:
        """A custom word from user input: ``word`` and ``sounds_like`` are normalized.

        ``sounds_like`` is a list or a ``;``-separated string. ``display_as`` is kept verbatim;
        when it is not given and normalization changed the word ("PostgreSQL" ->
        "postgresql"), the word as written becomes the display form.
        """
        normalizer = normalizer or default_normalizer()
        if not isinstance(word, str):
            msg = f"a custom word must be text, got {type(word).__name__} {word!r:.80}"
            raise CorpusError(msg)
        if len(word) > MAX_WORD_CHARS:
            msg = (
                f"the word {word[:40]!r}... is {len(word):,} characters long, more than {MAX_WORD_CHARS}: "
                "give one word or short phrase per row"
            )
            raise CorpusError(msg)
        if isinstance(display_as, str) and len(display_as) > MAX_WORD_CHARS:
            msg = (
                f"the display form of {word.strip()!r} is {len(display_as):,} characters long, more than "
                f"{MAX_WORD_CHARS}: shorten it"
            )
            raise CorpusError(msg)
        spoken = normalizer.normalize(word)
        if not spoken:
            msg = (
                f"the word {word.strip()!r} has nothing the model can write after normalization: "
                f"spell it with the model's alphabet ({normalizer.describe()})"
            )
            raise CorpusError(msg)
        if isinstance(sounds_like, str):
            sounds_like = sounds_like.split(";")
        sounds_like = list(sounds_like)
        if sum(1 for p in sounds_like if not isinstance(p, str) or p.strip()) > MAX_SOUNDS_LIKE:
            msg = (
                f"{word.strip()!r} has {len(sounds_like):,} sounds-like spellings, more than {MAX_SOUNDS_LIKE}: "
                "keep the ways the model really mishears it"
            )
            raise CorpusError(msg)
        phrases: list[str] = []
        for phrase in sounds_like:
            if not isinstance(phrase, str):
                msg = f"sounds-like spellings of {word!r} must be text, got {type(phrase).__name__} {phrase!r:.80}"
                raise CorpusError(msg)
            if len(phrase) > MAX_WORD_CHARS:
                msg = (
                    f"a sounds-like spelling of {word.strip()!r} is {len(phrase):,} characters long, more than "
                    f"{MAX_WORD_CHARS}: separate spellings with ';'"
                )
                raise CorpusError(msg)
            if not phrase.strip():
                continue
            said = normalizer.normalize(phrase)
            if not said:
                msg = (
                    f"the sounds-like spelling {phrase.strip()!r} of {word.strip()!r} has nothing the model can "
                    f"write after normalization: spell it as it sounds, with {normalizer.describe()}"
                )
                raise CorpusError(msg)
            if said != spoken and said not in phrases:
                phrases.append(said)
        display = display_as.strip() if isinstance(display_as, str) else display_as
        if not display and word.strip() != spoken:
            display = word.strip()
        return cls(spoken, tuple(phrases), display or None)


def normalization_note(written: str, spoken: str) -> str | None:
    """A note naming what normalization did to a word as written, when it did more than lowercase
    it and tidy its spaces (``"Sgr A*"`` -> ``"sgr a"``); None otherwise."""
    if " ".join(written.lower().split()) == spoken:
        return None
    return f"{written.strip()!r} is spoken as {spoken!r} (what the model can write)"


# --------------------------------------------------------------------------- reading


def _where(label: str, kind: str, number: int) -> str:
    return f"{label}, {kind} {number}"


def _make(where: str, normalizer: Normalizer, word: Any, sounds_like: Any, display_as: Any) -> CustomWord:
    try:
        return CustomWord.create(word, sounds_like, display_as, normalizer=normalizer)
    except CorpusError as exc:
        raise CorpusError(f"{where}: {exc}") from None


def _column(cell: str) -> str:
    name = cell.strip().lstrip("\ufeff").lower().replace("-", "_").replace(" ", "_")
    return {"soundslike": "sounds_like", "displayas": "display_as"}.get(name, name)


def _parse_csv(text: str, label: str, normalizer: Normalizer) -> list[tuple[str, CustomWord]]:
    reader = csv.reader(io.StringIO(text))
    header: list[str] | None = None
    entries: list[tuple[str, CustomWord]] = []
    rows = iter(reader)
    while True:
        start = reader.line_num + 1
        try:
            row = next(rows)
        except StopIteration:
            break
        except csv.Error as exc:  # e.g. a field over the csv module's size limit (an unclosed quote)
            msg = f"{_where(label, 'line', start)}: {exc}: check for a quote (\") that is never closed"
            raise CorpusError(msg) from None
        where = _where(label, "line", start)
        if reader.line_num > start and any("\n" in cell or "\r" in cell for cell in row):
            msg = (
                f"{where}: a quote (\") opened on this line is not closed before line {reader.line_num}, so "
                "the lines in between were read as one value: close the quote, or remove it"
            )
            raise CorpusError(msg)
        if not any(cell.strip() for cell in row) or row[0].lstrip().startswith("#"):
            continue
        if header is None:
            columns = [_column(c) for c in row]
            while columns and not columns[-1]:
                columns.pop()
            unknown = [c for c in columns if c not in CSV_COLUMNS]
            if columns[:1] != ["word"] and "word" not in columns:
                msg = f"{where}: expected {_HEADER_HINT}, got {','.join(row)!r}: add the header as the first line"
                raise CorpusError(msg)
            if unknown or len(set(columns)) != len(columns):
                msg = (
                    f"{where}: unknown or repeated columns {unknown or columns!r}; "
                    f"the columns are {', '.join(CSV_COLUMNS)}: fix {_HEADER_HINT}"
                )
                raise CorpusError(msg)
            header = columns
            continue
        extra = row[len(header) :]
        if any(cell.strip() for cell in extra):
            msg = (
                f"{where}: {len(row)} values but the header has {len(header)} columns ({', '.join(header)}); "
                "separate sounds-like spellings with ';', not ',', or quote values that contain commas"
            )
            raise CorpusError(msg)
        values = dict(zip(header, row))
        if not values.get("word", "").strip():
            msg = f"{where}: the word is empty: fill in the word column or delete the row"
            raise CorpusError(msg)
        cw = _make(where, normalizer, values["word"], values.get("sounds_like", ""), values.get("display_as"))
        entries.append((where, cw))
    if header is None:
        msg = f"{label} has no rows: add {_HEADER_HINT} and one row per word"
        raise CorpusError(msg)
    return entries


def _parse_json(text: str, label: str, normalizer: Normalizer) -> list[tuple[str, CustomWord]]:
    try:
        data = json.loads(text)
    except RecursionError:
        msg = f"{label} nests lists or objects too deeply to be a list of words: write [{{\"word\": \"kubectl\"}}]"
        raise CorpusError(msg) from None
    except json.JSONDecodeError as exc:
        msg = (
            f"{label} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}); fix it, or use CSV "
            f"with {_HEADER_HINT}"
        )
        raise CorpusError(msg) from None
    if isinstance(data, dict) and "words" in data:
        data = data["words"]
    if not isinstance(data, list):
        msg = (
            f'{label}: expected a JSON list of words, or an object with a "words" list, got '
            f'{type(data).__name__}: write [{{"word": "kubectl", "sounds_like": ["cube control"]}}]'
        )
        raise CorpusError(msg)
    entries: list[tuple[str, CustomWord]] = []
    for number, item in enumerate(data, start=1):
        where = _where(label, "item", number)
        if isinstance(item, str):
            entries.append((where, _make(where, normalizer, item, (), None)))
            continue
        if not isinstance(item, dict):
            msg = f'{where}: expected an object with a "word", got {type(item).__name__} {item!r}'
            raise CorpusError(msg)
        unknown = sorted(set(item) - set(CSV_COLUMNS) - _IGNORED_JSON_KEYS)
        if unknown:
            msg = f"{where}: unknown keys {unknown!r}; the keys are {', '.join(CSV_COLUMNS)}: rename or remove them"
            raise CorpusError(msg)
        word = item.get("word")
        if not isinstance(word, str) or not word.strip():
            msg = f'{where}: "word" is missing or empty: give each item a "word"'
            raise CorpusError(msg)
        sounds_like = item.get("sounds_like")
        if sounds_like is None:
            sounds_like = ()
        elif not isinstance(sounds_like, (str, list)) or not all(isinstance(s, str) for s in sounds_like):
            msg = f"{where}: \"sounds_like\" must be a list of strings or a ';'-separated string"
            raise CorpusError(msg)
        display_as = item.get("display_as")
        if display_as is not None and not isinstance(display_as, str):
            msg = f'{where}: "display_as" must be a string or null, got {type(display_as).__name__}'
            raise CorpusError(msg)
        entries.append((where, _make(where, normalizer, word, sounds_like, display_as)))
    return entries


def _parse_lines(text: str, label: str, normalizer: Normalizer) -> list[tuple[str, CustomWord]]:
    entries: list[tuple[str, CustomWord]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        word = line.strip()
        if not word or word.startswith("#"):
            continue
        where = _where(label, "line", number)
        if "," in word:
            msg = (
                f"{where}: {word!r} has a comma; a plain word list has one word per line. For sounds-like "
                f"spellings use CSV with {_HEADER_HINT}"
            )
            raise CorpusError(msg)
        entries.append((where, _make(where, normalizer, word, (), None)))
    return entries


def _format(source: str | Path | bytes, name: str | None, text: str) -> str:
    """ "csv", "json" or "lines", by file suffix, else by content."""
    named = name or (None if isinstance(source, (bytes, bytearray)) else str(source))
    suffix = Path(named).suffix.lower() if named else ""
    if suffix == ".json":
        return "json"
    if suffix == ".csv":
        return "csv"
    stripped = text.lstrip("\ufeff \t\r\n")
    if stripped[:1] in ("[", "{"):
        return "json"
    first = next((ln for ln in stripped.splitlines() if ln.strip() and not ln.lstrip().startswith("#")), "")
    if "," in first or _column(first) == "word":
        return "csv"
    return "lines"


def read_custom_words(
    source: str | Path | bytes, name: str | None = None, normalizer: Normalizer | None = None
) -> list[CustomWord]:
    """Custom words from a CSV, JSON or plain word-list file (a path, or uploaded bytes).

    Words and sounds-like spellings are normalized for ``normalizer``'s alphabet. A word
    listed twice keeps its later entry (with a logged warning). Errors name the line (CSV,
    plain text) or item (JSON) to fix.
    """
    normalizer = normalizer or default_normalizer()
    label = name or ("the uploaded words" if isinstance(source, (bytes, bytearray)) else str(source))
    text = read_text(source, name=label)
    parse = {"csv": _parse_csv, "json": _parse_json, "lines": _parse_lines}[_format(source, name, text)]
    entries = parse(text, label, normalizer)
    if not entries:
        msg = f"{label} is empty: it lists no custom words; add one word per row"
        raise CorpusError(msg)
    words: dict[str, CustomWord] = {}
    first_seen: dict[str, str] = {}
    for where, cw in entries:
        if cw.word in words:
            log.warning(
                "%s: %r is listed again (first at %s); the later entry is used", where, cw.word, first_seen[cw.word]
            )
        else:
            first_seen[cw.word] = where
        words[cw.word] = cw
    return list(words.values())


def write_custom_words(path: str | Path, words: Iterable[CustomWord]) -> Path:
    """Write ``words`` as CSV (``word,sounds_like,display_as``), atomically: never half a file."""
    path = Path(path)
    with atomic_writer(path, "w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for cw in words:
            writer.writerow([cw.word, ";".join(cw.sounds_like), cw.display_as or ""])
    return path


# --------------------------------------------------------------------------- applying


def _key(phrase: str) -> str:
    return " ".join(phrase.lower().split())


@functools.lru_cache(maxsize=64)
def _phrase_pattern(phrases: tuple[str, ...]) -> re.Pattern[str]:
    """Whole-word alternation of ``phrases``, longest first; spaces match any whitespace."""
    ordered = sorted(phrases, key=lambda p: (-len(p), p))
    alternation = "|".join(r"\s+".join(re.escape(w) for w in p.split()) for p in ordered)
    return re.compile(rf"(?<![\w'])(?:{alternation})(?![\w'])", re.IGNORECASE)


def _replace_phrases(text: str, mapping: dict[str, str]) -> str:
    if not mapping or not text:
        return text
    pattern = _phrase_pattern(tuple(sorted(mapping)))
    return pattern.sub(lambda m: mapping[_key(m.group(0))], text)


def apply_sounds_like(text: str, words: Sequence[CustomWord]) -> str:
    """``text`` with whole-word sounds-like phrases replaced by their words, longest first.

    "cube control" -> "kubectl"; "cube controls" is left alone.
    """
    mapping = {_key(phrase): cw.word for cw in words for phrase in cw.sounds_like if _key(phrase)}
    return _replace_phrases(text, mapping)


def apply_display_as(text: str, words: Sequence[CustomWord]) -> str:
    """``text`` with whole-word occurrences of each word replaced by its display form."""
    mapping = {_key(cw.word): cw.display_as for cw in words if cw.display_as}
    return _replace_phrases(text, mapping)


def words_text(words: Iterable[CustomWord]) -> list[str]:
    """Lines for language-model training text: each word alone on a line, once."""
    return list(dict.fromkeys(cw.word for cw in words))


def word_list_oov(words: Iterable[CustomWord], known: Collection[str]) -> list[tuple[str, int]]:
    """The words of a custom word list the base model does not know (``known``): :func:`oov_words`
    (the one notion of OOV) of the words the list's entries are made of."""
    return oov_words([token for cw in words for token in cw.word.split()], known)
