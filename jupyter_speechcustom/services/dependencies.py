"""What depends on what in a workspace, read from the workspace itself:

- a custom LM depends on the corpora and word lists it was built from;
- a custom AM on the audio it was trained on and on the LM that labelled it (its job's ``lm_id``);
- a result on the models it names (its ``sources``, or ``model_id``/``lm_id``/``am_id`` in it);
- a customization (the IBM-style ones of :mod:`~jupyter_speechcustom.services.customization`) on
  its corpora, audio and trained model.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from jupyter_speechcustom.services.customization import KEY as CUSTOMIZATION_KEY
from jupyter_speechcustom.store.workspace import Record, RecordNotFoundError, Store, WorkspaceError


def _result_sources(ws: Store, rec: Record) -> set[str]:
    found = set(rec.sources)
    try:
        data = ws.result(rec.id)
    except (WorkspaceError, OSError, ValueError):
        return found
    for key in ("model_id", "lm_id", "am_id"):
        if isinstance(data.get(key), str):
            found.add(data[key])
    return found


def _customization_sources(rec: Record) -> set[str]:
    state = rec.info.get(CUSTOMIZATION_KEY)
    if not isinstance(state, dict):
        return set()
    found = {v for v in (state.get("corpora") or {}).values() if isinstance(v, str)}
    for ids in (state.get("audio") or {}).values():
        found.update(i for i in (ids if isinstance(ids, list) else [ids]) if isinstance(i, str))
    if isinstance(state.get("trained"), str):
        found.add(state["trained"])
    return found


def _sources(ws: Store, rec: Record) -> set[str]:
    """Ids of the records ``rec`` was made from."""
    if rec.kind == "result":
        return _result_sources(ws, rec)
    found = set(rec.sources) | _customization_sources(rec)
    if rec.kind == "am" and rec.job_id:
        params = ws.job_params(rec.job_id) or {}
        if isinstance(params.get("lm_id"), str):
            found.add(params["lm_id"])
    found.discard(rec.id)
    return found


def dependencies(ws: Store, rec: Record) -> list[Record]:
    """The records ``rec`` was made from that are still in the workspace."""
    out = []
    for record_id in sorted(_sources(ws, rec)):
        try:
            out.append(ws.get(record_id))
        except RecordNotFoundError:
            continue
    return out


def dependency_graph(ws: Store) -> dict[str, set[str]]:
    """For every record id, the ids of the records made from it."""
    users: dict[str, set[str]] = {}
    for rec in ws.records():
        if rec.kind in ("corpus", "words", "audio"):
            continue  # made from nothing in the workspace
        for source in _sources(ws, rec):
            users.setdefault(source, set()).add(rec.id)
    return users


def dependants(ws: Store, records: Iterable[Record], graph: Mapping[str, set[str]] | None = None) -> list[Record]:
    """The records made from any of ``records`` (those among ``records`` left out)."""
    graph = dependency_graph(ws) if graph is None else graph
    ids = {r.id for r in records}
    found = sorted({user for r in ids for user in graph.get(r, set())} - ids)
    out = []
    for record_id in found:
        try:
            out.append(ws.get(record_id))
        except RecordNotFoundError:
            continue
    return out

