"""Base models: a profile's name (the bundled ``demo``), a ``.nemo`` file, or a NeMo pretrained name."""

from __future__ import annotations

import difflib
import logging
import tarfile
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jupyter_speechcustom.asr.families import ModelFamily, family_of
from jupyter_speechcustom.asr.profiles import ModelProfile, get_profile
from jupyter_speechcustom.constants import CUSTOM_AM_KEY, DEMO_MODEL_NAME
from jupyter_speechcustom.errors import ModelLoadError, ModelNotFoundError
from jupyter_speechcustom.io.files import file_fingerprint

if TYPE_CHECKING:
    from nemo.collections.asr.models import ASRModel

log = logging.getLogger(__name__)


def quiet_nemo() -> None:
    """Keep NeMo's and Lightning's chatter out of the user's output (progress is ours to report).

    Called before NeMo is first imported, so its telemetry notices at import are quiet too.
    """
    logging.getLogger("nv_one_logger").setLevel(logging.ERROR)  # telemetry notices on import
    # "GPU available: False", "`Trainer.fit` stopped: ..." (warnings still show)
    for name in ("lightning.pytorch.utilities.rank_zero", "pytorch_lightning.utilities.rank_zero"):
        logging.getLogger(name).setLevel(logging.WARNING)
    from nemo.utils import logging as nemo_logging

    nemo_logging.setLevel(logging.ERROR)


@dataclass(eq=False)
class BaseModel:
    """A loaded NeMo CTC model with the identity custom models are tied to.

    Attributes:
        name: what the user asked for: ``"demo"``, a pretrained name or the ``.nemo`` path.
        path: the ``.nemo`` file it was restored from.
        fingerprint: SHA-256 prefix of that file.
        asr_model: the NeMo model itself, for anything this toolkit does not wrap.
        head: for a hybrid transducer + CTC model, the head that decodes when a call names none
            (None: its family's default); the family holds no head of its own.
    """

    name: str
    path: Path
    fingerprint: str
    asr_model: ASRModel = field(repr=False)
    head: str | None = None

    @property
    def tied_base(self) -> dict[str, str] | None:
        """For a custom acoustic model: the base model it was fine-tuned from."""
        meta = self.asr_model.cfg.get(CUSTOM_AM_KEY)
        return dict(meta.base_model) if meta is not None else None

    @property
    def profile(self) -> ModelProfile | None:
        """The profile of this model, or of the base a custom AM was fine-tuned from."""
        return get_profile(self.name) or get_profile((self.tied_base or {}).get("name"))

    @property
    def family_fingerprint(self) -> str:
        """The fingerprint custom LMs are checked against: the base's, also for a custom AM."""
        tied = self.tied_base
        return tied["fingerprint"] if tied else self.fingerprint

    @cached_property
    def family(self) -> ModelFamily:
        """The model's family (CTC, ...): everything that differs between kinds of model (stateless)."""
        return family_of(self.asr_model, self.path, self.head)

    @cached_property
    def vocabulary(self) -> list[str]:
        """The model's output tokens in id order, blank excluded."""
        return self.family.vocabulary(self.asr_model)

    @property
    def tokenizer(self) -> Any | None:
        """The model's tokenizer (BPE models), or None for a character model."""
        return self.family.tokenizer(self.asr_model)

    @property
    def is_character_model(self) -> bool:
        return self.tokenizer is None

    @property
    def sample_rate(self) -> int:
        return int(self.asr_model.cfg.sample_rate)

    @property
    def blank_id(self) -> int:
        return self.family.blank_id(self.asr_model)

    @property
    def frame_shift(self) -> float:
        """Seconds per frame of the acoustic output."""
        return self.family.frame_shift(self.asr_model)

    def text_to_ids(self, text: str) -> list[int]:
        """Token ids of ``text`` (characters for a character model, BPE pieces otherwise)."""
        tokenizer = self.tokenizer
        if tokenizer is not None:
            return list(tokenizer.text_to_ids(text))
        index = self._token_index
        return [index[ch] for ch in text if ch in index]

    def ids_to_text(self, ids: list[int]) -> str:
        """Text of token ids, spaces normalized."""
        tokenizer = self.tokenizer
        text = tokenizer.ids_to_text(ids) if tokenizer is not None else "".join(self.vocabulary[i] for i in ids)
        return " ".join(text.split())

    @cached_property
    def _token_index(self) -> dict[str, int]:
        return {token: i for i, token in enumerate(self.vocabulary)}

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "path": str(self.path), "fingerprint": self.fingerprint}


