"""The Studio's panels without a browser: real demo model, real workspace, real jobs.

Buttons are clicked and uploads set programmatically, as the front end would. Outside a
kernel a panel runs its job-completion handlers in the job's thread before ``wait`` returns,
so a test can check the panel right after ``panel.job.wait()``.
"""

from __future__ import annotations

import html
import io
import json
import re
import zipfile
from pathlib import Path

import pytest
import soundfile
from helpers.audio import encode_av, tone
from helpers.widgets import finish, status_of, upload

from jupyter_speechcustom import demo
from jupyter_speechcustom.io.manifest import read_manifest
from jupyter_speechcustom.services.workspace import Workspace
from jupyter_speechcustom.widgets import (
    AcousticModelPanel,
    ComparePanel,
    DataPanel,
    LanguageModelPanel,
    Studio,
)

pytestmark = pytest.mark.slow


def _demo_audio(ws: Workspace, split: str, n: int, transcripts: bool = True) -> list[str]:
    ids = []
    for entry in read_manifest(demo.manifest(split))[:n]:
        path = Path(entry["audio_filepath"])
        ids.append(ws.add_audio(path, name=path.name, transcript=entry.get("text") if transcripts else None,
                                on_duplicate="keep").id)
    return ids


def test_studio_composes_the_panels_and_refreshes_on_tab_change(ws, demo_model, demo_lm):
    studio = Studio(ws, demo_model)
    assert studio.tabs.titles == ("Data", "Language model", "Acoustic model", "Compare", "Explore", "Live")
    assert list(studio.tabs.children) == [studio.data, studio.language_model, studio.acoustic_model, studio.compare,
                                          studio.explore, studio.live]
    assert all(p.base is demo_model and p.workspace is ws for p in studio.panels)
    assert studio.compare.systems() == ["base"]
    lm = ws.add_language_model(demo_lm.path, name="support")
    studio.tabs.selected_index = 3  # opening a tab re-reads the workspace
    assert studio.compare.lm.value == lm.id and studio.compare.systems() == ["base", "+LM"]
    studio.tabs.selected_index = 1
    assert studio.language_model.models.value == lm.id
    assert "n-gram order" in studio.language_model.details.value
    assert not any("sc-status-error" in p.status.value for p in studio.panels)


def test_panels_work_alone_and_reject_unknown_arguments(tmp_path, demo_model):
    panel = LanguageModelPanel(tmp_path / "alone", demo_model)  # a workspace folder is opened
    assert isinstance(panel.workspace, Workspace) and panel.workspace.path == (tmp_path / "alone").resolve()
    with pytest.raises(TypeError):
        DataPanel(panel.workspace, demo_model, colour="red")
    with pytest.raises(TypeError, match="workspace must be"):
        ComparePanel(42, demo_model)
    with pytest.raises(TypeError, match="base must be"):
        ComparePanel(panel.workspace, 3.5)


