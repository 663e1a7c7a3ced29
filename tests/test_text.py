from __future__ import annotations

import pytest

from jupyter_speechcustom.constants import DEFAULT_ALPHABET
from jupyter_speechcustom.text.normalize import Normalizer, normalize, normalize_corpus, split_sentences


@pytest.mark.parametrize(
    ("written", "spoken"),
    [
        # numbers
        ("8080", "eight thousand eighty"),
        ("21", "twenty one"),
        ("3.5", "three point five"),
        ("1st", "first"),
        ("2nd", "second"),
        ("3rd", "third"),
        ("21st", "twenty first"),
        ("40%", "forty percent"),
        ("$5", "five dollars"),
        ("€3", "three euros"),
        ("24/7", "twenty four seven"),
        ("1,000,000 users", "one million users"),
        ("0.05", "zero point zero five"),
        ("007", "zero zero seven"),
        ("-5", "minus five"),
        ("-3°C", "minus three degrees celsius"),
        ("5–10 ms", "five to ten milliseconds"),
        ("the '90s and 1980s", "the nineties and nineteen eighties"),
        # years
        ("2024", "twenty twenty four"),
        ("1999", "nineteen ninety nine"),
        ("2000", "two thousand"),
        ("2005", "two thousand five"),
        ("in 2024 we moved", "in twenty twenty four we moved"),
        ("1850", "one thousand eight hundred fifty"),
        # units
        ("3.5mg", "three point five milligrams"),
        ("10ms", "ten milliseconds"),
        ("1ms", "one millisecond"),
        ("10 ms", "ten milliseconds"),
        ("1gb", "one gigabyte"),
        ("16GB", "sixteen gigabytes"),
        ("512mb", "five hundred twelve megabytes"),
        ("64kb", "sixty four kilobytes"),
        ("2tb", "two terabytes"),
        ("5km", "five kilometers"),
        ("1kg", "one kilogram"),
        ("250g", "two hundred fifty grams"),
        ("1ml", "one milliliter"),
        ("30s", "thirty seconds"),
        ("1s", "one second"),
        ("2h", "two hours"),
        ("1h", "one hour"),
        ("15min", "fifteen minutes"),
        ("3.2ghz", "three point two gigahertz"),
        ("100mhz", "one hundred megahertz"),
        ("56kbps", "fifty six kilobits per second"),
        ("1mbps", "one megabit per second"),
        ("100mbps", "one hundred megabits per second"),
        # letters and digits
        ("COVID-19", "covid nineteen"),
        ("k8s", "k eight s"),
        ("p99", "p ninety nine"),
        ("v1.2", "v one point two"),
        ("ipv6", "ipv six"),
        ("mp3", "mp three"),
        # symbols
        ("R&D", "r and d"),
        ("ops@example.com", "ops at example dot com"),
        ("1+1=2", "one plus one equals two"),
        ("#1", "number one"),
        ("a & b", "a and b"),
        # separators
        ("on-call", "on call"),
        ("snake_case", "snake case"),
        ("path/to/file", "path to file"),
        ("api.example.com", "api dot example dot com"),
        # unicode, case, quotes, apostrophes
        ("Café résumé naïve", "cafe resume naive"),
        ("It\u2019s \u201cfine\u201d", "it's fine"),
        ("don't", "don't"),
        ("'quoted' users' data", "quoted users data"),
        ("kubectl", "kubectl"),
        ("Kubectl   APPLY\t-f", "kubectl apply f"),
        ("東京 😀 hello", "hello"),
        ("zero\u200bwidth soft\u00adhyphen", "zero width softhyphen"),
        ("e.g. Mr. Smith vs. Dr. Who", "e g mister smith versus doctor who"),
        ("C++ and C#", "c plus plus and c sharp"),
        ("x86_64", "x eighty six sixty four"),
        ("node1.example.com", "node one dot example dot com"),
        ("12345678901", "one two three four five six seven eight nine zero one"),
        ("", ""),
        ("!!! ... ???", ""),
    ],
)
def test_normalize_examples(written: str, spoken: str) -> None:
    assert normalize(written) == spoken


def test_normalize_sentence_with_mixed_rules() -> None:
    text = "The p99 latency of api.example.com hit 350ms on 3/14 — 40% over the SLO!"
    assert normalize(text) == (
        "the p ninety nine latency of api dot example dot com hit three hundred fifty milliseconds "
        "on three fourteen forty percent over the slo"
    )


def test_normalize_money_and_time() -> None:
    assert normalize("$1") == "one dollar"
    assert normalize("$5.50") == "five dollars fifty cents"
    assert normalize("$2.5m") == "two point five million dollars"
    assert normalize("10:30") == "ten thirty"
    assert normalize("10:05") == "ten oh five"
    assert normalize("5pm") == "five p m"


def test_normalize_numbers_inside_units_are_not_years() -> None:
    assert normalize("2000ms") == "two thousand milliseconds"
    assert normalize("1999ms") == "one thousand nine hundred ninety nine milliseconds"


def test_alphabet_without_apostrophe_joins_contractions() -> None:
    normalizer = Normalizer(set("abcdefghijklmnopqrstuvwxyz "))
    assert normalizer.normalize("Don't stop") == "dont stop"


