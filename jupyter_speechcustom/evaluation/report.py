"""A self-contained HTML report of a comparison: WER table, bar chart, side-by-side transcripts."""

from __future__ import annotations

import base64
import html
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from jupyter_speechcustom.evaluation import diffview
from jupyter_speechcustom.evaluation.metrics import Evaluation
from jupyter_speechcustom.io.files import atomic_write


def comparison_report(
    title: str,
    evaluations: Mapping[str, Evaluation],
    *,
    audio: Sequence[str] = (),
    general: Mapping[str, Evaluation] | None = None,
    notes: Sequence[str] = (),
    max_utterances: int = 40,
) -> str:
    """HTML for systems scored on the same references: the table, a chart and every diff.

    Utterances are listed worst-first for the first system, so where customization helped
    (or hurt) is at the top.
    """
    names = list(evaluations)
    chart = base64.b64encode(diffview.wer_chart_png(evaluations, width=6.5, height=3.0)).decode()
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title>",
        diffview.style_tag(),
        "<style>body{font-family:system-ui,sans-serif;margin:2em auto;max-width:72em;padding:0 1em}"
        "h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p class='sc-muted'>{time.strftime('%Y-%m-%d %H:%M')}</p>",
        *[f"<p>{html.escape(n)}</p>" for n in notes],
        "<h2>Word error rate on the test set</h2>",
        diffview.wer_table_html(evaluations),
        f"<p><img alt='WER per system' src='data:image/png;base64,{chart}'></p>",
    ]
    if general:
        parts += ["<h2>Forgetting guard: general speech</h2>", diffview.wer_table_html(general)]
    parts += ["<h2>Transcripts, word-aligned against the reference</h2>", diffview.legend_html()]
    first = evaluations[names[0]]
    order = sorted(range(len(first.utterances)), key=lambda i: -first.utterances[i].errors)
    for i in order[:max_utterances]:
        label = Path(audio[i]).name if i < len(audio) else f"utterance {i + 1}"
        systems = {name: evaluations[name].utterances[i] for name in names}
        parts.append(diffview.utterance_html(label, first.utterances[i].reference, systems))
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(path: str | Path, html_text: str) -> Path:
    return atomic_write(path, html_text)


def chain_report(result: Any) -> str:
    """The report of :func:`jupyter_speechcustom.services.chain.run_chain`."""
    evaluations = {s.system: s.domain for s in result.systems}
    general = {s.system: s.general for s in result.systems}
    notes = []
    if result.training:
        t = result.training
        notes.append(f"Custom acoustic model: {t['mode']}, {t['train_utterances']} domain utterances "
                     f"(+{t['general_utterances']} general), {t['epochs']} epochs.")
    return comparison_report("jupyter_speechcustom demo: base vs customized", evaluations, audio=result.audio,
                             general=general, notes=notes)
