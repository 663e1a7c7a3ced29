"""Live recognition: the streaming service on its own, then the WebSocket ``/v1/recognize`` and the
asynchronous ``/v1/recognitions`` of the IBM Watson STT v1-compatible API, driven by the official
``ibm-watson`` SDK against a real ``jupyter server`` (the ``server`` fixture of ``conftest.py``)."""

from __future__ import annotations

import io
import json
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("ibm_watson", reason="the official IBM Watson SDK: pip install -e '.[test]'")

import websocket
from helpers.audio import wav_of
from helpers.server import DOMAIN, Server, api_request, domain_test_items, wait_status
from ibm_watson import ApiException, SpeechToTextV1
from ibm_watson.websocket import AudioSource, RecognizeCallback

from jupyter_speechcustom.evaluation.metrics import evaluate

pytestmark = pytest.mark.slow

CHUNK_SECONDS = 0.1
RATE = 16_000


def _samples(path: Path) -> np.ndarray:
    audio, rate = sf.read(path, dtype="float32")
    assert rate == RATE
    return audio


def _feed(stream: Any, data: bytes, chunk: int) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    for start in range(0, len(data), chunk):
        messages += stream.feed(data[start:start + chunk])
    return messages + stream.finish()


def _transcript(message: dict[str, Any]) -> str:
    return str(message["results"][0]["alternatives"][0]["transcript"])


@pytest.fixture(scope="module")
def recognizer(demo_model):
    from jupyter_speechcustom import Recognizer

    return Recognizer(demo_model)


# --------------------------------------------------------------------------- the streaming service


def test_stream_codecs_give_the_same_samples_whatever_the_byte_chunks() -> None:
    """Bytes split anywhere (mid-sample, mid-header) decode to the samples of the whole: l16 in both byte
    orders and two channels, mu-law in a WAV, float WAV; a content type names its format."""
    from jupyter_speechcustom.errors import InvalidOptionError
    from jupyter_speechcustom.io.stream_codecs import parse_content_type, stream_decoder

    rng = np.random.default_rng(0)
    stereo = (rng.uniform(-0.5, 0.5, (4000, 2))).astype(np.float32)
    mono = stereo.mean(axis=1)
    cases = []
    for order in ("<", ">"):
        ints = np.round(stereo * 32767).astype(f"{order}i2")
        endianness = "big-endian" if order == ">" else "little-endian"
        cases.append((f"audio/l16;rate=16000;channels=2;endianness={endianness}", ints.tobytes(),
                      ints.astype(np.float32).mean(axis=1) / 32768))
    for subtype, atol in (("ULAW", 0.03), ("FLOAT", 0.0)):
        buf = io.BytesIO()
        sf.write(buf, mono, 8000, format="WAV", subtype=subtype)
        cases.append(("audio/wav", buf.getvalue(), (mono, atol)))
    for content_type, data, expected in cases:
        decoder = stream_decoder(content_type)
        pieces = [decoder.push(data[start:start + 37]) for start in range(0, len(data), 37)] + [decoder.finish()]
        samples = np.concatenate(pieces)
        if isinstance(expected, tuple):
            expected, atol = expected
            assert decoder.rate == 8000
            np.testing.assert_allclose(samples, expected, atol=atol + 1e-6)
        else:
            assert decoder.rate == 16000
            np.testing.assert_allclose(samples, expected, atol=1e-6)
    assert parse_content_type("audio/mulaw;rate=8000").kind == "mulaw"
    assert parse_content_type("audio/webm;codecs=opus").kind == "compressed"
    with pytest.raises(InvalidOptionError, match="rate"):
        stream_decoder("audio/l16")


