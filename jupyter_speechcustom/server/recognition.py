"""Recognition over HTTP: ``POST /v1/recognize``, and what ``/v1/recognitions`` and the WebSocket share with it.

The audio body is spooled to a temporary file as it arrives (:class:`~jupyter_speechcustom.server.base.RequestBody`);
its header's duration is checked against the service's limit, then it is recognized from the file,
a block at a time, on the service's recognition thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tornado import web

from jupyter_speechcustom.errors import AudioError
from jupyter_speechcustom.server.base import BaseHandler, IBMError, one_line
from jupyter_speechcustom.server.params import ParameterError, parse_recognition
from jupyter_speechcustom.server.service import SpeechCustomService
from jupyter_speechcustom.services import customization as cz
from jupyter_speechcustom.store.workspace import ModelInUseError

if TYPE_CHECKING:
    from jupyter_speechcustom.asr.streaming import Event, Word

__all__ = ["AUDIO_TYPES", "RecognitionRequest", "RecognizeHandler", "customization_weights", "ibm_alternative",
           "ibm_message", "ibm_results", "recognize_audio", "resolve_customizations"]

#: Content types ``/v1/recognize`` and ``.../audio/{name}`` accept (parameters such as ``;codecs=opus`` are ignored).
AUDIO_TYPES = frozenset({
    "audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave", "audio/flac", "audio/x-flac", "audio/ogg",
    "audio/ogg;codecs=opus", "audio/ogg;codecs=vorbis", "audio/webm", "audio/mp3", "audio/mpeg", "audio/mp4",
    "audio/m4a", "audio/x-m4a", "audio/aac", "application/octet-stream",
})
#: IBM's default customization weight; it stands for this toolkit's default LM weight.
IBM_DEFAULT_WEIGHT = 0.3


#: IBM's ``warnings`` entry for audio in which no speech was found.
NO_SPEECH_WARNING = ("No speech detected in the audio (silence, tones or noise only), so nothing was transcribed: "
                     "pass speech_detector_sensitivity=1.0 to decode it anyway.")


def ibm_alternative(text: str, words: Sequence[Word], *, timestamps: bool = False,
                    word_confidence: bool = False) -> dict[str, Any]:
    """IBM's ``alternatives[0]``: transcript (display forms), confidence (the mean word confidence, 1.0 without
    any), and on request ``timestamps`` (``[word, start, end]``) and ``word_confidence`` (``[word, confidence]``)."""
    confidences = [w.confidence for w in words if w.confidence is not None]
    alternative: dict[str, Any] = {"transcript": text,
                                   "confidence": round(sum(confidences) / len(confidences), 4) if confidences else 1.0}
    if timestamps:
        alternative["timestamps"] = [[w.word, round(w.start, 2), round(w.end, 2)]
                                     for w in words if w.start is not None and w.end is not None]
    if word_confidence:
        alternative["word_confidence"] = [[w.word, round(w.confidence or 0.0, 4)] for w in words]
    return alternative


def ibm_message(event: Event, *, timestamps: bool = False, word_confidence: bool = False) -> dict[str, Any]:
    """IBM's streaming result message for an :class:`~jupyter_speechcustom.asr.streaming.Interim` (the transcript
    alone) or a :class:`~jupyter_speechcustom.asr.streaming.Final` (see :func:`ibm_alternative`, then the
    next-best transcripts): ``{"result_index": n, "results": [{"final": bool, "alternatives": [...]}]}``."""
    from jupyter_speechcustom.asr.streaming import Final

    if not isinstance(event, Final):
        return {"result_index": event.result_index,
                "results": [{"final": False, "alternatives": [{"transcript": event.text}]}]}
    alternative = ibm_alternative(event.text, event.words, timestamps=timestamps, word_confidence=word_confidence)
    others = [{"transcript": text} for text in event.alternatives]
    return {"result_index": event.result_index, "results": [{"final": True, "alternatives": [alternative, *others]}]}


def ibm_results(transcript: Any, *, timestamps: bool = False, word_confidence: bool = False) -> dict[str, Any]:
    """IBM's recognition response for one transcript; audio without speech has no results and a warning."""
    from jupyter_speechcustom.asr.streaming import transcript_words

    text = transcript.display_text or transcript.text
    alternative = ibm_alternative(text, transcript_words(transcript), timestamps=timestamps,
                                  word_confidence=word_confidence)
    response: dict[str, Any] = {"results": [], "result_index": 0}
    if alternative["transcript"].strip():
        others = [{"transcript": text} for text in getattr(transcript, "alternatives", ())]
        response["results"] = [{"alternatives": [alternative, *others], "final": True}]
    if getattr(transcript, "note", None):
        response["warnings"] = [NO_SPEECH_WARNING]
    return response


