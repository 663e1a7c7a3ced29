"""Live recognition with a model trained for cache-aware streaming: its encoder runs chunk by chunk
with its caches as the audio arrives, each chunk once, and the final result is what NeMo's own
cache-aware streaming simulation gives for the same audio.

The models are small, untrained FastConformers built offline with NeMo's own classes
(``build_family_model(..., streaming=True)``: ``att_context_size [70, 1]``, ``chunked_limited``,
causal convolutions); they check the machinery, not recognition quality.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from jupyter_speechcustom import demo
from jupyter_speechcustom.asr.models import load_base_model
from jupyter_speechcustom.asr.recognize import AcousticOutput, greedy_decode
from jupyter_speechcustom.asr.streaming import Event, Final, Interim, RecognitionStream, cache_aware_problem
from jupyter_speechcustom.io.audio import load_audio
from jupyter_speechcustom.io.manifest import read_manifest
from jupyter_speechcustom.services.recognition import Recognizer

pytestmark = pytest.mark.slow

RATE = 16_000
CHUNK = int(0.1 * RATE)  # 0.1 s of samples


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    from jupyter_speechcustom.demo.family_models import build_family_model, train_tokenizer

    folder = tmp_path_factory.mktemp("streaming-models")
    tokenizer = train_tokenizer(folder / "tokenizer", vocab_size=128)
    built = {family: build_family_model(family, folder / f"{family}.nemo", tokenizer, streaming=True)
             for family in ("ctc_bpe", "hybrid_tdt_ctc")}
    built["offline"] = build_family_model("ctc_bpe", folder / "offline.nemo", tokenizer)
    return built


@pytest.fixture(scope="module")
def clips() -> list[np.ndarray]:
    """Three domain test recordings, as the 16-bit samples a live client sends."""
    out = []
    for entry in read_manifest(demo.manifest("domain/test"))[:3]:
        audio = load_audio(entry["audio_filepath"], RATE)
        out.append(np.round(np.clip(audio, -1, 1) * 32767).astype("<i2"))
    return out


def _stream(recognizer: Recognizer, pcm: np.ndarray, **kwargs: Any) -> tuple[RecognitionStream, list[Event]]:
    """The 16-bit samples fed as floats in 0.1 s chunks: the stream and its events."""
    stream = RecognitionStream(recognizer, **kwargs)
    samples = (pcm / 32768.0).astype(np.float32)
    events: list[Event] = []
    for start in range(0, len(samples), CHUNK):
        events += stream.feed(samples[start:start + CHUNK], RATE)
    return stream, events + stream.finish()


def _text(event: Event) -> str:
    return " ".join(event.text.split())


class EncoderCalls:
    """Every run of the real encoder, with the feature frames it was given (a forward pre-hook)."""

    def __init__(self, asr_model: Any) -> None:
        self.frames: list[int] = []
        self._handle = asr_model.encoder.register_forward_pre_hook(self._count, with_kwargs=True)

    def _count(self, _module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        signal = kwargs.get("audio_signal", args[0] if args else None)
        self.frames.append(int(signal.shape[-1]))

    def __enter__(self) -> EncoderCalls:
        return self

    def __exit__(self, *exc: Any) -> None:
        self._handle.remove()


def nemo_streaming(asr_model: Any, audio: np.ndarray) -> tuple[np.ndarray, str, int]:
    """NeMo's own cache-aware streaming simulation of ``audio``, as its
    ``speech_to_text_cache_aware_streaming_infer.py`` runs it: the encoder frames, the greedy
    transcript of ``conformer_stream_step`` and the number of chunks."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the stream runs (small steps: a thread pool only costs)
    try:
        return _nemo_streaming(asr_model, audio)
    finally:
        torch.set_num_threads(threads)


def _nemo_streaming(asr_model: Any, audio: np.ndarray) -> tuple[np.ndarray, str, int]:
    import torch
    from nemo.collections.asr.parts.utils.streaming_utils import CacheAwareStreamingAudioBuffer

    buffer = CacheAwareStreamingAudioBuffer(asr_model)
    buffer.append_audio(audio)
    caches = asr_model.encoder.get_initial_cache_state(batch_size=1)
    frames, previous_out, previous_hyps, texts, steps = [], None, None, None, 0
    captured: list[Any] = []
    hook = asr_model.encoder.register_forward_hook(lambda _m, _a, out: captured.append(out))
    try:
        for step, (chunk, lengths) in enumerate(buffer):
            with torch.inference_mode():
                previous_out, texts, *caches, previous_hyps = asr_model.conformer_stream_step(
                    processed_signal=chunk, processed_signal_length=lengths, cache_last_channel=caches[0],
                    cache_last_time=caches[1], cache_last_channel_len=caches[2],
                    keep_all_outputs=buffer.is_buffer_empty(), previous_hypotheses=previous_hyps,
                    previous_pred_out=previous_out, return_transcription=True,
                    drop_extra_pre_encoded=0 if step == 0 else asr_model.encoder.streaming_cfg.drop_extra_pre_encoded)
            encoded, encoded_len = captured[-1][0], captured[-1][1]
            frames.append(encoded[0, :, : int(encoded_len[0])].T.numpy())
            steps += 1
    finally:
        hook.remove()
    assert texts is not None
    text = texts[0] if isinstance(texts[0], str) else texts[0].text
    return np.concatenate(frames), " ".join(text.split()), steps