def test_ibm_messages_of_stream_events() -> None:
    """Interim: the transcript alone; final: IBM's alternative (mean word confidence, rounded times), then
    the next-best transcripts."""
    from jupyter_speechcustom.asr.streaming import Final, Interim, Word
    from jupyter_speechcustom.server.recognition import ibm_message

    assert ibm_message(Interim(2, "hello wor", 1.0, 1.6), timestamps=True) == {
        "result_index": 2, "results": [{"final": False, "alternatives": [{"transcript": "hello wor"}]}]}
    words = (Word("hello", 1.004, 1.3, 0.9), Word("world", 1.3, 1.777, 0.6), Word("again"))
    final = Final(2, "hello world again", 1.0, 2.1, words, ("hello word again",))
    assert final.confidence == pytest.approx(0.75)
    assert ibm_message(final, timestamps=True, word_confidence=True) == {"result_index": 2, "results": [{
        "final": True, "alternatives": [
            {"transcript": "hello world again", "confidence": 0.75,
             "timestamps": [["hello", 1.0, 1.3], ["world", 1.3, 1.78]],
             "word_confidence": [["hello", 0.9], ["world", 0.6], ["again", 0.0]]},
            {"transcript": "hello word again"}]}]}
    assert "timestamps" not in ibm_message(final)["results"][0]["alternatives"][0]


def test_stream_gives_interim_results_then_the_offline_transcript(recognizer) -> None:
    """A WAV stream fed in 0.1 s chunks: interim hypotheses while it plays, then one final result equal to
    transcribing the whole file, with timestamps and word confidences."""
    from jupyter_speechcustom.server.live import IBMStream

    path, _ = domain_test_items(1)[0]
    wav = wav_of(_samples(path))
    stream = IBMStream(recognizer, "audio/wav", interim_results=True, timestamps=True, word_confidence=True)
    messages = _feed(stream, wav, int(CHUNK_SECONDS * RATE * 2))
    finals = [m for m in messages if m["results"][0]["final"]]
    interims = [m for m in messages if not m["results"][0]["final"]]
    assert len(finals) == 1 and messages[-1] is finals[0]
    assert len(interims) >= 2 and all(m["result_index"] == 0 for m in messages)
    offline = recognizer.transcribe([wav])[0]
    assert _transcript(finals[0]) == offline.text
    alternative = finals[0]["results"][0]["alternatives"][0]
    assert [t[0] for t in alternative["timestamps"]] == offline.text.split()
    assert all(0 <= t[1] <= t[2] <= stream.seconds for t in alternative["timestamps"])
    assert all(0 <= c <= 1 for _, c in alternative["word_confidence"])
    assert "confidence" not in interims[0]["results"][0]["alternatives"][0]
    # A later interim hypothesis covers more of the utterance than the first.
    assert len(_transcript(interims[-1])) > len(_transcript(interims[0]))


def test_a_pause_splits_the_stream_into_two_final_results(recognizer) -> None:
    """Two utterances separated by 1.5 s of silence (l16 at 16 kHz, 0.1 s chunks): two final results,
    result_index 0 then 1, the second's timestamps counted from the start of the stream."""
    from jupyter_speechcustom.server.live import IBMStream

    (first, _), (second, _) = domain_test_items(2)
    a, b = _samples(first), _samples(second)
    audio = np.concatenate([a, np.zeros(int(1.5 * RATE), np.float32), b])
    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()
    stream = IBMStream(recognizer, "audio/l16;rate=16000", timestamps=True)
    messages = _feed(stream, pcm, int(CHUNK_SECONDS * RATE * 2))
    assert [m["result_index"] for m in messages] == [0, 1]
    assert all(m["results"][0]["final"] for m in messages)
    offline = [t.text for t in recognizer.transcribe([a, b], source_rate=RATE)]
    streamed = [_transcript(m) for m in messages]
    # Each streamed utterance carries some of the pause, which a model that normalizes features per
    # utterance hears a little differently from the bare clip.
    assert evaluate(offline, streamed).cer < 0.25, (offline, streamed)
    starts = [m["results"][0]["alternatives"][0]["timestamps"][0][1] for m in messages]
    assert starts[0] < len(a) / RATE < len(a) / RATE + 1.5 <= starts[1]


