"""A single string, bytes or path where the Python API takes a list of them is refused with a message
saying what was passed and what to pass instead, rather than iterated character by character
(``transcribe("a.wav")`` looking for the files ``a``, ``.``, ``w``...)."""

from __future__ import annotations

from pathlib import Path

import pytest

from jupyter_speechcustom import demo
from jupyter_speechcustom.errors import NotAListError, SpeechCustomError, check_list


def refused(call, message: str) -> None:
    with pytest.raises(NotAListError) as caught:
        call()
    assert message in str(caught.value), str(caught.value)


def test_check_list_says_what_was_passed_and_what_to_pass():
    for value in (["a.wav"], ("a.wav",), [], None, iter(["a.wav"])):
        check_list(value, "sources", "audio files")
    with pytest.raises(NotAListError) as caught:
        check_list("a.wav", "sources", "audio files")
    assert str(caught.value) == "sources must be a list of audio files, got the string 'a.wav': pass ['a.wav']"
    assert isinstance(caught.value, TypeError) and isinstance(caught.value, SpeechCustomError)
    refused(lambda: check_list(Path("a.wav"), "sources", "audio files"), "got the path 'a.wav': pass [Path('a.wav')]")
    refused(lambda: check_list(b"RIFF", "sources", "audio files"), "got 4 bytes (one value, not a list): pass [data]")
    refused(lambda: check_list("x" * 500, "corpora", "corpus files"), "got the string '" + "x" * 57 + "...'")


def test_build_language_model_refuses_one_corpus_path_before_any_work(tmp_path, demo_model):
    from jupyter_speechcustom.lm.language_model import build_language_model

    refused(lambda: build_language_model(demo_model, "good.txt", tmp_path / "lm"),
            "corpora must be a list of corpus files or Corpus objects, got the string 'good.txt': pass ['good.txt']")
    refused(lambda: build_language_model(demo_model, demo.corpus_path(), tmp_path / "lm"), "got the path")
    assert list(tmp_path.iterdir()) == []


def test_recognizer_refuses_one_audio_source(demo_model):
    from jupyter_speechcustom.services.recognition import Recognizer

    recognizer = Recognizer(demo_model)
    audio = read_first_test_recording()
    refused(lambda: recognizer.transcribe("a.wav"),
            "sources must be a list of audio files, got the string 'a.wav': pass ['a.wav']")
    refused(lambda: recognizer.transcribe(Path("a.wav")), "pass [Path('a.wav')]")
    refused(lambda: recognizer.acoustic_outputs(audio), f"got {len(audio)} bytes")
    assert recognizer.transcribe([audio])[0].text  # the list it asks for


def read_first_test_recording() -> bytes:
    from jupyter_speechcustom.io.manifest import read_manifest

    return Path(read_manifest(demo.manifest("domain/test"))[0]["audio_filepath"]).read_bytes()


def test_decoder_refuses_a_words_file_name_and_one_phrase(demo_model):
    from jupyter_speechcustom.asr.decoding import Decoder
    from jupyter_speechcustom.services.recognition import Recognizer

    refused(lambda: Decoder(demo_model, words="words.csv"),
            "words must be a list of custom words, got the string 'words.csv': read a words file with "
            "read_custom_words('words.csv')")
    refused(lambda: Recognizer(demo_model, words="words.csv"), "read_custom_words('words.csv')")
    refused(lambda: Decoder(demo_model, boost_phrases="kubectl"), "pass ['kubectl']")


def test_pseudo_label_refuses_a_manifest_path(demo_model):
    from jupyter_speechcustom.am.acoustic_model import pseudo_label

    refused(lambda: pseudo_label(demo_model, "audio.json"),
            "entries must be a list of manifest entries, got the string 'audio.json': read a manifest with "
            "read_manifest('audio.json')")


def test_transcription_inputs_refuse_one_path():
    from jupyter_speechcustom.services.transcription import expand_inputs

    refused(lambda: expand_inputs("a.wav"), "inputs must be a list of audio files, folders or manifests")
    refused(lambda: expand_inputs(demo.manifest("domain/test")), "got the path")


def test_evaluation_refuses_one_transcript_or_term():
    from jupyter_speechcustom.evaluation.metrics import evaluate, term_hit_rates

    refused(lambda: evaluate("the cat sat", "the cat sat"),
            "references must be a list of transcripts, one per utterance, got the string 'the cat sat'")
    refused(lambda: evaluate(["the cat sat"], "the cat sat"), "hypotheses must be a list")
    refused(lambda: term_hit_rates(["use kubectl"], ["use cube control"], "kubectl"),
            "terms must be a list of words or phrases, got the string 'kubectl': pass ['kubectl']")
    assert evaluate(["the cat sat"], ["the cat sat"]).wer == 0


def test_comparison_refuses_one_system_item_or_path(demo_model, demo_lm, ws):
    from jupyter_speechcustom.io.manifest import Utterance
    from jupyter_speechcustom.services.compare import (
        cached_acoustic_outputs,
        check_comparison,
        tune_language_model,
    )

    items = [Utterance("a.wav", "hello", title="a")]
    refused(lambda: check_comparison("base", items, has_lm=False, has_am=False),
            "systems must be a list of system names (base, ")
    refused(lambda: check_comparison(["base"], "a.wav", has_lm=False, has_am=False), "items must be a list")
    refused(lambda: cached_acoustic_outputs(demo_model, "a.wav", {}), "paths must be a list of audio files")
    refused(lambda: ws.compare(demo_model, items, "base", label="test"), "pass ['base']")
    refused(lambda: tune_language_model(demo_model, demo_lm, "dev.json"), "dev must be a list of Utterance objects")


def test_explorer_refuses_one_transcript_for_a_set():
    from jupyter_speechcustom.services.explorer import manifest_set

    audio_set = manifest_set(demo.manifest("domain/test"))
    refused(lambda: audio_set.with_hypotheses("hello"), "hypotheses must be a list of transcripts")


def test_workspace_jobs_refuse_one_id(demo_model, ws):
    corpus = ws.add_corpus(demo.corpus_path())
    refused(lambda: ws.build_language_model(demo_model, corpus.id),
            f"corpus_ids must be a list of corpus ids (ws.add_corpus), got the string '{corpus.id}': "
            f"pass ['{corpus.id}']")
    refused(lambda: ws.pseudo_label(demo_model, "a1"), "audio_ids must be a list of audio ids")
    refused(lambda: ws.train_acoustic_model(demo_model, "a1", mode="supervised"), "audio_ids must be a list")
    assert [r.kind for r in ws.records()] == ["corpus"]  # nothing was created for the refused jobs


def test_management_and_bundles_refuse_one_name(ws, tmp_path):
    from jupyter_speechcustom.services import management
    from jupyter_speechcustom.services.customization import add_customization_words
    from jupyter_speechcustom.store.bundle import export_bundle

    refused(lambda: management.add_files(ws, "corpus", str(demo.corpus_path())), "paths must be a list of files")
    refused(lambda: management.export_bundle(ws, "my-lm", tmp_path / "b.zip", results="run 1"),
            "results must be a list of result names, got the string 'run 1': pass ['run 1']")
    refused(lambda: export_bundle(ws, tmp_path / "b.zip", result_ids="r1"), "result_ids must be a list")
    refused(lambda: export_bundle(ws, tmp_path / "b.zip", words_ids="w1"), "words_ids must be a list")
    refused(lambda: add_customization_words(ws, "c1", "nginx"),
            """words must be a list of word objects, got the string 'nginx': pass [{"word": 'nginx'}]""")
    assert ws.records() == [] and not (tmp_path / "b.zip").exists()