def test_data_panel_corpora_words_audio_and_recordings(ws, demo_model):
    panel = DataPanel(ws, demo_model)
    corpus = demo.corpus_path().read_bytes()
    panel.corpus_upload.value = upload(("ops.txt", corpus), ("junk.txt", b"\x00\x01\x02binary\x00" * 50))
    assert panel.corpus_upload.value == ()  # cleared, so the same file can be uploaded again
    assert [r.name for r in ws.corpora()] == ["ops.txt"]
    assert "Added 1 corpus file(s): ops.txt (1500 sentences" in status_of(panel)
    assert "Not added: junk.txt" in status_of(panel) and "binary" in status_of(panel)
    assert "sc-status-error" in status_of(panel)
    table = panel.corpus_table.value
    assert "ops.txt" in table and "kubectl" in table and "sc-chip" in table  # OOV words of the demo base

    rows = panel.word_rows.children
    rows[0].word.value, rows[0].sounds_like.value = "kubectl", "cube control; cube cuttle"
    rows[1].word.value = "PostgreSQL"
    panel.words_name.value = "ops words"
    panel.save_words_button.click()
    assert "Saved 2 custom words" in status_of(panel)
    (words,) = ws.word_lists()
    saved = {w.word: w for w in ws.custom_words(words.id)}
    assert saved["kubectl"].sounds_like == ("cube control", "cube cuttle")
    assert saved["postgresql"].display_as == "PostgreSQL"

    rows[2].sounds_like.value = "something"  # a row without its word
    panel.save_words_button.click()
    assert "row 3" in status_of(panel) and "sc-status-error" in status_of(panel)
    assert len(ws.word_lists()) == 1
    rows[2].remove.click()
    assert len(panel.word_rows.children) == 2
    panel.word_lists.value = words.id  # opening a list fills the editor
    assert [r.word.value for r in panel.word_rows.children] == ["kubectl", "postgresql", ""]

    sample = Path(read_manifest(demo.manifest("domain/test"))[0]["audio_filepath"])
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(sample, f"calls/one{sample.suffix}")
        zf.writestr("calls/one.txt", "kubectl rollout undo\n")
    panel.audio_upload.value = upload((f"single{sample.suffix}", sample.read_bytes()),
                                      ("calls.zip", archive.getvalue()), ("broken.mp3", b"not audio at all"))
    assert "Added 2 audio file(s)" in status_of(panel) and "broken.mp3" in status_of(panel)
    by_name = {r.name: r for r in ws.audio()}
    assert by_name[f"one{sample.suffix}"].info["transcript"] == "kubectl rollout undo"
    assert by_name[f"single{sample.suffix}"].info["transcript"] is None

    # A recording arrives as the browser sends it: WebM/Opus bytes in the recorder's Audio widget.
    webm = encode_av(tone(1.5, 48_000), 48_000, "webm", "libopus")
    assert panel.save_recording_button.disabled
    panel.record_button.click()  # the recorder records, and a clock runs until the recording arrives
    assert panel.recorder.recording and panel.record_button.description == "Stop"
    assert "recording 0:0" in panel.record_clock.value
    panel.record_button.click()
    assert not panel.recorder.recording and panel.record_button.description == "Record"
    panel.recorder.audio.value = webm  # as the browser sends it when the recorder stops
    assert panel.recording == webm and not panel.save_recording_button.disabled
    assert "Recorded 1.5 s" in status_of(panel)
    # Its levels: a 0.3 sine peaks at -10.5 dBFS and its RMS is -13.5 dBFS (Opus changes them a little).
    peak, loud = (float(x) for x in re.search(r"peak (-?\d+) dBFS, speech level (-?\d+) dBFS",
                                                status_of(panel)).groups())
    assert abs(peak + 10.5) <= 1.0 and abs(loud + 13.5) <= 1.0
    assert "1.5 s recorded" in panel.record_clock.value and "dBFS" in panel.record_clock.value
    assert panel.take_player.player is not None and panel.take_player.player.value[:4] == b"RIFF"
    panel.recording_name.value = "mic"
    panel.recording_transcript.value = "restart the ingress "
    panel.save_recording_button.click()
    rec = {r.name: r for r in ws.audio()}["mic.webm"]
    assert rec.info["transcript"] == "restart the ingress" and rec.info["duration"] > 1.4
    assert rec.path.read_bytes() == webm
    assert panel.recording == b"" and panel.save_recording_button.disabled
    assert "mic.webm" in panel.audio_table.value and f"as {rec.id}" in status_of(panel)
    panel.play_choice.value = rec.id
    # Played as WAV: a browser recording's WebM header has no duration, so players showed 0:02 for 3 s.
    assert panel.player.player is not None and panel.player.player.format == "wav"
    assert panel.player.player.loop is False  # plays once, as a recording should
    played = panel.player.player.value
    assert played[:4] == b"RIFF" and soundfile.info(io.BytesIO(played)).duration == pytest.approx(1.5, abs=0.1)

    panel.demo_count.value = 3
    panel.demo_audio_button.click()
    assert "Added 3 audio files of the example set domain/train (without transcripts)" in status_of(panel)


