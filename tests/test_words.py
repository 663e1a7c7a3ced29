from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from jupyter_speechcustom.errors import CorpusError
from jupyter_speechcustom.text.normalize import Normalizer
from jupyter_speechcustom.text.words import (
    CustomWord,
    apply_display_as,
    apply_sounds_like,
    read_custom_words,
    words_text,
    write_custom_words,
)

KUBECTL = CustomWord("kubectl", ("cube control", "cube cuttle"))
NGINX = CustomWord("nginx", ("engine x",), "NGINX")
POSTGRES = CustomWord("postgres", ("post grass",), "PostgreSQL")


# --------------------------------------------------------------------------- CustomWord


def test_create_normalizes_word_and_sounds_like() -> None:
    cw = CustomWord.create("kubectl", ["Cube Control", "cube-cuttle", "  ", "cube control"], display_as=" kubectl ")
    assert cw == CustomWord("kubectl", ("cube control", "cube cuttle"), "kubectl")


def test_create_splits_sounds_like_string_and_keeps_display_verbatim() -> None:
    cw = CustomWord.create("postgres", "post grass; post gross;", display_as="PostgreSQL 16!")
    assert cw.sounds_like == ("post grass", "post gross")
    assert cw.display_as == "PostgreSQL 16!"


def test_create_uses_the_written_form_for_display_when_normalization_changed_it() -> None:
    assert CustomWord.create("Kubernetes").display_as == "Kubernetes"
    assert CustomWord.create("Kubernetes").word == "kubernetes"
    assert CustomWord.create("COVID-19") == CustomWord("covid nineteen", (), "COVID-19")
    assert CustomWord.create("helm").display_as is None


def test_create_drops_sounds_like_equal_to_the_word() -> None:
    assert CustomWord.create("helm", ["Helm", "hell m"]).sounds_like == ("hell m",)


def test_create_rejects_words_with_nothing_writable() -> None:
    with pytest.raises(CorpusError, match="nothing the model can write"):
        CustomWord.create("東京")
    with pytest.raises(CorpusError, match="nothing the model can write"):
        CustomWord.create("tokyo", ["東京"])
    with pytest.raises(CorpusError, match="empty"):
        CustomWord("  ")


def test_create_with_normalizer() -> None:
    normalizer = Normalizer(set("abcdefghijklmnopqrstuvwxyz "))
    assert CustomWord.create("don't", normalizer=normalizer).word == "dont"


def test_customword_coerces_sounds_like_and_empty_display() -> None:
    cw = CustomWord("etcd", ["e t c d"], "")  # type: ignore[arg-type]
    assert cw.sounds_like == ("e t c d",)
    assert cw.display_as is None
    assert hash(cw) == hash(CustomWord("etcd", ("e t c d",)))


# --------------------------------------------------------------------------- reading


def test_read_csv(tmp_path: Path) -> None:
    path = tmp_path / "words.csv"
    path.write_text(
        "word,sounds_like,display_as\n"
        "kubectl,cube control;cube cuttle,\n"
        "\n"
        "nginx,engine x,NGINX\n"
        '"postgres","post grass; post gross","PostgreSQL, the database"\n'
        "helm,,Helm\n",
        encoding="utf-8",
    )
    assert read_custom_words(path) == [
        CustomWord("kubectl", ("cube control", "cube cuttle")),
        CustomWord("nginx", ("engine x",), "NGINX"),
        CustomWord("postgres", ("post grass", "post gross"), "PostgreSQL, the database"),
        CustomWord("helm", (), "Helm"),
    ]


def test_read_csv_columns_in_any_order_and_optional(tmp_path: Path) -> None:
    path = tmp_path / "words.csv"
    path.write_text("Display As,Word\nArgo CD,argocd\n", encoding="utf-8")
    assert read_custom_words(path) == [CustomWord("argocd", (), "Argo CD")]
    path.write_text("word\nistio\n", encoding="utf-8")
    assert read_custom_words(path) == [CustomWord("istio")]


