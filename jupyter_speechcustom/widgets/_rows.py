"""A table whose rows can be clicked: a page of rows as widgets, each row a button and its cells.

An :class:`~ipywidgets.HTML` table cannot tell the kernel which row was clicked, so
:class:`RowTable` lays a page out as a CSS grid of widgets: the first cell of each row is a
button that chooses the row, the others are HTML cells. It holds a fixed number of row slots
made once and refilled on every page, so paging and filtering create no widgets.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from html import escape, unescape
from typing import Any

import ipywidgets as widgets

__all__ = ["RowTable"]

#: The grid's look, close to :mod:`~jupyter_speechcustom.evaluation.diffview`'s tables.
CSS = """<style>
.sc-rows { column-gap: 0; margin: 4px 0 8px 0; }
.sc-rows .sc-rows-cell { padding: 3px 10px; margin: 0; border-bottom: 1px solid var(--jp-border-color2, #ddd);
  font-family: var(--jp-ui-font-family, system-ui, sans-serif); font-size: var(--jp-ui-font-size1, 13px);
  line-height: 1.45; overflow-wrap: anywhere; }
.sc-rows .sc-rows-cell .widget-html-content { line-height: 1.45; }
.sc-rows .sc-rows-head { font-weight: 600; border-bottom: 2px solid var(--jp-border-color1, #bbb); }
.sc-rows .sc-rows-num { text-align: right; font-variant-numeric: tabular-nums; }
.sc-rows .sc-row-button { margin: 1px 4px; min-width: 3em; }
.sc-rows .sc-rows-chosen { font-weight: 600; background: var(--jp-layout-color2, #eee); }
</style>"""


class RowTable(widgets.VBox):
    """Up to ``size`` rows of ``columns`` cells, with a header; clicking a row's button calls ``on_choose(key)``.

    Args:
        size: the most rows shown at once (a page).
        columns: the most columns, the button's included.
        on_choose: called with the key of the row whose button was clicked.
        css: a class for the table, as a test hook.

    Attributes:
        buttons: the row buttons, one per slot (those past the rows shown are hidden).
        row_keys: the key of each row shown, in order.
    """

    def __init__(self, size: int, columns: int, on_choose: Callable[[Any], Any], *, css: str = "") -> None:
        self._columns = columns
        self._on_choose = on_choose
        self.row_keys: list[Hashable] = []
        self._chosen: Hashable | None = None
        self.caption = widgets.HTML()
        self.empty = widgets.HTML()
        self.head = [self._cell("sc-rows-head") for _ in range(columns)]
        self.buttons: list[widgets.Button] = []
        self.holders: list[widgets.Box] = []  # each row's first cell: its button
        self.cells: list[list[widgets.HTML]] = []  # each row's other cells
        for slot in range(size):
            b = widgets.Button(layout=widgets.Layout(width="auto"))
            b.add_class("sc-row-button")
            b.on_click(lambda _, slot=slot: self._clicked(slot))
            holder = widgets.Box([b])  # the button's cell: it carries the row's border and marking
            holder.add_class("sc-rows-cell")
            self.buttons.append(b)
            self.holders.append(holder)
            self.cells.append([self._cell() for _ in range(columns - 1)])
        slots = [c for holder, row in zip(self.holders, self.cells, strict=True) for c in (holder, *row)]
        self.grid = widgets.GridBox([*self.head, *slots])
        self.grid.add_class("sc-rows")
        super().__init__([widgets.HTML(CSS), self.caption, self.grid, self.empty])
        if css:
            self.add_class(css)

    @staticmethod
    def _cell(extra: str = "") -> widgets.HTML:
        cell = widgets.HTML()
        cell.add_class("sc-rows-cell")
        if extra:
            cell.add_class(extra)
        return cell

    def _clicked(self, slot: int) -> None:
        if slot < len(self.row_keys):
            self._on_choose(self.row_keys[slot])

    def show(
        self,
        header: Sequence[str],
        rows: Sequence[tuple[Hashable, str, Sequence[str]]],
        *,
        numeric: Sequence[int] = (),
        widths: Sequence[str] = (),
        caption: str = "",
        empty: str = "nothing to show",
        chosen: Hashable | None = None,
    ) -> None:
        """Show ``rows``: each ``(key, button label, cells)``, the cells as text after the button.

        ``header`` names the columns (the button's first); ``numeric`` columns are right-aligned;
        ``widths`` are CSS grid track sizes, one per column; the row whose key is ``chosen`` is marked.
        """
        n = len(header)
        if not 0 < n <= self._columns:
            raise ValueError(f"a table of this panel has 1 to {self._columns} columns, not {n}")
        if len(rows) > len(self.buttons):
            raise ValueError(f"at most {len(self.buttons)} rows at once, not {len(rows)}: show a page")
        self.row_keys = [key for key, _, _ in rows]
        self.caption.value = caption
        self.grid.layout.grid_template_columns = " ".join(widths) if widths else " ".join(["auto"] * n)
        self.grid.layout.display = "" if rows else "none"
        self.empty.value = "" if rows else f'<div class="sc-root sc-muted">{escape(empty)}</div>'
        for i, cell in enumerate(self.head):
            cell.value = escape(header[i]) if i < n else ""
            cell.layout.display = "" if i < n else "none"
            _toggle(cell, "sc-rows-num", i in numeric)
        for slot, (b, holder, cells) in enumerate(zip(self.buttons, self.holders, self.cells, strict=True)):
            shown = slot < len(rows)
            if shown:
                _, label, values = rows[slot]
                b.description = label
                b.tooltip = f"show {label}"
                for i, cell in enumerate(cells, start=1):
                    cell.value = escape(values[i - 1]) if i < n else ""
            for i, widget in enumerate((holder, *cells)):
                widget.layout.display = "" if shown and i < n else "none"
                _toggle(widget, "sc-rows-num", i in numeric)
        self.choose(chosen)

    def choose(self, key: Hashable | None) -> None:
        """Mark the row whose key is ``key`` (none: ``None``)."""
        self._chosen = key
        for slot, (holder, cells) in enumerate(zip(self.holders, self.cells, strict=True)):
            marked = key is not None and slot < len(self.row_keys) and self.row_keys[slot] == key
            for widget in (holder, *cells):
                _toggle(widget, "sc-rows-chosen", marked)

    @property
    def chosen(self) -> Hashable | None:
        """The key of the row marked, or ``None``."""
        return self._chosen

    def texts(self) -> list[list[str]]:
        """The rows shown as text: the button's label, then the cells (for tests and reports)."""
        n = sum(1 for cell in self.head if cell.layout.display != "none")
        return [[self.buttons[slot].description, *(unescape(c.value) for c in self.cells[slot][: n - 1])]
                for slot in range(len(self.row_keys))]


def _toggle(widget: widgets.DOMWidget, css: str, on: bool) -> None:
    (widget.add_class if on else widget.remove_class)(css)  # each is a no-op when nothing changes