def _ctc_log_probs(asr_model: Any, frames: np.ndarray) -> np.ndarray:
    import torch

    with torch.inference_mode():
        return asr_model.decoder(encoder_output=torch.from_numpy(frames).T[None])[0].numpy()


def test_a_model_trained_for_cache_aware_streaming_is_detected_from_its_encoder(models) -> None:
    for family in ("ctc_bpe", "hybrid_tdt_ctc"):
        base = load_base_model(models[family])
        assert cache_aware_problem(base) is None
        assert RecognitionStream(Recognizer(base)).cache_aware is not None
    # The same architecture trained offline (whole-utterance attention), the demo model (trained offline
    # too) and the character demo's LSTM are buffered.
    offline = load_base_model(models["offline"])
    assert "right context -1" in str(cache_aware_problem(offline))
    assert RecognitionStream(Recognizer(offline)).cache_aware is None
    assert "right context -1" in str(cache_aware_problem(load_base_model("demo")))
    lstm = load_base_model("demo-char")
    assert "no cache-aware streaming step" in str(cache_aware_problem(lstm))


@pytest.mark.parametrize("family", ["ctc_bpe", "hybrid_tdt_ctc"])
def test_each_chunk_is_encoded_once_and_the_final_is_nemos_streaming_result(family, models, clips) -> None:
    base = load_base_model(models[family])
    asr = base.asr_model
    recognizer = Recognizer(base)
    cfg = asr.encoder.streaming_cfg
    largest_chunk = max(cfg.chunk_size) + max(cfg.pre_encode_cache_size)  # 16 + 9 feature frames
    same_as_nemo = 0
    simulated = []
    for pcm in clips:
        audio = pcm.astype(np.float32) / 32768
        with EncoderCalls(asr) as calls:
            stream, events = _stream(recognizer, pcm, interim_results=True)
        expected_frames, expected_text, chunks = nemo_streaming(asr, audio)
        # One encoder run per streaming chunk, each on one chunk and its pre-encoder cache: the encoder
        # never ran over the utterance, for interim hypotheses or for the final result.
        assert len(calls.frames) == chunks > 10
        assert max(calls.frames) <= largest_chunk
        finals = [e for e in events if isinstance(e, Final)]
        interims = [e for e in events if isinstance(e, Interim)]
        assert len(finals) == 1 and events[-1] is finals[0] and len(interims) + 1 == len(events)
        assert len(interims) >= 2 and all(e.result_index == 0 for e in events)
        # The final is decoded from NeMo's streaming frames of the utterance's audio: its transcript where
        # NeMo's last, padded chunk adds no frame past the audio (the toolkit leaves that frame out).
        kept = -(-(len(audio) // 160) // 8)
        if len(expected_frames) <= kept:
            assert _text(finals[0]) == expected_text and expected_text
            same_as_nemo += 1
        else:
            trimmed = expected_frames[:kept]
            if family == "ctc_bpe":
                trimmed = _ctc_log_probs(asr, trimmed)
            assert _text(finals[0]) == greedy_decode(base, [AcousticOutput(trimmed, base.frame_shift)])[0]
        assert stream.cache_aware is not None and stream.cache_aware.frames == 0  # reset for the next utterance
        timestamps = [(w.word, w.start, w.end) for w in finals[0].words if w.start is not None]
        # (A hybrid's word times come from its CTC head's alignment of the transducer's transcript, which
        # an untrained model's two heads may not allow.)
        assert timestamps or family != "ctc_bpe"
        assert all(0 <= start <= end <= len(audio) / RATE + base.frame_shift for _, start, end in timestamps)
        assert finals[0].start == 0 and finals[0].end == pytest.approx(len(audio) / RATE, abs=0.02)
        simulated.append(expected_frames)
    assert same_as_nemo >= 1
    # The encoder frames the final is decoded from, kept chunk by chunk as the audio arrived, are
    # those of NeMo's simulation bit for bit (features computed as the audio arrives included).
    from jupyter_speechcustom.asr.streaming import _CacheAwareEncoder

    for pcm, expected_frames in zip(clips, simulated):
        encoder = _CacheAwareEncoder(base)
        audio = pcm.astype(np.float32) / 32768
        for end in range(1600, len(audio) + 1600, 1600):
            encoder.advance(audio[:end])
        kept_frames = encoder.finish(audio)
        expected_frames = expected_frames[: len(kept_frames)]
        assert len(kept_frames) > 40
        if family == "ctc_bpe":  # the CTC head over each chunk, as NeMo's stream step runs it, or over all at once
            np.testing.assert_allclose(kept_frames, _ctc_log_probs(asr, expected_frames), atol=1e-5)
        else:
            assert np.array_equal(kept_frames, expected_frames)


def test_streamed_frames_match_the_offline_pass_up_to_rounding(models, clips) -> None:
    """NeMo documents cache-aware streaming as giving the model's offline outputs; numerically, on the
    frames both have, they agree to float rounding. At the end they may differ by a frame: NeMo's
    streaming buffer leaves out the last feature frames when they are too few for another output
    frame, and runs a last short chunk padded to one otherwise."""
    from jupyter_speechcustom.asr.streaming import _CacheAwareEncoder

    base = load_base_model(models["hybrid_tdt_ctc"])  # its cached output is the encoder's own
    offline = Recognizer(base, speech_detection=False).acoustic_outputs(
        [pcm.astype(np.float32) / 32768 for pcm in clips], source_rate=RATE)
    for pcm, out in zip(clips, offline):
        encoder = _CacheAwareEncoder(base)
        streamed = encoder.finish(pcm.astype(np.float32) / 32768)
        common = min(len(streamed), len(out.frames))
        assert abs(len(out.frames) - len(streamed)) <= 1 and common > 40
        np.testing.assert_allclose(streamed[:common], out.frames[:common], atol=1e-4)


def test_a_custom_lm_decodes_the_final_from_the_kept_frames(models, clips, tmp_path) -> None:
    from jupyter_speechcustom.lm.language_model import build_language_model

    base = load_base_model(models["ctc_bpe"])
    lm = build_language_model(base, [demo.corpus_path()], tmp_path / "lm", words=demo.custom_words_path())
    recognizer = Recognizer(base, lm=lm)
    assert recognizer.decoder.weights.lm_alpha > 0
    pcm = clips[1]
    with EncoderCalls(base.asr_model) as calls:
        _, events = _stream(recognizer, pcm, interim_results=True)
    frames, greedy, chunks = nemo_streaming(base.asr_model, pcm.astype(np.float32) / 32768)
    assert len(calls.frames) == chunks
    finals = [e for e in events if isinstance(e, Final)]
    assert len(finals) == 1 and any(isinstance(e, Interim) for e in events[:-1])
    # The final is the recognizer's Decoder (custom LM, boosting, word timings) over the streamed
    # CTC log-probs; interim hypotheses are greedy.
    log_probs = _ctc_log_probs(base.asr_model, frames[: -(-(len(pcm) // 160) // 8)])
    expected = recognizer.decoder.decode([AcousticOutput(log_probs, base.frame_shift, "<array>")])[0]
    assert _text(finals[0]) == " ".join((expected.display_text or expected.text).split())
    assert [w.word for w in finals[0].words if w.start is not None] == expected.text.split()
    assert len(finals[0].words) == len(expected.text.split())
    assert all(w.confidence is not None and 0 <= w.confidence <= 1 for w in finals[0].words)
    assert _text(finals[0]) != greedy  # the custom LM changed the untrained model's greedy transcript


def test_silence_never_runs_the_encoder_and_a_pause_starts_fresh_caches(models, clips) -> None:
    base = load_base_model(models["ctc_bpe"])
    recognizer = Recognizer(base)
    silence = np.zeros(3 * RATE, "<i2")
    with EncoderCalls(base.asr_model) as calls:
        _, events = _stream(recognizer, silence, interim_results=True)
    assert events == [] and calls.frames == []
    # Two utterances with a pause between them: two finals, the second one's chunks started afresh.
    pcm = np.concatenate([clips[0], np.zeros(int(1.5 * RATE), "<i2"), clips[1]])
    with EncoderCalls(base.asr_model) as calls:
        _, events = _stream(recognizer, pcm, interim_results=True)
    finals = [e for e in events if isinstance(e, Final)]
    assert [e.result_index for e in finals] == [0, 1]
    assert finals[0].start == 0 and finals[0].end <= finals[1].start < finals[1].end
    _, _, first = nemo_streaming(base.asr_model, clips[0].astype(np.float32) / 32768)
    _, _, second = nemo_streaming(base.asr_model, clips[1].astype(np.float32) / 32768)
    # Each utterance is encoded once, plus the pause's silence the encoder met before the pause was
    # known and the lead kept before the second utterance (about a second of audio: chunks of 0.16 s).
    assert first + second <= len(calls.frames) <= first + second + 8
