"""Speech detection figures on the demo (CPU).

1. Long recordings: the 80 demo test utterances joined into one recording, WER of the whole
   transcript when long audio is cut between utterances (speech detection) vs at the quietest
   moments (``speech_detection=False``), greedy and with the custom LM (tuned weights). Twice:
   with the 0.5 s digital-silence pauses the tests use, and with pauses of 0.3-6 s over a low
   noise floor (-60 dBFS), as a real recording has.
2. Two hours of silence (digital zeros, and the -60 dBFS noise floor) with the custom LM: wall
   time with speech detection; without it, the time for 5 minutes and that time scaled to 2 h.

    python bench/bench_speech_detection.py [--skip-long-silence]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from jupyter_speechcustom import demo, evaluate, load_base_model, read_manifest
from jupyter_speechcustom.asr.decoding import Decoder, DecodingWeights
from jupyter_speechcustom.asr.recognize import acoustic_outputs, greedy_decode
from jupyter_speechcustom.io.audio import load_audio
from jupyter_speechcustom.lm.language_model import build_language_model
from jupyter_speechcustom.services.recognition import Recognizer

RATE = 16_000
#: The demo LM's weights as tuned on the dev set (the README's table).
TUNED = DecodingWeights(lm_alpha=1.0, lm_beta=1.5)


def long_recording(clips: list[np.ndarray], pauses: list[float], noise_db: float | None, seed: int = 0) -> np.ndarray:
    parts = []
    for clip, pause in zip(clips, pauses):
        parts.extend([clip, np.zeros(int(pause * RATE), np.float32)])
    audio = np.concatenate(parts)
    if noise_db is not None:
        rng = np.random.default_rng(seed)
        audio = audio + (10 ** (noise_db / 20) * rng.standard_normal(len(audio))).astype(np.float32)
    return audio


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    value = fn(*args, **kwargs)
    return time.perf_counter() - start, value


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--skip-long-silence", action="store_true", help="leave out the two hours of silence")
    args = parser.parse_args()

    base = load_base_model("demo")
    test = read_manifest(demo.manifest("domain/test"), require_text=True)
    reference = " ".join(e["text"] for e in test)
    clips = [load_audio(e["audio_filepath"]) for e in test]
    work = Path(tempfile.mkdtemp(prefix="bench-vad-"))
    lm = build_language_model(base, [demo.corpus_path()], work / "lm", words=demo.custom_words_path())
    decoder = Decoder(base, lm, weights=TUNED)

    rng = np.random.default_rng(1)
    recordings = {
        "0.5 s digital silence between utterances": long_recording(clips, [0.5] * len(clips), None),
        "0.3-6 s pauses, -60 dBFS noise floor": long_recording(
            clips, list(rng.choice([0.3, 0.6, 1.0, 2.5, 6.0], len(clips))), -60.0),
    }
    print(f"long recordings of the {len(test)} demo test utterances ({sum(len(c) for c in clips) / RATE:.0f} s of speech)")
    print(f"{'recording':42} {'cut':18} {'greedy WER':>10} {'+LM WER':>8} {'time':>7}")
    for name, audio in recordings.items():
        for label, detect in (("between utterances", True), ("at quietest moment", False)):
            seconds, outputs = timed(acoustic_outputs, base, [audio], source_rate=RATE, speech_detection=detect)
            greedy = evaluate([reference], greedy_decode(base, outputs)).wer
            lm_seconds, texts = timed(decoder.decode_text, outputs)
            fused = evaluate([reference], texts).wer
            print(f"{name:42} {label:18} {greedy:10.1%} {fused:8.1%} {seconds + lm_seconds:6.1f}s")

    if args.skip_long_silence:
        return
    recognizer = Recognizer(base, lm=lm, weights=TUNED)
    hours = 2
    silences = {
        "digital zeros": lambda seconds: np.zeros(int(seconds * RATE), np.float32),
        "-60 dBFS noise": lambda seconds: (1e-3 * np.random.default_rng(2).standard_normal(int(seconds * RATE)))
        .astype(np.float32),
    }
    for name, make in silences.items():
        audio = make(hours * 3600)
        seconds, (transcript,) = timed(recognizer.transcribe, [audio], source_rate=RATE)
        print(f"{hours} h of silence ({name}), custom LM, speech detection: {seconds:.1f} s, "
              f"text {transcript.text!r}, note: {transcript.note}")
        del audio
        short = make(300)
        seconds, (transcript,) = timed(recognizer.transcribe, [short], source_rate=RATE, speech_detection=False)
        print(f"5 min of silence ({name}), custom LM, no speech detection: {seconds:.1f} s "
              f"(~{seconds * hours * 12 / 60:.0f} min for {hours} h), text {transcript.text[:60]!r}")


if __name__ == "__main__":
    main()
