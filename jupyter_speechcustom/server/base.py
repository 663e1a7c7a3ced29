"""What every handler of the speech API shares: credentials, limits checked before a body is read,
bodies that never sit whole in memory, IBM's error shape, and work off the event loop.

Every HTTP handler streams its body (``tornado.web.stream_request_body``), so ``prepare`` runs
on the headers alone: a request without valid credentials is answered 401, and one whose
``Content-Length`` is over its route's limit 413, before a byte of its body is read. A body
that is read goes to memory up to :data:`SPOOL_BYTES` and to a temporary file past that,
counted against the limit as it arrives.
"""

from __future__ import annotations

import asyncio
import functools
import io
import json
import os
import tempfile
from collections.abc import Callable
from http.client import responses
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from jupyter_server.auth.identity import User
from jupyter_server.base.handlers import APIHandler
from tornado import httputil, web

from jupyter_speechcustom.constants import MAX_JSON_DEPTH, MAX_RESOURCE_NAME
from jupyter_speechcustom.errors import ModelNotFoundError, SpeechCustomError
from jupyter_speechcustom.io.safety import UploadTooLargeError
from jupyter_speechcustom.server.auth import parse_authorization, verify_credential
from jupyter_speechcustom.store.workspace import ModelInUseError, RecordNotFoundError

__all__ = ["BaseHandler", "IBMError", "RequestBody", "status_of", "write_ibm_error"]

T = TypeVar("T")
#: Bytes of a request body kept in memory; the rest of a larger body goes to a temporary file.
SPOOL_BYTES = 1024**2
#: Bytes of a refused request's body read and dropped before the connection is closed (an
#: authenticated request: at least twice its route's limit), so clients that read the answer only
#: after sending see it.
DRAIN_BYTES = 64 * 1024**2


class IBMError(web.HTTPError):
    """An error response in IBM's shape: ``{"error": message, "code": status, "code_description"}``."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(code, reason=responses.get(code, "Error"))
        self.message = message


def status_of(exc: BaseException) -> int:
    """The HTTP status of a service error: a client's mistake is 4xx; anything else is the
    service's own failure (500), never passed off as a bad request."""
    if isinstance(exc, web.HTTPError):
        return exc.status_code
    if isinstance(exc, (RecordNotFoundError, ModelNotFoundError)):
        return 404
    if isinstance(exc, ModelInUseError):
        return 409
    if isinstance(exc, UploadTooLargeError):
        return 413
    if isinstance(exc, SpeechCustomError):
        return 400
    return 500


def write_ibm_error(handler: web.RequestHandler, status_code: int, **kwargs: Any) -> None:
    """Finish ``handler``'s response with IBM's error body (tornado's ``write_error`` arguments)."""
    exc = kwargs.get("exc_info", (None, None, None))[1]
    message = getattr(exc, "message", None) or (exc.log_message if isinstance(exc, web.HTTPError) else None)
    if status_code == 401:
        # Bearer, not Basic: a browser never prompts for it, so no password it caches rides on forged requests.
        handler.set_header("WWW-Authenticate", 'Bearer realm="speechcustom"')
    handler.set_header("Content-Type", "application/json")
    handler.finish(json.dumps({"error": message or responses.get(status_code, "Error"), "code": status_code,
                               "code_description": responses.get(status_code, "Error")}))


def one_line(exc: BaseException) -> str:
    return " ".join(str(getattr(exc, "message", None) or exc).split()) or type(exc).__name__


