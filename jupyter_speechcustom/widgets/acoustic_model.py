"""The Acoustic model panel: pseudo-label, review, fine-tune with a live plot, check forgetting.

Training runs as a workspace job of kind ``studio_train_acoustic_model``: the workspace's
own training job plus what the panel needs, the reviewed pseudo-label table and a per-epoch
callback for the live plot. It is registered with the workspace, so ``ws.rerun(job_id)``
runs it again after a kernel restart (without the live plot).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import traitlets

from jupyter_speechcustom.constants import (
    CONFIDENCE_FLOOR,
    CONFIDENCE_KEEP_SHARE,
    CONFIDENCE_THRESHOLD,
    DEMO_MODEL_NAME,
    FINETUNE_EPOCHS,
    FINETUNE_LR,
    STUDIO_LABELS_PER_PAGE,
)
from jupyter_speechcustom.errors import InvalidOptionError
from jupyter_speechcustom.evaluation import diffview
from jupyter_speechcustom.store.index import audio_role
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
    hint_html,
    set_options,
    wide,
)

if TYPE_CHECKING:
    from jupyter_speechcustom.am.acoustic_model import EpochRecord, PseudoLabel
    from jupyter_speechcustom.asr.models import BaseModel
    from jupyter_speechcustom.jobs.runner import Job
    from jupyter_speechcustom.services.workspace import Workspace
    from jupyter_speechcustom.store.workspace import Record

__all__ = ["MODES", "AcousticModelPanel"]

MODES = ("supervised", "lightly-supervised", "unsupervised")
log = logging.getLogger(__name__)
_MODE_HINTS = {
    "supervised": "Supervised: trains on the transcripts stored with the audio (every file needs one).",
    "lightly-supervised": "Lightly supervised: the custom language model transcribes your untranscribed audio; "
                          "confident transcripts become the training labels. Review them before training.",
    "unsupervised": "Unsupervised: the base model alone transcribes the audio. Without a language model these "
                    "labels rarely teach it anything new: prefer lightly supervised.",
}


#: The dev-set choice that stands for the workspace's transcribed dev audio (read when training starts).
WORKSPACE_DEV = "workspace:dev"

_DEV_SOURCE_TEXT = {
    "dev set": "the dev set",
    "held-out transcripts": "10% of the transcribed training audio, held out",
    "held-out pseudo-labels": "10% of the pseudo-labelled training audio, held out (scored against its labels)",
}


def outcome_html(summary: dict[str, Any]) -> str:
    """Which model to use, why training stopped and which epoch was saved, from a training's summary.

    A base model that did better is a warning, never a success: the custom model is saved, but
    the user should know it is worse before choosing it.
    """
    reason = summary.get("recommended_reason") or ""
    if summary.get("recommended") == "base":
        verdict = diffview.status_html(f"Keep using the base model. {reason[:1].upper()}{reason[1:]}.", "warning")
    else:
        verdict = f'<div class="sc-root">Recommended: this custom model{f" ({reason})" if reason else ""}.</div>'
    saved = summary.get("saved_epoch")
    best = summary.get("best_epoch")
    source = summary.get("dev_source")
    if best is not None:
        kept = (f"epoch {best}, the lowest dev WER ({diffview.percent(summary.get('best_dev_wer'))}), "
                f"not necessarily the last")
    else:
        kept = f"epoch {saved}, the last (no dev set to choose the best one on)"
    dev = (f"{_DEV_SOURCE_TEXT.get(str(source), source)} ({summary.get('dev_utterances', 0)} utterances)"
           if source else "none: give a dev set, or train on 20 or more utterances so 10% can be held out")
    facts = diffview.key_value_html([("stopped", summary.get("stop_message") or "—"), ("saved", kept),
                                     ("dev set", dev)])
    return f'<div class="sc-am-outcome">{verdict}{facts}</div>'


# --------------------------------------------------------------------------- review table


class _LabelRow(widgets.HBox):
    """One row of the review table; shows ``index`` of the panel's labels."""

    def __init__(self) -> None:
        self.index = -1
        self.kept = widgets.Checkbox(False, indent=False, layout=widgets.Layout(width="28px"))
        self.kept.add_class("sc-label-kept")
        self.text = widgets.Text("", layout=widgets.Layout(width="480px"))
        self.text.add_class("sc-label-text")
        self.confidence = widgets.HTML(layout=widgets.Layout(width="44px"))
        self.source = widgets.HTML(layout=widgets.Layout(width="320px"))
        self.play = button("", icon="play", tooltip="listen", css="sc-label-play", width="36px")
        super().__init__([self.kept, self.text, self.confidence, self.source, self.play])
        self.add_class("sc-label-row")


