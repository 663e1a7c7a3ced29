"""The Studio: JupyterLab widgets over the workspace and the services.

``Studio(workspace, base="demo")`` shows six tabs, each also usable alone with a workspace
and a base model: :class:`DataPanel` (corpora, custom words, audio, microphone),
:class:`LanguageModelPanel`, :class:`AcousticModelPanel`, :class:`ComparePanel`,
:class:`ExplorerPanel` (audio sets, their statistics and errors) and :class:`LivePanel` (the
microphone streamed through base and customized recognizers).
Long work runs as workspace jobs, so the kernel stays responsive; every error shows in the
panel's status area.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from jupyter_speechcustom.constants import DEMO_MODEL_NAME
from jupyter_speechcustom.evaluation import diffview
from jupyter_speechcustom.widgets._common import Panel, resolve_base, resolve_workspace
from jupyter_speechcustom.widgets.acoustic_model import AcousticModelPanel
from jupyter_speechcustom.widgets.compare import ComparePanel
from jupyter_speechcustom.widgets.data import DataPanel
from jupyter_speechcustom.widgets.explorer import ExplorerPanel
from jupyter_speechcustom.widgets.language_model import LanguageModelPanel
from jupyter_speechcustom.widgets.live import LivePanel
from jupyter_speechcustom.widgets.manage import ManagePanel

if TYPE_CHECKING:
    from jupyter_speechcustom.asr.models import BaseModel
    from jupyter_speechcustom.services.workspace import Workspace

__all__ = ["AcousticModelPanel", "ComparePanel", "DataPanel", "ExplorerPanel", "LanguageModelPanel", "LivePanel",
           "ManagePanel", "Panel", "Studio"]

TAB_TITLES = ("Data", "Language model", "Acoustic model", "Compare", "Explore", "Live")


class Studio(widgets.VBox):
    """The six panels as tabs, sharing one workspace and one loaded base model.

    Args:
        workspace: a :class:`~jupyter_speechcustom.services.workspace.Workspace` or a folder (created
            when missing).
        base: the base model, or its name or ``.nemo`` path (default: the bundled demo).

    Attributes:
        workspace, base: as given (opened and loaded).
        data, language_model, acoustic_model, compare, explore, live: the panels.
        tabs: the ``Tab`` widget; opening a tab re-reads the workspace into its panel.
        manage: the :class:`ManagePanel` (rename, delete, export, history), folded below the tabs.
    """

    def __init__(self, workspace: Workspace | str | Path, base: BaseModel | str | Path = DEMO_MODEL_NAME) -> None:
        self.workspace = resolve_workspace(workspace)
        self.base = resolve_base(self.workspace, base)
        self.data = DataPanel(self.workspace, self.base)
        self.language_model = LanguageModelPanel(self.workspace, self.base)
        self.acoustic_model = AcousticModelPanel(self.workspace, self.base)
        self.compare = ComparePanel(self.workspace, self.base)
        self.explore = ExplorerPanel(self.workspace, self.base)
        self.live = LivePanel(self.workspace, self.base)
        self.panels: tuple[Panel, ...] = (self.data, self.language_model, self.acoustic_model, self.compare,
                                          self.explore, self.live)
        self.tabs = widgets.Tab(children=list(self.panels), titles=TAB_TITLES)
        self.tabs.add_class("sc-tabs")
        self.tabs.observe(self._tab_changed, names="selected_index")
        header = widgets.HTML(
            f'{diffview.style_tag()}<div class="sc-root" style="margin:2px 0 6px 0">'
            f'<span style="font-weight:600;font-size:120%">Speech customization studio</span> '
            f'<span class="sc-muted">base model <b>{diffview.escape(self.base.name)}</b> '
            f"({diffview.escape(self.base.fingerprint)}) · workspace {diffview.escape(self.workspace.path)}"
            "</span></div>")
        self.manage = ManagePanel(self.workspace, self.base)
        self.manage_box = widgets.Accordion(children=[self.manage], titles=("Manage the workspace",),
                                            selected_index=None)
        self.manage_box.observe(self._manage_opened, names="selected_index")
        super().__init__([header, self.tabs, self.manage_box])
        self.add_class("sc-studio")

    def _manage_opened(self, change: dict[str, Any]) -> None:
        if change["new"] is None:
            return
        try:
            self.manage.refresh()
        except Exception as exc:  # noqa: BLE001 - shown in the panel, never raised into the front end
            self.manage.show_error(exc, "Reading the workspace")

    def _tab_changed(self, change: dict[str, Any]) -> None:
        index = change["new"]
        if index is None:
            return
        panel = self.panels[index]
        try:
            panel.refresh()
        except Exception as exc:  # noqa: BLE001 - shown in the panel, never raised into the front end
            panel.show_error(exc, "Reading the workspace")
        if self.manage_box.selected_index is not None:  # what the tab shows may have changed since
            self._manage_opened({"new": self.manage_box.selected_index})
