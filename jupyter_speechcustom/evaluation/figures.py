"""PNG figures of what the toolkit measures: WER per system, custom-word hit rates and acoustic
model training. Drawn on bare ``matplotlib.figure.Figure`` objects (no pyplot), so they are safe in
any thread."""

from __future__ import annotations

import io
import textwrap
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from jupyter_speechcustom.evaluation._fields import field_of

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _png(fig: Any) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return buf.getvalue()


def wer_chart_png(evaluations: Mapping[str, Any], *, width: float = 4.6, height: float = 2.4) -> bytes:
    """A bar chart of WER per system, stacked by substitutions, deletions and insertions (PNG).

    Drawn on a bare ``matplotlib.figure.Figure`` (no pyplot), so it is safe in any thread.
    """
    from matplotlib.figure import Figure

    names = list(evaluations)
    fig = Figure(figsize=(width, height))
    ax = fig.add_subplot()
    bottom = [0.0] * len(names)
    for key, label, colour in (("substitutions", "substitutions", "#ffa000"), ("deletions", "deletions", "#e53935"),
                               ("insertions", "insertions", "#43a047")):
        values = [100 * (field_of(evaluations[n], key) or 0) / max(field_of(evaluations[n], "reference_words") or 1, 1)
                  for n in names]
        ax.bar(range(len(names)), values, bottom=bottom, label=label, color=colour, width=0.6)
        bottom = [b + v for b, v in zip(bottom, values)]
    # System names such as "custom AM + custom LM" are long: wrap them so neighbours never overlap.
    labels = [textwrap.fill(n, 12) for n in names]
    ax.set_xticks(range(len(names)), labels, fontsize=9)
    for x, total in enumerate(bottom):
        ax.text(x, total, f"{total:.1f}%", ha="center", va="bottom", fontsize=9)
    ax.set_ylabel("WER (%)")
    ax.set_ylim(0, max([*bottom, 1.0]) * 1.18)
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(fontsize=8, frameon=False, ncols=3, loc="lower center", bbox_to_anchor=(0.5, 1.0))
    return _png(fig)


def term_hits_chart_png(hits: Mapping[str, Sequence[Any]], *, top: int = 12, width: float = 6.0,
                        height: float | None = None) -> bytes:
    """Per custom word, the share of its occurrences each system recognized, as a PNG (see
    :func:`term_hits_figure`)."""
    return _png(term_hits_figure(hits, top=top, width=width, height=height))


def term_hits_figure(hits: Mapping[str, Sequence[Any]], *, top: int = 12, width: float = 6.0,
                     height: float | None = None) -> Figure:
    """Horizontal bars per custom word (the ``top`` most frequent in the references, most frequent
    at the top), one bar per system: the share of the word's occurrences it recognized.

    ``hits`` maps system names to :func:`~jupyter_speechcustom.evaluation.metrics.term_hit_rates`
    results (``TermHits`` or mappings with ``term``, ``occurrences``, ``recognized``), as
    :func:`term_hits_html` takes them.
    """
    from matplotlib.figure import Figure

    names = list(hits)
    table: dict[str, dict[str, tuple[int, int]]] = {}
    for name in names:
        for h in hits[name]:
            table.setdefault(str(field_of(h, "term")), {})[name] = (int(field_of(h, "recognized")), int(field_of(h, "occurrences")))
    occurrences = {t: max(o for _, o in counts.values()) for t, counts in table.items()}
    terms = sorted(table, key=lambda t: (-occurrences[t], t))[:top]
    fig = Figure(figsize=(width, height or max(1.6, 0.6 + len(terms) * (0.12 + 0.1 * max(len(names), 1)))))
    ax = fig.add_subplot()
    colours = ("#9e9e9e", "#1976d2", "#ffa000", "#43a047", "#8e24aa", "#e53935")
    bar = 0.8 / max(len(names), 1)
    for i, name in enumerate(names):
        rates = []
        for t in terms:
            got, total = table[t].get(name, (0, occurrences[t]))
            rates.append(100 * got / total if total else 0.0)
        rows = [len(terms) - 1 - j + (len(names) - 1 - i - (len(names) - 1) / 2) * bar for j in range(len(terms))]
        ax.barh(rows, rates, height=bar, label=name, color=colours[i % len(colours)])
    ax.set_yticks(range(len(terms)), [f"{t} ({occurrences[t]})" for t in reversed(terms)], fontsize=8)
    ax.set_xlim(0, 100)
    ax.set_xlabel("occurrences recognized (%)")
    ax.spines[["top", "right"]].set_visible(False)
    shown = f", the {len(terms)} most frequent" if len(table) > len(terms) else ""
    ax.set_title(f"Custom words recognized{shown} (occurrences in the references)", fontsize=10)
    if not terms:
        ax.text(50, 0, "no custom words occur in the references", ha="center", va="center", color="#888")
    else:
        ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    return fig


def training_plot_png(history: Sequence[Any], *, width: float = 6.0, height: float = 2.8) -> bytes:
    """Training loss and dev WER per epoch (``EpochRecord`` objects or dicts), as a PNG."""
    return _png(training_plot_figure(history, width=width, height=height))


def training_plot_figure(history: Sequence[Any], *, width: float = 6.0, height: float = 2.8) -> Figure:
    """The figure of :func:`training_plot_png`: a title, both axes labelled, and a legend."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    ax = fig.add_subplot()
    epochs = [int(field_of(h, "epoch")) for h in history]
    losses = [(e, field_of(h, "train_loss")) for e, h in zip(epochs, history) if field_of(h, "train_loss") is not None]
    wers = [(e, field_of(h, "dev_wer")) for e, h in zip(epochs, history) if field_of(h, "dev_wer") is not None]
    ax.set_xlabel("epoch")
    ax.spines[["top"]].set_visible(False)
    if losses:
        ax.plot([e for e, _ in losses], [v for _, v in losses], "o-", color="#1976d2", label="training loss")
    ax.set_ylabel("training loss", color="#1976d2")
    handles = list(ax.get_legend_handles_labels()[0])
    if wers:  # no dev set, no dev WER axis (an empty one reads as a failed measurement)
        ax2 = ax.twinx()
        ax2.plot([e for e, _ in wers], [100 * v for _, v in wers], "s--", color="#e53935", label="dev WER")
        top = max(100 * v for _, v in wers)
        ax2.set_ylim(0, max(top * 1.15, 1.0))
        ax2.set_ylabel("dev WER (%)", color="#e53935")
        ax2.spines[["top"]].set_visible(False)
        handles += ax2.get_legend_handles_labels()[0]
    else:
        ax.spines[["right"]].set_visible(False)
    top_epoch = max(epochs, default=1)
    ax.set_xlim(-0.2, max(top_epoch, 1) + 0.2)
    ax.xaxis.get_major_locator().set_params(integer=True)  # type: ignore[call-arg]  # MaxNLocator's parameter
    trained = sum(1 for e in epochs if e > 0)  # epoch 0 is the check before training
    done = f" ({trained} epoch{'s' if trained != 1 else ''})" if trained else ""
    measured = "loss and dev WER" if wers else "loss (no dev set)" if history else "loss and dev WER"
    ax.set_title(f"Acoustic model training{done}: {measured} per epoch", fontsize=10)
    if handles:
        ax.legend(handles=handles, loc="upper right", fontsize=8, frameon=False)
    if not history:
        ax.text(0.5, 0.5, "waiting for the first epoch…", transform=ax.transAxes, ha="center", va="center",
                color="#888")
    fig.tight_layout()
    return fig
