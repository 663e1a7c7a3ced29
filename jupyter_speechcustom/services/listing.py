"""Listing a workspace's items: a one-line summary of each, an item as JSON with what it was made
from and what uses it, and both as text for people."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from jupyter_speechcustom.services.dependencies import dependants, dependencies, dependency_graph
from jupyter_speechcustom.services.items import KINDS, kind_of
from jupyter_speechcustom.services.oov import known_words_of, oov_of
from jupyter_speechcustom.store.workspace import Record, StoreAPI


def describe(rec: Record, oov: Sequence[tuple[str, int]] | None = None, *, customization: bool = False) -> str:
    """One line of what the Studio shows about an item; ``oov``: a corpus's or word list's
    out-of-vocabulary words (:func:`oov_of`); ``customization``: the item is a customization's anchor."""
    info = rec.info
    unknown = f", {len(oov)} out-of-vocabulary" if oov is not None else ""
    if rec.kind == "corpus":
        return f"{info.get('sentences', '?')} sentences, {info.get('words', '?')} words{unknown}"
    if rec.kind == "words":
        return f"{info.get('count', '?')} custom words{unknown}"
    if rec.kind == "audio":
        duration = info.get("duration")
        seconds = f"{duration:.1f} s" if isinstance(duration, (int, float)) else "? s"
        transcript = info.get("transcript")
        return f"{seconds}, " + (f"transcript: {shorten(transcript)}" if transcript else "no transcript")
    if rec.kind == "result":
        return _result_line(info)
    if rec.kind == "segments":
        skipped = len(info.get("skipped") or [])
        return (f"{info.get('count', '?')} segments, {info.get('seconds', '?')} s at {info.get('sample_rate', '?')} Hz "
                f"from {len(rec.sources)} audio file(s)" + (f", {skipped} skipped" if skipped else ""))
    parts = [rec.status]
    if customization:
        parts.append("customization")
    if rec.base:
        parts.append(f"base {rec.base['name']}")
    if rec.kind == "lm":
        if info.get("order"):
            parts.append(f"{info['order']}-gram")
        if info.get("custom_words") is not None:
            words = info["custom_words"]
            parts.append(f"{len(words) if isinstance(words, list) else words} custom words")
    training = info.get("training") if rec.kind == "am" else None
    if isinstance(training, dict):
        if training.get("mode"):
            parts.append(str(training["mode"]))
        before, after = training.get("general_wer_before"), training.get("general_wer_after")
        if isinstance(before, (int, float)) and isinstance(after, (int, float)):
            parts.append(f"general WER {before:.1%} -> {after:.1%}")
    if rec.sources:
        parts.append(f"from {len(rec.sources)} {'resource' if len(rec.sources) == 1 else 'resources'}")
    if rec.message and rec.status == "failed":
        parts.append(shorten(rec.message, 80))
    if info.get("missing_sources"):
        parts.append(f"{len(info['missing_sources'])} source(s) deleted")
    return ", ".join(parts)


def _result_line(info: Mapping[str, Any]) -> str:
    keys = info.get("keys") or []
    return f"fields: {', '.join(map(str, keys[:8]))}" + (" ..." if len(keys) > 8 else "")


