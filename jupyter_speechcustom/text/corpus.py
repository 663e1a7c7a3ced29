"""Text corpora: reading uploaded text of any common encoding, statistics, unknown words.

A corpus is what a custom language model learns from, so it is kept in normalized form
(see :mod:`jupyter_speechcustom.text.normalize`). Its out-of-vocabulary words, those the base model's
training text never had, are the ones custom words and a language model help most with.
"""

from __future__ import annotations

import codecs
import functools
import logging
import re
from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from jupyter_speechcustom.constants import (
    KNOWN_WORDS_TOP_N,
    MAX_CONTROL_CHAR_RATIO,
    MAX_CORPUS_LINE_CHARS,
    MIN_CORPUS_COVERAGE,
    SUMMARY_TOP_OOV,
)
from jupyter_speechcustom.errors import CorpusError
from jupyter_speechcustom.text.normalize import Normalizer, default_normalizer

__all__ = ["Corpus", "known_words", "oov_words", "read_text"]

log = logging.getLogger(__name__)

# Byte order marks, longest first: the UTF-32 LE mark starts with the UTF-16 LE one.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)

# charset_normalizer often cannot tell legacy code pages apart on short text; the most common
# one for Western text wins a tie.
_PREFERRED_LEGACY = "cp1252"

# C0 and C1 control characters other than tab, newlines and form feed: rare in real text.
_CONTROL_CHARS = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")
_CONTROL_BYTES = bytes([*range(0x09), 0x0B, *range(0x0E, 0x20), 0x7F])


def _label(source: str | Path | bytes, name: str | None) -> str:
    if name:
        return name
    return "the uploaded text" if isinstance(source, (bytes, bytearray)) else str(source)


def _control_ratio(text: str) -> float:
    """Share of C0/C1 control characters other than tab, newlines and form feed."""
    return len(_CONTROL_CHARS.findall(text)) / len(text) if text else 0.0


def _binary_error(label: str) -> CorpusError:
    return CorpusError(
        f"{label} looks like a binary file, not text (it has NUL or control bytes): "
        "upload plain text (UTF-8), e.g. saved as .txt, not a document, archive or image"
    )


def _decoding_error(label: str, encoding: str | None) -> CorpusError:
    guess = encoding or "ENCODING"
    return CorpusError(
        f"cannot decode {label} as text{f' ({encoding})' if encoding else ''}: save it as UTF-8, "
        f"e.g. with `iconv -f {guess} -t UTF-8 in.txt > out.txt` (find ENCODING with `file -i in.txt`)"
    )


def _detect(data: bytes, label: str) -> str:
    """Decode non-UTF-8 ``data`` with charset_normalizer, or raise :class:`CorpusError`."""
    from charset_normalizer import from_bytes

    matches = list(from_bytes(data))
    if not matches:
        raise _decoding_error(label, None)
    best = matches[0]
    for match in matches:  # on a tie (short text often ties) prefer the Western default
        if match.encoding == _PREFERRED_LEGACY and match.chaos <= best.chaos and match.coherence >= best.coherence:
            best = match
            break
    if best.chaos > 0.2:
        raise _decoding_error(label, best.encoding)
    text = str(best)
    log.warning(
        "%s is not UTF-8; decoded it as %s. Check the text reads right, or convert it first: iconv -f %s -t UTF-8",
        label,
        best.encoding,
        best.encoding,
    )
    return text


def _decode(data: bytes, label: str) -> str:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError:
                raise _decoding_error(label, encoding.replace("-sig", "")) from None
    if b"\x00" in data:
        # Only UTF-16/32 without a byte order mark has NUL bytes and is still text.
        from charset_normalizer import from_bytes

        best = from_bytes(data).best()
        if best is None or not best.encoding.startswith(("utf_16", "utf_32")):
            raise _binary_error(label)
        text = str(best)
        if "\x00" in text or _control_ratio(text) > MAX_CONTROL_CHAR_RATIO:
            raise _binary_error(label)
        log.warning("%s is %s without a byte order mark; decoded it as such", label, best.encoding)
        return text
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    controls = len(data) - len(data.translate(None, _CONTROL_BYTES))
    if controls / len(data) > MAX_CONTROL_CHAR_RATIO:
        raise _binary_error(label)
    return _detect(data, label)


