"""Live recognition: streaming cost and latency, concurrent streams, and the HTTP API's overhead.

On the demo model and the demo's domain test recordings, this script measures:

1. the streaming real-time factor (seconds of computing per second of audio) of a
   ``RecognitionStream`` fed 0.1 s chunks with interim results on, without and with a custom LM
   (in this process, so only the recognition work is timed);
2. through a real ``speechcustom serve`` over the WebSocket ``/v1/recognize``, with audio sent at
   real-time pace in 0.1 s chunks: the delay from the end of the audio (the last chunk and the
   stop message) to the final result, without and with a custom LM made through the API;
3. how many real-time streams the server holds at once: N streams in parallel, each must end
   with the same transcript as ``POST /v1/recognize`` gives for its audio (nothing dropped) and
   its final result within 1 s of its audio's end (it kept pace);
4. ``POST /v1/recognize`` against calling ``Recognizer.transcribe`` directly, interleaved;
5. the Studio's Live tab path, in process with the events API (:func:`live_latency`): recorder segments
   (Opus) arriving as the tab's recorders deliver them, decoded and fed as float samples to a base and a
   customized stream: the seconds from the start of speech to the first text shown, on the first take
   after the recognizers are made (cold) and later (warm), with the tab's 1 s segments and with 0.5 s ones.

Goals: real-time factor <= 0.3, final result <= 500 ms after the audio ends, >= 4 streams,
HTTP overhead <= 1.2x, the Live tab's first text <= 2 s after speech begins (warm, 1 s segments).

Run: ``python bench/bench_streaming.py [--files 6] [--streams 1,2,4,6] [--model demo] [--live-only]``; ``--model`` takes
any base model (a ``.nemo`` path or a NeMo name; the server serves it as its default model), e.g. one trained
for cache-aware streaming, whose encoder the streams run chunk by chunk (see ``asr/streaming.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import csv
import io
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

from jupyter_speechcustom import demo, read_manifest
from jupyter_speechcustom.asr.streaming import (
    FRAME_SECONDS,
    INTERIM_SECONDS,
    SILENCE_DB,
    RecognitionStream,
    cache_aware_problem,
)
from jupyter_speechcustom.lm.language_model import build_language_model
from jupyter_speechcustom.services.recognition import Recognizer
from jupyter_speechcustom.widgets._live_take import OVERLAP_SECONDS
from jupyter_speechcustom.widgets.live import SEGMENT_SECONDS as LIVE_SEGMENT_SECONDS

CHUNK_SECONDS = 0.1
RATE = 16_000
GOALS = {"rtf": 0.3, "delay_ms": 500.0, "streams": 4, "http_overhead": 1.2, "live_first_text": 2.0}
#: Silence before the speech of a simulated Live take (the browser test's), plus a phase within a segment.
LIVE_LEAD_SECONDS = 0.5
KEPT_PACE_SECONDS = 1.0
#: Torch threads for recognition, in this process and in the server: on a small model and a busy
#: machine, one thread is many times faster than a pool.
TORCH_THREADS = 1


# --------------------------------------------------------------------------- audio


def test_audio(n: int) -> list[tuple[str, np.ndarray, bytes]]:
    """The first ``n`` domain test recordings: name, samples, and 16-bit WAV bytes."""
    out = []
    for entry in read_manifest(demo.manifest("domain/test"))[:n]:
        samples, rate = sf.read(entry["audio_filepath"], dtype="float32")
        assert rate == RATE
        buf = io.BytesIO()
        sf.write(buf, samples, rate, format="WAV", subtype="PCM_16")
        out.append((Path(entry["audio_filepath"]).name, samples, buf.getvalue()))
    return out


def pcm(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()


# --------------------------------------------------------------------------- in process


def streaming_rtf(recognizer: Recognizer, audio: list[tuple[str, np.ndarray, bytes]]) -> tuple[float, float]:
    """Seconds of computing per audio second of streams fed 0.1 s chunks of float samples, interim results on:
    wall-clock time, and this process's CPU time (what the streams cost, whatever else the machine runs)."""
    chunk = int(CHUNK_SECONDS * RATE)
    wall = cpu = seconds = 0.0
    for _, samples, _ in audio:
        stream = RecognitionStream(recognizer, interim_results=True)
        start, start_cpu = time.perf_counter(), time.process_time()
        for pos in range(0, len(samples), chunk):
            stream.feed(samples[pos:pos + chunk], RATE)
        stream.finish()
        wall += time.perf_counter() - start
        cpu += time.process_time() - start_cpu
        seconds += len(samples) / RATE
    return wall / seconds, cpu / seconds


