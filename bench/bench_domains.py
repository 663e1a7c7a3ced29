"""The customization chain on domains no default was tuned on, run as a new user would run it.

The chain's defaults were first chosen on the demo's cloud-operations domain. This bench makes domains of its own
(``bench/domains/*.json``: legal, aviation, finance) and measures, per domain and base model, with
the public Python API only:

(a) base: the model's default decoding (greedy; a hybrid's transducer head);
(b) + custom LM, no dev set: ``Recognizer(base, lm=lm)`` at the default weights;
(c) + custom LM tuned on a 20-utterance dev set of the same domain (``tune``, saved with the LM);
(d) + custom AM trained lightly supervised on 150 untranscribed utterances, pseudo-labelled with the
    custom LM at its tuned weights and the default confidence bar, calibrated on them (``pseudo_label`` then
    ``train_acoustic_model``), greedy; (e) both (weights tuned again on the dev set, as ``speechcustom
    demo`` does, and with the LM's saved weights);

each on the domain's 40-utterance test set and on the demo's general test set (the forgetting guard),
with the pseudo-labels' kept / total, WER against the true transcripts and the ROC-AUC of their
confidence. The demo's own domain (``cloud``: the bundled data, cut to the same sizes) runs beside
them for reference; ``cloud-300`` cuts its LM corpus to 300 sentences, and ``cloud-voices`` speaks
its sentences with this bench's voices.

A domain is a JSON file of templates, slot fillers and custom words; its text is generated from a seed
(spoken form: lowercase a-z, apostrophes, numbers spelled out) and split into an LM corpus (~300
sentences) and train/dev/test sentences that are not in the corpus but whose words all are. The speech
comes from voices the demo models never trained on (the held-out voices of espeak-ng and Flite, and
Festival, the engine held out altogether: ``jupyter_speechcustom.demo.voices``; ``--voices espeak``:
espeak-ng's held-out voices only), with light noise, reverberation and telephone channels. Audio goes to a cache folder, made once per domain and seed:

    python bench/bench_domains.py [--domain legal ...] [--model demo ...] [--epochs 8] [--no-am]
        [--voices unseen|espeak] [--number-variants 3] [--threshold T] [--data DIR] [--seed 0] [--out results.json] [--make-data]
    python bench/bench_domains.py --report results.json [more.json ...]

``--make-data`` only writes the text and audio; ``--report`` prints the tables of earlier runs again,
with diagnostics: the default weights on each head of a hybrid, weights tuned on a wider grid than
``tune``'s, the best grid point on the test set, deletions, and errors on numbers, jargon and other
words. Needs Debian's sox, espeak-ng, flite, festival and its voices
(``jupyter_speechcustom.demo.voices.DEBIAN_PACKAGES``).

Targets: with no dev set the custom LM cuts WER by >= 70% against base greedy (median over the new
domains); with the dev set, >= 80%; the lightly supervised AM with the LM cuts a further >= 15% against
the LM alone; general-speech WER rises by <= 5% relative.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import random
import re
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from jupyter_speechcustom import (
    BaseModel,
    DecodingWeights,
    Recognizer,
    build_language_model,
    demo,
    evaluate,
    load_base_model,
    pseudo_label,
    read_manifest,
    train_acoustic_model,
    tune,
    write_manifest,
)
from jupyter_speechcustom.am.acoustic_model import calibrated_threshold
from jupyter_speechcustom.asr.decoding import default_weights
from jupyter_speechcustom.constants import CONFIDENCE_THRESHOLD, NUMBER_VARIANTS
from jupyter_speechcustom.demo.domain_text import spell_number
from jupyter_speechcustom.demo.recipe import HELD_OUT_VOICES
from jupyter_speechcustom.demo.voices import (
    ENGINES,
    HELD_OUT_ENGINE,
    Step,
    Take,
    build_speech,
)
from jupyter_speechcustom.lm.builders import cache_dir

DOMAINS_DIR = Path(__file__).parent / "domains"
NEW_DOMAINS = tuple(sorted(p.stem for p in DOMAINS_DIR.glob("*.json")))
#: The demo's own domain: its bundled data; the same with the LM corpus cut to this bench's size
#: (its first 300 sentences, not the whole 1500); its sentences spoken by this bench's voices.
REFERENCE_DOMAINS = ("cloud", "cloud-300", "cloud-voices")
MODELS = ("demo", "demo-char")

SIZES = {"corpus": 300, "train": 150, "dev": 20, "test": 40}
MIN_WORDS, MAX_WORDS = 4, 22
SPOKEN = re.compile(r"[a-z']+( [a-z']+)*")
#: Bump when the text or audio plan changes: the cache folder's name carries it.
GENERATOR_VERSION = 1

#: Voices the demo models never trained on. ``unseen``: the held-out voices of espeak-ng and Flite and
#: every voice of Festival, the engine held out altogether (``demo`` trained on espeak-ng and Flite,
#: ``demo-char`` on espeak-ng alone); ``espeak``: espeak-ng's held-out voices only, the voices of the
#: demo's own domain audio. A take picks an engine first, then one of its voices.
VOICE_SETS = {
    "unseen": (
        *(f"espeak:{v}" for v in HELD_OUT_VOICES),
        *(f"flite:{v}" for v in ENGINES["flite"].held_out),
        *(f"{HELD_OUT_ENGINE}:{v}" for v in (*ENGINES[HELD_OUT_ENGINE].train, *ENGINES[HELD_OUT_ENGINE].held_out)),
    ),
    "espeak": tuple(f"espeak:{v}" for v in HELD_OUT_VOICES),
}

ROUND = 4
#: A wider weight grid than ``tune``'s default (alpha 0.5-2.0, beta 1.5-5.0), tried on the dev set as a
#: diagnostic: whether tuning's grid still cuts off the best weights.
WIDE_ALPHAS = (0.4, 0.7, 1.0, 1.4, 2.0, 2.8)
WIDE_BETAS = (0.5, 1.5, 2.5, 3.5, 5.0, 7.0, 10.0)


# --------------------------------------------------------------------------- text


def _spoken_digits(n: int, spec: dict[str, Any]) -> str:
    names = {"0": spec.get("zero", "zero"), "9": spec.get("nine", "nine")}
    ones = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
    return " ".join(names.get(c, ones[int(c)]) for c in str(n).zfill(int(spec.get("width", 1))))


def _number(spec: dict[str, Any], rng: random.Random) -> str:
    """A number slot: ``int`` [lo, hi] (with ``step``) or ``pick``; said as a number or digit by digit
    (``say: digits``, ``width``, ``nine: niner``, ``zero: oh``; ``digits`` limits the digits, e.g. octal
    squawk codes); ``noun`` [singular, plural] follows it."""
    if "pick" in spec:
        n = int(rng.choice(spec["pick"]))
    else:
        lo, hi = spec["int"]
        allowed = spec.get("digits")
        while True:
            n = rng.randrange(lo, hi + 1, int(spec.get("step", 1)))
            if not allowed or set(str(n).zfill(int(spec.get("width", 1)))) <= set(allowed):
                break
    text = _spoken_digits(n, spec) if spec.get("say") == "digits" else spell_number(n)
    if "noun" in spec:
        text += " " + spec["noun"][0 if n == 1 else 1]
    return text


@dataclass(frozen=True)
class DomainSpec:
    """A domain as data: slot fillers, template groups (variants of one sentence), custom words."""

    name: str
    description: str
    slots: dict[str, Any]
    templates: list[list[str]]
    openers: list[str]
    closers: list[str]
    custom_words: list[list[str]]

    @classmethod
    def load(cls, name: str) -> DomainSpec:
        path = DOMAINS_DIR / f"{name}.json"
        if not path.is_file():
            raise SystemExit(f"no domain {name!r}: choose among {', '.join(NEW_DOMAINS + REFERENCE_DOMAINS)}")
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(data["name"], data["description"], data["slots"], data["templates"], data.get("openers", []),
                   data.get("closers", []), data["custom_words"])

    def fill(self, template: str, rng: random.Random, depth: int = 0) -> str:
        def sub(match: re.Match[str]) -> str:
            filler = self.slots[match.group(1)]
            if isinstance(filler, list):
                filler = rng.choice(filler)
            value = _number(filler, rng) if isinstance(filler, dict) else filler
            return self.fill(value, rng, depth + 1) if "{" in value and depth < 6 else value

        return re.sub(r"\{(\w+)\}", sub, template)

    def render(self, template: str, rng: random.Random) -> str:
        text = self.fill(template, rng)
        r = rng.random()
        if r < 0.12 and self.openers:
            text = f"{rng.choice(self.openers)} {text}"
        elif r < 0.2 and self.closers:
            text = f"{text} {rng.choice(self.closers)}"
        return " ".join(text.split())


def _known_words() -> set[str]:
    """Words of the demo models' training text: what is not among them is the domain's jargon."""
    return {w for line in demo.general_text_path().read_text(encoding="utf-8").splitlines() for w in line.split()}


def generate_text(spec: DomainSpec, seed: int) -> dict[str, Any]:
    """The domain's LM corpus and train/dev/test sentences, deterministic for ``seed``.

    Sentences are drawn cycling through the template groups. Dev, test and train sentences each have
    at least one jargon word (not in the base models' training text), at most one (dev, test) or three
    (train) per template variant, and are held out only while each of their words stays in some
    corpus sentence, so the corpus covers their vocabulary without holding any of them verbatim.
    """
    for problem in [t for group in spec.templates for t in group if set(re.findall(r"\{(\w+)\}", t)) - set(spec.slots)]:
        raise ValueError(f"{spec.name}: template {problem!r} names an unknown slot")
    known = _known_words()
    held = SIZES["train"] + SIZES["dev"] + SIZES["test"]
    for extra in range(0, 400, 25):  # a bigger corpus only when the held-out sets cannot be covered
        rng = random.Random(f"{spec.name}:{seed}")
        pool: dict[str, tuple[int, int]] = {}
        attempts = 0
        while len(pool) < SIZES["corpus"] + extra + held and attempts < 100_000:
            for g, group in enumerate(spec.templates):
                attempts += 1
                v = rng.randrange(len(group))
                text = spec.render(group[v], rng)
                if MIN_WORDS <= len(text.split()) <= MAX_WORDS and SPOKEN.fullmatch(text) and text not in pool:
                    pool[text] = (g, v)
                if len(pool) >= SIZES["corpus"] + extra + held:
                    break
        order = list(pool)
        rng.shuffle(order)
        df = Counter(w for s in order for w in set(s.split()))
        taken: set[str] = set()
        splits: dict[str, list[str]] = {}
        for split, per_variant in (("test", 1), ("dev", 1), ("train", 3)):
            picked: list[str] = []
            used: Counter[tuple[int, int]] = Counter()
            for s in order:
                words = set(s.split())
                if len(picked) == SIZES[split]:
                    break
                if s in taken or used[pool[s]] >= per_variant or not (words - known) or any(df[w] < 2 for w in words):
                    continue
                for w in words:
                    df[w] -= 1
                used[pool[s]] += 1
                picked.append(s)
                taken.add(s)
            splits[split] = picked
        if all(len(splits[k]) == SIZES[k] for k in ("train", "dev", "test")):
            corpus = [s for s in order if s not in taken]
            jargon = sorted({w for s in pool for w in s.split()} - known)
            return {"corpus": corpus, **splits, "jargon": jargon}
    raise RuntimeError(f"{spec.name}: cannot hold out {held} sentences whose words the corpus covers")


def write_custom_words(spec: DomainSpec, path: Path) -> None:
    """The domain's custom words as CSV (word, sounds_like, display_as), like the demo's. A word the
    corpus happens not to hold stays: a user lists the words they know, and each adds its spelling
    to the LM text."""
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["word", "sounds_like", "display_as"])
        writer.writerows(spec.custom_words)


# --------------------------------------------------------------------------- speech


def plan_takes(texts: list[str], names: list[str], seed: str, voices: tuple[str, ...]) -> list[Take]:
    """A voice (engine first, then one of its voices), rate, pitch and a light augmentation chain
    per sentence: a third clean, else noise at 10-25 dB SNR (white, pink, brown or babble of earlier
    takes), sometimes reverberation, one in ten through a telephone channel."""
    rng = random.Random(seed)
    by_engine: dict[str, list[str]] = {}
    for v in voices:
        by_engine.setdefault(v.split(":", 1)[0], []).append(v)
    takes = []
    for i, (text, name) in enumerate(zip(texts, names)):
        voice = rng.choice(by_engine[rng.choice(sorted(by_engine))])
        rate, pitch = round(rng.uniform(0.9, 1.15), 3), round(rng.uniform(0.9, 1.1), 3)
        steps: list[Step] = []
        if rng.random() >= 1 / 3:
            if rng.random() < 0.3:
                steps.append(Step("reverb", (rng.randint(20, 60), rng.randint(20, 80), rng.randint(0, 20))))
            if rng.random() < 0.85:
                kind = rng.choice(("white", "pink", "brown", "babble") if i >= 6 else ("white", "pink", "brown"))
                snr = rng.choices((10, 15, 20, 25), (1, 2, 3, 2))[0]
                talkers = tuple(rng.sample(names[:i], rng.randint(3, 5))) if kind == "babble" else ()
                steps.append(Step("noise", (kind, snr, rng.randrange(2**31), talkers)))
            if rng.random() < 0.1:
                steps.append(Step("phone", (rng.choice(("gsm", "ulaw")),)))
        takes.append(Take(text, voice, rate, pitch, name, tuple(steps)))
    return takes


@dataclass(frozen=True)
class DomainData:
    """A domain's files: LM corpus, custom words, untranscribed train audio (with its true transcripts
    kept apart), transcribed dev and test audio."""

    name: str
    corpus: Path
    words: Path
    train: Path
    train_references: Path
    dev: Path
    test: Path
    info: dict[str, Any]


def _folder(root: Path, name: str, seed: int, fingerprint: str) -> Path:
    return root / f"{name}-seed{seed}-{hashlib.sha256(fingerprint.encode()).hexdigest()[:10]}"


def _speak_splits(folder: Path, texts: dict[str, list[str]], seed: str, voices: tuple[str, ...]) -> dict[str, Path]:
    """Speak the train, dev and test sentences (one plan, so babble can mix talkers of every split)."""
    names = [f"{split}-{i:04d}" for split in ("train", "dev", "test") for i in range(len(texts[split]))]
    all_texts = [t for split in ("train", "dev", "test") for t in texts[split]]
    manifest = build_speech(plan_takes(all_texts, names, seed, voices), folder / "audio", folder / "all.json")
    entries = read_manifest(manifest)
    out = {}
    for split in ("train", "dev", "test"):
        mine = [e for e in entries if Path(e["audio_filepath"]).name.startswith(f"{split}-")]
        if split == "train":
            write_manifest(folder / "train_references.json", mine)
            mine = [{k: v for k, v in e.items() if k != "text"} for e in mine]
        out[split] = write_manifest(folder / f"{split}.json", mine)
    return out


def make_domain(name: str, root: Path, seed: int, voice_set: str = "unseen") -> DomainData:
    """Generate (once per seed, voice set and generator version) a domain's text and speech under ``root``."""
    if name in ("cloud", "cloud-300"):
        return _cloud(root, name)
    if name == "cloud-voices":
        texts = _cloud_texts()
        spec_text = json.dumps(texts, sort_keys=True)
        corpus_source: Path | None = demo.corpus_path()
        spec = None
    else:
        spec = DomainSpec.load(name)
        spec_text = (DOMAINS_DIR / f"{name}.json").read_text(encoding="utf-8")
        corpus_source = None
    voices = VOICE_SETS[voice_set]
    folder = _folder(root, f"{name}-{voice_set}", seed, f"{GENERATOR_VERSION}\n{voices}\n{SIZES}\n{spec_text}")
    done = folder / "domain.json"
    if not done.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        if spec is not None:
            texts = generate_text(spec, seed)
            (folder / "corpus.txt").write_text("".join(s + "\n" for s in texts["corpus"]), encoding="utf-8")
            write_custom_words(spec, folder / "custom_words.csv")
        else:
            assert corpus_source is not None
            (folder / "corpus.txt").write_bytes(corpus_source.read_bytes())
            (folder / "custom_words.csv").write_bytes(demo.custom_words_path().read_bytes())
        _speak_splits(folder, texts, f"{name}:{seed}:speech", voices)
        info = {"domain": name, "seed": seed, "generator_version": GENERATOR_VERSION, "voice_set": voice_set,
                "voices": list(voices),
                "corpus_sentences": len(texts["corpus"]), "jargon": texts.get("jargon"),
                "description": spec.description if spec else "the demo's cloud-operations sentences, new voices",
                "seconds": round(time.perf_counter() - started, 1)}
        done.write_text(json.dumps(info, indent=1), encoding="utf-8")
    info = json.loads(done.read_text(encoding="utf-8"))
    return DomainData(name, folder / "corpus.txt", folder / "custom_words.csv", folder / "train.json",
                      folder / "train_references.json", folder / "dev.json", folder / "test.json", info)


