"""Word-aligned diffs as columns: several systems' alignments against one reference merged into
shared columns, and the columns cut into lines of even length for display."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

#: Characters of a diff's line (the longest word of each column, and a space), before it is cut.
DIFF_LINE_CHARS = 72


@dataclass(frozen=True)
class DiffColumn:
    """One aligned column of a diff: a reference word (or an insertion slot) and each system's cell.

    ``cells`` holds ``(op, text)`` per system, ``op`` one of ``equal``, ``substitute``,
    ``delete``, ``insert`` or ``gap`` (nothing there).
    """

    reference: str | None
    cells: tuple[tuple[str, str], ...]


def align_columns(reference: str, alignments: Sequence[Sequence[Any]]) -> list[DiffColumn]:
    """Merge several systems' word alignments against one reference into shared columns.

    Each alignment is a sequence of :class:`~jupyter_speechcustom.evaluation.metrics.AlignedWord`
    (or ``(op, ref, hyp)`` triples) of the same reference. Reference words line up in one
    column across systems; a system's insertions before reference word ``i`` go into an
    insertion column before it, shared by all systems.
    """
    ref_words = reference.split()
    n = len(ref_words)
    # per system: the cell at each reference position and the insertions before it (slot n: at the end)
    at: list[list[tuple[str, str]]] = []
    inserted: list[list[list[str]]] = []
    for steps in alignments:
        cells: list[tuple[str, str]] = [("gap", "")] * n
        ins: list[list[str]] = [[] for _ in range(n + 1)]
        r = 0
        for step in steps:
            op, ref, hyp = (step.op, step.ref, step.hyp) if hasattr(step, "op") else step
            if op == "insert":
                ins[min(r, n)].append(hyp or "")
            elif r < n:
                cells[r] = ("delete", ref or "") if op == "delete" else (op, hyp or "")
                r += 1
        at.append(cells)
        inserted.append(ins)
    columns = []
    for k in range(n + 1):
        if any(ins[k] for ins in inserted):
            columns.append(DiffColumn(None, tuple(("insert", " ".join(ins[k])) if ins[k] else ("gap", "")
                                                  for ins in inserted)))
        if k < n:
            columns.append(DiffColumn(ref_words[k], tuple(cells[k] for cells in at)))
    return columns


def diff_lines(columns: Sequence[DiffColumn], line_chars: int) -> list[list[DiffColumn]]:
    """``columns`` cut into lines of about ``line_chars`` characters, of even lengths, so that the
    last line is never one orphan word."""
    if not columns:
        return [[]]
    widths = [max(len(c.reference or ""), *(len(text) for _, text in c.cells), 1) + 1 for c in columns]
    count = max(1, math.ceil(sum(widths) / max(line_chars, 1)))
    target = sum(widths) / count
    lines: list[list[DiffColumn]] = [[]]
    used = 0.0
    for column, width in zip(columns, widths):
        if lines[-1] and used + width / 2 > target * len(lines) and len(lines) < count:
            lines.append([])
        lines[-1].append(column)
        used += width
    return lines
