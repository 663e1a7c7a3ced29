"""The speech service as an attacker meets it: what a credential unlocks, what a request costs before
it is authenticated, and how every bad request is answered.

A real ``speechcustom serve`` (and, for the extension, the ``jupyter server`` fixture of ``conftest.py``)
on 127.0.0.1, driven by raw HTTP, raw sockets, websocket-client and the unchanged ``ibm-watson`` SDK.
"""

from __future__ import annotations

import base64
import json
import multiprocessing
import secrets
import socket
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("ibm_watson", reason="the official IBM Watson SDK: pip install -e '.[test]'")

import websocket
from helpers.server import DOMAIN, Server, domain_test_items, free_port, jupyter_env, start_server, stop_server
from ibm_cloud_sdk_core.authenticators import BasicAuthenticator, BearerTokenAuthenticator, IAMAuthenticator
from ibm_watson import ApiException, SpeechToTextV1

from jupyter_speechcustom.store.workspace import Store

pytestmark = pytest.mark.slow

GB = 1024**3
MB = 1024**2


class Serve(Server):
    key: str
    key_id: str
    port: int


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    """`speechcustom serve` started in a folder holding a file it must never serve, with one API key."""
    folder = tmp_path_factory.mktemp("serve")
    (folder / "secret.txt").write_text("not for speech clients")
    workspace = folder / "ws"
    key, secret = Store(workspace).api_keys.create("test client")
    token = secrets.token_hex(16)
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    log = folder / "serve.log"
    cmd = [sys.executable, "-m", "jupyter_speechcustom.cli", "serve", "--port", str(port), "--token", token,
           "--workspace", str(workspace), "--allow-root"]
    proc = start_server(cmd, jupyter_env(folder / "jupyter"), folder, log, url, token)
    try:
        info = Serve(url=url, token=token, workspace=workspace, log=log)
        info.key, info.key_id, info.port = secret, key.id, port
        yield info
    finally:
        stop_server(proc)


def _request(url: str, method: str = "GET", body: bytes | None = None, headers: dict[str, str] | None = None,
             ) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def _api(serve: Server, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None,
         auth: str | None = "token") -> tuple[int, dict[str, Any]]:
    head = dict(headers or {})
    if auth == "token":
        head["Authorization"] = f"Bearer {serve.token}"
    elif auth is not None:
        head["Authorization"] = auth
    status, _, data = _request(serve.url + "speechcustom/api/v1/" + path, method, body, head)
    return status, json.loads(data or b"{}")


def _basic(key: str, user: str = "apikey") -> str:
    return "Basic " + base64.b64encode(f"{user}:{key}".encode()).decode()


def _ibm_error(status: int, body: dict[str, Any], expected: int) -> None:
    assert status == expected, body
    assert body["code"] == expected and body["error"] and body["code_description"], body


def _client(serve: Server, authenticator: Any) -> SpeechToTextV1:
    stt = SpeechToTextV1(authenticator=authenticator)
    stt.set_service_url(serve.url + "speechcustom/api")
    return stt


def _headers_only(port: int, head: str, timeout: float = 10.0) -> bytes:
    """Send a request's headers (and 64 KB of its body, no more) and read the answer: a server that
    refuses on the headers answers although the rest of the declared body never comes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(head.encode() + b"\r\n\r\n" + b"\0" * 65536)
        data = b""
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < 20:
            if time.monotonic() > deadline:
                break
            try:
                chunk = sock.recv(65536)
            except (TimeoutError, ConnectionResetError):
                break
            if not chunk:
                break
            data += chunk
    return data


# --------------------------------------------------------------------------- serve is the speech API alone

JUPYTER_ROUTES = [
    ("GET", "api"), ("GET", "api/contents"), ("PUT", "api/contents/x.txt"), ("GET", "api/kernels"),
    ("POST", "api/kernels"), ("GET", "api/sessions"), ("GET", "api/terminals"), ("GET", "api/kernelspecs"),
    ("GET", "api/config/notebook"), ("GET", "api/nbconvert"), ("GET", "api/me"), ("GET", "api/status"),
    ("GET", "api/events/subscribe"), ("POST", "api/shutdown"), ("GET", "lab"), ("GET", "tree"),
    ("GET", "files/secret.txt"), ("GET", "login"), ("GET", "logout"), ("GET", "metrics"),
    ("GET", "static/favicons/favicon.ico"), ("GET", ""), ("GET", "terminals/1"),
]


@pytest.mark.parametrize(("method", "path"), JUPYTER_ROUTES, ids=[f"{m} /{p}" for m, p in JUPYTER_ROUTES])
def test_serve_has_none_of_jupyters_routes(serve: Serve, method: str, path: str) -> None:
    """With the very token speech clients hold, none of Jupyter's own services answer."""
    body = b"{}" if method in ("POST", "PUT") else None
    status, _, data = _request(serve.url + path, method, body, {"Authorization": f"token {serve.token}",
                                                                "Content-Type": "application/json"})
    assert status == 404, (status, data[:300])
    assert b"not for speech clients" not in data


