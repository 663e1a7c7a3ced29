"""The data explorer: statistics, transcripts and scores, filters and plots of an audio set, and the
Studio's Explore panel (real demo model, real workspace, real jobs)."""

from __future__ import annotations

import html
import io
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile
from helpers.audio import tone

from jupyter_speechcustom import demo
from jupyter_speechcustom.asr.models import known_words_for
from jupyter_speechcustom.errors import InvalidOptionError
from jupyter_speechcustom.evaluation.metrics import evaluate
from jupyter_speechcustom.io.manifest import read_manifest
from jupyter_speechcustom.services import explorer
from jupyter_speechcustom.services.compare import run_comparison
from jupyter_speechcustom.services.workspace import Workspace
from jupyter_speechcustom.widgets import ExplorerPanel, Studio

pytestmark = pytest.mark.slow

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def test_set(demo_model) -> explorer.AudioSet:
    return explorer.profile_set(demo_model, "domain/test")


@pytest.fixture(scope="module")
def transcribed(demo_model, test_set, domain_test, domain_test_outputs):
    """The demo test set transcribed by the base model, from acoustic outputs computed once."""
    cache = {(demo_model.fingerprint, tuple(e["audio_filepath"] for e in domain_test)): domain_test_outputs}
    return explorer.transcribe(demo_model, test_set, cache=cache), cache


def _add_demo_audio(ws: Workspace, n: int, transcribed: int) -> list[dict]:
    entries = read_manifest(demo.manifest("domain/test"))[:n]
    for k, entry in enumerate(entries):
        path = Path(entry["audio_filepath"])
        ws.add_audio(path, name=path.name, transcript=entry["text"] if k < transcribed else None)
    return entries


def test_statistics_of_the_demo_test_set_match_its_manifest(demo_model, test_set, domain_test):
    assert explorer.example_sets(demo_model)[:2] == ["domain/test", "domain/dev"]
    assert test_set.label == "demo domain/test" and len(test_set) == len(domain_test) == 80
    durations = [e["duration"] for e in domain_test]
    assert [u.duration for u in test_set.utterances] == durations
    assert [u.reference for u in test_set.utterances] == [e["text"] for e in domain_test]

    known = known_words_for(demo_model)
    stats = explorer.statistics(test_set, known)
    assert stats.utterances == 80 and stats.with_reference == 80
    assert stats.seconds == pytest.approx(sum(durations))
    assert stats.hours == pytest.approx(sum(durations) / 3600)
    assert (stats.min_duration, stats.max_duration) == (min(durations), max(durations))
    assert stats.mean_duration == pytest.approx(sum(durations) / len(durations))
    # The references are normalized text: their words are the corpus's words.
    words = [w for e in domain_test for w in e["text"].split()]
    unknown = [w for w in words if w not in known]
    assert stats.words == len(words) == 904
    assert stats.vocabulary == len(set(words))
    assert stats.oov_occurrences == len(unknown) and stats.oov_words == len(set(unknown))
    assert stats.oov_rate == pytest.approx(len(unknown) / len(words))
    assert 0.1 < stats.oov_rate < 0.5  # the demo domain's jargon
    assert dict(stats.top_oov)["kubectl"] == sum(e["text"].split().count("kubectl") for e in domain_test)
    assert stats.wer is None and stats.system is None
    rows = dict(stats.rows())
    assert rows["utterances"] == "80" and "904 words" in rows["OOV rate"]
    png = explorer.duration_histogram_png(test_set)
    assert png.startswith(PNG) and len(png) > 5_000


def test_transcripts_are_scored_per_utterance_as_evaluate_scores_them(demo_model, test_set, transcribed):
    scored, cache = transcribed
    assert scored.system == "base" and len(scored) == 80
    refs = [u.reference for u in scored.utterances]
    hyps = [u.hypothesis for u in scored.utterances]
    assert all(isinstance(h, str) for h in hyps) and any(h != r for h, r in zip(hyps, refs))
    whole = evaluate(refs, hyps)
    for utt, row in zip(scored.utterances, whole.utterances):
        assert utt.wer == pytest.approx(row.wer) and utt.errors == row.errors
        assert utt.cer == pytest.approx(evaluate([utt.reference], [utt.hypothesis]).cer)
    stats = explorer.statistics(scored, known_words_for(demo_model))
    assert stats.wer == pytest.approx(whole.wer) and stats.cer == pytest.approx(whole.cer)
    assert ("base WER / CER", f"{100 * whole.wer:.1f}% / {100 * whole.cer:.1f}%") in stats.rows()
    # The same transcripts as the comparison's base system, from the same cached acoustic outputs.
    items = [u.utterance for u in test_set.utterances]
    comparison = run_comparison(demo_model, items, ["base"], label="test", cache=cache)
    assert comparison.texts["base"] == hyps
    assert comparison.evaluations["base"].wer == pytest.approx(stats.wer)