def test_language_model_panel_builds_inspects_and_scores(ws, demo_model):
    corpus = ws.add_corpus(demo.corpus_path())
    words = ws.add_words(demo.custom_words_path())
    panel = LanguageModelPanel(ws, demo_model)
    assert panel.corpora.value == (corpus.id,)  # all corpora preselected
    assert panel.dev_text.value.strip()  # the demo's dev references
    assert panel.words.value == words.id  # the newest word list
    panel.corpora.value = ()
    panel.words.value = None
    panel.build_button.click()
    assert "Choose at least one corpus" in status_of(panel) and panel.job is None

    panel.corpora.value = (corpus.id,)
    panel.words.value = words.id
    panel.general.value = None  # no general text: a faster build
    panel.name.value = "ops"
    assert panel.number_variants.value == 3
    panel.number_variants.value = 1
    panel.build_button.click()
    assert panel.busy and panel.build_button.disabled
    assert finish(panel) == "completed"
    assert "Built ops v1" in status_of(panel)
    assert not panel.busy and not panel.build_button.disabled
    (lm,) = ws.language_models()
    assert lm.status == "available" and panel.lm_id == lm.id == panel.models.value
    assert "n-gram order" in panel.details.value and "custom words" in panel.details.value
    assert lm.info["number_variants"]["per_sentence"] == 1 and "number variants" in panel.details.value
    assert "OOV words" in panel.oov.value and "kubectl" in panel.oov.value
    assert "sc-pre" in panel.preview.value

    panel.perplexity_button.click()
    assert finish(panel) == "completed"
    assert "ops v1" in panel.perplexity.value and "Perplexity of the dev text" in status_of(panel)
    value = float(status_of(panel).rsplit(":", 1)[1].strip(" .</div>").replace(",", ""))
    assert 1 < value < 1000


def test_compare_panel_tunes_on_the_dev_set_then_starts_from_tuned_weights(ws, demo_model, demo_lm):
    from jupyter_speechcustom.constants import BOOST_ALPHA, LM_ALPHA, LM_BETA

    lm = ws.add_language_model(demo_lm.path, name="support")
    panel = ComparePanel(ws, demo_model)
    panel.tune_button.click()
    assert "run a comparison with a +LM system first" in status_of(panel)

    panel.auto_tune = False  # first with weights of the user's own, to compare with
    assert "never tuned" in panel.weights_note.value and panel.lm_alpha.value == pytest.approx(LM_ALPHA)
    panel.lm_alpha.value = 0.5
    panel.limit.value = 6
    panel.run_button.click()
    assert finish(panel) == "completed"
    c = panel.comparison
    assert c is not None and c.weights.lm_alpha == pytest.approx(0.5)

    panel.tune_button.click()  # a light job on the profile's dev set, shown in the panel
    assert panel.job is not None and panel.job.kind == "tune"
    assert finish(panel) == "completed"  # its completion sets the sliders and starts the re-decode
    best = panel._tuned[("+LM", lm.id, None)].best
    sliders = (panel.lm_alpha.value, panel.lm_beta.value, panel.boost_alpha.value)
    assert sliders == pytest.approx((best.lm_alpha, best.lm_beta, best.boost_alpha))
    assert sliders != pytest.approx((0.5, LM_BETA, BOOST_ALPHA))
    assert not panel.lm_alpha.disabled and "completed" in panel.tune_view.message.value
    # The demo is a hybrid: tuning tried both heads and the panel decodes with the better one; a
    # transducer's beam search has no length bonus to slide.
    assert panel.head.layout.display != "none" and panel.head.value == best.head
    assert {w.head for w, _ in panel._tuned[("+LM", lm.id, None)].grid} == {"transducer", "ctc"}
    assert panel.lm_beta.disabled == (best.head == "transducer") and not panel.head.disabled
    saved = ws.language_model(lm.id).tuning  # the base model's tuning goes with the LM: recognition starts there
    assert saved is not None and saved["weights"]["head"] == best.head and saved["dev_set"] == "demo domain/dev"
    assert finish(panel) == "completed"  # the re-decode with the tuned weights
    assert panel.comparison is c and c.weights == best
    assert c.evaluations["+LM"].wer < c.evaluations["base"].wer
    assert f"LM alpha {best.lm_alpha:.2f}" in panel.wer_table.value
    assert "weights tuned on the dev set" in status_of(panel)

    # A new comparison with this LM starts from the tuned weights: tuned once per LM and AM.
    panel.auto_tune = True
    panel.lm_alpha.value = 0.2
    assert finish(panel) == "completed"
    panel.limit.value = 3
    panel.run_button.click()
    compare_job = panel.job
    assert finish(panel) == "completed" and panel.job is compare_job  # no second tuning
    assert panel.comparison.weights == best and "weights tuned on the dev set" in status_of(panel)

    # A fresh panel (its own tuning cache) tunes by itself after its first comparison with an LM.
    fresh = ComparePanel(ws, demo_model)
    fresh._cache = panel._cache  # the acoustic outputs only, to save time; the tuning runs again
    fresh.limit.value = 2
    fresh.run_button.click()
    assert finish(fresh) == "completed" and fresh.job is not None and fresh.job.kind == "tune"
    assert finish(fresh) == "completed"
    assert finish(fresh) == "completed"
    assert fresh.comparison is not None and fresh.comparison.weights == best
    assert not fresh.run_button.disabled


