"""The Data panel's audio uploads: storing audio files and archives with the ``.txt`` transcripts
uploaded beside them, the names an upload shares with the workspace's audio, and the prompt that
asks what to do with those (Replace, Keep both, Skip)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from jupyter_speechcustom.evaluation import diffview
from jupyter_speechcustom.widgets._common import Panel, button

if TYPE_CHECKING:
    from jupyter_speechcustom.services.workspace import Workspace

ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
#: What the audio upload accepts: audio, transcripts and archives.
AUDIO_ACCEPT = "audio/*,.wav,.flac,.mp3,.ogg,.opus,.webm,.weba,.m4a,.aac,.txt," + ",".join(ARCHIVE_SUFFIXES)
#: The Data tab's answers when an upload's name is already stored: button label, ``on_duplicate``.
_DUPLICATE_CHOICES = (("Replace", "replace"), ("Keep both", "keep"), ("Skip", "skip"))


def _is_transcript(name: str) -> bool:
    return Path(name).suffix.lower() == ".txt"


def _transcript_text(name: str, data: bytes) -> str:
    """The transcript a ``.txt`` upload holds: UTF-8 text on one or more lines, joined by spaces."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError("not UTF-8 text: save the transcript as UTF-8 and upload it again") from None
    text = " ".join(text.split())
    if not text:
        raise ValueError("the transcript is empty: write what is said in the audio, or leave the .txt out")
    return text


def _is_archive(name: str) -> bool:
    return name.lower().endswith(ARCHIVE_SUFFIXES)


@dataclass
class Upload:
    """What :func:`store_upload` did: the new audio ids, the files not added (with why), those kept
    under new names, and the counts replaced, skipped and paired with a transcript."""

    added: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    renamed: list[str] = field(default_factory=list)
    replaced: int = 0
    skipped: int = 0
    paired: int = 0

    def message(self) -> str:
        """What happened, for the panel's status line."""
        parts = [f"Added {len(self.added)} audio file(s)"
                 + (f", {self.paired} with their .txt transcript." if self.paired else ".")] if self.added else []
        if self.renamed:
            parts.append(f"Kept both: stored {', '.join(self.renamed)}.")
        if self.replaced:
            parts.append(f"Replaced {self.replaced} stored audio file(s).")
        if self.skipped:
            parts.append(f"Skipped {self.skipped} file(s) already in the workspace.")
        if self.failed:
            parts.append("Not added: " + "; ".join(self.failed))
        return " ".join(parts) or "Nothing was added."


def store_upload(workspace: Workspace, files: list[tuple[str, bytes]], role: str | None,
                 on_duplicate: str | None) -> Upload:
    """Store audio files and archives (name, bytes) with ``role``; a ``name.txt`` among them is the
    transcript of the audio file ``name.*``. A stored name is an error unless ``on_duplicate`` says
    what to do (``"replace"``, ``"keep"`` or ``"skip"``); one bad file never hides the others."""
    out = Upload()
    before = {r.id for r in workspace.audio()}
    audio_stems = {Path(name).stem for name, _ in files
                   if not _is_transcript(name) and not _is_archive(name)}
    transcripts: dict[str, str] = {}
    for name, data in files:
        if not _is_transcript(name):
            continue
        stem = Path(name).stem
        if stem not in audio_stems:
            out.failed.append(f"{name}: a transcript, but no audio file named {stem}.* came with it; upload "
                              "them together")
            continue
        try:
            transcripts[stem] = _transcript_text(name, data)
        except ValueError as exc:
            out.failed.append(f"{name}: {exc}")
    for name, data in files:
        if _is_transcript(name):
            continue
        try:
            if _is_archive(name):
                left_out: list[str] = []
                records = workspace.add_audio_archive(data, name=name, skipped=left_out, role=role,
                                                      on_duplicate=on_duplicate or "error")
                out.skipped += sum(line.endswith(": skipped)") for line in left_out)
                out.failed.extend(f"{name}: {line}" for line in left_out if not line.endswith(": skipped)"))
            else:
                transcript = transcripts.get(Path(name).stem)
                records = [workspace.add_audio(data, name=name, transcript=transcript, role=role,
                                               on_duplicate=on_duplicate or "error")]
                if records[0].id in before and on_duplicate == "skip":
                    out.skipped += 1
                    continue
                out.paired += transcript is not None
        except Exception as exc:  # noqa: BLE001 - one bad file must not hide the others
            out.failed.append(f"{name}: {exc}")
            continue
        for rec in records:
            if rec.id in before:
                out.replaced += 1
                continue
            out.added.append(rec.id)
            wanted = Path(str(rec.info.get("original_name") or name)).name
            if on_duplicate == "keep" and rec.name != wanted:
                out.renamed.append(f"{wanted} as {rec.name}")
    return out


def taken_names(workspace: Workspace, files: list[tuple[str, bytes]]) -> list[str]:
    """The names of the upload's audio (an archive's too) that the workspace already has."""
    if not workspace.audio():
        return []
    names: list[str] = []
    for name, data in files:
        if _is_transcript(name):
            continue
        if _is_archive(name):
            try:
                names.extend(workspace.archive_audio_names(data, name=name))
            except Exception:  # noqa: BLE001 - an unusable archive is reported when it is added
                continue
        else:
            names.append(name)
    return list(dict.fromkeys(workspace.duplicates("audio", names)))


class DuplicatePrompt(widgets.VBox):
    """Shown while an upload whose names are already stored waits (``pending``): ``names`` lists
    them, ``buttons`` answer Replace / Keep both / Skip and ``cancel`` stores nothing; each calls
    ``answer`` with its choice (None for Cancel)."""

    def __init__(self, panel: Panel, answer: Callable[[str | None], Any]) -> None:
        self.pending: list[tuple[str, bytes]] | None = None
        self.names = widgets.HTML()
        self.buttons = {
            choice: button(label, css=f"sc-duplicate-{choice}", style="warning" if choice == "replace" else "")
            for label, choice in _DUPLICATE_CHOICES}
        for choice, choice_button in self.buttons.items():
            panel.on(choice_button, lambda c=choice: answer(c), "Adding the audio")
        self.cancel = button("Cancel", css="sc-duplicate-cancel")
        panel.on(self.cancel, lambda: answer(None))
        super().__init__([self.names, widgets.HBox([*self.buttons.values(), self.cancel])])
        self.add_class("sc-duplicate-box")
        self.layout.display = "none"

    def ask(self, files: list[tuple[str, bytes]], taken: list[str]) -> str:
        """Hold ``files`` and show the question about ``taken``; returns the names as shown."""
        self.pending = files
        shown = ", ".join(taken[:12]) + (f" and {len(taken) - 12} more" if len(taken) > 12 else "")
        self.names.value = (
            f'<div class="sc-root"><b>Already in the workspace</b> ({len(taken)}): {diffview.escape(shown)}. '
            "Replace them with the new files, keep both (the new ones under numbered names), or skip them "
            "(the other files are added either way)?</div>")
        self.layout.display = ""
        return shown

    def take(self) -> list[tuple[str, bytes]] | None:
        """Hide the question and hand back the upload it held (None when none waits)."""
        files, self.pending = self.pending, None
        self.layout.display = "none"
        self.names.value = ""
        return files
