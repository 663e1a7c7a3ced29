"""Small models of every NeMo family this toolkit customizes, built offline with NeMo's own classes.

Real users bring FastConformer models with SentencePiece BPE tokenizers: CTC
(``EncDecCTCModelBPE``), hybrid TDT + CTC (``EncDecHybridRNNTCTCBPEModel``, Parakeet-style) and
transducers (``EncDecRNNTBPEModel`` with a TDT or an RNNT loss). This module makes a small member
of each from NeMo's configs, scaled down, with a BPE tokenizer trained on the demo's text, so every
code path runs without a model hub::

    python -m jupyter_speechcustom.demo.family_models --out DIR   # one .nemo per family
    python -m jupyter_speechcustom.demo.family_models --out DIR --streaming   # trained-for-streaming encoders

These models are untrained: they exercise the machinery (loading, the acoustic pass, decoding
with LM fusion and boosting, timings, fine-tuning), not recognition quality. With ``--train
MANIFEST --dev MANIFEST`` the recipe trains a ``small`` hybrid TDT + CTC model (both heads at
once; on a CPU with the toolkit's own TDT loss, on a GPU with NeMo's) and derives the others from
its weights: the CTC model from its encoder and CTC head, the TDT model from its encoder and TDT
head, the RNN-T model from its encoder and joint, whose head is then trained with the encoder
frozen. Training uses Lightning's GPU when there is one (with NeMo's CUDA TDT loss there);
:func:`train_family_model` also takes the number of data-loader workers, NeMo's on-the-fly audio
augmentation and extra Lightning callbacks, for larger runs on a GPU.

The demo model, ``demo_hybrid.nemo`` (``load_base_model("demo")``), was trained in five runs of
this recipe, each continuing from the one before (``--init-from``). Three ran on one CPU thread: on the
demo recipe's espeak-ng general speech (``recipe --stage data``: ``gtrain.json``, ``gdev.json``;
1800 steps at ``--lr 2e-3``, 43 min), then on that speech plus the Flite voices of
:mod:`jupyter_speechcustom.demo.voices` (``train.json``; ``--lr 1e-3``, 1100 steps, 14 min, then
6500 steps, 79 min; the dev manifest both dev sets together)::

    python -m jupyter_speechcustom.demo.family_models --out S1 --family hybrid_tdt_ctc \
        --train gtrain.json --dev gdev.json --max-steps 1800 --minutes 45 --lr 2e-3
    python -m jupyter_speechcustom.demo.family_models --out S2 --family hybrid_tdt_ctc \
        --train gtrain.json --train train.json --dev dev.json --max-steps 1100 --lr 1e-3 \
        --init-from S1/hybrid_tdt_ctc.nemo
    python -m jupyter_speechcustom.demo.family_models --out S3 --family hybrid_tdt_ctc \
        --train gtrain.json --train train.json --dev dev.json --max-steps 6500 --minutes 100 --lr 1e-3 \
        --init-from S2/hybrid_tdt_ctc.nemo

Two more ran on one NVIDIA H200 GPU (NeMo's CUDA TDT loss, 12 data-loader workers, batches of 96,
white-noise and gain augmentation on the fly; about 12 steps a second), on all 7000 Flite utterances
and the first 4100 espeak-ng ones, Opus-compressed at 9-12 kbps: 4174 steps in 6 min, then 2374
steps in 4 min. Greedy WER with the TDT head went from 44.3% to 39.4% on the general test set, 38.6%
to 37.7% on held-out voices and 71.6% to 63.6% on the held-out engine (Festival)::

    python -m jupyter_speechcustom.demo.family_models --out S4 --family hybrid_tdt_ctc \
        --train flite.json --train espeak.json --dev dev.json --max-steps 4174 --minutes 6 --lr 1.5e-3 \
        --batch-size 96 --workers 12 --augment --init-from S3/hybrid_tdt_ctc.nemo
    python -m jupyter_speechcustom.demo.family_models --out S5 --family hybrid_tdt_ctc \
        --train flite.json --train espeak.json --dev dev.json --max-steps 2374 --minutes 4.1 --lr 1e-3 \
        --batch-size 96 --workers 12 --augment --init-from S4/hybrid_tdt_ctc.nemo
"""

