"""Explore an audio set before and after customizing: statistics, transcripts of any system (base,
+LM, +AM, +AM+LM), scores and plots.

An :class:`AudioSet` is the workspace's audio (all of it, or the transcribed files), a NeMo
manifest, or an example set of the base model's profile: a row (:class:`ExplorerRow`) per
:class:`~jupyter_speechcustom.io.manifest.Utterance`, with a system's transcript and scores once
transcribed. :func:`statistics` gives its hours, durations, words, vocabulary and
out-of-vocabulary rate (against the base model's known words, as for corpora); :func:`transcribe`
runs the base model over it (acoustic outputs cached, as the comparison caches them) and scores
each utterance with WER and CER; :func:`select` filters and sorts its utterances;
:func:`utterance_plot_png` draws one utterance's waveform and spectrogram. Plain Python: the
Studio's Explore tab is a view over these functions.
"""

from __future__ import annotations

import io
import math
import re
import threading
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from jupyter_speechcustom.constants import SAMPLE_RATE
from jupyter_speechcustom.errors import InvalidOptionError, SpeechCustomError, check_list
from jupyter_speechcustom.io.audio import Segment
from jupyter_speechcustom.io.manifest import Utterance
from jupyter_speechcustom.services.systems import System

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from jupyter_speechcustom.asr.decoding import DecodingWeights
    from jupyter_speechcustom.asr.models import BaseModel
    from jupyter_speechcustom.asr.recognize import AcousticOutput
    from jupyter_speechcustom.lm.language_model import CustomLanguageModel
    from jupyter_speechcustom.services.compare import AcousticCache
    from jupyter_speechcustom.store.workspace import StoreAPI

__all__ = [
    "SORT_KEYS",
    "AudioSet",
    "ExplorerRow",
    "SetStatistics",
    "duration_histogram_png",
    "example_sets",
    "load_samples",
    "manifest_set",
    "playable_audio",
    "profile_set",
    "select",
    "spectrogram",
    "statistics",
    "transcribe",
    "utterance_plot_png",
    "utterance_set",
    "workspace_set",
]

#: How utterances can be sorted by :func:`select`.
SORT_KEYS = ("index", "duration", "wer", "cer", "reference")

#: Seconds of an utterance drawn at most by :func:`utterance_plot_png` (its start).
PLOT_MAX_SECONDS = 60.0
#: Spectrogram analysis: 25 ms windows every 10 ms.
SPECTROGRAM_WINDOW_SECONDS = 0.025
SPECTROGRAM_HOP_SECONDS = 0.010
#: Words listed as the most frequent out-of-vocabulary words of a set.
TOP_OOV = 20

SortKey = Literal["index", "duration", "wer", "cer", "reference"]


# --------------------------------------------------------------------------- sets


@dataclass(frozen=True)
class ExplorerRow:
    """One utterance of a set (``index`` in it), as the explorer shows it.

    ``utterance`` is its audio (a file, or a stretch of one), length and reference; its
    ``duration`` is measured from the audio where the set did not give one. ``hypothesis`` is a
    system's transcript once the set was transcribed; ``wer`` and ``cer`` (fractions) and
    ``errors`` are set where the utterance also has a reference with words.
    """

    index: int
    utterance: Utterance
    hypothesis: str | None = None
    wer: float | None = None
    cer: float | None = None
    errors: int | None = None

    @property
    def title(self) -> str:
        return self.utterance.title

    @property
    def audio(self) -> str:
        return self.utterance.audio

    @property
    def duration(self) -> float:
        """Seconds of the utterance (0 when its audio holds none)."""
        return self.utterance.duration or 0.0

    @property
    def reference(self) -> str | None:
        return self.utterance.text

    @property
    def offset(self) -> float | None:
        return self.utterance.offset

    @property
    def source(self) -> str | Segment:
        """What to decode: the file, or its segment when the manifest line had an ``offset``."""
        return self.utterance.source

    @property
    def has_reference(self) -> bool:
        return self.utterance.has_text


