"""The Compare panel: base vs customized systems on a test set or one recording.

The acoustic models run once per test set (a workspace job); the weight sliders re-decode
the cached log-probs (:meth:`Decoder.decode_text`) in a light background job, so tuning the
LM and boosting weights never re-runs an acoustic model.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import traitlets

from jupyter_speechcustom.constants import (
    BEAM_SIZE,
    BOOST_ALPHA,
    DEMO_MODEL_NAME,
    LM_ALPHA,
    LM_BETA,
    STUDIO_UTTERANCES_PER_PAGE,
)
from jupyter_speechcustom.evaluation import diffview
from jupyter_speechcustom.services.compare import SYSTEMS, Comparison, TestItem
from jupyter_speechcustom.widgets._common import (
    LABELLED,
    AudioSlot,
    Choice,
    JobView,
    Panel,
    audio_label,
    button,
    heading,
    hint,
    player_audio,
    set_options,
    wide,
)

if TYPE_CHECKING:
    from jupyter_speechcustom.asr.decoding import DecodingWeights
    from jupyter_speechcustom.asr.models import BaseModel
    from jupyter_speechcustom.jobs.runner import Job
    from jupyter_speechcustom.services.compare import AcousticCache
    from jupyter_speechcustom.services.workspace import Workspace

__all__ = ["ComparePanel"]

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
        workspace: a :class:`~jupyter_speechcustom.services.workspace.Workspace` or its folder.
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
        self._cache: AcousticCache = {}
        self._pending: DecodingWeights | None = None
        self._decoding = False
        self._order: list[int] = []
        self._page = 0

        self.system_boxes = {name: widgets.Checkbox(name == "base", description=name, indent=False,
                                                    layout=widgets.Layout(width="90px")) for name in SYSTEMS}
        for name, box in self.system_boxes.items():
            box.add_class(f"sc-system-{name.strip('+').replace('+', '-').lower()}")
        self.lm = Choice(description="Custom LM", style=LABELLED, options=[("none", None)], layout=wide())
        self.am = Choice(description="Custom AM", style=LABELLED, options=[("none", None)], layout=wide())

        profile = self.base.profile
        sets: list[tuple[str, str]] = [(f"{profile.name} {s}", f"profile:{s}") for s in profile.test_sets] if profile else []
        sets += [("workspace audio", "workspace"), ("one recording", "one")]
        self.test_set = widgets.Dropdown(description="Test set", style=LABELLED, options=sets, value=sets[0][1],
                                         layout=wide())
        self.limit = widgets.BoundedIntText(0, min=0, max=100_000, description="First N (0: all)",
                                            style={"description_width": "initial"},
                                            layout=widgets.Layout(width="190px"))
        self.limit.add_class("sc-compare-limit")
        self.audio = widgets.SelectMultiple(description="Audio", style=LABELLED, options=[], rows=6, layout=wide())
        self.recording = Choice(description="Recording", style=LABELLED, options=[("—", None)], layout=wide())
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
        self.limit.layout.display = "" if kind.startswith("profile:") or kind == "workspace" else "none"

    def systems(self) -> list[str]:
        """The ticked systems, in :data:`SYSTEMS` order."""
        return [name for name in SYSTEMS if self.system_boxes[name].value]

    def weights(self) -> DecodingWeights:
        from jupyter_speechcustom.asr.decoding import DecodingWeights

        return DecodingWeights(lm_alpha=float(self.lm_alpha.value), lm_beta=float(self.lm_beta.value),
                               boost_alpha=float(self.boost_alpha.value), beam_size=BEAM_SIZE)

    def items(self) -> tuple[str, list[TestItem]]:
        """The chosen test set: its label and its utterances."""
        kind = self.test_set.value
        limit = self.limit.value or None
        if kind.startswith("profile:"):
            from jupyter_speechcustom.io.manifest import read_manifest

            profile = self.base.profile
            split = kind.split(":", 1)[1]
            if profile is None:
                raise ValueError(f"base model {self.base.name!r} has no example test sets")
            entries = read_manifest(profile.example_set(split))[:limit]
            items = [TestItem(Path(e["audio_filepath"]).stem, e["audio_filepath"], e.get("text")) for e in entries]
            return f"{profile.name} {split}" + (f" (first {limit})" if limit else ""), items
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
        job = self.workspace.compare(self.base, items, systems, label=label, lm_id=self.lm.value,
                                     am_id=self.am.value, weights=self.weights(), cache=self._cache)
        self.show(f"Comparing {', '.join(systems)} on {label} ({len(items)} utterances, job {job.id})…", "working")

        def done(j: Job) -> None:
            self.comparison = j.result
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
                                                     show_wer=c.has_references, display=c.display_forms(index))
            audio = Path(c.items[index].audio)
            row.player.load(*player_audio(audio))
            row.layout.display = ""
        shown = f"{start + 1}–{min(start + size, len(self._order))} of {len(self._order)}" if self._order else "none"
        self.page_label.value = f"utterances {shown}"
        self.prev_page.disabled = self._page == 0
        self.next_page.disabled = self._page >= pages - 1