class RequestBody:
    """A request body as it arrives: in memory up to :data:`SPOOL_BYTES`, then in a temporary
    file; refuses more than ``limit`` bytes."""

    def __init__(self, limit: int, what: str) -> None:
        self.limit = limit
        self.what = what
        self.size = 0
        self._memory: io.BytesIO | None = io.BytesIO()
        self._file: Any = None

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.limit:
            raise IBMError(413, too_large(self.what, self.limit))
        if self._memory is not None and self.size > SPOOL_BYTES:
            self._file = tempfile.NamedTemporaryFile(prefix="speechcustom-body-", delete=False)  # noqa: SIM115
            self._file.write(self._memory.getvalue())
            self._memory = None
        (self._memory if self._memory is not None else self._file).write(chunk)

    def bytes(self) -> bytes:
        if self._memory is not None:
            return self._memory.getvalue()
        self._file.flush()
        return Path(self._file.name).read_bytes()

    def path(self) -> Path:
        """The body as a file (written out first when it is still in memory)."""
        if self._memory is not None:
            self._file = tempfile.NamedTemporaryFile(prefix="speechcustom-body-", delete=False)  # noqa: SIM115
            self._file.write(self._memory.getvalue())
            self._memory = None
        self._file.flush()
        return Path(self._file.name)

    def detach(self) -> Path:
        """The body as a file that the caller now owns (and deletes)."""
        path = self.path()
        self._file.close()
        self._file = None
        return path

    def close(self) -> None:
        self._memory = None
        if self._file is not None:
            self._file.close()
            try:
                os.unlink(self._file.name)
            except OSError:
                pass
            self._file = None


def too_large(what: str, limit: int) -> str:
    advice = " (split long audio into parts, or compress it, e.g. as FLAC or Opus)" if "audio" in what else ""
    return f"the {what} is over this service's limit of {limit / 1024**2:g} MB: send a smaller one{advice}"


