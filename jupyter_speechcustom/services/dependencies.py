"""What depends on what in a workspace, read from its ``links`` table (see
:mod:`jupyter_speechcustom.store.links`, which says where each link comes from):

- a custom LM depends on the corpora and word lists it was built from;
- a custom AM on the audio it was trained on and on the LM that labelled it;
- a result on the models it names;
- a customization (the IBM-style ones of :mod:`~jupyter_speechcustom.services.customization`) on
  its corpora, audio and trained model.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from jupyter_speechcustom.store.workspace import Record, RecordNotFoundError, StoreAPI


def dependencies(ws: StoreAPI, rec: Record) -> list[Record]:
    """The records ``rec`` was made from that are still in the workspace."""
    out = []
    for record_id in ws.sources_of(rec.id):
        try:
            out.append(ws.get(record_id))
        except RecordNotFoundError:
            continue
    return out


def dependency_graph(ws: StoreAPI) -> dict[str, set[str]]:
    """For every record id, the ids of the records made from it."""
    return ws.link_graph()


def dependants(ws: StoreAPI, records: Iterable[Record], graph: Mapping[str, set[str]] | None = None) -> list[Record]:
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