def read_text(source: str | Path | bytes, name: str | None = None) -> str:
    """The text of a file (``str`` or ``Path``) or of uploaded ``bytes``, decoded.

    UTF-8 (with or without BOM), UTF-16/32 with a BOM, and legacy encodings such as cp1252
    (detected, with a logged warning) are read. Binary and empty input raise
    :class:`CorpusError`, which names the input as ``name`` (default: the path).
    """
    label = _label(source, name)
    if isinstance(source, (bytes, bytearray)):
        data = bytes(source)
    else:
        path = Path(source)
        if not path.exists():
            msg = f"{label} does not exist: check the path (relative paths start at {Path.cwd()})"
            raise CorpusError(msg)
        if not path.is_file():
            msg = f"{label} is a folder, not a text file: give the path of a file inside it"
            raise CorpusError(msg)
        try:
            data = path.read_bytes()
        except OSError as exc:
            msg = f"cannot read {label}: {exc.strerror or exc}; check its permissions"
            raise CorpusError(msg) from exc
    if not data.strip():
        msg = f"{label} is empty: it has no text; add sentences (one per line) or choose another file"
        raise CorpusError(msg)
    text = _decode(data, label)
    if "\x00" in text or _control_ratio(text) > MAX_CONTROL_CHAR_RATIO:
        raise _binary_error(label)
    if not text.strip():
        msg = f"{label} is empty: it has only whitespace; add sentences (one per line) or choose another file"
        raise CorpusError(msg)
    return text


def _check_line_lengths(text: str, name: str, limit: int = MAX_CORPUS_LINE_CHARS) -> None:
    """Refuse a line longer than ``limit`` characters before it is normalized (in one piece, it
    would take many times its size in memory): a corpus has one sentence per line."""
    if len(text) <= limit:
        return
    start, number, size = 0, 1, len(text)
    while start < size:
        end = text.find("\n", start)
        end = size if end < 0 else end
        if end - start > limit and max(map(len, text[start:end].splitlines()), default=0) > limit:
            msg = (
                f"{name}, line {number}, is {end - start:,} characters long, more than the limit of {limit:,}: "
                "a corpus has one sentence per line; split it into sentences (e.g. a line break after each "
                "'. '), then add it again"
            )
            raise CorpusError(msg)
        start, number = end + 1, number + 1