@dataclass(frozen=True)
class AudioSet:
    """Utterances to explore, with a label; ``system`` names whose hypotheses they hold, if any."""

    label: str
    utterances: tuple[ExplorerRow, ...]
    system: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "utterances", tuple(self.utterances))

    def __len__(self) -> int:
        return len(self.utterances)

    @property
    def references(self) -> list[str]:
        """The references with words, in order."""
        return [u.reference or "" for u in self.utterances if u.has_reference]

    @property
    def transcribed(self) -> bool:
        """Whether hypotheses of a system are held."""
        return self.system is not None

    def with_hypotheses(self, hypotheses: Sequence[str], system: str = "base") -> AudioSet:
        """The set with ``system``'s transcripts, each utterance with a reference scored (WER, CER)."""
        from jupyter_speechcustom.evaluation.metrics import evaluate

        check_list(hypotheses, "hypotheses", "transcripts, one per utterance")
        if len(hypotheses) != len(self.utterances):
            raise InvalidOptionError(f"{len(hypotheses)} transcripts for {len(self.utterances)} utterances: "
                                     "give one per utterance")
        scored = []
        for utt, hyp in zip(self.utterances, hypotheses):
            if utt.has_reference:
                result = evaluate([utt.reference or ""], [hyp])
                row = result.utterances[0]
                scored.append(replace(utt, hypothesis=hyp, wer=row.wer, cer=result.cer, errors=row.errors))
            else:
                scored.append(replace(utt, hypothesis=hyp, wer=None, cer=None, errors=None))
        return AudioSet(self.label, tuple(scored), system)


def _measured(utterance: Utterance) -> Utterance:
    """``utterance`` with its ``duration``: the one it has, else measured from the audio (past its
    ``offset``); left unknown when the audio holds nothing past the offset."""
    if utterance.duration:
        return utterance
    from jupyter_speechcustom.io.audio import audio_info

    length = max(audio_info(utterance.audio).duration - (utterance.offset or 0.0), 0.0)
    return replace(utterance, duration=length) if length > 0 else utterance


def utterance_set(label: str, utterances: Sequence[Utterance]) -> AudioSet:
    """A set of ``utterances`` (each ``duration`` measured from the audio where it has none)."""
    return AudioSet(label, tuple(ExplorerRow(n, _measured(u)) for n, u in enumerate(utterances)))


def manifest_set(path: str | Path, label: str | None = None) -> AudioSet:
    """The utterances of a NeMo manifest (``duration`` measured from the audio where a line has none)."""
    from jupyter_speechcustom.io.manifest import read_utterances

    path = Path(path).expanduser()
    return utterance_set(label or path.name, read_utterances(path))


def example_sets(base: BaseModel) -> list[str]:
    """Names of the example sets of ``base``'s profile: its test sets, dev set, then training audio."""
    profile = base.profile
    if profile is None:
        return []
    names = [*profile.test_sets, profile.dev_set, profile.train_set, *profile.example_sets]
    return [name for name in dict.fromkeys(n for n in names if n) if name in profile.example_sets]


def profile_set(base: BaseModel, name: str) -> AudioSet:
    """Example set ``name`` (e.g. ``"domain/test"``) of ``base``'s profile."""
    profile = base.profile
    if profile is None:
        raise SpeechCustomError(f"base model {base.name!r} has no profile, so no example sets: "
                                "explore a manifest or the workspace's audio instead")
    return manifest_set(profile.example_set(name), label=f"{profile.name} {name}")


