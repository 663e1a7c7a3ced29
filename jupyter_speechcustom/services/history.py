"""What the workspace recorded about an item over time, as events and as text for people."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from jupyter_speechcustom.services.items import KINDS, LABEL, find, kind_of
from jupyter_speechcustom.services.listing import shorten
from jupyter_speechcustom.store.workspace import StoreAPI, WorkspaceError


def history(ws: StoreAPI, ref: str, kind: str | None = None) -> list[dict[str, Any]]:
    """What the workspace recorded about an item over time, oldest first: created, training,
    built, failed, renamed, transcript changes, sources deleted, deleted. ``ref`` is a name (also
    a former one, or a deleted item's), ``"name vN"`` or an id."""
    kind = kind_of(kind) if kind else None
    text = ref.strip() if isinstance(ref, str) else ""
    events = ws.events(text) if text else []  # an id, also of a deleted record
    if not events:
        events = ws.events(kind=kind, name=text)
    if not events and (m := LABEL.match(text)):
        events = [e for e in ws.events(kind=kind, name=m["name"]) if e["version"] == int(m["version"])]
    if not events:
        find(ws, text, kind)  # raises, with suggestions, when nothing has that name
        return []
    kinds = sorted({e["kind"] for e in events})
    if len(kinds) > 1:
        raise WorkspaceError(f"{text!r} names a {' and a '.join(KINDS.get(k, k) for k in kinds)}: give the kind too")
    return [{**e, "text": event_text(e)} for e in events]


def event_text(event: Mapping[str, Any]) -> str:
    """One line about one history event."""
    d = event.get("detail") or {}
    kind = event.get("kind")
    label = f"{event['name']} v{event['version']}" if kind in ("lm", "am", "result") else event["name"]
    name = event["event"]
    if name == "created":
        if d.get("from_index"):
            return f"{label}: created (recorded before the history was kept)"
        again = kind in ("lm", "am", "result") and int(event.get("version") or 1) > 1
        return f"{label}: {'new version created' if again else 'created'}"
    if name == "training":
        return f"{label}: training started (job {d.get('job_id')})"
    if name == "built":
        return f"{label}: built, available"
    if name == "failed":
        return f"{label}: failed: {shorten(d.get('message', ''), 100)}"
    if name == "renamed":
        return f"{label}: renamed from {d.get('from')!r} to {d.get('to')!r}"
    if name == "transcript":
        return f"{label}: transcript {shorten(d.get('from') or '(none)', 40)!r} -> {shorten(d.get('to') or '(none)', 40)!r}"
    if name == "role":
        return f"{label}: role {d.get('from')} -> {d.get('to')}"
    if name == "replaced":
        return f"{label}: file replaced by an upload of the same name"
    if name == "source-deleted":
        return f"{label}: its source {d.get('kind')} {d.get('name')!r} ({d.get('id')}) was deleted"
    if name == "deleted":
        return f"{label}: deleted"
    return f"{label}: {name}"


def format_history(events: Sequence[Mapping[str, Any]]) -> str:
    """History events (:func:`history`) as text, one line each."""
    return "\n".join(f"{e['at']}  {e['record_id']:<12}  {e['text']}" for e in events)
