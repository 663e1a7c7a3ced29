"""The Manage area: rename, delete, export and the history of what a workspace holds.

A thin view over :mod:`jupyter_speechcustom.services.management`: choose a kind and an item, see
what it was made from, what uses it and its history, then rename it, delete it (refused, naming
the dependants, unless "even if others use it" is ticked; asked first), set an audio item's
transcript, or export a result (CSV, JSON, HTML report) or a custom model (a customization
bundle), asked first before an existing file is replaced.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from jupyter_speechcustom.constants import DEMO_MODEL_NAME
from jupyter_speechcustom.errors import SpeechCustomError
from jupyter_speechcustom.evaluation import diffview
from jupyter_speechcustom.services import management
from jupyter_speechcustom.widgets._common import (
    LABELLED,
    Choice,
    Confirm,
    Panel,
    button,
    heading,
    hint,
    set_options,
)

if TYPE_CHECKING:
    from jupyter_speechcustom.asr.models import BaseModel
    from jupyter_speechcustom.services.workspace import Workspace

__all__ = ["ManagePanel"]

_KIND_OPTIONS = [("Corpora", "corpus"), ("Word lists", "words"), ("Audio", "audio"), ("Language models", "lm"),
                 ("Acoustic models", "am"), ("Results", "result"), ("Prepared segments", "segments")]

_RESULT_FORMATS = [("CSV", "csv"), ("JSON", "json"), ("HTML report", "html")]
_MODEL_FORMATS = [("bundle (.zip)", "bundle")]
#: Longest option shown in the item list: longer names are cut in the middle, keeping their version.
_OPTION_CHARS = 64

# The toolkit's errors name the argument (and the CLI flag) that would proceed; the panel names its own controls.
_PANEL_TERMS = (("delete it anyway with force=True (--force)", "tick 'even if others use it' to delete it anyway"),
                ("pass overwrite=True (--overwrite) to replace it", "export again and answer 'Replace' to replace it"),
                ("pass overwrite=True", "export again and answer 'Replace' to replace it"))


def _middle_cut(text: str, limit: int) -> str:
    """``text`` cut in the middle to ``limit`` characters: its start and its end (a version) stay."""
    if len(text) <= limit:
        return text
    tail = max(limit // 3, 8)
    return text[: limit - tail - 1] + "…" + text[-tail:]


def _options(entries: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """The item list's options, newest first: each label (cut in the middle, so that its version
    shows; results of one name get their versions) with when it was made; entries that would still
    read alike get their ids."""
    shared = Counter(e["label"] for e in entries)
    labels = [f"{e['label']} v{e['version']}" if shared[e["label"]] > 1 else e["label"] for e in entries]
    texts = [f"{_middle_cut(label, _OPTION_CHARS)} · {str(e.get('created') or '')[:16].replace('T', ' ')}"
             for label, e in zip(labels, entries)]
    counts = Counter(texts)
    return [(f"{t} · {e['id']}" if counts[t] > 1 else t, e["id"]) for t, e in reversed(list(zip(texts, entries)))]


@contextmanager
def _in_panel_terms() -> Iterator[None]:
    """Re-raise the toolkit's errors with the panel's controls named instead of arguments."""
    try:
        yield
    except SpeechCustomError as exc:
        text = str(exc)
        for api, panel in _PANEL_TERMS:
            text = text.replace(api, panel)
        exc.args = (text,)
        raise


class ManagePanel(Panel):
    """List, rename, delete and export the workspace's items, with their history.

    Attributes:
        kind: the kind of item listed (``Dropdown``).
        items: the items of that kind (``Select``; values are record ids), each shown with its version
            and when it was made, so that results of one name are told apart.
        summary: the chosen item's one-line summary, in full (``HTML``).
        details: the chosen item's details and history (``HTML``).
        new_name, rename_button: rename the chosen item (every version of its name).
        force, delete_button: delete it, asked first; ``force`` deletes even what others were made from.
        transcript, transcript_button: an audio item's transcript.
        export_format, export_path, export_button: export a result or a model's bundle; the file
            name suggested follows the item and the format, and an existing file is replaced only
            once ``confirm`` has been answered.
        confirm: the question asked before deleting or replacing (:class:`~._common.Confirm`).
    """

    def __init__(self, workspace: Workspace | str | Path, base: BaseModel | str | Path = DEMO_MODEL_NAME) -> None:
        super().__init__(workspace, base)
        self.kind = widgets.Dropdown(options=_KIND_OPTIONS, value="result", description="Kind", style=LABELLED)
        self.items = widgets.Select(options=[], rows=8, description="Item", style=LABELLED,
                                    layout=widgets.Layout(width="100%", max_width="760px"))
        self.summary = widgets.HTML("")
        self.details = widgets.HTML("")
        self.new_name = widgets.Text(placeholder="new name", layout=widgets.Layout(width="260px"))
        self.rename_button = button("Rename", icon="pencil", css="sc-manage-rename")
        self.force = widgets.Checkbox(False, description="even if others use it", indent=False,
                                      layout=widgets.Layout(width="auto"))
        self.delete_button = button("Delete", style="danger", icon="trash", css="sc-manage-delete")
        self.transcript = widgets.Text(placeholder="transcript (empty: none)", layout=widgets.Layout(width="420px"))
        self.transcript_button = button("Set transcript", css="sc-manage-transcript")
        self.export_format = Choice(options=_RESULT_FORMATS, value="csv", layout=widgets.Layout(width="140px"))
        self.export_path = widgets.Text(placeholder="file to write, e.g. results/wer.csv",
                                        layout=widgets.Layout(width="360px"))
        self.export_button = button("Export", icon="download", css="sc-manage-export")
        self.confirm = Confirm(self)
        self.transcript_row = widgets.HBox([self.transcript, self.transcript_button])
        self.export_row = widgets.HBox([self.export_format, self.export_path, self.export_button])
        self._suggested = ""
        self._known: frozenset[str] | None = None
        self.children = [
            heading("Manage the workspace"),
            hint("Rename, delete or export what the workspace holds; deleting what others were made from is "
                 "refused, naming them, unless you tick the box (they are kept and marked)."),
            self.kind, self.items, self.summary, self.details,
            widgets.HBox([self.new_name, self.rename_button]),
            widgets.HBox([self.force, self.delete_button]),
            self.transcript_row, self.export_row, self.status, self.confirm,
        ]
        self.observe_value(self.kind, lambda _: self.refresh(), doing="Listing")
        self.observe_value(self.items, lambda _: self._show_item(), doing="Reading the item")
        self.observe_value(self.export_format, self._format_changed, doing="Choosing the format")
        self.on(self.rename_button, self.rename, doing="Renaming")
        self.on(self.delete_button, self.delete, doing="Deleting")
        self.on(self.transcript_button, self.set_transcript, doing="Setting the transcript")
        self.on(self.export_button, self.export, doing="Exporting")
        self.refresh()

    # ------------------------------------------------------------------ listing

    @property
    def known_words(self) -> frozenset[str]:
        """The base model's known words: OOV counts here are those of the Data and LM tabs."""
        if self._known is None:
            self._known = management.known_words_of(self.base)
        return self._known

    def refresh(self) -> None:
        """Re-read the items of the chosen kind."""
        kind = self.kind.value
        self.confirm.close_question()
        known = self.known_words if kind in ("corpus", "words") else None
        entries = management.list_items(self.workspace, kind, known=known)
        set_options(self.items, _options(entries))
        self.transcript_row.layout.display = "" if kind == "audio" else "none"
        self.export_row.layout.display = "" if kind in ("result", "lm", "am") else "none"
        set_options(self.export_format, _RESULT_FORMATS if kind == "result" else _MODEL_FORMATS)
        self._show_item()

    def _show_item(self) -> None:
        record_id = self.items.value
        self.confirm.close_question()
        if record_id is None:
            self.summary.value = ""
            self.details.value = diffview.status_html("nothing of this kind in the workspace yet", "info")
            return
        rec = self.workspace.get(record_id)
        entry = management.item(self.workspace, rec, known=self.known_words if rec.kind in ("corpus", "words")
                                else None)
        events = management.history(self.workspace, rec.id)
        self.new_name.value = rec.name
        if rec.kind == "audio":
            self.transcript.value = rec.info.get("transcript") or ""
        self.summary.value = (f'<div class="sc-root" style="overflow-wrap:anywhere"><b>{diffview.escape(rec.label)}'
                              f"</b> ({diffview.escape(rec.id)}): {diffview.escape(entry['summary'])}</div>")
        text = management.format_item(entry) + "\n\nhistory:\n" + "\n".join(f"  {e['at'][:19]}  {e['text']}"
                                                                            for e in events)
        self.details.value = f'<pre class="sc-root" style="white-space:pre-wrap">{diffview.escape(text)}</pre>'
        self._suggest(rec.name)

    def _suggest(self, name: str) -> None:
        """Suggest a file name for the export (kept when the user typed one of their own)."""
        fmt = self.export_format.value
        if fmt is None:
            return
        current = self.export_path.value.strip()
        if not current or current == self._suggested:
            self._suggested = management.suggest_export_name(name, fmt)
            self.export_path.value = self._suggested

    def _format_changed(self, fmt: Any) -> None:
        if fmt is None:
            return
        current = self.export_path.value
        changed = management.with_format_suffix(current, str(fmt))
        if changed != current:
            if current.strip() == self._suggested:
                self._suggested = changed.strip()
            self.export_path.value = changed

    def _chosen(self) -> str:
        if self.items.value is None:
            raise SpeechCustomError("choose an item first")
        return str(self.items.value)

    # ------------------------------------------------------------------ actions

    def rename(self) -> None:
        """Rename the chosen item (every version of its name) to the name typed."""
        self.confirm.close_question()  # a question left open is answered 'no'
        rec = self.workspace.get(self._chosen())
        renamed = management.rename(self.workspace, rec.kind, rec.id, self.new_name.value)
        self.refresh()
        self.items.value = rec.id
        self.show(f"Renamed {rec.name!r} to {renamed[0].name!r}.", "success")

    def delete(self) -> None:
        """Delete the chosen item (this version), once the question asked is answered; refused at once
        while others use it, unless ``force`` is ticked."""
        self.confirm.close_question()  # a question left open is answered 'no'
        rec = self.workspace.get(self._chosen())
        users = management.dependants(self.workspace, [rec])
        if users and not self.force.value:
            with _in_panel_terms():
                management.delete(self.workspace, rec.kind, rec.id)  # refused: names the dependants
        kept = f"; {len(users)} item(s) made from it are kept, marked" if users else ""
        what = management.KINDS.get(rec.kind, rec.kind)
        self.confirm.ask(f"Delete {what} {rec.label} ({rec.id}){kept}? This cannot be undone.",
                         {"Delete": lambda: self._delete(rec.id)}, doing="Deleting", danger=True)

    def _delete(self, record_id: str) -> None:
        rec = self.workspace.get(record_id)
        with _in_panel_terms():
            deletion = management.delete(self.workspace, rec.kind, rec.id, force=self.force.value)
        self.force.value = False
        self.refresh()
        kept = "".join(f"; kept {r.label}, marked as made from a deleted item" for r in deletion.kept_dependants)
        self.show(f"Deleted {rec.label}{kept}.", "success")

    def set_transcript(self) -> None:
        rec = management.set_transcript(self.workspace, self._chosen(), self.transcript.value)
        self.refresh()
        self.show(f"Transcript of {rec.name} " + ("set." if rec.info.get("transcript") else "removed."), "success")

    def export(self) -> None:
        """Write the chosen result, or the chosen model's bundle, to the path typed; an existing file
        is replaced only when the question asked is answered "Replace"."""
        self.confirm.close_question()  # a question left open is answered 'no'
        rec = self.workspace.get(self._chosen())
        if not self.export_path.value.strip():
            raise SpeechCustomError("type the path of the file to write")
        fmt = self.export_format.value
        target = management.export_path(self.export_path.value.strip(), "bundle" if rec.kind != "result" else fmt)
        if target.is_file():  # a folder or a device is refused by the export itself, not asked about
            self.confirm.ask(f"{target} already exists. Replace it?",
                             {"Replace": lambda: self._export(rec.id, target, overwrite=True)}, doing="Exporting",
                             danger=True)
            return
        self._export(rec.id, target, overwrite=False)

    def _export(self, record_id: str, target: Path, *, overwrite: bool) -> None:
        rec = self.workspace.get(record_id)
        with _in_panel_terms():
            if rec.kind == "result":
                written = management.export_result(self.workspace, rec.id, target, self.export_format.value,
                                                   overwrite=overwrite)
            else:
                written = management.export_bundle(self.workspace, rec.id, target, kind=rec.kind,
                                                   overwrite=overwrite)
        self.show(f"Wrote {written}.", "success")
