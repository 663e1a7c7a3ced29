"""The Manage area: rename, delete, export and the history of what a workspace holds.

A thin view over :mod:`jupyter_speechcustom.services.management`: choose a kind and an item, see
what it was made from, what uses it and its history, then rename it, delete it (refused, naming
the dependants, unless "even if others use it" is ticked), set an audio item's transcript, or
export a result (CSV, JSON, HTML report) or a custom model (a customization bundle).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import ipywidgets as widgets

from jupyter_speechcustom.constants import DEMO_MODEL_NAME
from jupyter_speechcustom.errors import SpeechCustomError
from jupyter_speechcustom.evaluation import diffview
from jupyter_speechcustom.services import management
from jupyter_speechcustom.widgets._common import LABELLED, Choice, Panel, button, heading, hint, set_options, wide

if TYPE_CHECKING:
    from jupyter_speechcustom.asr.models import BaseModel
    from jupyter_speechcustom.services.workspace import Workspace

__all__ = ["ManagePanel"]

_KIND_OPTIONS = [("Corpora", "corpus"), ("Word lists", "words"), ("Audio", "audio"), ("Language models", "lm"),
                 ("Acoustic models", "am"), ("Results", "result")]

# The toolkit's errors name the argument (and the CLI flag) that would proceed; the panel names its own controls.
_PANEL_TERMS = (("delete it anyway with force=True (--force)", "tick 'even if others use it' to delete it anyway"),
                ("pass overwrite=True (--overwrite) to replace it", "tick 'replace an existing file' to replace it"),
                ("pass overwrite=True", "tick 'replace an existing file' to replace it"))


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
        items: the items of that kind (``Select``; values are record ids).
        details: the chosen item's details and history (``HTML``).
        new_name, rename_button: rename the chosen item (every version of its name).
        force, delete_button: delete it; ``force`` deletes even what others were made from.
        transcript, transcript_button: an audio item's transcript.
        export_format, export_path, overwrite, export_button: export a result or a model's bundle.
    """

    def __init__(self, workspace: Workspace | str | Path, base: BaseModel | str | Path = DEMO_MODEL_NAME) -> None:
        super().__init__(workspace, base)
        self.kind = widgets.Dropdown(options=_KIND_OPTIONS, value="result", description="Kind", style=LABELLED)
        self.items = widgets.Select(options=[], rows=6, description="Item", style=LABELLED, layout=wide())
        self.details = widgets.HTML("")
        self.new_name = widgets.Text(placeholder="new name", layout=widgets.Layout(width="260px"))
        self.rename_button = button("Rename", icon="pencil", css="sc-manage-rename")
        self.force = widgets.Checkbox(False, description="even if others use it", indent=False,
                                      layout=widgets.Layout(width="auto"))
        self.delete_button = button("Delete", style="danger", icon="trash", css="sc-manage-delete")
        self.transcript = widgets.Text(placeholder="transcript (empty: none)", layout=widgets.Layout(width="420px"))
        self.transcript_button = button("Set transcript", css="sc-manage-transcript")
        self.export_format = Choice(options=[("CSV", "csv"), ("JSON", "json"), ("HTML report", "html")],
                                    value="csv", layout=widgets.Layout(width="140px"))
        self.export_path = widgets.Text(placeholder="file to write, e.g. results/wer.csv",
                                        layout=widgets.Layout(width="320px"))
        self.overwrite = widgets.Checkbox(False, description="replace an existing file", indent=False,
                                          layout=widgets.Layout(width="auto"))
        self.export_button = button("Export", icon="download", css="sc-manage-export")
        self.transcript_row = widgets.HBox([self.transcript, self.transcript_button])
        self.export_row = widgets.HBox([self.export_format, self.export_path, self.overwrite, self.export_button])
        self.children = [
            heading("Manage the workspace"),
            hint("Rename, delete or export what the workspace holds; deleting what others were made from is "
                 "refused, naming them, unless you tick the box (they are kept and marked)."),
            self.kind, self.items, self.details,
            widgets.HBox([self.new_name, self.rename_button]),
            widgets.HBox([self.force, self.delete_button]),
            self.transcript_row, self.export_row, self.status,
        ]
        self.observe_value(self.kind, lambda _: self.refresh(), doing="Listing")
        self.observe_value(self.items, lambda _: self._show_item(), doing="Reading the item")
        self.on(self.rename_button, self.rename, doing="Renaming")
        self.on(self.delete_button, self.delete, doing="Deleting")
        self.on(self.transcript_button, self.set_transcript, doing="Setting the transcript")
        self.on(self.export_button, self.export, doing="Exporting")
        self.refresh()

    # ------------------------------------------------------------------ listing

    def refresh(self) -> None:
        """Re-read the items of the chosen kind."""
        kind = self.kind.value
        entries = management.list_items(self.workspace, kind)
        set_options(self.items, [(f"{e['label']} — {e['summary']}", e["id"]) for e in reversed(entries)])
        self.transcript_row.layout.display = "" if kind == "audio" else "none"
        self.export_row.layout.display = "" if kind in ("result", "lm", "am") else "none"
        formats = [("CSV", "csv"), ("JSON", "json"), ("HTML report", "html")] if kind == "result" else \
            [("bundle (.zip)", "bundle")]
        set_options(self.export_format, formats)
        self._show_item()

    def _show_item(self) -> None:
        record_id = self.items.value
        if record_id is None:
            self.details.value = diffview.status_html("nothing of this kind in the workspace yet", "info")
            return
        rec = self.workspace.get(record_id)
        entry = management.item(self.workspace, rec)
        events = management.history(self.workspace, rec.id)
        self.new_name.value = rec.name
        if rec.kind == "audio":
            self.transcript.value = rec.info.get("transcript") or ""
        text = management.format_item(entry) + "\n\nhistory:\n" + "\n".join(f"  {e['at'][:19]}  {e['text']}"
                                                                            for e in events)
        self.details.value = f'<pre class="sc-root" style="white-space:pre-wrap">{diffview.escape(text)}</pre>'

    def _chosen(self) -> str:
        if self.items.value is None:
            raise SpeechCustomError("choose an item first")
        return str(self.items.value)

    # ------------------------------------------------------------------ actions

    def rename(self) -> None:
        """Rename the chosen item (every version of its name) to the name typed."""
        rec = self.workspace.get(self._chosen())
        renamed = management.rename(self.workspace, rec.kind, rec.id, self.new_name.value)
        self.refresh()
        self.items.value = rec.id
        self.show(f"Renamed {rec.name!r} to {renamed[0].name!r}.", "success")

    def delete(self) -> None:
        """Delete the chosen item (this version); refused while others use it unless ``force`` is ticked."""
        rec = self.workspace.get(self._chosen())
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
        """Write the chosen result, or the chosen model's bundle, to the path typed."""
        rec = self.workspace.get(self._chosen())
        if not self.export_path.value.strip():
            raise SpeechCustomError("type the path of the file to write")
        path = Path(self.export_path.value.strip()).expanduser()
        with _in_panel_terms():
            if rec.kind == "result":
                written = management.export_result(self.workspace, rec.id, path, self.export_format.value,
                                                   overwrite=self.overwrite.value)
            else:
                written = management.export_bundle(self.workspace, rec.id, path, kind=rec.kind,
                                                   overwrite=self.overwrite.value)
        self.show(f"Wrote {written}.", "success")
