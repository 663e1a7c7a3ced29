"""The Compare panel's choice of a test set: the profile's example sets, the workspace's transcribed
audio (its test audio selected until the user picks) or one recording, and a note when the test set
is not the user's own data."""

from __future__ import annotations

import ipywidgets as widgets

from jupyter_speechcustom.errors import InvalidOptionError
from jupyter_speechcustom.io.manifest import Utterance
from jupyter_speechcustom.store.index import audio_role
from jupyter_speechcustom.widgets._common import (
    LABELLED,
    Choice,
    Panel,
    audio_label,
    button,
    hint_html,
    set_options,
    wide,
)


class TestSetChooser:
    """The widgets that choose what a comparison runs on; the panel lays them out.

    Widgets: ``test_set`` (the workspace's audio, its transcribed test audio selected; the profile's
    sets only when chosen or while the workspace has no transcribed audio: ``test_note`` says so),
    ``limit``, ``audio`` (transcribed workspace audio; ``select_all_audio``, ``select_no_audio``,
    ``select_test_audio``, ``audio_count``, all in ``audio_box``) and ``recording``.
    """

    def __init__(self, panel: Panel) -> None:
        self._panel = panel
        profile = panel.base.profile
        sets: list[tuple[str, str]] = [(f"{profile.name} {s}", f"profile:{s}") for s in profile.test_sets] if profile else []
        sets += [("workspace audio", "workspace"), ("one recording", "one")]
        self.test_set = widgets.Dropdown(description="Test set", style=LABELLED, options=sets,
                                         value=self.default_test_set(sets[0][1]), layout=wide())
        self._auto_test_set = True  # follows the workspace's data until the user picks a set
        self._setting_test_set = False
        self.test_note = widgets.HTML()
        self.test_note.add_class("sc-compare-test-note")
        self.limit = widgets.BoundedIntText(0, min=0, max=100_000, description="First N (0: all)",
                                            style={"description_width": "initial"},
                                            layout=widgets.Layout(width="190px"))
        self.limit.add_class("sc-compare-limit")
        self.audio = widgets.SelectMultiple(description="Audio", style=LABELLED, options=[], rows=6, layout=wide())
        self.audio.add_class("sc-compare-audio")
        self._auto_audio = True  # the selection follows the workspace's test audio until the user changes it
        self._setting_audio = False
        self.select_all_audio = button("all", tooltip="select all the transcribed audio", css="sc-compare-all")
        self.select_no_audio = button("none", tooltip="select none", css="sc-compare-none")
        self.select_test_audio = button("test", tooltip="select the test audio", css="sc-compare-test")
        panel.on(self.select_all_audio, lambda: self._pick_audio([v for _, v in self.audio.options]))
        panel.on(self.select_no_audio, lambda: self._pick_audio([]))
        panel.on(self.select_test_audio, lambda: self._pick_audio(self.test_ids()))
        self.audio_count = widgets.HTML()
        self.audio_count.add_class("sc-compare-audio-count")
        panel.observe_value(self.audio, lambda _: self._audio_picked())
        self.audio_box = widgets.VBox([widgets.HBox([self.audio, widgets.VBox([
            widgets.Label("select:"), self.select_all_audio, self.select_no_audio, self.select_test_audio])]),
            self.audio_count])
        self.recording = Choice(description="Recording", style=LABELLED, options=[("—", None)], layout=wide())
        panel.observe_value(self.test_set, lambda _: self._test_set_changed())

    def refresh(self) -> None:
        """Re-read the workspace's audio; the test set follows its data until the user picks one."""
        audio = self._panel.workspace.audio()
        self._setting_audio = True
        try:
            set_options(self.audio, [(f"{audio_label(r)} · {audio_role(r)}", r.id) for r in audio
                                     if r.info.get("transcript")])
            if self._auto_audio:
                self.audio.value = tuple(self.test_ids())
        finally:
            self._setting_audio = False
        set_options(self.recording, [("—", None), *[(audio_label(r), r.id) for r in reversed(audio)]])
        self._count_audio()
        if self._auto_test_set and self.test_set.value != self.default_test_set():
            self._setting_test_set = True
            try:
                self.test_set.value = self.default_test_set()
            finally:
                self._setting_test_set = False
        self._note_test_set()

    def show_test_set(self) -> None:
        """Show the controls of the chosen test set, as the panel opens (not a choice of the user's)."""
        self._setting_test_set = True
        try:
            self._test_set_changed()
        finally:
            self._setting_test_set = False

    def default_test_set(self, first: str | None = None) -> str:
        """The workspace's own audio, unless it has nothing transcribed to score on: then the profile's
        first test set (``first``)."""
        first = first if first is not None else str(self.test_set.options[0][1])
        if not first.startswith("profile:") or any(r.info.get("transcript") for r in self._panel.workspace.audio()):
            return "workspace"
        return first

    def test_ids(self) -> list[str]:
        """The workspace's transcribed test audio."""
        return [r.id for r in self._panel.workspace.audio("test") if r.info.get("transcript")]

    def _pick_audio(self, ids: list[str]) -> None:
        self.audio.value = tuple(v for _, v in self.audio.options if v in set(ids))

    def _audio_picked(self) -> None:
        if not self._setting_audio:
            self._auto_audio = False
        self._count_audio()

    def _count_audio(self) -> None:
        chosen = set(self.audio.value)
        test = set(self.test_ids())
        self.audio_count.value = (f'<div class="sc-root sc-muted">{len(chosen)} of {len(self.audio.options)} '
                                  f"transcribed files selected ({len(chosen & test)} of the {len(test)} test "
                                  "files)</div>")

    def _note_test_set(self) -> None:
        """Say where the test set comes from when it is not the workspace's own test audio."""
        kind = self.test_set.value
        profile = self._panel.base.profile
        note = ""
        if kind.startswith("profile:") and self._auto_test_set:
            note = (f"The workspace has no transcribed audio yet, so the test set is the "
                    f"{profile.name if profile else 'example'} {kind.split(':', 1)[1]} set, not your data: add "
                    "transcribed audio in the Data tab (role test) to compare on your own.")
        elif kind == "workspace" and not self.test_ids():
            note = ("No transcribed test audio in the workspace: give transcribed audio the test role in the Data tab, "
                    "or select audio here.")
        self.test_note.value = hint_html(note) if note else ""

    def _test_set_changed(self) -> None:
        if not self._setting_test_set:
            self._auto_test_set = False
        kind = self.test_set.value
        self._note_test_set()
        self.audio_box.layout.display = "" if kind == "workspace" else "none"
        self.recording.layout.display = "" if kind == "one" else "none"
        self.limit.layout.display = "" if kind.startswith("profile:") or kind == "workspace" else "none"

    def items(self) -> tuple[str, list[Utterance]]:
        """The chosen test set: its label and its utterances."""
        panel = self._panel
        kind = self.test_set.value
        limit = self.limit.value or None
        if kind.startswith("profile:"):
            from jupyter_speechcustom.io.manifest import read_utterances

            profile = panel.base.profile
            split = kind.split(":", 1)[1]
            if profile is None:
                raise InvalidOptionError(f"base model {panel.base.name!r} has no example test sets")
            items = read_utterances(profile.example_set(split))[:limit]
            return f"{profile.name} {split}" + (f" (first {limit})" if limit else ""), items
        if kind == "workspace":
            ids = list(self.audio.value)[:limit]
            if not ids:
                raise InvalidOptionError("choose transcribed workspace audio to compare on (its test audio is "
                                         "selected by default: set roles in the Data tab), or another test set")
            recs = [panel.workspace.get(i, "audio") for i in ids]
            return f"{len(recs)} workspace audio files", [
                Utterance(str(r.path), r.info.get("transcript"), title=r.name) for r in recs]
        if self.recording.value is None:
            raise InvalidOptionError("choose a recording (add one in the Data tab)")
        rec = panel.workspace.get(self.recording.value, "audio")
        return rec.name, [Utterance(str(rec.path), rec.info.get("transcript"), title=rec.name)]