def test_compare_panel_tunes_on_transcribed_workspace_audio_when_the_profile_has_no_dev_set(ws, demo_model):
    from jupyter_speechcustom.asr.models import load_base_model
    from jupyter_speechcustom.asr.profiles import ModelProfile, register_profile

    register_profile(ModelProfile("demo-without-dev-set", model_path=demo_model.path))
    panel = ComparePanel(ws, load_base_model("demo-without-dev-set"))
    with pytest.raises(ValueError, match="tuning needs a dev set"):
        panel.dev_set()
    _demo_audio(ws, "domain/dev", 3)
    _demo_audio(ws, "domain/dev", 1, transcripts=False)  # untranscribed: not a dev utterance
    label, items = panel.dev_set()
    assert label == "3 transcribed workspace audio files" and len(items) == 3 and all(i.text for i in items)


def test_compare_panel_diffs_scores_and_redecodes_from_cache(ws, demo_model, demo_lm):
    from jupyter_speechcustom.constants import LM_ALPHA

    lm = ws.add_language_model(demo_lm.path, name="support")
    panel = ComparePanel(ws, demo_model)
    panel.auto_tune = False  # the default weights here; tuning has a test of its own
    assert panel.systems() == ["base", "+LM"] and panel.lm.value == lm.id
    panel.system_boxes["+AM"].value = True
    panel.run_button.click()
    assert "needs a custom acoustic model" in status_of(panel)
    panel.system_boxes["+AM"].value = False

    panel.limit.value = 4
    panel.run_button.click()
    assert finish(panel) == "completed"
    c = panel.comparison
    assert c is not None and c.systems == ["base", "+LM"] and len(c.items) == 4
    assert status_of(panel).count("%") == 2 and "WER on demo domain/test (first 4)" in status_of(panel)
    table = panel.wer_table.value
    assert "base" in table and "+LM" in table and "CER" in table and f"LM alpha {LM_ALPHA:.2f}" in table
    assert panel.chart.value[:4] == b"\x89PNG" and panel.chart.layout.display == ""
    assert "sc-hits" in panel.hits.value or "no custom words occur" in panel.hits.value
    shown = [r for r in panel.rows if r.layout.display != "none"]
    assert len(shown) == 4
    assert all("sc-diff" in r.diff.value and "sc-ref" in r.diff.value for r in shown)
    assert all(r.player.player is not None and r.player.player.value[:4] == b"OggS" for r in shown)
    assert all(r.player.player.format == "ogg" for r in shown)
    # Display-as forms of the custom words appear under the diff ("terraform" shown as "Terraform").
    forms = [c.display_forms(i) for i in range(4)]
    assert any("+LM" in f for f in forms) and not any("base" in f for f in forms)
    for row, index in zip(shown, panel._order):
        for name, text in forms[index].items():
            assert f"{name} shown as:" in html.unescape(row.diff.value) and text in html.unescape(row.diff.value)
    assert c.evaluations["+LM"].wer < c.evaluations["base"].wer
    assert [r.name for r in ws.results()] == ["compare demo domain/test (first 4)"]
    saved = ws.result(ws.results()[0].id)
    assert set(saved["systems"]) == {"base", "+LM"} and len(saved["utterances"]) == 4

    # The slider re-decodes the cached log-probs: the acoustic outputs are the very same objects.
    outputs = c.outputs["base"]
    panel.lm_alpha.value = 1.2
    assert finish(panel) == "completed"
    assert panel.comparison is c and c.weights.lm_alpha == pytest.approx(1.2)
    assert c.outputs["base"] is outputs
    assert "LM alpha 1.20" in panel.wer_table.value

    panel.order.value = "differ"
    assert all(c.differs(i) for i in panel._order)

    # One recording without a transcript: diffs against the base system, no WER.
    rec = ws.add_audio(Path(c.items[0].audio), name="untranscribed" + Path(c.items[0].audio).suffix)
    panel.refresh()
    panel.test_set.value = "one"
    panel.recording.value = rec.id
    panel.run_button.click()
    assert finish(panel) == "completed"
    assert "No reference transcript" in panel.wer_table.value
    assert "base (no reference)" in panel.rows[0].diff.value
    assert panel.chart.layout.display == "none"