def workspace_set(workspace: StoreAPI, *, transcribed_only: bool = False) -> AudioSet:
    """The workspace's audio, oldest first (with ``transcribed_only``, the files with a transcript)."""
    records = [r for r in workspace.audio() if r.path is not None]
    if transcribed_only:
        records = [r for r in records if r.info.get("transcript")]
    utterances = []
    for rec in records:
        duration = rec.info.get("duration")
        if not isinstance(duration, (int, float)):
            from jupyter_speechcustom.io.audio import audio_info

            duration = audio_info(str(rec.path)).duration
        utterances.append(Utterance(str(rec.path), rec.info.get("transcript"), duration=float(duration),
                                    title=rec.name))
    label = "transcribed workspace audio" if transcribed_only else "workspace audio"
    return AudioSet(label, tuple(ExplorerRow(n, u) for n, u in enumerate(utterances)))


# --------------------------------------------------------------------------- statistics


@dataclass(frozen=True)
class SetStatistics:
    """Figures of a set. Word figures count the references (normalized as corpora are); the
    out-of-vocabulary words are those the base model's known words lack (see
    :func:`~jupyter_speechcustom.asr.models.known_words_for`), and ``oov_rate`` is their share of
    the running words. ``wer``/``cer`` are the held system's, over the utterances with references."""

    utterances: int
    seconds: float
    min_duration: float
    mean_duration: float
    max_duration: float
    with_reference: int
    words: int
    vocabulary: int
    oov_words: int
    oov_occurrences: int
    top_oov: tuple[tuple[str, int], ...] = field(repr=False)
    system: str | None = None
    wer: float | None = None
    cer: float | None = None

    @property
    def hours(self) -> float:
        return self.seconds / 3600

    @property
    def oov_rate(self) -> float | None:
        return self.oov_occurrences / self.words if self.words else None

    def rows(self) -> list[tuple[str, str]]:
        """``(figure, value)`` pairs to show."""

        def pct(value: float | None) -> str:
            return "—" if value is None else f"{100 * value:.1f}%"

        rows = [
            ("utterances", f"{self.utterances}"),
            ("audio", f"{self.hours:.2f} h ({self.seconds:.0f} s)"),
            ("duration min / mean / max", f"{self.min_duration:.1f} / {self.mean_duration:.1f} / "
                                          f"{self.max_duration:.1f} s"),
            ("with a reference", f"{self.with_reference} of {self.utterances}"),
            ("words (references)", f"{self.words}"),
            ("vocabulary", f"{self.vocabulary} distinct words"),
            ("OOV rate", f"{pct(self.oov_rate)} ({self.oov_occurrences} of {self.words} words; "
                         f"{self.oov_words} distinct)"),
        ]
        if self.system is not None:
            rows.append((f"{self.system} WER / CER", f"{pct(self.wer)} / {pct(self.cer)}"))
        return rows


def statistics(audio_set: AudioSet, known: Collection[str]) -> SetStatistics:
    """Hours, durations, words, vocabulary and OOV rate of ``audio_set`` against ``known`` words
    (``known_words_for(base)``), and the held system's WER and CER."""
    from jupyter_speechcustom.text.corpus import Corpus

    durations = [u.duration for u in audio_set.utterances]
    refs = audio_set.references
    words = vocabulary = oov_words = oov_occurrences = 0
    top: tuple[tuple[str, int], ...] = ()
    if refs:
        # Normalized as a corpus is, so the words compare with the known words as the OOV reports do.
        corpus = Corpus.from_text("\n".join(refs), name=audio_set.label)
        summary = corpus.summary(known)
        oov = corpus.oov(known)
        words, vocabulary = summary["words"], summary["distinct_words"]
        oov_words, oov_occurrences = summary["oov_count"], summary["oov_occurrences"]
        top = tuple(oov[:TOP_OOV])
    wer = cer = None
    if audio_set.transcribed and refs:
        from jupyter_speechcustom.evaluation.metrics import evaluate

        pairs = [(u.reference or "", u.hypothesis or "") for u in audio_set.utterances if u.has_reference]
        result = evaluate([r for r, _ in pairs], [h for _, h in pairs])
        wer, cer = result.wer, result.cer
    return SetStatistics(
        utterances=len(durations),
        seconds=float(sum(durations)),
        min_duration=min(durations, default=0.0),
        mean_duration=float(np.mean(durations)) if durations else 0.0,
        max_duration=max(durations, default=0.0),
        with_reference=sum(1 for u in audio_set.utterances if u.has_reference),
        words=words,
        vocabulary=vocabulary,
        oov_words=oov_words,
        oov_occurrences=oov_occurrences,
        top_oov=top,
        system=audio_set.system,
        wer=wer,
        cer=cer,
    )


