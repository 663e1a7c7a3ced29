"""Recognition: run the acoustic model once, then decode its log-probs.

Splitting the two lets a user re-decode with other customization weights without
re-running the acoustic model (see :mod:`jupyter_speechcustom.asr.decoding`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from jupyter_speechcustom.constants import BATCH_SIZE, MAX_AUDIO_SECONDS, SEGMENT_SECONDS
from jupyter_speechcustom.errors import AudioError
from jupyter_speechcustom.io.audio import AudioSource, load_audio, split_on_pauses
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
    """

    text: str
    audio: str = ""
    words: tuple[dict[str, Any], ...] = field(default=(), repr=False)
    display_text: str | None = None


@dataclass(frozen=True)
class AcousticOutput:
    """What the acoustic model gives for one utterance, as its family caches it (CTC: frame
    log-probabilities, ``(frames, vocabulary + blank)``), and the seconds per frame."""

    log_probs: np.ndarray = field(repr=False)
    frame_shift: float
    audio: str = ""

    @property
    def duration(self) -> float:
        return len(self.log_probs) * self.frame_shift


def _label(source: AudioSource) -> str:
    if isinstance(source, bytes):
        return "<bytes>"
    return "<array>" if isinstance(source, np.ndarray) else str(source)  # a path, or a Segment of a file


def acoustic_outputs(
    model: BaseModel,
    sources: Sequence[AudioSource],
    *,
    batch_size: int = BATCH_SIZE,
    source_rate: int | None = None,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> list[AcousticOutput]:
    """Run the acoustic model over ``sources`` (paths, bytes or arrays at ``source_rate``).

    What is kept per utterance is what the model's family caches (CTC: frame log-probs), so
    decoding it again with other weights never re-runs the model.
    """
    import torch

    asr = model.asr_model
    asr.eval()
    rate = model.sample_rate
    # Long recordings are cut at pauses; their segments' frames are joined again afterwards.
    pieces: list[tuple[int, np.ndarray]] = []
    for n, source in enumerate(sources):
        audio = load_audio(source, rate, source_rate=source_rate)
        if len(audio) > MAX_AUDIO_SECONDS * rate:
            msg = (f"{_label(source)} lasts {len(audio) / rate / 3600:.1f} h, over the "
                   f"{MAX_AUDIO_SECONDS / 3600:.0f} h limit: split it into shorter files")
            raise AudioError(msg)
        pieces.extend((n, segment) for segment in split_on_pauses(audio, rate, SEGMENT_SECONDS))
    order = sorted(range(len(pieces)), key=lambda i: len(pieces[i][1]))  # similar lengths pad less
    shift = model.frame_shift
    family = model.family
    frames: list[np.ndarray | None] = [None] * len(pieces)
    done = 0
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            lengths = torch.tensor([len(pieces[i][1]) for i in idx])
            batch = torch.zeros(len(idx), int(lengths.max()))
            for row, i in enumerate(idx):
                batch[row, : len(pieces[i][1])] = torch.from_numpy(pieces[i][1])
            for i, out in zip(idx, family.acoustic_pass(asr, batch, lengths)):
                frames[i] = out
            done += len(idx)
            if progress:
                progress(done / len(pieces), f"acoustic model: {done} of {len(pieces)} segments")
            raise_if_cancelled(cancel)
    results = []
    for n, source in enumerate(sources):
        parts = [f for (owner, _), f in zip(pieces, frames) if owner == n and f is not None]
        results.append(AcousticOutput(np.concatenate(parts), shift, _label(source)))
    return results


def greedy_decode(model: BaseModel, outputs: Sequence[AcousticOutput]) -> list[str]:
    """Greedy decoding, as the model's family does it."""
    if not outputs:
        return []
    ids = model.family.greedy_ids(model.asr_model, [out.log_probs for out in outputs])
    return [model.ids_to_text(i) for i in ids]


def transcribe(
    model: BaseModel,
    sources: Sequence[AudioSource],
    *,
    batch_size: int = BATCH_SIZE,
    source_rate: int | None = None,
) -> list[Transcript]:
    """Transcribe with the base model alone (greedy decoding)."""
    outputs = acoustic_outputs(model, sources, batch_size=batch_size, source_rate=source_rate)
    return [Transcript(text, out.audio) for text, out in zip(greedy_decode(model, outputs), outputs)]
