"""The service's state in one server: its workspace, its limits, loaded models and executors."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from traitlets import Dict, Int, TraitError, Unicode, validate
from traitlets.config import LoggingConfigurable

from jupyter_speechcustom.constants import (
    MAX_ARCHIVE_BYTES,
    MAX_JSON_BYTES,
    MAX_RECOGNIZE_BYTES,
    MAX_RECOGNIZE_SECONDS,
    MAX_STREAM_MESSAGE_BYTES,
    MAX_STREAM_SECONDS,
    MAX_TOKEN_REQUEST_BYTES,
    MAX_UPLOAD_BYTES,
    RECOGNIZER_POOL_SIZE,
)
from jupyter_speechcustom.errors import ModelNotFoundError, SpeechCustomError
from jupyter_speechcustom.services.pool import RecognizerPool

__all__ = ["API_PREFIX", "IDENTITY_PREFIX", "SpeechCustomService"]

API_PREFIX = "speechcustom/api/v1"
#: Where IBM's IAM API-key exchange is served: ``IAMAuthenticator(key, url=server + "/speechcustom")``.
IDENTITY_PREFIX = "speechcustom/identity/token"

class SpeechCustomService(LoggingConfigurable):
    """The service's state in one server: its workspace, loaded models and executors."""

    workspace = Unicode("~/speechcustom-workspace", config=True,
                        help="The workspace folder the service keeps customizations in (created when missing); "
                             "empty: speechcustom-workspace in the server's root_dir.")
    default_model = Unicode("demo", config=True, help="The base model when a request names none.")
    threads = Int(4, config=True, help="Threads for workspace operations (uploads, listings).")
    recognizer_pool = Int(RECOGNIZER_POOL_SIZE, config=True,
                          help="Recognizers (a base model with a custom LM and AM) kept loaded; the least recently "
                               "used is dropped first.")
    torch_threads = Int(0, config=True,
                        help="Torch intra-op threads of the recognition thread (0: torch's default). 1 suits a small "
                             "model on a busy machine; live streams always decode their steps on one.")
    max_upload_bytes = Int(MAX_UPLOAD_BYTES, config=True,
                           help="The largest corpus or audio file accepted (larger: 413); archives: max_archive_bytes.")
    max_archive_bytes = Int(MAX_ARCHIVE_BYTES, config=True, help="The largest audio archive accepted, extracted.")
    max_json_bytes = Int(MAX_JSON_BYTES, config=True, help="The largest JSON request body accepted (larger: 413).")
    max_recognize_bytes = Int(MAX_RECOGNIZE_BYTES, config=True,
                              help="The largest audio body of /v1/recognize and /v1/recognitions (larger: 413, "
                                   "refused on its Content-Length before it is read).")
    max_recognize_seconds = Int(MAX_RECOGNIZE_SECONDS, config=True,
                                help="The longest audio one HTTP recognition request may hold, in seconds.")
    max_stream_message_bytes = Int(MAX_STREAM_MESSAGE_BYTES, config=True,
                                   help="The largest WebSocket message (an audio chunk) of a live recognition.")
    max_stream_seconds = Int(MAX_STREAM_SECONDS, config=True,
                             help="The most seconds of audio one WebSocket recognition may stream.")
    max_token_request_bytes = Int(MAX_TOKEN_REQUEST_BYTES, config=True,
                                  help="The largest body of an API-key token exchange.")
    acoustic_training = Dict(config=True, help="Options of acoustic model training (e.g. {'epochs': 2}): "
                                               "keyword arguments of Workspace.train_acoustic_model.")
    language_training = Dict(config=True, help="Options of language model builds (order, general_text, "
                                               "general_weight, number_variants): keyword arguments of Workspace.build_language_model.")

    @validate("language_training", "acoustic_training")
    def _check_training_options(self, proposal: Any) -> dict[str, Any]:
        """A bad option stops the server at start, rather than failing every training request later."""
        from jupyter_speechcustom.services import workspace

        name = proposal["trait"].name
        check = workspace.check_language_model_options if name == "language_training" else \
            workspace.check_acoustic_model_options
        try:
            check(proposal["value"])
        except (TypeError, SpeechCustomError) as exc:
            raise TraitError(f"SpeechCustomService.{name}: {exc}") from exc
        return dict(proposal["value"])

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._ws: Any = None
        self._lock = threading.RLock()
        self._load_lock = threading.Lock()  # one model load at a time; listings go on meanwhile
        self._bases: dict[str, Any] = {}
        self.recognizers = RecognizerPool(self.recognizer_pool)
        self.io = ThreadPoolExecutor(self.threads, thread_name_prefix="speechcustom-io")
        self.compute = ThreadPoolExecutor(1, thread_name_prefix="speechcustom-recognize",
                                          initializer=self._init_compute_thread)

    def _init_compute_thread(self) -> None:
        if self.torch_threads > 0:
            import torch

            torch.set_num_threads(self.torch_threads)

    def ws(self) -> Any:
        """The workspace, opened on first use."""
        with self._lock:
            if self._ws is None:
                from jupyter_speechcustom.services.workspace import Workspace

                self._ws = Workspace(Path(self.workspace).expanduser(), max_upload_bytes=self.max_upload_bytes,
                                     max_archive_bytes=self.max_archive_bytes)
                self.log.info("speechcustom: workspace %s", self._ws.path)
            return self._ws

    def model_names(self) -> list[str]:
        from jupyter_speechcustom.asr.profiles import profiles

        names = [p.name for p in profiles()]
        return names if self.default_model in names else [self.default_model, *names]

    def base(self, name: str) -> Any:
        """Base model ``name`` (a registered profile), loaded once and cached."""
        if name not in self.model_names():
            raise ModelNotFoundError(f"Model {name!r} not found: use one of {', '.join(self.model_names())}")
        ws = self.ws()
        with self._load_lock:
            if name not in self._bases:
                self._bases[name] = ws.load_base_model(name)
            return self._bases[name]

    def recognizer(self, model: str, lm_id: str | None, am_id: str | None) -> Any:
        """The recognizer of a base model with a custom LM and AM (workspace ids, or None), from the pool."""

        from jupyter_speechcustom.services.recognition import Recognizer

        def build() -> Recognizer:
            ws = self.ws()
            base = self.base(model)
            with self._load_lock:
                lm = ws.language_model(lm_id) if lm_id else None
                am = ws.acoustic_model(am_id) if am_id else None
                return Recognizer(base, lm=lm, am=am)

        return self.recognizers.get((model, lm_id, am_id), build)

    def close(self) -> None:
        """Stop the executors (work not started is cancelled), drop the models and close the workspace."""
        self.io.shutdown(wait=False, cancel_futures=True)
        self.compute.shutdown(wait=False, cancel_futures=True)
        self.recognizers.clear()
        with self._lock:
            self._bases.clear()
            if self._ws is not None:
                self._ws.close()
                self._ws = None
