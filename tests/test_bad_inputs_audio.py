"""Bad audio: memory follows the real content, not a header's claims; non-finite samples,
impossible rates and arrays that are not audio are refused.

Part of the adversarial probe of bad inputs and faults against the CLI, the Python API and the
workspace. Each case is a small generated fixture; each asserts the message (what is wrong, what
to do) and that nothing of the user's was lost.

Test names say the outcome: ``test_error_*`` a specific error before any work is wasted,
``test_ok_*`` a correct result where a wrong one (or a traceback) came before.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from helpers.audio import encode_av, mono_tone, write_wav

from jupyter_speechcustom.errors import AudioError
from jupyter_speechcustom.io.audio import audio_info, load_audio

# --------------------------------------- 3. memory follows the real content, not a header's claims


def test_error_a_one_hertz_header_is_refused_before_resampling(tmp_path):
    path = write_wav(tmp_path / "odd.wav", np.zeros(70_000), rate=1)  # claims 19.4 hours
    with pytest.raises(AudioError, match="header is damaged"):
        load_audio(path)
    with pytest.raises(AudioError, match="1 Hz"):
        audio_info(path)


def test_error_a_one_hertz_wav_is_never_stored(ws, tmp_path):
    path = write_wav(tmp_path / "odd.wav", np.zeros(70_000), rate=1)
    with pytest.raises(AudioError, match="header is damaged"):
        ws.add_audio(path)
    assert ws.audio() == [] and list((ws.path / "audio").iterdir()) == []


def test_error_too_long_audio_is_refused_before_it_is_read_or_resampled(tmp_path):
    path = write_wav(tmp_path / "long.wav", mono_tone(3.0, 8000), rate=8000)
    with pytest.raises(AudioError, match="over the .* limit: split it into shorter files"):
        load_audio(path, max_seconds=2.0)


def test_error_too_long_audio_through_ffmpeg(tmp_path):
    path = tmp_path / "long.webm"
    path.write_bytes(encode_av(mono_tone(3.0, 48_000)[:, None], 48_000, "webm", "libopus"))
    with pytest.raises(AudioError, match="over the .* limit"):
        load_audio(path, max_seconds=1.0)


def test_error_too_long_array(tmp_path):
    with pytest.raises(AudioError, match="over the .* limit"):
        load_audio(np.zeros(30_000, np.float32), source_rate=8000, max_seconds=2.0)


# ----------------------------------------------------------- NaN/Inf samples, bad rates, bad arrays


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_error_non_finite_samples_in_a_file(tmp_path, bad):
    import soundfile as sf

    audio = mono_tone(1.0)
    audio[100:110] = bad
    path = tmp_path / "bad.wav"
    sf.write(path, audio, 16_000, subtype="FLOAT")
    with pytest.raises(AudioError, match="10 samples that are not numbers .*re-export"):
        load_audio(path)


def test_error_non_finite_samples_in_an_array():
    audio = mono_tone(1.0)
    audio[0] = np.nan
    with pytest.raises(AudioError, match="1 samples that are not numbers"):
        load_audio(audio, source_rate=16_000)


def test_error_non_finite_samples_are_never_stored(ws, tmp_path):
    import soundfile as sf

    audio = mono_tone(1.0)
    audio[5] = np.inf
    sf.write(tmp_path / "bad.wav", audio, 16_000, subtype="FLOAT")
    with pytest.raises(AudioError, match="not numbers"):
        ws.add_audio(tmp_path / "bad.wav")
    assert ws.audio() == []


@pytest.mark.parametrize("rate", [0, -16_000, 1.5, math.nan, True, 10**9])
def test_error_impossible_source_rates(rate):
    with pytest.raises(AudioError, match="source_rate is .* a sample rate must be a whole number"):
        load_audio(mono_tone(0.1), source_rate=rate)


@pytest.mark.parametrize("rate", [0, -1])
def test_error_impossible_target_rates(tmp_path, rate):
    with pytest.raises(AudioError, match="sample_rate is"):
        load_audio(mono_tone(0.1), rate, source_rate=16_000)


@pytest.mark.parametrize(("array", "match"), [
    (np.array(["a", "b"]), "must hold numbers"),
    (np.zeros((2, 2, 2), np.float32), "1-D .* or 2-D"),
    (np.array([True, False] * 100), "must hold numbers"),
])
def test_error_arrays_that_are_not_audio(array, match):
    with pytest.raises(AudioError, match=match):
        load_audio(array, source_rate=16_000)


def test_error_unreadable_audio(tmp_path, monkeypatch):
    path = write_wav(tmp_path / "a.wav", mono_tone(0.5), 16_000)
    real_open = Path.open

    def deny(self, *args, **kwargs):
        if self == path:
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", deny)
    with pytest.raises(AudioError, match="cannot read .*permission denied; check the file's permissions"):
        load_audio(path)
