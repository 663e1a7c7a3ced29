"""The Data panel: text corpora, custom words, audio uploads and microphone recordings."""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import traitlets

from jupyter_speechcustom.asr.models import known_words_for
from jupyter_speechcustom.constants import DEMO_MODEL_NAME, SAMPLE_RATE, STUDIO_DEMO_AUDIO_FILES
from jupyter_speechcustom.errors import AudioError, SpeechCustomError
from jupyter_speechcustom.evaluation import diffview
from jupyter_speechcustom.store.index import AUDIO_ROLES, DuplicateNameError, audio_role
from jupyter_speechcustom.widgets._audio_upload import AUDIO_ACCEPT, DuplicatePrompt, store_upload, taken_names
from jupyter_speechcustom.widgets._common import (
    LABELLED,
    AudioSlot,
    Choice,
    Panel,
    audio_label,
    button,
    heading,
    hint,
    player_audio,
    set_options,
    upload_items,
    wide,
)
from jupyter_speechcustom.widgets._recording import clock_html, recording_level

if TYPE_CHECKING:
    from jupyter_speechcustom.asr.models import BaseModel
    from jupyter_speechcustom.services.workspace import Workspace
    from jupyter_speechcustom.text.words import CustomWord

__all__ = ["DataPanel"]

_TEXT_ACCEPT = ".txt,.text,.md,text/plain"
_WORDS_ACCEPT = ".csv,.json,.txt"
_MIN_RECORDING_SECONDS = 0.1  # shorter holds no speech: the microphone gave nothing, or recording stopped at once
_ROLE_HINTS = {"train": "to train on", "dev": "to choose epochs and tune weights",
               "test": "to score models, never trained on"}


def _audio_table_html(audio: list[Any], max_height: str = "16em") -> str:
    """The workspace's audio, newest first: name, duration, role, transcript and id, with counts by role."""
    total = sum(float(r.info.get("duration") or 0) for r in audio)
    length = f"{total / 60:.1f} min" if total >= 60 else f"{total:.1f} s"
    roles = [audio_role(r) for r in audio]
    by_role = ", ".join(f"{roles.count(role)} {role}" for role in AUDIO_ROLES if role in roles)
    files = "1 audio file" if len(audio) == 1 else f"{len(audio)} audio files"
    rows = [(r.name, f"{r.info['duration']:.1f} s" if isinstance(r.info.get("duration"), (int, float)) else "?",
             audio_role(r), r.info.get("transcript") or "—", r.id) for r in reversed(audio)]
    body = diffview.table_html(("audio", "duration", "role", "transcript", "id"), rows, numeric=(1,),
                               classes="sc-audio", empty="no audio yet")
    return (f'<div class="sc-root sc-muted">{files}, {length}{f" ({by_role})" if by_role else ""}</div>'
            f'<div style="max-height:{diffview.escape(max_height)};overflow-y:auto">{body}</div>')


class _WordRow(widgets.HBox):
    """One editable custom word: word, sounds-like spellings (``;``-separated), display form."""

    def __init__(self, word: str = "", sounds_like: str = "", display_as: str = "") -> None:
        self.word = widgets.Text(word, placeholder="word (e.g. kubectl)", layout=widgets.Layout(width="180px"))
        self.sounds_like = widgets.Text(sounds_like, placeholder="sounds like; another spelling",
                                        layout=widgets.Layout(width="260px"))
        self.display_as = widgets.Text(display_as, placeholder="display as (optional)",
                                       layout=widgets.Layout(width="180px"))
        self.remove = button("", icon="trash", tooltip="remove this word", css="sc-word-remove", width="36px")
        super().__init__([self.word, self.sounds_like, self.display_as, self.remove])
        self.add_class("sc-word-row")

    @property
    def empty(self) -> bool:
        return not (self.word.value.strip() or self.sounds_like.value.strip() or self.display_as.value.strip())


