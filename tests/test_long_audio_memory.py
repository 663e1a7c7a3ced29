"""Long recordings in bounded memory: a file over LONG_AUDIO_SECONDS is read a block at a time,
its speech found over the blocks and only the speech read again, with the results of holding it whole."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from helpers.audio import encode_av

import jupyter_speechcustom
from jupyter_speechcustom.asr.recognize import acoustic_outputs
from jupyter_speechcustom.asr.speech import speech_spans, stream_speech_spans
from jupyter_speechcustom.constants import LONG_AUDIO_SECONDS, NO_SPEECH_NOTE
from jupyter_speechcustom.evaluation.metrics import evaluate
from jupyter_speechcustom.io.audio import AudioFile, Segment, load_audio, pause_cuts, split_on_pauses
from jupyter_speechcustom.services.recognition import Recognizer

RATE = 16_000
#: A 16 kHz mono int16 WAV of this many samples is ~300 MB (2.6 h).
LONG_SAMPLES = 150_000_000
#: Most the transcription of such a file may add to the recognizing process's peak RSS.
MAX_GROWTH_MB = 700


def chunks(audio: np.ndarray, sizes: list[int]):
    """``audio`` in blocks of the given sizes, in turn."""
    start = 0
    for size in itertools.cycle(sizes):
        if start >= len(audio):
            return
        yield audio[start : start + size]
        start += size


@pytest.fixture(scope="module")
def speech_with_pauses(domain_test) -> np.ndarray:
    """Ten minutes of demo utterances with pauses of 0.3 s to 40 s and a quiet hiss between them."""
    rng = np.random.default_rng(0)
    parts = []
    for n, entry in enumerate(domain_test[:40]):
        parts.append(load_audio(entry["audio_filepath"]))
        parts.append(np.zeros(int([0.3, 1.0, 5.0, 40.0][n % 4] * RATE), np.float32))
        parts.append((0.002 * rng.standard_normal(RATE // 2)).astype(np.float32))
    return np.concatenate(parts)


@pytest.mark.parametrize(("name", "rate", "channels"), [("a.wav", 16_000, 1), ("b.flac", 44_100, 2), ("c.webm", 48_000, 2)])
def test_blocks_and_stretches_are_the_samples_load_audio_gives(tmp_path, name, rate, channels):
    t = np.arange(40 * rate) / rate
    mono = (0.3 * np.sin(2 * np.pi * (220 + 50 * np.sin(t)) * t)).astype(np.float32)
    audio = np.stack([mono * (1 - 0.3 * c) for c in range(channels)], axis=1)
    path = tmp_path / name
    if name.endswith(".webm"):
        path.write_bytes(encode_av(audio, rate, "webm", "libopus"))
    else:
        sf.write(path, audio, rate)
    for source in (path, Segment(path, 2.5, 35.0)):
        whole = load_audio(source)
        long = AudioFile(source)
        assert long.decoder == ("av" if name.endswith(".webm") else "soundfile")
        assert long.seconds == pytest.approx(len(whole) / RATE, abs=0.05)
        assert np.array_equal(np.concatenate(list(long.blocks())), whole)  # the same samples, exactly
        # Stretches read by seeking (past 30 s, PyAV seeks by timestamp): the same within float rounding.
        for start, stop in [(0, 8_000), (5_000, 400_000), (32 * RATE + 123, 34 * RATE), (len(whole) - 9_000, len(whole) + 500)]:
            stretch = long.read(start, stop)
            assert len(stretch) == len(whole[start:stop])
            assert np.abs(stretch - whole[start:stop]).max() < 1e-5


def test_speech_found_over_blocks_is_the_speech_found_in_the_whole(speech_with_pauses):
    audio = speech_with_pauses
    (whole,) = speech_spans([audio], RATE)
    assert len(whole) >= 40
    for sizes in ([RATE * 33], [1, 513, 100_000, 7]):
        assert stream_speech_spans(chunks(audio, sizes), RATE) == (whole, len(audio))
    # Another rate is resampled for the detector a block at a time, as the whole audio is.
    at_22k = load_audio(audio[: 120 * RATE], 22_050, source_rate=RATE)
    assert stream_speech_spans(chunks(at_22k, [50_000]), 22_050) == (speech_spans([at_22k], 22_050)[0], len(at_22k))
    assert stream_speech_spans(chunks(np.zeros(10 * RATE, np.float32), [RATE]), RATE) == ([], 10 * RATE)


def test_cuts_at_pauses_over_blocks_are_those_of_the_whole(speech_with_pauses):
    audio = speech_with_pauses
    lengths = [len(part) for part in split_on_pauses(audio, RATE, 25.0)]
    assert len(lengths) > 20
    assert pause_cuts(chunks(audio, [777, 100_000]), RATE, 25.0) == lengths
    assert pause_cuts(chunks(audio[: 26 * RATE], [RATE]), RATE, 25.0) == [len(p) for p in split_on_pauses(audio[: 26 * RATE], RATE, 25.0)]


@pytest.mark.slow
def test_a_long_file_is_recognized_as_when_held_whole(tmp_path, demo_model, speech_with_pauses):
    audio = speech_with_pauses
    assert len(audio) > LONG_AUDIO_SECONDS * RATE
    path = tmp_path / "long.wav"
    sf.write(path, audio, RATE, subtype="FLOAT")
    for detection in (True, False):
        (held,) = acoustic_outputs(demo_model, [audio], source_rate=RATE, speech_detection=detection)
        (read,) = acoustic_outputs(demo_model, [path], speech_detection=detection)
        assert np.array_equal(read.frames, held.frames)
        assert (read.pieces, read.duration) == (held.pieces, held.duration)


# --------------------------------------------------------------------------- memory

#: Run in a fresh process: load the model and warm it on a short file, then transcribe each file given,
#: printing per file the transcript and how far the process's peak RSS rose over its RSS before (the
#: peak is reset before each file, so loading the model and earlier files do not count).
CHILD = """
import gc, json, sys
from jupyter_speechcustom.services.recognition import Recognizer