def _cloud_entries() -> dict[str, list[dict[str, Any]]]:
    """The demo's bundled domain sets, cut to this bench's sizes (first utterances of each)."""
    refs = {Path(e["audio_filepath"]).name: e["text"]
            for e in read_manifest(demo.data_path("domain", "train", "reference_transcripts.json"))}
    train = read_manifest(demo.manifest("domain/train"))[: SIZES["train"]]
    return {"train": train,
            "train_references": [{**e, "text": refs[Path(e["audio_filepath"]).name]} for e in train],
            "dev": read_manifest(demo.manifest("domain/dev"))[: SIZES["dev"]],
            "test": read_manifest(demo.manifest("domain/test"))[: SIZES["test"]]}


def _cloud_texts() -> dict[str, list[str]]:
    sets = _cloud_entries()
    return {"train": [e["text"] for e in sets["train_references"]], "dev": [e["text"] for e in sets["dev"]],
            "test": [e["text"] for e in sets["test"]],
            "corpus": demo.corpus_path().read_text(encoding="utf-8").splitlines()}


def _cloud(root: Path, name: str) -> DomainData:
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    paths = {k: write_manifest(folder / f"{k}.json", v) for k, v in _cloud_entries().items()}
    corpus = demo.corpus_path().read_text(encoding="utf-8").splitlines()
    if name == "cloud-300":
        corpus = corpus[: SIZES["corpus"]]
    (folder / "corpus.txt").write_text("".join(s + "\n" for s in corpus), encoding="utf-8")
    info = {"domain": name, "voice_set": "demo", "voices": [f"espeak:{v}" for v in HELD_OUT_VOICES],
            "corpus_sentences": len(corpus),
            "description": "the demo's bundled cloud-operations data (clean espeak-ng speech), cut to the bench's sizes"}
    return DomainData(name, folder / "corpus.txt", demo.custom_words_path(), paths["train"],
                      paths["train_references"], paths["dev"], paths["test"], info)


