"""The Explore tab in a real JupyterLab 4 and Chromium: the demo test set's statistics and histogram,
a transcription with the base model, and one utterance's waveform, spectrogram and player."""

from __future__ import annotations

from pathlib import Path

import pytest

from jupyter_speechcustom import demo
from jupyter_speechcustom.io.manifest import read_manifest

pytestmark = pytest.mark.browser

ERRORS = ("Error displaying widget", "Failed to load model class", "Error creating widget")


def _no_widget_errors(page) -> None:
    text = page.locator("#jp-main-dock-panel").inner_text()
    found = [e for e in ERRORS if e in text]
    assert not found, f"widget errors on the page: {found}"


def _image_height(page, selector: str) -> float:
    return float(page.locator(selector).first.evaluate("img => img.naturalHeight"))


def test_explore_tab_shows_statistics_and_a_spectrogram(lab, page, screenshots: Path):
    page.set_default_timeout(60_000)
    page.goto(lab.notebook_url("studio.ipynb"))
    page.locator(".jp-Notebook").wait_for()
    page.locator("#jp-main-statusbar", has_text="Idle").wait_for(timeout=60_000)
    page.evaluate("window.jupyterapp.commands.execute('application:toggle-left-area')")
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    page.locator(".sc-studio").wait_for(timeout=120_000)

    page.locator(".sc-tabs .lm-TabBar-tab", has_text="Explore").first.click()
    panel = page.locator(".sc-explore-panel")
    panel.wait_for(state="visible")
    _no_widget_errors(page)

    # Choose the demo's dev set, then its test set: the statistics follow the choice.
    source = page.locator(".sc-explore-source select")
    source.select_option(label="demo domain/dev")
    page.locator(".sc-explore-stats", has_text="demo domain/dev").wait_for()
    source.select_option(label="demo domain/test")
    stats = page.locator(".sc-explore-stats", has_text="demo domain/test")
    stats.wait_for()
    text = stats.inner_text()
    assert "utterances\t80" in text or "utterances 80" in " ".join(text.split())
    assert "904 words" in text and "OOV rate" in text and "0.09 h" in text
    assert page.locator(".sc-explore-oov .sc-chip").count() > 0  # the most frequent OOV words
    assert page.locator("img.sc-explore-histogram").is_visible()
    assert _image_height(page, "img.sc-explore-histogram") > 100
    assert page.locator(".sc-explore-table .sc-row-button:visible").count() == 15

    # Transcribe with the base model (a background job): transcripts, WER and CER per utterance.
    page.locator(".sc-explore-transcribe").click()
    page.locator(".sc-explore-panel .sc-status-area", has_text="Transcribed demo domain/test").wait_for(
        timeout=120_000)
    assert "base WER / CER" in page.locator(".sc-explore-stats").inner_text()
    assert "base transcript" in page.locator(".sc-explore-table").inner_text()
    page.locator(".sc-explore-sort select").select_option(label="highest WER first")
    page.locator(".sc-explore-table .sc-row-button").first.wait_for()

    # One utterance, clicked in the table: its word-aligned diff, waveform and spectrogram, and a player.
    page.locator(".sc-explore-table .sc-row-button").nth(1).click()
    page.locator("img.sc-explore-plot").wait_for(state="visible", timeout=30_000)
    assert _image_height(page, "img.sc-explore-plot") > 200
    page.locator(".sc-explore-detail .sc-diff").wait_for()
    assert page.locator(".sc-explore-panel audio").count() == 1
    # The player knows the clip's true length (the browser reads it from the audio it was given).
    number = page.locator(".sc-explore-table .sc-rows-chosen .sc-row-button").inner_text().strip()
    shown = page.locator(".sc-explore-detail").inner_text()
    assert shown.startswith(f"{number}. "), (number, shown)  # the row marked is the utterance shown
    lengths = {Path(e["audio_filepath"]).stem: e["duration"] for e in read_manifest(demo.manifest("domain/test"))}
    (name,) = [stem for stem in lengths if stem in shown]
    duration = page.locator(".sc-explore-panel audio").evaluate(
        "a => new Promise(done => a.readyState >= 1 ? done(a.duration)"
        " : a.addEventListener('loadedmetadata', () => done(a.duration)))")
    assert duration == pytest.approx(lengths[name], abs=0.03), (name, duration)
    _no_widget_errors(page)
    page.locator("img.sc-explore-plot").scroll_into_view_if_needed()
    panel.screenshot(path=str(screenshots / "explore.png"))
    outputs = page.locator(".jp-OutputArea-output").all_inner_texts()
    assert not any("Traceback" in o for o in outputs), outputs
    errors = [m for m in page.console_messages if m.startswith("pageerror")]
    assert not errors, errors
