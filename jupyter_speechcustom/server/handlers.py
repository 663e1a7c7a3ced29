"""The IBM Watson Speech to Text v1 HTTP API, as Jupyter server handlers.

Every handler is a thin translation: it parses IBM's request, calls
:mod:`jupyter_speechcustom.services` (in a thread executor, so the event loop never waits on
the workspace, a model load or recognition; builds and trainings run as workspace jobs) and
writes IBM's response shape. Errors are IBM's ``{"error", "code", "code_description"}``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from jupyter_server.utils import url_path_join
from tornado import web
from tornado.routing import PathMatches, Rule

from jupyter_speechcustom.constants import MAX_CUSTOMIZATION_NAME, MAX_DESCRIPTION_CHARS
from jupyter_speechcustom.server.auth import GRANT_TYPE, issue_token
from jupyter_speechcustom.server.base import BaseHandler, IBMError
from jupyter_speechcustom.server.recognition import AUDIO_TYPES, RecognizeHandler
from jupyter_speechcustom.server.service import API_PREFIX, IDENTITY_PREFIX, SpeechCustomService
from jupyter_speechcustom.services import customization as cz
from jupyter_speechcustom.services import management
from jupyter_speechcustom.store.workspace import Record, RecordNotFoundError

__all__ = ["setup_handlers", "setup_not_found"]

# --------------------------------------------------------------------------- presentation


def _model_info(service: SpeechCustomService, name: str, base_url: str) -> dict[str, Any]:
    from jupyter_speechcustom.asr.profiles import get_profile
    from jupyter_speechcustom.constants import SAMPLE_RATE

    profile = get_profile(name)
    return {
        "name": name,
        "language": "en-US",
        "rate": SAMPLE_RATE,
        "url": url_path_join(base_url, API_PREFIX, "models", name),
        "description": (profile.description if profile else "") or f"base model {name}",
        "supported_features": {"custom_language_model": True, "custom_acoustic_model": True,
                               "speaker_labels": False},
    }


def _job_progress(ws: Any, rec: Record, status: str) -> int:
    trained = cz.trained_model_id(ws, rec)
    if status == "available":
        return 100
    if status == "training" and trained:
        job_id = ws.get(trained).job_id
        if job_id:
            return int(100 * ws.job(job_id).progress)
    return 0


def _customization(ws: Any, rec: Record, kind: str) -> dict[str, Any]:
    _, state = cz.customization(ws, rec.id, kind)
    status = cz.customization_status(ws, rec)
    trained = cz.trained_model_id(ws, rec)
    info: dict[str, Any] = {
        "customization_id": rec.id,
        "created": rec.created,
        "updated": max(rec.updated, ws.get(trained).updated) if trained else rec.updated,
        "language": "en-US",
        "versions": [(rec.base or {}).get("name", "")],
        "owner": "",
        "name": rec.name,
        "description": state.get("description", ""),
        "base_model_name": (rec.base or {}).get("name", ""),
        "status": status,
        "progress": _job_progress(ws, rec, status),
    }
    if kind == "language":
        info["dialect"] = "en-US"
    if status == "failed" and trained:
        message = ws.get(trained).message or "training failed"
        # The store's advice is Python's (ws.rerun); an HTTP client trains the customization again.
        message = re.sub(r"\s*(\.\s*)?Re-run it with ws\.rerun\([^)]*\)\.?|;? ?run ws\.rerun\([^)]*\) to run it again",
                         "", message).rstrip(" ;.")
        collection = "customizations" if kind == "language" else "acoustic_customizations"
        info["error" if kind == "language" else "warnings"] = (
            f"{message}. Train it again: POST /v1/{collection}/{rec.id}/train")
    return info


def _corpus(ws: Any, customization: Record, name: str, corpus_id: str) -> dict[str, Any]:
    """IBM's corpus resource; its out-of-vocabulary words are those the customization's base model
    does not know, as everywhere else (:func:`management.oov_of`)."""
    try:
        rec = ws.get(corpus_id, "corpus")
    except RecordNotFoundError:
        return {"name": name, "total_words": 0, "out_of_vocabulary_words": 0, "status": "undetermined",
                "error": "the corpus file is missing from the workspace"}
    known = management.known_words_of((customization.base or {}).get("name") or "demo")
    oov = management.oov_of(ws, rec, known)
    if oov is None:
        return {"name": name, "total_words": rec.info.get("words", 0), "out_of_vocabulary_words": 0,
                "status": "undetermined", "error": "the corpus file cannot be read: add it again"}
    return {"name": name, "total_words": rec.info.get("words", 0), "out_of_vocabulary_words": len(oov),
            "status": "analyzed"}


def _word(word: str, entry: dict[str, Any]) -> dict[str, Any]:
    return {"word": word, "sounds_like": entry.get("sounds_like") or [word],
            "display_as": entry.get("display_as") or word, "count": 0, "source": ["user"]}


def _audio(ws: Any, name: str, ids: list[str]) -> dict[str, Any]:
    recs = []
    for audio_id in ids:
        try:
            recs.append(ws.get(audio_id, "audio"))
        except RecordNotFoundError:
            pass
    duration = sum(float(r.info.get("duration", 0.0)) for r in recs)
    if len(ids) == 1 and not (recs and recs[0].info.get("archive")):
        details: dict[str, Any] = {"type": "audio", "codec": Path(recs[0].name).suffix.lstrip(".") if recs else "",
                                   "frequency": recs[0].info.get("sample_rate", 0) if recs else 0}
    else:
        compression = "zip" if name.lower().endswith(".zip") else "gzip" if name.lower().endswith(("gz", "tgz")) else "none"
        details = {"type": "archive", "compression": compression}
    return {"name": name, "duration": round(duration), "details": details, "status": "ok" if recs else "invalid"}


# --------------------------------------------------------------------------- handlers


class ModelsHandler(BaseHandler):
    @web.authenticated
    async def get(self, name: str | None = None) -> None:
        names = await self.call(self.service.model_names)
        base_url = self.settings.get("base_url", "/")
        if name is None:
            self.reply({"models": [_model_info(self.service, n, base_url) for n in names]})
        elif name not in names:
            raise IBMError(404, f"Model {name} not found")
        else:
            self.reply(_model_info(self.service, name, base_url))


class CustomizationsHandler(BaseHandler):
    """``/v1/customizations`` (language) and ``/v1/acoustic_customizations``."""

    kind = "language"

    @web.authenticated
    async def get(self) -> None:
        def run() -> list[dict[str, Any]]:
            ws = self.service.ws()
            return [_customization(ws, r, self.kind) for r in cz.customizations(ws, self.kind)]

        self.reply({"customizations": await self.call(run)})

    @web.authenticated
    async def post(self) -> None:
        data = self.body_json()
        name = data.get("name")
        if not isinstance(name, str) or not name.strip():
            raise IBMError(400, "a customization needs a name: a non-empty string")
        if len(name) > MAX_CUSTOMIZATION_NAME or not name.isprintable():
            raise IBMError(400, f"the name must be at most {MAX_CUSTOMIZATION_NAME} printable characters "
                                f"(got {len(name)}): choose a shorter name")
        description = data.get("description")
        if description is not None and not isinstance(description, str):
            raise IBMError(400, f"description must be a string, got {type(description).__name__}")
        if description and len(description) > MAX_DESCRIPTION_CHARS:
            raise IBMError(400, f"the description must be at most {MAX_DESCRIPTION_CHARS} characters")
        model = data.get("base_model_name") or self.service.default_model
        if not isinstance(model, str):
            raise IBMError(400, f"base_model_name must be a string, got {type(model).__name__}")
        unknown = sorted(set(data) - {"name", "base_model_name", "description", "dialect"})
        if unknown:
            raise IBMError(400, f"unknown field(s) {', '.join(unknown)[:200]}: a customization takes name, "
                                "base_model_name and description")

        def run() -> str:
            ws = self.service.ws()
            base = self.service.base(model)
            return cz.create_customization(ws, self.kind, base, name.strip(), description or "").id

        self.reply({"customization_id": await self.call(run)}, 201)


class AcousticCustomizationsHandler(CustomizationsHandler):
    kind = "acoustic"


class CustomizationHandler(BaseHandler):
    kind = "language"

    @web.authenticated
    async def get(self, customization_id: str) -> None:
        def run() -> dict[str, Any]:
            ws = self.service.ws()
            rec, _ = cz.customization(ws, customization_id, self.kind)
            return _customization(ws, rec, self.kind)

        self.reply(await self.call(run))

    @web.authenticated
    async def delete(self, customization_id: str) -> None:
        await self.call(lambda: cz.delete_customization(self.service.ws(), customization_id, self.kind))
        self.reply({})


class AcousticCustomizationHandler(CustomizationHandler):
    kind = "acoustic"


class TrainHandler(BaseHandler):
    kind = "language"

    @web.authenticated
    async def post(self, customization_id: str) -> None:
        lm_customization = self.get_query_argument("custom_language_model_id", None)

        def run() -> None:
            ws = self.service.ws()
            rec, _ = cz.customization(ws, customization_id, self.kind)
            base = self.service.base((rec.base or {}).get("name", self.service.default_model))
            options = self.service.language_training if self.kind == "language" else self.service.acoustic_training
            cz.train_customization(ws, customization_id, self.kind, base, language_customization_id=lm_customization,
                                   **dict(options))

        await self.call(run)
        self.reply({})


class AcousticTrainHandler(TrainHandler):
    kind = "acoustic"


class CorporaHandler(BaseHandler):
    @web.authenticated
    async def get(self, customization_id: str) -> None:
        def run() -> list[dict[str, Any]]:
            ws = self.service.ws()
            rec, state = cz.customization(ws, customization_id, "language")
            return [_corpus(ws, rec, n, c) for n, c in state["corpora"].items()]

        self.reply({"corpora": await self.call(run)})


class CorpusHandler(BaseHandler):
    limit = "max_upload_bytes"
    what = "corpus"
    @web.authenticated
    async def get(self, customization_id: str, name: str) -> None:
        def run() -> dict[str, Any]:
            ws = self.service.ws()
            rec, state = cz.customization(ws, customization_id, "language")
            if name not in state["corpora"]:
                raise RecordNotFoundError(f"no corpus {name!r} in customization {customization_id}")
            return _corpus(ws, rec, name, state["corpora"][name])

        self.reply(await self.call(run))

    @web.authenticated
    async def post(self, customization_id: str, name: str) -> None:
        self.resource_name(name, "corpus")
        form = self.form_file("corpus_file")
        data = form if form is not None else self.body.bytes()
        if not data:
            raise IBMError(400, "no corpus text: send it as the corpus_file form field or as the body")
        overwrite = self.flag("allow_overwrite")
        await self.call(lambda: cz.add_customization_corpus(self.service.ws(), customization_id, name, data,
                                                            allow_overwrite=overwrite))
        self.reply({}, 201)

    @web.authenticated
    async def delete(self, customization_id: str, name: str) -> None:
        await self.call(lambda: cz.delete_customization_corpus(self.service.ws(), customization_id, name))
        self.reply({})


class WordsHandler(BaseHandler):
    @web.authenticated
    async def get(self, customization_id: str) -> None:
        def run() -> list[dict[str, Any]]:
            _, state = cz.customization(self.service.ws(), customization_id, "language")
            return [_word(w, e) for w, e in sorted(state["words"].items())]

        self.reply({"words": await self.call(run)})

    @web.authenticated
    async def post(self, customization_id: str) -> None:
        words = self.body_json().get("words")
        if not isinstance(words, list) or not words:
            raise IBMError(400, "the body needs a non-empty 'words' list")
        await self.call(lambda: cz.add_customization_words(self.service.ws(), customization_id, words))
        self.reply({}, 201)


class WordHandler(BaseHandler):
    @web.authenticated
    async def get(self, customization_id: str, word: str) -> None:
        def run() -> dict[str, Any]:
            _, state = cz.customization(self.service.ws(), customization_id, "language")
            if word not in state["words"]:
                raise RecordNotFoundError(f"no word {word!r} in customization {customization_id}")
            return _word(word, state["words"][word])

        self.reply(await self.call(run))

    @web.authenticated
    async def put(self, customization_id: str, word: str) -> None:
        self.resource_name(word, "word")
        data = self.body_json()
        unknown = sorted(set(data) - {"word", "sounds_like", "display_as"})
        if unknown:
            raise IBMError(400, f"unknown field(s) {', '.join(unknown)[:200]}: a word takes sounds_like and display_as")
        entry = {"word": word, "sounds_like": data.get("sounds_like") or [], "display_as": data.get("display_as")}
        await self.call(lambda: cz.add_customization_words(self.service.ws(), customization_id, [entry]))
        self.reply({}, 201)

    @web.authenticated
    async def delete(self, customization_id: str, word: str) -> None:
        await self.call(lambda: cz.delete_customization_word(self.service.ws(), customization_id, word))
        self.reply({})


class AudioListHandler(BaseHandler):
    @web.authenticated
    async def get(self, customization_id: str) -> None:
        def run() -> list[dict[str, Any]]:
            ws = self.service.ws()
            _, state = cz.customization(ws, customization_id, "acoustic")
            return [_audio(ws, n, ids) for n, ids in state["audio"].items()]

        audio = await self.call(run)
        minutes = sum(a["duration"] for a in audio) / 60
        self.reply({"total_minutes_of_audio": round(minutes, 2), "audio": audio})


class AudioHandler(BaseHandler):
    limit = "max_upload_bytes"
    what = "audio resource"
    @web.authenticated
    async def get(self, customization_id: str, name: str) -> None:
        def run() -> dict[str, Any]:
            ws = self.service.ws()
            _, state = cz.customization(ws, customization_id, "acoustic")
            if name not in state["audio"]:
                raise RecordNotFoundError(f"no audio resource {name!r} in customization {customization_id}")
            return _audio(ws, name, state["audio"][name])

        self.reply(await self.call(run))

    @web.authenticated
    async def post(self, customization_id: str, name: str) -> None:
        self.resource_name(name, "audio resource")
        kind = self.content_type()
        archive = kind in cz.ARCHIVE_TYPES
        if not archive and kind not in AUDIO_TYPES:
            raise IBMError(415, f"unsupported media type {kind or '(none)'}: send audio/wav, audio/flac, audio/ogg, "
                                "audio/webm, audio/mpeg, or application/zip or application/x-tar for an archive")
        if not self.body.size:
            raise IBMError(400, "no audio in the request body")
        overwrite = self.flag("allow_overwrite")
        transcript = self.get_query_argument("transcript", None)
        data = self.body.bytes()
        await self.call(lambda: cz.add_customization_audio(self.service.ws(), customization_id, name, data,
                                                           archive=archive, transcript=transcript,
                                                           allow_overwrite=overwrite))
        self.reply({}, 201)

    @web.authenticated
    async def delete(self, customization_id: str, name: str) -> None:
        await self.call(lambda: cz.delete_customization_audio(self.service.ws(), customization_id, name))
        self.reply({})


class TokenHandler(BaseHandler):
    """``POST /speechcustom/identity/token``: IBM IAM's API-key exchange, for ``IAMAuthenticator``."""

    limit = "max_token_request_bytes"
    what = "token request"
    public = True

    def check_xsrf_cookie(self) -> None:
        """A form post that proves itself with the key it carries: no cookie is involved."""

    async def post(self) -> None:
        from urllib.parse import parse_qs

        if self.content_type() != "application/x-www-form-urlencoded":
            raise IBMError(400, "send grant_type and apikey as application/x-www-form-urlencoded")
        form = parse_qs(self.body.bytes().decode("utf-8", "replace"))
        grant = (form.get("grant_type") or [""])[0]
        if grant != GRANT_TYPE:
            raise IBMError(400, f"grant_type must be {GRANT_TYPE}, got {grant[:80]!r}")
        secret = (form.get("apikey") or [""])[0]

        def run() -> dict[str, Any] | None:
            keys = self.service.ws().api_keys
            key = keys.verify(secret)
            return issue_token(keys, key.id) if key is not None else None

        token = await self.call(run)
        if token is None:
            self.set_status(400)
            self.finish({"errorCode": "BXNIM0415E", "errorMessage": "Provided API key could not be found.",
                         "error": "Provided API key could not be found.", "code": 400,
                         "code_description": "Bad Request"})
            return
        self.reply(token)


