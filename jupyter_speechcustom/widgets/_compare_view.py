"""The Compare panel's results: the WER table, chart and custom-word hits (marked stale while a
re-decode is under way) and the utterances' word-aligned diffs, in the order chosen, a page at a
time."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import ipywidgets as widgets

from jupyter_speechcustom.constants import STUDIO_UTTERANCES_PER_PAGE
from jupyter_speechcustom.evaluation import diffview
from jupyter_speechcustom.services.explorer import playable_audio
from jupyter_speechcustom.widgets._common import AudioSlot, Panel, button, player_audio

if TYPE_CHECKING:
    from jupyter_speechcustom.asr.decoding import DecodingWeights
    from jupyter_speechcustom.services.compare import Comparison

#: Scores and rows shown while a re-decode is under way.
UPDATING_CSS = """<style>
.sc-stale { opacity: 0.5; }
.sc-compare-updating, .sc-row-updated { margin: 2px 0; }
</style>"""


def weights_text(w: DecodingWeights) -> str:
    """Decoding weights as the panel shows them."""
    head = f", {'CTC' if w.head == 'ctc' else w.head} head" if w.head else ""
    return f"LM alpha {w.lm_alpha:.2f}, beta {w.lm_beta:.1f}, boost {w.boost_alpha:.1f}{head}"


class _UtteranceRow(widgets.VBox):
    """One utterance of the current page: its diff and its audio."""

    def __init__(self) -> None:
        self.diff = widgets.HTML()
        self.diff.add_class("sc-utterance")
        self.player = AudioSlot()
        self.audio: tuple[str, float | None, float | None] | None = None  # the utterance the player holds
        super().__init__([self.diff, self.player])
        self.layout.display = "none"


class ComparisonView:
    """The widgets that show a comparison (``current()``), and how they render it; the panel lays
    them out.

    Widgets: ``wer_table``, ``chart`` (Image), ``hits``, ``order`` (how the utterances are
    sorted), ``prev_page``, ``page_label``, ``next_page`` and ``rows`` (the utterances on the
    current page). ``shown`` is the utterances' order, ``page`` the current page.
    """

    def __init__(self, panel: Panel, current: Callable[[], Comparison | None]) -> None:
        self._current = current
        self.shown: list[int] = []
        self.page = 0
        self.wer_table = widgets.HTML()
        self.wer_table.add_class("sc-compare-wer")
        self.chart = widgets.Image(format="png", layout=widgets.Layout(display="none", max_width="560px"))
        self.chart.add_class("sc-compare-chart")
        self.hits = widgets.HTML()
        self.hits.add_class("sc-compare-hits")
        self.order = widgets.Dropdown(options=[("in order", "order"), ("where the systems differ", "differ"),
                                               ("largest gain first", "gain"), ("largest loss first", "loss")],
                                      value="order", description="Show", layout=widgets.Layout(width="280px"))
        panel.observe_value(self.order, lambda _: self.sort())
        self.prev_page = button("", icon="chevron-left", tooltip="previous page", width="40px")
        self.next_page = button("", icon="chevron-right", tooltip="next page", width="40px")
        self.page_label = widgets.Label()
        panel.on(self.prev_page, lambda: self.show_page(self.page - 1))
        panel.on(self.next_page, lambda: self.show_page(self.page + 1))
        self.rows = [_UtteranceRow() for _ in range(STUDIO_UTTERANCES_PER_PAGE)]

    def render(self, keep_page: bool = False) -> None:
        """Show the comparison: its scores, chart and utterances (on the same page with ``keep_page``)."""
        c = self._current()
        if c is None:
            return
        self.render_scores(c)
        if c.evaluations:
            self.chart.value = diffview.wer_chart_png(c.evaluations)
            self.chart.layout.display = ""
        else:
            self.chart.layout.display = "none"
        self.sort(keep_page=keep_page)

    def render_first(self, c: Comparison) -> None:
        """The first pass of a re-decode is done: its rows, and the scores marked as being updated."""
        if c is self._current():
            self.render_scores(c)
            self.show_page(self.page)

    def render_scores(self, c: Comparison, updating: tuple[DecodingWeights, int] | None = None) -> None:
        """The WER table and custom-word hits, marked stale while utterances are left to re-decode
        (``updating``: the weights and count left, before the comparison says so itself)."""
        if updating is None and c.left:
            updating = (c.target, len(c.left))
        caption = (f'<div class="sc-root sc-muted">{diffview.escape(c.label)} · {len(c.items)} utterances · '
                   f"{weights_text(c.weights)}</div>")
        stale = ""
        if updating is not None:
            target, left = updating
            caption += (f'<div class="sc-root sc-status sc-status-working sc-compare-updating">Updating: {left} of '
                        f"{len(c.items)} utterances left to re-decode with {weights_text(target)}; the scores "
                        f"below are for {weights_text(c.weights)} until then.</div>")
            stale = "sc-stale"
        if c.evaluations:
            self.wer_table.value = caption + f'<div class="{stale}">{diffview.wer_table_html(c.evaluations)}</div>'
            hits = diffview.term_hits_html(c.hits) if c.terms else (
                '<div class="sc-root sc-muted">no custom words: choose a custom LM with custom words</div>')
            self.hits.value = f'<div class="{stale}">{hits}</div>'
        else:
            self.wer_table.value = caption + ('<div class="sc-root sc-muted">No reference transcript: WER needs '
                                              "one. The diffs below compare each system with the first.</div>")
            self.hits.value = ""
        if stale:
            self.chart.add_class(stale)
        else:
            self.chart.remove_class("sc-stale")

    def sort(self, keep_page: bool = False) -> None:
        """Order the utterances as ``order`` says and show the first page (the same with ``keep_page``)."""
        c = self._current()
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
        self.shown = order
        self.show_page(self.page if keep_page else 0)

    def page_indices(self) -> list[int]:
        """The utterances on the current page."""
        size = len(self.rows)
        return self.shown[self.page * size : (self.page + 1) * size]

    def show_page(self, page: int) -> None:
        """Show page ``page`` of the utterances (kept within the pages there are)."""
        c = self._current()
        if c is None:
            return
        size = len(self.rows)
        pages = max(1, -(-len(self.shown) // size))
        self.page = min(max(page, 0), pages - 1)
        start = self.page * size
        updating = bool(c.left)
        for k, row in enumerate(self.rows):
            position = start + k
            if position >= len(self.shown):
                row.layout.display = "none"
                row.player.clear()
                row.audio = None
                continue
            index = self.shown[position]
            title, reference, scores, ref_label = c.utterance(index)
            note = (f'<div class="sc-root sc-muted sc-row-updated">Re-decoded with {weights_text(c.target)}; the '
                    "scores above follow when every utterance is.</div>" if updating and c.updated(index) else "")
            row.diff.value = note + diffview.utterance_html(title, reference, scores, reference_label=ref_label,
                                                            show_wer=c.has_references,
                                                            display=c.display_forms(index))
            item = c.items[index]
            if row.audio != item.key:  # the same utterance after a re-decode keeps its player
                row.player.load(*(player_audio(Path(item.audio)) if item.offset is None else playable_audio(item)))
                row.audio = item.key
            row.layout.display = ""
        shown = f"{start + 1}–{min(start + size, len(self.shown))} of {len(self.shown)}" if self.shown else "none"
        self.page_label.value = f"utterances {shown}"
        self.prev_page.disabled = self.page == 0
        self.next_page.disabled = self.page >= pages - 1
