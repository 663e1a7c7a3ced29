import numpy as np
import pytest
from helpers.audio import tone

from jupyter_speechcustom.errors import AudioError
from jupyter_speechcustom.io.audio import audio_info, load_audio


@pytest.mark.parametrize("name", ["a.wav", "a.flac", "a.ogg", "a.mp3", "a.webm", "a.m4a"])
def test_common_formats_load_as_16k_mono(write_audio, name):
    rate = 48_000 if name.endswith((".webm", ".ogg")) else 44_100
    path = write_audio(name, tone(1.0, rate, channels=2), rate)
    audio = load_audio(path)
    assert audio.dtype == np.float32 and audio.ndim == 1
    # Lossy codecs add priming samples: allow 0.1 s either way.
    assert abs(len(audio) / 16_000 - 1.0) < 0.1
    assert 0.1 < np.abs(audio).max() < 1.0


def test_8k_stereo_is_resampled_and_mixed_down(write_audio):
    path = write_audio("phone.wav", tone(2.0, 8_000, channels=2), 8_000)
    info = audio_info(path)
    assert (info.sample_rate, info.channels) == (8_000, 2)
    audio = load_audio(path)
    assert len(audio) == 32_000


def test_bytes_and_arrays(write_audio):
    path = write_audio("b.webm", tone(0.5, 48_000), 48_000)
    from_bytes = load_audio(path.read_bytes())
    assert abs(len(from_bytes) - 8_000) < 1_600
    from_array = load_audio(tone(1.0, 22_050)[:, 0], source_rate=22_050)
    assert len(from_array) == 16_000
    with pytest.raises(AudioError, match="source_rate"):
        load_audio(tone(1.0)[:, 0])


def test_empty_file(tmp_path):
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    with pytest.raises(AudioError, match="empty"):
        load_audio(path)


def test_corrupt_file_names_formats_and_fix(tmp_path):
    path = tmp_path / "noise.wav"
    path.write_bytes(b"RIFF\x00\x00garbage" + bytes(range(256)) * 4)
    with pytest.raises(AudioError) as err:
        load_audio(path)
    assert "cannot decode" in str(err.value) and "ffmpeg" in str(err.value)
    assert path.exists()  # nothing of the user's is touched


def test_missing_file(tmp_path):
    with pytest.raises(AudioError, match="no audio file"):
        load_audio(tmp_path / "nope.wav")