def test_compare_panel_redecodes_the_page_on_screen_first(ws, demo_model, demo_lm):
    ws.add_language_model(demo_lm.path, name="support")
    panel = ComparePanel(ws, demo_model)
    panel.auto_tune = False
    panel.limit.value = 8  # more than a page (5)
    panel.run_button.click()
    assert finish(panel) == "completed"
    tables: list[str] = []
    panel.wer_table.observe(lambda change: tables.append(html.unescape(change["new"])), "value")
    first_row: list[str] = []
    panel.rows[0].diff.observe(lambda change: first_row.append(html.unescape(change["new"])), "value")

    panel.lm_alpha.value = 1.2
    assert finish(panel) == "completed"
    assert "Updating: 8 of 8 utterances left" in tables[0]  # marked stale as soon as the slider moved
    assert "Updating: 3 of 8 utterances left" in tables[1] and "sc-stale" in tables[1]  # the page is done
    assert "Re-decoded with LM alpha 1.20" in first_row[0]  # its rows say so
    assert "Updating" not in tables[-1] and "LM alpha 1.20" in tables[-1]  # then everything, re-scored
    assert "Re-decoded with" not in panel.rows[0].diff.value and "sc-stale" not in panel.chart._dom_classes
    c = panel.comparison
    assert c.left == () and c.weights.lm_alpha == pytest.approx(1.2)

    # A second move while the first re-decode runs: the newest weights win.
    panel.lm_alpha.value = 0.4
    panel.lm_alpha.value = 0.8
    assert finish(panel) == "completed"  # the first, stopped early (or done, if it was quick)
    assert finish(panel) == "completed"  # the one that follows it with the newest weights
    assert c.weights.lm_alpha == pytest.approx(0.8) and c.left == ()
    assert "LM alpha 0.80" in panel.wer_table.value and "Updating" not in panel.wer_table.value