def known_words_for(base: BaseModel) -> frozenset[str]:
    """Words the base model knows: its profile's general text, else common English."""
    from jupyter_speechcustom.text.corpus import known_words

    profile = base.profile
    if profile is not None and profile.general_text is not None:
        return known_words(profile.general_text)
    return known_words()


def _pretrained_names() -> list[str]:
    from nemo.collections.asr.models import ASRModel

    return sorted(m.pretrained_model_name for m in ASRModel.list_available_models())


def resolve_model_file(name_or_path: str | Path) -> Path:
    """The ``.nemo`` file behind a model name or path, downloading a pretrained one if needed."""
    text = str(name_or_path)
    profile = get_profile(text)
    if profile is not None and profile.model_path is not None:
        if not profile.model_path.is_file():
            msg = f"the model file of profile {text!r} is missing from {profile.model_path}: reinstall or re-register it"
            raise ModelNotFoundError(msg)
        return profile.model_path
    path = Path(text).expanduser()
    if path.exists() or text.endswith(".nemo") or path.is_absolute() or text.startswith("."):
        if not path.is_file():
            msg = f"no model file at {path}: check the path, or pass 'demo' or a NeMo pretrained name"
            raise ModelNotFoundError(msg)
        return path
    return _download_pretrained(text)


def _download_pretrained(name: str) -> Path:
    from nemo.collections.asr.models import ASRModel

    hint = (
        "Or download the model's .nemo file on a machine with internet access "
        f"(e.g. `ASRModel.from_pretrained({name!r}, return_model_file=True)`) and pass its path."
    )
    try:
        return Path(ASRModel.from_pretrained(name, return_model_file=True, map_location="cpu"))
    except FileNotFoundError as exc:
        if "/" in name:
            raise ModelNotFoundError(f"could not fetch {name!r}: {exc}. {hint}") from exc
        close = difflib.get_close_matches(name, _pretrained_names(), n=3)
        suggestion = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        msg = (
            f"unknown model {name!r}: not 'demo', not a file, and not a NeMo pretrained name.{suggestion} "
            "Pass 'demo', a path to a .nemo file, a NeMo NGC name (see "
            "ASRModel.list_available_models()) or a Hugging Face id such as "
            "'nvidia/stt_en_fastconformer_ctc_large'."
        )
        raise ModelNotFoundError(msg) from exc
    except Exception as exc:  # network errors come from several HTTP libraries
        kind = type(exc).__name__
        if any(word in kind for word in ("Connect", "Network", "Timeout", "Transport", "HTTP", "Offline")) or (
            "Name or service not known" in str(exc)
        ):
            msg = f"could not download {name!r}: the model hub is not reachable ({kind}: {exc}). {hint}"
        elif "RepositoryNotFound" in kind or "404" in str(exc):
            msg = f"no model {name!r} on the model hub ({kind}). Check the spelling. {hint}"
        else:
            raise
        raise ModelNotFoundError(msg) from exc


def load_base_model(name_or_path: str | Path = DEMO_MODEL_NAME, *, head: str | None = None) -> BaseModel:
    """Load a base model on CPU.

    Args:
        name_or_path: ``"demo"`` (the bundled offline model), a path to a ``.nemo`` file,
            or a NeMo pretrained name (``"nvidia/stt_en_fastconformer_ctc_large"``, an NGC
            name such as ``"stt_en_conformer_ctc_small"``), fetched through NeMo's own
            ``from_pretrained`` and its cache.
        head: for a hybrid transducer + CTC model, the head that decodes: ``"transducer"``
            (the default) or ``"ctc"`` (see :class:`~jupyter_speechcustom.asr.families.HybridFamily`).

    Raises:
        ModelNotFoundError: unknown name, missing file, or no reachable model hub.
        ModelLoadError: the file exists but is not a loadable NeMo model.
    """
    path = resolve_model_file(name_or_path)
    if not tarfile.is_tarfile(path):
        msg = f"{path} is not a .nemo archive (corrupt or truncated?): re-download or re-export the model"
        raise ModelLoadError(msg)
    quiet_nemo()
    from nemo.collections.asr.models import ASRModel

    try:
        model = ASRModel.restore_from(str(path), map_location="cpu")
    except Exception as exc:
        msg = f"cannot load {path} as a NeMo ASR model ({type(exc).__name__}: {exc}); re-download or re-export it"
        raise ModelLoadError(msg) from exc
    family_of(model, path, head)  # a model of a family this toolkit cannot customize is refused here, by name
    model.eval()
    return BaseModel(name=str(name_or_path), path=path.resolve(), fingerprint=file_fingerprint(path), asr_model=model,
                     head=head)
