"""The customization chain: base, + custom LM, + lightly supervised custom AM, and both.

Given a base model whose profile has example data (a domain corpus and custom words,
untranscribed domain audio, transcribed dev and test sets, general test speech), it builds a
custom LM (with the profile's general text mixed in when it has one), tunes its weights on the
dev set, trains a custom AM lightly supervised, and scores all four systems on the test set and
on general speech (the forgetting guard). ``speechcustom demo`` runs it on the bundled demo; any
registered profile with the same data works too.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from jupyter_speechcustom.asr.decoding import Decoder, DecodingWeights, tune
from jupyter_speechcustom.asr.models import BaseModel, load_base_model
from jupyter_speechcustom.asr.profiles import ModelProfile
from jupyter_speechcustom.asr.recognize import AcousticOutput
from jupyter_speechcustom.errors import SpeechCustomError
from jupyter_speechcustom.evaluation.metrics import Evaluation
from jupyter_speechcustom.io.manifest import Utterance, read_utterances
from jupyter_speechcustom.services.compare import AcousticCache, cached_acoustic_outputs, run_comparison

__all__ = ["CHAIN_SYSTEMS", "ChainResult", "SystemResult", "format_table", "run_chain"]

log = logging.getLogger(__name__)

#: The chain's systems: their names in reports, and in :data:`~jupyter_speechcustom.services.compare.SYSTEMS`.
CHAIN_SYSTEMS = {"base": "base", "base + custom LM": "+LM", "custom AM": "+AM", "custom AM + custom LM": "+AM+LM"}


@dataclass
class SystemResult:
    """One system's scores on the domain test set and the general test set."""

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


def _chain_data(profile: ModelProfile | None, base: BaseModel) -> dict[str, Path]:
    needed = {"corpus": profile.example_corpus if profile else None,
              "words": profile.example_words if profile else None,
              "train": profile.example_sets.get(profile.train_set or "") if profile else None,
              "dev": profile.example_sets.get(profile.dev_set or "") if profile else None,
              "test": profile.example_sets.get(profile.test_sets[0]) if profile and profile.test_sets else None,
              "general": profile.general_test if profile else None}
    missing = [name for name, path in needed.items() if path is None]
    if missing:
        msg = (f"the chain needs example data for base model {base.name!r}, and its profile lacks: "
               f"{', '.join(missing)}; register a profile with them (jupyter_speechcustom.asr.profiles)")
        raise SpeechCustomError(msg)
    return {name: Path(path) for name, path in needed.items() if path is not None}


def _items(manifest: Path) -> list[Utterance]:
    return read_utterances(manifest, require_text=True)


def run_chain(
    base: BaseModel | str = "demo",
    out_dir: Path | None = None,
    *,
    epochs: int = 8,
    report: Callable[[str], None] = print,
    confidence_threshold: float | None = None,
) -> ChainResult:
    """Run base, +custom LM, +custom AM (lightly supervised, keeping pseudo-labels at or above
    ``confidence_threshold``, by default calibrated on the audio) and both on ``base``'s example data."""
    from jupyter_speechcustom.am.acoustic_model import train_acoustic_model
    from jupyter_speechcustom.lm.language_model import build_language_model

    base = base if isinstance(base, BaseModel) else load_base_model(base)
    data = _chain_data(base.profile, base)
    out_dir = Path(out_dir) if out_dir else Path(tempfile.mkdtemp(prefix="speechcustom-chain-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    test, dev, general = _items(data["test"]), _items(data["dev"]), _items(data["general"])
    dev_refs = [item.text or "" for item in dev]
    cache: AcousticCache = {}
    systems: list[SystemResult] = []

    def score(name: str, started: float, weights: DecodingWeights | None, **models: Any) -> SystemResult:
        system = CHAIN_SYSTEMS[name]
        domain = run_comparison(base, test, [system], label="test", weights=weights, cache=cache, **models)
        general_run = run_comparison(base, general, [system], label="general", weights=weights, cache=cache, **models)
        result = SystemResult(name, domain.evaluations[system], general_run.evaluations[system],
                              time.perf_counter() - started, weights, domain.texts[system])
        report(f"  {name}: domain WER {result.domain.wer:.1%}, general WER {result.general.wer:.1%}")
        return result

    def dev_outputs(model: BaseModel) -> list[AcousticOutput]:
        return cached_acoustic_outputs(model, [item.audio for item in dev], cache)

    started = time.perf_counter()
    report("[1/4] base model (greedy)")
    systems.append(score("base", started, None))

    started = time.perf_counter()
    report("[2/4] custom language model: build, tune weights on the dev set")
    # With the profile's general text mixed in (the default), so that weights tuned on domain speech
    # keep general speech: a domain-only LM doubled the hybrid demo model's general WER.
    lm = build_language_model(base, [data["corpus"]], out_dir / "custom_lm", words=data["words"], overwrite=True)
    if lm.general_text:
        report(f"  general text mixed in: {lm.general_weight:.0%} of the LM's training words")
    tuning = tune(Decoder(base, lm), dev_outputs(base), dev_refs)
    tuned = tuning.best
    # Recognition with this LM starts from these weights.
    lm = lm.save_tuning(asdict(tuned), tuning.best_wer, "the dev set", len(dev), kept_defaults=tuning.kept_defaults)
    systems.append(score("base + custom LM", started, tuned, lm=lm))

    started = time.perf_counter()
    report(f"[3/4] custom acoustic model: lightly supervised on untranscribed domain audio ({epochs} epochs)")
    am_path = out_dir / "custom_am.nemo"
    training = train_acoustic_model(
        base, data["train"], am_path, mode="lightly-supervised", lm=lm, weights=tuned, dev=data["dev"], epochs=epochs,
        confidence_threshold=confidence_threshold, progress=lambda fraction, message: log.info("%3.0f%% %s", 100 * fraction, message),
    )
    kept = sum(r.kept for r in training.pseudo_labels)
    report(f"  kept {kept} of {len(training.pseudo_labels)} pseudo-labelled utterances")
    am = load_base_model(am_path)
    systems.append(score("custom AM", started, None, am=am))

    started = time.perf_counter()
    report("[4/4] custom AM + custom LM")
    both_weights = tune(Decoder(am, lm), dev_outputs(am), dev_refs).best
    systems.append(score("custom AM + custom LM", started, both_weights, lm=lm, am=am))
    result = ChainResult(systems, [item.text or "" for item in test], [item.audio for item in test], out_dir,
                         lm.path, am_path, training.summary())
    from jupyter_speechcustom.evaluation.report import chain_report, write_report

    result.report = write_report(out_dir / "report.html", chain_report(result))
    return result


def format_table(results: list[SystemResult]) -> str:
    heads = any(r.weights is not None and r.weights.head for r in results)  # a hybrid model's tuned head
    head = f"{'system':<24} {'domain WER':>10} {'S/D/I':>11} {'general WER':>12} {'LM α/β':>9}"
    head += f" {'head':>10}" if heads else ""
    lines = [head, "-" * len(head)]
    for r in results:
        sdi = f"{r.domain.substitutions}/{r.domain.deletions}/{r.domain.insertions}"
        weights = f"{r.weights.lm_alpha:.1f}/{r.weights.lm_beta:.1f}" if r.weights else "-"
        line = f"{r.system:<24} {r.domain.wer:>9.1%} {sdi:>11} {r.general.wer:>11.1%} {weights:>9}"
        if heads:
            line += f" {(r.weights.head if r.weights else None) or '-':>10}"
        lines.append(line)
    return "\n".join(lines)