from __future__ import annotations

import argparse
import tarfile
import tempfile
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from jupyter_speechcustom.constants import SAMPLE_RATE
from jupyter_speechcustom.demo import corpus_path, general_text_path

__all__ = ["FAMILIES", "build_family_model", "train_tokenizer"]

#: The families, by the name this module builds them under.
FAMILIES = ("ctc_bpe", "hybrid_tdt_ctc", "tdt", "rnnt")

_TDT_DURATIONS = [0, 1, 2, 3, 4]

#: NeMo's on-the-fly augmentation of ``--augment``: faint white noise and level changes.
AUGMENTOR = {"white_noise": {"prob": 0.3, "min_level": -80, "max_level": -50},
             "gain": {"prob": 0.5, "min_gain_dbfs": -10, "max_gain_dbfs": 10}}


def train_tokenizer(out_dir: Path, vocab_size: int = 128, text: Path | None = None) -> Path:
    """A SentencePiece BPE tokenizer (NeMo's ``create_spt_model``), by default on the demo's general
    and domain text; ``text`` (one sentence per line) replaces that."""
    from nemo.collections.common.tokenizers.sentencepiece_tokenizer import create_spt_model

    out_dir.mkdir(parents=True, exist_ok=True)
    corpus = out_dir / "text.txt"
    if text is not None:
        lines = text.read_text(encoding="utf-8").lower().splitlines()
    else:
        lines = general_text_path().read_text(encoding="utf-8").splitlines()[:4000]
        lines += corpus_path().read_text(encoding="utf-8").lower().splitlines()
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    create_spt_model(str(corpus), vocab_size, sample_size=-1, do_lower_case=True, tokenizer_type="bpe",
                     output_dir=str(out_dir))
    corpus.unlink()
    return out_dir


#: Model sizes: ``tiny`` for machinery tests (untrained), ``small`` for the trained test models.
SIZES: dict[str, dict[str, int]] = {
    "tiny": {"d_model": 64, "n_layers": 2, "n_heads": 2, "subsampling_conv_channels": 64, "hidden": 64},
    "small": {"d_model": 128, "n_layers": 4, "n_heads": 4, "subsampling_conv_channels": 64, "hidden": 128},
}


#: The encoder of a model trained for cache-aware streaming, as NeMo's FastConformer streaming configs
#: have it: attention limited to 70 frames of left context and chunks of 2 frames (1 of look-ahead,
#: 160 ms), causal convolutions and downsampling.
STREAMING_ENCODER: dict[str, Any] = {"att_context_size": [70, 1], "att_context_style": "chunked_limited",
                                     "conv_context_size": "causal", "causal_downsampling": True,
                                     "conv_norm_type": "layer_norm"}


def _encoder(features: int, size: dict[str, int]) -> dict[str, Any]:
    return {
        "_target_": "nemo.collections.asr.modules.ConformerEncoder", "feat_in": features, "feat_out": -1,
        "n_layers": size["n_layers"], "d_model": size["d_model"], "subsampling": "dw_striding",
        "subsampling_factor": 8, "subsampling_conv_channels": size["subsampling_conv_channels"],
        "ff_expansion_factor": 2, "self_attention_model": "rel_pos", "n_heads": size["n_heads"],
        "att_context_size": [-1, -1], "xscaling": True, "untie_biases": True, "pos_emb_max_len": 5000,
        "conv_kernel_size": 9, "conv_norm_type": "batch_norm", "dropout": 0.1, "dropout_pre_encoder": 0.1,
        "dropout_emb": 0.0, "dropout_att": 0.1,
    }


