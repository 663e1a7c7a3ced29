"""Speech detection before recognition: no words for audio without speech, long audio cut
between utterances, and silence that costs no acoustic or LM work."""

from __future__ import annotations

import itertools
import threading

import numpy as np
import pytest
from helpers.audio import RATE, mono_tone, noise

from jupyter_speechcustom.asr.recognize import acoustic_outputs
from jupyter_speechcustom.asr.speech import speech_pieces, speech_spans
from jupyter_speechcustom.constants import NO_SPEECH_NOTE, SEGMENT_SECONDS
from jupyter_speechcustom.evaluation.metrics import evaluate
from jupyter_speechcustom.io.audio import load_audio
from jupyter_speechcustom.io.manifest import Utterance
from jupyter_speechcustom.services.recognition import Recognizer
from jupyter_speechcustom.services.transcription import transcript_row


class ForwardCount:
    """Counts the acoustic model's batches (a PyTorch forward hook on the real model's encoder)."""

    def __init__(self, model):
        self.calls = 0
        self._handle = model.asr_model.encoder.register_forward_pre_hook(self._count)

    def _count(self, *_):
        self.calls += 1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._handle.remove()


@pytest.fixture(scope="module")
def clips(domain_test):
    return [load_audio(e["audio_filepath"]) for e in domain_test[:6]]


def test_speech_is_found_in_speech_and_not_in_tones_noise_or_silence(clips):
    found = speech_spans(clips, RATE)
    assert all(spans for spans in found)
    for clip, spans in zip(clips, found):
        assert 0 <= spans[0][0] < spans[-1][1] <= len(clip)
        assert sum(end - start for start, end in spans) > 0.5 * len(clip)  # the utterance, not a blip
    others = [mono_tone(3.0), mono_tone(3.0, 1000.0), noise(3.0), noise(3.0, 0.002), np.zeros(3 * RATE, np.float32)]
    assert speech_spans(others, RATE) == [[]] * len(others)
    # Another rate is resampled for the detector; the spans come back in the audio's own samples.
    at_8k = load_audio(clips[0], 8_000, source_rate=RATE)
    (spans,) = speech_spans([at_8k], 8_000)
    assert spans and spans[-1][1] <= len(at_8k)


def test_threads_take_turns_on_the_one_model(clips):
    expected = speech_spans(clips, RATE)
    results: dict[int, list] = {}

    def run(n: int) -> None:
        results[n] = speech_spans(clips, RATE)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(results[n] == expected for n in range(3))


def test_pieces_are_cut_between_utterances_and_skip_long_pauses():
    rate = 100  # a sample per 10 ms keeps the arithmetic readable
    spans = [(100, 900), (1000, 1800), (1900, 2700), (9000, 9500)]  # seconds 1-9, 10-18, 19-27, 90-95
    pieces = speech_pieces(10_000, spans, rate, max_seconds=25, skip_seconds=2)
    assert pieces == [(0, 1850), (1850, 2800), (8900, 9600)]
    assert all(end - start <= 25 * rate for start, end in pieces)
    # Without skipping, the pieces cover the whole audio.
    whole = speech_pieces(10_000, spans, rate, max_seconds=25, skip_seconds=float("inf"))
    assert whole[0][0] == 0 and whole[-1][1] == 10_000
    assert all(a[1] == b[0] for a, b in itertools.pairwise(whole))
    assert speech_pieces(10_000, [], rate, max_seconds=25, skip_seconds=2) == []


def test_a_tone_gets_no_words_from_the_custom_lm(demo_model, demo_lm):
    recognizer = Recognizer(demo_model, lm=demo_lm)
    with ForwardCount(demo_model) as count:
        (transcript,) = recognizer.transcribe([mono_tone(3.0)], source_rate=RATE)
    assert transcript.text == "" and transcript.words == ()
    assert transcript.note == NO_SPEECH_NOTE
    assert count.calls == 0
    row = transcript_row(Utterance("tone.wav"), transcript)
    assert row["pred_text"] == "" and row["note"] == NO_SPEECH_NOTE
    # Turned off, the audio is decoded as it is: the acoustic model runs and there is no note.
    with ForwardCount(demo_model) as count:
        (decoded,) = Recognizer(demo_model, lm=demo_lm, speech_detection=False).transcribe([mono_tone(3.0)], source_rate=RATE)
    assert decoded.note is None and count.calls == 1


