"""The main job: the whole customization chain on the demo, as a table of WER per system.

base → + custom LM (built from the domain corpus and custom words, weights tuned on the dev
set) → + custom AM (lightly supervised: the untranscribed domain audio labelled with the
custom LM) → both. Each system is scored on the domain test set and, as a forgetting
guard, on general speech.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_speechcustom import demo
from jupyter_speechcustom.decoding import Decoder, DecodingWeights, tune
from jupyter_speechcustom.evaluation import Evaluation, evaluate
from jupyter_speechcustom.manifest import read_manifest
from jupyter_speechcustom.models import BaseModel, load_base_model
from jupyter_speechcustom.recognize import AcousticOutput, acoustic_outputs

log = logging.getLogger(__name__)


@dataclass
class SystemResult:
    """One system's scores on the demo's domain test set and general test set."""

    system: str
    domain: Evaluation
    general: Evaluation
    seconds: float
    weights: DecodingWeights | None = None
    hypotheses: list[str] = field(default_factory=list, repr=False)


@dataclass
class ChainResult:
    systems: list[SystemResult]
    references: list[str]
    audio: list[str]
    out_dir: Path
    lm_path: Path | None = None
    am_path: Path | None = None
    training: dict[str, Any] | None = None
    report: Path | None = None


def _split(split: str) -> tuple[list[str], list[str]]:
    entries = read_manifest(demo.manifest(split), require_text=True)
    return [e["audio_filepath"] for e in entries], [e["text"] for e in entries]


def run_chain(
    out_dir: Path | None = None,
    *,
    epochs: int = 8,
    report: Callable[[str], None] = print,
) -> ChainResult:
    """Run base, +custom LM, +custom AM (lightly supervised) and both on the demo."""
    from jupyter_speechcustom.acoustic_model import train_acoustic_model
    from jupyter_speechcustom.language_model import build_language_model

    out_dir = Path(out_dir) if out_dir else Path(tempfile.mkdtemp(prefix="speechcustom-demo-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    test_audio, test_refs = _split("domain/test")
    dev_audio, dev_refs = _split("domain/dev")
    gen_audio, gen_refs = _split("general/test")

    def score(name: str, model: BaseModel, decoder: Decoder, weights: DecodingWeights | None,
              outputs: dict[str, list[AcousticOutput]], started: float) -> SystemResult:
        hyps = decoder.decode_text(outputs["test"], weights)
        general = evaluate(gen_refs, decoder.decode_text(outputs["general"], weights))
        result = SystemResult(name, evaluate(test_refs, hyps), general, time.perf_counter() - started, weights, hyps)
        report(f"  {name}: domain WER {result.domain.wer:.1%}, general WER {general.wer:.1%}")
        return result

    def run_acoustics(model: BaseModel) -> dict[str, list[AcousticOutput]]:
        return {"test": acoustic_outputs(model, test_audio), "dev": acoustic_outputs(model, dev_audio),
                "general": acoustic_outputs(model, gen_audio)}

    systems = []
    started = time.perf_counter()
    report("[1/4] base model (greedy)")
    base = load_base_model("demo")
    base_out = run_acoustics(base)
    systems.append(score("base", base, Decoder(base), None, base_out, started))

    started = time.perf_counter()
    report("[2/4] custom language model: build, tune weights on the dev set")
    lm = build_language_model(base, [demo.corpus_path()], out_dir / "custom_lm", words=demo.custom_words_path(),
                              overwrite=True)
    lm_decoder = Decoder(base, lm)
    tuned = tune(lm_decoder, base_out["dev"], dev_refs).best
    systems.append(score("base + custom LM", base, lm_decoder, tuned, base_out, started))

    started = time.perf_counter()
    report(f"[3/4] custom acoustic model: lightly supervised on untranscribed domain audio ({epochs} epochs)")
    am_path = out_dir / "custom_am.nemo"
    training = train_acoustic_model(
        base, demo.manifest("domain/train"), am_path, mode="lightly-supervised", lm=lm, weights=tuned,
        dev=demo.manifest("domain/dev"), epochs=epochs,
        progress=lambda fraction, message: log.info("%3.0f%% %s", 100 * fraction, message),
    )
    kept = sum(r.kept for r in training.pseudo_labels)
    report(f"  kept {kept} of {len(training.pseudo_labels)} pseudo-labelled utterances")
    am = load_base_model(am_path)
    am_out = run_acoustics(am)
    systems.append(score("custom AM", am, Decoder(am), None, am_out, started))

    started = time.perf_counter()
    report("[4/4] custom AM + custom LM")
    both_decoder = Decoder(am, lm)
    both_weights = tune(both_decoder, am_out["dev"], dev_refs).best
    systems.append(score("custom AM + custom LM", am, both_decoder, both_weights, am_out, started))
    result = ChainResult(systems, test_refs, test_audio, out_dir, lm.path, am_path, training.summary())
    from jupyter_speechcustom.report import chain_report, write_report

    result.report = write_report(out_dir / "report.html", chain_report(result))
    return result


def format_table(results: list[SystemResult]) -> str:
    head = f"{'system':<24} {'domain WER':>10} {'S/D/I':>11} {'general WER':>12} {'LM α/β':>9}"
    lines = [head, "-" * len(head)]
    for r in results:
        sdi = f"{r.domain.substitutions}/{r.domain.deletions}/{r.domain.insertions}"
        weights = f"{r.weights.lm_alpha:.1f}/{r.weights.lm_beta:.1f}" if r.weights else "-"
        lines.append(f"{r.system:<24} {r.domain.wer:>9.1%} {sdi:>11} {r.general.wer:>11.1%} {weights:>9}")
    return "\n".join(lines)