def _config(family: str, tokenizer_dir: Path, size: str = "tiny", streaming: bool = False) -> dict[str, Any]:
    features = 64
    dims = SIZES[size]
    hidden = dims["hidden"]
    cfg: dict[str, Any] = {
        "sample_rate": SAMPLE_RATE,
        "tokenizer": {"dir": str(tokenizer_dir), "type": "bpe"},
        "preprocessor": {
            "_target_": "nemo.collections.asr.modules.AudioToMelSpectrogramPreprocessor", "sample_rate": SAMPLE_RATE,
            "normalize": "per_feature", "window_size": 0.025, "window_stride": 0.01, "window": "hann",
            "features": features, "n_fft": 512, "frame_splicing": 1, "dither": 0.00001, "pad_to": 0,
        },
        "spec_augment": {"_target_": "nemo.collections.asr.modules.SpectrogramAugmentation", "freq_masks": 2,
                         "time_masks": 2, "freq_width": 15, "time_width": 0.05},
        "encoder": _encoder(features, dims),
        "train_ds": None, "validation_ds": None, "test_ds": None,
        "optim": {"name": "adamw", "lr": 1e-3},
    }
    if streaming:
        # Features of the audio so far must not depend on audio still to come: no per-utterance normalization.
        cfg["preprocessor"]["normalize"] = "NA"
        cfg["encoder"].update(STREAMING_ENCODER)
    if family == "ctc_bpe":
        cfg["decoder"] = {"_target_": "nemo.collections.asr.modules.ConvASRDecoder", "feat_in": dims["d_model"],
                          "num_classes": -1, "vocabulary": []}
        return cfg
    tdt = family in ("hybrid_tdt_ctc", "tdt")
    cfg["model_defaults"] = {"enc_hidden": dims["d_model"], "pred_hidden": hidden, "joint_hidden": hidden}
    cfg["decoder"] = {"_target_": "nemo.collections.asr.modules.RNNTDecoder", "normalization_mode": None,
                      "random_state_sampling": False, "blank_as_pad": True,
                      "prednet": {"pred_hidden": hidden, "pred_rnn_layers": 1, "t_max": None, "dropout": 0.1}}
    cfg["joint"] = {"_target_": "nemo.collections.asr.modules.RNNTJoint", "log_softmax": None,
                    "preserve_memory": False, "fuse_loss_wer": False, "fused_batch_size": 4,
                    "jointnet": {"joint_hidden": hidden, "activation": "relu", "dropout": 0.1},
                    "num_extra_outputs": len(_TDT_DURATIONS) if tdt else 0}
    cfg["decoding"] = {"strategy": "greedy_batch", "greedy": {"max_symbols": 10},
                       "beam": {"beam_size": 2, "return_best_hypothesis": False, "score_norm": True}}
    cfg["loss"] = {"loss_name": "default"}
    if tdt:
        cfg["model_defaults"]["tdt_durations"] = _TDT_DURATIONS
        cfg["model_defaults"]["num_tdt_durations"] = len(_TDT_DURATIONS)
        cfg["decoding"].update({"model_type": "tdt", "durations": _TDT_DURATIONS})
        cfg["loss"] = {"loss_name": "tdt", "tdt_kwargs": {"fastemit_lambda": 0.0, "clamp": -1.0,
                                                          "durations": _TDT_DURATIONS, "sigma": 0.02, "omega": 0.1}}
    if family == "hybrid_tdt_ctc":
        cfg["aux_ctc"] = {"ctc_loss_weight": 0.3, "use_cer": False, "ctc_reduction": "mean_batch",
                          "decoder": {"_target_": "nemo.collections.asr.modules.ConvASRDecoder", "feat_in": None,
                                      "num_classes": -1, "vocabulary": []},
                          "decoding": {"strategy": "greedy"}}
    return cfg


