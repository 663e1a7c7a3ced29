"""HTML and PNG renderings of what the toolkit measures: word-aligned diffs, WER tables, plots.

Pure functions from results (:mod:`~jupyter_speechcustom.evaluation.metrics` objects, workspace
record fields, plain dicts) to HTML strings or PNG bytes, with no widget and no IPython in
sight, so the Studio's widgets and a standalone HTML report render the same things. Every
fragment uses the classes styled by :data:`CSS` (include :func:`style_tag` once per page);
colours follow JupyterLab's theme variables when present and fall back to light colours.

The diffs' columns come from :mod:`~jupyter_speechcustom.evaluation.alignment`, the PNG figures
from :mod:`~jupyter_speechcustom.evaluation.figures` (re-exported here).

Diff classes: ``sc-diff`` (a diff), ``sc-col`` (one aligned column), ``sc-ref`` (reference
word), ``sc-eq`` (correct), ``sc-sub`` (substitution), ``sc-del`` (deletion, the missed
reference word struck through), ``sc-ins`` (insertion).
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from jupyter_speechcustom.evaluation._fields import field_of
from jupyter_speechcustom.evaluation.alignment import DIFF_LINE_CHARS, DiffColumn, align_columns, diff_lines
from jupyter_speechcustom.evaluation.figures import (
    term_hits_chart_png,
    term_hits_figure,
    training_plot_figure,
    training_plot_png,
    wer_chart_png,
)

__all__ = [
    "CSS",
    "DiffColumn",
    "align_columns",
    "audio_table_html",
    "chips_html",
    "comparison_html",
    "confidence_text",
    "corpus_stats_html",
    "diff_html",
    "escape",
    "key_value_html",
    "legend_html",
    "lm_summary_html",
    "oov_summary_html",
    "percent",
    "preview_html",
    "pseudo_label_summary_html",
    "status_html",
    "style_tag",
    "table_html",
    "term_hits_chart_png",
    "term_hits_figure",
    "term_hits_html",
    "training_plot_figure",
    "training_plot_png",
    "training_summary_html",
    "utterance_html",
    "wer_chart_png",
    "wer_table_html",
]

#: Styles for every fragment of this module; JupyterLab theme variables with light fallbacks.
CSS = """
.sc-root { font-family: var(--jp-ui-font-family, system-ui, sans-serif); font-size: var(--jp-ui-font-size1, 13px);
  color: var(--jp-ui-font-color1, #222); line-height: 1.45; }
.sc-muted { color: var(--jp-ui-font-color2, #666); }
.sc-ellipsis { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.sc-status { padding: 4px 10px; border-radius: 4px; border-left: 4px solid transparent; margin: 2px 0;
  overflow-wrap: anywhere; }
.sc-status-area { width: 100%; box-sizing: border-box; }
/* The recording clock's text changes length on Stop: a fixed width keeps the form beside it in place. */
.sc-record-clock { width: 300px !important; flex: 0 0 300px !important; white-space: normal; }
.sc-status-info { border-left-color: var(--jp-brand-color1, #1976d2); background: rgba(25, 118, 210, 0.08); }
.sc-status-working { border-left-color: var(--jp-warn-color1, #f57c00); background: rgba(245, 124, 0, 0.08); }
.sc-status-warning { border-left-color: var(--jp-warn-color1, #f57c00); background: rgba(245, 124, 0, 0.14); }
.sc-status-success { border-left-color: var(--jp-success-color1, #388e3c); background: rgba(56, 142, 60, 0.10); }
.sc-status-error { border-left-color: var(--jp-error-color1, #d32f2f); background: rgba(211, 47, 47, 0.10);
  white-space: pre-wrap; }
.sc-table { border-collapse: collapse; margin: 4px 0 8px 0; }
.sc-table th, .sc-table td { padding: 3px 10px; border-bottom: 1px solid var(--jp-border-color2, #ddd);
  text-align: left; vertical-align: top; }
.sc-table th { font-weight: 600; border-bottom: 2px solid var(--jp-border-color1, #bbb); }
.sc-table td.sc-num, .sc-table th.sc-num { text-align: right; font-variant-numeric: tabular-nums; }
.sc-table tr.sc-best td { font-weight: 600; }
.sc-better { color: var(--jp-success-color1, #2e7d32); }
.sc-worse { color: var(--jp-error-color1, #c62828); }
.sc-chip { display: inline-block; padding: 0 6px; margin: 1px 2px; border-radius: 8px;
  background: var(--jp-layout-color2, #eee); font-family: var(--jp-code-font-family, monospace); font-size: 90%; }
.sc-pre { font-family: var(--jp-code-font-family, monospace); font-size: 90%; white-space: pre-wrap;
  background: var(--jp-layout-color2, #f5f5f5); padding: 6px 8px; border-radius: 4px; max-height: 20em;
  overflow-y: auto; margin: 4px 0; }
.sc-utt { border-top: 1px solid var(--jp-border-color2, #ddd); padding: 6px 0 2px 0; }
.sc-utt-head { font-weight: 600; margin-bottom: 2px; }
.sc-utt-head .sc-chip { font-weight: normal; }
.sc-diff { display: flex; flex-direction: column; row-gap: 6px;
  font-family: var(--jp-code-font-family, monospace); font-size: 95%; }
.sc-diff-line { display: flex; flex-wrap: nowrap; align-items: flex-start; overflow-x: auto; }
.sc-col { display: inline-flex; flex-direction: column; margin-right: 6px; }
.sc-col > span { display: block; min-height: 1.45em; white-space: nowrap; padding: 0 2px; border-radius: 3px; }
.sc-labels > span { font-family: var(--jp-ui-font-family, sans-serif); color: var(--jp-ui-font-color2, #666);
  font-size: 90%; padding-right: 8px; }
.sc-ref { color: var(--jp-ui-font-color1, #222); font-weight: 600; }
.sc-eq { color: var(--jp-ui-font-color2, #555); }
.sc-sub { background: rgba(255, 160, 0, 0.28); }
.sc-del { background: rgba(229, 57, 53, 0.22); text-decoration: line-through; }
.sc-ins { background: rgba(67, 160, 71, 0.25); }
.sc-gap { color: transparent; }
.sc-legend span { margin-right: 10px; padding: 0 4px; border-radius: 3px; }
"""


def style_tag() -> str:
    """``<style>`` with :data:`CSS`: include it once where these fragments are shown."""
    return f"<style>{CSS}</style>"


def escape(value: Any) -> str:
    """HTML-escaped text of ``value`` (None as an empty string)."""
    return "" if value is None else html.escape(str(value), quote=True)


def confidence_text(value: float, digits: int = 2) -> str:
    """A confidence (0-1) with ``digits`` decimals, cut rather than rounded: 0.6987 is "0.69", so a
    confidence shown as 0.70 always passes a threshold of 0.70, and one below it never looks as if it
    should."""
    scale = 10**digits
    return f"{math.floor(value * scale + 1e-9) / scale:.{digits}f}"


def percent(value: float | None, digits: int = 1) -> str:
    """``0.1234`` -> ``"12.3%"``; None and NaN as an em dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{100 * value:.{digits}f}%"



# --------------------------------------------------------------------------- generic


_STATUS_KINDS = ("info", "working", "success", "warning", "error")


def status_html(message: str, kind: str = "info") -> str:
    """A status line: ``kind`` is ``info``, ``working``, ``success``, ``warning`` (done, but not as hoped) or
    ``error``."""
    if kind not in _STATUS_KINDS:
        raise ValueError(f"kind must be one of {', '.join(_STATUS_KINDS)}, got {kind!r}")
    if not message:
        return ""
    return f'<div class="sc-root sc-status sc-status-{kind}">{escape(message)}</div>'


def table_html(
    header: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    numeric: Iterable[int] = (),
    raw: Iterable[int] = (),
    row_classes: Sequence[str] | None = None,
    classes: str = "",
    empty: str = "nothing yet",
    head: bool = True,
) -> str:
    """A table. Cells are escaped except in the ``raw`` columns (already HTML); ``numeric``
    columns are right-aligned."""
    numeric, raw = set(numeric), set(raw)
    rows = list(rows)
    if not rows:
        return f'<div class="sc-root sc-muted">{escape(empty)}</div>'
    cells_head = "".join(f'<th class="sc-num">{escape(h)}</th>' if i in numeric else f"<th>{escape(h)}</th>"
                         for i, h in enumerate(header))
    body = []
    for n, row in enumerate(rows):
        cells = []
        for i, cell in enumerate(row):
            content = str(cell) if i in raw else escape(cell)
            cells.append(f'<td class="sc-num">{content}</td>' if i in numeric else f"<td>{content}</td>")
        cls = f' class="{escape(row_classes[n])}"' if row_classes and row_classes[n] else ""
        body.append(f"<tr{cls}>{''.join(cells)}</tr>")
    thead = f"<thead><tr>{cells_head}</tr></thead>" if head else ""
    return f'<table class="sc-root sc-table {escape(classes)}">{thead}<tbody>{"".join(body)}</tbody></table>'


def key_value_html(items: Iterable[tuple[str, Any]]) -> str:
    """A two-column table of labelled values."""
    return table_html(("", ""), [(k, v) for k, v in items], classes="sc-kv", head=False)


def chips_html(words: Iterable[Any], limit: int = 30, *, total: int | None = None) -> str:
    """Words (or ``(word, count)`` pairs) as small chips; the rest counted (``total``: how many there
    are in all, when ``words`` is only the first of them)."""
    words = list(words)
    total = max(len(words), total or 0)
    shown = []
    for item in words[:limit]:
        if isinstance(item, (tuple, list)) and len(item) == 2:
            shown.append(f'<span class="sc-chip" title="{escape(item[1])} times">{escape(item[0])} '
                         f'<span class="sc-muted">×{escape(item[1])}</span></span>')
        else:
            shown.append(f'<span class="sc-chip">{escape(item)}</span>')
    left = total - len(shown)
    more = f' <span class="sc-muted">… and {left:,} more</span>' if left > 0 else ""
    return "".join(shown) + more if shown else '<span class="sc-muted">none</span>'


def preview_html(lines: Sequence[str], title: str | None = None) -> str:
    """Text lines in a scrollable monospace box."""
    head = f'<div class="sc-root sc-muted">{escape(title)}</div>' if title else ""
    return f'{head}<div class="sc-root sc-pre">{escape(chr(10).join(lines))}</div>'


# --------------------------------------------------------------------------- data


def corpus_stats_html(summaries: Sequence[Mapping[str, Any]], oov_limit: int = 12) -> str:
    """Per-corpus statistics (``Corpus.summary()`` or a corpus record's ``info``) with OOV words."""
    rows = []
    for s in summaries:
        rows.append((
            s.get("name", ""),
            f"{s.get('sentences', 0):,}",
            f"{s.get('words', 0):,}",
            f"{s.get('distinct_words', 0):,}",
            f"{s.get('oov_count', 0):,}",
            chips_html(s.get("top_oov", ()), limit=oov_limit, total=s.get("oov_count")),
        ))
    return table_html(("corpus", "sentences", "words", "distinct", "OOV words", "most frequent OOV words"), rows,
                      numeric=(1, 2, 3, 4), raw=(5,), classes="sc-corpora", empty="no corpora yet")


def audio_table_html(rows: Sequence[Mapping[str, Any]], *, max_height: str = "16em") -> str:
    """Audio files (``name``, ``duration`` in seconds, ``transcript``, ``id``) with their count
    and total duration, in a scrollable box."""
    total = sum(float(r.get("duration") or 0) for r in rows)
    length = f"{total / 60:.1f} min" if total >= 60 else f"{total:.1f} s"
    files = "1 audio file" if len(rows) == 1 else f"{len(rows)} audio files"
    body = table_html(
        ("audio", "duration", "transcript", "id"),
        [(r.get("name", ""), f"{r['duration']:.1f} s" if isinstance(r.get("duration"), (int, float)) else "?",
          r.get("transcript") or "—", r.get("id", "")) for r in rows],
        numeric=(1,), classes="sc-audio", empty="no audio yet")
    return (f'<div class="sc-root sc-muted">{files}, {length}</div>'
            f'<div style="max-height:{escape(max_height)};overflow-y:auto">{body}</div>')


def oov_summary_html(oov: Sequence[tuple[str, int]], custom_words: Sequence[str], *, limit: int = 24) -> str:
    """A language model's out-of-vocabulary words (``oov``: the words of its corpora the base model does
    not know, as every OOV count of the toolkit), those no custom word covers first, and its custom words."""
    custom = set(custom_words)
    missing = [(w, n) for w, n in oov if w not in custom]
    covered = len(oov) - len(missing)
    return (f'<div class="sc-root" style="margin-bottom:6px"><b>OOV words</b> of its corpora ({len(oov)}, '
            f"{covered} of them custom words); the {len(missing)} that are not custom words: "
            f"{chips_html(missing, limit)}</div>"
            f'<div class="sc-root"><b>Custom words</b> ({len(custom_words)}, {covered} of them OOV in the corpora): '
            f"{chips_html(list(custom_words), limit)}</div>")


def _number_variants_item(variants: Any) -> list[tuple[str, str]]:
    """The LM's number variants (``lm.json``'s ``number_variants``), for an LM built with the field."""
    if not isinstance(variants, Mapping):
        return []
    if not variants.get("per_sentence"):
        return [("number variants", "none")]
    return [("number variants", f"{int(variants.get('sentences', 0)):,} sentences: {int(variants['per_sentence'])} "
                                "of each sentence with numbers, the number words drawn at random")]


def lm_summary_html(meta: Mapping[str, Any]) -> str:
    """A custom LM's figures (its ``lm.json`` or record info)."""
    corpora = meta.get("corpora") or []
    names = ", ".join(str(field_of(c, "name", c)) for c in corpora) or "—"
    weight = float(meta.get("general_weight") or 0.0)
    words = meta.get("training_words") or {}
    general = "none"
    if weight > 0:
        source = Path(str(meta["general_text"])).name if meta.get("general_text") else "general text"
        general = f"yes: {source}, {percent(weight, 0)} of the training text"
        if words.get("general"):
            general += f" ({words['general']:,} of {words['general'] + words.get('domain', 0):,} words)"
        if (words.get("domain_repeats") or 0) > 1:
            general += f"; your text repeated {words['domain_repeats']:,}× to keep its share"
    tokens = f"{meta.get('token_count', 0):,}" + (" (your text and the general text)" if weight > 0 else "")
    items = [
        ("n-gram order", meta.get("order", "—")),
        ("tokens", tokens),
        ("corpora", names),
        ("custom words", meta.get("custom_words", 0)),
        *_number_variants_item(meta.get("number_variants")),
        ("general text mixed in", general),
        ("build time", f"{meta.get('build_seconds', 0):.1f} s"),
    ]
    tuning = meta.get("tuning")
    if isinstance(tuning, Mapping) and isinstance(tuning.get("weights"), Mapping):
        w = tuning["weights"]
        head = f", {'CTC' if w.get('head') == 'ctc' else w['head']} head" if w.get("head") else ""
        items.append(("tuned weights", f"LM alpha {float(w.get('lm_alpha', 0)):.2f}, beta {float(w.get('lm_beta', 0)):.1f}, "
                                       f"boost {float(w.get('boost_alpha', 0)):.1f}{head} (dev WER "
                                       f"{percent(float(tuning.get('dev_wer', 0)))} on {tuning.get('dev_set', 'a dev set')})"))
    return key_value_html(items)


# --------------------------------------------------------------------------- diffs

_OP_CLASS = {"equal": "sc-eq", "substitute": "sc-sub", "delete": "sc-del", "insert": "sc-ins", "gap": "sc-gap"}


def diff_html(reference: str, systems: Mapping[str, Sequence[Any]], *, reference_label: str = "reference",
              line_chars: int = DIFF_LINE_CHARS) -> str:
    """A word-aligned diff: the reference, then one row per system, columns aligned, in lines of
    about ``line_chars`` characters, each with the row labels.

    ``systems`` maps a system's name to its alignment against ``reference`` (an
    :class:`~jupyter_speechcustom.evaluation.metrics.UtteranceScore`'s ``alignment``, or the score
    itself). Substitutions, deletions and insertions are coloured; a hover shows the
    reference word a substitution replaced.
    """
    names = list(systems)
    alignments = [field_of(v, "alignment", v) for v in systems.values()]
    labels = "".join(f"<span>{escape(label)}</span>" for label in [reference_label, *names])
    columns = align_columns(reference, alignments)
    # Lines cut here, each with the row labels, rather than wrapped by the browser: a wrapped line
    # would have no labels. A line too long for the page scrolls sideways.
    lines = []
    for line in diff_lines(columns, line_chars):
        lines.append(f'<div class="sc-diff-line"><span class="sc-col sc-labels">{labels}</span>'
                     f'{"".join(_diff_column(column, names) for column in line)}</div>')
    return f'<div class="sc-root sc-diff">{"".join(lines)}</div>'


def _diff_column(column: DiffColumn, names: Sequence[str]) -> str:
    ref = (f'<span class="sc-ref">{escape(column.reference)}</span>' if column.reference is not None
           else '<span class="sc-gap">·</span>')
    cells = []
    for name, (op, text) in zip(names, column.cells):
        title = ""
        if op == "substitute":
            title = f' title="{escape(name)}: {escape(column.reference)} → {escape(text)}"'
        elif op == "delete":
            title = f' title="{escape(name)}: missed {escape(text)}"'
        elif op == "insert":
            title = f' title="{escape(name)}: inserted {escape(text)}"'
        cells.append(f'<span class="{_OP_CLASS[op]}"{title}>{escape(text) if op != "gap" else "·"}</span>')
    return f'<span class="sc-col">{ref}{"".join(cells)}</span>'


def legend_html() -> str:
    """What the diff colours mean."""
    return ('<div class="sc-root sc-legend sc-muted">'
            '<span class="sc-sub">substitution</span><span class="sc-del">deletion</span>'
            '<span class="sc-ins">insertion</span></div>')


def utterance_html(
    title: str,
    reference: str,
    systems: Mapping[str, Any],
    *,
    reference_label: str = "reference",
    show_wer: bool = True,
    display: Mapping[str, str] | None = None,
) -> str:
    """One utterance: a heading with each system's WER on it, then the aligned diff.

    ``systems`` maps names to :class:`~jupyter_speechcustom.evaluation.metrics.UtteranceScore` (or
    mappings with ``alignment``, ``substitutions``, ``deletions``, ``insertions``,
    ``reference_words``). ``display`` maps system names to their transcript as shown with custom
    words' display-as forms ("NGINX", "PostgreSQL"), listed under the diff.
    """
    chips = []
    if show_wer:
        for name, score in systems.items():
            errors = sum(int(field_of(score, k, 0) or 0) for k in ("substitutions", "deletions", "insertions"))
            words = max(int(field_of(score, "reference_words", 0) or 0), 1)
            chips.append(f'<span class="sc-chip" title="{errors} errors in {words} words">'
                         f"{escape(name)} {percent(errors / words, 0)}</span>")
    head = f'<div class="sc-utt-head">{escape(title)} {"".join(chips)}</div>'
    shown = "".join(f'<div class="sc-display"><span class="sc-muted">{escape(name)} shown as:</span> '
                    f"{escape(text)}</div>" for name, text in (display or {}).items())
    return (f'<div class="sc-root sc-utt">{head}'
            f"{diff_html(reference, systems, reference_label=reference_label)}{shown}</div>")


# --------------------------------------------------------------------------- scores


def wer_table_html(evaluations: Mapping[str, Any], *, baseline: str | None = None) -> str:
    """WER, CER, substitutions, deletions and insertions per system.

    ``evaluations`` maps system names to :class:`~jupyter_speechcustom.evaluation.metrics.Evaluation`
    objects or their ``summary()`` dicts. The best WER is bold; the change against
    ``baseline`` (default: the first system) is shown relative to it.
    """
    if not evaluations:
        return table_html((), [], empty="no results yet")
    names = list(evaluations)
    baseline = baseline if baseline is not None and baseline in evaluations else names[0]
    base_wer = field_of(evaluations[baseline], "wer")
    best = min(names, key=lambda n: field_of(evaluations[n], "wer"))
    rows, classes = [], []
    for name in names:
        ev = evaluations[name]
        wer = field_of(ev, "wer")
        if name == baseline or not base_wer:
            change = "—"
        else:
            rel = wer / base_wer - 1
            cls = "sc-better" if rel < 0 else "sc-worse" if rel > 0 else ""
            change = f'<span class="{cls}">{rel:+.0%}</span>'
        count = field_of(ev, "utterance_count")
        if count is None:
            count = len(field_of(ev, "utterances", ()) or ())
        rows.append((name, percent(wer), percent(field_of(ev, "cer")), field_of(ev, "substitutions"),
                     field_of(ev, "deletions"), field_of(ev, "insertions"), f"{field_of(ev, 'reference_words'):,}", count, change))
        classes.append("sc-best" if name == best and len(names) > 1 else "")
    return table_html(("system", "WER", "CER", "S", "D", "I", "ref. words", "utterances", f"vs {baseline}"),
                      rows, numeric=range(1, 9), raw=(8,), row_classes=classes, classes="sc-wer")


def term_hits_html(hits: Mapping[str, Sequence[Any]]) -> str:
    """Per custom word: how often each system recognized it where the references have it.

    ``hits`` maps system names to :func:`~jupyter_speechcustom.evaluation.metrics.term_hit_rates`
    results (``TermHits`` or mappings with ``term``, ``occurrences``, ``recognized``).
    """
    names = list(hits)
    table: dict[str, dict[str, tuple[int, int]]] = {}
    for name in names:
        for h in hits[name]:
            table.setdefault(field_of(h, "term"), {})[name] = (int(field_of(h, "recognized")), int(field_of(h, "occurrences")))
    rows = []
    for term in sorted(table, key=lambda t: (-max(o for _, o in table[t].values()), t)):
        counts = table[term]
        occurrences = max(o for _, o in counts.values())
        cells = []
        for name in names:
            got, total = counts.get(name, (0, occurrences))
            cells.append(f"{got}/{total} ({percent(got / total if total else float('nan'), 0)})")
        rows.append((term, occurrences, *cells))
    return table_html(("custom word", "in references", *names), rows, numeric=range(1, 2 + len(names)),
                      classes="sc-hits", empty="no custom words occur in the references")


def comparison_html(
    evaluations: Mapping[str, Any],
    utterances: Sequence[tuple[str, str, Mapping[str, Any]]],
    hits: Mapping[str, Sequence[Any]] | None = None,
    *,
    title: str | None = None,
    chart_png: bytes | None = None,
) -> str:
    """A self-contained comparison (for an HTML report): style, WER table, chart, hit rates and
    every utterance's diff. ``utterances`` holds ``(title, reference, {system: score})``."""
    import base64

    parts = [style_tag(), '<div class="sc-root">']
    if title:
        parts.append(f"<h2>{escape(title)}</h2>")
    parts.append(wer_table_html(evaluations))
    if chart_png:
        parts.append(f'<img alt="WER per system" src="data:image/png;base64,{base64.b64encode(chart_png).decode()}">')
    if hits:
        parts.append("<h3>Custom words</h3>" + term_hits_html(hits))
    parts.append("<h3>Utterances</h3>" + legend_html())
    parts.extend(utterance_html(t, ref, systems) for t, ref, systems in utterances)
    parts.append("</div>")
    return "".join(parts)


# --------------------------------------------------------------------------- training


def pseudo_label_summary_html(rows: Sequence[Any], threshold: float) -> str:
    """How many pseudo-labelled utterances are kept, and their audio duration."""
    kept = [r for r in rows if field_of(r, "kept")]
    seconds = sum(float(field_of(r, "duration", 0) or 0) for r in kept)
    return (f'<div class="sc-root">{len(kept)} of {len(rows)} utterances kept '
            f'({seconds / 60:.1f} min of audio); confidence threshold {threshold:.2f}</div>')


def training_summary_html(summary: Mapping[str, Any], *, title: str | None = "Forgetting guard") -> str:
    """A fine-tuning's outcome with the forgetting guard: dev and general-set WER before and after."""

    def change(before: float | None, after: float | None, lower_is_better: bool = True) -> str:
        if before is None or after is None:
            return "—"
        delta = after - before
        good = delta < 0 if lower_is_better else delta > 0
        cls = "sc-better" if good else "sc-worse" if delta else ""
        return f'<span class="{cls}">{100 * delta:+.1f} points</span>'

    rows = []
    measures = (("domain dev WER (greedy)", "dev_wer"), ("general test WER (greedy): forgetting", "general_wer"))
    for label, key in measures:
        before, after = summary.get(f"{key}_before"), summary.get(f"{key}_after")
        rows.append((label, percent(before), percent(after), change(before, after)))
    figures = table_html(("", "before", "after", "change"), rows, numeric=(1, 2), raw=(3,), classes="sc-guard")
    relative = summary.get("general_wer_change")
    verdict = ""
    if relative is not None:
        worse = relative > 0.10
        cls = "sc-worse" if worse else "sc-better"
        text = (f"general speech got {relative:.0%} worse: train with general speech mixed in (the Studio's "
                "\"mix in general speech\"; more of it with general_ratio= in Python) or fewer epochs"
                if worse else f"general speech changed by {relative:+.0%}: little forgetting")
        verdict = f'<div class="sc-root {cls}">{escape(text)}</div>'
    history = summary.get("history") or []
    epochs = max((int(field_of(h, "epoch", 0) or 0) for h in history), default=None) if history else summary.get("epochs")
    facts = key_value_html([
        ("mode", summary.get("mode", "—")),
        ("training utterances",
         f"{summary.get('train_utterances', 0)} domain + {summary.get('general_utterances', 0)} general"),
        ("epochs trained", "—" if epochs is None else epochs),
        ("audio seen", f"{float(summary.get('audio_seconds') or 0) / 60:.1f} min"),
        ("time", f"{float(summary.get('train_seconds') or 0):.0f} s"),
    ])
    heading = f'<div class="sc-root" style="font-weight:600;margin-top:6px">{escape(title)}</div>' if title else ""
    return heading + figures + verdict + facts
