"""Recognition: run the acoustic model once, then decode the frames it gave.

Splitting the two lets a user re-decode with other customization weights without
re-running the acoustic model (see :mod:`jupyter_speechcustom.asr.decoding`).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import logging
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from jupyter_speechcustom.constants import (
    BATCH_SIZE,
    LONG_AUDIO_SECONDS,
    MAX_AUDIO_SECONDS,
    NO_SPEECH_NOTE,
    SEGMENT_SECONDS,
    SILENCE_SKIP_SECONDS,
    SPEECH_DETECTION,
    SPEECH_THRESHOLD,
    UTTERANCE_PAUSE_SECONDS,
)
from jupyter_speechcustom.errors import AudioError
from jupyter_speechcustom.io.audio import AudioFile, AudioSource, Segment, load_audio, pause_cuts, split_on_pauses
from jupyter_speechcustom.jobs.progress import ProgressCallback, raise_if_cancelled

if TYPE_CHECKING:
    from jupyter_speechcustom.asr.models import BaseModel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Transcript:
    """A recognized utterance.

    Attributes:
        text: the transcript in the model's normalized form.
        audio: the audio's path, or ``"<array>"``/``"<bytes>"``.
        words: per word, ``{"word", "start", "end", "confidence"}`` where the decoder gives them.
        display_text: ``text`` with custom words' display-as forms applied.
        note: why the transcript is what it is, when that is not plain recognition
            (:data:`~jupyter_speechcustom.constants.NO_SPEECH_NOTE`: no speech was detected).
        alternatives: the next-best transcripts, best first (display forms applied), when they
            were asked for; never ``text`` again.
    """

    text: str
    audio: str = ""
    words: tuple[dict[str, Any], ...] = field(default=(), repr=False)
    display_text: str | None = None
    note: str | None = None
    alternatives: tuple[str, ...] = ()


@dataclass(frozen=True)
class AcousticOutput:
    """What the acoustic model gives for one utterance, as its family caches it, and the seconds per frame.

    ``frames`` are the encoder output as the family's default head reads it
    (:meth:`~jupyter_speechcustom.asr.family_base.ModelFamily.project`): for a CTC model, per-frame
    log-probabilities ``(frames, vocabulary + blank)``; for a transducer or a hybrid, the encoder
    output itself ``(frames, d_model)``, which its heads decode (a hybrid's CTC head projects it).

    Long audio cut between utterances by speech detection keeps its utterances apart: ``pieces``
    holds each one's first frame and its start in the audio (seconds), and each is decoded on its
    own (:func:`utterances`); the long pauses between them were never run through the model, and
    ``seconds`` is the audio's length. Audio without speech has no frames and a ``note``.
    """

    frames: np.ndarray = field(repr=False)
    frame_shift: float
    audio: str = ""
    pieces: tuple[tuple[int, float], ...] = ()
    seconds: float | None = None
    note: str | None = None

    @property
    def duration(self) -> float:
        """Seconds of audio (of frames, a frame's rounding over it, when the model ran over it whole)."""
        return self.seconds if self.seconds is not None else len(self.frames) * self.frame_shift


def _label(source: AudioSource) -> str:
    if isinstance(source, bytes):
        return "<bytes>"
    return "<array>" if isinstance(source, np.ndarray) else str(source)  # a path, or a Segment of a file


@contextlib.contextmanager
def _in_this_process_only(asr: Any) -> Iterator[None]:
    """Run a conformer encoder without agreeing on a padded length with other processes.

    In a distributed run NeMo's conformer encoders all-reduce the longest input before every
    forward pass. Recognition runs in one process (rank 0 alone scores the dev and general sets),
    so that collective call would wait for processes that never make it.
    """
    encoder: Any = getattr(asr, "encoder", None)
    if not getattr(encoder, "sync_max_audio_length", False):
        yield
        return
    encoder.sync_max_audio_length = False
    try:
        yield
    finally:
        encoder.sync_max_audio_length = True


def _long_file(source: AudioSource, rate: int) -> AudioFile | None:
    """``source`` opened to be read a block at a time, when it is a file or a segment of one lasting
    over :data:`~jupyter_speechcustom.constants.LONG_AUDIO_SECONDS`; None otherwise, and for a file
    that does not open (:func:`load_audio` then says what is wrong with it)."""
    if not isinstance(source, (str, Path, Segment)):
        return None
    try:
        audio = AudioFile(source, rate)
    except AudioError:
        return None
    return audio if audio.seconds > LONG_AUDIO_SECONDS else None


def _samples(audio: np.ndarray | AudioFile, start: int, stop: int) -> np.ndarray:
    return audio[start:stop] if isinstance(audio, np.ndarray) else audio.read(start, stop)


def _check_read(audio: AudioFile, length: int) -> None:
    if not length:
        raise AudioError(f"{audio.name} decodes to no samples: it holds no audio")


@functools.cache
def _malloc_trim() -> Any:
    """glibc's ``malloc_trim``, or None where the C library has none (macOS, musl)."""
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


def _release_freed_memory() -> None:
    """Hand the memory the last batch freed back to the system.

    Batches come in order of length, each a little larger than the last, and glibc keeps most of
    what each one frees without reusing it: over 52 minutes of speech the process grew by ~900 MB
    of freed activations, ~190 MB with this after each batch (~10 ms a batch)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def acoustic_outputs(
    model: BaseModel,
    sources: Sequence[AudioSource],
    *,
    batch_size: int = BATCH_SIZE,
    source_rate: int | None = None,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    speech_detection: bool = SPEECH_DETECTION,
    speech_threshold: float = SPEECH_THRESHOLD,
) -> list[AcousticOutput]:
    """Run the acoustic model over ``sources`` (paths, bytes or arrays at ``source_rate``).

    What is kept per utterance is the frames the model's family caches (:class:`AcousticOutput`), so
    decoding it again with other weights never re-runs the model.

    With ``speech_detection`` (see :mod:`jupyter_speechcustom.asr.speech`), audio in which no
    speech is detected is not run through the model (no frames, and a ``note``), and audio
    longer than :data:`~jupyter_speechcustom.constants.SEGMENT_SECONDS` is cut between
    utterances, its pauses over :data:`~jupyter_speechcustom.constants.SILENCE_SKIP_SECONDS`
    skipped; without it, long audio is cut at its quietest moments. ``speech_threshold`` is the
    detector's threshold (0-1: lower finds more speech).

    A file (or :class:`~jupyter_speechcustom.io.audio.Segment`) longer than
    :data:`~jupyter_speechcustom.constants.LONG_AUDIO_SECONDS` is never held whole: it is read a
    block at a time to find the speech (or the cuts), then each piece is read again from the file
    when its batch runs. Memory then follows the block and batch sizes, not the file's length.
    """
    import torch

    asr = model.asr_model
    asr.eval()
    rate = model.sample_rate
    audios: list[np.ndarray | AudioFile] = []
    for source in sources:
        long = _long_file(source, rate)
        if long is not None:
            audios.append(long)
            continue
        samples = load_audio(source, rate, source_rate=source_rate)
        if len(samples) > MAX_AUDIO_SECONDS * rate:
            msg = (f"{_label(source)} lasts {len(samples) / rate / 3600:.1f} h, over the "
                   f"{MAX_AUDIO_SECONDS / 3600:.0f} h limit: split it into shorter files")
            raise AudioError(msg)
        audios.append(samples)
    lengths = [len(audio) if isinstance(audio, np.ndarray) else 0 for audio in audios]  # files: once read
    # Long recordings are cut into pieces; their frames are joined again afterwards.
    pieces: list[tuple[int, int, int]] = []  # (source, first sample, samples)
    if speech_detection:
        from jupyter_speechcustom.asr.speech import speech_pieces, speech_spans, stream_speech_spans

        held = {n: audio for n, audio in enumerate(audios) if isinstance(audio, np.ndarray)}
        found = dict(zip(held, speech_spans(list(held.values()), rate, cancel=cancel, threshold=speech_threshold)))
        for n, audio in enumerate(audios):
            if isinstance(audio, AudioFile):
                found[n], lengths[n] = stream_speech_spans(audio.blocks(), rate, cancel=cancel,
                                                           threshold=speech_threshold)
                _check_read(audio, lengths[n])
        for n, audio in enumerate(audios):
            if not found[n]:
                continue
            if lengths[n] <= SEGMENT_SECONDS * rate:
                pieces.append((n, 0, lengths[n]))
                continue
            for start, end in speech_pieces(lengths[n], found[n], rate, max_seconds=SEGMENT_SECONDS,
                                            skip_seconds=SILENCE_SKIP_SECONDS, cut_seconds=UTTERANCE_PAUSE_SECONDS):
                if end - start <= SEGMENT_SECONDS * rate:
                    pieces.append((n, start, end - start))
                    continue
                for part in split_on_pauses(_samples(audio, start, end), rate, SEGMENT_SECONDS):
                    pieces.append((n, start, len(part)))
                    start += len(part)
    else:
        for n, audio in enumerate(audios):
            if isinstance(audio, AudioFile):
                parts = pause_cuts(audio.blocks(), rate, SEGMENT_SECONDS)
                lengths[n] = sum(parts)
                _check_read(audio, lengths[n])
            else:
                parts = [len(part) for part in split_on_pauses(audio, rate, SEGMENT_SECONDS)]
            start = 0
            for part_length in parts:
                pieces.append((n, start, part_length))
                start += part_length
    order = sorted(range(len(pieces)), key=lambda i: pieces[i][2])  # similar lengths pad less
    long_files = any(isinstance(audio, AudioFile) for audio in audios)
    shift = model.frame_shift
    family = model.family
    frames: list[np.ndarray | None] = [None] * len(pieces)
    done = 0
    with torch.inference_mode(), _in_this_process_only(asr):
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            # Pieces of long files are read from them only now: one batch of them is held at a time.
            read = [_samples(audios[pieces[i][0]], pieces[i][1], pieces[i][1] + pieces[i][2]) for i in idx]
            lengths_in_batch = torch.tensor([len(piece) for piece in read])
            batch = torch.zeros(len(idx), int(lengths_in_batch.max()))
            for row, piece in enumerate(read):
                batch[row, : len(piece)] = torch.from_numpy(piece)
            for i, out in zip(idx, family.encode(asr, batch, lengths_in_batch)):
                frames[i] = out
            if long_files:
                _release_freed_memory()
            done += len(idx)
            if progress:
                progress(done / len(pieces), f"acoustic model: {done} of {len(pieces)} segments")
            raise_if_cancelled(cancel)
    results = []
    for n, source in enumerate(sources):
        seconds = lengths[n] / rate
        own = [(start, f) for (owner, start, _), f in zip(pieces, frames) if owner == n and f is not None]
        if not own:
            results.append(AcousticOutput(np.zeros((0, 0), np.float32), shift, _label(source), seconds=seconds,
                                          note=NO_SPEECH_NOTE))
            continue
        starts, position = [], 0
        for start, f in own:
            starts.append((position, start / rate))
            position += len(f)
        # Utterances found by speech detection are decoded apart; pieces cut at quiet moments are one.
        apart = speech_detection and len(own) > 1
        results.append(AcousticOutput(np.concatenate([f for _, f in own]), shift, _label(source),
                                      pieces=tuple(starts) if apart else (), seconds=seconds if apart else None))
    return results


def utterances(outputs: Sequence[AcousticOutput]) -> tuple[list[AcousticOutput], list[tuple[int, float]]]:
    """What to decode: each output with frames, or each of its pieces, as an output of its own; and
    for each, the index of its output and its start in that output's audio (seconds). Outputs
    without speech have none."""
    parts: list[AcousticOutput] = []
    owners: list[tuple[int, float]] = []
    for n, out in enumerate(outputs):
        if not len(out.frames):
            continue
        if not out.pieces:
            parts.append(out)
            owners.append((n, 0.0))
            continue
        ends = [first for first, _ in out.pieces[1:]] + [len(out.frames)]
        for (first, start), end in zip(out.pieces, ends):
            parts.append(AcousticOutput(out.frames[first:end], out.frame_shift, out.audio))
            owners.append((n, start))
    return parts, owners


def join_texts(count: int, owners: Sequence[tuple[int, float]], texts: Sequence[str]) -> list[str]:
    """The transcripts of ``count`` outputs from those of their :func:`utterances`."""
    joined: list[list[str]] = [[] for _ in range(count)]
    for (n, _), text in zip(owners, texts):
        if text.strip():
            joined[n].append(text.strip())
    return [" ".join(parts) for parts in joined]


def greedy_decode(model: BaseModel, outputs: Sequence[AcousticOutput], *, head: str | None = None) -> list[str]:
    """Greedy decoding, as the model's family does it ("" where no speech was detected); ``head``:
    which head of a hybrid model decodes (None: the one it was loaded with)."""
    parts, owners = utterances(outputs)
    ids = model.family.greedy_ids(model.asr_model, [p.frames for p in parts], head or model.head) if parts else []
    texts = [model.ids_to_text(i) for i in ids]
    if [n for n, _ in owners] == list(range(len(outputs))):  # one utterance each: the texts as they are
        return texts
    return join_texts(len(outputs), owners, texts)


def transcribe(
    model: BaseModel,
    sources: Sequence[AudioSource],
    *,
    batch_size: int = BATCH_SIZE,
    source_rate: int | None = None,
    speech_detection: bool = SPEECH_DETECTION,
) -> list[Transcript]:
    """Transcribe with the base model alone (greedy decoding)."""
    outputs = acoustic_outputs(model, sources, batch_size=batch_size, source_rate=source_rate,
                               speech_detection=speech_detection)
    return [Transcript(text, out.audio, note=out.note) for text, out in zip(greedy_decode(model, outputs), outputs)]