# --------------------------------------------------------------------------- the chain


def roc_auc(scores: np.ndarray, positive: np.ndarray) -> float | None:
    """Probability that a random positive scores above a random negative (ties count half)."""
    pos, neg = scores[positive], scores[~positive]
    if not len(pos) or not len(neg):
        return None
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return round(float(greater / (len(pos) * len(neg))), ROUND)


def label_stats(rows: list[Any], references: dict[str, str]) -> dict[str, Any]:
    """Pseudo-labels against the true transcripts: kept, their WER, the confidence's ROC-AUC against
    "the label has an error", and what each threshold would keep."""
    refs = [references[r.audio_filepath] for r in rows]
    labels = [r.text for r in rows]
    wrong = np.array([evaluate([ref], [lab]).wer > 0 for ref, lab in zip(refs, labels)])
    conf = np.array([r.confidence for r in rows])
    kept = np.array([r.kept for r in rows])
    sweep = []
    for threshold in (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.94, 0.97):
        k = conf >= threshold
        sweep.append({"threshold": threshold, "kept": int(k.sum()), "good_kept": int((k & ~wrong).sum()),
                      "kept_wer": round(evaluate([r for r, x in zip(refs, k) if x], [lab for lab, x in zip(labels, k) if x]).wer,
                                        ROUND) if k.any() else None})
    return {"total": len(rows), "kept": int(kept.sum()), "wrong": int(wrong.sum()),
            "good_kept": int((kept & ~wrong).sum()),
            "label_wer": round(evaluate(refs, labels).wer, ROUND),
            "kept_wer": round(evaluate([r for r, k in zip(refs, kept) if k], [lab for lab, k in zip(labels, kept) if k]).wer,
                              ROUND) if kept.any() else None,
            "roc_auc": roc_auc(-conf, wrong),
            "confidence_percentiles": [round(float(q), 3) for q in np.quantile(conf, [0.1, 0.5, 0.9])],
            "threshold_sweep": sweep}