# --------------------------------------------------------------------------- the Live tab's path


def _first_speech(samples: np.ndarray) -> float:
    """Seconds to the first 20 ms frame over the streams' silence level: where speech starts."""
    frame = int(FRAME_SECONDS * RATE)
    frames = samples[: len(samples) - len(samples) % frame].reshape(-1, frame)
    loud = np.flatnonzero(np.mean(np.square(frames, dtype=np.float64), axis=1) > (10 ** (SILENCE_DB / 20)) ** 2)
    return float(loud[0]) * FRAME_SECONDS if len(loud) else 0.0


def _opus(samples: np.ndarray) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, samples, RATE, format="OGG", subtype="OPUS")
    return buf.getvalue()


def live_latency(pair: tuple[Recognizer, Recognizer], samples: np.ndarray, lead: float,
                 segment_seconds: float = LIVE_SEGMENT_SECONDS, interim_seconds: float = INTERIM_SECONDS) -> dict[str, Any]:
    """The Live tab's path for one take: ``lead`` seconds of silence, then ``samples``, recorded in segments.

    As in the tab, segment ``k`` (Opus, as the browser's recorder sends it) reaches the kernel when its
    recorder stops, ``OVERLAP_SECONDS`` after the next one started: at ``(k + 1) * segment_seconds +
    OVERLAP_SECONDS`` (the browser's encoding and the widget message are left out); one worker decodes
    it and feeds its float samples to the base stream, then to the customized one, and shows both sides
    once both are fed. The times are the measured computing on this machine, queued behind each other
    as the worker takes the segments in turn. Returns the seconds from the start of speech to the
    first text shown on each side (an interim hypothesis, or a final one if it comes first), and where they went.
    """
    from jupyter_speechcustom.io.audio import load_audio

    audio = np.concatenate([np.zeros(int(lead * RATE), np.float32), samples])
    speech = lead + _first_speech(samples)
    step = int(segment_seconds * RATE)
    segments = [_opus(audio[pos:pos + step]) for pos in range(0, len(audio), step)]
    streams = {side: RecognitionStream(recognizer, interim_results=True, interim_seconds=interim_seconds)
               for side, recognizer in zip(("base", "custom"), pair)}
    free_at = 0.0  # when the worker is done with the segments before
    first: dict[str, dict[str, float]] = {}
    for k, data in enumerate(segments):
        arrives = (k + 1) * segment_seconds + OVERLAP_SECONDS
        start = time.perf_counter()
        chunk = load_audio(data, RATE)
        decoded = time.perf_counter()
        with_text = [side for side, stream in streams.items() if any(e.text for e in stream.feed(chunk, RATE))]
        busy = time.perf_counter() - start
        began = max(arrives, free_at)
        free_at = began + busy
        for side in with_text:
            if side not in first:
                first[side] = {"shown": free_at - speech, "segment_end": min(len(audio), (k + 1) * step) / RATE - speech,
                               "waited": began - arrives, "decode": decoded - start, "feeds": busy - (decoded - start),
                               "segment": k}
    return {"speech": speech, "first": first}


def live_latencies(pair: tuple[Recognizer, Recognizer], audio: list[tuple[str, np.ndarray, bytes]],
                   segment_seconds: float, interim_seconds: float = INTERIM_SECONDS) -> list[dict[str, Any]]:
    """:func:`live_latency` of each recording, speech starting at several points of a segment."""
    out = []
    for i, (_, samples, _) in enumerate(audio):
        for phase in (0.0, 0.25, 0.5, 0.75):
            result = live_latency(pair, samples, LIVE_LEAD_SECONDS + phase * segment_seconds + 0.03 * i,
                                  segment_seconds, interim_seconds)
            out.append({**result, "segment_seconds": segment_seconds})
    return out


