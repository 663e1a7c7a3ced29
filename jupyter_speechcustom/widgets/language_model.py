"""The Language model panel: build a custom LM as a workspace job, inspect it, score a dev text."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import traitlets

from jupyter_speechcustom.asr.models import known_words_for
from jupyter_speechcustom.constants import (
    DEMO_MODEL_NAME,
    GENERAL_TEXT_WEIGHT,
    MAX_NUMBER_VARIANTS,
    NUMBER_VARIANTS,
    STUDIO_DEV_TEXT_LINES,
    STUDIO_PREVIEW_LINES,
)
from jupyter_speechcustom.evaluation import diffview
from jupyter_speechcustom.widgets._common import (
    LABELLED,
    Choice,
    JobView,
    Panel,
    button,
    heading,
    hint,
    set_options,
    wide,
)

if TYPE_CHECKING:
    from jupyter_speechcustom.asr.models import BaseModel
    from jupyter_speechcustom.jobs.runner import Job
    from jupyter_speechcustom.services.workspace import Workspace

__all__ = ["LanguageModelPanel"]


def _dev_text(base: BaseModel) -> str:
    """The transcripts of the base model profile's dev set, if it has one."""
    from jupyter_speechcustom.io.manifest import read_manifest

    profile = base.profile
    if profile is None or profile.dev_set is None:
        return ""
    try:
        entries = read_manifest(profile.example_set(profile.dev_set))
    except Exception:  # noqa: BLE001 - example data may be absent; the text box then starts empty
        return ""
    return "\n".join(e["text"] for e in entries[:STUDIO_DEV_TEXT_LINES] if e.get("text"))