def test_serve_answers_the_speech_api(serve: Serve) -> None:
    status, body = _api(serve, "GET", "models")
    assert status == 200 and "demo" in [m["name"] for m in body["models"]]
    status, body = _api(serve, "GET", "no/such/route")
    _ibm_error(status, body, 404)


# --------------------------------------------------------------------------- credentials


def test_missing_and_wrong_credentials_are_401_in_ibms_shape(serve: Serve) -> None:
    for auth in (None, "Bearer not-the-token", "token not-the-token", _basic("sck_" + "x" * 43),
                 _basic(serve.key, user="admin"), "Basic !!!not-base64", "Bearer sck_wrong",
                 "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJrZXkteCJ9."):
        status, headers, data = _request(serve.url + "speechcustom/api/v1/models",
                                         headers={"Authorization": auth} if auth else {})
        body = json.loads(data)
        _ibm_error(status, body, 401)
        challenge = {k.lower(): v for k, v in headers.items()}.get("www-authenticate", "")
        assert challenge.startswith("Bearer"), headers  # never a browser's Basic prompt


@pytest.mark.parametrize("how", ["iam", "basic", "bearer"])
def test_an_api_key_works_the_ways_ibms_clients_send_it(serve: Serve, how: str) -> None:
    authenticator = {"iam": lambda: IAMAuthenticator(serve.key, url=serve.url + "speechcustom"),
                     "basic": lambda: BasicAuthenticator("apikey", serve.key),
                     "bearer": lambda: BearerTokenAuthenticator(serve.key)}[how]()
    stt = _client(serve, authenticator)
    assert "demo" in [m["name"] for m in stt.list_models().get_result()["models"]]
    cid = stt.create_language_model(f"by-{how}", "demo").get_result()["customization_id"]
    stt.delete_language_model(cid)


def test_the_token_exchange_follows_ibms_iam(serve: Serve) -> None:
    url = serve.url + "speechcustom/identity/token"
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    body = f"grant_type=urn:ibm:params:oauth:grant-type:apikey&apikey={serve.key}".encode()
    status, _, data = _request(url, "POST", body, form)
    token = json.loads(data)
    assert status == 200 and token["token_type"] == "Bearer" and token["expires_in"] == 3600
    status, _ = _api(serve, "GET", "models", auth=f"Bearer {token['access_token']}")
    assert status == 200
    # A wrong key, a wrong grant, a JSON body: 400 (as IBM's IAM), and the token endpoint grants nothing else.
    for payload, headers in ((b"grant_type=urn:ibm:params:oauth:grant-type:apikey&apikey=sck_nope", form),
                             (b"grant_type=password&apikey=" + serve.key.encode(), form),
                             (json.dumps({"apikey": serve.key}).encode(), {"Content-Type": "application/json"})):
        status, _, data = _request(url, "POST", payload, headers)
        assert status == 400 and json.loads(data)["code"] == 400, data
    status, _, _ = _request(url, "GET")
    assert status == 405
    # The exchange is a tiny form: a large one is refused on its Content-Length, unread.
    answer = _headers_only(serve.port, f"POST /speechcustom/identity/token HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                       f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {GB}")
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


def test_expired_foreign_and_revoked_credentials_stop_working(serve: Serve) -> None:
    from jupyter_speechcustom.server.auth import issue_token

    keys = Store(serve.workspace).api_keys
    expired = issue_token(keys, serve.key_id, now=time.time() - 7200)["access_token"]
    _ibm_error(*_api(serve, "GET", "models", auth=f"Bearer {expired}"), 401)

    class Foreign:  # the same claims signed with another secret
        def signing_secret(self) -> bytes:
            return secrets.token_bytes(32)

    forged = issue_token(Foreign(), serve.key_id)["access_token"]
    _ibm_error(*_api(serve, "GET", "models", auth=f"Bearer {forged}"), 401)

    key, secret = keys.create("short-lived")
    token = issue_token(keys, key.id)["access_token"]
    assert _api(serve, "GET", "models", auth=_basic(secret))[0] == 200
    assert _api(serve, "GET", "models", auth=f"Bearer {token}")[0] == 200
    keys.revoke("short-lived")
    _ibm_error(*_api(serve, "GET", "models", auth=_basic(secret)), 401)
    _ibm_error(*_api(serve, "GET", "models", auth=f"Bearer {token}"), 401)
    assert [k.name for k in keys.list() if k.active] == ["test client"]


