"""Audio streams as they arrive: bytes and a content type in, mono float32 samples out.

:func:`parse_content_type` reads IBM's spelling of a stream's format (``audio/l16;rate=16000;channels=1;
endianness=little-endian``, ``audio/mulaw;rate=8000``, ``audio/wav``, or a compressed type such as
``audio/ogg``); :func:`stream_decoder` gives the incremental decoder for it, whose ``push`` takes the
next bytes and returns the samples they complete (at the decoder's ``rate``, known once the header
has arrived for WAV and compressed streams) and whose ``finish`` returns what is left at the end.
Partial frames, a WAV header split over several pushes and a compressed stream's truncated last
packet are kept for the next push.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from jupyter_speechcustom.errors import AudioError, InvalidOptionError
from jupyter_speechcustom.io.audio import MAX_SAMPLE_RATE, MIN_SAMPLE_RATE, decode, to_mono

__all__ = ["COMPRESSED_STEP_BYTES", "COMPRESSED_TYPES", "WAV_TYPES", "AudioFormat", "StreamDecoder",
           "parse_content_type", "stream_decoder"]

#: A compressed stream is decoded again (from its first byte) each time this many more bytes of it have arrived.
COMPRESSED_STEP_BYTES = 8_000

#: Compressed content types, decoded from the bytes received so far (see :class:`_CompressedDecoder`).
COMPRESSED_TYPES = frozenset({
    "audio/ogg", "audio/webm", "audio/flac", "audio/x-flac", "audio/mp3", "audio/mpeg", "audio/mp4", "audio/m4a",
    "audio/x-m4a", "audio/aac", "audio/basic",
})
WAV_TYPES = frozenset({"audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave"})


@dataclass(frozen=True)
class AudioFormat:
    """A parsed content type: ``kind`` is ``"l16"``, ``"mulaw"``, ``"wav"`` or ``"compressed"``."""

    kind: str
    content_type: str
    rate: int | None = None
    channels: int = 1
    big_endian: bool = False


def parse_content_type(content_type: str) -> AudioFormat:
    """The audio format a content type names (IBM's spelling: ``audio/l16;rate=16000;channels=1;endianness=little-endian``).

    Raises:
        InvalidOptionError: an unknown type, or ``l16``/``mulaw`` without a valid ``rate``.
    """
    parts = [p.strip() for p in (content_type or "").split(";") if p.strip()]
    if not parts:
        raise InvalidOptionError("no content type: give one such as audio/l16;rate=16000, audio/wav or audio/ogg")
    kind = parts[0].lower()
    params: dict[str, str] = {}
    for part in parts[1:]:
        key, _, value = part.partition("=")
        params[key.strip().lower()] = value.strip().strip('"').lower()
    if kind in ("audio/l16", "audio/mulaw"):
        try:
            rate = int(params["rate"])
            channels = int(params.get("channels", "1"))
        except (KeyError, ValueError):
            raise InvalidOptionError(f"{content_type} needs its sample rate: e.g. {kind};rate=16000") from None
        if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE or not 1 <= channels <= 16:
            raise InvalidOptionError(f"{content_type}: the rate must be from {MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE} Hz "
                                     "and channels from 1 to 16")
        endianness = params.get("endianness", "little-endian")
        if endianness not in ("little-endian", "big-endian"):
            raise InvalidOptionError(f"{content_type}: endianness must be little-endian or big-endian")
        return AudioFormat("l16" if kind == "audio/l16" else "mulaw", kind, rate, channels,
                           endianness == "big-endian")
    if kind in WAV_TYPES:
        return AudioFormat("wav", kind)
    if kind in COMPRESSED_TYPES or kind == "application/octet-stream":
        return AudioFormat("compressed", kind)
    raise InvalidOptionError(
        f"unsupported content type {content_type!r}: use audio/l16;rate=N, audio/mulaw;rate=N, audio/wav, "
        "audio/flac, audio/ogg, audio/webm or audio/mpeg"
    )




class StreamDecoder(Protocol):
    """An incremental decoder: ``push`` the next bytes, ``finish`` at the end; both return mono float32
    samples at ``rate`` (None until the stream's header has told it)."""

    @property
    def rate(self) -> int | None: ...

    def push(self, data: bytes) -> np.ndarray: ...

    def finish(self) -> np.ndarray: ...


def stream_decoder(content_type: str | AudioFormat) -> StreamDecoder:
    """The incremental decoder of a stream in ``content_type`` (see :func:`parse_content_type`)."""
    fmt = content_type if isinstance(content_type, AudioFormat) else parse_content_type(content_type)
    if fmt.kind in ("l16", "mulaw"):
        assert fmt.rate is not None
        return _PcmDecoder(fmt.rate, fmt.channels, 2 if fmt.kind == "l16" else 1, big_endian=fmt.big_endian,
                           encoding="int" if fmt.kind == "l16" else "mulaw")
    if fmt.kind == "wav":
        return _WavDecoder()
    return _CompressedDecoder()


def _mulaw_table() -> np.ndarray:
    codes = ~np.arange(256, dtype=np.uint8)
    sign = (codes & 0x80) != 0
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = ((mantissa.astype(np.int32) << 3) + 0x84) << exponent
    values = np.where(sign, 0x84 - magnitude, magnitude - 0x84)
    return (values / 32768.0).astype(np.float32)


class _PcmDecoder:
    """Raw samples (``l16``, ``mulaw``, or a WAV's data chunk) to mono float32, keeping partial frames."""

    def __init__(self, rate: int, channels: int, width: int, *, big_endian: bool = False, encoding: str = "int") -> None:
        self.rate, self.channels, self.width = rate, channels, width
        self.encoding = encoding
        self._dtype = np.dtype({1: "u1", 2: "i2", 4: "i4" if encoding == "int" else "f4"}.get(width, "u1"))
        if width in (2, 4):
            self._dtype = self._dtype.newbyteorder(">" if big_endian else "<")
        self._rest = b""
        self._table = _mulaw_table() if encoding == "mulaw" else None

    def push(self, data: bytes) -> np.ndarray:
        data = self._rest + data
        frame = self.width * self.channels
        usable = len(data) - len(data) % frame
        self._rest = data[usable:]
        raw = data[:usable]
        if not raw:
            return np.zeros(0, np.float32)
        if self.width == 3:
            b = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
            ints = (b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16))
            samples = (np.where(ints >= 1 << 23, ints - (1 << 24), ints) / float(1 << 23)).astype(np.float32)
        else:
            values = np.frombuffer(raw, self._dtype)
            if self._table is not None:
                samples = self._table[values]
            elif self.encoding == "float":
                samples = values.astype(np.float32)
            elif self.width == 1:
                samples = (values.astype(np.float32) - 128.0) / 128.0
            else:
                samples = (values / float(1 << (8 * self.width - 1))).astype(np.float32)
        samples = samples.reshape(-1, self.channels)
        return to_mono(samples).astype(np.float32, copy=False) if self.channels > 1 else samples[:, 0]

    def finish(self) -> np.ndarray:
        return np.zeros(0, np.float32)


class _WavDecoder:
    """A WAV stream: the RIFF header is parsed as it arrives, then the data chunk is read as PCM.

    The data chunk may announce any length (streaming writers put 0 or 0xFFFFFFFF there):
    everything after its header is taken as samples.
    """

    def __init__(self) -> None:
        self._head = b""
        self._pcm: _PcmDecoder | None = None
        self.rate: int | None = None

    def push(self, data: bytes) -> np.ndarray:
        if self._pcm is not None:
            return self._pcm.push(data)
        self._head += data
        head = self._head
        if len(head) < 12:
            return np.zeros(0, np.float32)
        if head[:4] not in (b"RIFF", b"RIFX") or head[8:12] != b"WAVE":
            raise AudioError("the stream is not WAV (no RIFF/WAVE header): send audio/wav from its first byte, "
                             "or name its real content type")
        big = head[:4] == b"RIFX"
        order = ">" if big else "<"
        pos = 12
        fmt: tuple[int, int, int, int] | None = None
        while len(head) >= pos + 8:
            chunk, size = head[pos:pos + 4], struct.unpack(order + "I", head[pos + 4:pos + 8])[0]
            if chunk == b"data":
                if fmt is None:
                    raise AudioError("the WAV stream has its data before its fmt chunk: it is damaged")
                tag, channels, rate, bits = fmt
                if tag == 3 and bits == 32:
                    encoding, width = "float", 4
                elif tag == 7 and bits == 8:
                    encoding, width = "mulaw", 1
                elif tag == 1 and bits in (8, 16, 24, 32):
                    encoding, width = "int", bits // 8
                else:
                    raise AudioError(f"the WAV stream is encoded as format {tag} with {bits}-bit samples: stream "
                                     "16-bit PCM WAV (or audio/l16), or send the file to /v1/recognize")
                if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE or not 1 <= channels <= 16:
                    raise AudioError(f"the WAV stream's header says {rate} Hz and {channels} channels: it is damaged")
                self.rate = rate
                self._pcm = _PcmDecoder(rate, channels, width, big_endian=big, encoding=encoding)
                rest = head[pos + 8:]
                self._head = b""
                return self._pcm.push(rest)
            if len(head) < pos + 8 + size:
                break  # wait for the rest of this chunk
            if chunk == b"fmt ":
                tag, channels, rate = struct.unpack(order + "HHI", head[pos + 8:pos + 16])
                bits = struct.unpack(order + "H", head[pos + 22:pos + 24])[0]
                if tag == 0xFFFE and size >= 40:  # WAVE_FORMAT_EXTENSIBLE: the sub-format's first two bytes
                    tag = struct.unpack(order + "H", head[pos + 32:pos + 34])[0]
                fmt = (tag, channels, rate, bits)
            pos += 8 + size + (size & 1)
        if len(head) > 1 << 20:
            raise AudioError("the WAV stream's header is over 1 MB without a data chunk: it is damaged")
        return np.zeros(0, np.float32)

    def finish(self) -> np.ndarray:
        if self._pcm is None and self._head:
            raise AudioError("the WAV stream ended before its data chunk: no audio was received")
        return np.zeros(0, np.float32)


class _CompressedDecoder:
    """OGG, WebM, FLAC, MP3…: the bytes received so far are decoded again (from the first byte)
    every :data:`COMPRESSED_STEP_BYTES`, and the samples not yet returned are returned.

    A truncated last page or packet is normal mid-stream: its samples come with a later step.
    Decoding from the start costs more as the stream grows; long live streams should use l16 or WAV.
    """

    def __init__(self) -> None:
        self._data = bytearray()
        self._done = 0  # samples already returned
        self._decoded_at = 0
        self.rate: int | None = None

    def _decode(self, final: bool) -> np.ndarray:
        self._decoded_at = len(self._data)
        try:
            samples, rate = decode(bytes(self._data))
        except AudioError:
            if final:
                raise
            return np.zeros(0, np.float32)
        if self.rate is None:
            self.rate = rate
        mono = to_mono(samples).astype(np.float32, copy=False)
        # Mid-stream, the last few milliseconds may still change once the next packet arrives.
        keep = len(mono) if final else max(self._done, len(mono) - int(0.05 * rate))
        new = mono[self._done:keep]
        self._done = keep
        return new

    def push(self, data: bytes) -> np.ndarray:
        self._data += data
        if len(self._data) - self._decoded_at < COMPRESSED_STEP_BYTES:
            return np.zeros(0, np.float32)
        return self._decode(final=False)

    def finish(self) -> np.ndarray:
        if not self._data:
            return np.zeros(0, np.float32)
        return self._decode(final=True)
