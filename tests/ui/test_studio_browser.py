"""The Studio in a real JupyterLab 4 and Chromium: every tab renders, the fake microphone's
recording reaches the workspace, an LM build and a comparison complete and show the diff."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ERRORS = ("Error displaying widget", "Failed to load model class", "Error creating widget")
TABS = ("Data", "Language model", "Acoustic model", "Compare")


def _shoot(page, folder: Path, name: str) -> Path:
    path = folder / f"studio-{name}.png"
    page.locator(".sc-studio").screenshot(path=str(path))
    return path


def _no_widget_errors(page) -> None:
    text = page.locator("#jp-main-dock-panel").inner_text()
    found = [e for e in ERRORS if e in text]
    assert not found, f"widget errors on the page: {found}"


def _open_tab(page, title: str) -> None:
    page.locator(".sc-tabs .lm-TabBar-tab", has_text=title).first.click()
    page.wait_for_timeout(300)


def _status(page, panel: str):
    return page.locator(f".{panel} .sc-status-area").first


def test_studio_end_to_end(lab, page, screenshots):
    from jupyter_speechcustom import demo
    from jupyter_speechcustom.services.workspace import Workspace

    page.set_default_timeout(60_000)
    page.goto(lab.notebook_url("studio.ipynb"))
    page.locator(".jp-Notebook").wait_for()
    page.locator("#jp-main-statusbar", has_text="Idle").wait_for(timeout=60_000)
    page.evaluate("window.jupyterapp.commands.execute('application:toggle-left-area')")
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    studio = page.locator(".sc-studio")
    studio.wait_for(timeout=120_000)
    _no_widget_errors(page)

    # Every tab renders, without widget errors.
    for title, panel in zip(TABS, ("sc-data-panel", "sc-lm-panel", "sc-am-panel", "sc-compare-panel")):
        _open_tab(page, title)
        page.locator(f".{panel}").wait_for(state="visible")
        _no_widget_errors(page)
    _open_tab(page, "Data")
    page.locator(".sc-record").wait_for(state="visible")

    # A corpus through the FileUpload button: statistics and OOV words appear.
    with page.expect_file_chooser() as chooser:
        page.locator(".sc-corpus-upload").click()
    chooser.value.set_files(str(demo.corpus_path()))
    page.locator(".sc-corpus-table", has_text="corpus.txt").wait_for()
    assert "Added 1 corpus" in _status(page, "sc-data-panel").inner_text()
    assert page.locator(".sc-corpus-table .sc-chip").count() > 0  # OOV words

    # A recording from Chromium's fake microphone reaches Python and the workspace.
    record = page.locator(".sc-record")
    record.click()
    page.locator(".sc-record-clock", has_text="recording 0:0").wait_for()  # a clock runs while it records
    page.wait_for_timeout(2500)
    record.click()
    page.locator(".sc-record-clock", has_text="dBFS").wait_for()  # then its length and levels
    save = page.locator(".sc-save-recording")
    page.wait_for_function("document.querySelector('.sc-save-recording') && "
                           "!document.querySelector('.sc-save-recording').disabled", timeout=30_000)
    page.locator(".sc-data-panel input[placeholder^='name']").fill("fake-mic")
    page.locator(".sc-data-panel input[placeholder^='name']").press("Tab")
    save.click()
    page.locator(".sc-audio-table", has_text="fake-mic.webm").wait_for()
    _shoot(page, screenshots, "1-data")
    ws = Workspace(lab.workspace)
    recordings = [r for r in ws.audio() if r.name == "fake-mic.webm"]
    assert len(recordings) == 1, [r.name for r in ws.audio()]
    rec = recordings[0]
    assert rec.path is not None and rec.path.read_bytes()[:4] == b"\x1a\x45\xdf\xa3"  # WebM (Matroska)
    assert rec.info["duration"] > 1.0
    # Its player shows its true length: a browser's WebM has none in its header, so it is played as WAV.
    listen = page.locator(".sc-listen select")
    listen.select_option(label=listen.locator("option", has_text="fake-mic").first.inner_text())
    duration = page.locator(".sc-listen-player audio").evaluate(
        "a => new Promise(done => a.readyState >= 1 ? done(a.duration)"
        " : a.addEventListener('loadedmetadata', () => done(a.duration)))")
    assert duration == pytest.approx(rec.info["duration"], abs=0.05)

    # Build a language model; its statistics and preview appear.
    _open_tab(page, "Language model")
    page.locator(".sc-lm-build").click()
    page.locator(".sc-lm-panel .sc-status-area", has_text="Built").wait_for(timeout=120_000)
    _no_widget_errors(page)
    assert "n-gram order" in page.locator(".sc-lm-details").inner_text()
    page.locator(".sc-lm-perplexity").click()
    page.locator(".sc-lm-perplexity-result", has_text="perplexity").wait_for(timeout=60_000)
    _shoot(page, screenshots, "2-language-model")

    _open_tab(page, "Acoustic model")
    page.locator(".sc-am-mode").wait_for(state="visible")
    _shoot(page, screenshots, "3-acoustic-model")

    # Compare base and +LM on three demo test utterances: the word-aligned diff shows.
    _open_tab(page, "Compare")
    assert page.locator(".sc-system-lm input").is_checked()
    limit = page.locator(".sc-compare-limit input")
    limit.fill("3")
    limit.press("Tab")
    page.locator(".sc-compare-run").click()
    page.locator(".sc-diff").first.wait_for(timeout=120_000)
    _no_widget_errors(page)
    wer = page.locator(".sc-compare-wer").inner_text()
    assert "base" in wer and "+LM" in wer and "WER" in wer
    assert page.locator(".sc-diff .sc-ref").count() > 0
    assert page.locator(".sc-diff .sc-sub, .sc-diff .sc-del, .sc-diff .sc-ins").count() > 0
    page.locator(".sc-compare-panel audio").nth(2).wait_for(state="attached")  # a player per row, drawn in turn
    assert page.locator(".sc-compare-panel audio").count() >= 3
    assert page.locator(".sc-compare-chart").is_visible()

    # With an LM system and the profile's dev set, the panel then tunes the weights on the dev set
    # (a light job) and re-decodes with them.
    page.locator(".sc-compare-panel .sc-status", has_text="weights tuned on the dev set").wait_for(timeout=180_000)
    alpha = float(re.search(r"LM alpha ([0-9.]+)", page.locator(".sc-compare-wer").inner_text()).group(1))

    # The LM weight slider re-decodes from the cached log-probs.
    handle = page.locator(".sc-weight .noUi-handle").first
    handle.focus()
    handle.press("ArrowRight")
    page.locator(".sc-compare-wer", has_text=f"LM alpha {alpha + 0.05:.2f}").wait_for(timeout=60_000)
    # The visible page is re-decoded first, while the table says it is being updated; then all of it.
    page.locator(".sc-compare-updating").wait_for(state="detached", timeout=60_000)
    assert f"LM alpha {alpha + 0.05:.2f}" in page.locator(".sc-compare-wer").inner_text()
    _shoot(page, screenshots, "4-compare")
    page.screenshot(path=str(screenshots / "studio-5-page.png"))
    # Nothing a job printed from its thread lands in the notebook (no stray output, no traceback).
    outputs = page.locator(".jp-OutputArea-output").all_inner_texts()
    assert not any("Traceback" in o or "it/s]" in o for o in outputs), outputs

    errors = [m for m in page.console_messages if m.startswith("pageerror")]
    assert not errors, errors


def test_acoustic_model_review_and_live_training(lab, page, screenshots):
    page.set_default_timeout(120_000)
    page.goto(lab.notebook_url("studio.ipynb"))
    page.locator("#jp-main-statusbar", has_text="Idle").wait_for()
    page.evaluate("window.jupyterapp.commands.execute('application:toggle-left-area')")
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    page.locator(".sc-studio").wait_for()

    # Demo data through the Data tab's buttons: corpus, custom words, six untranscribed files.
    page.locator(".sc-demo-corpus").click()
    page.locator(".sc-corpus-table", has_text="corpus.txt").wait_for()
    page.locator(".sc-demo-words").click()
    page.locator(".sc-data-panel .sc-status-area", has_text="custom words").wait_for()
    count = page.locator(".sc-data-panel input[type=number]").first
    count.fill("6")
    count.press("Tab")
    page.locator(".sc-demo-audio").click()
    page.locator(".sc-data-panel .sc-status-area", has_text="Added 6 audio files").wait_for()

    _open_tab(page, "Language model")
    page.locator(".sc-lm-panel .widget-dropdown select").first.select_option(index=1)  # the custom words
    page.locator(".sc-lm-build").click()
    page.locator(".sc-lm-panel .sc-status-area", has_text="Built").wait_for()

    # Pseudo-label, review (edit a label, untick a row), train with a live plot.
    _open_tab(page, "Acoustic model")
    page.get_by_role("button", name="all", exact=True).click()
    page.locator(".sc-am-label").click()
    page.locator(".sc-am-panel .sc-status-area", has_text="confident enough").wait_for()
    rows = page.locator(".sc-label-row:visible")
    assert rows.count() == 6
    first = rows.first.locator("input[type=text]")
    first.fill("kubectl get pods in the payments namespace")
    first.press("Tab")
    for n in range(6):  # keep every row (the threshold may have left some out), then drop one by hand
        rows.nth(n).locator("input[type=checkbox]").check()
    page.locator(".sc-am-review", has_text="6 of 6 utterances kept").wait_for()
    rows.nth(1).locator("input[type=checkbox]").uncheck()
    page.locator(".sc-am-review", has_text="5 of 6 utterances kept").wait_for()
    epochs = page.locator(".sc-am-panel input[type=number]").first
    epochs.fill("1")
    epochs.press("Tab")
    page.locator(".sc-am-mix input[type=checkbox]").uncheck()  # no general speech: a shorter training
    page.locator(".sc-am-train").click()
    page.locator(".sc-am-plot img, img.sc-am-plot").first.wait_for(state="visible")
    page.locator(".sc-am-panel .sc-status-area", has_text="Trained").wait_for(timeout=240_000)
    _no_widget_errors(page)
    assert "Forgetting guard" in page.locator(".sc-am-result").inner_text()
    page.locator(".sc-am-result").scroll_into_view_if_needed()
    _shoot(page, screenshots, "6-acoustic-model-trained")