def test_filters_search_and_sorting(transcribed):
    scored, _ = transcribed
    everything = explorer.select(scored)
    assert [u.index for u in everything] == list(range(80))

    kube = explorer.select(scored, text="KUBECTL", where="reference")
    assert kube and all("kubectl" in u.reference for u in kube)
    assert len(kube) == sum("kubectl" in u.reference for u in scored.utterances)
    in_hyp = explorer.select(scored, text="the", where="hypothesis")
    assert {u.index for u in in_hyp} == {u.index for u in scored.utterances if "the" in u.hypothesis}
    regex = explorer.select(scored, text=r"^kubectl\b", regex=True, where="reference")
    assert regex and all(u.reference.startswith("kubectl") for u in regex)
    with pytest.raises(InvalidOptionError, match="regular expression"):
        explorer.select(scored, text="(unclosed", regex=True)

    perfect = explorer.select(scored, wer=(0.0, 0.0))
    assert all(u.wer == 0 for u in perfect)
    assert len(perfect) == sum(u.wer == 0 for u in scored.utterances)
    bad = explorer.select(scored, wer=(0.5, 10.0))
    assert bad and all(u.wer >= 0.5 for u in bad)
    short = explorer.select(scored, duration=(0.0, 3.5))
    assert short and all(u.duration <= 3.5 for u in short)
    assert len(short) + len(explorer.select(scored, duration=(3.5001, 100.0))) == 80
    both = explorer.select(scored, text="staging", wer=(0.3, 10.0), duration=(3.0, 6.0))
    assert all("staging" in (u.reference + u.hypothesis) and u.wer >= 0.3 and 3 <= u.duration <= 6 for u in both)

    by_wer = explorer.select(scored, sort="wer", descending=True)
    assert [u.wer for u in by_wer] == sorted((u.wer for u in scored.utterances), reverse=True)
    by_duration = explorer.select(scored, sort="duration")
    assert [u.duration for u in by_duration] == sorted(u.duration for u in scored.utterances)
    assert [u.reference for u in explorer.select(scored, sort="reference")] == sorted(refs := [
        u.reference for u in scored.utterances]) and len(refs) == 80
    with pytest.raises(InvalidOptionError, match="cannot sort by"):
        explorer.select(scored, sort="loudness")  # type: ignore[arg-type]
    with pytest.raises(InvalidOptionError, match="low then high"):
        explorer.select(scored, duration=(5.0, 1.0))


def test_workspace_audio_all_or_transcribed(ws, demo_model):
    entries = _add_demo_audio(ws, 5, transcribed=3)
    everything = explorer.workspace_set(ws)
    assert [u.title for u in everything.utterances] == [Path(e["audio_filepath"]).name for e in entries]
    assert [u.duration for u in everything.utterances] == pytest.approx([e["duration"] for e in entries], abs=0.01)
    assert [u.reference for u in everything.utterances] == [e["text"] for e in entries[:3]] + [None, None]
    done = explorer.workspace_set(ws, transcribed_only=True)
    assert len(done) == 3 and done.label == "transcribed workspace audio"
    stats = explorer.statistics(everything, known_words_for(demo_model))
    assert stats.utterances == 5 and stats.with_reference == 3
    assert stats.words == sum(len(e["text"].split()) for e in entries[:3])
    # Without references, no WER: utterances are kept unless a WER range is asked for.
    scored = everything.with_hypotheses(["kubectl get pods"] * 5)
    assert [u.wer is None for u in scored.utterances] == [False, False, False, True, True]
    assert len(explorer.select(scored)) == 5 and len(explorer.select(scored, wer=(0.0, 5.0))) == 3
    assert explorer.select(scored, sort="wer")[-2:] == list(scored.utterances[3:])


