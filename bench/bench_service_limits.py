"""What a request costs the speech service before and after it is authenticated.

Starts ``speechcustom serve`` on 127.0.0.1 (a fresh workspace, one API key) and measures, from the
server's ``/proc`` figures (``VmRSS``; the peak ``VmHWM`` is reset before each case through
``/proc/PID/clear_refs``):

1. an unauthenticated 300 MB ``POST /v1/recognize``: time until the 401 arrives, and the peak RSS
   growth (target: <= 1 s, <= 50 MB);
2. six authenticated 300 MB recognize requests in parallel at the default limits (100 MB: each is
   refused on its ``Content-Length``), then again on a server started with the limits raised so that
   they are accepted (``--max-recognize-mb 400 --max-recognize-minutes 200``): each body is spooled to
   disk and its 2.7 h of silent 16 kHz audio decoded in bounded memory; peak RSS growth for all six
   (target: <= 2 GB);
3. every answer's status: no 5xx.

Run: ``python bench/bench_service_limits.py`` (about 5 minutes on a 2-core CPU; it needs ~2 GB of
free disk for the request bodies and their spooled copies).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

MB = 1024**2
BODY_BYTES = 300 * MB
PARALLEL = 6
SPEECH = Path(__file__).resolve().parents[1] / "jupyter_speechcustom/demo/data/domain/test/dtest-00000.ogg"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _proc_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def _reset_peak(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM := VmRSS


def _serve(folder: Path, *extra: str) -> tuple[subprocess.Popen[bytes], int, str, str]:
    from jupyter_speechcustom.store.workspace import Store

    workspace = folder / f"ws-{secrets.token_hex(3)}"
    _, key = Store(workspace).api_keys.create("bench")
    token, port = secrets.token_hex(16), _free_port()
    log = (folder / f"serve-{port}.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "jupyter_speechcustom.cli", "serve", "--port", str(port),
                             "--token", token, "--workspace", str(workspace), "--allow-root", *extra],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 120
    while True:
        try:
            request = urllib.request.Request(f"http://127.0.0.1:{port}/speechcustom/api/v1/models",
                                             headers={"Authorization": f"Basic {_basic(key)}"})
            with urllib.request.urlopen(request, timeout=5):
                break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit(f"the server did not start: see {log.name}") from None
            time.sleep(0.5)
    return proc, port, key, log.name


def _basic(key: str) -> str:
    import base64

    return base64.b64encode(f"apikey:{key}".encode()).decode()


def _stop(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


def _post(port: int, path: Path | None, size: int, headers: dict[str, str]) -> tuple[int, float, str]:
    """POST ``size`` bytes (the file ``path``, or zeros) while reading the answer, which may come
    before the body is all sent; returns the status, the seconds until the answer, and its body."""
    head = ["POST /speechcustom/api/v1/recognize HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {size}",
            "Content-Type: audio/wav", *(f"{k}: {v}" for k, v in headers.items())]
    started = time.monotonic()
    sock = socket.create_connection(("127.0.0.1", port), timeout=3600)
    sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())

    def send() -> None:
        zeros = b"\0" * MB
        try:
            with path.open("rb") if path else contextlib.nullcontext() as source:
                sent = 0
                while sent < size:
                    chunk = source.read(MB) if source else zeros[: min(MB, size - sent)]
                    if not chunk:
                        break
                    sock.sendall(chunk)
                    sent += len(chunk)
        except OSError:
            pass  # the server answered and closed the connection: the rest is never sent

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    answer = b""
    try:
        while b"\r\n\r\n" not in answer or len(answer.split(b"\r\n\r\n", 1)[1]) < _length(answer):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    except OSError:
        pass
    seconds = time.monotonic() - started
    sock.close()
    sender.join(60)
    status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else 0
    return status, seconds, answer.split(b"\r\n\r\n", 1)[-1].decode(errors="replace")[:300]


def _parallel(proc: subprocess.Popen[bytes], port: int, wav: Path, auth: dict[str, str],
              ) -> tuple[list[tuple[int, float, str]], float, float]:
    """:data:`PARALLEL` POSTs of ``wav`` at once: their answers, the seconds for all, and the server's
    peak RSS growth over its RSS before them, in MB."""
    baseline = _proc_kb(proc.pid, "VmRSS")
    _reset_peak(proc.pid)
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(PARALLEL) as pool:
        answers = list(pool.map(lambda _: _post(port, wav, BODY_BYTES, auth), range(PARALLEL)))
    return answers, time.monotonic() - started, (_proc_kb(proc.pid, "VmHWM") - baseline) / 1024


def _length(answer: bytes) -> int:
    for line in answer.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":", 1)[1])
    return 0


def _silent_wav(path: Path, size: int) -> None:
    import numpy as np
    import soundfile as sf

    frames = (size - 44) // 2
    with sf.SoundFile(path, "w", samplerate=16_000, channels=1, subtype="PCM_16") as f:
        block = np.zeros(16_000 * 60, np.int16)
        for start in range(0, frames, len(block)):
            f.write(block[: min(len(block), frames - start)])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-service-limits-"))
    results: dict[str, object] = {}
    statuses: list[int] = []
    try:
        wav = folder / "silence-300MB.wav"
        _silent_wav(wav, BODY_BYTES)
        proc, port, key, _ = _serve(folder)
        try:
            auth = {"Authorization": f"Basic {_basic(key)}"}
            baseline = _proc_kb(proc.pid, "VmRSS")
            _reset_peak(proc.pid)
            status, seconds, _ = _post(port, None, BODY_BYTES, {})
            growth = (_proc_kb(proc.pid, "VmHWM") - baseline) / 1024
            statuses.append(status)
            results["unauthenticated 300 MB"] = {"status": status, "seconds": round(seconds, 3),
                                                 "peak_rss_growth_mb": round(growth, 1)}
            print(f"unauthenticated 300 MB POST: {status} in {seconds:.3f} s, peak RSS +{growth:.1f} MB "
                  "(target <= 1 s, <= 50 MB)", flush=True)

            answers, wall, growth = _parallel(proc, port, wav, auth)
            statuses += [a[0] for a in answers]
            results["6 x 300 MB, default limits"] = {"statuses": [a[0] for a in answers], "seconds": round(wall, 2),
                                                     "peak_rss_growth_mb": round(growth, 1)}
            print(f"6 x 300 MB recognize, default limits: {[a[0] for a in answers]} in {wall:.2f} s, "
                  f"peak RSS +{growth:.1f} MB", flush=True)
        finally:
            _stop(proc)

        proc, port, key, _ = _serve(folder, "--max-recognize-mb", "400", "--max-recognize-minutes", "200")
        try:
            auth = {"Authorization": f"Basic {_basic(key)}"}
            _post(port, SPEECH, SPEECH.stat().st_size, auth)  # loads the model first, so the growth below is the requests' own
            answers, wall, growth = _parallel(proc, port, wav, auth)
            statuses += [a[0] for a in answers]
            no_speech = sum("No speech detected" in json.dumps(a[2]) for a in answers)
            results["6 x 300 MB, accepted"] = {"statuses": [a[0] for a in answers], "seconds": round(wall, 1),
                                               "peak_rss_growth_mb": round(growth, 1), "no_speech_warnings": no_speech}
            print(f"6 x 300 MB recognize, accepted (limits raised): {[a[0] for a in answers]} in {wall:.1f} s, "
                  f"peak RSS +{growth:.1f} MB for all six (target <= 2048 MB); {no_speech} say no speech", flush=True)
        finally:
            _stop(proc)
        server_errors = sum(s >= 500 for s in statuses)
        results["5xx"] = server_errors
        print(f"5xx answers: {server_errors}")
        print(json.dumps(results))
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
