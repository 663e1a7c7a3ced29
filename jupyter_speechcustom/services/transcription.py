"""Transcribing files, folders and manifests, and writing the transcripts as JSON lines, JSON,
plain text or subtitles (SRT, WebVTT): what ``speechcustom transcribe`` does.

:func:`expand_inputs` turns what a user names (audio files, folders of recordings, NeMo
manifests) into utterances (:class:`~jupyter_speechcustom.io.manifest.Utterance`);
:func:`transcribe_inputs` runs a :class:`Recognizer` over them with progress and cancellation;
:func:`format_transcripts` and :func:`subtitles` render the results; :func:`write_transcripts` puts
them in a file, a folder (one subtitle file per input) or a stream.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from jupyter_speechcustom.asr.recognize import Transcript
from jupyter_speechcustom.errors import InvalidOptionError, OutputError, check_list
from jupyter_speechcustom.io.audio import SUPPORTED
from jupyter_speechcustom.io.files import atomic_write, check_output_path
from jupyter_speechcustom.io.manifest import Utterance, read_utterances
from jupyter_speechcustom.jobs.progress import ProgressCallback, raise_if_cancelled
from jupyter_speechcustom.store.index import AUDIO_SUFFIXES

__all__ = [
    "FORMATS",
    "MANIFEST_SUFFIXES",
    "expand_inputs",
    "format_transcripts",
    "subtitle_cues",
    "subtitles",
    "transcribe_inputs",
    "transcript_row",
    "write_transcripts",
]

#: Output formats: JSON lines (one object per utterance), one JSON document, plain text, subtitles.
FORMATS = ("jsonl", "json", "txt", "srt", "vtt")
SUBTITLE_FORMATS = ("srt", "vtt")
MANIFEST_SUFFIXES = frozenset({".json", ".jsonl"})

#: A subtitle cue holds at most this many characters and seconds, and a pause this long starts a new one.
CUE_MAX_CHARS = 84
CUE_MAX_SECONDS = 6.0
CUE_PAUSE_SECONDS = 1.0


def _audio_suffixes() -> str:
    return ", ".join(sorted(AUDIO_SUFFIXES))


def _unsupported(path: Path) -> InvalidOptionError:
    return InvalidOptionError(
        f"{path} is not an audio file or a NeMo manifest: give audio ({SUPPORTED}; by suffix "
        f"{_audio_suffixes()}), a folder of such files, or a manifest (.json/.jsonl JSON lines with audio_filepath)"
    )


def expand_inputs(inputs: Sequence[str | Path]) -> list[Utterance]:
    """The utterances that ``inputs`` name, in order.

    Each input is an audio file; a folder (its audio files, searched recursively, in sorted
    order; hidden files skipped); or a NeMo manifest (``.json``/``.jsonl``), each line an
    utterance, a line with ``offset`` being that segment of its file. An utterance's ``title``,
    its name in text output, is the path as given, the path relative to the folder it was found
    in, or a manifest line's file with ``@OFFSET`` for a segment. Only a segment keeps its
    ``duration``, and no utterance its manifest's ``text``: the output rows
    (:func:`transcript_row`) name the audio, the transcript is the recognizer's.

    Raises:
        InvalidOptionError: no inputs, a missing path, a folder without audio files, or a file
            that is neither audio (by its suffix) nor a manifest.
    """
    check_list(inputs, "inputs", "audio files, folders or manifests")
    if not inputs:
        raise InvalidOptionError("nothing to transcribe: give audio files, folders or manifests")
    items: list[Utterance] = []
    for given in inputs:
        path = Path(given)
        if path.is_dir():
            found = sorted(
                p for p in path.rglob("*")
                if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file()
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            if not found:
                raise InvalidOptionError(
                    f"the folder {path} holds no audio files ({_audio_suffixes()}): give a folder of recordings"
                )
            items.extend(Utterance(str(p), title=str(p.relative_to(path))) for p in found)
        elif not path.exists():
            raise InvalidOptionError(f"{path} does not exist: give an audio file, a folder or a manifest")
        elif path.suffix.lower() in MANIFEST_SUFFIXES:
            for utt in read_utterances(path):
                if utt.offset is None:  # a duration alone describes the whole file
                    items.append(Utterance(utt.audio, title=utt.audio))
                else:
                    items.append(Utterance(utt.audio, offset=utt.offset, duration=utt.duration,
                                           title=f"{utt.audio}@{utt.offset:g}"))
        elif path.suffix.lower() in AUDIO_SUFFIXES:
            items.append(Utterance(str(path), title=str(path)))
        else:
            raise _unsupported(path)
    return items


def transcribe_inputs(
    recognizer: Any,
    items: Sequence[Utterance],
    *,
    batch_size: int = 8,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> list[Transcript]:
    """Transcripts of ``items`` by ``recognizer`` (a :class:`Recognizer`), a batch at a time, so
    ``progress`` is told after each batch (``fraction``, ``"N of M files"``)."""
    transcripts: list[Transcript] = []
    for start in range(0, len(items), batch_size):
        raise_if_cancelled(cancel)
        batch = items[start:start + batch_size]
        transcripts.extend(recognizer.transcribe([item.source for item in batch]))
        if progress:
            progress(len(transcripts) / len(items), f"{len(transcripts)} of {len(items)} files")
    return transcripts


def transcript_row(item: Utterance, transcript: Transcript) -> dict[str, Any]:
    """The JSON form of one transcript: the utterance's manifest fields (:meth:`Utterance.to_entry`:
    ``audio_filepath``, and a segment's ``offset``/``duration``),
    ``pred_text``, ``display_text`` where custom words change it, ``words`` (start, end, confidence),
    and ``note`` where the transcript has one (no speech detected)."""
    row = item.to_entry()
    row["pred_text"] = transcript.text
    if transcript.display_text is not None and transcript.display_text != transcript.text:
        row["display_text"] = transcript.display_text
    row["words"] = [dict(w) for w in transcript.words]
    if transcript.note:
        row["note"] = transcript.note
    return row


def subtitle_cues(
    transcript: Transcript,
    *,
    duration: float | None = None,
    max_chars: int = CUE_MAX_CHARS,
    max_seconds: float = CUE_MAX_SECONDS,
    pause: float = CUE_PAUSE_SECONDS,
) -> list[tuple[float, float, str]]:
    """``(start, end, text)`` cues from the transcript's word timings, a sentence-length chunk each:
    a cue ends before it would pass ``max_chars`` or ``max_seconds``, or at a pause of ``pause``
    seconds. Starts increase and each cue ends after it starts and before the next begins.
    A transcript without word timings is one cue (over ``duration``, or half a second a word)."""
    words = [w for w in transcript.words if w.get("start") is not None and w.get("end") is not None]
    if not words:
        text = transcript.text.strip()
        if not text:
            return []
        end = duration if duration and duration > 0 else max(1.0, 0.5 * len(text.split()))
        return [(0.0, float(end), text)]
    chunks: list[list[dict[str, Any]]] = []
    for w in words:
        if chunks:
            current = chunks[-1]
            text_len = len(" ".join(str(x["word"]) for x in current)) + 1 + len(str(w["word"]))
            if (text_len <= max_chars and float(w["end"]) - float(current[0]["start"]) <= max_seconds
                    and float(w["start"]) - float(current[-1]["end"]) < pause):
                current.append(w)
                continue
        chunks.append([w])
    cues: list[tuple[float, float, str]] = []
    for chunk in chunks:
        start = max(float(chunk[0]["start"]), cues[-1][1] if cues else 0.0)
        end = max(float(chunk[-1]["end"]), start + 0.01)
        cues.append((start, end, " ".join(str(w["word"]) for w in chunk)))
    return cues


def _timestamp(seconds: float, separator: str) -> str:
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def subtitles(transcript: Transcript, fmt: str, *, duration: float | None = None) -> str:
    """The transcript as an SRT (``fmt="srt"``) or WebVTT (``"vtt"``) document."""
    if fmt not in SUBTITLE_FORMATS:
        raise InvalidOptionError(f"unknown subtitle format {fmt!r}: give one of {', '.join(SUBTITLE_FORMATS)}")
    separator = "," if fmt == "srt" else "."
    blocks = []
    for n, (start, end, text) in enumerate(subtitle_cues(transcript, duration=duration), 1):
        timing = f"{_timestamp(start, separator)} --> {_timestamp(end, separator)}"
        blocks.append(f"{n}\n{timing}\n{text}\n" if fmt == "srt" else f"{timing}\n{text}\n")
    body = "\n".join(blocks)
    return f"WEBVTT\n\n{body}" if fmt == "vtt" else body


def format_transcripts(
    items: Sequence[Utterance], transcripts: Sequence[Transcript], fmt: str, *, model: str = ""
) -> str:
    """All transcripts as one document of format ``fmt`` (see :data:`FORMATS`).

    ``jsonl``: one :func:`transcript_row` per line; ``json``: ``{"model", "results": [rows]}``;
    ``txt``: the transcript alone for one input, else ``name<TAB>text`` per line (display forms
    where custom words give them); ``srt``/``vtt``: subtitles of a single input (several inputs
    need one file each: see :func:`write_transcripts`).
    """
    if fmt not in FORMATS:
        raise InvalidOptionError(f"unknown format {fmt!r}: give one of {', '.join(FORMATS)}")
    if fmt == "jsonl":
        return "".join(json.dumps(transcript_row(i, t), ensure_ascii=False) + "\n" for i, t in zip(items, transcripts))
    if fmt == "json":
        doc = {"model": model, "results": [transcript_row(i, t) for i, t in zip(items, transcripts)]}
        return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"
    if fmt == "txt":
        texts = [t.display_text if t.display_text is not None else t.text for t in transcripts]
        if len(items) == 1:
            return texts[0] + "\n"
        return "".join(f"{i.title}\t{text}\n" for i, text in zip(items, texts))
    if len(items) != 1:
        raise InvalidOptionError(
            f"{fmt} subtitles of {len(items)} inputs need one file each: give a folder as --out"
        )
    return subtitles(transcripts[0], fmt, duration=items[0].duration)


def _subtitle_names(items: Sequence[Utterance], fmt: str) -> list[str]:
    """One distinct file name per input: its stem (and segment offset), numbered on a clash."""
    names: list[str] = []
    seen: set[str] = set()
    for item in items:
        stem = Path(item.audio).stem
        if item.offset is not None:
            stem = f"{stem}@{item.offset:g}"
        name, n = f"{stem}.{fmt}", 1
        while name in seen:
            n += 1
            name = f"{stem}-{n}.{fmt}"
        seen.add(name)
        names.append(name)
    return names


def is_folder_output(out: str | Path) -> bool:
    """Whether ``out`` names a folder to write one file per input into (an existing folder, or a path ending in ``/``)."""
    text = str(out)
    return text.endswith(("/", "\\")) or Path(text).is_dir()


def check_output(out: str | Path, fmt: str, count: int | None = None) -> None:
    """Refuse, before any audio is decoded, an output that cannot take ``fmt``: a folder for a
    single-document format, a device or pipe, or (``count`` inputs) one subtitle file for several."""
    if fmt not in FORMATS:
        raise InvalidOptionError(f"unknown format {fmt!r}: give one of {', '.join(FORMATS)}")
    if str(out) == "-":
        return
    if is_folder_output(out):
        if fmt not in SUBTITLE_FORMATS:
            raise OutputError(f"--out {out} is a folder: {fmt} output is one file; give a file path or '-'")
        if Path(out).exists() and not Path(out).is_dir():
            raise OutputError(f"--out {out} is not a folder")
        return
    check_output_path(out, "--out file")
    if fmt in SUBTITLE_FORMATS and count is not None and count > 1:
        raise OutputError(f"{fmt} subtitles of {count} inputs need one file each: give a folder as --out (e.g. subs/)")


def write_transcripts(
    items: Sequence[Utterance],
    transcripts: Sequence[Transcript],
    fmt: str,
    out: str | Path,
    *,
    model: str = "",
    stdout: TextIO | None = None,
) -> list[Path]:
    """Write the transcripts as ``fmt`` to ``out``: ``"-"`` for ``stdout``, a file (written
    atomically), or, for subtitles, a folder that gets one ``NAME.srt``/``NAME.vtt`` per input.
    Returns the files written (none for ``"-"``)."""
    check_output(out, fmt, len(items))
    if str(out) == "-":
        if stdout is None:
            raise OutputError("no stream to write to for --out -")
        if fmt in SUBTITLE_FORMATS and len(items) > 1:
            raise OutputError(f"{fmt} subtitles of {len(items)} inputs need one file each: give a folder as --out")
        stdout.write(format_transcripts(items, transcripts, fmt, model=model))
        stdout.flush()
        return []
    if is_folder_output(out):
        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        for name, item, transcript in zip(_subtitle_names(items, fmt), items, transcripts):
            written.append(atomic_write(folder / name, subtitles(transcript, fmt, duration=item.duration)))
        return written
    return [atomic_write(out, format_transcripts(items, transcripts, fmt, model=model))]