def test_acoustic_model_panel_labels_reviews_trains_and_cancels(ws, demo_model, demo_lm):
    audio_ids = _demo_audio(ws, "domain/train", 6, transcripts=False)
    lm = ws.add_language_model(demo_lm.path, name="support")
    panel = AcousticModelPanel(ws, demo_model)
    assert panel.mode == "lightly-supervised" and panel.lm.value == lm.id
    panel.select_all.click()
    assert panel.audio.value == tuple(audio_ids)

    panel.label_button.click()
    assert finish(panel) == "completed"
    assert len(panel.labels) == 6 and panel.review.layout.display == ""
    assert "utterances are confident enough to keep" in status_of(panel)
    first = panel.label_rows[0]
    assert first.text.value == panel.labels[first.index].text and first.text.value
    first.text.value = "kubectl get pods in the payments namespace"
    first.kept.value = True  # a corrected label is worth keeping, whatever its confidence
    edited = first.index
    panel.label_rows[1].kept.value = False
    assert panel.labels[edited].text == "kubectl get pods in the payments namespace"
    assert panel.labels[panel.label_rows[1].index].kept is False
    assert "of 6 utterances kept" in panel.review_summary.value
    panel.label_rows[0].play.click()
    assert panel.player.player is not None and panel.player.player.value[:4] == b"RIFF"
    panel.sort.value = "confidence"
    confidences = [panel.labels[r.index].confidence for r in panel.label_rows if r.index >= 0]
    assert confidences == sorted(confidences)

    panel.epochs.value = 1
    panel.mix_general.value = False
    panel.train_button.click()
    assert panel.plot.layout.display == "" and panel.plot.value[:4] == b"\x89PNG", status_of(panel)
    assert finish(panel) == "completed", panel.job.error
    assert "Trained custom-am v1" in status_of(panel)
    (am,) = ws.acoustic_models()
    assert am.status == "available" and panel.am_id == am.id
    assert len(panel.history) >= 2  # the dev WER before training, then each epoch
    assert "Forgetting guard" in panel.result.value and "general test WER" in panel.result.value
    assert panel.summary is not None and panel.summary["dev_wer_before"] is not None
    assert any(r.name == "custom-am v1 training" for r in ws.results())
    params = ws.job(panel.job.id).params
    assert params["labels"][edited]["text"] == "kubectl get pods in the payments namespace"

    # Cancel a long training: the model is not kept.
    panel.epochs.value = 200
    panel.train_button.click()
    job = panel.job
    while job.status == "queued" or job.progress < 0.1:  # in fit: cancellation stops it at the next batch
        job.wait(0.2)
        if job.done:
            break
    panel.train_progress.cancel_button.click()
    assert finish(panel) == "cancelled"
    assert "was cancelled" in status_of(panel)
    assert ws.get(job.model_id).status == "failed"

    # The cancelled training is logged as stopped (INFO), without an ERROR or a traceback.
    log_text = job.read_log()
    assert "stopped" in log_text and "Traceback" not in log_text
    assert not [line for line in log_text.splitlines() if line.split()[2:3] == ["ERROR"]], log_text

    # Supervised training with untranscribed audio is refused before any job starts, naming the files.
    panel.mode = "supervised"
    assert panel.mode_buttons.value == "supervised" and panel.label_button.disabled
    panel.epochs.value = 1
    jobs_before = len(ws.jobs())
    panel.train_button.click()
    assert panel.job is job and len(ws.jobs()) == jobs_before
    message = status_of(panel)
    assert "Training failed" in message and "transcript" in message
    assert "6 of the 6 selected have none" in message
    assert all(ws.get(a, "audio").name in message for a in audio_ids[:5]) and "and 1 more" in message


def test_review_table_accepts_numpy_booleans(tmp_path, demo_model):
    import numpy as np

    from jupyter_speechcustom.am.acoustic_model import PseudoLabel
    from jupyter_speechcustom.widgets import AcousticModelPanel

    rows = [PseudoLabel("a.wav", "restart the pods", np.float32(0.9), np.True_, np.float64(1.5)),
            PseudoLabel("b.wav", "scale it", 0.4, False, 1.0)]
    rows[1].kept = np.False_  # as after editing the table in pandas
    assert type(rows[0].kept) is bool and type(rows[0].confidence) is float
    panel = AcousticModelPanel(tmp_path / "ws", demo_model)
    panel.set_labels(rows)


# --- what a new user ran into (issue 16) ----------------------------------------------------------


def test_dropdowns_never_render_blank(ws, demo_model, demo_lm):
    import ipywidgets as widgets

    ws.add_language_model(demo_lm.path, name="support")
    studio = Studio(ws, demo_model)
    for panel in studio.panels:
        panel.refresh()
        dropdowns = [w for w in vars(panel).values() if isinstance(w, widgets.Dropdown)]
        assert dropdowns
        for dropdown in dropdowns:
            if dropdown.options:  # a None option ("none", "auto", "—") is shown by its label, not blank
                assert dropdown.index is not None and dropdown.label, (type(panel).__name__, dropdown.description)
    lm_panel = studio.language_model
    assert (lm_panel.order.label, lm_panel.order.value) == ("auto", None)
    assert lm_panel.models.index is not None and lm_panel.models.label
    assert studio.data.word_lists.label == "—" and studio.data.play_choice.label == "—"
    lm_panel.order.value = 4
    lm_panel.order.value = None  # back to "auto": shown again, not blank
    assert lm_panel.order.index == 0 and lm_panel.order.label == "auto"