def test_keys_are_stored_hashed_and_shown_once(serve: Serve) -> None:
    import sqlite3

    with sqlite3.connect(serve.workspace / "index.sqlite") as db:
        rows = db.execute("SELECT * FROM api_keys").fetchall()
    assert rows and not any(serve.key in str(value) for row in rows for value in row)


def test_keys_cli(tmp_path: Path) -> None:
    import subprocess

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "jupyter_speechcustom.cli", "keys", *args, "--workspace",
                               str(tmp_path / "ws")], capture_output=True, text=True, timeout=120)

    made = cli("create", "ci-bot")
    assert made.returncode == 0, made.stderr
    secret = made.stdout.strip().splitlines()[-1]
    assert secret.startswith("sck_") and "shown only now" in made.stderr
    assert cli("create", "ci-bot").returncode == 2  # an active key has that name
    listed = json.loads(cli("list", "--json").stdout)
    assert [k["name"] for k in listed] == ["ci-bot"] and secret not in json.dumps(listed)
    assert cli("revoke", "ci-bot").returncode == 0
    gone = cli("revoke", "ci-bot")
    assert gone.returncode == 2 and "no active API key" in gone.stderr
    assert Store(tmp_path / "ws").api_keys.verify(secret) is None


def test_a_key_unlocks_only_the_speech_api_inside_jupyter(server: Server) -> None:
    """In a full Jupyter server, a speech API key reaches the speech API and none of Jupyter's."""
    _, secret = Store(server.workspace).api_keys.create("extension client")
    for auth in (_basic(secret), f"Bearer {secret}"):
        assert _api(server, "GET", "models", auth=auth)[0] == 200
        for path in ("api/contents", "api/kernels", "api/sessions", "api/me"):
            status, _, _ = _request(server.url + path, headers={"Authorization": auth})
            assert status == 403, (path, status)
        status, _, _ = _request(server.url + "api/kernels", "POST", b"{}", {"Authorization": auth})
        assert status == 403


# --------------------------------------------------------------------------- checked before the body is read


def test_a_foreign_host_header_is_refused_whatever_the_credential(serve: Serve) -> None:
    """Jupyter's guard against DNS rebinding holds for API keys too, and says what is wrong."""
    for auth in (f"Bearer {serve.token}", _basic(serve.key)):
        answer = _headers_only(serve.port, "GET /speechcustom/api/v1/models HTTP/1.1\r\nHost: evil.example\r\n"
                                           f"Authorization: {auth}")
        assert answer.startswith(b"HTTP/1.1 403"), answer[:300]
        body = json.loads(answer.split(b"\r\n\r\n", 1)[1])
        assert body["code"] == 403 and "evil.example" in body["error"]