def status_mb(field):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":")) / 1024

recognizer = Recognizer("demo")
recognizer.transcribe([sys.argv[1]])
for path in sys.argv[2:]:
    gc.collect()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # the peak (VmHWM) starts again from the current RSS: this file's own peak follows
    before = status_mb("VmRSS")
    (result,) = recognizer.transcribe([path])
    peak = status_mb("VmHWM")
    words = [(w["word"], w["start"]) for w in result.words]
    print(json.dumps({"text": result.text, "note": result.note, "words": words, "growth_mb": peak - before}))
"""


def write_long_wav(path: Path, inserts: dict[int, np.ndarray]) -> Path:
    """A ~300 MB 16 kHz int16 WAV of silence, with ``inserts`` (sample index: float audio) in it."""
    block = 60 * RATE
    with sf.SoundFile(path, "w", RATE, 1, subtype="PCM_16") as f:
        for start in range(0, LONG_SAMPLES, block):
            samples = np.zeros(min(block, LONG_SAMPLES - start), np.int16)
            for at, audio in inserts.items():
                lo, hi = max(at, start), min(at + len(audio), start + len(samples))
                if lo < hi:
                    samples[lo - start : hi - start] = np.round(audio[lo - at : hi - at] * 32767).astype(np.int16)
            f.write(samples)
    return path


@pytest.fixture(scope="module")
def long_files(tmp_path_factory, domain_test):
    """Two ~300 MB WAVs (2.6 h): silence, and silence with three utterances in it, transcribed in a
    fresh process: per file, its transcript and the peak RSS growth it caused."""
    folder = tmp_path_factory.mktemp("long")
    clips = {at * RATE: load_audio(e["audio_filepath"]) for at, e in zip((600, 4650, 9000), domain_test[:3])}
    silent = write_long_wav(folder / "silent.wav", {})
    speech = write_long_wav(folder / "speech.wav", clips)
    assert silent.stat().st_size > 295e6
    warm = domain_test[3]["audio_filepath"]
    package_root = str(Path(jupyter_speechcustom.__file__).parents[1])  # the child imports the code under test
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-c", CHILD, warm, str(silent), str(speech)], capture_output=True,
                          text=True, timeout=900, check=False, env=env, cwd=package_root)
    assert done.returncode == 0, done.stderr[-3000:]
    silent_result, speech_result = (json.loads(line) for line in done.stdout.splitlines()[-2:])
    return {"silent": silent_result, "speech": speech_result, "clips": clips}


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="reads the process's RSS from /proc")
def test_hours_of_silence_take_little_memory_and_give_the_note(long_files):
    result = long_files["silent"]
    assert result["text"] == "" and result["words"] == []
    assert result["note"] == NO_SPEECH_NOTE
    assert result["growth_mb"] < MAX_GROWTH_MB


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="reads the process's RSS from /proc")
def test_speech_in_hours_of_silence_is_found_where_it_is(long_files, demo_model, domain_test):
    result = long_files["speech"]
    assert result["note"] is None
    assert result["growth_mb"] < MAX_GROWTH_MB
    # The utterances' words, about as well recognized as each utterance on its own, at the times they were put.
    reference = " ".join(e["text"] for e in domain_test[:3])
    alone = Recognizer(demo_model).transcribe([e["audio_filepath"] for e in domain_test[:3]])
    found = evaluate([reference], [result["text"]])
    assert found.wer < 0.8  # the demo model's greedy WER on these is ~60%
    assert found.cer < evaluate([reference], [" ".join(t.text for t in alone)]).cer + 0.1
    spans = [(at / RATE, (at + len(clip)) / RATE) for at, clip in long_files["clips"].items()]
    for word, start in result["words"]:
        assert any(lo - 0.5 <= start <= hi for lo, hi in spans), (word, start)
    for lo, hi in spans:
        assert any(lo - 0.5 <= start <= hi for _, start in result["words"])