# --------------------------------------------------------------------------- transcription


def _acoustic(
    base: BaseModel,
    sources: Sequence[str | Segment],
    cache: AcousticCache,
    progress: Callable[[float, str], None] | None,
    cancel: threading.Event | None,
) -> list[AcousticOutput]:
    from jupyter_speechcustom.services.compare import cached_acoustic_outputs

    return cached_acoustic_outputs(base, sources, cache, progress=progress, cancel=cancel)


def system_name(*, lm: bool, am: bool) -> str:
    """The comparison's name of the system with (or without) a custom LM and a custom AM."""
    return System(lm=lm, am=am).name


def transcribe(
    base: BaseModel,
    audio_set: AudioSet,
    *,
    lm: CustomLanguageModel | None = None,
    am: BaseModel | None = None,
    weights: DecodingWeights | None = None,
    cache: AcousticCache | None = None,
    progress: Callable[[float, str], None] | None = None,
    cancel: threading.Event | None = None,
) -> AudioSet:
    """``audio_set`` with one system's transcripts, scored where there are references.

    The system is the comparison's of the same name (:func:`system_name`): the base model (or the
    custom acoustic model ``am`` of it) greedy, as it decodes by default, or fused with the custom
    LM ``lm`` at ``weights`` (default: those tuned for it, else the defaults). Acoustic outputs are
    kept in ``cache`` (an :data:`AcousticCache`, shareable with
    :func:`~jupyter_speechcustom.services.compare.run_comparison`), so transcribing the set again,
    with another LM or weights, does not run the model again.
    """
    from jupyter_speechcustom.asr.decoding import Decoder
    from jupyter_speechcustom.jobs.progress import scaled

    if not audio_set.utterances:
        raise InvalidOptionError(f"{audio_set.label} has no audio to transcribe: add audio or choose another set")
    model = am if am is not None else base
    system = system_name(lm=lm is not None, am=am is not None)
    report = progress or (lambda fraction, message: None)
    report(0.0, f"{system} on {audio_set.label} ({len(audio_set)} utterances)")
    outputs = _acoustic(model, [u.source for u in audio_set.utterances], cache if cache is not None else {},
                        scaled(report, 0.0, 0.9), cancel)
    report(0.9, "decoding")
    decoder = Decoder(model, lm, weights=weights) if lm is not None else Decoder(model, None, words=())
    texts = decoder.decode_text(outputs)
    transcribed = audio_set.with_hypotheses(texts, system)
    report(1.0, f"transcribed {len(texts)} utterances")
    return transcribed


# --------------------------------------------------------------------------- filtering