def _wer(refs: list[str], hyps: list[str]) -> float:
    return round(evaluate(refs, hyps).wer, ROUND)


def _engine(entry: dict[str, Any]) -> str:
    return str(entry.get("engine") or str(entry.get("voice") or "espeak").split(":")[0])


def by_engine(entries: list[dict[str, Any]], hyps: dict[str, list[str]]) -> dict[str, dict[str, float]]:
    """Each system's test WER per speech synthesizer (the engines sound very different to the models)."""
    out = {}
    for engine in sorted({_engine(e) for e in entries}):
        mine = [i for i, e in enumerate(entries) if _engine(e) == engine]
        refs = [entries[i]["text"] for i in mine]
        out[engine] = {"utterances": len(mine),
                       **{system: _wer(refs, [h[i] for i in mine]) for system, h in hyps.items()}}
    return out


def _weights(w: DecodingWeights | None) -> dict[str, Any] | None:
    return asdict(w) if w is not None else None


def bench(data: DomainData, base: BaseModel, work: Path, epochs: int, with_am: bool, log: Any,
          cache: dict[str, list[Any]] | None = None, threshold: float | None = None,
          iterations: int = 1, number_variants: int = NUMBER_VARIANTS) -> dict[str, Any]:
    """The chain on one domain and base model, through the public API; WERs and the labels' figures.
    ``cache`` keeps the base model's acoustic outputs of the general test set from one domain to the next."""
    started = time.perf_counter()
    model = base.name
    cache = {} if cache is None else cache
    general_test = base.profile.general_test if base.profile else None
    if general_test is None:
        raise SystemExit(f"base model {model!r} has no general test set in its profile: the forgetting guard needs one")
    sets = {"dev": read_manifest(data.dev), "test": read_manifest(data.test), "general": read_manifest(general_test)}
    refs = {k: [e["text"] for e in v] for k, v in sets.items()}
    audio = {k: [e["audio_filepath"] for e in v] for k, v in sets.items()}
    result: dict[str, Any] = {"domain": data.name, "model": model, "family": type(base.family).__name__,
                              "epochs": epochs, "iterations": iterations, "threshold": threshold, "sizes": {k: len(v) for k, v in sets.items()}}

    # (a) base, (b) + custom LM at the default weights: what a user without a dev set gets.
    lm = build_language_model(base, [data.corpus], work / "lm", words=data.words, overwrite=True,
                              number_variants=number_variants)
    result["lm"] = {"order": lm.order, "general_weight": lm.general_weight if lm.general_text else 0.0,
                    "number_variants": number_variants}
    fused = Recognizer(base, lm=lm)
    outputs = {k: fused.acoustic_outputs(v) for k, v in audio.items() if k != "general"}
    if "general" not in cache:
        cache["general"] = fused.acoustic_outputs(audio["general"])
    outputs["general"] = cache["general"]
    greedy = Recognizer(base).decoder
    wer: dict[str, dict[str, float]] = {"test": {}, "general": {}, "dev": {}}
    hyps: dict[str, list[str]] = {}  # test transcripts of each system

    def score(system: str, split: str, texts: list[str]) -> None:
        wer[split][system] = _wer(refs[split], texts)
        if split == "test":
            hyps[system] = texts

    for split in wer:
        score("base", split, greedy.decode_text(outputs[split]))
        score("lm_default", split, fused.decoder.decode_text(outputs[split]))
    log(f"base {wer['test']['base']:.1%}, + LM at the default weights {wer['test']['lm_default']:.1%}")

    # (c) + custom LM tuned on the dev set, saved with the LM (every later decoder starts from it).
    tuning = tune(fused.decoder, outputs["dev"], refs["dev"])
    best = tuning.best
    lm = lm.save_tuning(asdict(best), tuning.best_wer, "dev", len(sets["dev"]), kept_defaults=tuning.kept_defaults)
    for split in wer:
        score("lm_tuned", split, fused.decoder.decode_text(outputs[split], best))
    # Diagnostics: every weight point on the test set (what the best default would have been), and the
    # default weights with the other head.
    oracle = tune(fused.decoder, outputs["test"], refs["test"])
    result["grid"] = [{**asdict(w), "dev": round(d, ROUND), "test": round(t, ROUND)}
                      for (w, d), (_, t) in zip(tuning.grid, oracle.grid)]
    for head in base.family.heads or ():
        w = replace(default_weights(base, lm), head=head)
        wer["test"][f"lm_default_{head}"] = _wer(refs["test"], fused.decoder.decode_text(outputs["test"], w))
    oracle_best, oracle_wer = min(oracle.grid, key=lambda point: point[1])  # the grid's best on test, however close
    result["weights"] = {"default": _weights(default_weights(base, lm)),
                         "tuned": _weights(best), "test_oracle": _weights(oracle_best)}
    result["tuning"] = {"confidence": tuning.confidence, "kept_defaults": tuning.kept_defaults}
    wer["test"]["lm_oracle"] = round(oracle_wer, ROUND)
    log(f"+ LM tuned on dev {wer['test']['lm_tuned']:.1%} ({best}; {tuning.note}); best on test {oracle_wer:.1%}")
    wide = tune(fused.decoder, outputs["dev"], refs["dev"], lm_alphas=WIDE_ALPHAS, lm_betas=WIDE_BETAS).best
    result["weights"]["tuned_wide"] = _weights(wide)
    for split in ("test", "general"):
        wer[split]["lm_tuned_wide"] = _wer(refs[split], fused.decoder.decode_text(outputs[split], wide))
    log(f"+ LM tuned on dev over a wider grid {wer['test']['lm_tuned_wide']:.1%} ({wide})")

    # Pseudo-labels of the untranscribed audio, at the default and at the tuned weights.
    train = read_manifest(data.train)
    truth = {e["audio_filepath"]: e["text"] for e in read_manifest(data.train_references)}
    rows = {}
    labels = {}
    for name, w in (("default", default_weights(base, lm)), ("tuned", best)):
        rows[name] = pseudo_label(base, train, lm=lm, weights=w, threshold=threshold)
        labels[name] = label_stats(rows[name], truth)
        labels[name]["bar"] = threshold if threshold is not None else \
            calibrated_threshold([r.confidence for r in rows[name] if r.text.strip()])
        lab = labels[name]
        log(f"labels at the {name} weights (bar {lab['bar']:g}): kept {lab['kept']} of {lab['total']} ({lab['good_kept']} right), "
            f"label WER {lab['label_wer']:.1%}, kept labels' WER {_pct(lab['kept_wer'])}, ROC-AUC {lab['roc_auc']}")
    result["pseudo_labels"] = labels

    if with_am:
        am_path = work / "custom_am.nemo"
        try:
            training = train_acoustic_model(base, data.train, am_path, mode="lightly-supervised", lm=lm, weights=best,
                                            pseudo_labels=rows["tuned"], dev=data.dev, epochs=epochs,
                                            confidence_threshold=threshold, iterations=iterations)
        except Exception as exc:  # e.g. no label above the threshold: what a user would meet
            result["am_error"] = f"{type(exc).__name__}: {exc}"
            log(f"custom AM failed: {result['am_error']}")
        else:
            summary = training.summary()
            result["training"] = {k: summary.get(k) for k in (
                "train_utterances", "general_utterances", "saved_epoch", "best_epoch", "stop_reason", "recommended",
                "recommended_reason", "dev_wer_before", "dev_wer_after", "general_wer_before", "general_wer_after",
                "train_seconds")}
            am = load_base_model(am_path)
            both = Recognizer(base, lm=lm, am=am)  # the LM's saved (base-tuned) weights
            am_outputs = {k: both.acoustic_outputs(v) for k, v in audio.items()}
            am_greedy = Recognizer(base, am=am).decoder
            retuned = tune(both.decoder, am_outputs["dev"], refs["dev"]).best
            for split in wer:
                score("am", split, am_greedy.decode_text(am_outputs[split]))
                score("both_saved", split, both.decoder.decode_text(am_outputs[split]))
                score("both", split, both.decoder.decode_text(am_outputs[split], retuned))
            result["weights"]["both_retuned"] = _weights(retuned)
            log(f"+ AM {wer['test']['am']:.1%}, both {wer['test']['both']:.1%} "
                f"(LM's saved weights {wer['test']['both_saved']:.1%}); recommended: {summary.get('recommended')}")
    result["wer"] = wer
    result["test_by_engine"] = by_engine(sets["test"], hyps)
    hyps["lm_tuned_wide"] = fused.decoder.decode_text(outputs["test"], wide) if "lm_tuned_wide" not in hyps else \
        hyps["lm_tuned_wide"]
    result["test_transcripts"] = [{"reference": e["text"], "engine": _engine(e), **{k: v[i] for k, v in hyps.items()}}
                                  for i, e in enumerate(sets["test"])]
    result["seconds"] = round(time.perf_counter() - started, 1)
    return result