def test_read_generated_demo_csv(tmp_path: Path) -> None:
    from jupyter_speechcustom.demo.domain_text import write_domain_files

    paths = write_domain_files(tmp_path)
    words = read_custom_words(paths["custom_words"])
    by_word = {w.word: w for w in words}
    assert by_word["kubectl"].sounds_like[0] == "cube control"
    assert by_word["nginx"].display_as == "NGINX"
    assert all(w.word == w.word.lower() for w in words)


def test_read_json_list_and_watson_shape(tmp_path: Path) -> None:
    items = [
        {"word": "kubectl", "sounds_like": ["cube control"]},
        {"word": "nginx", "sounds_like": "engine x;engine ex", "display_as": "NGINX"},
        "etcd",
    ]
    path = tmp_path / "words.json"
    path.write_text(json.dumps(items), encoding="utf-8")
    assert read_custom_words(path) == [
        CustomWord("kubectl", ("cube control",)),
        CustomWord("nginx", ("engine x", "engine ex"), "NGINX"),
        CustomWord("etcd"),
    ]
    watson = {
        "words": [
            {
                "word": "HHonors",
                "sounds_like": ["hilton honors", "H. honors"],
                "display_as": "HHonors",
                "count": 1,
                "source": ["corpus1"],
            },
        ]
    }
    assert read_custom_words(json.dumps(watson).encode(), name="watson.json") == [
        CustomWord("hhonors", ("hilton honors", "h honors"), "HHonors")
    ]


def test_read_json_detected_by_content() -> None:
    assert read_custom_words(b'  [{"word": "istio", "display_as": null}]') == [CustomWord("istio")]


def test_read_plain_word_list() -> None:
    data = "# jargon\nkubectl\n\n  Terraform  \nargo cd\n".encode("utf-16")
    assert read_custom_words(data, name="words.txt") == [
        CustomWord("kubectl"),
        CustomWord("terraform", (), "Terraform"),
        CustomWord("argo cd"),
    ]


def test_duplicates_later_entry_wins(caplog: pytest.LogCaptureFixture) -> None:
    data = b"word,sounds_like,display_as\nnginx,engine x,\nhelm,,\nNGINX,engine ex,NGINX\n"
    with caplog.at_level(logging.WARNING, logger="jupyter_speechcustom.text.words"):
        words = read_custom_words(data, name="w.csv")
    assert words == [CustomWord("nginx", ("engine ex",), "NGINX"), CustomWord("helm")]
    assert "'nginx' is listed again" in caplog.text
    assert "w.csv, line 4" in caplog.text and "line 2" in caplog.text


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"word,sounds_like,display_as\nkubectl,cube control\nhelm,hell m,Helm,extra\n", r"w\.csv, line 3: 4 values"),
        (b"word,sounds_like,display_as\n,cube control,\n", r"line 2: the word is empty"),
        (b"word,sounds,display_as\nkubectl,,\n", r"line 1: unknown or repeated columns \['sounds'\]"),
        (b"kubectl,cube control,\nhelm,,\n", r"line 1: expected the header row word,sounds_like,display_as"),
        (b"word,sounds_like\nkubectl,ok\n\xe6\x9d\xb1\xe4\xba\xac,,\n", r"line 3: the word '東京' has nothing"),
        (b"word,sounds_like\nkubectl,cube control;\xf0\x9f\x98\x80\n", r"line 2: the sounds-like spelling '😀'"),
        (b"word,sounds_like,display_as\n", r"is empty: it lists no custom words"),
    ],
    ids=["extra-column", "empty-word", "bad-header", "no-header", "bad-word", "bad-sounds-like", "header-only"],
)
def test_bad_csv_rows_name_the_line(data: bytes, match: str) -> None:
    with pytest.raises(CorpusError, match=match):
        read_custom_words(data, name="w.csv")


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b'[{"word": "ok"}, {"sounds_like": ["x"]}]', r"item 2: \"word\" is missing"),
        (b'[{"word": "ok"}, {"word": "a", "weight": 3}]', r"item 2: unknown keys \['weight'\]"),
        (b'[{"word": "ok", "sounds_like": 5}]', r"item 1: \"sounds_like\" must be a list"),
        (b'[{"word": "ok", "display_as": 5}]', r"item 1: \"display_as\" must be a string"),
        (b'[{"word": "ok"}, 7]', r"item 2: expected an object"),
        (b'{"word": "ok"}', r"expected a JSON list"),
        (b'[{"word": "ok",]', r"not valid JSON: .*line 1, column"),
        (b"[]", r"is empty"),
    ],
)
def test_bad_json_items_name_the_item(data: bytes, match: str) -> None:
    with pytest.raises(CorpusError, match=match):
        read_custom_words(data, name="w.json")


