"""Live and asynchronous recognition of the IBM Watson Speech to Text v1 API.

- ``/v1/recognize`` over WebSocket: IBM's protocol (a ``{"action": "start", ...}`` text message
  answered with ``{"state": "listening"}``, binary audio frames, interim and final results as they
  come, ``{"action": "stop"}`` answered with the last final results and ``{"state": "listening"}``),
  on an :class:`IBMStream` (the bytes decoded by :mod:`jupyter_speechcustom.io.stream_codecs`, recognized by a
  :class:`~jupyter_speechcustom.asr.streaming.RecognitionStream`, its events in IBM's shapes);
- ``/v1/recognitions``: asynchronous recognition jobs (``create_job``, ``check_jobs``, ``check_job``,
  ``delete_job``), kept in the server's memory until their ``results_ttl`` runs out.

Decoding runs on the service's recognition thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import json
import logging
import threading
import time
import uuid
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from jupyter_server.auth.decorator import ws_authenticated
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from jupyter_server.utils import url_path_join
from tornado import web
from tornado.websocket import WebSocketClosedError, WebSocketHandler

from jupyter_speechcustom.errors import AudioError, InvalidOptionError, SpeechCustomError
from jupyter_speechcustom.server.auth import parse_authorization, verify_credential
from jupyter_speechcustom.server.base import IBMError, status_of, write_ibm_error
from jupyter_speechcustom.server.params import ParameterError, parse_recognition
from jupyter_speechcustom.server.recognition import (
    RecognitionRequest,
    RecognizeHandler,
    customization_weights,
    ibm_message,
    recognize_audio,
    resolve_customizations,
)
from jupyter_speechcustom.server.service import API_PREFIX, SpeechCustomService

log = logging.getLogger(__name__)

__all__ = ["IBMStream", "RecognitionJobs", "RecognizeSocket", "setup_live_handlers"]

#: IBM's defaults: seconds of silence before a stream is closed, and minutes a job's results are kept.
INACTIVITY_TIMEOUT = 30
RESULTS_TTL_MINUTES = 10_080
#: Jobs listed by ``GET /v1/recognitions`` (IBM lists the latest 100).
JOBS_LISTED = 100
#: Jobs that may wait for the recognition thread at once (their audio waits on disk).
MAX_WAITING_JOBS = 16
#: Query parameters of the WebSocket's URL (IBM's); the rest of the options come in the start message.
URL_PARAMETERS = frozenset({"model", "language_customization_id", "customization_id", "acoustic_customization_id",
                            "customization_weight"})
#: URL parameters IBM's clients send that concern the transport, not recognition.
URL_TRANSPORT = frozenset({"access_token", "x-watson-learning-opt-out", "x-watson-metadata", "watson-token"})


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _message(exc: BaseException) -> str:
    return " ".join(str(getattr(exc, "message", None) or exc).split()) or type(exc).__name__


# --------------------------------------------------------------------------- WebSocket


class IBMStream:
    """One live recognition in IBM's shapes: audio bytes in ``content_type`` in, result messages out.

    Args:
        recognizer: a :class:`~jupyter_speechcustom.services.recognition.Recognizer`.
        content_type: the audio's format (see :func:`~jupyter_speechcustom.io.stream_codecs.parse_content_type`).
        interim_results: also return interim hypotheses while an utterance goes on.
        timestamps, word_confidence: add them to final results.
        options: the :class:`~jupyter_speechcustom.asr.streaming.RecognitionStream`'s (``weights``,
            ``pause_seconds``, ``max_alternatives``, ...).

    Each message is ``{"result_index": n, "results": [{"final": bool, "alternatives": [...]}]}``.
    """

    def __init__(self, recognizer: Any, content_type: str = "audio/l16;rate=16000", *, interim_results: bool = False,
                 timestamps: bool = False, word_confidence: bool = False, **options: Any) -> None:
        from jupyter_speechcustom.asr.streaming import RecognitionStream
        from jupyter_speechcustom.io.stream_codecs import stream_decoder

        self.decoder = stream_decoder(content_type)
        self.stream = RecognitionStream(recognizer, interim_results=interim_results, **options)
        self.timestamps, self.word_confidence = timestamps, word_confidence

    @property
    def seconds(self) -> float:
        """Seconds of audio received so far."""
        return self.stream.seconds

    @property
    def silent_seconds(self) -> float:
        """Seconds since the last speech (since the start when there was none): for the inactivity timeout."""
        return self.stream.silent_seconds

    def _messages(self, events: list[Any]) -> list[dict[str, Any]]:
        return [ibm_message(e, timestamps=self.timestamps, word_confidence=self.word_confidence) for e in events]

    def feed(self, data: bytes, *, interim: bool = True) -> list[dict[str, Any]]:
        """Take the next bytes of the stream; returns the result messages they complete (``interim=False``:
        no interim hypothesis, e.g. when the stream's end is already known to follow)."""
        if self.stream.finished:
            raise InvalidOptionError("the stream has ended: start a new one")
        samples = self.decoder.push(bytes(data))
        return self._messages(self.stream.feed(samples, self.decoder.rate, interim=interim))

    def finish(self) -> list[dict[str, Any]]:
        """End the stream: the final results of its last bytes and its last utterance."""
        if self.stream.finished:
            return []
        tail = self.decoder.finish()
        return self._messages(list(self.stream.finish(tail, self.decoder.rate)))


class _Refusal(Exception):
    """A message the client must be told about, after which the connection is closed."""

    def __init__(self, message: str, code: int = 1011) -> None:
        super().__init__(message)
        self.code = code


class RecognizeSocket(WebSocketMixin, WebSocketHandler, JupyterHandler):
    """``/v1/recognize`` over WebSocket, with IBM's protocol; the query takes ``model``,
    ``language_customization_id``, ``acoustic_customization_id``, ``customization_weight`` and
    ``access_token`` (the Jupyter token, for clients that cannot send an ``Authorization`` header)."""

    @property
    def service(self) -> SpeechCustomService:
        service: SpeechCustomService = self.settings["speechcustom_service"]
        return service

    def set_default_headers(self) -> None:
        """No page headers on a WebSocket handshake."""

    def get_compression_options(self) -> dict[str, Any] | None:
        options: dict[str, Any] | None = self.settings.get("websocket_compression_options", None)
        return options

    @property
    def max_message_size(self) -> int:
        """What tornado reads of one message before it drops the connection: a margin over the
        service's limit, so a message over the limit is answered with an error saying why."""
        return max(int(self.service.max_stream_message_bytes) * 4, 64 * 1024**2)

    async def prepare(self, *args: Any, **kwargs: Any) -> None:
        token = self.get_query_argument("access_token", None)
        if token and "Authorization" not in self.request.headers:
            self.request.headers["Authorization"] = f"Bearer {token}"
        if not self.check_host():
            raise IBMError(403, f"requests for host {self.request.host[:100]!r} are not served here: use the "
                                "server's own address, or start it with --ServerApp.allow_remote_access=True")
        credential = parse_authorization(self.request.headers.get("Authorization"))
        if credential is not None:
            loop = asyncio.get_running_loop()
            keys = self.service.ws().api_keys
            key_id = await loop.run_in_executor(self.service.io, verify_credential, keys, credential)
            if key_id is None:
                raise IBMError(401, "Unauthorized: the API key or access token is not valid (revoked, expired or "
                                    "mistyped)")
            from jupyter_server.auth.identity import User

            self.current_user = self._jupyter_current_user = User(username=f"apikey:{key_id}")
            return
        result = super().prepare(*args, **kwargs)
        if result is not None:
            await result
        if not self.current_user:
            raise IBMError(401, "Unauthorized: send an API key or access token (access_token= in the query, or "
                                "an Authorization header) or the server's token")

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        write_ibm_error(self, status_code, **kwargs)

    @ws_authenticated
    async def get(self, *args: Any, **kwargs: Any) -> None:
        # The query is checked before the upgrade, so a wrong model or customization is an HTTP error.
        query = {name: values[-1].decode("utf-8", "replace") for name, values in self.request.query_arguments.items()}
        other = sorted(set(query) - URL_PARAMETERS - URL_TRANSPORT)
        try:
            params = parse_recognition({n: v for n, v in query.items() if n in URL_PARAMETERS}, "http")
        except ParameterError as exc:
            raise IBMError(400, _message(exc)) from None
        self._url_warnings = [f"Unknown arguments: {', '.join(other)}. Recognition options go in the start "
                              "message."] if other else []
        self._model = params.model or self.service.default_model
        self._lm_customization = params.lm_customization
        self._am_customization = params.am_customization
        self._weight = params.weight
        loop = asyncio.get_running_loop()
        try:
            self._lm_id, self._am_id = await loop.run_in_executor(
                self.service.io, resolve_customizations, self.service, self._model, self._lm_customization,
                self._am_customization)
        except web.HTTPError:
            raise
        except Exception as exc:  # reported in IBM's shape
            raise IBMError(status_of(exc), _message(exc)) from exc
        await super().get(*args, **kwargs)

    def open(self, *args: Any, **kwargs: Any) -> None:
        super().open(*args, **kwargs)
        self._inbox: collections.deque[str | bytes] = collections.deque()
        self._wake = asyncio.Event()
        self._closed = False
        self._stream: Any = None
        self._inactivity: float = INACTIVITY_TIMEOUT
        self._pump_task = asyncio.ensure_future(self._pump())

    def on_message(self, message: str | bytes) -> None:
        limit = self.service.max_stream_message_bytes
        if len(message) > limit:
            self._send({"error": f"a message of {len(message) / 1024**2:.1f} MB is over this service's limit of "
                                 f"{limit / 1024**2:g} MB: send the audio in smaller chunks"})
            self.close(1009, "message too big")
            return
        self._inbox.append(message)
        self._wake.set()

    def on_close(self) -> None:
        self._closed = True
        if hasattr(self, "_wake"):
            self._wake.set()

    # ------------------------------------------------------------------ messages, in order

    def _send(self, message: dict[str, Any]) -> None:
        if self._closed:
            return
        try:
            self.write_message(json.dumps(message))
        except WebSocketClosedError:
            self._closed = True

    async def _compute(self, fn: Any, *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.service.compute, functools.partial(fn, *args))

    async def _pump(self) -> None:
        while not self._closed:
            if not self._inbox:
                self._wake.clear()
                await self._wake.wait()
                continue
            item = self._inbox.popleft()
            try:
                if isinstance(item, bytes):
                    chunks = [item]
                    while self._inbox and isinstance(self._inbox[0], bytes):  # catch up in one step
                        chunks.append(self._inbox.popleft())  # type: ignore[arg-type]
                    await self._audio(b"".join(chunks))
                else:
                    await self._control(item)
            except _Refusal as exc:
                self._send({"error": str(exc)})
                self._stream = None
                if not self._closed:
                    self.close(exc.code, str(exc)[:120])
                return
            except Exception as exc:
                status = status_of(exc)
                if status == 500:
                    self.log.exception("speechcustom: streaming recognition failed")
                self._send({"error": _message(exc)})
                self._stream = None
                if not self._closed:
                    self.close(1011, "recognition failed")
                return

    async def _audio(self, data: bytes) -> None:
        stream = self._stream
        if stream is None:
            raise _Refusal('audio arrived before {"action": "start"}: send the start message first', 1002)
        try:
            # A stop (or another control message) already waiting makes an interim hypothesis moot.
            messages = await self._compute(functools.partial(stream.feed, data, interim=not self._inbox))
        except AudioError as exc:
            raise _Refusal(f"the audio could not be decoded: {_message(exc)}", 1007) from None
        for message in messages:
            self._send(message)
        limit = self.service.max_stream_seconds
        if stream.seconds > limit:
            raise _Refusal(f"the stream is over this service's limit of {limit / 60:g} minutes of audio per "
                           'recognition: send {"action": "stop"} and start another', 1009)
        if 0 < self._inactivity <= stream.silent_seconds:
            raise _Refusal(f"No speech detected for {self._inactivity:g}s.", 1000)

    async def _control(self, text: str) -> None:
        try:
            options = json.loads(text)
        except ValueError:
            raise _Refusal(f"the text message is not JSON: {text[:80]!r}", 1007) from None
        if not isinstance(options, dict):
            raise _Refusal("a text message must be a JSON object with an action", 1007)
        action = options.get("action")
        if action == "start":
            if self._stream is not None:
                raise _Refusal('a recognition is already in progress: send {"action": "stop"} before starting another',
                               1002)
            self._stream = await self._start(options)
            self._send({"state": "listening"})
        elif action == "stop":
            if self._stream is None:
                raise _Refusal('no recognition in progress: send {"action": "start", ...} first', 1002)
            stream, self._stream = self._stream, None
            try:
                messages = await self._compute(stream.finish)
            except AudioError as exc:
                raise _Refusal(f"the audio could not be decoded: {_message(exc)}", 1007) from None
            for message in messages:
                self._send(message)
            self._send({"state": "listening"})
        else:
            raise _Refusal(f"unknown action {action!r}: send start or stop", 1002)

    async def _start(self, options: dict[str, Any]) -> Any:
        from jupyter_speechcustom.asr.streaming import PAUSE_SECONDS
        from jupyter_speechcustom.io.stream_codecs import parse_content_type

        try:
            params = parse_recognition(options, "websocket", also=frozenset({"action"}))
        except ParameterError as exc:
            raise _Refusal(_message(exc), 1003) from None
        warnings = [*getattr(self, "_url_warnings", []), *params.warnings]
        self._url_warnings = []
        if warnings:
            self._send({"warnings": warnings})
        content_type = params.content_type or "application/octet-stream"
        try:
            parse_content_type(content_type)
        except SpeechCustomError as exc:
            raise _Refusal(_message(exc), 1003) from None
        interim, timestamps, word_confidence = params.interim_results, params.timestamps, params.word_confidence
        alternatives = params.max_alternatives
        inactivity = INACTIVITY_TIMEOUT if params.inactivity_timeout is None else params.inactivity_timeout
        self._inactivity = -1.0 if inactivity < 0 else inactivity
        pause = params.end_of_phrase_silence_time or PAUSE_SECONDS
        weight = self._weight if params.weight is None else params.weight
        service, model, lm_id, am_id = self.service, self._model, self._lm_id, self._am_id

        def start() -> Any:
            recognizer = service.recognizer(model, lm_id, am_id)
            return IBMStream(recognizer, content_type, interim_results=interim, timestamps=timestamps,
                             word_confidence=word_confidence, weights=customization_weights(weight, recognizer),
                             pause_seconds=max(0.1, pause), max_alternatives=alternatives)

        return await self._compute(start)


# --------------------------------------------------------------------------- asynchronous jobs


@dataclass
class RecognitionJob:
    """One asynchronous recognition: IBM's job fields, and its results once completed."""

    id: str
    created: str
    updated: str
    status: str = "waiting"
    user_token: str | None = None
    results_ttl: float = RESULTS_TTL_MINUTES
    results: list[dict[str, Any]] | None = None
    warnings: list[str] = field(default_factory=list)
    finished_at: float | None = None
    future: Future[Any] | None = field(default=None, repr=False)
    audio: Path | None = field(default=None, repr=False)  # the job's audio file until it has run

    def summary(self) -> dict[str, Any]:
        info = {"id": self.id, "created": self.created, "updated": self.updated, "status": self.status}
        if self.user_token:
            info["user_token"] = self.user_token
        return info

    def details(self) -> dict[str, Any]:
        info = self.summary()
        if self.results is not None:
            info["results"] = self.results
        if self.warnings:
            info["warnings"] = self.warnings
        return info


class RecognitionJobs:
    """The server's asynchronous jobs, in memory: each runs on the recognition thread, and its
    results are kept ``results_ttl`` minutes after it ends."""

    def __init__(self, service: SpeechCustomService) -> None:
        self.service = service
        self._jobs: dict[str, RecognitionJob] = {}
        self._lock = threading.Lock()

    def _purge(self) -> None:
        now = time.monotonic()
        with self._lock:
            for job_id in [j.id for j in self._jobs.values()
                           if j.finished_at is not None and now > j.finished_at + 60 * j.results_ttl]:
                del self._jobs[job_id]

    def close(self) -> None:
        """Forget every job; the audio of those that never ran is deleted."""
        with self._lock:
            jobs, self._jobs = list(self._jobs.values()), {}
        for job in jobs:
            if job.future is not None and job.future.cancel() and job.audio is not None:
                job.audio.unlink(missing_ok=True)

    def waiting(self) -> int:
        """Jobs not yet finished."""
        with self._lock:
            return sum(1 for j in self._jobs.values() if j.finished_at is None)

    def submit(self, request: RecognitionRequest, lm_id: str | None, am_id: str | None, audio: Path, *,
               user_token: str | None = None, results_ttl: float = RESULTS_TTL_MINUTES) -> RecognitionJob:
        self._purge()
        now = _now()
        job = RecognitionJob(str(uuid.uuid4()), now, now, user_token=user_token, results_ttl=results_ttl, audio=audio)
        with self._lock:
            self._jobs[job.id] = job
        job.future = self.service.compute.submit(self._run, job, request, lm_id, am_id, audio)
        return job

    def _run(self, job: RecognitionJob, request: RecognitionRequest, lm_id: str | None, am_id: str | None,
             audio: Path) -> None:
        """Recognize the job's audio file, then delete it (the job owns it)."""
        try:
            with self._lock:
                if job.id not in self._jobs:
                    return  # deleted while waiting
                job.status, job.updated = "processing", _now()
            try:
                results = [recognize_audio(self.service, request, lm_id, am_id, audio)]
            except Exception as exc:
                if status_of(exc) == 500:
                    log.exception("speechcustom: recognition job %s failed", job.id)
                with self._lock:
                    job.status, job.warnings = "failed", [_message(exc) if status_of(exc) != 500 else
                                                          "the service failed on this job; its log has the details"]
            else:
                with self._lock:
                    job.status, job.results = "completed", results
        finally:
            audio.unlink(missing_ok=True)
        with self._lock:
            job.updated, job.finished_at = _now(), time.monotonic()

    def get(self, job_id: str) -> RecognitionJob:
        self._purge()
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise IBMError(404, f"no recognition job {job_id}: it never existed, was deleted, or its results expired")
        return job

    def list(self) -> list[RecognitionJob]:
        self._purge()
        with self._lock:
            jobs = sorted(self._jobs.values(), key=lambda j: j.created, reverse=True)
        return jobs[:JOBS_LISTED]

    def delete(self, job_id: str) -> None:
        job = self.get(job_id)
        with self._lock:
            if job.status == "processing":
                raise IBMError(400, f"recognition job {job_id} is being processed: delete it once it has "
                                    "completed or failed")
            self._jobs.pop(job_id, None)
        if job.future is not None and job.future.cancel() and job.audio is not None:
            job.audio.unlink(missing_ok=True)  # it never ran, so never deleted its audio


class RecognitionsHandler(RecognizeHandler):
    """``POST /v1/recognitions`` (create_job) and ``GET /v1/recognitions`` (check_jobs)."""

    also = frozenset({"callback_url", "events", "user_token", "results_ttl"})

    @property
    def jobs(self) -> RecognitionJobs:
        jobs: RecognitionJobs = self.settings["speechcustom_jobs"]
        return jobs

    @web.authenticated
    async def get(self) -> None:
        self.reply({"recognitions": [j.summary() for j in self.jobs.list()]})

    @web.authenticated
    async def post(self) -> None:
        if self.get_query_argument("callback_url", None):
            raise IBMError(400, "callback URLs are not supported by this service: leave callback_url out and poll "
                                "GET /v1/recognitions/{id} until its status is completed")
        if self.get_query_argument("events", None):
            raise IBMError(400, "events need a callback URL, which this service does not support: leave events out")
        request = self.recognition_request()
        ttl_text = self.get_query_argument("results_ttl", None)
        try:
            ttl = None if ttl_text is None else float(ttl_text)
        except ValueError:
            ttl = -1.0
        if ttl is not None and not 1 <= ttl <= 100_000_000:
            raise IBMError(400, f"results_ttl must be a number of minutes from 1 to 100000000, got {(ttl_text or '')[:40]!r}")
        user_token = self.get_query_argument("user_token", None)
        if user_token is not None and len(user_token) > 256:
            raise IBMError(400, "user_token must be at most 256 characters")
        lm_id, am_id = await self.call(resolve_customizations, self.service, request.model, request.lm_customization,
                                       request.am_customization)
        if self.jobs.waiting() >= MAX_WAITING_JOBS:
            raise IBMError(503, f"{MAX_WAITING_JOBS} recognition jobs are already waiting: try again when some "
                                "have completed (GET /v1/recognitions)")
        job = self.jobs.submit(request, lm_id, am_id, self.body.detach(), user_token=user_token,
                               results_ttl=RESULTS_TTL_MINUTES if ttl is None else ttl)
        base_url = self.settings.get("base_url", "/")
        url = f"{self.request.protocol}://{self.request.host}" + url_path_join(base_url, API_PREFIX, "recognitions",
                                                                                job.id)
        self.reply({"id": job.id, "status": job.status, "created": job.created, "url": url}, 201)


class RecognitionHandler(RecognitionsHandler):
    """``GET`` (check_job) and ``DELETE`` (delete_job) ``/v1/recognitions/{id}``."""

    @web.authenticated
    async def get(self, job_id: str) -> None:
        self.reply(self.jobs.get(job_id).details())

    @web.authenticated
    async def delete(self, job_id: str) -> None:
        self.jobs.delete(job_id)
        self.set_status(204)
        self.finish()

    async def post(self, job_id: str) -> None:
        raise IBMError(405, "a job is created with POST /v1/recognitions")


def setup_live_handlers(serverapp: Any, service: SpeechCustomService) -> RecognitionJobs:
    """Add the WebSocket ``/v1/recognize`` and the ``/v1/recognitions`` routes; returns the job registry."""
    web_app = serverapp.web_app
    jobs = RecognitionJobs(service)
    web_app.settings["speechcustom_jobs"] = jobs
    base = url_path_join(web_app.settings.get("base_url", "/"), API_PREFIX)
    routes: list[tuple[str, type[Any]]] = [
        (r"/recognize", RecognizeSocket),
        (r"/recognitions/?", RecognitionsHandler),
        (r"/recognitions/(?P<job_id>[^/]+)", RecognitionHandler),
    ]
    web_app.add_handlers(".*$", [(base + pattern, handler) for pattern, handler in routes])
    return jobs