def report_live(label: str, results: list[dict[str, Any]]) -> float:
    """Print the figures of :func:`live_latencies`; returns the median to the customized side's first text."""
    shown = [r["first"]["custom"]["shown"] for r in results if "custom" in r["first"]]
    missing = len(results) - len(shown)
    if not shown:
        print(f"  {label}: no interim text at all")
        return float("inf")
    parts = {key: statistics.median(r["first"]["custom"][key] for r in results if "custom" in r["first"])
             for key in ("segment_end", "waited", "decode", "feeds")}
    print(f"  {label}: first text {statistics.median(shown):.2f} s after speech began (median; "
          f"{min(shown):.2f}-{max(shown):.2f} s over {len(shown)} takes{f', {missing} without any' if missing else ''});"
          f" of which: end of the segment holding it {parts['segment_end']:.2f} s, recorder overlap "
          f"{OVERLAP_SECONDS:.2f} s, queue {parts['waited'] * 1000:.0f} ms, Opus decoding {parts['decode'] * 1000:.0f} ms, "
          f"both streams {parts['feeds'] * 1000:.0f} ms")
    # Which segment gave the first text, counted from the one in which speech began (0: that one).
    later = collections.Counter(r["first"]["custom"]["segment"] - int(r["speech"] // r["segment_seconds"])
                                for r in results if "custom" in r["first"])
    print("    first text from the segment in which speech began +" + ", +".join(
        f"{k}: {n} takes" for k, n in sorted(later.items())))
    return statistics.median(shown)


# --------------------------------------------------------------------------- the server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(folder: Path, model: str = "demo") -> tuple[subprocess.Popen[bytes], str, str]:
    token, port = secrets.token_hex(16), free_port()
    # Recognition on one torch thread, as the in-process side of the comparison runs.
    (folder / "config").mkdir()
    service = {"torch_threads": TORCH_THREADS, "default_model": model}
    for name in ("jupyter_server_config.json", "speechcustom_serve_config.json"):
        (folder / "config" / name).write_text(json.dumps({"SpeechCustomService": service}))
    url = f"http://127.0.0.1:{port}/speechcustom/api/v1/"
    log = (folder / "server.log").open("wb")
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(folder / "config"), "JUPYTER_DATA_DIR": str(folder / "data"),
           "JUPYTER_RUNTIME_DIR": str(folder / "runtime")}
    proc = subprocess.Popen([sys.executable, "-m", "jupyter_speechcustom.cli", "serve", "--port", str(port),
                             "--token", token, "--workspace", str(folder / "ws"), "--allow-root"],
                            cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"the server exited: see {folder / 'server.log'}")
        try:
            if api(url, token, "GET", "models")[0] == 200:
                return proc, url, token
        except OSError:
            pass
        time.sleep(0.3)
    stop_server(proc)
    sys.exit("the server did not start in 120 s")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def api(url: str, token: str, method: str, path: str, body: bytes | None = None,
        content_type: str = "application/json") -> tuple[int, Any]:
    request = urllib.request.Request(url + path, data=body, method=method,
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=300) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def make_language_customization(url: str, token: str, model: str = "demo") -> str:
    status, body = api(url, token, "POST", "customizations", json.dumps({"name": "bench", "base_model_name": model}).encode())
    assert status == 201, body
    cid = body["customization_id"]
    assert api(url, token, "POST", f"customizations/{cid}/corpora/domain", demo.corpus_path().read_bytes(),
               "text/plain")[0] == 201
    with demo.custom_words_path().open(newline="", encoding="utf-8") as f:
        words = [{"word": row["word"], "sounds_like": [s for s in (row.get("sounds_like") or "").split(";") if s],
                  **({"display_as": row["display_as"]} if row.get("display_as") else {})}
                 for row in csv.DictReader(f)]
    assert api(url, token, "POST", f"customizations/{cid}/words", json.dumps({"words": words}).encode())[0] == 201
    assert api(url, token, "POST", f"customizations/{cid}/train", b"")[0] == 200
    while (model := api(url, token, "GET", f"customizations/{cid}")[1])["status"] not in ("available", "failed"):
        time.sleep(0.5)
    assert model["status"] == "available", model
    return cid


def http_transcript(url: str, token: str, wav: bytes, query: str = "") -> str:
    status, body = api(url, token, "POST", "recognize" + query, wav, "audio/wav")
    assert status == 200, body
    return " ".join(r["alternatives"][0]["transcript"] for r in body["results"])