def test_oov_list_counts_the_words_it_does_not_show(ws, demo_model):
    from jupyter_speechcustom.evaluation import diffview

    panel = DataPanel(ws, demo_model)
    panel.corpus_upload.value = upload(("ops.txt", demo.corpus_path().read_bytes()))
    oov_count = panel._summaries[ws.corpora()[0].id]["oov_count"]  # the table's own count
    assert oov_count > 20  # more than the summary's top list holds
    assert f"… and {oov_count - 12:,} more" in html.unescape(panel.corpus_table.value)
    summary = {"name": "x", "oov_count": 25, "top_oov": [(f"w{i}", 1) for i in range(20)]}
    assert "… and 13 more" in html.unescape(diffview.corpus_stats_html([summary]))


def test_custom_word_changed_by_normalization_is_saved_with_a_note(ws, demo_model):
    panel = DataPanel(ws, demo_model)
    panel.set_words([])
    panel.word_rows.children[0].word.value = "Sgr A*"
    panel.add_word_row("kubectl")
    panel.add_word_row("PostgreSQL")  # only the case changes: no note
    words_id = panel.save_words()
    assert words_id is not None
    message = status_of(panel)
    assert "Changed by normalization" in message and "'Sgr A*' is spoken as 'sgr a'" in message
    assert "PostgreSQL" not in message and "kubectl" not in message
    saved = {w.word: w for w in ws.custom_words(words_id)}
    assert saved["sgr a"].display_as == "Sgr A*"


def test_lm_summary_says_how_much_general_text_was_mixed_in(ws, demo_model, tmp_path):
    from jupyter_speechcustom.evaluation import diffview
    from jupyter_speechcustom.lm.language_model import build_language_model

    corpus = tmp_path / "notes.txt"
    corpus.write_text("restart the payments pods in staging\nscale the grafana deployment to three replicas\n")
    mixed = build_language_model(demo_model, [corpus], tmp_path / "mixed", general_text="base", general_weight=0.3)
    alone = build_language_model(demo_model, [corpus], tmp_path / "alone", general_text="none")
    rec = ws.add_language_model(mixed.path, name="mixed")
    panel = LanguageModelPanel(ws, demo_model)
    panel.refresh()
    panel.models.value = rec.id
    details = html.unescape(panel.details.value)
    assert "general text mixed in" in details and "yes: " in details and "30% of the training text" in details
    assert "your text repeated" in details and "(your text and the general text)" in details
    alone_html = html.unescape(diffview.lm_summary_html(json.loads((alone.path / "lm.json").read_text())))
    assert "general text mixed in</td><td>none" in alone_html and "general text)" not in alone_html


def test_training_plot_has_a_title_axis_labels_and_a_legend():
    from jupyter_speechcustom.evaluation import diffview

    history = [{"epoch": 0, "train_loss": None, "dev_wer": 0.5}, {"epoch": 1, "train_loss": 2.0, "dev_wer": 0.4},
               {"epoch": 2, "train_loss": 1.5, "dev_wer": 0.3}]
    fig = diffview.training_plot_figure(history)
    ax, ax2 = fig.axes
    assert "training" in ax.get_title().lower() and "(2 epochs)" in ax.get_title()  # epoch 0 is the check before
    assert "epoch" not in diffview.training_plot_figure(history[:1]).axes[0].get_title().split(":")[0]
    assert ax.get_xlabel() == "epoch" and ax.get_ylabel() and ax2.get_ylabel()
    legend = ax.get_legend()
    assert legend is not None and [t.get_text() for t in legend.get_texts()] == ["training loss", "dev WER"]
    assert diffview.training_plot_png(history)[:4] == b"\x89PNG"


