"""Small models of every NeMo family this toolkit customizes, built offline with NeMo's own classes.

Real users bring FastConformer models with SentencePiece BPE tokenizers: CTC
(``EncDecCTCModelBPE``), hybrid TDT + CTC (``EncDecHybridRNNTCTCBPEModel``, Parakeet-style) and
transducers (``EncDecRNNTBPEModel`` with a TDT or an RNNT loss). This module makes a small member
of each from NeMo's configs, scaled down, with a BPE tokenizer trained on the demo's text, so every
code path runs without a model hub::

    python -m jupyter_speechcustom.demo.family_models --out DIR   # one .nemo per family

The models are untrained unless trained further: they exercise the machinery (loading, the
acoustic pass, decoding with LM fusion and boosting, timings), not recognition quality.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from jupyter_speechcustom.constants import SAMPLE_RATE
from jupyter_speechcustom.demo import corpus_path, general_text_path

__all__ = ["FAMILIES", "build_family_model", "train_tokenizer"]

#: The families, by the name this module builds them under.
FAMILIES = ("ctc_bpe", "hybrid_tdt_ctc", "tdt", "rnnt")

_TDT_DURATIONS = [0, 1, 2, 3, 4]


def train_tokenizer(out_dir: Path, vocab_size: int = 128) -> Path:
    """A SentencePiece BPE tokenizer (NeMo's ``create_spt_model``) on the demo's general and domain text."""
    from nemo.collections.common.tokenizers.sentencepiece_tokenizer import create_spt_model

    out_dir.mkdir(parents=True, exist_ok=True)
    text = out_dir / "text.txt"
    lines = general_text_path().read_text(encoding="utf-8").splitlines()[:4000]
    lines += corpus_path().read_text(encoding="utf-8").lower().splitlines()
    text.write_text("\n".join(lines) + "\n", encoding="utf-8")
    create_spt_model(str(text), vocab_size, sample_size=-1, do_lower_case=True, tokenizer_type="bpe",
                     output_dir=str(out_dir))
    text.unlink()
    return out_dir


def _encoder(features: int) -> dict[str, Any]:
    return {
        "_target_": "nemo.collections.asr.modules.ConformerEncoder", "feat_in": features, "feat_out": -1,
        "n_layers": 2, "d_model": 64, "subsampling": "dw_striding", "subsampling_factor": 8,
        "subsampling_conv_channels": 64, "ff_expansion_factor": 2, "self_attention_model": "rel_pos",
        "n_heads": 2, "att_context_size": [-1, -1], "xscaling": True, "untie_biases": True, "pos_emb_max_len": 5000,
        "conv_kernel_size": 9, "conv_norm_type": "batch_norm", "dropout": 0.1, "dropout_pre_encoder": 0.1,
        "dropout_emb": 0.0, "dropout_att": 0.1,
    }


def _config(family: str, tokenizer_dir: Path) -> dict[str, Any]:
    features = 64
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
        "encoder": _encoder(features),
        "train_ds": None, "validation_ds": None, "test_ds": None,
        "optim": {"name": "adamw", "lr": 1e-3},
    }
    if family == "ctc_bpe":
        cfg["decoder"] = {"_target_": "nemo.collections.asr.modules.ConvASRDecoder", "feat_in": 64,
                          "num_classes": -1, "vocabulary": []}
        return cfg
    tdt = family in ("hybrid_tdt_ctc", "tdt")
    cfg["model_defaults"] = {"enc_hidden": 64, "pred_hidden": 64, "joint_hidden": 64}
    cfg["decoder"] = {"_target_": "nemo.collections.asr.modules.RNNTDecoder", "normalization_mode": None,
                      "random_state_sampling": False, "blank_as_pad": True,
                      "prednet": {"pred_hidden": 64, "pred_rnn_layers": 1, "t_max": None, "dropout": 0.1}}
    cfg["joint"] = {"_target_": "nemo.collections.asr.modules.RNNTJoint", "log_softmax": None,
                    "preserve_memory": False, "fuse_loss_wer": False, "fused_batch_size": 4,
                    "jointnet": {"joint_hidden": 64, "activation": "relu", "dropout": 0.1},
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


def build_family_model(family: str, out_path: Path, tokenizer_dir: Path | None = None, seed: int = 0) -> Path:
    """Make a small, untrained model of ``family`` (see :data:`FAMILIES`) and save it as ``out_path``."""
    import torch
    from nemo.collections.asr.models import EncDecCTCModelBPE, EncDecHybridRNNTCTCBPEModel, EncDecRNNTBPEModel
    from omegaconf import OmegaConf

    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; choose from {', '.join(FAMILIES)}")
    torch.manual_seed(seed)
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer = tokenizer_dir or train_tokenizer(Path(tmp) / "tokenizer")
        cfg = OmegaConf.create(_config(family, tokenizer))
        cls = {"ctc_bpe": EncDecCTCModelBPE, "hybrid_tdt_ctc": EncDecHybridRNNTCTCBPEModel,
               "tdt": EncDecRNNTBPEModel, "rnnt": EncDecRNNTBPEModel}[family]
        model = cls(cfg=cfg)
        model.eval()
        out_path.parent.mkdir(parents=True, exist_ok=True)
        model.save_to(str(out_path))
    return out_path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for one .nemo per family")
    parser.add_argument("--family", choices=FAMILIES, action="append", help="only these families")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer = train_tokenizer(Path(tmp) / "tokenizer")
        for family in args.family or FAMILIES:
            path = build_family_model(family, args.out / f"{family}.nemo", tokenizer)
            print(f"{family}: {path} ({path.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
