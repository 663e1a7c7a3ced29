"""Live and asynchronous recognition of the IBM Watson Speech to Text v1 API.

- ``/v1/recognize`` over WebSocket: IBM's protocol (a ``{"action": "start", ...}`` text message
  answered with ``{"state": "listening"}``, binary audio frames, interim and final results as they
  come, ``{"action": "stop"}`` answered with the last final results and ``{"state": "listening"}``),
  on a :class:`~jupyter_speechcustom.services.streaming.RecognitionStream`;
- ``/v1/recognitions``: asynchronous recognition jobs (``create_job``, ``check_jobs``, ``check_job``,
  ``delete_job``), kept in the server's memory until their ``results_ttl`` runs out.

Decoding runs on the service's recognition thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import json
import math
import threading
import time
import uuid
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from jupyter_server.auth.decorator import ws_authenticated
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from jupyter_server.utils import url_path_join
from tornado import web
from tornado.websocket import WebSocketClosedError, WebSocketHandler

from jupyter_speechcustom.errors import AudioError, SpeechCustomError
from jupyter_speechcustom.server.handlers import (
    API_PREFIX,
    MAX_ALTERNATIVES,
    IBMError,
    RecognitionRequest,
    RecognizeHandler,
    SpeechCustomService,
    _status_of,
    customization_weights,
    recognize_audio,
    resolve_customizations,
    write_ibm_error,
)

__all__ = ["RecognitionJobs", "RecognizeSocket", "setup_live_handlers"]

#: IBM's defaults: seconds of silence before a stream is closed, and minutes a job's results are kept.
INACTIVITY_TIMEOUT = 30
RESULTS_TTL_MINUTES = 10_080
#: Jobs listed by ``GET /v1/recognitions`` (IBM lists the latest 100).
JOBS_LISTED = 100
#: Options of IBM's start message this service cannot honour when asked for.
UNSUPPORTED_OPTIONS = ("speaker_labels", "keywords", "grammar_name", "word_alternatives_threshold", "redaction",
                       "processing_metrics", "audio_metrics")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _message(exc: BaseException) -> str:
    return " ".join(str(getattr(exc, "message", None) or exc).split()) or type(exc).__name__


# --------------------------------------------------------------------------- WebSocket


class _Refusal(Exception):
    """A message the client must be told about, after which the connection is closed."""

    def __init__(self, message: str, code: int = 1011) -> None:
        super().__init__(message)
        self.code = code


def _flag(options: dict[str, Any], name: str, default: bool = False) -> bool:
    value = options.get(name, default)
    if not isinstance(value, bool):
        raise _Refusal(f"{name} must be true or false, got {value!r}")
    return value


def _option_number(options: dict[str, Any], name: str, low: float, high: float, default: float | None) -> float | None:
    value = options.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not low <= value <= high:
        raise _Refusal(f"{name} must be a number from {low:g} to {high:g}, got {value!r}")
    return float(value)


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

    async def prepare(self, *args: Any, **kwargs: Any) -> None:
        token = self.get_query_argument("access_token", None)
        if token and "Authorization" not in self.request.headers:
            self.request.headers["Authorization"] = f"Bearer {token}"
        result = super().prepare(*args, **kwargs)
        if result is not None:
            await result

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        write_ibm_error(self, status_code, **kwargs)

    @ws_authenticated
    async def get(self, *args: Any, **kwargs: Any) -> None:
        # The query is checked before the upgrade, so a wrong model or customization is an HTTP error.
        self._model = self.get_query_argument("model", None) or self.service.default_model
        self._lm_customization = self.get_query_argument("language_customization_id", None)
        self._am_customization = self.get_query_argument("acoustic_customization_id", None)
        weight = self.get_query_argument("customization_weight", None)
        try:
            self._weight = None if weight is None else _option_number({"w": float(weight)}, "w", 0.0, 1.0, None)
        except (ValueError, _Refusal):
            raise IBMError(400, f"customization_weight must be a number from 0 to 1, got {weight!r}") from None
        loop = asyncio.get_running_loop()
        try:
            self._lm_id, self._am_id = await loop.run_in_executor(
                self.service.io, resolve_customizations, self.service, self._model, self._lm_customization,
                self._am_customization)
        except web.HTTPError:
            raise
        except Exception as exc:  # reported in IBM's shape
            raise IBMError(_status_of(exc), _message(exc)) from exc
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
                status = _status_of(exc)
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
        from jupyter_speechcustom.services.streaming import PAUSE_SECONDS, RecognitionStream, parse_content_type

        for name in UNSUPPORTED_OPTIONS:
            if options.get(name) not in (None, False, [], ""):
                raise _Refusal(f"{name} is not supported by this service: leave it out", 1003)
        content_type = options.get("content-type", options.get("content_type")) or "application/octet-stream"
        if not isinstance(content_type, str):
            raise _Refusal(f"content-type must be a string, got {content_type!r}")
        try:
            parse_content_type(content_type)
        except SpeechCustomError as exc:
            raise _Refusal(_message(exc), 1003) from None
        interim = _flag(options, "interim_results")
        timestamps = _flag(options, "timestamps")
        word_confidence = _flag(options, "word_confidence")
        alternatives = max(1, int(_option_number(options, "max_alternatives", 0, MAX_ALTERNATIVES, 1) or 1))
        inactivity = _option_number(options, "inactivity_timeout", -1, 10_000, INACTIVITY_TIMEOUT)
        self._inactivity = -1.0 if inactivity is None or inactivity < 0 else inactivity
        pause = _option_number(options, "end_of_phrase_silence_time", 0.0, 120.0, PAUSE_SECONDS) or PAUSE_SECONDS
        weight = _option_number(options, "customization_weight", 0.0, 1.0, self._weight)
        service, model, lm_id, am_id = self.service, self._model, self._lm_id, self._am_id

        def start() -> Any:
            recognizer = service.recognizer(model, lm_id, am_id)
            return RecognitionStream(recognizer, content_type, interim_results=interim, timestamps=timestamps,
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

    def submit(self, request: RecognitionRequest, lm_id: str | None, am_id: str | None, audio: bytes, *,
               user_token: str | None = None, results_ttl: float = RESULTS_TTL_MINUTES) -> RecognitionJob:
        self._purge()
        now = _now()
        job = RecognitionJob(str(uuid.uuid4()), now, now, user_token=user_token, results_ttl=results_ttl)
        with self._lock:
            self._jobs[job.id] = job
        job.future = self.service.compute.submit(self._run, job, request, lm_id, am_id, audio)
        return job

    def _run(self, job: RecognitionJob, request: RecognitionRequest, lm_id: str | None, am_id: str | None,
             audio: bytes) -> None:
        with self._lock:
            if job.id not in self._jobs:
                return  # deleted while waiting
            job.status, job.updated = "processing", _now()
        try:
            results = [recognize_audio(self.service, request, lm_id, am_id, audio)]
        except Exception as exc:  # noqa: BLE001 - a failed job reports why
            with self._lock:
                job.status, job.warnings = "failed", [_message(exc)]
        else:
            with self._lock:
                job.status, job.results = "completed", results
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
        if job.future is not None:
            job.future.cancel()


class RecognitionsHandler(RecognizeHandler):
    """``POST /v1/recognitions`` (create_job) and ``GET /v1/recognitions`` (check_jobs)."""

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
        ttl = self.number("results_ttl", 1, 100_000_000)
        user_token = self.get_query_argument("user_token", None)
        lm_id, am_id = await self.call(resolve_customizations, self.service, request.model, request.lm_customization,
                                       request.am_customization)
        job = self.jobs.submit(request, lm_id, am_id, bytes(self.request.body), user_token=user_token,
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