def test_confidence_shown_agrees_with_the_threshold(tmp_path, demo_model):
    from jupyter_speechcustom.am.acoustic_model import PseudoLabel
    from jupyter_speechcustom.evaluation.diffview import confidence_text

    assert confidence_text(0.6987) == "0.69" and confidence_text(0.7) == "0.70" and confidence_text(1.0) == "1.00"
    panel = AcousticModelPanel(tmp_path / "ws", demo_model)
    panel.threshold.value = 0.70
    panel.set_labels([PseudoLabel("a.wav", "restart the pods", 0.6987, True, 1.0),
                      PseudoLabel("b.wav", "scale it", 0.7, True, 1.0)])
    shown = {panel.labels[r.index].source: html.unescape(r.confidence.value) for r in panel.label_rows if r.index >= 0}
    assert ">0.69<" in shown["a.wav"] and "sc-worse" in shown["a.wav"]
    assert ">0.70<" in shown["b.wav"] and "sc-better" in shown["b.wav"]
    panel.apply_threshold.click()
    assert [r.kept for r in panel.labels] == [False, True]


def test_supervised_training_of_untranscribed_audio_is_refused_before_the_job(ws, demo_model):
    from jupyter_speechcustom.store.workspace import WorkspaceError

    transcribed = _demo_audio(ws, "domain/test", 1)
    untranscribed = _demo_audio(ws, "domain/train", 2, transcripts=False)
    with pytest.raises(WorkspaceError, match="2 of the 3 selected have none") as info:
        ws.train_acoustic_model(demo_model, [*transcribed, *untranscribed], mode="supervised")
    assert all(ws.get(a, "audio").name in str(info.value) for a in untranscribed)
    assert ws.get(transcribed[0], "audio").name not in str(info.value)
    assert ws.jobs() == [] and ws.acoustic_models() == []


def test_audio_uploaded_with_txt_transcripts_of_the_same_name(ws, demo_model):
    """Audio files uploaded with `name.txt` beside them get those transcripts; a .txt is never taken
    for audio, and one without its audio file, or not UTF-8, is reported."""
    entries = read_manifest(demo.manifest("domain/test"), require_text=True)[:2]
    first, second = (Path(e["audio_filepath"]) for e in entries)
    panel = DataPanel(ws, demo_model)
    panel.audio_upload.value = upload(
        (first.name, first.read_bytes()), (f"{first.stem}.txt", f"\ufeff{entries[0]['text']}\n".encode()),
        (second.name, second.read_bytes()),
        ("orphan.txt", b"no audio came with this"), (f"{second.stem}.TXT", b"\xff\xfe not utf-8 \x80"),
    )
    by_name = {r.name: r.info.get("transcript") for r in ws.audio()}
    assert by_name == {first.name: entries[0]["text"], second.name: None}
    status = status_of(panel)
    assert "Added 2 audio file(s), 1 with their .txt transcript." in status
    assert "orphan.txt: a transcript, but no audio file named orphan.* came with it" in status
    assert f"{second.stem}.TXT: not UTF-8 text" in status
    assert "decode" not in status  # no .txt was tried as audio


def test_a_transcript_is_added_and_corrected_after_the_upload(ws, demo_model):
    entry = read_manifest(demo.manifest("domain/test"), require_text=True)[0]
    path = Path(entry["audio_filepath"])
    panel = DataPanel(ws, demo_model)
    panel.add_audio_files([(path.name, path.read_bytes())])
    audio_id = ws.audio()[0].id
    assert panel.save_transcript_button.disabled and panel.transcript_edit.disabled  # no audio chosen yet
    panel.play_choice.value = audio_id
    assert panel.transcript_edit.value == "" and not panel.save_transcript_button.disabled
    panel.transcript_edit.value = f"  {entry['text']}\n"
    panel.save_transcript_button.click()
    assert ws.get(audio_id).info["transcript"] == entry["text"]
    assert "Saved the transcript of" in status_of(panel) and entry["text"] in panel.audio_table.value
    panel.transcript_edit.value = ""
    panel.save_transcript_button.click()
    assert ws.get(audio_id).info["transcript"] is None and "untranscribed now" in status_of(panel)
    assert [e["event"] for e in ws.events(audio_id)][-2:] == ["transcript", "transcript"]