def test_other_rates_and_compressed_streams(recognizer) -> None:
    """l16 at 8 kHz (resampled as it arrives) and an OGG/Opus stream give the offline transcript of the same audio."""
    from jupyter_speechcustom.server.live import IBMStream

    path, _ = domain_test_items(1)[0]
    ogg = path.read_bytes()
    stream = IBMStream(recognizer, "audio/ogg;codecs=opus")
    finals = _feed(stream, ogg, 1024)
    assert [_transcript(m) for m in finals] == [recognizer.transcribe([ogg])[0].text]

    import soxr

    narrow = soxr.resample(_samples(path), RATE, 8000).astype(np.float32)
    pcm = (np.clip(narrow, -1, 1) * 32767).astype(">i2").tobytes()
    stream = IBMStream(recognizer, "audio/l16; rate=8000; endianness=big-endian")
    finals = _feed(stream, pcm, 1600)
    offline = recognizer.transcribe([narrow], source_rate=8000)[0].text
    assert len(finals) == 1 and evaluate([offline], [_transcript(finals[0])]).cer < 0.1


def test_silence_gives_no_result_and_counts_as_inactivity(recognizer) -> None:
    from jupyter_speechcustom.errors import InvalidOptionError
    from jupyter_speechcustom.server.live import IBMStream

    stream = IBMStream(recognizer, "audio/l16;rate=16000", interim_results=True)
    silence = np.zeros(3 * RATE, "<i2").tobytes()
    assert _feed(stream, silence, 3200) == []
    assert stream.silent_seconds == pytest.approx(3.0, abs=0.05)
    for bad in ("audio/l16", "text/plain", "audio/l16;rate=12"):
        with pytest.raises(InvalidOptionError):
            IBMStream(recognizer, bad)


# --------------------------------------------------------------------------- the WebSocket API