def test_a_manifest_with_segments_and_lines_without_duration(tmp_path):
    rate = 16_000
    audio = np.concatenate([tone(1.0, rate, freq=300.0), tone(2.0, rate, freq=1200.0)])[:, 0]
    soundfile.write(tmp_path / "two.wav", audio, rate)
    lines = [{"audio_filepath": "two.wav", "text": "a whole file"},  # no duration: measured
             {"audio_filepath": "two.wav", "offset": 1.0, "duration": 2.0, "text": "its second part"}]
    manifest = tmp_path / "m.json"
    manifest.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    audio_set = explorer.manifest_set(manifest)
    whole, part = audio_set.utterances
    assert whole.duration == pytest.approx(3.0) and whole.offset is None
    assert part.duration == 2.0 and part.offset == 1.0 and part.title == "two @1 s"
    assert explorer.statistics(audio_set, {"a", "whole", "file"}).oov_words == 3  # its, second, part

    samples = explorer.load_samples(part, rate)
    assert len(samples) == 2 * rate
    times, freqs, power = explorer.spectrogram(samples, rate)
    assert power.shape == (len(freqs), len(times))
    assert len(times) == pytest.approx(200, abs=3) and freqs[-1] == rate / 2
    assert freqs[int(np.argmax(power.mean(axis=1)))] == pytest.approx(1200, abs=40)  # the segment's tone
    data, fmt = explorer.playable_audio(part)
    played, played_rate = soundfile.read(io.BytesIO(data))
    assert fmt == "wav" and len(played) / played_rate == pytest.approx(2.0, abs=0.01)
    assert explorer.playable_audio(whole) == ((tmp_path / "two.wav").read_bytes(), "wav")
    png = explorer.utterance_plot_png(part)
    assert png.startswith(PNG) and len(png) > 10_000
    with pytest.raises(Exception, match="no manifest"):
        explorer.manifest_set(tmp_path / "missing.json")


def test_explore_panel_transcribes_filters_selects_and_plots(ws, demo_model):
    panel = ExplorerPanel(ws, demo_model)
    # It opens the profile's first test set at once: statistics, histogram, a first page.
    assert panel.source.value == "profile:domain/test"
    assert panel.audio_set is not None and len(panel.audio_set) == 80
    stats = html.unescape(panel.stats.value)
    assert "demo domain/test" in stats and "904 words" in stats and "OOV rate" in stats
    assert bytes(panel.histogram.value).startswith(PNG) and "kubectl" in panel.oov.value
    assert "80 of 80 utterances" in panel.table.caption.value and len(panel.table.texts()) == 15
    assert panel.table.texts()[0][:2] == ["1", panel.audio_set.utterances[0].title]
    assert panel.wer_range.disabled  # nothing transcribed yet
    panel.next_page.click()
    assert panel.page_label.value == "utterances 16–30 of 80"

    # Workspace audio: five files, three with transcripts; transcribe them with the base model.
    _add_demo_audio(ws, 5, transcribed=3)
    panel.source.value = "workspace"
    assert len(panel.audio_set) == 5 and "Opened workspace audio: 5 utterances" in html.unescape(panel.status.value)
    panel.transcribe_button.click()
    assert panel.job is not None and panel.job.wait(300) == "completed"
    assert panel.audio_set.system == "base"
    assert "Transcribed workspace audio with the base model: WER" in html.unescape(panel.status.value)
    assert "base WER / CER" in panel.stats.value and "base transcript" in panel.table.head[4].value
    assert not panel.wer_range.disabled and not panel.transcribe_button.disabled
    scored = panel.audio_set
    refs = [u.reference for u in scored.utterances[:3]]
    assert [u.wer for u in scored.utterances[:3]] == pytest.approx(
        [r.wer for r in evaluate(refs, [u.hypothesis for u in scored.utterances[:3]]).utterances])

    # Filters: WER range (only transcribed utterances have one), text search, sorting.
    panel.wer_range.value = (0.0, 0.5)
    expected = [u for u in scored.utterances if u.wer is not None and u.wer <= 0.5]
    assert panel.filtered() == expected and f"{len(expected)} of 5 utterances" in panel.table.caption.value
    assert [row[0] for row in panel.table.texts()] == [str(u.index + 1) for u in expected]
    panel.wer_range.value = (0.0, panel.wer_range.max)
    panel.sort.value = "duration-desc"
    assert [u.duration for u in panel.filtered()] == sorted((u.duration for u in scored.utterances), reverse=True)
    word = scored.utterances[1].reference.split()[-1]
    panel.search_in.value = "reference"
    panel.search.value = word
    assert panel.filtered() == [u for u in scored.utterances if u.reference and word in u.reference]
    panel.regex.value = True
    panel.search.value = "[unclosed"
    assert "not a regular expression" in html.unescape(panel.status.value)
    panel.search.value = ""

    # One utterance, clicked in the table: its diff against the reference, waveform and spectrogram, the player.
    index = panel.filtered()[1].index
    assert panel.table.row_keys[1] == index
    panel.table.buttons[1].click()
    assert panel.selected == index and bytes(panel.plot.value).startswith(PNG) and panel.plot.layout.display == ""
    assert panel.player.player is not None and len(panel.player.player.value) > 1000
    utt = scored.utterances[index]
    if utt.has_reference:
        assert "sc-diff" in panel.detail.value
    assert panel.table.chosen == index  # the row shown is marked
    assert all("sc-rows-chosen" in w._dom_classes for w in (panel.table.holders[1], *panel.table.cells[1]))
    assert not any("sc-rows-chosen" in w._dom_classes for w in panel.table.cells[0])

    # A manifest by path; a wrong path says what to do and changes nothing.
    panel.source.value = "manifest"
    panel.manifest_path.value = str(tmp := Path(ws.path) / "nothing.json")
    panel.open_button.click()
    assert "no manifest at" in html.unescape(panel.status.value) and str(tmp) in html.unescape(panel.status.value)
    assert panel.audio_set is scored
    panel.manifest_path.value = str(demo.manifest("domain/dev"))
    panel.open_button.click()
    assert panel.audio_set.label == "manifest.json" and len(panel.audio_set) == len(read_manifest(
        demo.manifest("domain/dev")))
    assert panel.selected is None and not panel.detail.value and panel.plot.layout.display == "none"