def select(
    audio_set: AudioSet,
    *,
    text: str = "",
    regex: bool = False,
    where: Literal["reference", "hypothesis", "either"] = "either",
    wer: tuple[float, float] | None = None,
    duration: tuple[float, float] | None = None,
    sort: SortKey = "index",
    descending: bool = False,
) -> list[ExplorerRow]:
    """The utterances that match, sorted.

    Args:
        text: a substring (case-insensitive) or, with ``regex``, a regular expression to find in
            the reference, the hypothesis or ``either``.
        wer: keep utterances whose WER (a fraction) lies in ``[low, high]``; those without a WER
            (no reference, or not transcribed) are left out.
        duration: keep utterances whose seconds lie in ``[low, high]``.
        sort: one of :data:`SORT_KEYS`; utterances without the figure come last.
    """
    if sort not in SORT_KEYS:
        raise InvalidOptionError(f"cannot sort by {sort!r}: choose one of {', '.join(SORT_KEYS)}")
    if where not in ("reference", "hypothesis", "either"):
        raise InvalidOptionError(f"search in {where!r}? choose reference, hypothesis or either")
    match: Callable[[str], bool] | None = None
    if text:
        if regex:
            try:
                pattern = re.compile(text, re.IGNORECASE)
            except re.error as exc:
                raise InvalidOptionError(f"{text!r} is not a regular expression ({exc}): fix it, or untick "
                                         "'regex' to search for the text as it is") from None
            match = lambda s: pattern.search(s) is not None  # noqa: E731
        else:
            needle = text.casefold()
            match = lambda s: needle in s.casefold()  # noqa: E731
    for name, bounds in (("WER", wer), ("duration", duration)):
        if bounds is not None and (len(bounds) != 2 or not all(math.isfinite(b) for b in bounds)
                                   or bounds[0] > bounds[1]):
            raise InvalidOptionError(f"the {name} range {bounds!r} must be two numbers, low then high")
    kept = []
    for utt in audio_set.utterances:
        if match is not None:
            fields = {"reference": [utt.reference], "hypothesis": [utt.hypothesis],
                      "either": [utt.reference, utt.hypothesis]}[where]
            if not any(f is not None and match(f) for f in fields):
                continue
        if wer is not None and (utt.wer is None or not wer[0] - 1e-9 <= utt.wer <= wer[1] + 1e-9):
            continue
        if duration is not None and not duration[0] - 1e-9 <= utt.duration <= duration[1] + 1e-9:
            continue
        kept.append(utt)
    if sort == "index":
        return sorted(kept, key=lambda u: u.index, reverse=descending)
    if sort == "reference":
        with_value = [u for u in kept if u.reference is not None]
        with_value.sort(key=lambda u: (u.reference or "", u.index), reverse=descending)
        return with_value + [u for u in kept if u.reference is None]
    figure: dict[str, Callable[[ExplorerRow], float | None]] = {
        "duration": lambda u: u.duration, "wer": lambda u: u.wer, "cer": lambda u: u.cer}
    value = figure[sort]
    present = [u for u in kept if value(u) is not None]
    present.sort(key=lambda u: (value(u), u.index), reverse=descending)
    return present + [u for u in kept if value(u) is None]


# --------------------------------------------------------------------------- figures