# --------------------------------------------------------------------------- report

COLUMNS = (("base", "base"), ("+LM no dev", "lm_default"), ("+LM dev", "lm_tuned"), ("+AM", "am"), ("both", "both"))


def _threshold(r: dict[str, Any]) -> str:
    """The pseudo-label bar of a run: "calibrated" (the toolkit's default) or the fixed value."""
    threshold = r.get("threshold", CONFIDENCE_THRESHOLD)  # runs before calibration had a fixed one
    return "calibrated" if threshold is None else f"{threshold:g}"


def _label(r: dict[str, Any]) -> str:
    """The domain, with the voice set when it is not the default one, and a fixed threshold."""
    fixed = _threshold(r)
    return (r["domain"] + ("/espeak" if r.get("voice_set") == "espeak" else "")
            + (f"@{fixed}" if fixed != "calibrated" else ""))


def _group(r: dict[str, Any]) -> tuple[str, str, str]:
    return r["model"], str(r.get("voice_set")), _threshold(r)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _cut(before: float | None, after: float | None) -> float | None:
    return None if before is None or after is None or not before else 1 - after / before


def _rise(before: float | None, after: float | None) -> float | None:
    return None if before is None or after is None or not before else after / before - 1


def table(results: list[dict[str, Any]]) -> str:
    head = (f"{'domain':<23} {'model':<10}" + "".join(f" {c:>10}" for c, _ in COLUMNS)
            + f" | {'general: base':>13} {'+LM no dev':>10} {'+LM dev':>8} {'both':>6} | {'labels kept':>11}"
            f" {'kept WER':>8} {'all WER':>7} {'AUC':>5}")
    lines = [head, "-" * len(head)]
    for r in results:
        t, g, lab = r["wer"]["test"], r["wer"]["general"], r["pseudo_labels"]["tuned"]
        auc = lab["roc_auc"]
        lines.append(
            f"{_label(r):<23} {r['model']:<10}" + "".join(f" {_pct(t.get(k)):>10}" for _, k in COLUMNS)
            + f" | {_pct(g['base']):>13} {_pct(g['lm_default']):>10} {_pct(g['lm_tuned']):>8} {_pct(g.get('both')):>6} |"
            f" {lab['kept']:>4} / {lab['total']:<4} {_pct(lab['kept_wer']):>8} {_pct(lab['label_wer']):>7}"
            f" {'-' if auc is None else f'{auc:.2f}':>5}")
    return "\n".join(lines)