class NotFoundHandler(BaseHandler):
    """Any other path under the API: 404 in IBM's shape, for a known client or a probe alike."""

    async def prepare(self) -> None:  # type: ignore[override]
        await super().prepare()
        raise IBMError(404, f"no such API route: {self.request.path[:200]} (the API lives under "
                            f"/{API_PREFIX}/; see the README)")


class _HttpOnly(PathMatches):
    """A path that matches plain HTTP requests only: WebSocket upgrades of it are routed elsewhere."""

    def match(self, request: Any) -> dict[str, Any] | None:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return None
        return super().match(request)


def setup_handlers(serverapp: Any) -> SpeechCustomService:
    """Add the API's routes to ``serverapp``'s web app; returns the service."""
    service = SpeechCustomService(parent=serverapp, config=serverapp.config)
    if service.workspace == "" and getattr(serverapp, "root_dir", None):
        service.workspace = str(Path(serverapp.root_dir) / "speechcustom-workspace")
    web_app = serverapp.web_app
    web_app.settings["speechcustom_service"] = service
    base = url_path_join(web_app.settings.get("base_url", "/"), API_PREFIX)
    cid, name = r"(?P<customization_id>[^/]+)", r"(?P<name>[^/]+)"
    routes: list[tuple[str, type[BaseHandler]]] = [
        (r"/models/?", ModelsHandler),
        (r"/models/(?P<name>[^/]+)", ModelsHandler),
        (r"/customizations/?", CustomizationsHandler),
        (rf"/customizations/{cid}", CustomizationHandler),
        (rf"/customizations/{cid}/train", TrainHandler),
        (rf"/customizations/{cid}/corpora/?", CorporaHandler),
        (rf"/customizations/{cid}/corpora/{name}", CorpusHandler),
        (rf"/customizations/{cid}/words/?", WordsHandler),
        (rf"/customizations/{cid}/words/(?P<word>[^/]+)", WordHandler),
        (r"/acoustic_customizations/?", AcousticCustomizationsHandler),
        (rf"/acoustic_customizations/{cid}", AcousticCustomizationHandler),
        (rf"/acoustic_customizations/{cid}/train", AcousticTrainHandler),
        (rf"/acoustic_customizations/{cid}/audio/?", AudioListHandler),
        (rf"/acoustic_customizations/{cid}/audio/{name}", AudioHandler),
    ]
    rules: list[Any] = [(base + pattern, handler) for pattern, handler in routes]
    # WebSocket upgrades of /v1/recognize go to the streaming handler (jupyter_speechcustom.server.live).
    rules.append(Rule(_HttpOnly(base + r"/recognize"), RecognizeHandler))
    rules.append((url_path_join(web_app.settings.get("base_url", "/"), IDENTITY_PREFIX), TokenHandler))
    web_app.add_handlers(".*$", rules)
    serverapp.log.info("speechcustom: IBM Watson STT v1 API at %s (workspace %s)", base, service.workspace)
    return service


def setup_not_found(serverapp: Any) -> None:
    """Answer every other path under the API with IBM's 404 (added last: the routes above win)."""
    base_url = serverapp.web_app.settings.get("base_url", "/")
    serverapp.web_app.add_handlers(".*$", [
        (url_path_join(base_url, "speechcustom") + r"(/.*)?", NotFoundHandler),
    ])