def test_plain_list_with_commas_is_rejected() -> None:
    with pytest.raises(CorpusError, match=r"line 2: 'helm, kubectl' has a comma"):
        read_custom_words(b"istio\nhelm, kubectl\n", name="w.txt")


def test_empty_and_binary_word_files(tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(CorpusError, match="empty"):
        read_custom_words(tmp_path / "empty.csv")
    with pytest.raises(CorpusError, match="binary"):
        read_custom_words(bytes(range(256)) * 4, name="w.csv")


# --------------------------------------------------------------------------- writing


def test_write_and_read_back(tmp_path: Path) -> None:
    words = [KUBECTL, NGINX, POSTGRES, CustomWord("argocd", (), 'Argo CD, "the" GitOps tool')]
    path = write_custom_words(tmp_path / "sub" / "custom_words.csv", words)
    assert path == tmp_path / "sub" / "custom_words.csv"
    assert path.read_text(encoding="utf-8").splitlines()[:2] == [
        "word,sounds_like,display_as",
        "kubectl,cube control;cube cuttle,",
    ]
    assert read_custom_words(path) == words
    assert [p.name for p in path.parent.iterdir()] == ["custom_words.csv"]  # no temp file left


def test_write_replaces_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "custom_words.csv"
    path.write_text("old content that is much longer than the new one\n" * 50, encoding="utf-8")
    write_custom_words(path, [CustomWord("helm")])
    assert path.read_bytes() == b"word,sounds_like,display_as\nhelm,,\n"


# --------------------------------------------------------------------------- applying


def test_apply_sounds_like_whole_words_only() -> None:
    words = [KUBECTL, NGINX]
    assert apply_sounds_like("run cube control get pods", words) == "run kubectl get pods"
    assert apply_sounds_like("cube controls are different", words) == "cube controls are different"
    assert apply_sounds_like("a rubik cube controller", words) == "a rubik cube controller"
    assert apply_sounds_like("recube control", words) == "recube control"
    assert apply_sounds_like("restart engine x then cube cuttle", words) == "restart nginx then kubectl"
    assert apply_sounds_like("cube  control", words) == "kubectl"
    assert apply_sounds_like("", words) == ""
    assert apply_sounds_like("cube control", []) == "cube control"


def test_apply_sounds_like_longest_phrase_first() -> None:
    words = [CustomWord("kube", ("cube",)), CustomWord("kubectl", ("cube control",))]
    assert apply_sounds_like("cube control and cube", words) == "kubectl and kube"


def test_apply_display_as() -> None:
    words = [KUBECTL, NGINX, POSTGRES]
    assert apply_display_as("restart nginx and postgres", words) == "restart NGINX and PostgreSQL"
    assert apply_display_as("nginxes and postgresql stay", words) == "nginxes and postgresql stay"
    assert apply_display_as("kubectl apply", words) == "kubectl apply"


def test_apply_display_as_multiword() -> None:
    words = [CustomWord("argo cd", (), "Argo CD"), CustomWord("argo", (), "Argo")]
    assert apply_display_as("sync argo cd and argo", words) == "sync Argo CD and Argo"


def test_words_text() -> None:
    assert words_text([KUBECTL, NGINX, CustomWord("argo cd"), KUBECTL]) == ["kubectl", "nginx", "argo cd"]
    assert words_text([]) == []
