"""One utterance type: a manifest line as an :class:`Utterance`, and back; what it decodes and
what identifies it; manifests read and written as utterances; comparison jobs stored by older
versions read back."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest

from jupyter_speechcustom.am.pseudo_labels import PseudoLabel
from jupyter_speechcustom.io.audio import Segment
from jupyter_speechcustom.io.manifest import (
    ManifestError,
    Utterance,
    audio_source,
    entry_key,
    read_utterances,
    write_utterances,
)


@pytest.mark.parametrize("entry", [
    {"audio_filepath": "/data/a.wav"},
    {"audio_filepath": "/data/a.wav", "duration": 2.5, "text": "hello there"},
    {"audio_filepath": "/data/a.wav", "offset": 1.0, "duration": 0.5, "text": ""},
    {"audio_filepath": "/data/seg.wav", "duration": 1.2, "text": "hi", "source": "/data/long.wav"},
])
def test_entry_round_trip(entry):
    utt = Utterance.from_entry(entry)
    assert utt.to_entry() == entry
    assert Utterance.from_entry(utt.to_entry()) == utt
    assert Utterance.from_dict(json.loads(json.dumps(utt.to_dict()))) == utt  # as a job's parameters keep it


def test_fields_and_default_title():
    utt = Utterance.from_entry({"audio_filepath": "/data/talk.wav", "duration": 3, "text": 7, "lang": "en"})
    assert utt == Utterance("/data/talk.wav", None, None, 3.0, "talk")  # a non-string text is unknown
    assert utt.title == "talk" and utt.text is None and not utt.has_text
    assert utt.to_entry() == {"audio_filepath": "/data/talk.wav", "duration": 3.0}  # keys only when set
    segment = Utterance("/data/talk.wav", "so", offset=12.5)
    assert segment.title == "talk @12.5 s"
    assert Utterance("/data/talk.wav", title="mine").title == "mine"
    assert segment.with_text("and so").text == "and so" and segment.with_text(None).title == segment.title


def test_source_and_key_as_the_entry_functions_give_them():
    whole = {"audio_filepath": "/data/a.wav", "duration": 4.0}
    part = {"audio_filepath": "/data/a.wav", "offset": 1.23456, "duration": 0.5}
    open_ended = {"audio_filepath": "/data/a.wav", "offset": 2.0}
    for entry in (whole, part, open_ended):
        utt = Utterance.from_entry(entry)
        assert utt.source == audio_source(entry) and utt.key == entry_key(entry)
    assert Utterance.from_entry(whole).source == "/data/a.wav"  # a duration alone is the whole file
    assert Utterance.from_entry(part).source == Segment("/data/a.wav", 1.23456, 0.5)
    assert Utterance.from_entry(part).key == ("/data/a.wav", 1.235, 0.5)
    assert Utterance.from_entry(open_ended).source == Segment("/data/a.wav", 2.0, None)


def test_read_utterances_resolves_paths_and_reads_segments(tmp_path):
    folder = tmp_path / "set"
    folder.mkdir()
    manifest = folder / "m.json"
    manifest.write_text(
        json.dumps({"audio_filepath": "audio/one.wav", "duration": 2.0, "text": "one"}) + "\n\n"
        + json.dumps({"audio_filepath": "audio/two.wav", "offset": 1.5, "duration": 1.0, "text": "two"}) + "\n",
        encoding="utf-8")
    one, two = read_utterances(manifest, require_text=True)
    assert one == Utterance(str(folder / "audio" / "one.wav"), "one", duration=2.0)
    assert two.audio == str(folder / "audio" / "two.wav") and two.title == "two @1.5 s"
    assert two.source == Segment(two.audio, 1.5, 1.0)

    out = write_utterances(tmp_path / "copy.json", [one, two])
    assert read_utterances(out) == [one, two]


def test_read_utterances_errors_are_read_manifest_errors(tmp_path):
    manifest = tmp_path / "m.json"
    manifest.write_text(json.dumps({"audio_filepath": "a.wav"}) + "\n", encoding="utf-8")
    with pytest.raises(ManifestError, match='has no "text"'):
        read_utterances(manifest, require_text=True)
    with pytest.raises(ManifestError, match="no manifest at"):
        read_utterances(tmp_path / "missing.json")


def test_old_comparison_items_are_read():
    """A comparison job stored by an older version kept each item as ``title, audio, reference``."""
    old = {"title": "a", "audio": "/data/a.wav", "reference": "hello"}
    assert Utterance.from_dict(old) == Utterance("/data/a.wav", "hello", title="a")
    assert Utterance.from_dict({"title": "b", "audio": "/data/b.wav", "reference": None}).text is None
    new = Utterance("/data/a.wav", "hello", 1.0, 2.0)
    assert asdict(new) == new.to_dict() and Utterance.from_dict(new.to_dict()) == new


def test_pseudo_label_goes_through_the_utterance():
    seg = Utterance("/w/seg-0.wav", "restart the pods", duration=1.5, origin="/data/long.wav")
    row = PseudoLabel.from_utterance(seg, 0.9, True)
    assert (row.audio_filepath, row.text, row.duration, row.source) == ("/w/seg-0.wav", "restart the pods", 1.5,
                                                                        "/data/long.wav")
    assert row.utterance == seg and row.to_entry() == seg.to_entry()
    whole = PseudoLabel("/data/a.wav", "scale it", 0.4, False, 1.0)
    assert whole.source == "/data/a.wav" and whole.utterance.origin is None
    assert whole.to_entry() == {"audio_filepath": "/data/a.wav", "duration": 1.0, "text": "scale it"}