_CLASSES = {"ctc_bpe": "EncDecCTCModelBPE", "hybrid_tdt_ctc": "EncDecHybridRNNTCTCBPEModel",
            "tdt": "EncDecRNNTBPEModel", "rnnt": "EncDecRNNTBPEModel"}


def _new_model(family: str, tokenizer: Path, size: str, trainer: Any = None, streaming: bool = False) -> Any:
    import nemo.collections.asr.models as models
    from omegaconf import OmegaConf

    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; choose from {', '.join(FAMILIES)}")
    cfg = OmegaConf.create(_config(family, tokenizer, size, streaming=streaming))
    return getattr(models, _CLASSES[family])(cfg=cfg, trainer=trainer)


def build_family_model(family: str, out_path: Path, tokenizer_dir: Path | None = None, seed: int = 0,
                       size: str = "tiny", streaming: bool = False) -> Path:
    """Make a small, untrained model of ``family`` (see :data:`FAMILIES`) and save it as ``out_path``;
    ``streaming``: with an encoder for cache-aware streaming (:data:`STREAMING_ENCODER`)."""
    import torch

    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; choose from {', '.join(FAMILIES)}")
    torch.manual_seed(seed)
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer = tokenizer_dir or train_tokenizer(Path(tmp) / "tokenizer")
        model = _new_model(family, tokenizer, size, streaming=streaming)
        model.eval()
        out_path.parent.mkdir(parents=True, exist_ok=True)
        model.save_to(str(out_path))
    return out_path