def shorten(text: Any, limit: int = 60) -> str:
    """``text`` on one line, cut to ``limit`` characters with "..."."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def item(ws: StoreAPI, rec: Record, graph: Mapping[str, set[str]] | None = None, *,
         known: frozenset[str] | None = None) -> dict[str, Any]:
    """An item as JSON: its record, a one-line summary, what it was made from and what uses it; a
    corpus's or word list's ``oov`` words are those the base model does not know (``known``, see
    :func:`oov_of`)."""
    graph = dependency_graph(ws) if graph is None else graph
    oov = oov_of(ws, rec, known)
    entry = {
        "id": rec.id,
        "kind": rec.kind,
        "name": rec.name,
        "version": rec.version,
        "label": rec.label,
        "status": rec.status,
        "summary": describe(rec, oov, customization=rec.kind in ("lm", "am") and ws.customization_state(rec.id) is not None),
        "path": str(rec.path) if rec.path else None,
        "base": rec.base,
        "sources": [record_ref(r) for r in dependencies(ws, rec)],
        "used_by": [record_ref(r) for r in dependants(ws, [rec], graph)],
        "message": rec.message,
        "created": rec.created,
        "updated": rec.updated,
        "info": rec.info,
    }
    if oov is not None:
        entry["oov"] = [list(w) for w in oov]
    return entry


def record_ref(rec: Record) -> dict[str, Any]:
    """A record as the JSON of a listing names it: id, kind and label."""
    return {"id": rec.id, "kind": rec.kind, "label": rec.label}


def refs_text(refs: Sequence[Mapping[str, Any]]) -> str:
    """Records named as :func:`record_ref` gives them, as text."""
    return ", ".join(f"{KINDS.get(r['kind'], r['kind'])} {r['label']} ({r['id']})" for r in refs)


def list_items(ws: StoreAPI, kind: str | None = None, *, known: frozenset[str] | None = None) -> list[dict[str, Any]]:
    """Every item (of ``kind``), grouped by kind and oldest first, as :func:`item` gives them."""
    kinds = [kind_of(kind)] if kind else list(KINDS)
    graph = dependency_graph(ws)
    known = known_words_of() if known is None and kinds != ["result"] else known
    return [item(ws, rec, graph, known=known) for k in kinds for rec in ws.records(k)]


_HEADINGS = {"corpus": "Corpora", "words": "Word lists", "audio": "Audio", "lm": "Language models",
             "am": "Acoustic models", "result": "Results"}


#: Longest label shown in a listing's column; longer ones end in "…" (``item`` shows them whole).
LABEL_COLUMN = 48


def format_items(items: Sequence[Mapping[str, Any]]) -> str:
    """Items (:func:`list_items`) as text: one block per kind, one line per item."""
    lines: list[str] = []
    for kind, heading in _HEADINGS.items():
        rows = [i for i in items if i["kind"] == kind]
        if not rows:
            continue
        if lines:
            lines.append("")
        lines.append(f"{heading} ({len(rows)})")
        labels = [r["label"] if len(r["label"]) <= LABEL_COLUMN else r["label"][: LABEL_COLUMN - 1] + "…"
                  for r in rows]
        width = max(len(label) for label in labels)
        for r, label in zip(rows, labels):
            used = f"  [used by {refs_text(r['used_by'])}]" if r["used_by"] else ""
            lines.append(f"  {label:<{width}}  {r['id']:<12}  {r['summary']}{used}")
    return "\n".join(lines)


def format_item(entry: Mapping[str, Any]) -> str:
    """One item (:func:`item`) as text, with its sources and dependants."""
    lines = [f"{KINDS.get(entry['kind'], entry['kind'])} {entry['label']} ({entry['id']})",
             f"  status:   {entry['status']}", f"  summary:  {entry['summary']}"]
    if entry.get("base"):
        lines.append(f"  base:     {entry['base']['name']} ({entry['base']['fingerprint']})")
    if entry.get("path"):
        lines.append(f"  path:     {entry['path']}")
    lines.append(f"  created:  {entry['created']}   updated: {entry['updated']}")
    if entry.get("sources"):
        lines.append(f"  made from: {refs_text(entry['sources'])}")
    if entry.get("used_by"):
        lines.append(f"  used by:  {refs_text(entry['used_by'])}")
    missing = entry.get("info", {}).get("missing_sources") or []
    for m in missing:
        lines.append(f"  deleted source: {m.get('kind')} {m.get('name')!r} ({m.get('id')})")
    if entry.get("message"):
        lines.append(f"  message:  {entry['message']}")
    transcript = entry.get("info", {}).get("transcript") if entry["kind"] == "audio" else None
    if transcript:
        lines.append(f"  transcript: {transcript}")
    return "\n".join(lines)