def test_ten_minutes_of_silence_take_no_acoustic_or_lm_work(demo_model, demo_lm, domain_test):
    recognizer = Recognizer(demo_model, lm=demo_lm)
    silence = np.zeros(600 * RATE, np.float32)
    quiet_room = noise(600, 0.001, seed=1)
    speech = domain_test[0]["audio_filepath"]
    with ForwardCount(demo_model) as count:
        outputs = recognizer.acoustic_outputs([silence, quiet_room], source_rate=RATE)
    assert count.calls == 0
    assert [len(out.frames) for out in outputs] == [0, 0]
    assert [out.duration for out in outputs] == [600.0, 600.0]
    transcripts = recognizer.decoder.decode(outputs)  # LM beam search is not run for them
    assert [t.text for t in transcripts] == ["", ""]
    assert [t.note for t in transcripts] == [NO_SPEECH_NOTE, NO_SPEECH_NOTE]
    # In a batch with speech, only the speech is decoded, and it is unchanged by the silence beside it.
    mixed = recognizer.transcribe([silence, speech], source_rate=RATE)
    alone = recognizer.transcribe([speech])
    assert mixed[0].text == "" and mixed[0].note == NO_SPEECH_NOTE
    assert mixed[1].text == alone[0].text and mixed[1].text and mixed[1].note is None


def test_long_pauses_of_long_audio_are_skipped_and_word_times_stay_true(demo_model, domain_test, clips):
    pause = 40.0
    audio = np.concatenate([clips[0], np.zeros(int(pause * RATE), np.float32), clips[1]])
    second_starts = (len(clips[0]) / RATE) + pause
    assert len(audio) > SEGMENT_SECONDS * RATE
    with ForwardCount(demo_model) as count:
        (out,) = acoustic_outputs(demo_model, [audio], source_rate=RATE)
    assert count.calls == 1  # both utterances in one batch; the pause never ran
    assert out.duration == pytest.approx(len(audio) / RATE)
    assert len(out.frames) * out.frame_shift < 0.5 * out.duration
    reference = f"{domain_test[0]['text']} {domain_test[1]['text']}"
    (transcript,) = Recognizer(demo_model).decoder.decode([out])
    assert evaluate([reference], [transcript.text]).wer < 0.8  # the demo model's greedy WER is ~50%
    words = transcript.words
    first_ends = len(clips[0]) / RATE
    assert words[0]["start"] < first_ends and words[-1]["start"] >= second_starts - 0.5
    assert words[-1]["end"] <= len(audio) / RATE + 0.1
    assert not [w for w in words if first_ends + 0.5 < w["start"] < second_starts - 0.5]  # none in the pause
    assert all(a["start"] <= b["start"] for a, b in itertools.pairwise(words))


def test_cli_transcribes_a_tone_with_a_note_and_decodes_it_with_detection_off(tmp_path, capsys):
    import json

    import soundfile as sf

    from jupyter_speechcustom.cli import main

    wav = tmp_path / "tone.wav"
    sf.write(wav, mono_tone(3.0), RATE)
    assert main(["transcribe", str(wav), "--format", "json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)["results"]
    assert row["pred_text"] == "" and row["note"] == NO_SPEECH_NOTE
    assert main(["transcribe", str(wav), "--format", "json", "--no-speech-detection"]) == 0
    (row,) = json.loads(capsys.readouterr().out)["results"]
    assert "note" not in row


def test_the_threshold_decides_how_sure_the_detector_must_be(clips):
    assert speech_spans([noise(2.0)], RATE) == [[]]
    (everything,) = speech_spans([noise(2.0)], RATE, threshold=0.0)
    assert everything and everything[0][0] == 0
    (strict,) = speech_spans([clips[0]], RATE, threshold=1.0)
    assert strict == []
    with pytest.raises(ValueError, match="between 0 and 1"):
        speech_spans([clips[0]], RATE, threshold=1.5)