def engine_table(results: list[dict[str, Any]]) -> str:
    """Test WER per speech synthesizer: base / + LM dev-tuned / both."""
    lines = []
    for r in results:
        cells = []
        for engine, w in r["test_by_engine"].items():
            cells.append(f"{engine} ({w['utterances']}): {_pct(w['base'])} / {_pct(w['lm_tuned'])} / {_pct(w.get('both'))}")
        lines.append(f"{_label(r):<23} {r['model']:<10} " + "; ".join(cells))
    return "\n".join(lines)


def diagnostics(results: list[dict[str, Any]]) -> str:
    """Where the custom LM's gain goes: the default weights with each head, the dev-tuned weights on
    tune's grid and on a wider one, the best grid point on the test set itself, and the deletions
    (the LM's way of failing on audio it cannot hear well)."""
    lines = [f"{'domain':<23} {'model':<10} {'+LM default':>11} {'default, ctc':>12} {'dev-tuned':>9} {'wider grid':>10}"
             f" {'test-best':>9}  deletions: base -> +LM dev-tuned (of words)  wider grid's weights"]
    for r in results:
        t = r["wer"]["test"]
        refs = [x["reference"] for x in r["test_transcripts"]]
        dels = {k: evaluate(refs, [x[k] for x in r["test_transcripts"]]).deletions for k in ("base", "lm_tuned")}
        wide = r["weights"].get("tuned_wide") or {}
        weights = (f"alpha {wide.get('lm_alpha')}, beta {wide.get('lm_beta')}, boost {wide.get('boost_alpha')}"
                   + (f", {wide['head']}" if wide.get("head") else "")) if wide else "-"
        lines.append(f"{_label(r):<23} {r['model']:<10} {_pct(t['lm_default']):>11} {_pct(t.get('lm_default_ctc')):>12}"
                     f" {_pct(t['lm_tuned']):>9} {_pct(t.get('lm_tuned_wide')):>10} {_pct(t.get('lm_oracle')):>9}"
                     f"  {dels['base']:>4} -> {dels['lm_tuned']:<4} (of {sum(len(x.split()) for x in refs)})"
                     f"{'':>14} {weights}")
    return "\n".join(lines)


