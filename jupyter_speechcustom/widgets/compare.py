"""The Compare panel: base vs customized systems on a test set or one recording.

The acoustic models run once per test set (a workspace job); the weight sliders re-decode
the cached log-probs (:meth:`Comparison.decode`) in a light background job, so tuning the
LM and boosting weights never re-runs an acoustic model. The utterances on screen are
re-decoded first and shown at once, marked as such, with the scores marked as being updated
until every utterance is re-decoded and re-scored; a newer slider move stops the running
re-decode at its next step and takes over. "Tune on the dev set"
(:meth:`Comparison.tune`, a light job) grid-searches the weights on the profile's dev set (or
the transcribed workspace audio) and sets the sliders to the best; a comparison with an LM
system starts from tuned weights when the profile has a dev set (tuned once per LM and
acoustic model, kept in the panel).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import traitlets

from jupyter_speechcustom.constants import DEMO_MODEL_NAME
from jupyter_speechcustom.errors import InvalidOptionError
from jupyter_speechcustom.evaluation import diffview
from jupyter_speechcustom.io.manifest import Utterance
from jupyter_speechcustom.services.compare import SYSTEMS, Comparison, borrowed_dev_set, dev_items
from jupyter_speechcustom.services.systems import System
from jupyter_speechcustom.store.index import RecordNotFoundError, audio_role
from jupyter_speechcustom.widgets._common import (
    LABELLED,
    Choice,
    Confirm,
    JobView,
    Panel,
    WeightControls,
    button,
    heading,
    hint,
    hint_html,
    set_options,
    wide,
)
from jupyter_speechcustom.widgets._compare_test_set import TestSetChooser
from jupyter_speechcustom.widgets._compare_view import UPDATING_CSS, ComparisonView, weights_text

if TYPE_CHECKING:
    from jupyter_speechcustom.asr.decoding import DecodingWeights, TuneResult
    from jupyter_speechcustom.asr.models import BaseModel
    from jupyter_speechcustom.jobs.runner import Job
    from jupyter_speechcustom.services.compare import AcousticCache
    from jupyter_speechcustom.services.workspace import Workspace

__all__ = ["ComparePanel"]

class ComparePanel(Panel):
    """Run base and customized systems side by side; diffs, WER/CER, hit rates, weight sliders.

    Args:
        workspace: a :class:`~jupyter_speechcustom.services.workspace.Workspace` or its folder.
        base: the base model (or its name or ``.nemo`` path).

    Children of note: ``system_boxes`` (a Checkbox per system in :data:`SYSTEMS`), ``lm``,
    ``am``, ``test_set`` (the workspace's audio, its transcribed test audio selected; the profile's
    sets only when chosen or while the workspace has no transcribed audio: ``test_note`` says so),
    ``limit``, ``audio`` (transcribed workspace audio; ``select_all_audio``,
    ``select_no_audio``, ``audio_count``), ``recording``,
    ``run_button``, ``wer_table``, ``chart`` (Image), ``hits``, ``lm_alpha``, ``lm_beta``,
    ``boost_alpha`` (sliders), ``tune_button``, ``tune_view`` (its progress), ``rows`` (the
    utterances on the current page). The test set's come from ``test_chooser`` (a
    :class:`~jupyter_speechcustom.widgets._compare_test_set.TestSetChooser`), the results' from
    ``view`` (a :class:`~jupyter_speechcustom.widgets._compare_view.ComparisonView`).

    Traits:
        comparison (Instance of Comparison or None): the latest comparison, re-scored by the sliders.
        auto_tune (Bool): tune on the profile's dev set after a comparison with an LM system
            whose weights were not tuned yet (default True).
    """

    comparison = traitlets.Instance(Comparison, allow_none=True, help="The latest comparison, or None.")
    auto_tune = traitlets.Bool(True, help="Tune on the profile's dev set before showing an LM system's scores.")

    def __init__(self, workspace: Workspace | str | Path, base: BaseModel | str | Path = DEMO_MODEL_NAME) -> None:
        super().__init__(workspace, base)
        self.add_class("sc-compare-panel")
        self._cache: AcousticCache = {}
        self._models: list[str] = []  # the custom models the latest comparison ran (a saved result's sources)
        self._pending: DecodingWeights | None = None
        self._decoding = False
        self._supersede = threading.Event()  # set: the running re-decode stops at its next step
        #: Tuning results by (system, LM id, AM id or None): tuned once per LM and acoustic model.
        self._tuned: dict[tuple[str, str | None, str | None], TuneResult] = {}
        self._quiet = False  # True while the panel itself moves the sliders

        self.system_boxes = {name: widgets.Checkbox(name == "base", description=name, indent=False,
                                                    layout=widgets.Layout(width="90px")) for name in SYSTEMS}
        for name, box in self.system_boxes.items():
            box.add_class(f"sc-system-{name.strip('+').replace('+', '-').lower()}")
        self.lm = Choice(description="Custom LM", style=LABELLED, options=[("none", None)], layout=wide())
        self.am = Choice(description="Custom AM", style=LABELLED, options=[("none", None)], layout=wide())

        self.test_chooser = TestSetChooser(self)
        chooser = self.test_chooser
        self.test_set, self.test_note, self.limit, self.recording = (chooser.test_set, chooser.test_note,
                                                                     chooser.limit, chooser.recording)
        self.audio, self.audio_box, self.audio_count = chooser.audio, chooser.audio_box, chooser.audio_count
        self.select_all_audio, self.select_no_audio, self.select_test_audio = (
            chooser.select_all_audio, chooser.select_no_audio, chooser.select_test_audio)
        self.run_button = button("Compare", icon="balance-scale", style="primary", css="sc-compare-run")
        self.progress = JobView(cancellable=True)
        self.on(self.run_button, self.run, "Comparing")

        # A hybrid transducer + CTC model decodes with either head: tuning tries both.
        self.weight_controls = WeightControls(self.base)
        self.lm_alpha, self.lm_beta, self.boost_alpha, self.head = self.weight_controls.controls
        for slider in (self.lm_alpha, self.lm_beta, self.boost_alpha, self.head):
            slider.add_class("sc-weight")
            self.observe_value(slider, lambda _: None if self._quiet else self.redecode(), doing="Re-decoding")
        self.observe_value(self.head, lambda _: self._enable_weights(True))
        self._enable_weights(True)
        self.weights_note = widgets.HTML()  # where the sliders' weights come from
        self.weights_note.add_class("sc-compare-weights-from")
        self.observe_value(self.lm, lambda _: self._start_weights())
        self.decode_view = JobView(cancellable=False)
        self.tune_button = button("Tune on the dev set", icon="sliders", css="sc-compare-tune",
                                  tooltip="grid-search LM alpha, beta and boost on a transcribed dev set, "
                                          "then set the sliders to the best")
        self.tune_view = JobView(cancellable=True)
        self.on(self.tune_button, self.tune, "Tuning")
        self.save_button = button("Save as result", icon="save", css="sc-compare-save")
        self.save_button.disabled = True
        self.on(self.save_button, self.save_now, "Saving the comparison")
        self.confirm = Confirm(self)
        self._saved: str | None = None  # the result this panel saved last (its run's, or the button's)

        self.view = ComparisonView(self, lambda: self.comparison)
        view = self.view
        self.wer_table, self.chart, self.hits, self.order = view.wer_table, view.chart, view.hits, view.order
        self.prev_page, self.next_page, self.page_label = view.prev_page, view.next_page, view.page_label
        self.rows = view.rows
        self.results = widgets.VBox([
            heading("Scores"),
            self.wer_table,
            self.chart,
            hint("The sliders re-decode the cached acoustic model outputs of the LM systems (a background job of "
                 "seconds; the acoustic models do not run again), the utterances on screen first: LM alpha weighs "
                 "the custom LM, LM beta rewards each token (CTC heads only: a transducer's search has no such "
                 "bonus), Boost favours the custom words; a hybrid model decodes with either head. Tune on the dev "
                 "set searches them on transcribed audio other than the test set (the profile's dev set) and "
                 "sets them to the best."),
            self.head, self.lm_alpha, self.lm_beta, self.boost_alpha, self.weights_note,
            widgets.HBox([self.tune_button, self.save_button]),
            self.tune_view,
            self.decode_view,
            heading("Custom words"),
            self.hits,
            heading("Utterances"),
            widgets.HTML(diffview.legend_html()),
            widgets.HBox([self.order, self.prev_page, self.page_label, self.next_page]),
            *self.rows,
        ])
        self.results.layout.display = "none"

        self.children = [
            widgets.HTML(diffview.style_tag() + UPDATING_CSS),
            self.status,
            self.confirm,
            heading("Systems"),
            widgets.HBox(list(self.system_boxes.values())),
            widgets.HBox([self.lm, self.am]),
            heading("Test set"),
            widgets.HBox([self.test_set, self.limit]),
            self.test_note,
            self.audio_box,
            self.recording,
            widgets.HBox([self.run_button]),
            self.progress,
            self.results,
        ]
        self.refresh()
        self.test_chooser.show_test_set()

    # ------------------------------------------------------------------ listing

    def refresh(self) -> None:
        """Re-read LMs, AMs and audio from the workspace; tick the systems that became possible."""
        lms, ams = self.usable_language_models(), self.usable_acoustic_models()
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
        self.test_chooser.refresh()

    def systems(self) -> list[str]:
        """The ticked systems, in :data:`SYSTEMS` order."""
        return [name for name in SYSTEMS if self.system_boxes[name].value]

    def weights(self) -> DecodingWeights:
        from jupyter_speechcustom.asr.decoding import DecodingWeights

        return DecodingWeights(lm_alpha=float(self.lm_alpha.value), lm_beta=float(self.lm_beta.value),
                               boost_alpha=float(self.boost_alpha.value), head=self.head.value)

    def _enable_weights(self, enabled: bool) -> None:
        self.weight_controls.enable(enabled)

    def items(self) -> tuple[str, list[Utterance]]:
        """The chosen test set: its label and its utterances."""
        return self.test_chooser.items()

    # ------------------------------------------------------------------ running

    def run(self) -> Job | None:
        """Run the chosen systems on the test set (a workspace job).

        An LM system starts from the weights tuned for its LM and acoustic model when the panel
        has them; otherwise, with :attr:`auto_tune` and a dev set of the LM's own domain
        (:meth:`dev_set`), it tunes them when the comparison is done (:meth:`tune`); without one
        it keeps the defaults.
        """
        label, items = self.items()
        systems = self.systems()
        tuned = self._tuned_for(systems)
        if tuned is not None:
            self._set_sliders(tuned.best)
        job = self.workspace.compare(self.base, items, systems, label=label, lm_id=self.lm.value,
                                     am_id=self.am.value, weights=self.weights(), cache=self._cache)
        self.show(f"Comparing {', '.join(systems)} on {label} ({len(items)} utterances, job {job.id})…", "working")

        chosen = System.all(systems)
        models = [m for m, used in ((self.lm.value, any(s.lm for s in chosen)),
                                    (self.am.value, any(s.am for s in chosen))) if m and used]

        def done(j: Job) -> None:
            self._models = models
            self.comparison = j.result
            self._render()
            saved = self.save()
            self.show(f"{self._headline()} Saved as result {saved}.", "success")

        def ended(j: Job) -> None:  # after the comparison's busy state ends, so the tuning's holds
            if (j.status == "completed" and self.auto_tune and tuned is None
                    and any(System.parse(s).lm for s in systems) and self._has_own_dev_set()):
                self.tune()

        return self.watch(job, self.progress, done, doing="Comparing", always=ended)

    # ------------------------------------------------------------------ tuning

    def _tune_key(self, system: str) -> tuple[str, str | None, str | None]:
        return system, self.lm.value, self.am.value if System.parse(system).am else None

    def _tuned_for(self, systems: list[str]) -> TuneResult | None:
        """The cached tuning of the first LM system in ``systems`` (the one the sliders follow)."""
        lm_systems = [s for s in systems if System.parse(s).lm]
        return self._tuned.get(self._tune_key(lm_systems[0])) if lm_systems else None

    def _start_weights(self) -> None:
        """Move the sliders to where decoding with the chosen LM starts everywhere else (the
        weights tuned for it and saved with it, else the defaults) and say which."""
        from jupyter_speechcustom.asr.decoding import start_weights, tuned_weights, weights_provenance

        lm = self.workspace.language_model(self.lm.value) if self.lm.value else None
        self._set_sliders(start_weights(lm, self.base))
        if lm is None:
            self.weights_note.value = ""
        elif tuned_weights(lm, self.base) is None:
            self.weights_note.value = hint_html(
                "Default weights (this LM was never tuned): a hybrid's CTC head, LM alpha and beta that held "
                "across domains none of which chose them. Tune on the dev set to fit them to this domain.")
        else:
            self.weights_note.value = hint_html(
                f"The LM's {weights_provenance(lm, self.base)}, as transcribe, the service and Live use them.")

    def _set_sliders(self, weights: DecodingWeights) -> None:
        """Move the sliders without a re-decode per slider."""
        self._quiet = True
        try:
            self.weight_controls.set(weights)
        finally:
            self._quiet = False

    def dev_set(self) -> tuple[str, list[Utterance]]:
        """What :meth:`tune` tunes on: data of the chosen LM's own domain, never another's. The
        workspace's transcribed dev audio when it has some; else the profile's dev set when the LM
        was built from the profile's example corpus; else the transcribed workspace audio that is
        neither test audio nor in the current comparison's test set."""
        tested = {item.audio for item in self.comparison.items} if self.comparison is not None else set()
        own_dev = [r for r in self.workspace.audio("dev") if r.info.get("transcript") and str(r.path) not in tested]
        if own_dev:  # the workspace's own dev audio first: the user's domain
            return f"{len(own_dev)} workspace dev audio files", [
                Utterance(str(r.path), r.info.get("transcript"), title=r.name) for r in own_dev]
        items = dev_items(self.base)
        profile = self.base.profile
        lm = self.workspace.language_model(self.lm.value) if self.lm.value else None
        borrowed = borrowed_dev_set(self.base, lm) if lm is not None and items else None
        if items and profile is not None and borrowed is None:
            return f"{profile.name} {profile.dev_set}", items
        recs = [r for r in self.workspace.audio() if r.info.get("transcript") and str(r.path) not in tested
                and audio_role(r) != "test"]  # test audio scores, never tunes
        if recs:
            return f"{len(recs)} transcribed workspace audio files", [
                Utterance(str(r.path), r.info.get("transcript"), title=r.name) for r in recs]
        if borrowed is not None:
            raise InvalidOptionError(f"no dev set of this LM's domain: {borrowed}, and weights tuned on another "
                                     "domain would not fit yours. Add transcribed audio of your domain (other than "
                                     "the test set) in the Data tab, then tune; meanwhile the defaults apply")
        raise InvalidOptionError("tuning needs a dev set: this base model's profile has none, so add "
                                 "transcribed audio other than the test set in the Data tab")

    def _has_own_dev_set(self) -> bool:
        try:
            self.dev_set()
        except InvalidOptionError:
            return False
        return True

    def tune(self) -> Job | None:
        """Tune the LM systems' weights on the dev set (a light job), set the sliders to the best and
        re-decode. Weights already tuned for this LM and acoustic model are reused."""
        comparison = self.comparison
        if comparison is None:
            raise InvalidOptionError("run a comparison with a +LM system first")
        names = [s for s in comparison.systems if System.parse(s).lm]
        if not names:
            raise InvalidOptionError("tuning needs a +LM system: tick +LM or +AM+LM and compare first")
        keys = {name: self._tune_key(name) for name in names}
        if all(key in self._tuned for key in keys.values()):
            self._apply_tuning(comparison, {name: self._tuned[key] for name, key in keys.items()}, "the dev set")
            return None
        label, dev = self.dev_set()
        cache = self._cache

        def run(progress: Callable[[float, str], None], cancel: threading.Event) -> dict[str, TuneResult]:
            progress(0.0, f"tuning on {label} ({len(dev)} utterances)")
            return comparison.tune(dev, cache=cache, progress=progress, cancel=cancel, save=label)

        self.show(f"Tuning {', '.join(names)} on {label} ({len(dev)} utterances)…", "working")
        self._enable_weights(False)
        job = self.submit_light(run, kind="tune")

        def done(j: Job) -> None:
            results: dict[str, TuneResult] = j.result
            for name, result in results.items():
                self._tuned[keys[name]] = result
            if comparison is self.comparison:
                self._apply_tuning(comparison, results, label)

        def ended(_: Job) -> None:
            self._enable_weights(True)

        return self.watch(job, self.tune_view, done, doing="Tuning", always=ended)

    def _apply_tuning(self, comparison: Comparison, results: dict[str, TuneResult], label: str) -> None:
        """Set the sliders to the first LM system's best weights and re-decode with them."""
        first = next(name for name in comparison.systems if name in results)
        self._set_sliders(results[first].best)
        found = "; ".join(f"{name}: {weights_text(r.best)} (dev WER {diffview.percent(r.best_wer)}"
                          + (", the defaults: the dev set could not tell better ones)" if r.kept_defaults else ")")
                          for name, r in results.items())
        self.show(f"Tuned on {label}: {found}. The sliders hold {first}'s; re-decoding…", "working")
        self.redecode()

    @traitlets.observe("busy")
    def _busy_changed(self, change: dict[str, Any]) -> None:
        self.run_button.disabled = bool(change["new"])
        self.tune_button.disabled = bool(change["new"])

    def _headline(self) -> str:
        c = self.comparison
        if c is None:
            return ""
        if not c.evaluations:
            return (f"Transcribed {c.label} with {', '.join(c.systems)} "
                    f"(no reference: diffs are against {c.systems[0]}).")
        figures = ", ".join(f"{n} {diffview.percent(e.wer)}" for n, e in c.evaluations.items())
        tuned = self._tuned_for(c.systems)
        note = " (weights tuned on the dev set)" if tuned is not None and tuned.best == c.weights else ""
        return f"WER on {c.label}: {figures}{note}."

    def redecode(self) -> Job | None:
        """Re-decode the comparison with the sliders' weights (cached log-probs; a light job), the
        utterances on the current page first. A re-decode already running stops at its next step
        and this one follows it."""
        if self.comparison is None:
            return None
        self._pending = self.weights()
        if self._decoding:
            self._supersede.set()
            return None  # the running re-decode hands over to the latest weights when it ends
        return self._start_decode()

    def _start_decode(self) -> Job | None:
        comparison, weights = self.comparison, self._pending
        self._pending = None
        if comparison is None or weights is None:
            return None
        self._decoding = True
        self._supersede = stop = threading.Event()
        page = self.view.page_indices()
        self.view.render_scores(comparison, updating=(weights, len(comparison.items)))

        def first_shown(c: Comparison) -> None:  # in the job's thread: render on the kernel's
            self._main.call(self._render_first, c)

        def run(progress: Callable[[float, str], None], cancel: threading.Event) -> None:
            progress(0.0, f"re-decoding with {weights_text(weights)}, the {len(page)} utterances on screen first")
            comparison.decode(weights, first=page, on_first=first_shown, progress=progress, stop=stop)

        job = self.submit_light(run, kind="redecode")

        def done(_: Job) -> None:
            if comparison is self.comparison and not comparison.left:
                self._render(keep_page=True)
                self.show(self._headline(), "success")

        def ended(_: Job) -> None:
            self._decoding = False
            if self._pending is not None:
                self._start_decode()

        return self.watch(job, self.decode_view, done, doing="Re-decoding", busy=False, always=ended)

    def save(self, replace: str | None = None) -> str | None:
        """Store the current comparison (with its weights) as a new version of the workspace result
        ``compare <test set>`` (``replace``: the id of a result it replaces, deleted once the new one
        is saved); returns its label (``name vN (id)``)."""
        if self.comparison is None:
            self.show("Nothing to save yet: run a comparison first", "error")
            return None
        rec = self.workspace.add_result(f"compare {self.comparison.label}", self.comparison.to_dict(),
                                        sources=self._models)
        if replace is not None:
            with contextlib.suppress(RecordNotFoundError):
                self.workspace.delete(replace)
        self._saved = rec.id
        self.save_button.disabled = False
        return f"{rec.name!r} v{rec.version} ({rec.id})"

    def save_now(self) -> None:
        """The Save button: the comparison as it is now (after re-decoding, with the weights of the
        sliders), asking whether it replaces the result saved last or is kept beside it."""
        if self.comparison is None:
            self.show("Nothing to save yet: run a comparison first", "error")
            return
        try:
            last = self.workspace.get(self._saved) if self._saved else None
        except RecordNotFoundError:
            last = None
        if last is None:
            self.show(f"Saved as result {self.save()}: see Manage the workspace.", "success")
            return

        def saved(replace: str | None) -> None:
            label = self.save(replace)
            what = f"replaced {last.name!r} v{last.version}" if replace else "kept beside the earlier one"
            self.show(f"Saved as result {label} ({what}): see Manage the workspace.", "success")

        self.confirm.ask(f"Result {last.name!r} v{last.version} ({last.id}) holds this comparison as it was saved "
                         f"last: replace it with the comparison at {weights_text(self.weights())}, or keep both?",
                         {"Replace": lambda: saved(last.id), "Keep both": lambda: saved(None)},
                         doing="Saving the comparison")

    # ------------------------------------------------------------------ rendering

    @property
    def _order(self) -> list[int]:
        """The utterances in the order shown."""
        return self.view.shown

    def _render(self, keep_page: bool = False) -> None:
        if self.comparison is not None:
            self.view.render(keep_page)
            self.results.layout.display = ""

    def _render_first(self, c: Comparison) -> None:
        self.view.render_first(c)