class Collector(RecognizeCallback):  # type: ignore[misc]
    """Everything the SDK reports, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.data: list[dict[str, Any]] = []
        self.errors: list[str] = []
        self.timeouts: list[str] = []
        self.listening = 0

    def on_data(self, data: dict[str, Any]) -> None:
        self.data.append(data)

    def on_error(self, error: Any) -> None:
        self.errors.append(str(error))

    def on_inactivity_timeout(self, error: Any) -> None:
        self.timeouts.append(str(error))

    def on_listening(self) -> None:
        self.listening += 1


def _ws_client(server: Server) -> SpeechToTextV1:
    stt = server.client()
    stt.set_service_url(server.url.replace("http://", "ws://") + "speechcustom/api")
    return stt


def _stream(server: Server, audio: bytes, content_type: str, **kwargs: Any) -> Collector:
    callback = Collector()
    _ws_client(server).recognize_using_websocket(AudioSource(io.BytesIO(audio)), content_type, callback, **kwargs)
    return callback


def _http(server: Server, audio: bytes, **params: Any) -> dict[str, Any]:
    result: dict[str, Any] = server.client().recognize(audio, content_type="audio/wav", **params).get_result()
    return result


@pytest.fixture(scope="module")
def language_customization(server: Server) -> str:
    stt = server.client()
    cid: str = stt.create_language_model("live-ops", "demo").get_result()["customization_id"]
    stt.add_corpus(cid, "ops", io.BytesIO((DOMAIN / "corpus.txt").read_bytes()))
    stt.add_words(cid, [{"word": "nginx", "sounds_like": ["engine x"], "display_as": "NGINX"}])
    stt.train_language_model(cid)
    assert wait_status(stt.get_language_model, cid)["status"] == "available"
    return cid


def test_websocket_interim_then_final_equal_to_http(server: Server) -> None:
    path, _ = domain_test_items(1)[0]
    wav = wav_of(_samples(path))
    callback = _stream(server, wav, "audio/wav", interim_results=True, timestamps=True, word_confidence=True,
                       model="demo")
    assert not callback.errors, callback.errors
    finals = [m for m in callback.data if m["results"][0]["final"]]
    assert len(finals) == 1 and callback.data[-1] is finals[0]
    assert any(not m["results"][0]["final"] for m in callback.data[:-1])  # interim results came first
    assert all(m["result_index"] == 0 for m in callback.data)
    http = _http(server, wav, timestamps=True, word_confidence=True)
    assert finals[0]["results"][0]["alternatives"][0] == http["results"][0]["alternatives"][0]
    # max_alternatives: final results hold the next-best transcripts too, as over HTTP.
    callback = _stream(server, wav, "audio/wav", max_alternatives=3, model="demo")
    (final,) = [m for m in callback.data if m["results"][0]["final"]]
    ranked = final["results"][0]["alternatives"]
    assert ranked == _http(server, wav, max_alternatives=3)["results"][0]["alternatives"]
    assert 2 <= len(ranked) <= 3 and ranked[0]["transcript"] == http["results"][0]["alternatives"][0]["transcript"]


def test_websocket_with_a_language_customization(server: Server, language_customization: str) -> None:
    items = domain_test_items(3)
    streamed, refs = [], []
    for path, reference in items:
        wav = wav_of(_samples(path))
        callback = _stream(server, wav, "audio/wav", language_customization_id=language_customization,
                           customization_weight=0.3, interim_results=True)
        assert not callback.errors, callback.errors
        text = " ".join(_transcript(m) for m in callback.data if m["results"][0]["final"])
        http = _http(server, wav, language_customization_id=language_customization, customization_weight=0.3)
        assert text == http["results"][0]["alternatives"][0]["transcript"]
        streamed.append(text.lower())
        refs.append(reference)
    base = [_transcript(_http(server, wav_of(_samples(p)))) for p, _ in items]
    assert evaluate(refs, streamed).wer < evaluate(refs, base).wer


def test_websocket_inactivity_timeout_on_silence(server: Server) -> None:
    silence = np.zeros(4 * RATE, "<i2").tobytes()
    callback = _stream(server, silence, "audio/l16;rate=16000", inactivity_timeout=1, interim_results=True)
    assert callback.timeouts and callback.timeouts[0].startswith("No speech detected for 1s"), callback.timeouts
    assert not [m for m in callback.data if m.get("results")]


def _raw_socket(server: Server, query: str = "", headers: list[str] | None = None) -> websocket.WebSocket:
    url = server.url.replace("http://", "ws://") + "speechcustom/api/v1/recognize" + query
    return websocket.create_connection(url, header=headers or [], timeout=60)


def test_websocket_needs_the_token_and_a_good_start(server: Server) -> None:
    with pytest.raises(websocket.WebSocketBadStatusException) as err:
        _raw_socket(server)
    assert err.value.status_code in (401, 403)
    with pytest.raises(websocket.WebSocketBadStatusException) as err:
        _raw_socket(server, headers=["Authorization: Bearer not-the-token"])
    assert err.value.status_code in (401, 403)
    with pytest.raises(websocket.WebSocketBadStatusException) as err:
        _raw_socket(server, f"?model=no-such-model&access_token={server.token}")
    assert err.value.status_code == 404
    # IBM's access_token query parameter stands for the header; a start without a rate for l16 is refused.
    ws = _raw_socket(server, f"?access_token={server.token}")
    try:
        ws.send(json.dumps({"action": "start", "content-type": "audio/l16"}))
        reply = json.loads(ws.recv())
        assert "rate" in reply["error"]
    finally:
        ws.close()
    ws = _raw_socket(server, headers=[f"Authorization: Bearer {server.token}"])
    try:
        ws.send_binary(b"\x00\x01" * 100)
        assert "start" in json.loads(ws.recv())["error"]
    finally:
        ws.close()
    # Two recognitions on one connection, each answered with "listening" after its results.
    path, _ = domain_test_items(1)[0]
    pcm = (np.clip(_samples(path), -1, 1) * 32767).astype("<i2").tobytes()
    ws = _raw_socket(server, headers=[f"Authorization: Bearer {server.token}"])
    try:
        transcripts = []
        for _ in range(2):
            ws.send(json.dumps({"action": "start", "content-type": "audio/l16;rate=16000"}))
            assert json.loads(ws.recv()) == {"state": "listening"}
            for start in range(0, len(pcm), 6400):
                ws.send_binary(pcm[start:start + 6400])
            ws.send(json.dumps({"action": "stop"}))
            replies = []
            while True:
                reply = json.loads(ws.recv())
                if reply.get("state") == "listening":
                    break
                replies.append(reply)
            transcripts.append([_transcript(r) for r in replies])
        assert transcripts[0] == transcripts[1] and len(transcripts[0]) == 1
        assert [r["result_index"] for r in replies] == [0]
    finally:
        ws.close()


# --------------------------------------------------------------------------- asynchronous jobs


def test_asynchronous_jobs(server: Server) -> None:
    stt = server.client()
    paths = [p for p, _ in domain_test_items(2)]
    jobs = [stt.create_job(p.read_bytes(), content_type="audio/ogg", model="demo", timestamps=True,
                           user_token=f"call-{n}", results_ttl=5).get_result() for n, p in enumerate(paths)]
    for job in jobs:
        assert job["status"] in ("waiting", "processing") and job["url"].endswith(job["id"])
    listed = {j["id"]: j for j in stt.check_jobs().get_result()["recognitions"]}
    assert {j["id"] for j in jobs} <= set(listed) and listed[jobs[0]["id"]]["user_token"] == "call-0"
    for job, path in zip(jobs, paths):
        deadline = time.monotonic() + 120
        while (state := stt.check_job(job["id"]).get_result())["status"] not in ("completed", "failed"):
            assert time.monotonic() < deadline, state
            time.sleep(0.2)
        assert state["status"] == "completed", state
        http = server.client().recognize(path.read_bytes(), content_type="audio/ogg", timestamps=True).get_result()
        assert state["results"] == [http]
    stt.delete_job(jobs[0]["id"])
    with pytest.raises(ApiException) as err:
        stt.check_job(jobs[0]["id"])
    assert err.value.code == 404
    assert jobs[0]["id"] not in {j["id"] for j in stt.check_jobs().get_result()["recognitions"]}
    # A callback URL is refused in IBM's shape; so is audio the service cannot read, as a failed job.
    with pytest.raises(ApiException) as err:
        stt.create_job(paths[0].read_bytes(), content_type="audio/ogg", callback_url="http://127.0.0.1:9/results")
    assert err.value.code == 400 and "callback" in err.value.message
    bad = stt.create_job(b"not audio at all", content_type="audio/wav").get_result()
    deadline = time.monotonic() + 60
    while (state := stt.check_job(bad["id"]).get_result())["status"] not in ("completed", "failed"):
        assert time.monotonic() < deadline, state
        time.sleep(0.2)
    assert state["status"] == "failed" and "decoded" in state["warnings"][0]
    status, _ = api_request(server, "GET", "recognitions", token=False)
    assert status in (401, 403)


def test_recognize_handles_streams_and_http_at_once(server: Server) -> None:
    """Streams on several connections at once all get their own transcripts."""
    items = domain_test_items(3)
    wavs = [wav_of(_samples(p)) for p, _ in items]
    results: dict[int, Collector] = {}

    def run(n: int) -> None:
        results[n] = _stream(server, wavs[n], "audio/wav")

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(wavs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for n, wav in enumerate(wavs):
        finals = [_transcript(m) for m in results[n].data if m["results"][0]["final"]]
        assert finals == [_transcript(_http(server, wav))]
