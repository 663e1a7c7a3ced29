"""Custom acoustic model figures on the demo domain (CPU).

1. Lightly supervised AM + custom LM vs custom LM alone on the test set (WER, weights tuned
   on the dev set for each).
2. The forgetting guard: general-set WER before and after.
3. Fine-tuning throughput (audio seconds per wall second) vs a bare NeMo/Lightning fit of the
   same model on the same data.
4. Peak memory (max RSS of this process).

    python bench/bench_am.py [--epochs 8]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from jupyter_speechcustom import demo, evaluate, load_base_model, read_manifest
from jupyter_speechcustom.acoustic_model import train_acoustic_model
from jupyter_speechcustom.decoding import Decoder, tune
from jupyter_speechcustom.language_model import build_language_model
from jupyter_speechcustom.manifest import write_manifest
from jupyter_speechcustom.recognize import acoustic_outputs


def bare_fit(model_path: Path, manifest: Path, epochs: int, batch_size: int) -> tuple[float, float]:
    """NeMo's own fine-tuning recipe with nothing of ours around it: (audio seconds, fit seconds)."""
    import lightning.pytorch as pl
    from nemo.collections.asr.models import ASRModel
    from omegaconf import OmegaConf

    model = ASRModel.restore_from(str(model_path), map_location="cpu")
    trainer = pl.Trainer(accelerator="cpu", devices=1, precision=32, max_epochs=epochs, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         num_sanity_val_steps=0, gradient_clip_val=1.0)
    model.set_trainer(trainer)
    model.setup_training_data(OmegaConf.create({
        "manifest_filepath": str(manifest), "sample_rate": 16000, "labels": list(model.decoder.vocabulary),
        "batch_size": batch_size, "shuffle": True, "use_lhotse": False, "num_workers": 0, "max_duration": 21.0}))
    model.setup_optimization(OmegaConf.create({"name": "adamw", "lr": 5e-4, "weight_decay": 1e-3,
                                               "sched": {"name": "CosineAnnealing", "warmup_steps": 5,
                                                         "min_lr": 2.5e-5, "max_steps": 1000}}))
    start = time.perf_counter()
    trainer.fit(model)
    seconds = time.perf_counter() - start
    audio = sum(e["duration"] for e in read_manifest(manifest)) * epochs
    return audio, seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=8)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-am-"))
    base = load_base_model("demo")
    test = read_manifest(demo.manifest("domain/test"), require_text=True)
    dev = read_manifest(demo.manifest("domain/dev"), require_text=True)
    general = read_manifest(demo.manifest("general/test"), require_text=True)
    refs, dev_refs, gen_refs = ([e["text"] for e in x] for x in (test, dev, general))

    lm = build_language_model(base, [demo.corpus_path()], work / "lm", words=demo.custom_words_path())
    lm_decoder = Decoder(base, lm)
    lm_weights = tune(lm_decoder, acoustic_outputs(base, [e["audio_filepath"] for e in dev]), dev_refs).best
    base_test = acoustic_outputs(base, [e["audio_filepath"] for e in test])
    lm_wer = evaluate(refs, lm_decoder.decode_text(base_test, lm_weights)).wer

    result = train_acoustic_model(base, demo.manifest("domain/train"), work / "am.nemo", mode="lightly-supervised",
                                  lm=lm, weights=lm_weights, dev=dev, epochs=args.epochs)
    am = load_base_model(result.path)
    both = Decoder(am, lm)
    both_weights = tune(both, acoustic_outputs(am, [e["audio_filepath"] for e in dev]), dev_refs).best
    am_test = acoustic_outputs(am, [e["audio_filepath"] for e in test])
    both_wer = evaluate(refs, both.decode_text(am_test, both_weights)).wer
    am_greedy = evaluate(refs, Decoder(am).decode_text(am_test)).wer
    kept = sum(r.kept for r in result.pseudo_labels)
    label_wer = evaluate(
        [e["text"] for e in read_manifest(demo.data_path("domain", "train", "reference_transcripts.json"))],
        [r.text for r in result.pseudo_labels]).wer

    print(f"pseudo-labels: {kept}/{len(result.pseudo_labels)} kept, label WER vs true transcripts {label_wer:.1%}")
    print(f"epochs run: {len(result.history) - 1}; history (epoch, dev WER): "
          + ", ".join(f"{h.epoch}:{h.dev_wer:.3f}" for h in result.history if h.dev_wer is not None))
    print(f"test WER  custom LM alone        {lm_wer:6.1%}")
    print(f"test WER  custom AM alone (greedy) {am_greedy:6.1%}")
    print(f"test WER  custom AM + custom LM  {both_wer:6.1%}   relative cut vs LM alone {1 - both_wer / lm_wer:5.1%}")
    print(f"general WER before {result.general_wer_before:6.1%} after {result.general_wer_after:6.1%} "
          f"relative change {result.general_wer_change:+.1%}")
    print(f"throughput (ours)  {result.throughput:6.1f} audio s per s ({result.audio_seconds:.0f} s in "
          f"{result.fit_seconds:.0f} s)")

    # The bare fit: same model, same data (the kept pseudo-labels and the general mix), same epochs.
    train_manifest = write_manifest(work / "bare_train.json",
                                    [r.to_entry() for r in result.pseudo_labels if r.kept]
                                    + read_manifest(demo.manifest("general/mix"))[: result.general_utterances])
    epochs_run = max(1, len(result.history) - 1)
    audio, seconds = bare_fit(demo.data_path("demo.nemo"), train_manifest, epochs_run, 16)
    print(f"throughput (bare)  {audio / seconds:6.1f} audio s per s ({audio:.0f} s in {seconds:.0f} s); "
          f"ratio ours/bare {result.throughput / (audio / seconds):4.2f}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024
    print(f"peak memory (max RSS) {peak:4.2f} GB")


if __name__ == "__main__":
    main()
