"""Custom language models: KenLM n-grams built with ``lmplz`` for a given base model.

A custom LM is a folder:

- ``lm.json``: metadata, including the base model it was built for (name and fingerprint) and,
  once tuned (:meth:`CustomLanguageModel.save_tuning`), the decoding weights found best on a
  dev set, which decoders then start from;
- ``tokens.arpa``: a token-level ARPA that NeMo's NGPU-LM fuses into beam search. Each model
  token id ``i`` is written as ``chr(i + 100)`` (NeMo's ``DEFAULT_TOKEN_OFFSET``); for a
  character model the space is a token too;
- ``words.arpa`` and ``words.binary`` (on request): a word-level n-gram of the same text,
  for users of other decoders;
- ``corpus.txt``: the normalized training text; ``custom_words.csv``: the custom words.

ARPA files and KenLM (:mod:`~jupyter_speechcustom.lm.arpa`, whose :class:`LanguageModelError` and
:func:`check_arpa` are re-exported here) and the token lines the n-gram is trained on
(:mod:`~jupyter_speechcustom.lm.tokens`) live beside this module.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jupyter_speechcustom.constants import (
    CUSTOM_WORD_REPEATS,
    GENERAL_TEXT_WEIGHT,
    LM_ORDER_RANGE,
    MAX_NUMBER_VARIANTS,
    NGRAM_TOKEN_OFFSET,
    NUMBER_VARIANTS,
)
from jupyter_speechcustom.errors import (
    BaseModelMismatchError,
    CorpusError,
    InvalidOptionError,
    check_list,
)
from jupyter_speechcustom.io.files import atomic_path
from jupyter_speechcustom.jobs.progress import ProgressCallback, no_progress
from jupyter_speechcustom.lm.arpa import LanguageModelError, check_arpa, kenlm_model, run_lmplz
from jupyter_speechcustom.lm.builders import find_builder
from jupyter_speechcustom.lm.tokens import token_writer
from jupyter_speechcustom.text.corpus import Corpus
from jupyter_speechcustom.text.normalize import Normalizer
from jupyter_speechcustom.text.numbers import number_variants as number_variants_of
from jupyter_speechcustom.text.words import CustomWord, read_custom_words, words_text, write_custom_words

if TYPE_CHECKING:
    from jupyter_speechcustom.asr.models import BaseModel

log = logging.getLogger(__name__)

CorpusSource = Corpus | str | Path

METADATA = "lm.json"

#: ``general_text`` keywords of :func:`build_language_model`. By default a custom LM mixes in the base
#: model's general text when its profile knows it: like the cloud services' custom LMs, it extends the
#: base model's language rather than replacing it. A domain-only LM, with weights tuned on domain
#: speech, wrecks general speech on transducers, whose beam search has no word bonus to offset the LM
#: (demo hybrid TDT model, general test WER: greedy 44.3%, domain-only LM 73.5%, mostly dropped words;
#: mixed 38.1%; bench/bench_general.py).
GENERAL_TEXT_AUTO = "auto"
GENERAL_TEXT_OFF = "none"

#: The shortest and longest n-grams a custom LM can have (the KenLM builders are compiled for at most 6).
MIN_ORDER, MAX_ORDER = LM_ORDER_RANGE


def choose_order(token_count: int, character_model: bool) -> int:
    """N-gram order for a corpus size: longer contexts need more text to estimate.

    Character models need long orders to span a word or two; BPE pieces carry more. The order
    is always within :data:`~jupyter_speechcustom.constants.LM_ORDER_RANGE`.
    """
    if character_model:
        order = 5 if token_count < 20_000 else 6
    else:
        order = 3 if token_count < 20_000 else 4 if token_count < 1_000_000 else 5
    return min(max(order, MIN_ORDER), MAX_ORDER)


@dataclass(frozen=True)
class CustomLanguageModel:
    """A built custom language model (a folder; see the module docstring)."""

    path: Path
    base_model: dict[str, str]
    order: int
    corpora: tuple[dict[str, Any], ...]
    words: tuple[CustomWord, ...] = ()
    general_text: str | None = None
    general_weight: float = 0.0
    token_count: int = 0
    build_seconds: float = 0.0
    created: str = ""
    name: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    #: The tuning saved by :meth:`save_tuning`: ``{"weights": {...}, "dev_wer", "dev_set",
    #: "utterances"}``, or None.
    tuning: dict[str, Any] | None = None

    @property
    def token_arpa(self) -> Path:
        return self.path / "tokens.arpa"

    @property
    def word_arpa(self) -> Path:
        return self.path / "words.arpa"

    @property
    def word_binary(self) -> Path:
        return self.path / "words.binary"

    @property
    def corpus_text(self) -> Path:
        return self.path / "corpus.txt"

    @classmethod
    def load(cls, path: str | Path) -> CustomLanguageModel:
        """Open a custom LM folder written by :func:`build_language_model`."""
        path = Path(path)
        meta_path = path / METADATA
        if not meta_path.is_file():
            msg = f"{path} is not a custom language model folder (no {METADATA}); build one with build_language_model"
            raise LanguageModelError(msg)
        meta = _read_metadata(meta_path)
        if not (path / "tokens.arpa").is_file():
            raise LanguageModelError(f"{path} has no tokens.arpa: the build did not finish; build it again")
        check_arpa(path / "tokens.arpa")
        words_file = path / "custom_words.csv"
        try:
            words = tuple(read_custom_words(words_file)) if words_file.exists() else ()
        except CorpusError as exc:
            raise LanguageModelError(f"{words_file} is damaged ({exc}): rebuild the language model") from None
        return cls(
            path=path,
            base_model=meta["base_model"],
            order=meta["order"],
            corpora=tuple(meta["corpora"]),
            words=words,
            general_text=meta.get("general_text"),
            general_weight=meta.get("general_weight", 0.0),
            token_count=meta.get("token_count", 0),
            build_seconds=meta.get("build_seconds", 0.0),
            created=meta.get("created", ""),
            name=meta.get("name", path.name),
            tuning=meta.get("tuning") if isinstance(meta.get("tuning"), dict) else None,
        )

    def save_tuning(self, weights: dict[str, Any], dev_wer: float, dev_set: str, utterances: int, *,
                    kept_defaults: bool = False) -> CustomLanguageModel:
        """Record in ``lm.json`` the decoding weights (a ``DecodingWeights`` as a dict) found best
        on ``dev_set`` (``utterances`` of transcribed audio, WER ``dev_wer``); decoders built with
        this LM start from them. ``kept_defaults``: the tuning kept the defaults, the dev set could
        not tell better ones. Returns the LM with its new :attr:`tuning`."""
        import dataclasses

        meta_path = self.path / METADATA
        meta = _read_metadata(meta_path)
        tuning = {"weights": dict(weights), "dev_wer": round(float(dev_wer), 6), "dev_set": dev_set,
                  "utterances": int(utterances)}
        if kept_defaults:
            tuning["kept_defaults"] = True
        meta["tuning"] = tuning
        with atomic_path(meta_path) as part:
            part.write_text(json.dumps(meta, indent=2), encoding="utf-8")
        return dataclasses.replace(self, tuning=tuning)

    def check_base(self, base: BaseModel) -> None:
        """Raise :class:`BaseModelMismatchError` unless built for ``base``."""
        if self.base_model.get("fingerprint") != base.family_fingerprint:
            msg = (
                f"the custom language model {self.path} was built for base model "
                f"{self.base_model.get('name')!r} (fingerprint {self.base_model.get('fingerprint')}), "
                f"not for {base.name!r} (fingerprint {base.family_fingerprint}). Token-level LMs only fit "
                "the vocabulary they were built on: rebuild it on this base model."
            )
            raise BaseModelMismatchError(msg)

    def perplexity(self, text: str, base: BaseModel) -> float:
        """Per-word perplexity of ``text`` (one sentence a line) under this LM.

        Scored with the token-level LM, so it works for every LM without the word export:
        the total log-probability of each sentence's tokens, spread over its words.
        """
        self.check_base(base)
        from jupyter_speechcustom.text.normalize import normalize_corpus

        sentences = normalize_corpus(text, Normalizer.for_vocabulary(base.vocabulary))
        if not sentences:
            raise CorpusError("no text to score: after normalization nothing remains")
        model = kenlm_model(self.token_arpa)
        log10 = 0.0
        for sentence in sentences:
            tokens = " ".join(chr(i + NGRAM_TOKEN_OFFSET) for i in base.text_to_ids(sentence))
            log10 += model.score(tokens, bos=True, eos=True)
        words = sum(len(s.split()) + 1 for s in sentences)  # +1: the end of each sentence
        return float(math.pow(10.0, -log10 / words))

    def export_word_model(self, order: int = 3) -> Path:
        """Write ``words.arpa`` and ``words.binary``: a word n-gram of the same text, for other decoders."""
        with tempfile.TemporaryDirectory(dir=self.path) as tmp, self.corpus_text.open(encoding="utf-8") as text:
            run_lmplz((line.rstrip("\n") for line in text), self.word_arpa, order, Path(tmp))
        with atomic_path(self.word_binary) as part:
            proc = subprocess.run([str(find_builder("build_binary")), str(self.word_arpa), str(part)],
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                raise LanguageModelError(f"build_binary failed: {proc.stderr.strip()[-300:]}")
        return self.word_binary


def _read_metadata(meta_path: Path) -> dict[str, Any]:
    """``lm.json``, checked for what loading needs; a damaged one is a :class:`LanguageModelError`."""
    damaged = f"{meta_path} is damaged"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except PermissionError:
        raise LanguageModelError(f"cannot read {meta_path}: permission denied; check the folder's permissions") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LanguageModelError(f"{damaged} (not JSON: {exc}): rebuild the language model") from None
    except OSError as exc:
        raise LanguageModelError(f"cannot read {meta_path}: {exc.strerror or exc}") from None
    problem = None
    if not isinstance(meta, dict):
        problem = "not a JSON object"
    elif not isinstance(meta.get("base_model"), dict) or not isinstance(meta["base_model"].get("fingerprint"), str):
        problem = 'no "base_model" with a "fingerprint"'
    elif isinstance(meta.get("order"), bool) or not isinstance(meta.get("order"), int) or meta["order"] < 1:
        problem = f'"order" is {meta.get("order")!r}, not a whole number'
    elif not isinstance(meta.get("corpora"), list) or not all(isinstance(c, dict) for c in meta["corpora"]):
        problem = '"corpora" is not a list of objects'
    if problem:
        raise LanguageModelError(f"{damaged} ({problem}): rebuild the language model")
    return meta


def corpus_fingerprint(base: BaseModel, source: CorpusSource) -> str:
    """The fingerprint ``source`` has in the ``corpora`` of an LM built on ``base`` from it."""
    return _to_corpus(source, Normalizer.for_vocabulary(base.vocabulary)).fingerprint


def _to_corpus(source: CorpusSource, normalizer: Normalizer) -> Corpus:
    if isinstance(source, Corpus):
        return source
    path = Path(source)
    return Corpus.from_file(path, normalizer=normalizer)


def _mix(domain: list[str], general: list[str], weight: float) -> tuple[list[str], list[str]]:
    """Domain and general lines, repeated so general text is ``weight`` of the words."""
    if not general or weight <= 0:
        return domain, []
    domain_words = sum(len(s.split()) for s in domain) or 1
    general_words = sum(len(s.split()) for s in general) or 1
    # Repeat whichever side is short of its share (whole copies keep KenLM's counts sane).
    want_ratio = weight / (1 - weight)  # general words per domain word
    if general_words / domain_words < want_ratio:
        general = general * max(1, round(want_ratio * domain_words / general_words))
    else:
        domain = domain * max(1, round(general_words / (want_ratio * domain_words)))
    return domain, general


def build_language_model(
    base: BaseModel,
    corpora: Sequence[CorpusSource],
    out_dir: str | Path,
    *,
    words: Sequence[CustomWord] | str | Path = (),
    order: int | None = None,
    general_text: str | Path | None = GENERAL_TEXT_AUTO,
    general_weight: float = GENERAL_TEXT_WEIGHT,
    name: str | None = None,
    overwrite: bool = False,
    word_model: bool = False,
    number_variants: int = NUMBER_VARIANTS,
    progress: ProgressCallback | None = None,
) -> CustomLanguageModel:
    """Train a custom LM for ``base`` from text corpora and custom words.

    Args:
        base: the base model whose vocabulary the token-level LM is written in.
        corpora: :class:`Corpus` objects or text file paths.
        out_dir: the folder to create (the build goes to a temporary folder first, so a
            failed or interrupted build never leaves a half-written LM behind).
        words: custom words, or a custom-words file; each adds its spelling to the text.
        order: n-gram order; by default chosen from the corpus size.
        general_text: general sentences to mix in, so general speech does not degrade:
            ``"auto"`` (the default; ``None`` too) mixes in the base model's general text when
            its profile knows it and nothing otherwise, ``"base"`` the same but refuses a model
            without one, a path a text file of your own, ``"none"`` nothing (a domain-only LM).
        general_weight: the share of general text in the mix, from 0 (nothing mixed in) up to 1.
        word_model: also export a word-level ARPA and KenLM binary (see
            :meth:`CustomLanguageModel.export_word_model`).
        number_variants: how many times each corpus sentence with spelled-out numbers is added again
            with its number words drawn at random (:mod:`~jupyter_speechcustom.text.numbers`), so the LM
            learns where the domain's numbers go rather than the few the corpus names; 0: none.
        progress: called with (fraction done, stage).
    """
    start = time.perf_counter()
    check_list(corpora, "corpora", "corpus files or Corpus objects")
    out_dir = check_output_folder(out_dir, overwrite)
    check_build_options(order=order, general_weight=general_weight, number_variants=number_variants)
    report = progress or no_progress
    for builder in ("lmplz", "build_binary") if word_model else ("lmplz",):
        find_builder(builder)  # fail before any work when the builders are missing

    normalizer = Normalizer.for_vocabulary(base.vocabulary)
    report(0.0, "reading corpora")
    corpus_objects = [_to_corpus(c, normalizer) for c in corpora]
    if isinstance(words, (str, Path)):
        words = read_custom_words(words, normalizer=normalizer)
    words = tuple(words)
    if not corpus_objects and not words:
        raise CorpusError("nothing to build from: give at least one corpus or custom word")
    domain = [s for c in corpus_objects for s in c.sentences]
    variants = number_variants_of(domain, number_variants)
    domain += variants
    domain += [w for w in words_text(words) for _ in range(CUSTOM_WORD_REPEATS)]

    general_label = None
    general: list[str] = []
    general_path = _general_text_path(base, general_text) if general_weight > 0 else None
    if general_path is not None:
        report(0.1, "reading the general text")
        general_label = str(general_path)
        general = list(Corpus.from_file(general_path, normalizer=normalizer).sentences)
    mixed_domain, mixed_general = _mix(domain, general, general_weight)
    lines = mixed_domain + mixed_general

    to_tokens = token_writer(base)
    token_count = 0

    def token_lines(lines: Iterable[str]) -> Iterator[str]:
        nonlocal token_count
        for line in map(to_tokens, lines):
            if line:
                token_count += line.count(" ") + 1
                yield line

    if base.is_character_model:
        # One token per character: the order is known without tokenizing, so tokens can be
        # streamed into lmplz while they are made.
        ids_lines: Iterable[str] = token_lines(lines)
        estimate = sum(map(len, lines))
    else:
        ids_lines = list(token_lines(lines))
        estimate = token_count
    order = order or choose_order(estimate, base.is_character_model)

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        report(0.2, "token n-gram (lmplz)")
        run_lmplz(ids_lines, build / "tokens.arpa", order, build)
        (build / "corpus.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        if words:
            write_custom_words(build / "custom_words.csv", words)
        meta = {
            "name": name or out_dir.name,
            "base_model": {"name": (base.tied_base or {}).get("name", base.name), "fingerprint": base.family_fingerprint},
            "order": order,
            "corpora": [{"name": c.name, "sentences": c.sentence_count, "words": c.word_count,
                         "fingerprint": c.fingerprint} for c in corpus_objects],
            "custom_words": len(words),
            "number_variants": {"per_sentence": number_variants, "sentences": len(variants)},
            "general_text": general_label,
            "general_weight": general_weight if general else 0.0,
            # What the n-gram was counted on: the domain text (corpora and custom words, repeated
            # to keep its share when general text is mixed in) and the general text.
            "training_words": {"domain": sum(len(s.split()) for s in mixed_domain),
                               "domain_repeats": len(mixed_domain) // len(domain) if domain else 0,
                               "general": sum(len(s.split()) for s in mixed_general)},
            "token_count": token_count,
            "build_seconds": round(time.perf_counter() - start, 3),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "format": {"token_offset": NGRAM_TOKEN_OFFSET, "tokens": "NeMo token ids as chr(id + offset)"},
        }
        (build / METADATA).write_text(json.dumps(meta, indent=2), encoding="utf-8")
        if word_model:  # in the build folder too: the LM appears with everything asked for, or not at all
            report(0.8, "word n-gram export (lmplz, build_binary)")
            CustomLanguageModel.load(build).export_word_model()
        _replace_folder(build, check_output_folder(out_dir, overwrite))
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
    report(1.0, "done")
    return CustomLanguageModel.load(out_dir)


#: What :func:`build_language_model` writes in an LM folder: all that ``overwrite`` may replace.
LM_FILES = frozenset({METADATA, "tokens.arpa", "words.arpa", "words.binary", "corpus.txt", "custom_words.csv"})


def check_output_folder(out_dir: str | Path, overwrite: bool, *, flag: str = "overwrite=True") -> Path:
    """``out_dir`` as an absolute path, if a custom LM may be written there.

    A missing or empty folder is fine. An existing LM folder (one holding ``lm.json``) is
    replaced only with ``overwrite`` (``flag`` is how the caller's user says it, e.g.
    ``--overwrite``), and only if it holds nothing but the files a build writes, so no file of
    the user's is ever deleted. Anything else is refused with the reason.
    """
    text = str(out_dir)
    if not text or "\x00" in text:
        raise LanguageModelError(f"{text!r} is not a folder name: give the folder to create for the language model")
    path = Path(out_dir).expanduser().absolute()
    if path.is_symlink():
        raise LanguageModelError(f"{path} is a symbolic link: give the folder itself, or a new folder")
    if not path.exists():
        return path
    if not path.is_dir():
        raise LanguageModelError(f"{path} is a file, not a folder: choose a new folder for the language model")
    try:
        content = sorted(p.name for p in path.iterdir())
    except OSError as exc:
        raise LanguageModelError(f"cannot read the folder {path} ({exc.strerror}): choose another folder") from None
    if not content:
        return path
    if not overwrite:
        what = "a custom language model" if METADATA in content else "not empty"
        msg = f"{path} already exists and is {what}: choose another folder" + (
            f", or pass {flag} to replace it" if METADATA in content else "")
        raise LanguageModelError(msg)
    if METADATA not in content:
        msg = (f"{path} is not a custom language model folder (no {METADATA}), so {flag} does not replace it: "
               "it would delete files this toolkit did not write. Choose a new or empty folder")
        raise LanguageModelError(msg)
    cwd = Path.cwd().resolve()
    if cwd == path.resolve() or cwd.is_relative_to(path.resolve()):
        raise LanguageModelError(f"{path} is the current folder (or holds it): build into another folder")
    foreign = [name for name in content if name not in LM_FILES or not (path / name).is_file()
               or (path / name).is_symlink()]
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        msg = (f"{path} holds files a language model build did not write ({shown}), so {flag} does not replace it: "
               "move them out, or choose another folder")
        raise LanguageModelError(msg)
    return path


def _replace_folder(build: Path, out_dir: Path) -> None:
    """Put the finished ``build`` at ``out_dir``; an old LM there is set aside first and removed
    only once the new one is in place (so a failure keeps the old one)."""
    if not out_dir.exists():
        os.replace(build, out_dir)
        return
    old = out_dir.with_name(f".{out_dir.name}.old-{os.urandom(4).hex()}")
    os.replace(out_dir, old)
    try:
        os.replace(build, out_dir)
    except BaseException:
        os.replace(old, out_dir)
        raise
    shutil.rmtree(old, ignore_errors=True)


def check_build_options(*, order: int | None = None, general_weight: float = GENERAL_TEXT_WEIGHT,
                        number_variants: int = NUMBER_VARIANTS) -> None:
    """Refuse impossible build options before any work (:class:`InvalidOptionError`)."""
    if isinstance(number_variants, bool) or not isinstance(number_variants, int) \
            or not 0 <= number_variants <= MAX_NUMBER_VARIANTS:
        raise InvalidOptionError(f"number_variants must be a whole number from 0 to {MAX_NUMBER_VARIANTS}, "
                                 f"got {number_variants!r}")
    if order is not None and (isinstance(order, bool) or not isinstance(order, int)
                              or not MIN_ORDER <= order <= MAX_ORDER):
        raise InvalidOptionError(f"order must be a whole number from {MIN_ORDER} to {MAX_ORDER}, got {order!r}")
    if isinstance(general_weight, bool) or not isinstance(general_weight, (int, float)) \
            or not math.isfinite(general_weight) or not 0 <= general_weight < 1:
        msg = f"general_weight must be a share from 0 up to (not including) 1, e.g. 0.3, got {general_weight!r}"
        raise InvalidOptionError(msg)


def _general_text_path(base: BaseModel, general_text: str | Path | None) -> Path | None:
    """The general text file ``general_text`` names for ``base`` (see :func:`build_language_model`)."""
    keyword = GENERAL_TEXT_AUTO if general_text is None else str(general_text).strip().lower()
    if general_text is not None and keyword not in (GENERAL_TEXT_AUTO, GENERAL_TEXT_OFF, "base"):
        return Path(general_text)
    if keyword == GENERAL_TEXT_OFF:
        return None
    known = base.profile.general_text if base.profile is not None else None
    if known is not None or keyword == GENERAL_TEXT_AUTO:
        return known
    msg = (
        f"the training text of base model {base.name!r} is not known: pass general_text= a file of "
        "general sentences in the model's language instead of 'base' (or 'none' for a domain-only LM), "
        "or register a profile for the model with its general_text "
        "(jupyter_speechcustom.asr.profiles.register_profile)"
    )
    raise CorpusError(msg)


def language_model_summary(lm: CustomLanguageModel) -> dict[str, Any]:
    out = asdict(lm)
    out["path"] = str(lm.path)
    out["words"] = [w.word for w in lm.words]
    return out
