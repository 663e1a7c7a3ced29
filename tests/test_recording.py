"""Recording in the Data tab: a clipped take is named, with what to do; the form stays in place."""

from __future__ import annotations

import html

import numpy as np
import pytest
from helpers.audio import encode_av, tone

from jupyter_speechcustom.evaluation import diffview
from jupyter_speechcustom.io.audio import CLIPPING_PEAK, level_warnings
from jupyter_speechcustom.services.workspace import Workspace

pytestmark = pytest.mark.slow


def test_a_recording_peaking_at_full_scale_is_clipping_a_normalized_file_is_not():
    quiet = 0.3 * np.sin(np.linspace(0, 2000, 16_000)).astype(np.float32)
    assert level_warnings(quiet, 16_000, recording=True) == []
    one_peak = quiet.copy()
    one_peak[100] = 1.0  # 0 dBFS in one sample: too few samples at 1.0 to be counted
    (warning,) = level_warnings(one_peak, 16_000, recording=True)
    assert "clips" in warning and "0.0 dBFS" in warning
    assert "move back from the microphone or lower its input gain" in warning
    # A file normalized to a peak of 0 dBFS (synthesized or mastered speech: few samples near the peak) is not clipped.
    speechlike = np.random.default_rng(0).standard_normal(16_000).astype(np.float32)
    assert level_warnings(speechlike / np.abs(speechlike).max(), 16_000) == []
    hot = np.clip(5 * quiet, -1, 1)
    assert "% of samples" in level_warnings(hot, 16_000, recording=True)[0]
    assert "% of samples are at full scale" in level_warnings(hot, 16_000)[0]
    assert level_warnings(quiet / np.abs(quiet).max() * 0.98, 16_000, recording=True) == []  # -0.2 dBFS
    assert 0.98 < CLIPPING_PEAK < 1.0


def test_a_clipped_recording_warns_and_the_form_keeps_its_place(tmp_path, demo_model):
    from jupyter_speechcustom.widgets import DataPanel

    panel = DataPanel(Workspace(tmp_path / "ws"), demo_model)
    loud = np.clip(4 * tone(1.5, 48_000), -1.0, 1.0)  # a voice too close to the microphone
    panel.recorder.audio.value = encode_av(loud, 48_000, "webm", "libopus")
    text = html.unescape(panel.status.value)
    assert "Recorded 1.5 s" in text and "the recording clips" in text
    assert "move back from the microphone or lower its input gain" in text
    panel.recorder.audio.value = encode_av(tone(1.5, 48_000), 48_000, "webm", "libopus")  # 0.3: fine
    assert "clips" not in html.unescape(panel.status.value)

    # The status area and the recording clock have fixed widths: text of another length after Stop
    # does not move the form beside them.
    assert panel.status.layout.width == "100%"
    assert "sc-record-clock" in panel.record_clock._dom_classes
    assert ".sc-record-clock { width: 300px !important; flex: 0 0 300px !important;" in diffview.CSS


def test_a_recording_at_full_scale_reads_peak_0_dbfs_not_minus_0():
    from jupyter_speechcustom.widgets._recording import recording_level

    loud = np.full(16_000, 0.98, np.float32)  # -0.2 dBFS
    assert recording_level(loud).startswith("peak 0 dBFS, speech level 0 dBFS")
    assert recording_level(loud * 0.1) == "peak -20 dBFS, speech level -20 dBFS"