NUMBER_WORDS = frozenset((
    "zero", "oh", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "niner", "ten", "eleven",
    "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty", "thirty",
    "forty", "fifty", "sixty", "seventy", "eighty", "ninety", "hundred", "thousand", "million", "billion", "point"))


def word_classes(results: list[dict[str, Any]]) -> str:
    """Errors by kind of reference word: numbers (spelled out, digit by digit in ATC), jargon (not in the
    base model's training text) and the rest; a custom LM can predict jargon from the corpus, but not
    which digits a call sign or a price has."""
    known = _known_words()

    def kind(word: str) -> str:
        return "number" if word in NUMBER_WORDS else "other" if word in known else "jargon"

    lines = [f"{'domain':<23} {'model':<10} share of words: number/jargon/other | word error rate by kind, "
             "base -> +LM dev-tuned (-> wider grid)"]
    for r in results:
        counts: Counter[str] = Counter()
        errors: dict[str, Counter[str]] = {k: Counter() for k in ("base", "lm_tuned", "lm_tuned_wide")}
        for x in r["test_transcripts"]:
            counts.update(kind(w) for w in x["reference"].split())
            for system, errs in errors.items():
                if system in x:
                    for step in evaluate([x["reference"]], [x[system]]).utterances[0].alignment:
                        if step.ref is not None and step.op != "equal":
                            errs[kind(step.ref)] += 1
        total = sum(counts.values())
        share = "/".join(f"{counts[k] / total:.0%}" for k in ("number", "jargon", "other"))
        cells = []
        for k in ("number", "jargon", "other"):
            rates = [f"{errors[s][k] / counts[k]:.0%}" for s in errors if counts[k] and
                     any(s in x for x in r["test_transcripts"])]
            cells.append(f"{k} {' -> '.join(rates)}")
        lines.append(f"{_label(r):<23} {r['model']:<10} {share:>14} | " + "; ".join(cells))
    return "\n".join(lines)


def targets(results: list[dict[str, Any]]) -> str:
    """The targets, as medians over the new domains, per model."""
    lines = []
    for model, voices, threshold in dict.fromkeys(_group(r) for r in results):
        mine = [r for r in results if _group(r) == (model, voices, threshold) and r["domain"] in NEW_DOMAINS]
        if not mine:
            continue

        def median(values: list[float | None]) -> float | None:
            kept = [v for v in values if v is not None]
            return statistics.median(kept) if kept else None

        t = [r["wer"]["test"] for r in mine]
        g = [r["wer"]["general"] for r in mine]
        rows = [
            ("+LM no dev: WER cut against base (>= 70%)", median([_cut(x["base"], x["lm_default"]) for x in t]), 0.70, 1),
            ("+LM dev-tuned: WER cut against base (>= 80%)", median([_cut(x["base"], x["lm_tuned"]) for x in t]), 0.80, 1),
            ("(diagnostic) +LM dev-tuned on the wider grid (>= 80%)",
             median([_cut(x["base"], x.get("lm_tuned_wide")) for x in t]), 0.80, 1),
            ("both: further cut against +LM dev-tuned (>= 15%)", median([_cut(x["lm_tuned"], x.get("both")) for x in t]),
             0.15, 1),
            ("general WER, +LM dev-tuned vs base (<= +5%)", median([_rise(x["base"], x["lm_tuned"]) for x in g]), 0.05, -1),
            ("general WER, +LM no dev vs base (<= +5%)", median([_rise(x["base"], x["lm_default"]) for x in g]), 0.05, -1),
            ("general WER, both vs base (<= +5%)", median([_rise(x["base"], x.get("both")) for x in g]), 0.05, -1),
        ]
        lines.append(f"{model}, {voices} voices, threshold {threshold} (median over {', '.join(r['domain'] for r in mine)}):")
        for label, value, goal, sign in rows:
            met = "-" if value is None else ("met" if sign * value >= sign * goal else "MISSED")
            lines.append(f"  {label:<52} {'-' if value is None else f'{value:+.1%}':>8}  {met}")
    return "\n".join(lines)