@dataclass(frozen=True)
class Corpus:
    """Normalized sentences of a text, with the statistics a user checks before building."""

    name: str
    sentences: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "sentences", tuple(self.sentences))

    @property
    def fingerprint(self) -> str:
        """A hash of the normalized sentences: the same text gives the same fingerprint, whatever its file."""
        import hashlib

        return hashlib.sha256("\n".join(self.sentences).encode("utf-8")).hexdigest()[:16]

    @classmethod
    def from_text(cls, text: str, name: str = "text", normalizer: Normalizer | None = None) -> Corpus:
        """Split ``text`` into sentences and normalize them for ``normalizer``'s alphabet."""
        normalizer = normalizer or default_normalizer()
        if not text.strip():
            msg = f"{name} is empty: it has no text; add sentences (one per line)"
            raise CorpusError(msg)
        _check_line_lengths(text, name)
        sentences = tuple(normalizer.normalize_corpus(text))
        if not sentences:
            msg = (
                f"{name} has no text the model can use: after normalization nothing remains. It must "
                f"contain words in the model's alphabet ({normalizer.describe()}); symbols, emoji and "
                "other scripts are dropped"
            )
            raise CorpusError(msg)
        coverage = normalizer.coverage(text)
        if coverage < MIN_CORPUS_COVERAGE:
            log.warning(
                "%s lost %.0f%% of its letters, digits and symbols to normalization (other scripts, emoji, "
                "unknown symbols): check corpus.preview() reads as intended",
                name,
                100 * (1 - coverage),
            )
        return cls(name, sentences)

    @classmethod
    def from_file(cls, path: str | Path, normalizer: Normalizer | None = None) -> Corpus:
        """A corpus from a text file, named after the file."""
        return cls.from_text(read_text(path), name=Path(path).name, normalizer=normalizer)

    @classmethod
    def from_bytes(cls, data: bytes, name: str, normalizer: Normalizer | None = None) -> Corpus:
        """A corpus from uploaded bytes (e.g. a JupyterLab file upload) called ``name``."""
        return cls.from_text(read_text(data, name=name), name=name, normalizer=normalizer)

    @property
    def sentence_count(self) -> int:
        return len(self.sentences)

    @property
    def word_count(self) -> int:
        if "_counts" in self.__dict__:
            return sum(self._counts.values())
        return sum(sentence.count(" ") + 1 for sentence in self.sentences)  # sentences are normalized

    @cached_property
    def _counts(self) -> Counter[str]:
        return Counter(word for sentence in self.sentences for word in sentence.split())

    def word_counts(self) -> Counter[str]:
        """How often each word occurs (a copy: changing it does not change the corpus)."""
        return Counter(self._counts)

    def oov(self, known: Collection[str]) -> list[tuple[str, int]]:
        """Words not in ``known`` with their counts, most frequent first, ties alphabetical
        (:func:`oov_words` of the corpus's words)."""
        return oov_words(self._counts, known)

    def preview(self, n: int = 10) -> list[str]:
        """The first ``n`` normalized sentences: what the language model will see."""
        return list(self.sentences[:n])

    def summary(self, known: Collection[str] | None = None) -> dict[str, Any]:
        """Counts and the top out-of-vocabulary words (against ``known``, default: common English)."""
        oov = self.oov(known if known is not None else known_words())
        return {
            "name": self.name,
            "sentences": self.sentence_count,
            "words": self.word_count,
            "distinct_words": len(self._counts),
            "oov_count": len(oov),
            "oov_occurrences": sum(n for _, n in oov),
            "top_oov": oov[:SUMMARY_TOP_OOV],
        }


def oov_words(words: Mapping[str, int] | Iterable[str], known: Collection[str]) -> list[tuple[str, int]]:
    """The toolkit's one notion of out-of-vocabulary: the distinct words of ``words`` (a corpus's
    word counts, or the words of a word list) that are not in ``known`` (the base model's known
    words, :func:`known_words`), with their counts, most frequent first, ties alphabetical.

    Every report (the Data and Language model tabs, Manage, the CLI) counts OOV words with it.
    """
    counts = words if isinstance(words, Mapping) else Counter(words)
    known_set = known if isinstance(known, (set, frozenset)) else set(known)
    unknown = [(word, int(n)) for word, n in counts.items() if word not in known_set]
    return sorted(unknown, key=lambda item: (-item[1], item[0]))


def _words_of(lines: list[str], normalizer: Normalizer) -> frozenset[str]:
    return frozenset(word for line in lines for word in normalizer.normalize(line).split())


@functools.lru_cache(maxsize=8)
def _known_from_file(path: str, mtime_ns: int, size: int, normalizer: Normalizer) -> frozenset[str]:
    del mtime_ns, size  # cache keys: a changed file is read again
    return _words_of(read_text(path).splitlines(), normalizer)


@functools.lru_cache(maxsize=4)
def _known_from_wordfreq(normalizer: Normalizer, top_n: int) -> frozenset[str]:
    import wordfreq

    return _words_of(wordfreq.top_n_list("en", top_n), normalizer)


def known_words(base_training_text: Path | str | None = None, normalizer: Normalizer | None = None) -> frozenset[str]:
    """Words a base model already knows: those of its training text (one sentence a line).

    Without a training text (e.g. a pretrained NeMo model), the 100,000 most frequent English
    words stand in for it. Results are cached.
    """
    normalizer = normalizer or default_normalizer()
    if base_training_text is None:
        return _known_from_wordfreq(normalizer, KNOWN_WORDS_TOP_N)
    path = Path(base_training_text)
    if not path.is_file():
        msg = f"base model training text {path} does not exist: give the text file the model was trained on"
        raise CorpusError(msg)
    stat = path.stat()
    return _known_from_file(str(path.resolve()), stat.st_mtime_ns, stat.st_size, normalizer)