def _fit(model: Any, train: Sequence[Path], dev: Path, *, minutes: float, max_steps: int, batch_size: int,
         lr: float, max_duration: float, threads: int, num_workers: int | None = None,
         augmentor: dict[str, Any] | None = None, callbacks: Sequence[Any] = (),
         own_tdt_loss: bool | None = None) -> None:
    """Train ``model`` in place with Lightning (the GPU when there is one, else the CPU).

    ``num_workers``: data-loader processes (default 0 on a CPU, 4 on a GPU); ``augmentor``: NeMo's
    on-the-fly audio augmentation of the training set (e.g. ``{"white_noise": {"prob": 0.5,
    "min_level": -90, "max_level": -46}}``); ``callbacks``: more Lightning callbacks;
    ``own_tdt_loss``: the toolkit's TDT loss (:mod:`jupyter_speechcustom.asr.tdt_loss`) instead of
    NeMo's CUDA one (default: only on a CPU, where NeMo's does not run)."""
    import lightning.pytorch as pl
    import torch
    from omegaconf import OmegaConf

    from jupyter_speechcustom.asr.tdt_loss import use_cpu_tdt_loss

    torch.set_num_threads(threads)
    gpu = torch.cuda.is_available()
    workers = num_workers if num_workers is not None else (4 if gpu else 0)
    ds = {"sample_rate": SAMPLE_RATE, "use_lhotse": False, "num_workers": workers, "pin_memory": gpu,
          "trim_silence": False, "max_duration": max_duration, "min_duration": 0.3}
    trainer = pl.Trainer(accelerator="gpu" if gpu else "cpu", devices=1, precision=32, max_steps=max_steps,
                         max_time=timedelta(minutes=minutes), val_check_interval=min(250, max_steps),
                         check_val_every_n_epoch=None, logger=False, enable_checkpointing=False,
                         log_every_n_steps=25, gradient_clip_val=1.0, enable_progress_bar=False,
                         num_sanity_val_steps=0, callbacks=list(callbacks))
    model.set_trainer(trainer)
    model.setup_training_data(OmegaConf.create({**ds, "manifest_filepath": ",".join(str(p) for p in train),
                                                "batch_size": batch_size, "shuffle": True,
                                                **({"augmentor": augmentor} if augmentor else {})}))
    model.setup_validation_data(OmegaConf.create({**ds, "manifest_filepath": str(dev), "batch_size": batch_size,
                                                  "shuffle": False}))
    model.setup_optimization(OmegaConf.create({
        "name": "adamw", "lr": lr, "weight_decay": 1e-3, "betas": [0.9, 0.98],
        "sched": {"name": "CosineAnnealing", "warmup_steps": min(200, max_steps // 10), "min_lr": lr / 25,
                  "max_steps": max_steps}}))
    if own_tdt_loss or (own_tdt_loss is None and not gpu):
        use_cpu_tdt_loss(model)
    model.train()
    trainer.fit(model)
    model.eval()


def train_family_model(out_path: Path, tokenizer: Path, train: Sequence[Path], dev: Path, *, minutes: float,
                       max_steps: int, batch_size: int = 16, lr: float = 2e-3, init_from: Path | None = None,
                       max_duration: float = 8.0, threads: int = 2, seed: int = 0, size: str = "small",
                       num_workers: int | None = None, augmentor: dict[str, Any] | None = None,
                       callbacks: Sequence[Any] = (), own_tdt_loss: bool | None = None) -> Path:
    """Train a hybrid TDT + CTC model (both heads at once) on ``train`` manifests; save it as
    ``out_path``, also when the time limit stops the training. ``init_from`` continues from an
    earlier run's weights with a fresh schedule; ``num_workers``, ``augmentor``, ``callbacks`` and
    ``own_tdt_loss`` are :func:`_fit`'s. Models of the other families come from it with
    :func:`derive_family_model`."""
    import torch
    from nemo.collections.asr.models import ASRModel

    torch.manual_seed(seed)
    model = _new_model("hybrid_tdt_ctc", tokenizer, size)
    if init_from is not None:
        model.load_state_dict(ASRModel.restore_from(str(init_from), map_location="cpu").state_dict())
    _fit(model, train, dev, minutes=minutes, max_steps=max_steps, batch_size=batch_size, lr=lr,
         max_duration=max_duration, threads=threads, num_workers=num_workers, augmentor=augmentor,
         callbacks=callbacks, own_tdt_loss=own_tdt_loss)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    model.save_to(str(out_path))
    return out_path


def derive_family_model(hybrid: Path, family: str, out_path: Path) -> Path:
    """A model of another family made from a hybrid's weights, with NeMo's own classes: ``ctc_bpe``
    takes the encoder and the CTC head, ``tdt`` the encoder and the TDT head, ``rnnt`` the encoder,
    the prediction network and the joint without its duration outputs (a TDT joint read as an
    RNN-T one: :func:`train_rnnt_head` adapts it)."""
    from nemo.collections.asr.models import ASRModel

    source = ASRModel.restore_from(str(hybrid), map_location="cpu")
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer = Path(tmp) / "tokenizer"
        tokenizer.mkdir()
        with tarfile.open(hybrid) as archive:  # a .nemo is a tar: take the tokenizer's files as they are
            for member in archive.getmembers():
                for name in ("tokenizer.model", "vocab.txt", "tokenizer.vocab"):
                    if member.isfile() and member.name.endswith(name):
                        source_file = archive.extractfile(member)
                        assert source_file is not None
                        (tokenizer / name).write_bytes(source_file.read())
        model = _new_model(family, tokenizer, _size_of(source))
        _load_derived(model, source.state_dict(), family)
        out_path.parent.mkdir(parents=True, exist_ok=True)
        model.save_to(str(out_path))  # while the tokenizer files exist
    return out_path


def _size_of(model: Any) -> str:
    encoder = model.cfg.encoder
    for name, dims in SIZES.items():
        if (encoder.d_model, encoder.n_layers) == (dims["d_model"], dims["n_layers"]):
            return name
    raise ValueError(f"not a model this module made (d_model {encoder.d_model}, {encoder.n_layers} layers)")


def _load_derived(model: Any, state: dict[str, Any], family: str) -> None:
    if family == "ctc_bpe":
        state = {**{k: v for k, v in state.items() if k.startswith(("preprocessor.", "encoder."))},
                 **{"decoder." + k[len("ctc_decoder."):]: v for k, v in state.items() if k.startswith("ctc_decoder.")}}
    elif family in ("tdt", "rnnt"):
        state = {k: v for k, v in state.items() if not k.startswith("ctc_decoder.")}
        if family == "rnnt":  # drop the duration outputs of the joint's last layer
            extra = len(_TDT_DURATIONS)
            for key in [k for k in state if k.startswith("joint.joint_net.") and k.endswith((".weight", ".bias"))]:
                if state[key].shape[0] == model.state_dict()[key].shape[0] + extra:
                    state[key] = state[key][:-extra].clone()
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or [k for k in missing if not k.startswith("preprocessor.")]:
        raise RuntimeError(f"weights did not fit the {family} model: missing {missing}, unexpected {unexpected}")
    model.eval()


def train_rnnt_head(model_path: Path, out_path: Path, train: Sequence[Path], dev: Path, *, minutes: float,
                    max_steps: int, batch_size: int = 16, lr: float = 1e-3, threads: int = 2) -> Path:
    """Fine-tune a derived RNN-T model's prediction network and joint with the encoder frozen."""
    from nemo.collections.asr.models import ASRModel

    model = ASRModel.restore_from(str(model_path), map_location="cpu")
    model.encoder.freeze()
    _fit(model, train, dev, minutes=minutes, max_steps=max_steps, batch_size=batch_size, lr=lr,
         max_duration=8.0, threads=threads)
    model.save_to(str(out_path))
    return out_path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for one .nemo per family")
    parser.add_argument("--family", choices=FAMILIES, action="append", help="only these families")
    parser.add_argument("--train", type=Path, action="append",
                        help="train on this NeMo manifest (repeatable), then derive the other families")
    parser.add_argument("--dev", type=Path, help="validation manifest for --train")
    parser.add_argument("--minutes", type=float, default=60.0, help="training time limit")
    parser.add_argument("--max-steps", type=int, default=4000)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--workers", type=int, help="data-loader processes (default: 0 on a CPU, 4 on a GPU)")
    parser.add_argument("--augment", action="store_true",
                        help="NeMo's on-the-fly augmentation of the training audio: white noise and gain")
    parser.add_argument("--lr", type=float, default=2e-3, help="peak learning rate of --train")
    parser.add_argument("--init-from", type=Path,
                        help="continue --train from this hybrid's weights (made by an earlier --train) with a fresh "
                             "schedule")
    parser.add_argument("--streaming", action="store_true",
                        help="untrained models with an encoder for cache-aware streaming (not with --train)")
    args = parser.parse_args(argv)
    if args.train and not args.dev:
        parser.error("--train needs --dev")
    if args.train and args.streaming:
        parser.error("--streaming builds untrained models: leave out --train")
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer = train_tokenizer(Path(tmp) / "tokenizer", vocab_size=256 if args.train else 128,
                                    text=general_text_path() if args.train else None)
        if args.train:
            hybrid = train_family_model(args.out / "hybrid_tdt_ctc.nemo", tokenizer, args.train, args.dev,
                                        minutes=args.minutes, max_steps=args.max_steps, batch_size=args.batch_size,
                                        lr=args.lr, init_from=args.init_from, num_workers=args.workers,
                                        augmentor=AUGMENTOR if args.augment else None)
        for family in args.family or FAMILIES:
            if args.train and family == "hybrid_tdt_ctc":
                path = hybrid
            elif args.train:
                path = derive_family_model(hybrid, family, args.out / f"{family}.nemo")
                if family == "rnnt":
                    path = train_rnnt_head(path, path, args.train, args.dev, minutes=args.minutes / 4,
                                           max_steps=args.max_steps // 4, batch_size=args.batch_size)
            else:
                path = build_family_model(family, args.out / f"{family}.nemo", tokenizer, streaming=args.streaming)
            print(f"{family}: {path} ({path.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