def _png(fig: Figure) -> bytes:
    """PNG bytes of a bare ``Figure`` (no pyplot: safe in any thread), as the other charts are drawn."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return buf.getvalue()


def duration_histogram_png(audio_set: AudioSet, *, width: float = 5.0, height: float = 2.4) -> bytes:
    """A histogram of the utterances' durations (PNG), the mean marked."""
    from matplotlib.figure import Figure

    durations = [u.duration for u in audio_set.utterances]
    fig = Figure(figsize=(width, height))
    ax = fig.add_subplot()
    if durations:
        bins = int(min(30, max(5, math.sqrt(len(durations)) * 2)))
        ax.hist(durations, bins=bins, color="#1976d2", edgecolor="white")
        mean = float(np.mean(durations))
        ax.axvline(mean, color="#e53935", linestyle="--", linewidth=1, label=f"mean {mean:.1f} s")
        ax.legend(fontsize=8, frameon=False)
    else:
        ax.text(0.5, 0.5, "no audio", transform=ax.transAxes, ha="center", va="center", color="#888")
    ax.set_xlabel("duration (s)")
    ax.set_ylabel("utterances")
    ax.set_title(f"Durations: {audio_set.label} ({len(durations)} utterances)", fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return _png(fig)


def spectrogram(samples: np.ndarray, rate: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A power spectrogram in dB: ``(times, frequencies, power)``, ``power`` shaped
    ``(frequencies, times)``, from 25 ms Hann windows every 10 ms (times are window centres)."""
    samples = np.asarray(samples, dtype=np.float32).reshape(-1)
    window = max(round(SPECTROGRAM_WINDOW_SECONDS * rate), 2)
    hop = max(round(SPECTROGRAM_HOP_SECONDS * rate), 1)
    if len(samples) < window:
        samples = np.pad(samples, (0, window - len(samples)))
    count = 1 + (len(samples) - window) // hop
    frames = np.lib.stride_tricks.as_strided(
        samples, shape=(count, window), strides=(samples.strides[0] * hop, samples.strides[0]), writeable=False)
    spectrum = np.fft.rfft(frames * np.hanning(window).astype(np.float32), axis=1)
    power = 10.0 * np.log10(np.abs(spectrum) ** 2 + 1e-10)
    times = (np.arange(count) * hop + window / 2) / rate
    freqs = np.fft.rfftfreq(window, 1.0 / rate)
    return times, freqs, power.T.astype(np.float32)


def load_samples(utterance: ExplorerRow | Utterance, rate: int = SAMPLE_RATE) -> np.ndarray:
    """The utterance's samples, mono at ``rate``."""
    from jupyter_speechcustom.io.audio import load_audio

    return load_audio(utterance.source, rate)


def utterance_plot_png(utterance: ExplorerRow, *, rate: int = SAMPLE_RATE, width: float = 7.0,
                       height: float = 3.6) -> bytes:
    """The waveform and spectrogram of one utterance (its first :data:`PLOT_MAX_SECONDS`), as PNG."""
    from matplotlib.figure import Figure

    samples = load_samples(utterance, rate)
    cut = len(samples) > PLOT_MAX_SECONDS * rate
    if cut:
        samples = samples[: int(PLOT_MAX_SECONDS * rate)]
    seconds = len(samples) / rate
    fig = Figure(figsize=(width, height))
    wave, spec = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [1, 2]})
    t = np.arange(len(samples)) / rate
    step = max(1, len(samples) // 1_500)  # an envelope of min/max per block: what a line of all samples shows
    if step > 1:
        usable = len(samples) // step * step
        blocks = samples[:usable].reshape(-1, step)
        centres = t[:usable].reshape(-1, step)[:, 0]
        wave.fill_between(centres, blocks.min(axis=1), blocks.max(axis=1), color="#1976d2",
                          edgecolor="#1976d2", linewidth=0.4)
    else:
        wave.plot(t, samples, color="#1976d2", linewidth=0.6)
    peak = float(np.max(np.abs(samples))) if len(samples) else 0.0
    wave.set_ylim(-max(peak, 1e-3) * 1.05, max(peak, 1e-3) * 1.05)
    wave.set_ylabel("amplitude", fontsize=8)
    wave.spines[["top", "right"]].set_visible(False)
    times, freqs, power = spectrogram(samples, rate)
    top = float(power.max()) if power.size else 0.0
    spec.imshow(power, origin="lower", aspect="auto", cmap="magma", vmin=top - 80.0, vmax=top,
                extent=(0.0, max(seconds, float(times[-1]) if len(times) else 0.0), 0.0, float(freqs[-1]) / 1000))
    spec.set_ylabel("kHz", fontsize=8)
    spec.set_xlabel("time (s)")
    spec.set_xlim(0.0, seconds)
    shown = f" (first {PLOT_MAX_SECONDS:.0f} s of {utterance.duration:.0f} s)" if cut else f" ({seconds:.1f} s)"
    wave.set_title(f"{utterance.title}{shown}: waveform and spectrogram", fontsize=10)
    fig.tight_layout()
    return _png(fig)


def playable_audio(utterance: ExplorerRow | Utterance) -> tuple[bytes, str]:
    """Bytes and format for a browser's player: the file itself (WebM recordings as WAV), or the
    segment of it as WAV."""
    from jupyter_speechcustom.io.audio import decode, playable, to_mono

    if utterance.offset is None:
        return playable(utterance.audio)
    import soundfile as sf

    data, rate = decode(utterance.source)
    buf = io.BytesIO()
    sf.write(buf, to_mono(data), rate, format="WAV", subtype="PCM_16")
    return buf.getvalue(), "wav"