def test_studio_has_an_explore_tab(ws, demo_model):
    studio = Studio(ws, demo_model)
    assert "Explore" in studio.tabs.titles
    index = studio.tabs.titles.index("Explore")
    assert studio.tabs.children[index] is studio.explore and isinstance(studio.explore, ExplorerPanel)
    studio.explore.source.value = "workspace:transcribed"
    assert len(studio.explore.audio_set) == 0 and "no audio in this set" in studio.explore.table.empty.value
    _add_demo_audio(ws, 2, transcribed=2)
    studio.tabs.selected_index = index  # opening the tab re-reads the workspace's audio
    assert len(studio.explore.audio_set) == 2


def test_a_customized_system_transcribes_as_compare_decodes_it(ws, demo_model, demo_lm, test_set, transcribed):
    """Explore shows any system: with a custom LM, the transcripts are the +LM system's of a comparison
    on the same audio (same model outputs, same weights), and the tab names the system it ran."""
    from jupyter_speechcustom.asr.decoding import Decoder

    base_set, cache = transcribed
    few = explorer.AudioSet("first eight", test_set.utterances[:8])
    with_lm = explorer.transcribe(demo_model, few, lm=demo_lm, cache=cache)
    assert with_lm.system == "+LM" and explorer.system_name(lm=True, am=True) == "+AM+LM"
    outputs = cache[(demo_model.fingerprint, tuple(u.audio for u in few.utterances))]
    assert [u.hypothesis for u in with_lm.utterances] == Decoder(demo_model, demo_lm).decode_text(outputs)
    base_errors = sum(u.errors or 0 for u in base_set.utterances[:8])
    assert sum(u.errors or 0 for u in with_lm.utterances) < base_errors

    lm = ws.add_language_model(demo_lm.path, name="ops")
    panel = ExplorerPanel(ws, demo_model)
    assert [v for _, v in panel.lm.options] == [None, lm.id] and panel.lm.value is None  # base unless chosen
    _add_demo_audio(ws, 3, transcribed=3)
    panel.source.value = "workspace"
    panel.lm.value = lm.id
    panel.transcribe_button.click()
    assert panel.job is not None and panel.job.wait(300) == "completed"
    assert panel.audio_set.system == "+LM" and "+LM transcript" in panel.table.head[4].value
    assert "with +LM (ops" in html.unescape(panel.status.value)
    assert "Decoded with the LM's default weights (this LM was never tuned)" in html.unescape(panel.status.value)
