"""Recognition of real and odd audio with the demo model."""

import numpy as np
import pytest
import soundfile as sf

from jupyter_speechcustom.asr.recognize import acoustic_outputs, greedy_decode, transcribe
from jupyter_speechcustom.errors import AudioError
from jupyter_speechcustom.evaluation.metrics import evaluate
from jupyter_speechcustom.io.audio import load_audio
from jupyter_speechcustom.services.recognition import Recognizer

pytestmark = pytest.mark.slow


def test_ten_minute_file_is_split_and_transcribed(tmp_path, demo_model, domain_test):
    clips = [load_audio(e["audio_filepath"]) for e in domain_test]
    pause = np.zeros(8_000, dtype=np.float32)
    long_audio = np.concatenate([x for clip in clips for x in (clip, pause)])
    while len(long_audio) < 600 * 16_000:
        long_audio = np.concatenate([long_audio, long_audio])
    long_audio = long_audio[: 600 * 16_000]
    path = tmp_path / "ten_minutes.flac"
    sf.write(path, long_audio, 16_000)
    out = acoustic_outputs(demo_model, [path])[0]
    assert abs(out.duration - 600) < 2  # every segment's frames are there, in order
    text = greedy_decode(demo_model, [out])[0]
    assert len(text.split()) > 500


def test_8k_stereo_is_resampled_and_recognized(tmp_path, demo_model, domain_test):
    entries = domain_test[:8]
    phones = []
    for i, entry in enumerate(entries):
        narrow = load_audio(load_audio(entry["audio_filepath"]), 8_000, source_rate=16_000)
        phones.append(tmp_path / f"phone{i}.wav")
        sf.write(phones[-1], np.stack([narrow, narrow * 0.8], axis=1), 8_000)
    outputs = acoustic_outputs(demo_model, phones)
    for entry, out in zip(entries, outputs):
        assert abs(out.duration - entry["duration"]) < 0.1
    refs = [e["text"] for e in entries]
    # The demo model never heard telephone bandwidth: it degrades (CER ~40% vs ~12%) but
    # still transcribes speech, far from the ~90% CER of noise.
    assert evaluate(refs, greedy_decode(demo_model, outputs)).cer < 0.6


def test_arrays_and_bytes(demo_model, domain_test):
    path = domain_test[0]["audio_filepath"]
    audio = load_audio(path)
    from_path, from_array, from_bytes = transcribe(demo_model, [path, audio, open(path, "rb").read()],
                                                   source_rate=16_000)
    assert from_path.text == from_array.text == from_bytes.text


def test_zero_byte_and_corrupt_audio_raise(tmp_path, demo_model):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    corrupt = tmp_path / "corrupt.ogg"
    corrupt.write_bytes(b"OggS" + bytes(1000))
    with pytest.raises(AudioError, match="empty"):
        transcribe(demo_model, [empty])
    with pytest.raises(AudioError, match="cannot decode"):
        transcribe(demo_model, [corrupt])


def test_recognizer_names_its_system(demo_model, demo_lm):
    assert Recognizer(demo_model).name == "base"
    assert Recognizer(demo_model, lm=demo_lm).name == "base + custom LM"


def test_next_best_transcripts_come_from_the_beam_and_leave_the_best_alone(demo_model, demo_lm, domain_test):
    from jupyter_speechcustom.services.recognition import Recognizer

    recognizer = Recognizer(demo_model, lm=demo_lm)
    paths = [e["audio_filepath"] for e in domain_test[:4]]
    best = recognizer.transcribe(paths)
    ranked = recognizer.transcribe(paths, alternatives=4)
    assert [t.text for t in ranked] == [t.text for t in best]
    assert [t.words for t in ranked] == [t.words for t in best]
    assert all(t.alternatives == () for t in best)
    for t in ranked:
        assert 1 <= len(t.alternatives) <= 3 and t.text not in t.alternatives
        assert len(set(t.alternatives)) == len(t.alternatives) and all(a.strip() for a in t.alternatives)
    # Without the LM the best is the greedy transcript, and a beam search still ranks others behind it.
    plain = Recognizer(demo_model).transcribe(paths[:1], alternatives=3)[0]
    assert plain.text == Recognizer(demo_model).transcribe(paths[:1])[0].text and plain.alternatives
    with pytest.raises(ValueError, match="1 or more"):
        recognizer.transcribe(paths[:1], alternatives=0)