def test_default_alphabet() -> None:
    assert Normalizer().alphabet == DEFAULT_ALPHABET
    assert Normalizer().case == "lower"
    assert Normalizer().describe() == "a-z, ' and space"


def test_accented_letters_kept_when_in_alphabet() -> None:
    normalizer = Normalizer(set("abcdefghijklmnopqrstuvwxyzé' "))
    assert normalizer.normalize("Café naïve") == "café naive"


def test_for_vocabulary_character_model() -> None:
    tokens = [" ", *"abcdefghijklmnopqrstuvwxyz", "'"]
    normalizer = Normalizer.for_vocabulary(tokens)
    assert normalizer.alphabet == DEFAULT_ALPHABET
    assert normalizer.normalize("K8s rocks!") == "k eight s rocks"


def test_for_vocabulary_bpe_pieces() -> None:
    tokens = ["<unk>", "<0x0A>", "[UNK]", "▁the", "▁cat", "s", "##ing", "▁'", "a"]
    normalizer = Normalizer.for_vocabulary(tokens)
    assert normalizer.alphabet == frozenset("thecasinga' ")
    assert normalizer.case == "lower"
    assert "<" not in normalizer.alphabet and "▁" not in normalizer.alphabet and "#" not in normalizer.alphabet
    # letters outside the vocabulary become word breaks
    assert normalizer.normalize("The cats sing") == "the cats sing"
    assert normalizer.normalize("The dog") == "the g"


def test_for_vocabulary_keeps_case_when_vocabulary_has_uppercase() -> None:
    normalizer = Normalizer.for_vocabulary(["▁The", "▁cat", "s", "T", "C"])
    assert normalizer.case == "keep"
    assert normalizer.normalize("The Cats") == "The Cats"


def test_uppercase_only_alphabet_uppercases() -> None:
    normalizer = Normalizer(set("ABCDEFGHIJKLMNOPQRSTUVWXYZ' "))
    assert normalizer.case == "upper"
    assert normalizer.normalize("Give me 5") == "GIVE ME FIVE"


def test_alphabet_without_letters_is_rejected() -> None:
    with pytest.raises(ValueError, match="no letters"):
        Normalizer(set("123 "))


def test_coverage() -> None:
    normalizer = Normalizer()
    assert normalizer.coverage("hello, world!") == 1.0
    assert normalizer.coverage("ab 東京") == 0.5
    assert normalizer.coverage("$5 & 40%") == 1.0
    assert normalizer.coverage("...") == 1.0


def test_split_sentences() -> None:
    text = (
        "The p99 is 3.5 ms. See api.example.com! Is it up? Yes; it is\n"
        "\n"
        '  Mr. Smith said "stop." Then he left.  \n'
        "e.g. this one. Last line without a stop"
    )
    assert split_sentences(text) == [
        "The p99 is 3.5 ms.",
        "See api.example.com!",
        "Is it up?",
        "Yes;",
        "it is",
        'Mr. Smith said "stop."',
        "Then he left.",
        "e.g. this one.",
        "Last line without a stop",
    ]


def test_split_sentences_keeps_decimals_and_domains_whole() -> None:
    assert split_sentences("version 3.5 of api.example.com.") == ["version 3.5 of api.example.com."]
    assert split_sentences("") == []


def test_normalize_corpus_drops_empty_sentences() -> None:
    text = "Restart the pods. 😀😀\n\nScale to 3 replicas!\n東京"
    assert normalize_corpus(text) == ["restart the pods", "scale to three replicas"]


def test_normalize_corpus_with_normalizer() -> None:
    normalizer = Normalizer(set("abcdefghijklmnopqrstuvwxyz "))
    assert normalize_corpus("It's 5. Ok.", normalizer) == ["its five", "ok"]


def test_number_variants_keep_the_shape_of_numbers_and_draw_their_digits():
    from jupyter_speechcustom.text.numbers import DIGITS, RADIO_DIGITS, TEENS, TENS, number_variants

    sentences = ["reduce speed to two eight zero knots", "restart the pods", "climb to one niner thousand",
                 "the invoice is due on the twelfth of may twenty twenty"]
    variants = number_variants(sentences, 5)
    assert len(variants) == 15  # five per sentence with a number; none of "restart the pods"
    assert variants == number_variants(sentences, 5)  # seeded: the same corpus makes the same LM
    assert number_variants(sentences, 0) == []
    speed, climb, due = variants[:5], variants[5:10], variants[10:]
    for v in speed:
        words = v.split()
        assert words[:3] == ["reduce", "speed", "to"] and words[-1] == "knots"
        assert all(w in DIGITS for w in words[3:6])
    assert len({v.split()[3] for v in speed}) > 1  # the digits are drawn, not copied
    for v in climb:
        words = v.split()
        assert words[2] in DIGITS and words[3] in RADIO_DIGITS and words[4] == "thousand"  # "niner" stays radio
    for v in due:
        words = v.split()
        assert " ".join(words[:7]) == "the invoice is due on the twelfth"  # ordinals are kept
        assert words[7] == "of" and words[8] == "may" and words[9] in TENS and words[10] in TENS
    assert not any(w in TEENS for v in variants for w in v.split())  # no teen was in these sentences