class AcousticModelPanel(Panel):
    """Fine-tune the base model on the workspace's audio; review pseudo-labels; watch it train.

    Args:
        workspace: a :class:`~jupyter_speechcustom.services.workspace.Workspace` or its folder.
        base: the base model (or its name or ``.nemo`` path) to fine-tune.

    Children of note: ``audio`` (SelectMultiple: train audio only; ``held_back`` says how many dev
    and test files are left out), ``mode_buttons``, ``lm``, ``threshold``,
    ``name``, ``epochs``, ``learning_rate``, ``dev``, ``mix_general``, ``label_button``,
    ``label_rows`` (the review table's rows on the current page), ``train_button``,
    ``train_progress`` (with its cancel button), ``plot`` (Image), ``result``.

    Traits:
        mode (Unicode, default "lightly-supervised"): the training mode.
        am_id (Unicode or None, default None): the id of the latest acoustic model trained here.
    """

    mode = traitlets.Enum(MODES, default_value="lightly-supervised", help="Training mode.")
    am_id = traitlets.Unicode(None, allow_none=True, help="Id of the latest custom AM trained here, or None.")

    def __init__(self, workspace: Workspace | str | Path, base: BaseModel | str | Path = DEMO_MODEL_NAME) -> None:
        super().__init__(workspace, base)
        self.add_class("sc-am-panel")
        self.labels: list[PseudoLabel] = []
        self.history: list[Any] = []
        self.summary: dict[str, Any] | None = None
        self._names: dict[str, str] = {}
        self._order: list[int] = []
        self._page = 0
        self._labelled_for: tuple[Any, ...] | None = None

        self.audio = widgets.SelectMultiple(description="Audio", style=LABELLED, options=[], rows=7, layout=wide())
        self.audio.add_class("sc-am-audio")
        self.select_all = button("all", tooltip="select all audio")
        self.select_untranscribed = button("untranscribed")
        self.select_transcribed = button("transcribed")
        self.on(self.select_all, lambda: self._select_audio(lambda r: True))
        self.on(self.select_untranscribed, lambda: self._select_audio(lambda r: not r.info.get("transcript")))
        self.on(self.select_transcribed, lambda: self._select_audio(lambda r: bool(r.info.get("transcript"))))
        self.held_back = widgets.HTML()
        self.held_back.add_class("sc-am-held-back")

        self.mode_buttons = widgets.ToggleButtons(options=MODES, value=self.mode,
                                                  tooltips=["audio with transcripts",
                                                            "untranscribed audio labelled with a custom LM",
                                                            "untranscribed audio labelled by the base model"])
        self.mode_buttons.add_class("sc-am-mode")
        self.mode_hint = hint(_MODE_HINTS[self.mode])
        traitlets.link((self.mode_buttons, "value"), (self, "mode"))
        self.lm = Choice(description="Custom LM", style=LABELLED, options=[("none", None)], layout=wide())
        self.threshold = widgets.FloatSlider(
            CONFIDENCE_THRESHOLD, min=0.0, max=1.0, step=0.01, description="Confidence ≥", style=LABELLED,
            layout=wide(), tooltip="Keep pseudo-labels at or above this confidence: the share of their words that "
            "survive re-decoding with a stronger language model, times their posterior against the model's median "
            "on the same audio. One threshold suits every model.")
        # Calibrated on the audio being labelled (the toolkit's default), unless the user sets the bar.
        self.calibrate = widgets.Checkbox(True, description="calibrate on this audio", indent=False,
                                          layout=widgets.Layout(width="200px"),
                                          tooltip=f"keep the most confident {CONFIDENCE_KEEP_SHARE:.0%} of the labels "
                                                  f"(at least those of confidence {CONFIDENCE_THRESHOLD:g}), none "
                                                  f"below {CONFIDENCE_FLOOR:g}")
        self.calibrate.add_class("sc-am-calibrate")
        self.observe_value(self.calibrate, lambda _: self._mode_changed())
        self.name = widgets.Text("custom-am", description="Name", style=LABELLED, layout=wide())
        self.epochs = widgets.BoundedIntText(FINETUNE_EPOCHS, min=1, max=500, description="Epochs",
                                             style={"description_width": "60px"},
                                             layout=widgets.Layout(width="180px"))
        self.learning_rate = widgets.BoundedFloatText(FINETUNE_LR, min=1e-6, max=1.0, step=1e-4,
                                                      description="Learning rate", style={"description_width": "90px"},
                                                      layout=widgets.Layout(width="210px"))
        profile = self.base.profile
        self.dev = Choice(description="Dev set", style=LABELLED, options=self._dev_options(), layout=wide())
        self._dev_default: str | None = self.dev.value  # moved to the workspace's dev audio until the user chooses
        has_general = profile is not None and profile.general_speech is not None
        self.mix_general = widgets.Checkbox(has_general, description="mix in general speech (against "
                                            "forgetting)", indent=False, disabled=not has_general)
        self.mix_general.add_class("sc-am-mix")

        self.label_button = button("1. Pseudo-label", icon="tags", css="sc-am-label")
        self.label_progress = JobView(cancellable=True)
        self.on(self.label_button, self.pseudo_label, "Pseudo-labelling")
        self.review_summary = widgets.HTML()
        self.label_rows = [_LabelRow() for _ in range(STUDIO_LABELS_PER_PAGE)]
        for row in self.label_rows:
            row.kept.observe(self.guard(lambda change, r=row: self._edit(r, kept=change["new"])), names="value")
            row.text.observe(self.guard(lambda change, r=row: self._edit(r, text=change["new"])), names="value")
            row.play.on_click(self.guard(lambda _, r=row: self._play(r), "Playing"))
        self.prev_page = button("", icon="chevron-left", tooltip="previous page", width="40px")
        self.next_page = button("", icon="chevron-right", tooltip="next page", width="40px")
        self.page_label = widgets.Label()
        self.sort = widgets.Dropdown(options=[("in order", "order"), ("least confident first", "confidence")],
                                     value="order", layout=widgets.Layout(width="190px"))
        self.apply_threshold = button("Keep rows above the threshold", icon="filter")
        self.on(self.prev_page, lambda: self._show_page(self._page - 1))
        self.on(self.next_page, lambda: self._show_page(self._page + 1))
        self.observe_value(self.sort, lambda _: self._sort_rows())
        self.on(self.apply_threshold, self._apply_threshold)
        self.player = AudioSlot(autoplay=True)
        self.review = widgets.VBox([
            self.review_summary,
            widgets.HBox([self.prev_page, self.page_label, self.next_page, self.sort, self.apply_threshold]),
            widgets.HTML('<div class="sc-root sc-muted" style="margin-left:32px">keep · label (edit it) · '
                         "confidence · audio</div>"),
            *self.label_rows,
            self.player,
        ])
        self.review.layout.display = "none"
        self.review.add_class("sc-am-review")

        self.train_button = button("2. Train", icon="play", style="primary", css="sc-am-train")
        self.train_progress = JobView(cancellable=True)
        self.on(self.train_button, self.train, "Training")
        self.plot = widgets.Image(format="png", layout=widgets.Layout(display="none", max_width="640px"))
        self.plot.add_class("sc-am-plot")
        self.result = widgets.HTML()
        self.result.add_class("sc-am-result")

        self.observe_value(self.mode_buttons, lambda _: self._mode_changed())
        for w in (self.audio, self.lm):
            self.observe_value(w, lambda _: self._invalidate())

        self.children = [
            widgets.HTML(diffview.style_tag()),
            self.status,
            heading("Training audio"),
            widgets.HBox([self.audio, widgets.VBox([widgets.Label("select:"), self.select_all,
                                                    self.select_untranscribed, self.select_transcribed])]),
            self.held_back,
            heading("Mode"),
            self.mode_buttons,
            self.mode_hint,
            widgets.HBox([self.lm, self.threshold, self.calibrate]),
            widgets.HBox([self.label_button]),
            self.label_progress,
            self.review,
            heading("Training"),
            widgets.HBox([self.name, self.epochs, self.learning_rate]),
            widgets.HBox([self.dev, self.mix_general]),
            widgets.HBox([self.train_button]),
            self.train_progress,
            self.plot,
            self.result,
        ]
        self.refresh()
        self._mode_changed()

    # ------------------------------------------------------------------ listing

    def refresh(self) -> None:
        """Re-read audio and LMs from the workspace: only train audio is offered for training."""
        audio = self.workspace.audio()
        set_options(self.audio, [(audio_label(r), r.id) for r in audio if audio_role(r) == "train"])
        roles = [audio_role(r) for r in audio]
        dev, test = roles.count("dev"), roles.count("test")
        dev_ready = len(self._workspace_dev())
        self.held_back.value = hint_html(
            f"Held back from training: {dev} dev and {test} test audio file(s) (set roles in the Data tab). "
            + (f"The {dev_ready} transcribed dev file(s) are the dev set that picks the epoch saved."
               if dev_ready else "Dev audio with transcripts would pick the epoch saved.")
            + (" Test audio is for the Compare tab." if test else "")) if dev or test else ""
        set_options(self.dev, self._dev_options(), keep=True)
        if dev_ready and self.dev.value == self._dev_default:  # not chosen by the user: the workspace's own
            self.dev.value = self._dev_default = WORKSPACE_DEV
        lms = self.usable_language_models()
        set_options(self.lm, [("none", None), *[(f"{r.label} ({r.id})", r.id) for r in lms]], keep=True)
        if self.lm.value is None and lms:
            self.lm.value = lms[0].id

    def _workspace_dev(self) -> list[Record]:
        return [r for r in self.workspace.audio("dev") if r.info.get("transcript")]

    def _dev_options(self) -> list[tuple[str, str | None]]:
        options: list[tuple[str, str | None]] = [("hold out 10% of the training audio", None)]
        profile = self.base.profile
        if profile is not None and profile.dev_set is not None:
            options.insert(0, (f"the {profile.name}'s {profile.dev_set} set", str(profile.example_set(profile.dev_set))))
        dev = self._workspace_dev()
        if dev:
            options.insert(0, (f"the workspace's dev audio ({len(dev)} transcribed files)", WORKSPACE_DEV))
        return options

    def _select_audio(self, keep: Callable[[Record], bool]) -> None:
        ids = {r.id for r in self.workspace.audio("train") if keep(r)}
        self.audio.value = tuple(v for _, v in self.audio.options if v in ids)

    def _mode_changed(self) -> None:
        labelled = self.mode != "supervised"
        self.label_button.disabled = not labelled or self.busy
        self.lm.disabled = self.mode != "lightly-supervised"
        self.threshold.disabled = not labelled or (self.calibrate.value and not self.labels)
        self.calibrate.disabled = not labelled
        self.mode_hint.value = hint_html(_MODE_HINTS[self.mode])
        self._invalidate()

    def _invalidate(self) -> None:
        key = (tuple(self.audio.value), self.mode, self.lm.value)
        if self._labelled_for is not None and key != self._labelled_for:
            self.labels = []
            self._labelled_for = None
            self.review.layout.display = "none"

    @traitlets.observe("busy")
    def _busy_changed(self, change: dict[str, Any]) -> None:
        self.train_button.disabled = bool(change["new"])
        self.label_button.disabled = bool(change["new"]) or self.mode == "supervised"

    # ------------------------------------------------------------------ pseudo-labels

    def _params(self) -> dict[str, Any]:
        audio_ids = list(self.audio.value)
        if not audio_ids:
            raise InvalidOptionError("choose the training audio first (add audio in the Data tab)")
        lm_id = self.lm.value if self.mode == "lightly-supervised" else None
        if self.mode == "lightly-supervised" and lm_id is None:
            raise InvalidOptionError("lightly supervised training needs a custom language model: build one in the "
                                     "Language model tab, or choose unsupervised")
        threshold = None if self.calibrate.value else float(self.threshold.value)
        return {"audio_ids": audio_ids, "mode": self.mode, "lm_id": lm_id, "threshold": threshold}

    def pseudo_label(self) -> Job | None:
        """Transcribe the selected audio for review (a workspace job)."""
        if self.mode == "supervised":
            self.show("Supervised training uses the transcripts stored with the audio: no pseudo-labels", "error")
            return None
        params = self._params()
        key = (tuple(params["audio_ids"]), self.mode, params["lm_id"])
        job = self.workspace.pseudo_label(self.base, params["audio_ids"], lm_id=params["lm_id"],
                                          threshold=params["threshold"])
        self.show(f"Pseudo-labelling {len(params['audio_ids'])} audio files (job {job.id})…", "working")

        def done(j: Job) -> None:
            from jupyter_speechcustom.am.acoustic_model import PseudoLabel, calibrated_threshold

            rows = [r if isinstance(r, PseudoLabel) else PseudoLabel.from_dict(r) for r in j.result["labels"]]
            bar = f"{self.threshold.value:g}"
            if params["threshold"] is None:  # the bar calibrated on this audio, on the slider to adjust
                self.threshold.value = calibrated_threshold([r.confidence for r in rows if r.text.strip()])
                bar = f"{self.threshold.value:g}, calibrated on this audio"
            self.set_labels(rows, j.result.get("names", {}))
            self.threshold.disabled = False
            self._labelled_for = key
            skipped = j.result.get("skipped") or []
            note = f" Skipped {len(skipped)} file(s): {'; '.join(r for _, r in skipped[:3])}." if skipped else ""
            kept = sum(r.kept for r in self.labels)
            self.show(f"{kept} of {len(self.labels)} utterances are confident enough to keep (confidence {bar} or "
                      f"more). Review the labels, then train.{note}", "success")

        return self.watch(job, self.label_progress, done, doing="Pseudo-labelling")

    def set_labels(self, rows: Sequence[Any], names: dict[str, str] | None = None) -> None:
        """Show a pseudo-label table (``PseudoLabel`` objects or dicts) for review."""
        from jupyter_speechcustom.am.acoustic_model import PseudoLabel

        self.labels = [r if isinstance(r, PseudoLabel) else PseudoLabel.from_dict(r) for r in rows]
        self._names = dict(names or {})
        self._sort_rows()
        self.review.layout.display = ""

    def _sort_rows(self) -> None:
        order = list(range(len(self.labels)))
        if self.sort.value == "confidence":
            order.sort(key=lambda i: self.labels[i].confidence)
        self._order = order
        self._show_page(0)

    def _show_page(self, page: int) -> None:
        size = len(self.label_rows)
        pages = max(1, -(-len(self._order) // size))
        self._page = min(max(page, 0), pages - 1)
        start = self._page * size
        for k, row in enumerate(self.label_rows):
            position = start + k
            if position >= len(self._order):
                row.index = -1
                row.layout.display = "none"
                continue
            row.index = self._order[position]
            label = self.labels[row.index]
            row.kept.value = bool(label.kept)
            row.text.value = label.text
            colour = "sc-better" if label.confidence >= self.threshold.value else "sc-worse"
            row.confidence.value = (f'<span class="sc-root {colour}">'
                                    f"{diffview.confidence_text(label.confidence)}</span>")
            name = self._names.get(label.audio_filepath, Path(label.audio_filepath).name)
            row.source.value = (f'<div class="sc-root sc-muted sc-ellipsis" title="{diffview.escape(name)}">'
                                f"{label.duration:.1f} s · {diffview.escape(name)}</div>")
            row.layout.display = ""
        self.page_label.value = f"page {self._page + 1} of {pages}"
        self.prev_page.disabled = self._page == 0
        self.next_page.disabled = self._page >= pages - 1
        self._summarize()

    def _summarize(self) -> None:
        self.review_summary.value = diffview.pseudo_label_summary_html(self.labels, float(self.threshold.value))

    def _edit(self, row: _LabelRow, *, kept: bool | None = None, text: str | None = None) -> None:
        if not 0 <= row.index < len(self.labels):
            return
        label = self.labels[row.index]
        if kept is not None and label.kept != kept:
            label.kept = kept
            self._summarize()
        if text is not None:
            label.text = " ".join(text.split())

    def _apply_threshold(self) -> None:
        for label in self.labels:
            label.kept = bool(label.text.strip()) and label.confidence >= self.threshold.value
        self._show_page(self._page)

    def _play(self, row: _LabelRow) -> None:
        if not 0 <= row.index < len(self.labels):
            return
        self.player.load(Path(self.labels[row.index].audio_filepath).read_bytes(), "wav")

    # ------------------------------------------------------------------ training

    def train(self) -> Job | None:
        """Start fine-tuning (a workspace job); the plot and progress update live."""
        params = self._params()
        reviewed = self.mode != "supervised" and bool(self.labels)
        if reviewed and not any(r.kept and r.text.strip() for r in self.labels):
            self.show("No pseudo-label is kept: tick some rows in the table or lower the threshold", "error")
            return None
        options: dict[str, Any] = {
            "epochs": int(self.epochs.value),
            "learning_rate": float(self.learning_rate.value),
            "confidence_threshold": params["threshold"],
            "dev": self.dev.value if self.dev.value != WORKSPACE_DEV else self.workspace.audio_manifest(
                [r.id for r in self._workspace_dev() if r.id not in params["audio_ids"]]) or None,
            "general": "auto" if self.mix_general.value else None,
        }
        name = self.name.value.strip() or "custom-am"
        labels = [asdict(r) for r in self.labels] if reviewed else None
        self.history = []
        self.summary = None
        self.result.value = ""
        self.plot.value = diffview.training_plot_png([])
        self.plot.layout.display = ""

        def on_epoch(record: EpochRecord) -> None:  # worker thread: trait updates only
            self.history.append(record)
            try:
                self.plot.value = diffview.training_plot_png(self.history)
            except Exception:
                log.warning("could not draw the training plot", exc_info=True)

        job = self.workspace.train_acoustic_model(self.base, params["audio_ids"], mode=self.mode, lm_id=params["lm_id"],
                                                  name=name, labels=labels, on_epoch=on_epoch, **options)
        assert job.model_id is not None
        model = self.workspace.get(job.model_id)
        what = "reviewed pseudo-labels" if reviewed else f"{len(params['audio_ids'])} audio files"
        self.show(f"Training {model.label} ({self.mode}) on {what} (job {job.id})…", "working")

        def done(j: Job) -> None:
            summary = dict(j.result)
            self.summary = summary
            self.am_id = model.id
            self.workspace.add_result(f"{model.label} training", summary)
            self.result.value = outcome_html(summary) + diffview.training_summary_html(summary)
            if summary.get("history"):
                self.plot.value = diffview.training_plot_png(summary["history"])
            stopped = summary.get("stop_message") or "done"
            if summary.get("recommended") == "base":
                self.show(f"Trained {model.label} ({model.id}), {stopped}, but the base model is better: keep using "
                          "it (the custom model is saved so you can inspect it; see below).", "warning")
            else:
                self.show(f"Trained {model.label} ({model.id}), {stopped}: compare it in the Compare tab.", "success")

        def ended(j: Job) -> None:
            if j.status == "cancelled":  # say when: the epochs the plot shows, and that nothing was kept
                finished = sum(1 for h in self.history if h.epoch > 0)
                self.show(f"Training was cancelled after {finished} of {options['epochs']} epochs; no model was "
                          "saved and the base model is unchanged.", "info")

        return self.watch(job, self.train_progress, done, doing="Training", always=ended)