def _depth(value: Any, limit: int) -> bool:
    """Whether ``value`` nests deeper than ``limit`` (checked without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False


@web.stream_request_body
class BaseHandler(APIHandler):
    """Credentials and limits on the headers, a streamed body, IBM's error shape, and work off the event loop.

    ``limit`` names the :class:`~jupyter_speechcustom.server.service.SpeechCustomService` trait
    that bounds this route's body (``max_json_bytes`` unless a route says otherwise).
    """

    limit: ClassVar[str] = "max_json_bytes"
    what: ClassVar[str] = "request body"
    #: Whether the route answers without credentials (the token exchange, which is how they are obtained).
    public: ClassVar[bool] = False

    @property
    def service(self) -> Any:
        return self.settings["speechcustom_service"]

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        if getattr(self, "_refused_unread", False):
            # Refused before its body was read: tornado closes the connection once the answer is sent (the rest
            # of the body is never wanted), so the client must not send its next request on it.
            self.set_header("Connection", "close")
        write_ibm_error(self, status_code, **kwargs)

    def check_xsrf_cookie(self) -> None:
        """Requests with a service credential carry no cookie to forge; others follow Jupyter's rules."""
        if getattr(self, "_speech_key", None):
            return None
        return super().check_xsrf_cookie()

    async def prepare(self) -> None:  # type: ignore[override]
        self.body = RequestBody(getattr(self.service, self.limit), self.what)
        self._authenticated = self.public
        try:
            if not self.check_host():  # Jupyter's guard against DNS rebinding, for every credential
                raise IBMError(403, f"requests for host {self.request.host[:100]!r} are not served here: use the "
                                    "server's own address, or start it with --ServerApp.allow_remote_access=True")
            if not self.public:
                await self.authenticate()
                self._authenticated = True
            declared = self.request.headers.get("Content-Length")
            if declared is not None:
                try:
                    length = int(declared)
                except ValueError:
                    raise IBMError(400, f"Content-Length must be a whole number, got {declared[:40]!r}") from None
                if length > self.body.limit:
                    raise IBMError(413, too_large(self.what, self.body.limit))
        except web.HTTPError:
            # The answer is written at once; the body that follows is read and dropped (never kept), up to a
            # bound, so that a client that sends it all before reading gets the answer instead of a reset.
            bound = max(DRAIN_BYTES, 2 * self.body.limit) if self._authenticated else DRAIN_BYTES
            self.request.connection.set_max_body_size(bound)  # type: ignore[union-attr]
            self._refused_unread = True
            raise
        self.request.connection.set_max_body_size(self.body.limit)  # type: ignore[union-attr]

    async def authenticate(self) -> None:
        """A service credential (API key or access token), else Jupyter's own (its token or login
        cookie); neither: 401 in IBM's shape, before any body is read."""
        credential = parse_authorization(self.request.headers.get("Authorization"))
        if credential is not None:
            key_id = await self.call(lambda: verify_credential(self.service.ws().api_keys, credential))
            if key_id is None:
                raise IBMError(401, "Unauthorized: the API key or access token is not valid (revoked, expired or "
                                    "mistyped); create a key with `speechcustom keys create NAME`")
            self._speech_key = key_id
            self.current_user = self._jupyter_current_user = User(username=f"apikey:{key_id}")
            return
        try:
            await super().prepare()
        except web.HTTPError as exc:
            if exc.status_code == 403 and not self.current_user:
                raise IBMError(401, "Unauthorized: send an API key (Basic apikey:KEY, or Bearer with an access "
                                    "token from /speechcustom/identity/token) or the server's token") from None
            raise
        if not self.current_user:
            raise IBMError(401, "Unauthorized: send an API key or the server's token")

    def data_received(self, chunk: bytes) -> None:
        if not self._finished:  # the rest of a refused request's body is dropped
            try:
                self.body.write(chunk)
            except web.HTTPError:
                self._refused_unread = True  # over the limit halfway: the rest is not read either
                raise

    def on_finish(self) -> None:
        body = getattr(self, "body", None)
        if isinstance(body, RequestBody):
            body.close()

    def on_connection_close(self) -> None:
        self.on_finish()
        super().on_connection_close()

    async def call(self, fn: Callable[..., T], *args: Any, compute: bool = False, **kwargs: Any) -> T:
        """Run ``fn`` in the service's executor; its errors become IBM's error responses."""
        loop = asyncio.get_running_loop()
        executor = self.service.compute if compute else self.service.io
        try:
            return await loop.run_in_executor(executor, functools.partial(fn, *args, **kwargs))
        except web.HTTPError:
            raise
        except Exception as exc:  # every failure is reported in IBM's shape
            status = status_of(exc)
            if status == 500:
                self.log.exception("speechcustom: %s %s failed", self.request.method, self.request.path)
                raise IBMError(500, "the service failed on this request; its log has the details") from exc
            raise IBMError(status, one_line(exc)) from exc

    def body_json(self) -> dict[str, Any]:
        """The body as a JSON object, checked for depth (no recursion on hostile nesting)."""
        try:
            data = json.loads(self.body.bytes() or b"{}")
        except RecursionError:
            raise IBMError(400, f"the request body nests deeper than {MAX_JSON_DEPTH} levels: send plain JSON") from None
        except ValueError:
            raise IBMError(400, "the request body is not valid JSON (UTF-8): check its syntax") from None
        if not isinstance(data, dict):
            raise IBMError(400, "the request body must be a JSON object")
        if _depth(data, MAX_JSON_DEPTH):
            raise IBMError(400, f"the request body nests deeper than {MAX_JSON_DEPTH} levels: send plain JSON")
        return data

    def form_file(self, field: str) -> bytes | None:
        """The field ``field`` of a ``multipart/form-data`` body; None when the body is not a form.
        A form without that field is refused, never stored as raw text."""
        content_type = self.request.headers.get("Content-Type", "")
        if not content_type.lower().startswith("multipart/form-data"):
            return None
        arguments: dict[str, list[bytes]] = {}
        files: dict[str, list[httputil.HTTPFile]] = {}
        httputil.parse_body_arguments(content_type, self.body.bytes(), arguments, files)
        if field in files:
            return bytes(files[field][0]["body"])
        if field in arguments:
            return arguments[field][0]
        found = sorted({*files, *arguments})
        raise IBMError(400, f"the form has no {field} field (it has {', '.join(found) or 'no fields'}): "
                            f"send the content as the {field} field")

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.get_query_argument(name, None)
        if value is None:
            return default
        if value.lower() not in ("true", "false"):
            raise IBMError(400, f"{name} must be true or false, got {value[:40]!r}")
        return value.lower() == "true"

    def resource_name(self, name: str, what: str) -> str:
        """``name`` checked as IBM names a corpus, word or audio resource: printable, no slashes, not ``.``/``..``."""
        if not name or len(name) > MAX_RESOURCE_NAME or not name.isprintable() or name in (".", "..") \
                or any(c in name for c in "/\\") or any(c.isspace() for c in name):
            raise IBMError(400, f"invalid {what} name {name[:80]!r}: use 1 to {MAX_RESOURCE_NAME} printable "
                                "characters without spaces or slashes, and not . or ..")
        return name

    def content_type(self) -> str:
        return self.request.headers.get("Content-Type", "").split(";")[0].strip().lower()

    def reply(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        self.finish(json.dumps(data))

