"""What every Studio panel shares: the workspace and base model, a status area, job progress.

Threads: a job's ``on_change`` callbacks run in its worker thread, where a panel only sets
traits (a progress bar's value, an HTML widget's value, an Image's PNG). Work that builds
widgets or reads results when a job ends is handed to the kernel's main thread with
:class:`MainThread` (the asyncio loop a notebook cell runs on); outside a kernel (tests,
scripts) it runs at once, in the calling thread.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import ipywidgets as widgets
import traitlets

from jupyter_speechcustom.constants import BOOST_ALPHA, DEMO_MODEL_NAME, LM_ALPHA, LM_BETA, LM_HEAD, STUDIO_WIDGET_WIDTH
from jupyter_speechcustom.errors import SpeechCustomError
from jupyter_speechcustom.evaluation import diffview

if TYPE_CHECKING:
    from jupyter_speechcustom.asr.decoding import DecodingWeights
    from jupyter_speechcustom.asr.models import BaseModel
    from jupyter_speechcustom.jobs.runner import Job
    from jupyter_speechcustom.services.workspace import Workspace
    from jupyter_speechcustom.store.workspace import Record

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])


# --------------------------------------------------------------------------- threads


class MainThread:
    """Runs callables on the thread (and asyncio loop) that created it, when that loop runs.

    Created in a notebook cell it captures the kernel's loop, so ``call`` from a job's worker
    thread schedules the callable between cell executions. Without a running loop (tests,
    scripts) ``call`` runs the callable immediately in the calling thread.
    """

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        if threading.current_thread() is threading.main_thread():
            try:
                self._loop = asyncio.get_running_loop()
            except RuntimeError:
                self._loop = None

    def call(self, fn: Callable[..., Any], *args: Any) -> None:
        loop = self._loop
        if loop is None or loop.is_closed() or not loop.is_running() or (
            threading.current_thread() is threading.main_thread()
        ):
            fn(*args)
        else:
            loop.call_soon_threadsafe(fn, *args)


# --------------------------------------------------------------------------- resolving inputs


def resolve_workspace(workspace: Workspace | str | Path) -> Workspace:
    """A :class:`Workspace`, opening (or creating) one from a folder path."""
    from jupyter_speechcustom.services.workspace import Workspace

    if isinstance(workspace, Workspace):
        return workspace
    if isinstance(workspace, (str, Path)):
        return Workspace(workspace)
    raise TypeError(f"workspace must be a Workspace or a folder path, got {type(workspace).__name__}")


def resolve_base(workspace: Workspace, base: BaseModel | str | Path) -> BaseModel:
    """A loaded base model: ``base`` itself, or loaded (and noted in the workspace) by name or path."""
    from jupyter_speechcustom.asr.models import BaseModel

    if isinstance(base, BaseModel):
        return base
    if isinstance(base, (str, Path)):
        # NeMo's telemetry logger warns on import that it is disabled: noise under a widget.
        telemetry = logging.getLogger("nv_one_logger")
        if telemetry.level == logging.NOTSET:
            telemetry.setLevel(logging.ERROR)
        return workspace.load_base_model(base)
    raise TypeError(f"base must be a BaseModel, a model name or a .nemo path, got {type(base).__name__}")


def error_text(exc: BaseException) -> str:
    """The message a user sees for ``exc``: the toolkit's own errors say what to do already."""
    if isinstance(exc, SpeechCustomError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def audio_label(rec: Record) -> str:
    """``name (3.2 s, transcribed)`` for an audio record."""
    duration = rec.info.get("duration")
    seconds = f"{duration:.1f} s" if isinstance(duration, (int, float)) else "?"
    mark = ", transcribed" if rec.info.get("transcript") else ""
    return f"{rec.name} ({seconds}{mark})"


def player_audio(path: Path | str) -> tuple[bytes, str]:
    """Bytes and ``ipywidgets.Audio`` format to play a stored audio file: a browser recording (WebM,
    with no duration in its header) as WAV, so the player shows its true length."""
    from jupyter_speechcustom.io.audio import playable

    data, fmt = playable(path)
    return data, ("wav" if fmt == "wav" else audio_format(path))


def audio_format(path: Path | str) -> str:
    """The ``ipywidgets.Audio`` format (browser MIME subtype) for a stored audio file."""
    suffix = Path(path).suffix.lower().lstrip(".")
    return {"opus": "ogg", "weba": "webm", "m4a": "mp4", "aac": "mp4", "audio": "webm"}.get(suffix, suffix or "wav")


def upload_items(value: Sequence[Any]) -> list[tuple[str, bytes]]:
    """``(name, bytes)`` of each file in a ``FileUpload`` value (ipywidgets 8)."""
    items = []
    for entry in value or ():
        name = entry.get("name") if isinstance(entry, dict) else getattr(entry, "name", None)
        content = entry.get("content") if isinstance(entry, dict) else getattr(entry, "content", None)
        if content is None:
            continue
        items.append((str(name or "upload"), bytes(content)))
    return items


class Choice(widgets.Dropdown):
    """A dropdown in which an option whose value is ``None`` ("none", "auto", "—") is a choice like
    any other, shown by its label. (A plain ``Dropdown`` takes the value ``None`` for "nothing
    selected" and renders blank.)"""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._select_none()

    def _select_none(self) -> None:
        if self.value is None and None in self._options_values:
            index: int = self._options_values.index(None)
            if self.get_state("index").get("index") != index:
                self.index = index

    @traitlets.observe("value")
    def _propagate_value(self, change: dict[str, Any]) -> None:
        if change["new"] is None and None in self._options_values:
            self._select_none()
            return
        super()._propagate_value(change)


def set_options(widget: widgets.Widget, options: Sequence[tuple[str, Any]], *, keep: bool = True) -> None:
    """Replace a selection widget's options, keeping the current selection where it still exists."""
    values = [v for _, v in options]
    if isinstance(widget, widgets.SelectMultiple):
        old = tuple(widget.value)
        widget.options = list(options)
        if keep:
            widget.value = tuple(v for v in old if v in values)
        return
    old = widget.value
    widget.options = list(options)
    if keep and old in values:
        widget.value = old
    elif values:
        widget.value = values[0]


def heading(text: str) -> widgets.HTML:
    """A section heading."""
    return widgets.HTML(f'<div class="sc-root" style="font-weight:600;font-size:110%;margin-top:10px">'
                        f"{diffview.escape(text)}</div>")


def hint_html(text: str) -> str:
    """A muted line of explanation, as HTML."""
    return f'<div class="sc-root sc-muted">{diffview.escape(text)}</div>'


def hint(text: str) -> widgets.HTML:
    """A muted line of explanation."""
    return widgets.HTML(hint_html(text))


def button(description: str, *, style: str = "", icon: str = "", tooltip: str = "", css: str = "",
           width: str = "auto") -> widgets.Button:
    """A button with a test hook class ``css``."""
    b = widgets.Button(description=description, button_style=style, icon=icon, tooltip=tooltip or description,
                       layout=widgets.Layout(width=width))
    if css:
        b.add_class(css)
    return b


#: Style of labelled fields: room for their descriptions.
LABELLED = {"description_width": "110px"}


def wide(**kwargs: Any) -> widgets.Layout:
    """A layout as wide as the Studio's form fields."""
    return widgets.Layout(width=STUDIO_WIDGET_WIDTH, **kwargs)


class AudioSlot(widgets.Box):
    """An ``ipywidgets.Audio`` player that exists only while it has audio.

    An empty ``Audio`` widget makes the browser fetch an empty blob (a console error per
    player), so the player is created on the first :meth:`load` and removed by :meth:`clear`.
    """

    def __init__(self, *, autoplay: bool = False, width: str = "320px") -> None:
        self.player: widgets.Audio | None = None
        self._autoplay = autoplay
        self._width = width
        super().__init__()
        self.add_class("sc-audio-slot")

    def load(self, data: bytes, format: str = "wav") -> None:
        if not data:
            self.clear()
            return
        if self.player is None:
            self.player = widgets.Audio(value=data, format=format, autoplay=self._autoplay, controls=True, loop=False,
                                        layout=widgets.Layout(width=self._width, height="34px"))
        else:
            self.player.format = format
            self.player.value = data
        self.children = [self.player]

    def clear(self) -> None:
        self.children = []


class WeightControls:
    """The decoding controls Compare and Live share: LM alpha, LM beta (CTC heads only: a
    transducer's search has no length bonus), boost and, on a hybrid model, the head (shown only
    there; a custom LM decodes with :data:`LM_HEAD` by default)."""

    def __init__(self, base: BaseModel) -> None:
        self.base = base
        self.lm_alpha = widgets.FloatSlider(LM_ALPHA, min=0.0, max=2.0, step=0.05, description="LM alpha",
                                            style=LABELLED, continuous_update=False, layout=wide())
        self.lm_beta = widgets.FloatSlider(LM_BETA, min=-1.0, max=10.0, step=0.1, description="LM beta",
                                           style=LABELLED, continuous_update=False, layout=wide())
        self.boost_alpha = widgets.FloatSlider(BOOST_ALPHA, min=0.0, max=4.0, step=0.1, description="Boost",
                                               style=LABELLED, continuous_update=False, layout=wide())
        family = base.family
        heads: list[tuple[str, str | None]] = [("CTC" if h == "ctc" else h, h) for h in family.heads]
        self.head = widgets.Dropdown(options=heads or [("the model's", None)],
                                     value=LM_HEAD if LM_HEAD in family.heads else base.head,
                                     description="Head", style=LABELLED, layout=wide())
        self.head.layout.display = "" if family.heads else "none"

    @property
    def controls(self) -> tuple[widgets.FloatSlider, widgets.FloatSlider, widgets.FloatSlider, widgets.Dropdown]:
        return self.lm_alpha, self.lm_beta, self.boost_alpha, self.head

    def enable(self, enabled: bool = True) -> None:
        """Enable the controls (LM beta only where the head's search has a length bonus)."""
        bonus = self.base.family.length_bonus(self.head.value or self.base.head)
        for control in self.controls:
            control.disabled = not enabled or (control is self.lm_beta and not bonus)
        self.lm_beta.tooltip = "" if bonus else "a transducer's beam search has no length bonus"

    def set(self, weights: DecodingWeights) -> None:
        """Move the controls to ``weights`` (the head only where the model has heads to choose)."""
        self.lm_alpha.value = weights.lm_alpha
        self.lm_beta.value = weights.lm_beta
        self.boost_alpha.value = weights.boost_alpha
        if weights.head is not None and self.base.family.heads:
            self.head.value = weights.head


class Confirm(widgets.HBox):
    """The answers to a question as buttons, shown until one is clicked: the Studio asks before it
    replaces or deletes anything. Place it just below the panel's status area.

    :meth:`ask` shows the question in the panel's status area and one button per answer (each
    calls its function); "Cancel" always closes it. ``answers`` holds the buttons shown, by label
    (tests click them).
    """

    def __init__(self, panel: Panel) -> None:
        self._panel = panel
        self.answers: dict[str, widgets.Button] = {}
        super().__init__()
        self.layout.display = "none"
        self.layout.align_items = "center"
        self.layout.flex_flow = "row wrap"
        self.add_class("sc-confirm")

    @property
    def asking(self) -> bool:
        """Whether a question waits for its answer."""
        return self.layout.display != "none"

    def ask(self, question: str, answers: dict[str, Callable[[], Any]], *, doing: str = "",
            danger: bool = False) -> None:
        """Show ``question`` with a button per answer; clicking one closes the question, then calls it
        (errors shown in the panel's status area)."""
        self._panel.show(question, "warning")
        self.answers = {}
        for i, (label, fn) in enumerate(answers.items()):
            b = button(label, style="danger" if danger and i == 0 else ("primary" if i == 0 else ""),
                       css=f"sc-confirm-{i}")
            b.on_click(self._answer(fn, doing))
            self.answers[label] = b
        cancel = button("Cancel", css="sc-confirm-cancel")
        cancel.on_click(lambda _: self.close_question("Cancelled: nothing was changed."))
        self.answers["Cancel"] = cancel
        self.children = list(self.answers.values())
        self.layout.display = ""

    def _answer(self, fn: Callable[[], Any], doing: str) -> Callable[[Any], None]:
        def clicked(_: Any) -> None:
            self.close_question()
            self._panel.guard(fn, doing)()
        return clicked

    def close_question(self, message: str = "") -> None:
        """Hide the answers (``message``: shown in the panel's status area instead of the question)."""
        if not self.asking:
            return
        self.layout.display = "none"
        self.children = []
        self.answers = {}
        self._panel.show(message, "info")  # the question goes too


# --------------------------------------------------------------------------- job progress


class JobView(widgets.HBox):
    """A job's progress bar, message and cancel button.

    Only traits are set here, so :meth:`update` may run in a job's worker thread.
    """

    def __init__(self, *, cancellable: bool = True) -> None:
        self.bar = widgets.FloatProgress(value=0.0, min=0.0, max=1.0, layout=widgets.Layout(width="220px"))
        self.message = widgets.HTML("")
        self.cancel_button = button("Cancel", icon="stop", css="sc-cancel")
        self.cancel_button.disabled = True
        self.cancel_button.layout.display = "" if cancellable else "none"
        self.cancel_button.on_click(self._cancel)
        self._job: Job | None = None
        super().__init__([self.bar, self.cancel_button, self.message])
        self.layout.display = "none"
        self.layout.align_items = "center"
        self.add_class("sc-job")

    def start(self, job: Job) -> None:
        self._job = job
        self.layout.display = ""
        self.bar.bar_style = "info"
        self.cancel_button.disabled = False
        self.update(job)

    def update(self, job: Job) -> None:
        if job is not self._job:
            return
        self.bar.value = float(job.progress)
        text = job.message or job.status
        self.message.value = f'<span class="sc-root sc-muted">{diffview.escape(text)}</span>'

    def finish(self, job: Job) -> None:
        if job is not self._job:
            return
        self.cancel_button.disabled = True
        self.bar.bar_style = {"completed": "success", "cancelled": "warning"}.get(job.status, "danger")
        if job.status == "completed":
            self.bar.value = 1.0
        self.message.value = f'<span class="sc-root sc-muted">{diffview.escape(job.status)}</span>'

    def _cancel(self, _: Any = None) -> None:
        if self._job is not None and not self._job.done:
            self._job.cancel()
            self.message.value = '<span class="sc-root sc-muted">cancelling…</span>'


# --------------------------------------------------------------------------- panels


class Panel(widgets.VBox):
    """Base of the Studio's panels: a workspace, a base model and a status area.

    Attributes:
        workspace: the :class:`~jupyter_speechcustom.services.workspace.Workspace` the panel reads and writes.
        base: the loaded base model.
        status: the panel's status area (an ``HTML`` widget); errors always land here.
        job: the panel's latest job, or None.

    Traits:
        busy (Bool, default False): whether a job started by this panel is running.
    """

    busy = traitlets.Bool(False, help="Whether a job started by this panel is queued or running.")

    def __init__(self, workspace: Workspace | str | Path, base: BaseModel | str | Path = DEMO_MODEL_NAME) -> None:
        self._main = MainThread()
        self.workspace = resolve_workspace(workspace)
        self.base = resolve_base(self.workspace, base)
        # A fixed width, and long words broken: a longer message must not widen the panel and move
        # the form beside it.
        self.status = widgets.HTML("", layout=widgets.Layout(width="100%", min_height="30px", overflow="hidden"))
        self.status.add_class("sc-status-area")
        self.job: Job | None = None
        self._light_log: Path | None = None
        super().__init__()
        self.add_class("sc-panel")
        self.layout.padding = "4px 8px"

    # ------------------------------------------------------------------ workspace

    def usable_language_models(self) -> list[Record]:
        """The workspace's available custom LMs built on this base model's family, newest first."""
        return self._usable(self.workspace.language_models(status="available"))

    def usable_acoustic_models(self) -> list[Record]:
        """The workspace's available custom AMs fine-tuned from this base model's family, newest first."""
        return self._usable(self.workspace.acoustic_models(status="available"))

    def _usable(self, records: list[Record]) -> list[Record]:
        fingerprint = self.base.family_fingerprint
        return [r for r in reversed(records) if (r.base or {}).get("fingerprint") == fingerprint]

    # ------------------------------------------------------------------ status

    def show(self, message: str, kind: str = "info") -> None:
        """Show ``message`` in the status area (``info``, ``working``, ``success`` or ``error``)."""
        self.status.value = diffview.status_html(message, kind)

    def show_error(self, exc: BaseException, doing: str = "") -> None:
        prefix = f"{doing} failed: " if doing else ""
        self.show(prefix + error_text(exc), "error")
        log.debug("studio error", exc_info=exc)

    def guard(self, fn: F, doing: str = "") -> F:
        """``fn`` with any exception shown in the status area instead of raised."""

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - every error is shown to the user
                self.show_error(exc, doing)
                return None

        return wrapper  # type: ignore[return-value]

    def on(self, widget: widgets.Widget, fn: Callable[..., Any], doing: str = "") -> None:
        """Call ``fn()`` when ``widget`` (a button) is clicked, errors shown in the status area."""
        guarded = self.guard(lambda *_: fn(), doing)
        widget.on_click(guarded)

    def observe_value(self, widget: widgets.Widget, fn: Callable[[Any], Any], name: str = "value",
                      doing: str = "") -> None:
        """Call ``fn(new)`` when ``widget``'s trait ``name`` changes, errors shown in the status area."""
        guarded = self.guard(lambda change: fn(change["new"]), doing)
        widget.observe(guarded, names=name)

    # ------------------------------------------------------------------ jobs

    def watch(
        self,
        job: Job,
        view: JobView,
        on_done: Callable[[Job], Any],
        *,
        doing: str,
        busy: bool = True,
        always: Callable[[Job], Any] | None = None,
    ) -> Job:
        """Show ``job`` in ``view`` and call ``on_done(job)`` on the main thread once it completed.

        A failed job's error and a cancellation are shown in the status area; ``always(job)``
        runs after any ending. With ``busy`` the panel's ``busy`` trait is True until the job ends.
        """
        self.job = job
        if busy:
            self.busy = True
        view.start(job)
        finished = threading.Event()
        lock = threading.Lock()
        unregister: list[Callable[[], None]] = []

        def finish(j: Job) -> None:
            try:
                view.finish(j)
                if j.status == "completed":
                    on_done(j)
                elif j.status == "cancelled":
                    self.show(f"{doing} was cancelled", "info")
                else:
                    detail = j.error or j.status
                    self.show(f"{doing} failed: {detail} (job {j.id}; log: {j.log_path})", "error")
            except Exception as exc:  # noqa: BLE001 - shown, not raised on the event loop
                self.show_error(exc, doing)
            finally:
                if busy:
                    self.busy = False
                if always is not None:
                    try:
                        always(j)
                    except Exception as exc:  # noqa: BLE001
                        self.show_error(exc, doing)

        def changed(j: Job) -> None:
            view.update(j)
            if j.done:
                with lock:
                    if finished.is_set():
                        return
                    finished.set()
                for remove in unregister:  # a finished job keeps no reference to the panel
                    remove()
                self._main.call(finish, j)

        unregister.append(job.on_change(changed))
        if job.done:  # it may have ended before the observer was registered
            changed(job)
        return job

    def submit_light(self, fn: Callable[[Callable[[float, str], None], threading.Event], Any], kind: str) -> Job:
        """Run ``fn(progress, cancel)`` as a light job outside the workspace's records (quick work
        such as re-decoding); all such jobs of a panel share one log file."""
        from jupyter_speechcustom.jobs.runner import default_runner

        if self._light_log is None:
            self._light_log = Path(tempfile.mkdtemp(prefix="speechcustom-studio-")) / "light-jobs.log"
        return default_runner().submit(fn, kind=kind, heavy=False, log_path=self._light_log)

    def refresh(self) -> None:
        """Re-read the workspace's lists (when the panel is shown again)."""