async def stream(url: str, token: str, samples: np.ndarray, query: str = "") -> dict[str, Any]:
    """One stream at real-time pace over the WebSocket; the final transcript and the delays."""
    ws_url = url.replace("http://", "ws://") + "recognize" + query
    conn = await websocket_connect(HTTPRequest(ws_url, headers={"Authorization": f"Bearer {token}"}))
    conn.write_message(json.dumps({"action": "start", "content-type": f"audio/l16;rate={RATE}",
                                   "interim_results": True, "inactivity_timeout": -1}))
    reply = await conn.read_message()
    assert reply is not None and json.loads(reply) == {"state": "listening"}, reply
    data = pcm(samples)
    chunk = int(CHUNK_SECONDS * RATE) * 2
    finals: list[str] = []
    interims = 0
    final_at = 0.0

    async def receive() -> None:
        nonlocal interims, final_at
        while True:
            message = await conn.read_message()
            assert message is not None, "the connection closed early"
            reply = json.loads(message)
            assert "error" not in reply, reply
            if reply.get("state") == "listening":
                return
            for result in reply["results"]:
                if result["final"]:
                    finals.append(result["alternatives"][0]["transcript"])
                    final_at = time.perf_counter()
                else:
                    interims += 1

    receiver = asyncio.ensure_future(receive())
    start = time.perf_counter()
    for n, pos in enumerate(range(0, len(data), chunk)):
        await asyncio.sleep(max(0.0, start + n * CHUNK_SECONDS - time.perf_counter()))
        await conn.write_message(data[pos:pos + chunk], binary=True)
    await asyncio.sleep(max(0.0, start + len(samples) / RATE - time.perf_counter()))  # the audio's end, in real time
    end = time.perf_counter()
    await conn.write_message(json.dumps({"action": "stop"}))
    await receiver
    conn.close()
    return {"text": " ".join(finals), "delay": final_at - end, "interims": interims}


def fmt_goal(value: float, goal: float, lower_is_better: bool = True) -> str:
    met = value <= goal if lower_is_better else value >= goal
    return "met" if met else "NOT met"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=6, help="test recordings per measurement")
    parser.add_argument("--streams", default="1,2,4,6", help="numbers of concurrent streams to try")
    parser.add_argument("--model", default="demo", help="base model: demo, a .nemo path or a NeMo name")
    parser.add_argument("--live-only", action="store_true", help="measure the Live tab's path [5] only")
    args = parser.parse_args()
    audio = test_audio(max(args.files, 8))
    files = audio[: args.files]
    seconds = sum(len(s) for _, s, _ in files) / RATE
    print(f"{len(files)} domain test recordings, {seconds:.1f} s of audio; {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")

    import torch

    torch.set_num_threads(TORCH_THREADS)
    with tempfile.TemporaryDirectory(prefix="bench-streaming-") as tmp:
        folder = Path(tmp)
        model = str(Path(args.model).resolve()) if args.model.endswith(".nemo") else args.model
        base = Recognizer(model)
        problem = cache_aware_problem(base.acoustic_model)
        print(f"model {args.model}: " + ("cache-aware streaming" if problem is None else f"buffered streaming ({problem})"))
        lm = build_language_model(base.base, [demo.corpus_path()], folder / "lm", words=demo.custom_words_path())
        custom = Recognizer(base.base, lm=lm)
        # The tab makes its recognizers at Start: the first take is the cold one.
        cold = live_latency((base, custom), files[0][1], LIVE_LEAD_SECONDS)
        if args.live_only:
            live_section((base, custom), files, cold)
            return 0
        streaming_rtf(base, files[:1])  # warm-up
        (wall_base, cpu_base), (wall_lm, cpu_lm) = streaming_rtf(base, files), streaming_rtf(custom, files)
        print(f"\n[1] streaming real-time factor (0.1 s chunks, interim results on), in process:\n"
              f"  base: {wall_base:.3f} wall, {cpu_base:.3f} CPU   + custom LM: {wall_lm:.3f} wall, {cpu_lm:.3f} CPU"
              f"   (goal <= {GOALS['rtf']}: wall {fmt_goal(max(wall_base, wall_lm), GOALS['rtf'])}, "
              f"CPU {fmt_goal(max(cpu_base, cpu_lm), GOALS['rtf'])})")

        proc, url, token = start_server(folder, model)
        try:
            cid = make_language_customization(url, token, model)
            lm_query = f"?language_customization_id={cid}"
            http_transcript(url, token, files[0][2])  # loads the model
            http_transcript(url, token, files[0][2], lm_query)
            print("\n[2] delay from the end of the audio to the final result, real-time pace over the WebSocket:")
            worst = 0.0
            for label, query in (("base", ""), ("+ custom LM", lm_query)):
                delays, same = [], 0
                for _, samples, wav in files:
                    result = asyncio.run(stream(url, token, samples, query))
                    delays.append(result["delay"] * 1000)
                    same += result["text"] == http_transcript(url, token, wav, query)
                worst = max(worst, statistics.median(delays))
                print(f"  {label}: median {statistics.median(delays):.0f} ms, max {max(delays):.0f} ms; "
                      f"final = HTTP transcript for {same}/{len(files)}")
            print(f"  (goal: median <= {GOALS['delay_ms']:.0f} ms: {fmt_goal(worst, GOALS['delay_ms'])})")

            print("\n[3] concurrent real-time streams (each: same transcript as HTTP, final within "
                  f"{KEPT_PACE_SECONDS:g} s of its audio's end):")
            expected = [http_transcript(url, token, wav) for _, _, wav in audio]
            held = 0
            for n in [int(x) for x in args.streams.split(",")]:
                picks = [audio[k % len(audio)] for k in range(n)]

                async def together(picks: list[tuple[str, np.ndarray, bytes]] = picks) -> list[dict[str, Any]]:
                    return list(await asyncio.gather(*(stream(url, token, s) for _, s, _ in picks)))

                results = asyncio.run(together())
                same = sum(r["text"] == expected[k % len(audio)] for k, r in enumerate(results))
                worst_delay = max(r["delay"] for r in results)
                ok = same == n and worst_delay <= KEPT_PACE_SECONDS
                held = n if ok and held == n_prev(args.streams, n) else held
                print(f"  {n} streams: {same}/{n} transcripts as HTTP, worst final delay {worst_delay * 1000:.0f} ms"
                      f" -> {'held' if ok else 'NOT held'}")
            print(f"  load average now {os.getloadavg()[0]:.1f}")
            print(f"  held: {held} streams (goal >= {GOALS['streams']}: "
                  f"{fmt_goal(held, GOALS['streams'], lower_is_better=False)})")

            print("\n[4] POST /v1/recognize vs Recognizer.transcribe in process (interleaved, 3 rounds):")
            http_s, direct_s = [], []
            for _ in range(3):
                for _, _, wav in files:
                    start = time.perf_counter()
                    http_transcript(url, token, wav)
                    http_s.append(time.perf_counter() - start)
                    start = time.perf_counter()
                    base.transcribe([wav])
                    direct_s.append(time.perf_counter() - start)
            ratio = sum(http_s) / sum(direct_s)
            print(f"  per file: HTTP median {statistics.median(http_s) * 1000:.0f} ms, direct median "
                  f"{statistics.median(direct_s) * 1000:.0f} ms; total ratio {ratio:.2f}x "
                  f"(goal <= {GOALS['http_overhead']}x: {fmt_goal(ratio, GOALS['http_overhead'])})")
        finally:
            stop_server(proc)
        live_section((base, custom), files, cold)
    return 0