def best_defaults(results: list[dict[str, Any]]) -> str:
    """Which single weight point would have been the best default on the new domains (median test-WER
    cut against base), against the toolkit's default and the dev-tuned weights."""
    lines = []
    for model, voices, threshold in dict.fromkeys(_group(r) for r in results):
        mine = [r for r in results if _group(r) == (model, voices, threshold) and r["domain"] in NEW_DOMAINS]
        if not mine:
            continue
        points: dict[tuple[Any, ...], list[float]] = {}
        for r in mine:
            for p in r["grid"]:
                key = (p["head"], p["lm_alpha"], p["lm_beta"], p["boost_alpha"])
                points.setdefault(key, []).append(1 - p["test"] / r["wer"]["test"]["base"])
        ranked = sorted(((statistics.median(v), k) for k, v in points.items() if len(v) == len(mine)), reverse=True)
        lines.append(f"{model}, {voices} voices: median test-WER cut of each grid point over {len(mine)} new domains "
                     "(head, alpha, beta, boost):")
        for cut, key in ranked[:4]:
            lines.append(f"  {key}: {cut:.1%}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--domain", action="append", choices=NEW_DOMAINS + REFERENCE_DOMAINS,
                        help=f"repeatable; default: {', '.join(NEW_DOMAINS)} and cloud")
    parser.add_argument("--model", action="append", help=f"base model (repeatable); default: {', '.join(MODELS)}")
    parser.add_argument("--epochs", type=int, default=8, help="custom AM fine-tuning epochs (default 8)")
    parser.add_argument("--no-am", action="store_true", help="skip the custom AM (base and + custom LM only)")
    parser.add_argument("--iterations", type=int, default=1,
                        help="rounds of labelling and training: each after the first labels again with the model "
                             "the last round trained (default 1)")
    parser.add_argument("--threshold", type=float, default=None,
                        help="a fixed pseudo-label confidence threshold (default: the toolkit's, calibrated on the "
                             "labelled audio)")
    parser.add_argument("--number-variants", type=int, default=NUMBER_VARIANTS,
                        help=f"number variants per corpus sentence with numbers (default {NUMBER_VARIANTS}; 0: none)")
    parser.add_argument("--data", type=Path, default=cache_dir() / "bench-domains",
                        help="where the domains' text and audio are made (default: the toolkit's cache)")
    parser.add_argument("--seed", type=int, default=0, help="the domains' text and speech seed")
    parser.add_argument("--voices", choices=sorted(VOICE_SETS), default="unseen",
                        help="unseen (default): held-out voices of espeak-ng and Flite, and Festival's; espeak: "
                             "espeak-ng's held-out voices only (the demo domain's voices)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--make-data", action="store_true", help="only make the domains' text and audio")
    parser.add_argument("--out", type=Path, help="write the results as JSON (after every run)")
    parser.add_argument("--report", type=Path, nargs="+", metavar="JSON",
                        help="only print the tables of earlier runs' --out files (merged)")
    args = parser.parse_args()
    if args.report:
        merged: dict[tuple[str, str], dict[str, Any]] = {}  # the first file's run of a domain, model and voices
        for path in args.report:
            for r in json.loads(path.read_text(encoding="utf-8"))["results"]:
                merged.setdefault((_label(r), r["model"]), r)
        report(list(merged.values()))
        return
    domains = args.domain or [*NEW_DOMAINS, "cloud"]
    data = {}
    for name in domains:
        data[name] = make_domain(name, args.data, args.seed, args.voices)
        print(f"{name}: {data[name].info.get('corpus_sentences')} corpus sentences, data in {data[name].test.parent}",
              flush=True)
    if args.make_data:
        return
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-domains-") as tmp:
        for model in args.model or list(MODELS):
            base = load_base_model(model)
            cache: dict[str, list[Any]] = {}
            for name in domains:
                work = Path(tmp) / f"{model}-{name}"
                work.mkdir()

                started = time.perf_counter()

                def log(line: str, name: str = name, model: str = model, started: float = started) -> None:
                    print(f"[{name} / {model} +{time.perf_counter() - started:.0f} s] {line}", flush=True)

                results.append(bench(data[name], base, work, args.epochs, not args.no_am, log, cache, args.threshold,
                                     args.iterations, args.number_variants))
                results[-1]["data"] = data[name].info
                results[-1]["voice_set"] = data[name].info.get("voice_set")
                if args.out:
                    args.out.write_text(json.dumps({"results": results, "load_average": os.getloadavg(),
                                                    "argv": sys.argv[1:]}, indent=1) + "\n", encoding="utf-8")
    report(results)


def report(results: list[dict[str, Any]]) -> None:
    print(f"\ntest WER ({SIZES['test']} utterances per domain) | general test WER | pseudo-labels of the {SIZES['train']} "
          f"untranscribed utterances at the tuned weights, threshold calibrated on them (or the domain's @)")
    print(table(results))
    print("\ntest WER per synthesizer (utterances): base / + LM dev-tuned / both")
    print(engine_table(results))
    print("\n+ custom LM, test WER:")
    print(diagnostics(results))
    print("\nerrors by kind of word (substitutions and deletions of reference words):")
    print(word_classes(results))
    print("\ntargets:")
    print(targets(results))
    print()
    print(best_defaults(results))


if __name__ == "__main__":
    main()
