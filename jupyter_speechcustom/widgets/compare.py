"""The Compare panel: base vs customized systems on a test set or one recording.

The acoustic models run once per test set (a workspace job); the weight sliders re-decode
the cached log-probs (:meth:`Decoder.decode_text`) in a light background job, so tuning the
LM and boosting weights never re-runs an acoustic model.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import traitlets

from jupyter_speechcustom import diffview
from jupyter_speechcustom.constants import (
    BEAM_SIZE,
    BOOST_ALPHA,
    DEMO_MODEL_NAME,
    LM_ALPHA,
    LM_BETA,
    STUDIO_UTTERANCES_PER_PAGE,
)
from jupyter_speechcustom.widgets._common import (
    LABELLED,
    AudioSlot,
    JobView,
    Panel,
    audio_format,
    audio_label,
    button,
    heading,
    hint,
    set_options,
    wide,
)

if TYPE_CHECKING:
    from jupyter_speechcustom.decoding import Decoder, DecodingWeights
    from jupyter_speechcustom.evaluation import Evaluation, TermHits, UtteranceScore
    from jupyter_speechcustom.jobs import Job, JobFunction
    from jupyter_speechcustom.models import BaseModel
    from jupyter_speechcustom.recognize import AcousticOutput
    from jupyter_speechcustom.workspace import Workspace

__all__ = ["SYSTEMS", "ComparePanel", "Comparison", "TestItem", "compare_job"]

#: System names: the base model, with the custom LM, with the custom AM, with both.
SYSTEMS = ("base", "+LM", "+AM", "+AM+LM")
_DEMO_SETS = ("domain/test", "domain/dev", "general/test")


@dataclass(frozen=True)
class TestItem:
    """One utterance to recognize: a title, its audio file and its reference (None if unknown)."""

    title: str
    audio: str
    reference: str | None = None


@dataclass(frozen=True)
class _Scores:
    texts: dict[str, list[str]]
    evaluations: dict[str, Evaluation]
    hits: dict[str, list[TermHits]]
    weights: DecodingWeights


@dataclass
class Comparison:
    """Systems run on a test set: cached log-probs, decoders, transcripts and scores.

    ``evaluations`` is empty when some utterance has no reference: then each system is
    diffed against the first one instead.
    """

    label: str
    items: list[TestItem]
    systems: list[str]
    outputs: dict[str, list[AcousticOutput]] = field(repr=False)
    decoders: dict[str, Decoder] = field(repr=False)
    acoustic: dict[str, str] = field(repr=False)
    terms: list[str]
    scores: _Scores = field(repr=False)

    @property
    def has_references(self) -> bool:
        return all(item.reference is not None and item.reference.strip() for item in self.items)

    @property
    def texts(self) -> dict[str, list[str]]:
        return self.scores.texts

    @property
    def evaluations(self) -> dict[str, Evaluation]:
        return self.scores.evaluations

    @property
    def hits(self) -> dict[str, list[TermHits]]:
        return self.scores.hits

    @property
    def weights(self) -> DecodingWeights:
        return self.scores.weights

    def decode(self, weights: DecodingWeights) -> None:
        """Re-decode every system from the cached log-probs with ``weights``, and re-score."""
        texts = {name: self.decoders[name].decode_text(self.outputs[self.acoustic[name]], weights)
                 for name in self.systems}
        self.scores = self._score(texts, weights)  # one assignment: readers never see half an update

    def _score(self, texts: dict[str, list[str]], weights: DecodingWeights) -> _Scores:
        from jupyter_speechcustom.evaluation import evaluate, term_hit_rates

        evaluations: dict[str, Evaluation] = {}
        hits: dict[str, list[TermHits]] = {}
        if self.has_references:
            refs = [item.reference or "" for item in self.items]
            for name in self.systems:
                evaluations[name] = evaluate(refs, texts[name])
                if self.terms:
                    hits[name] = term_hit_rates(refs, texts[name], self.terms)
        return _Scores(texts, evaluations, hits, weights)

    def utterance(self, index: int) -> tuple[str, str, dict[str, UtteranceScore], str]:
        """``(title, reference, {system: score}, reference label)`` of utterance ``index``.

        Without references, the first system's transcript stands in as the reference.
        """
        from jupyter_speechcustom.evaluation import evaluate

        item = self.items[index]
        current = self.scores  # one snapshot: a re-decode may swap the scores meanwhile
        if self.has_references:
            scores = {name: current.evaluations[name].utterances[index] for name in self.systems}
            return item.title, item.reference or "", scores, "reference"
        first = self.systems[0]
        reference = current.texts[first][index]
        others = self.systems[1:] or self.systems
        scores = {}
        for name in others:
            hyp = current.texts[name][index]
            if reference.split():
                scores[name] = evaluate([reference], [hyp]).utterances[0]
            else:
                from jupyter_speechcustom.evaluation import AlignedWord, UtteranceScore

                words = hyp.split()
                scores[name] = UtteranceScore("", hyp, 0, 0, len(words), 0,
                                              tuple(AlignedWord("insert", None, w) for w in words))
        return item.title, reference, scores, f"{first} (no reference)"

    def to_dict(self) -> dict[str, Any]:
        """A JSON summary: per system its weights and scores, and every transcript."""
        from dataclasses import asdict

        return {
            "test_set": self.label,
            "weights": asdict(self.weights),
            "systems": {name: (self.evaluations[name].summary() if name in self.evaluations else {})
                        for name in self.systems},
            "term_hits": {name: [{"term": h.term, "occurrences": h.occurrences, "recognized": h.recognized}
                                 for h in hits] for name, hits in self.hits.items()},
            "utterances": [{"title": item.title, "audio": item.audio, "reference": item.reference,
                            "hypotheses": {name: self.texts[name][i] for name in self.systems}}
                           for i, item in enumerate(self.items)],
        }

    def differs(self, index: int) -> bool:
        texts = self.texts
        return len({texts[name][index] for name in self.systems}) > 1

    def gain(self, index: int) -> float:
        """Errors of the first system minus errors of the last, for utterance ``index``."""
        if not self.has_references or len(self.systems) < 2:
            return 0.0
        evaluations = self.evaluations
        first = evaluations[self.systems[0]].utterances[index].errors
        last = evaluations[self.systems[-1]].utterances[index].errors
        return float(first - last)


def compare_job(
    ws: Workspace,
    base: BaseModel,
    items: Sequence[TestItem],
    systems: Sequence[str],
    *,
    label: str,
    lm_id: str | None,
    am_id: str | None,
    weights: DecodingWeights,
    holder: dict[str, Any],
    cache: dict[tuple[str, tuple[str, ...]], list[AcousticOutput]] | None = None,
) -> JobFunction:
    """A job function running ``systems`` on ``items``: it puts the :class:`Comparison` in
    ``holder["comparison"]`` and returns its JSON summary. ``cache`` keeps acoustic outputs
    per (model fingerprint, audio files) across runs."""
    unknown = [s for s in systems if s not in SYSTEMS]
    if unknown:
        raise ValueError(f"unknown system(s) {unknown}; choose from {', '.join(SYSTEMS)}")
    if not systems:
        raise ValueError("choose at least one system to run")
    if not items:
        raise ValueError("the test set is empty: choose audio to compare on")
    needs_lm = any("LM" in s for s in systems)
    needs_am = any("AM" in s for s in systems)
    if needs_lm and lm_id is None:
        raise ValueError("a +LM system needs a custom language model: build one in the Language model tab")
    if needs_am and am_id is None:
        raise ValueError("a +AM system needs a custom acoustic model: train one in the Acoustic model tab")
    cache = cache if cache is not None else {}

    def run(progress: Callable[[float, str], None], cancel: threading.Event) -> dict[str, Any]:
        from jupyter_speechcustom.decoding import Decoder
        from jupyter_speechcustom.jobs import raise_if_cancelled
        from jupyter_speechcustom.recognize import acoustic_outputs

        progress(0.0, "loading the custom models")
        lm = ws.language_model(lm_id) if lm_id else None
        am = ws.acoustic_model(am_id) if needs_am and am_id else None
        paths = tuple(item.audio for item in items)
        models = {"base": base, "am": am}
        wanted = sorted({"am" if "AM" in s else "base" for s in systems})
        outputs: dict[str, list[AcousticOutput]] = {}
        for n, key in enumerate(wanted):
            model = models[key]
            assert model is not None
            cache_key = (model.fingerprint, paths)
            if cache_key not in cache:
                share = 0.7 / len(wanted)
                what = "base" if key == "base" else "custom"
                cache[cache_key] = acoustic_outputs(model, list(paths), progress=lambda d, t, n=n, w=what, s=share: (
                    progress(0.05 + s * (n + d / t), f"{w} acoustic model: {d} of {t} utterances")))
            outputs[key] = cache[cache_key]
            raise_if_cancelled(cancel)
        progress(0.8, "decoding")
        decoders: dict[str, Decoder] = {}
        acoustic: dict[str, str] = {}
        for name in systems:
            key = "am" if "AM" in name else "base"
            model = models[key]
            assert model is not None
            decoders[name] = Decoder(model, lm, weights=weights) if "LM" in name else Decoder(model, None, words=())
            acoustic[name] = key
        terms = [w.word for w in lm.words] if lm is not None else []
        comparison = Comparison(label, list(items), list(systems), outputs, decoders, acoustic, terms,
                                scores=_Scores({}, {}, {}, weights))
        comparison.decode(weights)
        raise_if_cancelled(cancel)
        holder["comparison"] = comparison
        progress(1.0, "done")
        return {"test_set": label, "wer": {n: e.wer for n, e in comparison.evaluations.items()}}

    return run


# --------------------------------------------------------------------------- the panel


class _UtteranceRow(widgets.VBox):
    """One utterance of the current page: its diff and its audio."""

    def __init__(self) -> None:
        self.diff = widgets.HTML()
        self.diff.add_class("sc-utterance")
        self.player = AudioSlot()
        super().__init__([self.diff, self.player])
        self.layout.display = "none"


class ComparePanel(Panel):
    """Run base and customized systems side by side; diffs, WER/CER, hit rates, weight sliders.

    Args:
        workspace: a :class:`~jupyter_speechcustom.workspace.Workspace` or its folder.
        base: the base model (or its name or ``.nemo`` path).

    Children of note: ``system_boxes`` (a Checkbox per system in :data:`SYSTEMS`), ``lm``,
    ``am``, ``test_set``, ``limit``, ``audio`` (workspace audio), ``recording``,
    ``run_button``, ``wer_table``, ``chart`` (Image), ``hits``, ``lm_alpha``, ``lm_beta``,
    ``boost_alpha`` (sliders), ``rows`` (the utterances on the current page).

    Traits:
        comparison (Instance of Comparison or None): the latest comparison, re-scored by the sliders.
    """

    comparison = traitlets.Instance(Comparison, allow_none=True, help="The latest comparison, or None.")

    def __init__(self, workspace: Workspace | str | Path, base: BaseModel | str | Path = DEMO_MODEL_NAME) -> None:
        super().__init__(workspace, base)
        self.add_class("sc-compare-panel")
        self._cache: dict[tuple[str, tuple[str, ...]], list[AcousticOutput]] = {}
        self._pending: DecodingWeights | None = None
        self._decoding = False
        self._order: list[int] = []
        self._page = 0

        self.system_boxes = {name: widgets.Checkbox(name == "base", description=name, indent=False,
                                                    layout=widgets.Layout(width="90px")) for name in SYSTEMS}
        for name, box in self.system_boxes.items():
            box.add_class(f"sc-system-{name.strip('+').replace('+', '-').lower()}")
        self.lm = widgets.Dropdown(description="Custom LM", style=LABELLED, options=[("none", None)], layout=wide())
        self.am = widgets.Dropdown(description="Custom AM", style=LABELLED, options=[("none", None)], layout=wide())

        sets: list[tuple[str, str]] = [(f"demo {s}", f"demo:{s}") for s in _DEMO_SETS] if self.base.is_demo else []
        sets += [("workspace audio", "workspace"), ("one recording", "one")]
        self.test_set = widgets.Dropdown(description="Test set", style=LABELLED, options=sets, value=sets[0][1],
                                         layout=wide())
        self.limit = widgets.BoundedIntText(0, min=0, max=100_000, description="First N (0: all)",
                                            style={"description_width": "initial"},
                                            layout=widgets.Layout(width="190px"))
        self.limit.add_class("sc-compare-limit")
        self.audio = widgets.SelectMultiple(description="Audio", style=LABELLED, options=[], rows=6, layout=wide())
        self.recording = widgets.Dropdown(description="Recording", style=LABELLED, options=[("—", None)], layout=wide())
        self.observe_value(self.test_set, lambda _: self._test_set_changed())
        self.run_button = button("Compare", icon="balance-scale", style="primary", css="sc-compare-run")
        self.progress = JobView(cancellable=True)
        self.on(self.run_button, self.run, "Comparing")

        self.lm_alpha = widgets.FloatSlider(LM_ALPHA, min=0.0, max=2.0, step=0.05, description="LM alpha",
                                            style=LABELLED,
                                            continuous_update=False, layout=wide())
        self.lm_beta = widgets.FloatSlider(LM_BETA, min=-1.0, max=4.0, step=0.1, description="LM beta", style=LABELLED,
                                           continuous_update=False, layout=wide())
        self.boost_alpha = widgets.FloatSlider(BOOST_ALPHA, min=0.0, max=4.0, step=0.1, description="Boost",
                                               style=LABELLED,
                                               continuous_update=False, layout=wide())
        for slider in (self.lm_alpha, self.lm_beta, self.boost_alpha):
            slider.add_class("sc-weight")
            self.observe_value(slider, lambda _: self.redecode(), doing="Re-decoding")
        self.decode_view = JobView(cancellable=False)
        self.save_button = button("Save as result", icon="save", css="sc-compare-save")
        self.save_button.disabled = True
        self.on(self.save_button, self.save, "Saving the comparison")

        self.wer_table = widgets.HTML()
        self.wer_table.add_class("sc-compare-wer")
        self.chart = widgets.Image(format="png", layout=widgets.Layout(display="none", max_width="560px"))
        self.chart.add_class("sc-compare-chart")
        self.hits = widgets.HTML()
        self.hits.add_class("sc-compare-hits")
        self.order = widgets.Dropdown(options=[("in order", "order"), ("where the systems differ", "differ"),
                                               ("largest gain first", "gain"), ("largest loss first", "loss")],
                                      value="order", description="Show", layout=widgets.Layout(width="280px"))
        self.observe_value(self.order, lambda _: self._sort())
        self.prev_page = button("", icon="chevron-left", tooltip="previous page", width="40px")
        self.next_page = button("", icon="chevron-right", tooltip="next page", width="40px")
        self.page_label = widgets.Label()
        self.on(self.prev_page, lambda: self._show_page(self._page - 1))
        self.on(self.next_page, lambda: self._show_page(self._page + 1))
        self.rows = [_UtteranceRow() for _ in range(STUDIO_UTTERANCES_PER_PAGE)]
        self.results = widgets.VBox([
            heading("Scores"),
            self.wer_table,
            self.chart,
            hint("The sliders re-decode the cached acoustic model outputs of the LM systems: LM alpha weighs the "
                 "custom LM, LM beta rewards each token, Boost favours the custom words."),
            self.lm_alpha, self.lm_beta, self.boost_alpha,
            widgets.HBox([self.decode_view, self.save_button]),
            heading("Custom words"),
            self.hits,
            heading("Utterances"),
            widgets.HTML(diffview.legend_html()),
            widgets.HBox([self.order, self.prev_page, self.page_label, self.next_page]),
            *self.rows,
        ])
        self.results.layout.display = "none"

        self.children = [
            widgets.HTML(diffview.style_tag()),
            self.status,
            heading("Systems"),
            widgets.HBox(list(self.system_boxes.values())),
            widgets.HBox([self.lm, self.am]),
            heading("Test set"),
            widgets.HBox([self.test_set, self.limit]),
            self.audio,
            self.recording,
            widgets.HBox([self.run_button]),
            self.progress,
            self.results,
        ]
        self.refresh()
        self._test_set_changed()

    # ------------------------------------------------------------------ listing

    def refresh(self) -> None:
        """Re-read LMs, AMs and audio from the workspace; tick the systems that became possible."""
        ws = self.workspace
        fingerprint = self.base.family_fingerprint
        lms = [r for r in reversed(ws.language_models(status="available"))
               if (r.base or {}).get("fingerprint") == fingerprint]
        ams = [r for r in reversed(ws.acoustic_models(status="available"))
               if (r.base or {}).get("fingerprint") == fingerprint]
        had_lm, had_am = self.lm.value is not None, self.am.value is not None
        set_options(self.lm, [("none", None), *[(f"{r.label} ({r.id})", r.id) for r in lms]])
        set_options(self.am, [("none", None), *[(f"{r.label} ({r.id})", r.id) for r in ams]])
        if self.lm.value is None and lms:
            self.lm.value = lms[0].id
        if self.am.value is None and ams:
            self.am.value = ams[0].id
        if self.lm.value is not None and not had_lm:
            self.system_boxes["+LM"].value = True
        if self.am.value is not None and not had_am:
            self.system_boxes["+AM"].value = True
            self.system_boxes["+AM+LM"].value = self.lm.value is not None
        audio = ws.audio()
        set_options(self.audio, [(audio_label(r), r.id) for r in audio if r.info.get("transcript")])
        set_options(self.recording, [("—", None), *[(audio_label(r), r.id) for r in reversed(audio)]])

    def _test_set_changed(self) -> None:
        kind = self.test_set.value
        self.audio.layout.display = "" if kind == "workspace" else "none"
        self.recording.layout.display = "" if kind == "one" else "none"
        self.limit.layout.display = "" if kind.startswith("demo:") or kind == "workspace" else "none"

    def systems(self) -> list[str]:
        """The ticked systems, in :data:`SYSTEMS` order."""
        return [name for name in SYSTEMS if self.system_boxes[name].value]

    def weights(self) -> DecodingWeights:
        from jupyter_speechcustom.decoding import DecodingWeights

        return DecodingWeights(lm_alpha=float(self.lm_alpha.value), lm_beta=float(self.lm_beta.value),
                               boost_alpha=float(self.boost_alpha.value), beam_size=BEAM_SIZE)

    def items(self) -> tuple[str, list[TestItem]]:
        """The chosen test set: its label and its utterances."""
        kind = self.test_set.value
        limit = self.limit.value or None
        if kind.startswith("demo:"):
            from jupyter_speechcustom import demo
            from jupyter_speechcustom.manifest import read_manifest

            split = kind.split(":", 1)[1]
            entries = read_manifest(demo.manifest(split))[:limit]
            items = [TestItem(Path(e["audio_filepath"]).stem, e["audio_filepath"], e.get("text")) for e in entries]
            return f"demo {split}" + (f" (first {limit})" if limit else ""), items
        if kind == "workspace":
            ids = list(self.audio.value)[:limit]
            if not ids:
                raise ValueError("choose transcribed workspace audio to compare on (or another test set)")
            recs = [self.workspace.get(i, "audio") for i in ids]
            return f"{len(recs)} workspace audio files", [
                TestItem(r.name, str(r.path), r.info.get("transcript")) for r in recs]
        if self.recording.value is None:
            raise ValueError("choose a recording (add one in the Data tab)")
        rec = self.workspace.get(self.recording.value, "audio")
        return rec.name, [TestItem(rec.name, str(rec.path), rec.info.get("transcript"))]

    # ------------------------------------------------------------------ running

    def run(self) -> Job | None:
        """Run the chosen systems on the test set (a workspace job)."""
        label, items = self.items()
        systems = self.systems()
        holder: dict[str, Any] = {}
        fn = compare_job(self.workspace, self.base, items, systems, label=label, lm_id=self.lm.value,
                         am_id=self.am.value, weights=self.weights(), holder=holder, cache=self._cache)
        params = {"test_set": label, "systems": systems, "lm_id": self.lm.value, "am_id": self.am.value,
                  "utterances": len(items)}
        uses = [x for x in (self.lm.value, self.am.value) if x]
        job = self.workspace.submit(fn, kind="studio_compare", params=params, heavy=False, uses=uses)
        self.show(f"Comparing {', '.join(systems)} on {label} ({len(items)} utterances, job {job.id})…", "working")

        def done(_: Job) -> None:
            self.comparison = holder["comparison"]
            self._render()
            self.save()
            self.show(self._headline(), "success")

        return self.watch(job, self.progress, done, doing="Comparing")

    @traitlets.observe("busy")
    def _busy_changed(self, change: dict[str, Any]) -> None:
        self.run_button.disabled = bool(change["new"])

    def _headline(self) -> str:
        c = self.comparison
        if c is None:
            return ""
        if not c.evaluations:
            return (f"Transcribed {c.label} with {', '.join(c.systems)} "
                    f"(no reference: diffs are against {c.systems[0]}).")
        figures = ", ".join(f"{n} {diffview.percent(e.wer)}" for n, e in c.evaluations.items())
        return f"WER on {c.label}: {figures}."

    def redecode(self) -> Job | None:
        """Re-decode the comparison with the sliders' weights (cached log-probs; a light job)."""
        if self.comparison is None:
            return None
        self._pending = self.weights()
        if self._decoding:
            return None  # the running re-decode picks the latest weights up when it ends
        return self._start_decode()

    def _start_decode(self) -> Job | None:
        comparison, weights = self.comparison, self._pending
        self._pending = None
        if comparison is None or weights is None:
            return None
        self._decoding = True

        def run(progress: Callable[[float, str], None], cancel: threading.Event) -> None:
            progress(0.1, f"re-decoding with LM alpha {weights.lm_alpha:.2f}, beta {weights.lm_beta:.1f}, "
                          f"boost {weights.boost_alpha:.1f}")
            comparison.decode(weights)

        job = self.submit_light(run, kind="redecode")

        def done(_: Job) -> None:
            if comparison is self.comparison:
                self._render(keep_page=True)
                self.show(self._headline(), "success")

        def ended(_: Job) -> None:
            self._decoding = False
            if self._pending is not None:
                self._start_decode()

        return self.watch(job, self.decode_view, done, doing="Re-decoding", busy=False, always=ended)

    def save(self) -> str | None:
        """Store the current comparison (with its weights) as a workspace result; returns its id."""
        if self.comparison is None:
            self.show("Nothing to save yet: run a comparison first", "error")
            return None
        rec = self.workspace.add_result(f"compare {self.comparison.label}", self.comparison.to_dict())
        self.save_button.disabled = False
        return rec.id

    # ------------------------------------------------------------------ rendering

    def _render(self, keep_page: bool = False) -> None:
        c = self.comparison
        if c is None:
            return
        w = c.weights
        caption = (f'<div class="sc-root sc-muted">{diffview.escape(c.label)} · {len(c.items)} utterances · '
                   f"LM alpha {w.lm_alpha:.2f}, beta {w.lm_beta:.1f}, boost {w.boost_alpha:.1f}</div>")
        if c.evaluations:
            self.wer_table.value = caption + diffview.wer_table_html(c.evaluations)
            self.chart.value = diffview.wer_chart_png(c.evaluations)
            self.chart.layout.display = ""
            self.hits.value = diffview.term_hits_html(c.hits) if c.terms else (
                '<div class="sc-root sc-muted">no custom words: choose a custom LM with custom words</div>')
        else:
            self.wer_table.value = caption + ('<div class="sc-root sc-muted">No reference transcript: WER needs '
                                              "one. The diffs below compare each system with the first.</div>")
            self.chart.layout.display = "none"
            self.hits.value = ""
        self.results.layout.display = ""
        self._sort(keep_page=keep_page)

    def _sort(self, keep_page: bool = False) -> None:
        c = self.comparison
        if c is None:
            return
        order = list(range(len(c.items)))
        how = self.order.value
        if how == "differ":
            order = [i for i in order if c.differs(i)]
        elif how == "gain":
            order.sort(key=lambda i: -c.gain(i))
        elif how == "loss":
            order.sort(key=lambda i: c.gain(i))
        self._order = order
        self._show_page(self._page if keep_page else 0)

    def _show_page(self, page: int) -> None:
        c = self.comparison
        if c is None:
            return
        size = len(self.rows)
        pages = max(1, -(-len(self._order) // size))
        self._page = min(max(page, 0), pages - 1)
        start = self._page * size
        for k, row in enumerate(self.rows):
            position = start + k
            if position >= len(self._order):
                row.layout.display = "none"
                row.player.clear()
                continue
            index = self._order[position]
            title, reference, scores, ref_label = c.utterance(index)
            row.diff.value = diffview.utterance_html(title, reference, scores, reference_label=ref_label,
                                                     show_wer=c.has_references)
            audio = Path(c.items[index].audio)
            row.player.load(audio.read_bytes(), audio_format(audio))
            row.layout.display = ""
        shown = f"{start + 1}–{min(start + size, len(self._order))} of {len(self._order)}" if self._order else "none"
        self.page_label.value = f"utterances {shown}"
        self.prev_page.disabled = self._page == 0
        self.next_page.disabled = self._page >= pages - 1