def live_section(pair: tuple[Recognizer, Recognizer], files: list[tuple[str, np.ndarray, bytes]],
                 cold: dict[str, Any]) -> None:
    print("\n[5] the Live tab's path (Opus segments decoded and fed as float samples to a base and a customized "
          "stream, in process): from the start of speech to the first text shown")
    first = cold["first"].get("custom")
    again = live_latency(pair, files[0][1], LIVE_LEAD_SECONDS)["first"].get("custom")
    print("  cold (the first take after making the recognizers): "
          + (f"{first['shown']:.2f} s (both streams {first['feeds'] * 1000:.0f} ms)" if first else "no text")
          + "; the same take warm: "
          + (f"{again['shown']:.2f} s (both streams {again['feeds'] * 1000:.0f} ms)" if again else "no text"))
    worst = report_live(f"warm, {LIVE_SEGMENT_SECONDS:g} s segments", live_latencies(pair, files, LIVE_SEGMENT_SECONDS))
    report_live("warm, 0.5 s segments", live_latencies(pair, files, 0.5))
    report_live("warm, 0.5 s segments, interim_seconds 0.3", live_latencies(pair, files, 0.5, 0.3))
    print(f"  (the browser's encoding, the widget messages and the page's rendering come on top; goal <= "
          f"{GOALS['live_first_text']:g} s with {LIVE_SEGMENT_SECONDS:g} s segments: "
          f"{fmt_goal(worst, GOALS['live_first_text'])}; load average {os.getloadavg()[0]:.1f})")


def n_prev(streams: str, n: int) -> int:
    """The stream count tried before ``n`` (0 for the first): "held" counts only an unbroken run from the start."""
    counts = [int(x) for x in streams.split(",")]
    i = counts.index(n)
    return counts[i - 1] if i else 0


if __name__ == "__main__":
    sys.exit(main())