def resolve_customizations(service: SpeechCustomService, model: str, lm_customization: str | None,
                           am_customization: str | None) -> tuple[str | None, str | None]:
    """The trained custom LM and AM behind a request's customization ids (None where none is named);
    refuses customizations that are not available or belong to another base model."""
    ws = service.ws()
    service.base(model)  # an unknown model is a 404 before any customization is looked at
    ids: list[str | None] = []
    for customization_id, kind in ((lm_customization, "language"), (am_customization, "acoustic")):
        if not customization_id:
            ids.append(None)
            continue
        rec, _ = cz.customization(ws, customization_id, kind)
        status = cz.customization_status(ws, rec)
        trained = cz.trained_model_id(ws, rec)
        if status == "training":
            raise ModelInUseError(f"{kind} customization {customization_id} is being trained")
        if trained is None or ws.get(trained).status != "available":
            raise IBMError(400, f"{kind} customization {customization_id} is {status}, not available: train it first")
        if (rec.base or {}).get("name") != model:
            raise IBMError(400, f"{kind} customization {customization_id} is for base model "
                                f"{(rec.base or {}).get('name')!r}, not {model!r}: pass model=")
        ids.append(trained)
    return ids[0], ids[1]


def customization_weights(weight: float | None, recognizer: Any) -> Any:
    """Decoding weights for IBM's ``customization_weight`` (None: the recognizer's defaults, which
    are the custom LM's tuned weights where it was tuned). IBM's default weight, 0.3, is the
    recognizer's LM alpha; other values scale it."""
    decoder = recognizer.decoder
    if weight is None or decoder.lm is None:
        return None
    from dataclasses import replace

    return replace(decoder.weights, lm_alpha=decoder.weights.lm_alpha * weight / IBM_DEFAULT_WEIGHT)


@dataclass(frozen=True)
class RecognitionRequest:
    """What ``/v1/recognize`` and ``/v1/recognitions`` take from the query, parsed and checked."""

    model: str
    lm_customization: str | None
    am_customization: str | None
    weight: float | None
    timestamps: bool
    word_confidence: bool
    speech_detector_sensitivity: float | None = None
    max_alternatives: int = 1
    warnings: tuple[str, ...] = ()

    def speech_options(self) -> dict[str, Any]:
        """The recognizer's speech-detection arguments for IBM's ``speech_detector_sensitivity``: 1.0
        decodes all audio; lower values need more certainty that a window is speech (0.5, the
        default, is the detector's own threshold)."""
        sensitivity = self.speech_detector_sensitivity
        if sensitivity is None:
            return {}
        if sensitivity >= 1.0:
            return {"speech_detection": False}
        return {"speech_detection": True, "speech_threshold": 1.0 - sensitivity}


def recognize_audio(service: SpeechCustomService, request: RecognitionRequest, lm_id: str | None, am_id: str | None,
                    audio: Path) -> dict[str, Any]:
    """IBM's recognition response for the audio file ``audio`` (runs the models: call it off the event loop)."""
    from jupyter_speechcustom.io.probe import audio_seconds

    def clean(exc: BaseException) -> str:  # the temporary file's name means nothing to the client
        return one_line(exc).replace(str(audio), "the audio").replace(audio.name, "the audio")

    try:
        seconds = audio_seconds(audio)
    except AudioError as exc:
        raise IBMError(400, f"the audio could not be decoded: {clean(exc)}") from None
    limit = service.max_recognize_seconds
    if seconds is not None and seconds > limit:
        raise IBMError(413, f"the audio lasts {seconds / 60:.1f} minutes, over this service's limit of "
                            f"{limit / 60:g} minutes per request: split it into shorter parts")
    recognizer = service.recognizer(request.model, lm_id, am_id)
    try:
        transcript = recognizer.transcribe([audio], weights=customization_weights(request.weight, recognizer),
                                           alternatives=request.max_alternatives, **request.speech_options())[0]
    except AudioError as exc:
        raise IBMError(400, f"the audio could not be decoded: {clean(exc)}") from None
    response = ibm_results(transcript, timestamps=request.timestamps, word_confidence=request.word_confidence)
    if request.warnings:
        response["warnings"] = [*request.warnings, *response.get("warnings", [])]
    return response


class RecognizeHandler(BaseHandler):
    limit = "max_recognize_bytes"
    what = "audio"
    #: Query parameters a subclass handles itself.
    also: frozenset[str] = frozenset()

    def recognition_request(self) -> RecognitionRequest:
        """The audio body's checks and the recognition parameters, IBM's way."""
        kind = self.content_type()
        if kind not in AUDIO_TYPES:
            raise IBMError(415, f"unsupported media type {kind or '(none)'}: send audio/wav, audio/flac, audio/ogg, "
                                "audio/webm or audio/mpeg")
        if not self.body.size:
            raise IBMError(400, "no audio in the request body")
        query = {name: values[-1].decode("utf-8", "replace") for name, values in self.request.query_arguments.items()}
        try:
            params = parse_recognition(query, "http", also=self.also)
        except ParameterError as exc:
            raise IBMError(400, one_line(exc)) from None
        return RecognitionRequest(
            model=params.model or self.service.default_model,
            lm_customization=params.lm_customization,
            am_customization=params.am_customization,
            weight=params.weight,
            timestamps=params.timestamps,
            word_confidence=params.word_confidence,
            speech_detector_sensitivity=params.speech_detector_sensitivity,
            max_alternatives=params.max_alternatives,
            warnings=params.warnings,
        )

    @web.authenticated
    async def post(self) -> None:
        request = self.recognition_request()
        service = self.service
        lm_id, am_id = await self.call(resolve_customizations, service, request.model, request.lm_customization,
                                       request.am_customization)
        audio = self.body.path()
        self.reply(await self.call(recognize_audio, service, request, lm_id, am_id, audio, compute=True))