class LanguageModelPanel(Panel):
    """Build custom language models from the workspace's corpora and custom words; inspect them.

    Args:
        workspace: a :class:`~jupyter_speechcustom.services.workspace.Workspace` or its folder.
        base: the base model (or its name or ``.nemo`` path) the LMs are built for.

    Children of note: ``corpora`` (SelectMultiple), ``words`` (Dropdown), ``name``,
    ``build_button``, ``progress`` (a job view), ``models`` (Dropdown of available LMs),
    ``details``, ``oov``, ``preview``, ``dev_text``, ``perplexity_button``, ``perplexity``.

    Traits:
        lm_id (Unicode or None, default None): the id of the LM shown (the latest built by default).
    """

    lm_id = traitlets.Unicode(None, allow_none=True, help="Id of the custom LM shown, or None.")

    def __init__(self, workspace: Workspace | str | Path, base: BaseModel | str | Path = DEMO_MODEL_NAME) -> None:
        super().__init__(workspace, base)
        self.add_class("sc-lm-panel")
        self._ppl: dict[str, float] = {}
        self._lists_seen = 0

        self.corpora = widgets.SelectMultiple(description="Corpora", style=LABELLED, options=[], rows=5, layout=wide())
        self.corpora.add_class("sc-lm-corpora")
        self.words = Choice(description="Custom words", style=LABELLED, options=[("none", None)],
                                      layout=wide())
        self.name = widgets.Text("custom-lm", description="Name", style=LABELLED, layout=wide())
        orders = [("auto", None)] + [(str(n), n) for n in range(3, 9)]
        self.order = Choice(description="Order", options=orders,
                                      layout=widgets.Layout(width="200px"))
        profile = self.base.profile
        has_general = profile is not None and profile.general_text is not None
        general: list[tuple[str, str | None]] = [("none", None)]
        if profile is not None and has_general:
            general.append((f"the {profile.name}'s general text", "base"))
        self.general = Choice(description="Mix in", style=LABELLED, options=general,
                                        value="base" if has_general else None, layout=wide())
        self.general_weight = widgets.FloatSlider(GENERAL_TEXT_WEIGHT, min=0.0, max=0.9, step=0.05,
                                                  description="General share", readout_format=".0%",
                                                  style={"description_width": "100px"}, layout=wide())
        self.number_variants = widgets.BoundedIntText(
            NUMBER_VARIANTS, min=0, max=MAX_NUMBER_VARIANTS, description="Number variants",
            style={"description_width": "110px"}, layout=widgets.Layout(width="190px"),
            tooltip="copies of each sentence with numbers, its number words drawn at random: the LM learns where "
                    "numbers go, not only the corpus's own (0: none)")
        self.build_button = button("Build language model", icon="cogs", style="primary", css="sc-lm-build")
        self.progress = JobView(cancellable=True)
        self.on(self.build_button, self.build, "Building the language model")

        self.models = Choice(description="Show", style=LABELLED, options=[("—", None)], layout=wide())
        self.models.add_class("sc-lm-models")
        self.details = widgets.HTML()
        self.details.add_class("sc-lm-details")
        self.oov = widgets.HTML()
        self.preview = widgets.HTML()
        self.observe_value(self.models, self._select, doing="Opening the language model")

        self.dev_text = widgets.Textarea(_dev_text(self.base),
                                         placeholder="dev text: sentences like those the recognizer will hear",
                                         layout=widgets.Layout(width="640px", height="110px"))
        self.perplexity_button = button("Perplexity", icon="calculator", css="sc-lm-perplexity")
        self.perplexity_progress = JobView(cancellable=False)
        self.perplexity = widgets.HTML()
        self.perplexity.add_class("sc-lm-perplexity-result")
        self.on(self.perplexity_button, self.score_dev_text, "Scoring the dev text")

        self.children = [
            widgets.HTML(diffview.style_tag()),
            self.status,
            heading("Build"),
            hint("A KenLM n-gram over the base model's tokens, from the chosen corpora and custom words. Mixing in "
                 "general text keeps general speech from getting worse; number variants teach it where the "
                 "domain's numbers go, not only the few the corpus names."),
            self.corpora,
            self.words,
            widgets.HBox([self.name, self.order, self.number_variants]),
            widgets.HBox([self.general, self.general_weight]),
            widgets.HBox([self.build_button]),
            self.progress,
            heading("Language models"),
            self.models,
            self.details,
            self.oov,
            self.preview,
            heading("Perplexity on a dev text"),
            hint("Lower is better: how surprised the LM is by text like what will be said. Compare LMs on the same "
                 "text."),
            self.dev_text,
            widgets.HBox([self.perplexity_button, self.perplexity_progress]),
            self.perplexity,
        ]
        self.refresh()

    # ------------------------------------------------------------------ listing

    def refresh(self) -> None:
        """Re-read corpora, word lists and LMs from the workspace."""
        ws = self.workspace
        corpora = [(f"{r.name} ({r.info.get('sentences', '?')} sentences)", r.id) for r in ws.corpora()]
        first = not self.corpora.options
        set_options(self.corpora, corpora)
        if first or not self.corpora.value:
            self.corpora.value = tuple(v for _, v in corpora)
        lists = [(f"{r.name} ({r.info.get('count', '?')} words)", r.id) for r in reversed(ws.word_lists())]
        set_options(self.words, [("none", None), *lists])
        if lists and len(lists) > self._lists_seen:  # a new list: use it (the newest first)
            self.words.value = lists[0][1]
        self._lists_seen = len(lists)
        self._list_models()

    def _list_models(self, select: str | None = None) -> None:
        models = self.usable_language_models()
        options = [("—", None), *[(f"{r.label} ({r.id})", r.id) for r in models]]
        current = select or self.models.value or (models[0].id if models else None)
        self.models.options = options
        self.models.value = current if current in [v for _, v in options] else None
        self._select(self.models.value)

    # ------------------------------------------------------------------ building

    def build(self) -> Job | None:
        """Start building an LM from the selected corpora and word list (a workspace job)."""
        corpus_ids = list(self.corpora.value)
        if not corpus_ids and self.words.value is None:
            self.show("Choose at least one corpus or a custom-words list (add them in the Data tab)", "error")
            return None
        options: dict[str, Any] = {}
        if self.order.value is not None:
            options["order"] = self.order.value
        options["number_variants"] = int(self.number_variants.value)
        options["general_text"] = self.general.value or "none"  # "none" spelled out: no choice means auto
        if self.general.value is not None:
            options["general_weight"] = float(self.general_weight.value)
        name = self.name.value.strip() or "custom-lm"
        job = self.workspace.build_language_model(self.base, corpus_ids, self.words.value, name=name, **options)
        self.build_button.disabled = True
        self.show(f"Building {name} from {len(corpus_ids)} corpora (job {job.id})…", "working")
        return self.watch(job, self.progress, self._built, doing="Building the language model")

    @traitlets.observe("busy")
    def _busy_changed(self, change: dict[str, Any]) -> None:
        self.build_button.disabled = bool(change["new"])

    def _built(self, job: Job) -> None:
        rec = job.result
        model_id = getattr(rec, "id", None) or (rec.get("id") if isinstance(rec, dict) else None)
        self._list_models(select=model_id)
        label = getattr(rec, "label", model_id)
        self.show(f"Built {label} ({model_id}).", "success")

    # ------------------------------------------------------------------ inspecting

    def _select(self, lm_id: str | None) -> None:
        self.lm_id = lm_id
        if lm_id is None:
            self.details.value = self.oov.value = self.preview.value = ""
            return
        rec = self.workspace.get(lm_id, "lm")
        lm = self.workspace.language_model(lm_id)
        meta = {**rec.info, "custom_words": len(lm.words), "tuning": lm.tuning}
        self.details.value = diffview.lm_summary_html(meta)
        known = known_words_for(self.base)
        counts: Counter[str] = Counter()
        corpus_ids = {r.id for r in self.workspace.corpora()}  # a deleted source simply no longer counts
        for source in rec.sources:
            if source in corpus_ids:
                counts.update(dict(self.workspace.corpus(source).oov(known)))
        self.oov.value = diffview.oov_summary_html(counts.most_common(), [w.word for w in lm.words])
        lines = []
        with lm.corpus_text.open(encoding="utf-8") as fh:
            for line in fh:
                lines.append(line.rstrip("\n"))
                if len(lines) >= STUDIO_PREVIEW_LINES:
                    break
        self.preview.value = diffview.preview_html(lines, "The normalized text it was trained on (first lines):")

    def score_dev_text(self) -> Job | None:
        """Perplexity of the dev text under the shown LM (a light job)."""
        lm_id = self.models.value
        if lm_id is None:
            self.show("Build or choose a language model first", "error")
            return None
        text = self.dev_text.value
        if not text.strip():
            self.show("Type or paste a dev text first: a few sentences like those the recognizer will hear", "error")
            return None
        lm = self.workspace.language_model(lm_id)
        label = self.workspace.get(lm_id, "lm").label
        base = self.base

        def run(progress: Any, cancel: Any) -> float:
            progress(0.1, "scoring")
            return lm.perplexity(text, base)

        job = self.submit_light(run, kind="perplexity")

        def done(j: Job) -> None:
            self._ppl[label] = float(j.result)
            rows = [(name, f"{value:,.1f}") for name, value in self._ppl.items()]
            self.perplexity.value = diffview.table_html(("language model", "perplexity per word"), rows,
                                                        numeric=(1,), classes="sc-ppl")
            self.show(f"Perplexity of the dev text under {label}: {j.result:,.1f}", "success")

        self.show(f"Scoring the dev text under {label}…", "working")
        return self.watch(job, self.perplexity_progress, done, doing="Scoring the dev text", busy=False)
