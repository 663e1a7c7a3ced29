"""Custom language model figures on the demo domain (CPU).

1. WER on the demo test set: base greedy vs + custom LM (default weights, and weights tuned
   on the dev set).
2. Wall time of LM-fused decoding vs greedy, end to end (acoustic model included) and for
   the decoding step alone.
3. Building an LM from a 1M-word corpus vs a bare ``lmplz`` run on the same (token) text.

    python bench/bench_lm.py [--model demo|demo-char]
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from jupyter_speechcustom import demo, evaluate, load_base_model, read_manifest
from jupyter_speechcustom.asr.decoding import Decoder, tune
from jupyter_speechcustom.asr.recognize import acoustic_outputs, greedy_decode
from jupyter_speechcustom.constants import NGRAM_TOKEN_OFFSET
from jupyter_speechcustom.lm.builders import find_builder
from jupyter_speechcustom.lm.language_model import build_language_model, choose_order


def timed(fn, repeat: int = 3):
    best, value = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - start)
    return best, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="demo", help="base model (default: demo)")
    base = load_base_model(parser.parse_args().model)
    test = read_manifest(demo.manifest("domain/test"), require_text=True)
    dev = read_manifest(demo.manifest("domain/dev"), require_text=True)
    refs = [e["text"] for e in test]
    audio = [e["audio_filepath"] for e in test]
    work = Path(tempfile.mkdtemp(prefix="bench-lm-"))

    lm = build_language_model(base, [demo.corpus_path()], work / "lm", words=demo.custom_words_path())
    decoder = Decoder(base, lm)
    dev_out = acoustic_outputs(base, [e["audio_filepath"] for e in dev])
    tuned = tune(decoder, dev_out, [e["text"] for e in dev]).best

    t_acoustic, outputs = timed(lambda: acoustic_outputs(base, audio))
    t_greedy, greedy = timed(lambda: greedy_decode(base, outputs))
    t_lm, lm_hyps = timed(lambda: decoder.decode_text(outputs))
    _t_tuned, tuned_hyps = timed(lambda: decoder.decode_text(outputs, tuned))
    base_wer = evaluate(refs, greedy).wer
    lm_wer = evaluate(refs, lm_hyps).wer
    tuned_wer = evaluate(refs, tuned_hyps).wer
    print(f"test set: {len(test)} utterances, {sum(e['duration'] for e in test):.0f} s of audio")
    print(f"WER base greedy            {base_wer:6.1%}")
    print(f"WER + custom LM (default)  {lm_wer:6.1%}   relative cut {1 - lm_wer / base_wer:5.1%}")
    print(f"WER + custom LM (tuned)    {tuned_wer:6.1%}   relative cut {1 - tuned_wer / base_wer:5.1%}"
          f"   alpha={tuned.lm_alpha} beta={tuned.lm_beta}")
    print(f"time acoustic model        {t_acoustic:6.2f} s")
    print(f"time greedy decode         {t_greedy:6.3f} s")
    print(f"time LM beam decode        {t_lm:6.2f} s (head {decoder.weights.head or base.head}, beam {decoder.beam_size()})")
    end_to_end = (t_acoustic + t_lm) / (t_acoustic + t_greedy)
    print(f"LM-fused / greedy, end to end: {end_to_end:4.2f}x   decoding step alone: {t_lm / t_greedy:5.1f}x")

    # 3. A 1M-word corpus: the demo's general and domain text, shuffled and repeated.
    lines = demo.general_text_path().read_text().splitlines() + demo.corpus_path().read_text().splitlines()
    rng = random.Random(0)
    corpus_lines, words = [], 0
    while words < 1_000_000:
        rng.shuffle(lines)
        for line in lines:
            corpus_lines.append(line)
            words += len(line.split())
            if words >= 1_000_000:
                break
    corpus = work / "corpus_1m.txt"
    corpus.write_text("\n".join(corpus_lines) + "\n")
    tokens = work / "tokens.txt"
    tokens.write_text("\n".join(" ".join(chr(i + NGRAM_TOKEN_OFFSET) for i in base.text_to_ids(line))
                                for line in corpus_lines) + "\n")
    order = choose_order(sum(len(line) for line in corpus_lines), True)

    def bare() -> None:
        with tokens.open("rb") as stdin, (work / "bare.arpa").open("wb") as stdout:
            subprocess.run([str(find_builder("lmplz")), "-o", str(order), "--discount_fallback", "-S", "10%",
                            "-T", str(work)], stdin=stdin, stdout=stdout, stderr=subprocess.DEVNULL, check=True)

    # Interleaved runs, median and best: a shared machine's timings vary run to run. The build mixes in no
    # general text here, so both runs count the same text.
    bare_times, build_times = [], []
    for _ in range(10):
        bare_times.append(timed(bare, repeat=1)[0])
        build_times.append(timed(lambda: build_language_model(
            base, [corpus], work / "lm1m", general_text="none", overwrite=True), repeat=1)[0])
    t_bare, t_build = statistics.median(bare_times), statistics.median(build_times)
    print(f"1M-word corpus ({words} words, order {order}), 10 interleaved runs: bare lmplz median {t_bare:4.2f} s, "
          f"build_language_model median {t_build:4.2f} s, ratio {t_build / t_bare:4.2f}x "
          f"(best {min(build_times) / min(bare_times):4.2f}x)")


if __name__ == "__main__":
    main()