def test_an_unauthenticated_huge_body_is_refused_on_its_headers(serve: Serve) -> None:
    answer = _headers_only(serve.port, f"POST /speechcustom/api/v1/recognize HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                       f"Content-Type: audio/wav\r\nContent-Length: {300 * MB}")
    assert answer.startswith(b"HTTP/1.1 401"), answer[:300]
    assert b'"code": 401' in answer


@pytest.mark.parametrize(("path", "content_type", "length"), [
    ("recognize", "audio/wav", 150 * MB),
    ("recognize", "audio/wav", 600 * MB),
    ("recognitions", "audio/flac", 101 * MB),
    ("customizations", "application/json", 2 * MB),
    ("customizations", "application/json", 600 * MB),
])
def test_an_authenticated_body_over_its_routes_limit_is_refused_unread(serve: Serve, path: str, content_type: str,
                                                                        length: int) -> None:
    answer = _headers_only(serve.port, f"POST /speechcustom/api/v1/{path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                       f"Authorization: Bearer {serve.token}\r\nContent-Type: {content_type}\r\n"
                                       f"Content-Length: {length}")
    assert answer.startswith(b"HTTP/1.1 413"), answer[:300]
    body = json.loads(answer.split(b"\r\n\r\n", 1)[1])
    assert body["code"] == 413 and "limit" in body["error"]


def test_a_bad_content_length_is_a_json_400(serve: Serve) -> None:
    answer = _headers_only(serve.port, "POST /speechcustom/api/v1/customizations HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                       f"Authorization: Bearer {serve.token}\r\nContent-Length: 12abc")
    assert answer.startswith(b"HTTP/1.1 400"), answer[:300]


# --------------------------------------------------------------------------- request bodies and parameters


def _deep(levels: int) -> bytes:
    return b'{"words": ' + b"[" * levels + b"]" * levels + b"}"


@pytest.mark.parametrize(("body", "fragment"), [
    (_deep(50_000), "nests deeper"),
    (_deep(40), "nests deeper"),
    (b"[1, 2]", "JSON object"),
    (b"\xff\xfe{}", "not valid JSON"),
    (b'{"name": 5}', "needs a name"),
    (b'{"name": "' + b"n" * 10_000 + b'"}', "at most 128"),
    (b'{"name": "a\\u0000b"}', "printable"),
    (b'{"name": "ok", "description": {"nested": true}}', "description must be a string"),
    (b'{"name": "ok", "base_model_name": ["demo"]}', "base_model_name must be a string"),
    (b'{"name": "ok", "unexpected": 1}', "unknown field"),
    (b'{"name": "ok", "base_model_name": "no-such-model"}', "not found"),
])
def test_bad_customization_bodies(serve: Serve, body: bytes, fragment: str) -> None:
    status, answer = _api(serve, "POST", "customizations", body, {"Content-Type": "application/json"})
    assert status in (400, 404) and answer["code"] == status, answer
    assert fragment in answer["error"], answer


@pytest.fixture(scope="module")
def language_customization(serve: Serve) -> str:
    status, body = _api(serve, "POST", "customizations", json.dumps({"name": "probe"}).encode(),
                        {"Content-Type": "application/json"})
    assert status == 201
    return str(body["customization_id"])


def test_a_corpus_form_without_its_field_is_refused_not_stored(serve: Serve, language_customization: str) -> None:
    boundary = "XyZ"
    form = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"c.txt\"\r\n"
            f"Content-Type: text/plain\r\n\r\nrestart the pods\r\n--{boundary}--\r\n").encode()
    path = f"customizations/{language_customization}/corpora/ops"
    status, body = _api(serve, "POST", path, form, {"Content-Type": f"multipart/form-data; boundary={boundary}"})
    _ibm_error(status, body, 400)
    assert "corpus_file" in body["error"]
    assert _api(serve, "GET", f"customizations/{language_customization}/corpora")[1]["corpora"] == []
    good = form.replace(b'name="file"', b'name="corpus_file"')
    status, _ = _api(serve, "POST", path, good, {"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert status == 201
    corpora = _api(serve, "GET", f"customizations/{language_customization}/corpora")[1]["corpora"]
    assert [(c["name"], c["total_words"]) for c in corpora] == [("ops", 3)]


@pytest.mark.parametrize("name", [".", "..", "a%5Cb", "%20", "n" * 200])
def test_bad_resource_names(serve: Serve, language_customization: str, name: str) -> None:
    status, body = _api(serve, "POST", f"customizations/{language_customization}/corpora/{name}", b"some text",
                        {"Content-Type": "text/plain"})
    _ibm_error(status, body, 400)
    assert "name" in body["error"]


def test_bad_words(serve: Serve, language_customization: str) -> None:
    path = f"customizations/{language_customization}/words"
    for words in ([{"sounds_like": ["x"]}], ["kubectl"], [{"word": "k8s", "sounds_like": "kates"}],
                  [{"word": "k8s", "sounds_like": [5]}]):
        status, body = _api(serve, "POST", path, json.dumps({"words": words}).encode(),
                            {"Content-Type": "application/json"})
        _ibm_error(status, body, 400)
    status, body = _api(serve, "PUT", f"{path}/kubectl", json.dumps({"sounds_like": ["cube control"],
                                                                     "color": "red"}).encode(),
                        {"Content-Type": "application/json"})
    _ibm_error(status, body, 400)
    assert _api(serve, "GET", path)[1]["words"] == []


def _speech_bytes() -> bytes:
    return domain_test_items(1)[0][0].read_bytes()


@pytest.mark.parametrize("query", [
    "speaker_labels=true", "keywords=pods", "keywords_threshold=0.5", "word_alternatives_threshold=0.2",
    "grammar_name=g", "redaction=true", "audio_metrics=true", "processing_metrics=true", "smart_formatting=true",
    "split_transcript_at_phrase_end=true", "profanity_filter=true", "low_latency=true",
    "background_audio_suppression=0.5", "character_insertion_bias=0.2", "end_of_phrase_silence_time=0.4",
    "interim_results=true", "timestamps=yes", "max_alternatives=2.5", "customization_weight=nan",
    "speech_detector_sensitivity=-1", "language_customization_id=lm-00000000",
])
def test_recognize_refuses_what_it_cannot_do(serve: Serve, query: str) -> None:
    status, body = _api(serve, "POST", f"recognize?{query}", _speech_bytes(), {"Content-Type": "audio/ogg"})
    assert status in (400, 404) and body["code"] == status, body
    name = query.split("=")[0]
    assert name in body["error"] or (name.endswith("customization_id") and "customization" in body["error"]), body


def test_recognize_reports_unknown_arguments_and_accepts_defaults(serve: Serve) -> None:
    query = "foo=1&speaker_labels=false&smart_formatting=false&profanity_filter=false&keywords="
    status, body = _api(serve, "POST", f"recognize?{query}", _speech_bytes(), {"Content-Type": "audio/ogg"})
    assert status == 200, body
    assert body["warnings"] == ["Unknown arguments: foo."]
    assert body["results"][0]["alternatives"][0]["transcript"]


def test_recognize_refuses_audio_over_its_duration_limit(tmp_path: Path, serve: Serve) -> None:
    """A WAV header that declares 3 h (under the byte limit: 8 kHz mono u-law) is refused before decoding."""
    import numpy as np
    import soundfile as sf

    path = tmp_path / "long.wav"
    with sf.SoundFile(path, "w", samplerate=8000, channels=1, subtype="ULAW") as f:
        block = np.zeros(8000 * 60, np.float32)
        for _ in range(3 * 60 + 1):
            f.write(block)
    status, body = _api(serve, "POST", "recognize", path.read_bytes(), {"Content-Type": "audio/wav"})
    _ibm_error(status, body, 413)
    assert "minutes" in body["error"]


def test_undecodable_audio_names_no_server_path(serve: Serve) -> None:
    status, body = _api(serve, "POST", "recognize", b"RIFF" + b"\0" * 4000, {"Content-Type": "audio/wav"})
    _ibm_error(status, body, 400)
    assert "/tmp" not in body["error"] and "speechcustom-body" not in body["error"], body


# --------------------------------------------------------------------------- WebSocket


def _ws_url(serve: Serve, query: str = "") -> str:
    return serve.url.replace("http://", "ws://") + "speechcustom/api/v1/recognize" + (f"?{query}" if query else "")


def test_websocket_needs_a_credential_and_takes_a_key(serve: Serve) -> None:
    with pytest.raises(websocket.WebSocketBadStatusException) as err:
        websocket.create_connection(_ws_url(serve), timeout=30)
    assert err.value.status_code == 401
    ws = websocket.create_connection(_ws_url(serve, f"access_token={serve.key}"), timeout=60)
    try:
        ws.send(json.dumps({"action": "start", "content-type": "audio/ogg", "colour": "blue"}))
        assert json.loads(ws.recv()) == {"warnings": ["Unknown arguments: colour."]}
        assert json.loads(ws.recv()) == {"state": "listening"}
        ws.send_binary(_speech_bytes())
        ws.send(json.dumps({"action": "stop"}))
        final = json.loads(ws.recv())
        assert final["results"][0]["final"] and final["results"][0]["alternatives"][0]["transcript"]
    finally:
        ws.close()


@pytest.mark.parametrize("start", [{"speaker_labels": True}, {"smart_formatting": True},
                                   {"interim_results": "yes"}, {"max_alternatives": 99}])
def test_websocket_refuses_what_it_cannot_do(serve: Serve, start: dict[str, Any]) -> None:
    ws = websocket.create_connection(_ws_url(serve), timeout=60, header=[f"Authorization: Bearer {serve.token}"])
    try:
        ws.send(json.dumps({"action": "start", "content-type": "audio/wav", **start}))
        message = json.loads(ws.recv())
        assert next(iter(start)) in message["error"], message
    finally:
        ws.close()


def test_a_websocket_message_over_the_limit_is_answered_then_closed(serve: Serve) -> None:
    ws = websocket.create_connection(_ws_url(serve), timeout=60, header=[f"Authorization: Bearer {serve.token}"])
    try:
        ws.send(json.dumps({"action": "start", "content-type": "audio/l16;rate=16000"}))
        assert json.loads(ws.recv()) == {"state": "listening"}
        ws.send_binary(b"\0" * (20 * MB))
        message = json.loads(ws.recv())
        assert "over this service's limit of 4 MB" in message["error"], message
        opcode, data = ws.recv_data(control_frame=True)
        assert opcode == websocket.ABNF.OPCODE_CLOSE and int.from_bytes(data[:2], "big") == 1009, (opcode, data)
    finally:
        ws.close()


# --------------------------------------------------------------------------- one training at a time, across processes


def _train_in_another_process(workspace: str, customization_id: str, ready: Any, go: Any, queue: Any) -> None:
    from jupyter_speechcustom.asr.models import load_base_model
    from jupyter_speechcustom.services import customization as cz
    from jupyter_speechcustom.services.workspace import Workspace

    ws = Workspace(workspace)
    base = load_base_model("demo")
    ready.set()
    go.wait(120)
    try:
        job = cz.train_customization(ws, customization_id, "language", base)
    except Exception as exc:
        queue.put(f"{type(exc).__name__}: {exc}")
        return
    queue.put("started")
    job.wait(300)  # the job runs in this process: it must finish before the process ends


def test_two_processes_never_both_train_one_customization(serve: Serve, language_customization: str) -> None:
    """The server and another process (a kernel, a second server) start a training at the same
    moment: exactly one starts it, the other is told it is being trained."""
    path = f"customizations/{language_customization}/corpora/train-once"
    assert _api(serve, "POST", path, (DOMAIN / "corpus.txt").read_bytes(), {"Content-Type": "text/plain"})[0] == 201
    context = multiprocessing.get_context("spawn")
    ready, go, queue = context.Event(), context.Event(), context.Queue()
    other = context.Process(target=_train_in_another_process,
                            args=(str(serve.workspace), language_customization, ready, go, queue))
    other.start()
    try:
        assert ready.wait(180), "the other process did not load the model"
        go.set()
        status, body = _api(serve, "POST", f"customizations/{language_customization}/train")
        outcome = queue.get(timeout=120)
    finally:
        other.join(400)
    assert sorted([status == 200, outcome == "started"]) == [False, True], (status, body, outcome)
    refused = body["error"] if status != 200 else outcome
    assert "being trained" in refused, refused
    if status == 200:
        deadline = time.monotonic() + 300
        while _api(serve, "GET", f"customizations/{language_customization}")[1]["status"] == "training":
            assert time.monotonic() < deadline
            time.sleep(0.5)
    assert _api(serve, "GET", f"customizations/{language_customization}")[1]["status"] == "available"


def test_sdk_sees_401_for_a_revoked_key(serve: Serve) -> None:
    keys = Store(serve.workspace).api_keys
    _, secret = keys.create("sdk-revoked")
    stt = _client(serve, BasicAuthenticator("apikey", secret))
    stt.list_models()
    keys.revoke("sdk-revoked")
    with pytest.raises(ApiException) as err:
        stt.list_models()
    assert err.value.code == 401


def test_an_interrupted_training_advises_an_http_client(serve: Serve, language_customization: str) -> None:
    """The store's advice for an interrupted job is Python's (ws.rerun); the API tells its client to train again."""
    import sqlite3

    trained = Store(serve.workspace).customization_state(language_customization)["trained"]
    message = ("interrupted: job j-0 stopped before the model was finished (kernel restart or crash); nothing "
               "half-written is kept. Re-run it with ws.rerun('j-0')")  # what the store's recovery writes
    with sqlite3.connect(serve.workspace / "index.sqlite") as db:
        db.execute("UPDATE records SET status = 'failed', message = ? WHERE id = ?", (message, trained))
    status, body = _api(serve, "GET", f"customizations/{language_customization}")
    assert status == 200 and body["status"] == "failed", body
    assert "ws.rerun" not in body["error"], body
    assert body["error"].endswith(f"Train it again: POST /v1/customizations/{language_customization}/train")


def test_a_request_never_gets_a_server_error(serve: Serve) -> None:
    """The server's log holds no 5xx answer and no traceback after all the probes of this module."""
    text = serve.log.read_text(errors="replace")
    assert " 500 " not in text and "Traceback" not in text, text[-3000:]
