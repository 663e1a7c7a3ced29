from __future__ import annotations

import logging
import zlib
from collections import Counter
from pathlib import Path

import pytest

from jupyter_speechcustom.errors import CorpusError
from jupyter_speechcustom.text.corpus import Corpus, known_words, read_text
from jupyter_speechcustom.text.normalize import Normalizer

WESTERN = "café résumé naïve \u201cquoted\u201d and it\u2019s fine\nsecond line"


def _png() -> bytes:
    """A real 1x1 PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    header = (1).to_bytes(4, "big") * 2 + bytes([8, 6, 0, 0, 0])
    pixels = zlib.compress(b"\x00\xff\x00\x00\xff")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


# --------------------------------------------------------------------------- read_text


@pytest.mark.parametrize(
    "data",
    [
        WESTERN.encode("utf-8"),
        b"\xef\xbb\xbf" + WESTERN.encode("utf-8"),
        WESTERN.encode("utf-16"),  # with BOM, native order
        b"\xfe\xff" + WESTERN.encode("utf-16-be"),
        b"\xff\xfe" + WESTERN.encode("utf-16-le"),
        WESTERN.encode("utf-32"),
    ],
    ids=["utf8", "utf8-bom", "utf16", "utf16be-bom", "utf16le-bom", "utf32"],
)
def test_read_text_unicode_encodings(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "corpus.txt"
    path.write_bytes(data)
    assert read_text(path) == WESTERN
    assert read_text(str(path)) == WESTERN
    assert read_text(data, name="upload.txt") == WESTERN


def test_read_text_cp1252_is_detected_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "legacy.txt"
    path.write_bytes(WESTERN.encode("cp1252"))
    with caplog.at_level(logging.WARNING, logger="jupyter_speechcustom.text.corpus"):
        assert read_text(path) == WESTERN
    assert "cp1252" in caplog.text
    assert "legacy.txt" in caplog.text


def test_read_text_utf16_without_bom(caplog: pytest.LogCaptureFixture) -> None:
    text = "hello world, this is plain text\nwith two lines"
    with caplog.at_level(logging.WARNING):
        assert read_text(text.encode("utf-16-le"), name="x.txt") == text
    assert "utf_16_le" in caplog.text


@pytest.mark.parametrize(
    "data", [bytes(range(256)) * 10, _png(), b"abc\x01\x02\x03\x04\x05def"], ids=["bytes", "png", "controls"]
)
def test_read_text_binary_is_rejected(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "image.png"
    path.write_bytes(data)
    with pytest.raises(CorpusError, match="binary file, not text") as info:
        read_text(path)
    assert "image.png" in str(info.value)
    assert "UTF-8" in str(info.value)


@pytest.mark.parametrize("data", [b"", b"   \n\t\r\n  ", b"\xef\xbb\xbf", " \n".encode("utf-16")])
def test_read_text_empty_is_rejected(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "empty.txt"
    path.write_bytes(data)
    with pytest.raises(CorpusError, match="empty"):
        read_text(path)
    with pytest.raises(CorpusError, match="upload.txt is empty"):
        read_text(data, name="upload.txt")


def test_read_text_missing_path_and_folder(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="does not exist"):
        read_text(tmp_path / "nope.txt")
    with pytest.raises(CorpusError, match="folder"):
        read_text(tmp_path)


def test_read_text_undecodable_suggests_iconv() -> None:
    with pytest.raises(CorpusError, match="iconv -f") as info:
        read_text(bytes(range(128, 256)) * 10, name="weird.txt")
    assert "weird.txt" in str(info.value)


def test_corpus_error_is_value_error() -> None:
    with pytest.raises(ValueError):
        read_text(b"", name="x")


# --------------------------------------------------------------------------- Corpus


def test_corpus_from_text_normalizes_and_counts() -> None:
    corpus = Corpus.from_text("Restart the pods. Restart NGINX!\nScale to 3 pods; done", name="ops")
    assert corpus.name == "ops"
    assert corpus.sentences == ("restart the pods", "restart nginx", "scale to three pods", "done")
    assert corpus.sentence_count == 4
    assert corpus.word_count == 10
    assert corpus.word_counts() == Counter(
        {"restart": 2, "pods": 2, "the": 1, "nginx": 1, "scale": 1, "to": 1, "three": 1, "done": 1}
    )
    corpus.word_counts()["restart"] = 99  # a copy: the corpus is unchanged
    assert corpus.word_counts()["restart"] == 2
    assert corpus.preview(2) == ["restart the pods", "restart nginx"]
    assert corpus.preview() == list(corpus.sentences)


def test_corpus_oov_order_and_summary() -> None:
    corpus = Corpus.from_text("kubectl helm kubectl zeta alpha the\nkubectl helm the the", name="jargon")
    known = {"the"}
    assert corpus.oov(known) == [("kubectl", 3), ("helm", 2), ("alpha", 1), ("zeta", 1)]
    assert corpus.oov(["the", "helm"]) == [("kubectl", 3), ("alpha", 1), ("zeta", 1)]
    summary = corpus.summary(known)
    assert summary == {
        "name": "jargon",
        "sentences": 2,
        "words": 10,
        "distinct_words": 5,
        "oov_count": 4,
        "oov_occurrences": 7,
        "top_oov": [("kubectl", 3), ("helm", 2), ("alpha", 1), ("zeta", 1)],
    }


def test_corpus_summary_defaults_to_common_english() -> None:
    corpus = Corpus.from_text("the kubectl command restarts the daemonset")
    summary = corpus.summary()
    oov_words = [w for w, _ in summary["top_oov"]]
    assert "kubectl" in oov_words and "daemonset" in oov_words
    assert "the" not in oov_words and "command" not in oov_words


@pytest.mark.parametrize("text", ["😀 🚀 ✨", "東京都 大阪", "!!! *** --- ~~~ ^^^", "§ ¶ † ‡"])
def test_corpus_with_nothing_usable_is_rejected(text: str) -> None:
    with pytest.raises(CorpusError, match="after normalization nothing remains") as info:
        Corpus.from_text(text, name="symbols.txt")
    assert "symbols.txt" in str(info.value)
    assert "a-z" in str(info.value)


def test_corpus_empty_text_is_rejected() -> None:
    with pytest.raises(CorpusError, match="empty"):
        Corpus.from_text("  \n ")


def test_corpus_warns_when_most_text_is_lost(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="jupyter_speechcustom.text.corpus"):
        corpus = Corpus.from_text("東京都大阪府京都市 hello", name="mixed")
    assert corpus.sentences == ("hello",)
    assert "mixed lost" in caplog.text


def test_corpus_does_not_warn_for_punctuation(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="jupyter_speechcustom.text.corpus"):
        Corpus.from_text("Hello!!! (really?) ... ok.")
    assert caplog.text == ""


def test_corpus_from_file_and_bytes(tmp_path: Path) -> None:
    path = tmp_path / "domain.txt"
    path.write_bytes(b"\xef\xbb\xbfThe API returned 503.\nRetry in 30s.\n")
    corpus = Corpus.from_file(path)
    assert corpus.name == "domain.txt"
    assert corpus.sentences == ("the api returned five hundred three", "retry in thirty seconds")
    again = Corpus.from_bytes(path.read_bytes(), name="upload.txt")
    assert again.name == "upload.txt"
    assert again.sentences == corpus.sentences


def test_corpus_from_bytes_binary_is_rejected() -> None:
    with pytest.raises(CorpusError, match="binary"):
        Corpus.from_bytes(_png(), name="photo.png")


def test_corpus_uses_the_given_normalizer() -> None:
    normalizer = Normalizer(set("abcdefghijklmnopqrstuvwxyz "))
    corpus = Corpus.from_text("Don't panic.", normalizer=normalizer)
    assert corpus.sentences == ("dont panic",)


def test_corpus_of_generated_domain_text(tmp_path: Path) -> None:
    from jupyter_speechcustom.demo.domain_text import write_domain_files

    paths = write_domain_files(tmp_path)
    corpus = Corpus.from_file(paths["corpus"])
    raw_lines = [ln for ln in paths["corpus"].read_text(encoding="utf-8").splitlines() if ln.strip()]
    assert corpus.sentences == tuple(raw_lines)  # already in spoken form: unchanged
    top = [w for w, _ in corpus.oov(known_words())[:10]]
    assert "kubectl" in top


# --------------------------------------------------------------------------- known_words


def test_known_words_from_training_text(tmp_path: Path) -> None:
    path = tmp_path / "train_text.txt"
    path.write_text("the cat sat\nThe dog's 2 bones\n", encoding="utf-8")
    words = known_words(path)
    assert words == frozenset({"the", "cat", "sat", "dog's", "two", "bones"})
    assert known_words(path) is words  # cached
    path.write_text("new words\n", encoding="utf-8")
    assert known_words(path) == frozenset({"new", "words"})  # a changed file is read again


def test_known_words_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="does not exist"):
        known_words(tmp_path / "missing.txt")


def test_known_words_default_is_common_english() -> None:
    words = known_words()
    assert len(words) > 50_000
    assert {"the", "house", "running", "don't"} <= words
    assert "kubectl" not in words
    assert all(w == w.lower() for w in list(words)[:1000])
    assert known_words() is words