class DataPanel(Panel):
    """Corpora, custom words and audio for a workspace: uploads, an editor and the microphone.

    Args:
        workspace: a :class:`~jupyter_speechcustom.services.workspace.Workspace` or its folder.
        base: the base model (or its name or ``.nemo`` path): OOV words are words it does not know.

    Children of note (for scripts and tests): ``corpus_upload``, ``words_upload``,
    ``audio_upload`` (``FileUpload``), ``word_rows`` (the editor's rows), ``save_words_button``,
    ``recorder`` (ipywebrtc ``AudioRecorder``, started and stopped by ``record_button``; the take
    plays in ``take_player``), ``save_recording_button``, ``corpus_table``, ``audio_table``;
    ``upload_role`` (the role of uploaded audio), ``role_audio`` (SelectMultiple), ``new_role`` and
    ``set_role_button`` (change the selected audio's role); ``duplicate_box`` (shown when an upload's
    names are already stored: ``duplicate_names`` and ``duplicate_buttons``, Replace / Keep both /
    Skip, plus ``duplicate_cancel``).

    Traits:
        recording (Bytes, default b""): the latest microphone recording (WebM/Opus) not yet saved.
    """

    recording = traitlets.Bytes(b"", help="The latest microphone recording (WebM/Opus bytes), not yet saved.")

    def __init__(self, workspace: Workspace | str | Path, base: BaseModel | str | Path = DEMO_MODEL_NAME) -> None:
        super().__init__(workspace, base)
        self.add_class("sc-data-panel")
        self._summaries: dict[str, dict[str, Any]] = {}
        self.word_notes: list[str] = []  # what normalization changed in the editor's words

        # Corpora
        self.corpus_upload = widgets.FileUpload(accept=_TEXT_ACCEPT, multiple=True, description="Upload text")
        self.corpus_upload.add_class("sc-corpus-upload")
        profile = self.base.profile
        self.demo_corpus_button = button(f"Add the {profile.name if profile else 'example'} corpus", icon="plus",
                                         css="sc-demo-corpus")
        self.demo_corpus_button.layout.display = "" if profile and profile.example_corpus else "none"
        self.corpus_table = widgets.HTML()
        self.corpus_table.add_class("sc-corpus-table")
        self.observe_value(self.corpus_upload, self._corpus_uploaded, doing="Adding the corpus")
        self.on(self.demo_corpus_button, self._add_demo_corpus, "Adding the demo corpus")

        # Custom words
        self.words_name = widgets.Text("custom-words", description="List name", style=LABELLED, layout=wide())
        self.word_lists = Choice(description="Open list", style=LABELLED, options=[("—", None)],
                                           layout=wide())
        self.words_upload = widgets.FileUpload(accept=_WORDS_ACCEPT, multiple=False, description="Upload list")
        self.words_upload.add_class("sc-words-upload")
        self.word_rows = widgets.VBox()
        self.add_word_button = button("Add word", icon="plus", css="sc-word-add")
        self.save_words_button = button("Save custom words", icon="save", style="primary", css="sc-words-save")
        self.demo_words_button = button(f"Load the {profile.name if profile else 'example'} words", icon="download",
                                        css="sc-demo-words")
        self.demo_words_button.layout.display = "" if profile and profile.example_words else "none"
        self.observe_value(self.word_lists, self._open_word_list, doing="Opening the word list")
        self.observe_value(self.words_upload, self._words_uploaded, doing="Adding the word list")
        self.on(self.add_word_button, self.add_word_row)
        self.on(self.save_words_button, self.save_words, "Saving the custom words")
        self.on(self.demo_words_button, self._add_demo_words, "Adding the demo words")

        # Audio
        self.audio_upload = widgets.FileUpload(accept=AUDIO_ACCEPT, multiple=True, description="Upload audio")
        self.audio_upload.add_class("sc-audio-upload")
        self.observe_value(self.audio_upload, self._audio_uploaded, doing="Adding the audio")
        self.upload_role = Choice(
            options=[("train (an archive: its train/, dev/, test/ folders)", None),
                     *[(f"{r} ({_ROLE_HINTS[r]})", r) for r in AUDIO_ROLES]],
            value=None, description="Role", style=LABELLED, layout=wide())
        self.upload_role.add_class("sc-upload-role")
        self.duplicate_box = DuplicatePrompt(self, self.resolve_duplicates)
        self.duplicate_names, self.duplicate_buttons = self.duplicate_box.names, self.duplicate_box.buttons
        self.duplicate_cancel = self.duplicate_box.cancel
        splits = list(profile.example_sets) if profile else []
        self.demo_split = widgets.Dropdown(options=splits, value=splits[0] if splits else None,
                                           layout=widgets.Layout(width="150px"))
        self.demo_count = widgets.BoundedIntText(STUDIO_DEMO_AUDIO_FILES, min=1, max=10_000,
                                                 layout=widgets.Layout(width="80px"))
        self.demo_audio_button = button(f"Add {profile.name if profile else 'example'} audio", icon="plus",
                                        css="sc-demo-audio")
        self.on(self.demo_audio_button, self._add_demo_audio, "Adding the demo audio")
        demo_row = widgets.HBox([self.demo_audio_button, self.demo_count, widgets.Label("files of"), self.demo_split])
        demo_row.layout.display = "" if splits else "none"

        from ipywebrtc import AudioRecorder, CameraStream

        self.microphone = CameraStream(constraints={"audio": True, "video": False})
        self.recorder = AudioRecorder(stream=self.microphone, format="webm", codecs="opus")
        self.recorder.add_class("sc-recorder")
        self.observe_value(self.recorder.audio, self._recorded, doing="Receiving the recording")
        # The panel's own button starts and stops the (undisplayed) recorder, so the kernel knows
        # when recording starts: a clock runs while it records.
        self.record_button = button("Record", icon="microphone", style="danger", css="sc-record")
        self.on(self.record_button, self.toggle_recording, "Recording")
        self.record_clock = widgets.HTML("")
        self.record_clock.add_class("sc-record-clock")
        self.take_player = AudioSlot()
        self.take_player.add_class("sc-take-player")
        self._recording_since: float | None = None
        self.recorder.observe(self._recorder_toggled, names="recording")
        self.recording_name = widgets.Text("", placeholder="name (default: recording-<time>)", description="Name",
                                           style=LABELLED,
                                           layout=wide())
        self.recording_transcript = widgets.Textarea("", placeholder="what was said (optional: enables supervised "
                                                     "training and WER)", description="Transcript", style=LABELLED,
                                                     layout=wide(height="60px"))
        self.save_recording_button = button("Save recording", icon="save", style="primary", css="sc-save-recording")
        self.save_recording_button.disabled = True
        self.on(self.save_recording_button, self.save_recording, "Saving the recording")

        self.audio_table = widgets.HTML()
        self.audio_table.add_class("sc-audio-table")
        self.play_choice = Choice(description="Listen", style=LABELLED, options=[("—", None)], layout=wide())
        self.play_choice.add_class("sc-listen")
        self.player = AudioSlot()
        self.player.add_class("sc-listen-player")
        self.observe_value(self.play_choice, self._play, doing="Loading the audio")
        # The chosen audio's transcript, to add or correct after the upload.
        self.transcript_edit = widgets.Textarea("", placeholder="its transcript (empty: untranscribed)",
                                                description="Transcript", style=LABELLED, layout=wide(height="60px"),
                                                disabled=True)
        self.transcript_edit.add_class("sc-transcript-edit")
        self.save_transcript_button = button("Save transcript", icon="save", css="sc-save-transcript")
        self.save_transcript_button.disabled = True
        self.on(self.save_transcript_button, self.save_transcript, "Saving the transcript")
        self.role_audio = widgets.SelectMultiple(description="Audio", style=LABELLED, options=[], rows=5,
                                                 layout=wide())
        self.role_audio.add_class("sc-role-audio")
        self.new_role = widgets.ToggleButtons(options=list(AUDIO_ROLES), value="train",
                                              tooltips=[_ROLE_HINTS[r] for r in AUDIO_ROLES])
        self.new_role.add_class("sc-new-role")
        self.set_role_button = button("Set role", icon="tag", css="sc-set-role")
        self.on(self.set_role_button, self.set_role, "Setting the role")

        self.children = [
            widgets.HTML(diffview.style_tag()),
            self.status,
            heading("Text corpora"),
            hint("Plain text, one sentence a line (any encoding). Words the base model does not know are listed "
                 "as OOV: custom words and a language model help most with those."),
            widgets.HBox([self.corpus_upload, self.demo_corpus_button]),
            self.corpus_table,
            heading("Custom words"),
            hint("Sounds-like: how the base model may write the word when it mishears it (separate several with ';'). "
                 "Display as: how transcripts show it."),
            widgets.HBox([self.word_lists, self.words_upload, self.demo_words_button]),
            self.word_rows,
            widgets.HBox([self.add_word_button, self.words_name, self.save_words_button]),
            heading("Audio"),
            hint("Files (WAV, FLAC, MP3, OGG, WebM, M4A), each with its transcript as a .txt of the same name if you "
                 "have one (upload them together), or archives (zip, tar) where a .txt beside an audio file is its "
                 "transcript. Untranscribed audio is for lightly supervised or unsupervised training."),
            widgets.HBox([self.audio_upload, self.upload_role]),
            self.duplicate_box,
            demo_row,
            heading("Record"),
            widgets.HBox([widgets.VBox([widgets.HBox([self.record_button, self.record_clock]), self.take_player]),
                          widgets.VBox([self.recording_name, self.recording_transcript,
                                                       widgets.HBox([self.save_recording_button])])]),
            self.audio_table,
            widgets.HBox([self.play_choice, self.player]),
            widgets.HBox([self.transcript_edit, self.save_transcript_button]),
            heading("Roles"),
            hint("Train audio is trained on; dev audio chooses the training epochs and tunes the weights; test audio "
                 "scores models in the Compare tab and is never offered for training."),
            widgets.HBox([self.role_audio, widgets.VBox([self.new_role, self.set_role_button])]),
        ]
        for _ in range(3):
            self.add_word_row()
        self.refresh()

    # ------------------------------------------------------------------ listing

    def refresh(self) -> None:
        """Re-read corpora, word lists and audio from the workspace."""
        ws = self.workspace
        corpora = ws.corpora()
        known = None
        summaries = []
        for rec in corpora:
            if rec.id not in self._summaries:
                known = known if known is not None else known_words_for(self.base)
                try:
                    summary = ws.corpus(rec.id).summary(known)
                except Exception:  # noqa: BLE001 - a corpus unreadable now still shows its stored figures
                    summary = dict(rec.info)
                summary["name"] = rec.name
                self._summaries[rec.id] = summary
            summaries.append(self._summaries[rec.id])
        self.corpus_table.value = diffview.corpus_stats_html(summaries)
        lists = [(f"{r.name} ({r.info.get('count', '?')} words)", r.id) for r in ws.word_lists()]
        set_options(self.word_lists, [("—", None), *reversed(lists)])
        if self.word_lists.value is not None and self.word_lists.value not in dict(lists).values():
            self.word_lists.value = None
        audio = ws.audio()
        self.audio_table.value = _audio_table_html(audio)
        set_options(self.play_choice, [("—", None), *[(audio_label(r), r.id) for r in reversed(audio)]])
        set_options(self.role_audio, [(f"{audio_label(r)} · {audio_role(r)}", r.id) for r in reversed(audio)])

    # ------------------------------------------------------------------ corpora

    def add_corpora(self, files: list[tuple[str, bytes]]) -> list[str]:
        """Store text files (name, bytes) as corpora; returns their ids. Errors name the file."""
        added: list[str] = []
        failed: list[str] = []
        for name, data in files:
            try:
                rec = self.workspace.add_corpus(data, name=name)
            except Exception as exc:  # noqa: BLE001 - one bad file must not hide the others
                failed.append(f"{name}: {exc}")
                continue
            added.append(rec.id)
        self.refresh()
        parts = []
        if added:
            details = ", ".join(
                f"{self._summaries[i]['name']} ({self._summaries[i]['sentences']} sentences, "
                f"{self._summaries[i]['oov_count']} OOV words)" for i in added)
            parts.append(f"Added {len(added)} corpus file(s): {details}.")
        if failed:
            parts.append("Not added: " + "; ".join(failed))
        self.show(" ".join(parts), "error" if failed else "success")
        return added

    def _corpus_uploaded(self, value: Any) -> None:
        files = upload_items(value)
        if not files:
            return
        self.corpus_upload.value = ()
        self.add_corpora(files)

    def _profile_data(self, what: str) -> Path:
        path = getattr(self.base.profile, what, None)
        if path is None:
            raise SpeechCustomError(f"base model {self.base.name!r} has no example data ({what})")
        return Path(path)

    def _add_demo_corpus(self) -> None:
        path = self._profile_data("example_corpus")
        self.add_corpora([(path.name, path.read_bytes())])

    # ------------------------------------------------------------------ custom words

    def add_word_row(self, word: str = "", sounds_like: str = "", display_as: str = "") -> None:
        """Add an editor row."""
        row = _WordRow(word, sounds_like, display_as)
        row.remove.on_click(lambda _: self._remove_row(row))
        self.word_rows.children = [*self.word_rows.children, row]

    def _remove_row(self, row: _WordRow) -> None:
        self.word_rows.children = [r for r in self.word_rows.children if r is not row]

    def set_words(self, words: list[CustomWord]) -> None:
        """Fill the editor with ``words`` (and one empty row to type in)."""
        self.word_rows.children = []
        for cw in words:
            self.add_word_row(cw.word, "; ".join(cw.sounds_like), cw.display_as or "")
        self.add_word_row()

    def editor_words(self) -> list[CustomWord]:
        """The words in the editor, normalized; an error names the row to fix. ``word_notes`` then
        names each word that normalization changed beyond its case ("Sgr A*" -> "sgr a")."""
        from jupyter_speechcustom.errors import CorpusError
        from jupyter_speechcustom.text.normalize import Normalizer
        from jupyter_speechcustom.text.words import CustomWord, normalization_note

        normalizer = Normalizer.for_vocabulary(self.base.vocabulary)
        words: dict[str, CustomWord] = {}
        self.word_notes = []
        for number, row in enumerate(self.word_rows.children, start=1):
            if row.empty:
                continue
            if not row.word.value.strip():
                raise CorpusError(f"row {number}: the word is empty: fill it in or remove the row")
            try:
                cw = CustomWord.create(row.word.value, row.sounds_like.value, row.display_as.value or None,
                                       normalizer=normalizer)
            except CorpusError as exc:
                raise CorpusError(f"row {number}: {exc}") from None
            note = normalization_note(row.word.value, cw.word)
            if note:
                self.word_notes.append(f"row {number}: {note}, shown as {cw.display_as!r}")
            words[cw.word] = cw
        return list(words.values())

    def save_words(self) -> str | None:
        """Save the editor's words to the workspace as a new word list; returns its id."""
        from jupyter_speechcustom.text.words import write_custom_words

        words = self.editor_words()
        if not words:
            self.show("No custom words to save: type a word in the first column", "error")
            return None
        name = self.words_name.value.strip() or "custom-words"
        with tempfile.TemporaryDirectory(prefix="speechcustom-words-") as tmp:
            path = write_custom_words(Path(tmp) / "words.csv", words)
            rec = self.workspace.add_words(path.read_bytes(), name=f"{Path(name).stem}.csv")
        self.refresh()
        if self.word_notes:
            self.show(f"Saved {len(words)} custom words as {rec.name} ({rec.id}). Changed by normalization: "
                      f"{'; '.join(self.word_notes)}. Edit the word or its display form if that is not what you "
                      "meant.", "info")
            return rec.id
        self.show(f"Saved {len(words)} custom words as {rec.name} ({rec.id}).", "success")
        return rec.id

    def _open_word_list(self, words_id: str | None) -> None:
        if words_id is None:
            return
        rec = self.workspace.get(words_id, "words")
        self.set_words(self.workspace.custom_words(words_id))
        self.words_name.value = Path(rec.name).stem
        self.show(f"Opened {rec.name}: edit the words, then save them as a new list.", "info")

    def _words_uploaded(self, value: Any) -> None:
        files = upload_items(value)
        if not files:
            return
        self.words_upload.value = ()
        name, data = files[0]
        rec = self.workspace.add_words(data, name=name)
        self.refresh()
        self.word_lists.value = rec.id
        self.show(f"Added {rec.name} ({rec.info.get('count')} words).", "success")

    def _add_demo_words(self) -> None:
        path = self._profile_data("example_words")
        rec = self.workspace.add_words(path.read_bytes(), name=path.name)
        self.refresh()
        self.word_lists.value = rec.id
        self.show(f"Added the example custom words ({rec.info.get('count')} words) as {rec.id}.", "success")

    # ------------------------------------------------------------------ audio

    def add_audio_files(self, files: list[tuple[str, bytes]], on_duplicate: str | None = None) -> list[str]:
        """Store audio files and archives (name, bytes); a ``name.txt`` among them is the transcript of
        the audio file ``name.*`` (as beside an audio file in an archive). Returns the new audio ids.

        Each gets the role chosen in ``upload_role`` (none: train, or an archive's folders). When
        names (of files or of an archive's audio) are already stored and ``on_duplicate`` is None,
        nothing is stored: ``duplicate_box`` shows them and asks (:meth:`resolve_duplicates`).
        """
        if on_duplicate is None:
            taken = taken_names(self.workspace, files)
            if taken:
                shown = self.duplicate_box.ask(files, taken)
                self.show(f"Nothing added yet: {len(taken)} of the uploaded names are already in the workspace "
                          f"({shown}). Choose Replace, Keep both or Skip below.", "warning")
                return []
        upload = store_upload(self.workspace, files, self.upload_role.value, on_duplicate)
        self.refresh()
        self.show(upload.message(), "error" if upload.failed else "success")
        return upload.added

    def resolve_duplicates(self, choice: str | None) -> list[str]:
        """Answer the duplicate-name question: store the waiting upload with ``choice`` (``"replace"``,
        ``"keep"`` or ``"skip"``), or with None store nothing. Returns the new audio ids."""
        files = self.duplicate_box.take()
        if not files:
            self.show("No upload is waiting for an answer: upload the files again.", "error")
            return []
        if choice is None:
            self.show(f"Nothing was added ({len(files)} uploaded file(s) left out).", "info")
            return []
        return self.add_audio_files(files, on_duplicate=choice)

    def _audio_uploaded(self, value: Any) -> None:
        files = upload_items(value)
        if not files:
            return
        self.audio_upload.value = ()
        self.add_audio_files(files)

    def set_role(self) -> None:
        """Give the audio selected in ``role_audio`` the role chosen in ``new_role``."""
        ids = list(self.role_audio.value)
        if not ids:
            self.show("Choose the audio whose role to set first (under Roles).", "error")
            return
        role = self.new_role.value
        records = self.workspace.set_role(ids, role)
        self.refresh()
        self.role_audio.value = tuple(i for i in ids if i in dict(self.role_audio.options).values())
        names = ", ".join(r.name for r in records[:5]) + (f" and {len(records) - 5} more" if len(records) > 5 else "")
        self.show(f"{len(records)} audio file(s) are {role} audio now ({_ROLE_HINTS[role]}): {names}.", "success")

    def _add_demo_audio(self) -> None:
        from jupyter_speechcustom.io.manifest import read_manifest

        split = self.demo_split.value
        profile = self.base.profile
        if profile is None or split is None:
            raise SpeechCustomError(f"base model {self.base.name!r} has no example audio")
        entries = read_manifest(profile.example_set(split))[: self.demo_count.value]
        self.show(f"Adding {len(entries)} files of the example set {split}…", "working")
        prefix = split.replace("/", "-")
        last = split.rsplit("/", 1)[-1].lower()
        role = last if last in AUDIO_ROLES else "train"  # the example test set is test audio
        before = {r.id for r in self.workspace.audio()}
        for entry in entries:
            path = Path(entry["audio_filepath"])
            self.workspace.add_audio(path, name=f"{prefix}-{path.name}", transcript=entry.get("text"), role=role,
                                     on_duplicate="skip")
        self.refresh()
        new = len({r.id for r in self.workspace.audio()} - before)
        with_text = "with" if entries and entries[0].get("text") else "without"
        there = f" ({len(entries) - new} were already in the workspace)" if new < len(entries) else ""
        self.show(f"Added {new} audio files of the example set {split} ({with_text} transcripts), as {role} audio"
                  f"{there}.", "success")

    def _recorded(self, value: Any) -> None:
        data = bytes(value or b"")
        if not data:
            return
        from jupyter_speechcustom.io.audio import audio_info, level_warnings, load_audio, wav_bytes

        info = audio_info(data)  # a recording that cannot be read leaves the previous one as it was
        if info.duration < _MIN_RECORDING_SECONDS:
            raise AudioError(f"the recording is empty ({info.duration:.2f} s): allow the browser to use the "
                             "microphone, press the record button, speak, then press it again")
        samples = load_audio(data, SAMPLE_RATE)
        warnings = level_warnings(samples, SAMPLE_RATE, recording=True)
        self.recording = data
        self.save_recording_button.disabled = False
        level = recording_level(samples)
        self.take_player.load(wav_bytes(data), "wav")
        self.record_clock.value = (f'<span class="sc-muted">{info.duration:.1f} s recorded · {level}</span>')
        extra = f" Note: {'; '.join(warnings)}." if warnings else ""
        self.show(f"Recorded {info.duration:.1f} s ({level}). Listen to it, add a transcript if you like, then "
                  f"save it.{extra}", "info")

    def toggle_recording(self) -> None:
        """Start recording from the microphone, or stop (the recording then arrives in the kernel)."""
        self.recorder.recording = not self.recorder.recording

    def _recorder_toggled(self, change: dict[str, Any]) -> None:
        """While the recorder records, a clock counts the seconds (the recording itself reaches
        the kernel only when it stops)."""
        recording = bool(change["new"])
        self.record_button.description = "Stop" if recording else "Record"
        self.record_button.icon = "stop" if recording else "microphone"
        if not recording:
            self._recording_since = None
            return
        since = self._recording_since = time.monotonic()
        self.record_clock.value = clock_html(0.0)

        def tick() -> None:
            while self._recording_since == since:
                self.record_clock.value = clock_html(time.monotonic() - since)
                time.sleep(0.25)

        threading.Thread(target=tick, name="speechcustom-record-clock", daemon=True).start()

    def save_recording(self) -> str | None:
        """Store the latest recording (with the transcript typed, if any); returns its audio id."""
        if not self.recording:
            self.show("Nothing recorded yet: press the record button, speak, then press it again", "error")
            return None
        name = self.recording_name.value.strip() or time.strftime("recording-%Y%m%d-%H%M%S")
        transcript = self.recording_transcript.value.strip() or None
        try:
            rec = self.workspace.add_audio(self.recording, name=f"{Path(name).stem}.webm", transcript=transcript,
                                           role=self.upload_role.value)
        except DuplicateNameError:
            self.show(f"There is already a recording named {Path(name).stem}.webm: type another name, then save "
                      "again.", "error")
            return None
        self.recording = b""
        self.save_recording_button.disabled = True
        self.recording_name.value = ""
        self.recording_transcript.value = ""
        self.refresh()
        self.show(f"Saved {rec.name} ({rec.info.get('duration', 0):.1f} s) to the workspace as {rec.id}.", "success")
        return rec.id

    def _play(self, audio_id: str | None) -> None:
        self.transcript_edit.disabled = self.save_transcript_button.disabled = audio_id is None
        if audio_id is None:
            self.player.clear()
            self.transcript_edit.value = ""
            return
        rec = self.workspace.get(audio_id, "audio")
        assert rec.path is not None
        self.transcript_edit.value = rec.info.get("transcript") or ""
        self.player.load(*player_audio(rec.path))

    def save_transcript(self) -> None:
        """Set the chosen audio's transcript to the text in ``transcript_edit`` (empty: none)."""
        audio_id = self.play_choice.value
        if audio_id is None:
            self.show("Choose the audio to transcribe under Listen first.", "error")
            return
        rec = self.workspace.set_transcript(audio_id, self.transcript_edit.value)
        self.refresh()
        text = rec.info.get("transcript")
        self.show(f"Saved the transcript of {rec.name}." if text else f"{rec.name} is untranscribed now.", "success")
