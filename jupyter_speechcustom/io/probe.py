"""What an audio file's header says, read without decoding the audio."""

from __future__ import annotations

from pathlib import Path

from jupyter_speechcustom.errors import AudioError

__all__ = ["audio_seconds"]


def audio_seconds(path: str | Path) -> float | None:
    """The duration ``path``'s header declares; None when its format declares none (then its
    length is only known by decoding it, which the decoder's own limits bound)."""
    import av
    import soundfile as sf

    path = Path(path)
    if not path.is_file():
        raise AudioError(f"no audio file at {path}: check the path")
    try:
        info = sf.info(str(path))
    except Exception:  # noqa: BLE001 - not a format soundfile reads: PyAV is asked below
        info = None
    if info is not None and info.frames > 0 and info.samplerate > 0:
        return float(info.frames / info.samplerate)
    try:
        with av.open(str(path)) as container:
            if container.duration is not None and container.duration > 0:
                return float(container.duration / av.time_base)
    except Exception:  # noqa: BLE001 - undecodable: decoding it says why
        return None
    return None
