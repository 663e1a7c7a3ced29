"""The Explore panel: look at an audio set before and after customizing.

A view over :mod:`jupyter_speechcustom.services.explorer`: choose a set (an example set of the
base model's profile, the workspace's audio, or a NeMo manifest), read its statistics and
duration histogram, transcribe it with the base model or a customized system of the workspace
(+LM, +AM, +AM+LM, as Compare names them; a light job; the acoustic outputs are
cached), then page through its utterances, filtered by text, WER or duration and sorted, and
look at one utterance's waveform and spectrogram while listening to it.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import traitlets

from jupyter_speechcustom.asr.models import known_words_for
from jupyter_speechcustom.constants import DEMO_MODEL_NAME
from jupyter_speechcustom.errors import InvalidOptionError
from jupyter_speechcustom.evaluation import diffview
from jupyter_speechcustom.services import explorer
from jupyter_speechcustom.services.explorer import AudioSet, ExplorerRow
from jupyter_speechcustom.widgets._common import (
    LABELLED,
    AudioSlot,
    Choice,
    JobView,
    Panel,
    button,
    heading,
    hint,
    hint_html,
    set_options,
    wide,
)
from jupyter_speechcustom.widgets._rows import RowTable

if TYPE_CHECKING:
    from jupyter_speechcustom.asr.models import BaseModel
    from jupyter_speechcustom.jobs.runner import Job
    from jupyter_speechcustom.services.compare import AcousticCache
    from jupyter_speechcustom.services.workspace import Workspace

__all__ = ["ExplorerPanel"]

#: Utterances per page of the table.
ROWS_PER_PAGE = 15

#: Sort choices: label, (key, descending).
_SORTS: dict[str, tuple[str, tuple[explorer.SortKey, bool]]] = {
    "index": ("in order", ("index", False)),
    "wer-desc": ("highest WER first", ("wer", True)),
    "wer": ("lowest WER first", ("wer", False)),
    "cer-desc": ("highest CER first", ("cer", True)),
    "duration-desc": ("longest first", ("duration", True)),
    "duration": ("shortest first", ("duration", False)),
    "reference": ("reference A–Z", ("reference", False)),
}


def _seconds(value: float) -> str:
    return f"{value:.1f} s"


class ExplorerPanel(Panel):
    """Statistics, transcripts, scores and plots of an audio set.

    Args:
        workspace: a :class:`~jupyter_speechcustom.services.workspace.Workspace` or its folder.
        base: the base model (or its name or ``.nemo`` path): OOV words are words it does not know,
            and it transcribes the set.

    Children of note: ``source`` (the set chooser: the workspace's audio when it has some, else the
    profile's first example set, said so in the status), ``manifest_path`` and ``open_button`` (for a
    manifest), ``stats`` (HTML), ``histogram`` (Image), ``oov``, ``transcribe_button``,
    ``progress`` (its job), ``search``, ``regex``, ``search_in``, ``wer_range``,
    ``duration_range``, ``sort``, ``table`` (the current page), ``prev_page``, ``next_page``,
    ``utterance`` (which one to show), ``plot`` (waveform and spectrogram), ``player``, ``detail``.

    Traits:
        audio_set (Instance of AudioSet or None): the set shown, with the chosen system's transcripts
            once transcribed.
        selected (Int or None): the index (in the set) of the utterance shown, or None.
    """

    audio_set = traitlets.Instance(AudioSet, allow_none=True, help="The set shown, or None.")
    selected = traitlets.Int(None, allow_none=True, help="Index of the utterance shown, or None.")

    def __init__(self, workspace: Workspace | str | Path, base: BaseModel | str | Path = DEMO_MODEL_NAME) -> None:
        super().__init__(workspace, base)
        self.add_class("sc-explore-panel")
        self._cache: AcousticCache = {}
        self._known: frozenset[str] | None = None
        self._rows: list[ExplorerRow] = []  # the filtered, sorted utterances
        self._page = 0
        self._quiet = False  # True while the panel itself sets the filters

        profile = self.base.profile
        sets = [(f"{profile.name} {name}", f"profile:{name}") for name in explorer.example_sets(self.base)] \
            if profile else []
        sets += [("workspace audio (all)", "workspace"), ("workspace audio (transcribed)", "workspace:transcribed"),
                 ("a NeMo manifest…", "manifest")]
        # The workspace's own audio first; a profile's example set only when chosen, or when the workspace has none.
        own = bool(self.workspace.audio()) or not profile
        self.source = widgets.Dropdown(description="Audio set", style=LABELLED, options=sets,
                                       value="workspace" if own else sets[0][1], layout=wide())
        self._auto_source = True  # follows the workspace's audio until the user picks a set
        self._setting_source = False
        self.source.add_class("sc-explore-source")
        self.manifest_path = widgets.Text("", placeholder="path/to/manifest.json", description="Manifest",
                                          style=LABELLED, layout=wide())
        self.manifest_path.add_class("sc-explore-manifest")
        self.open_button = button("Open", icon="folder-open", css="sc-explore-open")
        self.manifest_row = widgets.HBox([self.manifest_path, self.open_button])
        self.manifest_row.layout.display = "none"
        self.observe_value(self.source, self._source_changed, doing="Opening the audio set")
        self.on(self.open_button, self.open_set, "Opening the audio set")

        self.stats = widgets.HTML()
        self.stats.add_class("sc-explore-stats")
        self.histogram = widgets.Image(format="png", layout=widgets.Layout(display="none", max_width="520px"))
        self.histogram.add_class("sc-explore-histogram")
        self.oov = widgets.HTML()
        self.oov.add_class("sc-explore-oov")

        # The system that transcribes: the base model, or the workspace's custom LM and/or AM (Compare's systems).
        self.lm = Choice(description="Custom LM", style=LABELLED, options=[("none", None)], layout=wide())
        self.lm.add_class("sc-explore-lm")
        self.am = Choice(description="Custom AM", style=LABELLED, options=[("none", None)], layout=wide())
        self.am.add_class("sc-explore-am")
        self.transcribe_button = button("Transcribe", icon="play", style="primary",
                                        css="sc-explore-transcribe",
                                        tooltip="run the chosen system (the base model, + custom LM, + custom AM) "
                                                "over the set (a background job), then show each utterance's "
                                                "transcript, WER and CER")
        self.progress = JobView(cancellable=True)
        self.on(self.transcribe_button, self.transcribe, "Transcribing")

        self.search = widgets.Text("", placeholder="text or regular expression; Enter to search",
                                   description="Search", style=LABELLED, continuous_update=False, layout=wide())
        self.search.add_class("sc-explore-search")
        self.regex = widgets.Checkbox(False, description="regex", indent=False, layout=widgets.Layout(width="70px"))
        self.search_in = widgets.Dropdown(options=[("in either", "either"), ("in references", "reference"),
                                                   ("in transcripts", "hypothesis")], value="either",
                                          layout=widgets.Layout(width="140px"))
        self.wer_range = widgets.FloatRangeSlider(value=(0.0, 1.0), min=0.0, max=1.0, step=0.05, description="WER",
                                                  style=LABELLED, readout_format=".0%", continuous_update=False,
                                                  layout=wide())
        self.wer_range.add_class("sc-explore-wer")
        self.duration_range = widgets.FloatRangeSlider(value=(0.0, 1.0), min=0.0, max=1.0, step=0.1,
                                                       description="Duration (s)", style=LABELLED,
                                                       readout_format=".1f", continuous_update=False, layout=wide())
        self.duration_range.add_class("sc-explore-duration")
        self.sort = widgets.Dropdown(options=[(label, key) for key, (label, _) in _SORTS.items()], value="index",
                                     description="Sort", style=LABELLED, layout=wide())
        self.sort.add_class("sc-explore-sort")
        for control in (self.search, self.regex, self.search_in, self.wer_range, self.duration_range, self.sort):
            self.observe_value(control, lambda _: None if self._quiet else self.apply_filters(), doing="Filtering")

        self.table = RowTable(ROWS_PER_PAGE, 7, self.guard(self.select, "Showing the utterance"),
                              css="sc-explore-table")
        self.prev_page = button("", icon="chevron-left", tooltip="previous page", width="40px", css="sc-explore-prev")
        self.next_page = button("", icon="chevron-right", tooltip="next page", width="40px", css="sc-explore-next")
        self.page_label = widgets.Label()
        self.on(self.prev_page, lambda: self.show_page(self._page - 1))
        self.on(self.next_page, lambda: self.show_page(self._page + 1))

        self.choose_hint = hint("Click an utterance's number in the table to see and hear it.")
        self.detail = widgets.HTML()
        self.detail.add_class("sc-explore-detail")
        self.plot = widgets.Image(format="png", layout=widgets.Layout(display="none", max_width="720px"))
        self.plot.add_class("sc-explore-plot")
        self.player = AudioSlot(width="420px")

        self.children = [
            widgets.HTML(diffview.style_tag()),
            self.status,
            hint("Look at an audio set before and after customizing: its hours, durations, words and the words the "
                 "base model does not know (OOV), then each utterance with a system's transcript and errors: the "
                 "base model, or with a custom LM and/or AM of the workspace (none: the base model)."),
            self.source,
            self.manifest_row,
            heading("Statistics"),
            widgets.HBox([self.stats, self.histogram]),
            self.oov,
            widgets.HBox([self.lm, self.am]),
            widgets.HBox([self.transcribe_button, self.progress]),
            heading("Utterances"),
            widgets.HBox([self.search, self.regex, self.search_in]),
            self.wer_range,
            self.duration_range,
            self.sort,
            self.table,
            widgets.HBox([self.prev_page, self.page_label, self.next_page]),
            heading("One utterance"),
            self.choose_hint,
            self.detail,
            self.plot,
            self.player,
        ]
        self._refresh_models()
        self._setting_source = True
        try:
            self.guard(self._source_changed, "Opening the audio set")(self.source.value)  # errors shown, not raised
        finally:
            self._setting_source = False

    # ------------------------------------------------------------------ choosing a set

    def _source_changed(self, kind: str) -> None:
        if not self._setting_source:
            self._auto_source = False
        self.manifest_row.layout.display = "" if kind == "manifest" else "none"
        if kind == "manifest":
            if self.manifest_path.value.strip():
                self.open_set()
            else:
                self.show("Type the path of a NeMo manifest (JSON lines with audio_filepath, duration, text), "
                          "then press Open.", "info")
            return
        self.open_set()

    def load_set(self) -> AudioSet:
        """The chosen set, read afresh (without transcripts)."""
        kind = self.source.value
        if kind.startswith("profile:"):
            return explorer.profile_set(self.base, kind.split(":", 1)[1])
        if kind.startswith("workspace"):
            return explorer.workspace_set(self.workspace, transcribed_only=kind.endswith(":transcribed"))
        path = self.manifest_path.value.strip()
        if not path:
            raise InvalidOptionError("type the path of a NeMo manifest first (or choose another audio set)")
        return explorer.manifest_set(path)

    def open_set(self) -> AudioSet:
        """Read the chosen set and show its statistics and utterances."""
        audio_set = self.load_set()
        self.show_set(audio_set)
        note = "" if len(audio_set) else " It has no audio: add some in the Data tab, or choose another set."
        if self.source.value.startswith("profile:") and self._auto_source:
            note += (" The workspace has no audio yet, so this is the base model's example set, not your data: add "
                     "your audio in the Data tab.")
        self.show(f"Opened {audio_set.label}: {len(audio_set)} utterances.{note}",
                  "success" if len(audio_set) else "info")
        return audio_set

    def show_set(self, audio_set: AudioSet) -> None:
        """Show ``audio_set``: statistics, histogram, filters reset to its ranges, the first page."""
        if self._known is None:
            self._known = known_words_for(self.base)
        self.audio_set = audio_set
        self._render_statistics()
        self._quiet = True
        try:
            longest = max((u.duration for u in audio_set.utterances), default=0.0)
            top = max(math.ceil(longest * 10) / 10, 0.1)
            self.duration_range.min = 0.0  # widen first: a range outside the old bounds would be clipped
            self.duration_range.max = max(top, self.duration_range.max)
            self.duration_range.value = (0.0, top)
            self.duration_range.max = top
            self._reset_wer_range()
        finally:
            self._quiet = False
        self.selected = None
        self.detail.value = ""
        self.plot.layout.display = "none"
        self.player.clear()
        self.apply_filters()

    def _reset_wer_range(self) -> None:
        audio_set = self.audio_set
        wers = [u.wer for u in audio_set.utterances if u.wer is not None] if audio_set else []
        top = max(1.0, math.ceil(max(wers, default=0.0) * 20) / 20)
        self.wer_range.max = max(top, self.wer_range.max)
        self.wer_range.value = (0.0, top)
        self.wer_range.max = top
        self.wer_range.disabled = not wers

    def _render_statistics(self) -> None:
        audio_set = self.audio_set
        if audio_set is None:
            return
        stats = explorer.statistics(audio_set, self._known or frozenset())
        self.stats.value = (f'<div class="sc-root sc-muted">{diffview.escape(audio_set.label)}</div>'
                            + diffview.key_value_html(stats.rows()))
        self.histogram.value = explorer.duration_histogram_png(audio_set)
        self.histogram.layout.display = ""
        if stats.words:
            self.oov.value = (f'<div class="sc-root"><b>Most frequent OOV words</b> of the references: '
                              f"{diffview.chips_html(stats.top_oov, total=stats.oov_words)}</div>")
        else:
            self.oov.value = hint_html("No references: word figures and WER need transcripts.")

    # ------------------------------------------------------------------ transcribing

    def transcribe(self) -> Job | None:
        """Transcribe the set with the chosen system (a light job), then show transcripts and scores."""
        audio_set = self.audio_set
        if audio_set is None or not len(audio_set):
            raise InvalidOptionError("the set has no audio to transcribe: choose another set, or add audio in "
                                     "the Data tab")
        base, cache, ws = self.base, self._cache, self.workspace
        lm_id, am_id = self.lm.value, self.am.value
        system = explorer.system_name(lm=lm_id is not None, am=am_id is not None)
        what = "the base model" if system == "base" else \
            f"{system} ({', '.join(c.label for c in (self.lm, self.am) if c.value is not None)})"

        def run(progress: Callable[[float, str], None], cancel: threading.Event) -> AudioSet:
            lm = ws.language_model(lm_id) if lm_id else None
            am = ws.acoustic_model(am_id) if am_id else None
            return explorer.transcribe(base, audio_set, lm=lm, am=am, cache=cache, progress=progress, cancel=cancel)

        self.show(f"Transcribing {audio_set.label} ({len(audio_set)} utterances) with {what}…", "working")
        job = self.submit_light(run, kind="explore-transcribe")

        def done(j: Job) -> None:
            if self.audio_set is not audio_set:  # another set was opened meanwhile
                self.show(f"Transcribed {audio_set.label}, but another set is open now: transcribe it again.",
                          "info")
                return
            self.audio_set = j.result
            self._render_statistics()
            self._quiet = True
            try:
                self._reset_wer_range()
            finally:
                self._quiet = False
            self.apply_filters(keep_page=True)
            stats = explorer.statistics(j.result, self._known or frozenset())
            scored = (f": WER {diffview.percent(stats.wer)}, CER {diffview.percent(stats.cer)}"
                      if stats.wer is not None else " (no references, so no WER)")
            decoding = ""
            if lm_id:
                from jupyter_speechcustom.asr.decoding import weights_provenance

                decoding = f" Decoded with the LM's {weights_provenance(ws.language_model(lm_id), base)}."
            self.show(f"Transcribed {audio_set.label} with {what}{scored}.{decoding}", "success")

        return self.watch(job, self.progress, done, doing="Transcribing")

    @traitlets.observe("busy")
    def _busy_changed(self, change: dict[str, Any]) -> None:
        self.transcribe_button.disabled = bool(change["new"])
        self.lm.disabled = self.am.disabled = bool(change["new"])
        self.source.disabled = bool(change["new"])
        self.open_button.disabled = bool(change["new"])

    # ------------------------------------------------------------------ filtering and paging

    def filtered(self) -> list[ExplorerRow]:
        """The utterances that pass the filters, in the chosen order."""
        audio_set = self.audio_set
        if audio_set is None:
            return []
        key, descending = _SORTS[self.sort.value][1]
        low, high = self.wer_range.value
        wer = None if self.wer_range.disabled or (low <= 0 and high >= self.wer_range.max) else (low, high)
        dlow, dhigh = self.duration_range.value
        duration = None if dlow <= 0 and dhigh >= self.duration_range.max else (dlow, dhigh)
        return explorer.select(audio_set, text=self.search.value.strip(), regex=bool(self.regex.value),
                               where=self.search_in.value, wer=wer, duration=duration, sort=key,
                               descending=descending)

    def apply_filters(self, keep_page: bool = False) -> None:
        """Re-filter and re-sort the utterances, then show a page."""
        self._rows = self.filtered()
        self.show_page(self._page if keep_page else 0)

    def show_page(self, page: int) -> None:
        """Show page ``page`` (from 0) of the filtered utterances."""
        rows = self._rows
        pages = max(1, -(-len(rows) // ROWS_PER_PAGE))
        self._page = min(max(page, 0), pages - 1)
        start = self._page * ROWS_PER_PAGE
        shown = rows[start : start + ROWS_PER_PAGE]
        self._render_table()
        self.page_label.value = (f"utterances {start + 1}–{start + len(shown)} of {len(rows)}" if rows else "none")
        self.prev_page.disabled = self._page == 0
        self.next_page.disabled = self._page >= pages - 1

    def _render_table(self) -> None:
        """The current page of the table, the utterance shown marked."""
        audio_set = self.audio_set
        rows = self._rows
        start = self._page * ROWS_PER_PAGE
        shown = rows[start : start + ROWS_PER_PAGE]
        transcribed = audio_set is not None and audio_set.transcribed
        system = audio_set.system if audio_set is not None else None
        header = ["#", "utterance", "duration", "reference"]
        widths = ["auto", "minmax(8em, 1fr)", "auto", "minmax(12em, 2fr)"]
        if transcribed:
            header += [f"{system} transcript", "WER", "CER"]
            widths += ["minmax(12em, 2fr)", "auto", "auto"]
        cells = []
        for u in shown:
            row = [u.title, _seconds(u.duration), u.reference or "—"]
            if transcribed:
                row += [u.hypothesis or "—", diffview.percent(u.wer), diffview.percent(u.cer)]
            cells.append((u.index, str(u.index + 1), row))
        total = len(audio_set) if audio_set is not None else 0
        self.table.show(header, cells, numeric=(0, 2, 5, 6), widths=widths, chosen=self.selected,
                        caption=f'<div class="sc-root sc-muted">{len(rows)} of {total} utterances</div>',
                        empty="no utterances match the filters" if total else "no audio in this set")

    # ------------------------------------------------------------------ one utterance

    def select(self, index: int) -> ExplorerRow:
        """Show utterance ``index`` of the set: its texts and errors, waveform, spectrogram and player."""
        audio_set = self.audio_set
        if audio_set is None or not 0 <= index < len(audio_set):
            raise InvalidOptionError(f"no utterance {index} in the set: choose one from the table")
        utt = audio_set.utterances[index]
        self.selected = index
        self.detail.value = self._detail_html(utt)
        self.plot.value = explorer.utterance_plot_png(utt, rate=self.base.sample_rate)
        self.plot.layout.display = ""
        self.player.load(*explorer.playable_audio(utt))
        self.table.choose(index)
        return utt

    def _detail_html(self, utt: ExplorerRow) -> str:
        if utt.hypothesis is not None and utt.has_reference:
            from jupyter_speechcustom.evaluation.metrics import evaluate

            score = evaluate([utt.reference or ""], [utt.hypothesis]).utterances[0]
            return (diffview.utterance_html(f"{utt.index + 1}. {utt.title} ({_seconds(utt.duration)}, "
                                            f"CER {diffview.percent(utt.cer)})", utt.reference or "",
                                            {"base": score}) + diffview.legend_html())
        rows = [("utterance", f"{utt.index + 1}. {utt.title}"), ("duration", _seconds(utt.duration)),
                ("reference", utt.reference or "—")]
        if utt.hypothesis is not None:
            rows.append((f"{self.audio_set.system if self.audio_set else 'base'} transcript", utt.hypothesis or "—"))
        return diffview.key_value_html(rows)

    def _refresh_models(self) -> None:
        set_options(self.lm, [("none", None), *[(f"{r.label} ({r.id})", r.id) for r in self.usable_language_models()]])
        set_options(self.am, [("none", None), *[(f"{r.label} ({r.id})", r.id) for r in self.usable_acoustic_models()]])

    def refresh(self) -> None:
        """Re-read the workspace's models, and its audio when the tab is shown again and its files have changed."""
        audio_set = self.audio_set
        if self.busy:
            return
        self._refresh_models()
        if self._auto_source and self.source.value.startswith("profile:") and self.workspace.audio():
            self._setting_source = True  # audio was added since: the workspace's own, as for a new panel
            try:
                self.source.value = "workspace"
            finally:
                self._setting_source = False
            return
        if not self.source.value.startswith("workspace"):
            return
        fresh = self.load_set()
        if audio_set is None or [u.audio for u in fresh.utterances] != [u.audio for u in audio_set.utterances] or \
                [u.reference for u in fresh.utterances] != [u.reference for u in audio_set.utterances]:
            self.show_set(fresh)
