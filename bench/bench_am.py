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
import json
import random
import resource
import tempfile
import time
from pathlib import Path

from jupyter_speechcustom import demo, evaluate, read_manifest
from jupyter_speechcustom.am.acoustic_model import prepare_audio
from jupyter_speechcustom.io.manifest import write_manifest


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
    from jupyter_speechcustom.services.chain import format_table, run_chain

    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="bench-am-"))
    result = run_chain("demo", out, epochs=args.epochs)
    print()
    print(format_table(result.systems))
    by_name = {s.system: s for s in result.systems}
    lm_wer = by_name["base + custom LM"].domain.wer
    both_wer = by_name["custom AM + custom LM"].domain.wer
    t = result.training
    summary = json.loads((out / "custom_am.json").read_text())
    rows = summary["pseudo_labels"]
    truth = {Path(e["audio_filepath"]).name: e["text"] for e in
             read_manifest(demo.data_path("domain", "train", "reference_transcripts.json"))}
    label_wer = evaluate([truth[Path(r["source"]).name] for r in rows], [r["text"] for r in rows]).wer
    kept = [r for r in rows if r["kept"]]
    kept_wer = evaluate([truth[Path(r["source"]).name] for r in kept], [r["text"] for r in kept]).wer
    print(f"\npseudo-labels: {len(kept)}/{len(rows)} kept (threshold {0.7}); label WER vs the true transcripts: "
          f"all {label_wer:.1%}, kept {kept_wer:.1%}")
    print("dev WER per epoch: " + ", ".join(f"{h['epoch']}:{h['dev_wer']:.3f}" for h in summary["history"]
                                          if h.get("dev_wer") is not None))
    print(f"custom AM + LM vs custom LM alone: {both_wer:.1%} vs {lm_wer:.1%}, relative cut {1 - both_wer / lm_wer:.1%}")
    print(f"forgetting guard (greedy, general test): {t['general_wer_before']:.1%} -> {t['general_wer_after']:.1%}, "
          f"relative change {t['general_wer_change']:+.1%}")
    ours = t["throughput"]
    print(f"throughput (ours): {ours:.1f} audio s per s ({t['audio_seconds']:.0f} s of audio in {t['fit_seconds']:.0f} s)")

    # A bare NeMo/Lightning fit: same model, same data (the kept pseudo-labels on the same prepared
    # 16 kHz WAV segments, and the same sample of the general mix), same epochs and batch size.
    prepared = prepare_audio(read_manifest(demo.manifest("domain/train")), out / "bare_audio", 16000)
    segment = {Path(e["audio_filepath"]).name: e["audio_filepath"] for e in prepared.entries}
    general = read_manifest(demo.manifest("general/mix"), require_text=True)
    mix = random.Random(0).sample(general, t["general_utterances"])  # train_acoustic_model's draw (seed 0)
    train_manifest = write_manifest(out / "bare_train.json", [
        {"audio_filepath": segment[Path(r["audio_filepath"]).name], "duration": r["duration"], "text": r["text"]}
        for r in kept] + mix)
    epochs_run = max(1, summary["epochs"])
    audio, seconds = bare_fit(demo.data_path("demo.nemo"), train_manifest, epochs_run, 16)
    print(f"throughput (bare NeMo fit): {audio / seconds:.1f} audio s per s ({audio:.0f} s in {seconds:.0f} s); "
          f"ratio ours/bare {ours / (audio / seconds):.2f}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024
    print(f"peak memory (max RSS of this process, whole chain): {peak:.2f} GB")
    print(f"report: {result.report}")


if __name__ == "__main__":
    main()
