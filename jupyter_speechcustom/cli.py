"""``speechcustom``: the toolkit's services from the command line."""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from jupyter_speechcustom.constants import (
    CONFIDENCE_FLOOR,
    CONFIDENCE_KEEP_SHARE,
    CONFIDENCE_THRESHOLD,
    LM_ORDER_RANGE,
    MAX_NUMBER_VARIANTS,
    NUMBER_VARIANTS,
)
from jupyter_speechcustom.errors import SpeechCustomError


def _whole(lowest: int, highest: int | None = None) -> Callable[[str], int]:
    """An argparse type: a whole number in ``[lowest, highest]``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < lowest or (highest is not None and value > highest):
            where = f"from {lowest} to {highest}" if highest is not None else f"{lowest} or more"
            raise argparse.ArgumentTypeError(f"{value} is out of range: give a whole number {where}")
        return value

    return parse


def _number(lowest: float | None = None, highest: float | None = None, *, above: bool = False,
            below: bool = False) -> Callable[[str], float]:
    """An argparse type: a finite number in a range (``above``/``below``: the bound is excluded)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
        too_low = lowest is not None and (value <= lowest if above else value < lowest)
        too_high = highest is not None and (value >= highest if below else value > highest)
        if too_low or too_high:
            parts = []
            if lowest is not None:
                parts.append(f"{'above' if above else 'at least'} {lowest:g}")
            if highest is not None:
                parts.append(f"{'below' if below else 'at most'} {highest:g}")
            raise argparse.ArgumentTypeError(f"{value:g} is out of range: give a number {' and '.join(parts)}")
        return value

    return parse


def _cmd_setup(args: argparse.Namespace) -> int:
    from jupyter_speechcustom.lm.builders import install_kenlm_builders

    folder = install_kenlm_builders(force=args.force)
    print(f"KenLM builders ready in {folder}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from jupyter_speechcustom.services.chain import format_table, run_chain

    result = run_chain(args.base, Path(args.out) if args.out else None, epochs=args.epochs)
    print()
    print(format_table(result.systems))
    print(f"\nmodels in {result.out_dir}; report: {result.report}")
    return 0


def _cmd_lm_build(args: argparse.Namespace) -> int:
    from jupyter_speechcustom.asr.models import load_base_model
    from jupyter_speechcustom.lm.language_model import build_language_model, check_output_folder

    check_output_folder(args.out, args.overwrite, flag="--overwrite")  # before any work
    base = load_base_model(args.base)
    lm = build_language_model(
        base, [Path(c) for c in args.corpus], args.out, words=Path(args.words) if args.words else (),
        order=args.order, general_text=args.general_text, general_weight=args.general_weight,
        overwrite=args.overwrite, word_model=args.word_model, number_variants=args.number_variants,
    )
    print(f"built a {lm.order}-gram custom language model in {lm.path} "
          f"({sum(c['sentences'] for c in lm.corpora)} sentences, {len(lm.words)} custom words, "
          f"{lm.build_seconds:.1f} s)")
    return 0


def _cmd_lm_tune(args: argparse.Namespace) -> int:
    from jupyter_speechcustom.asr.models import load_base_model
    from jupyter_speechcustom.errors import InvalidOptionError
    from jupyter_speechcustom.io.manifest import read_utterances
    from jupyter_speechcustom.lm.language_model import CustomLanguageModel
    from jupyter_speechcustom.services.compare import tune_language_model
    from jupyter_speechcustom.services.management import language_model_path

    lm = CustomLanguageModel.load(language_model_path(args.lm, args.workspace))
    dev = None
    if args.dev:
        dev = read_utterances(args.dev, require_text=True)  # files, or segments of them (offset, duration)
    base = load_base_model(args.base)
    lm.check_base(base)
    tuned = tune_language_model(base, lm, dev, label=args.dev)
    if tuned is None or tuned.tuning is None:
        raise InvalidOptionError(f"no dev set to tune on: base model {args.base!r} has none of its own, so pass "
                                 "--dev MANIFEST (transcribed audio of the LM's domain)")
    t = tuned.tuning
    w = t["weights"]
    head = f", {w['head']} head" if w.get("head") else ""
    kept = (" The dev set could not tell better weights from the defaults, so the defaults are kept; more "
            "transcribed utterances can tell finer differences." if t.get("kept_defaults") else "")
    print(f"tuned on {t['dev_set']} ({t['utterances']} utterances): LM alpha {w['lm_alpha']:.2f}, "
          f"beta {w['lm_beta']:.1f}, boost {w['boost_alpha']:.1f}{head}; dev WER {t['dev_wer']:.1%}. "
          f"Saved in {tuned.path}: recognition with this LM starts from these weights.{kept}")
    return 0


def _cmd_am_train(args: argparse.Namespace) -> int:
    from jupyter_speechcustom.am.acoustic_model import train_acoustic_model
    from jupyter_speechcustom.asr.models import load_base_model
    from jupyter_speechcustom.io.files import check_output_path
    from jupyter_speechcustom.services.management import language_model_path

    check_output_path(args.out, "--out model")  # before the base model is loaded
    lm = language_model_path(args.lm, args.workspace) if args.lm else None

    trainer_kwargs = {k: v for k, v in (("accelerator", args.accelerator), ("devices", args.devices),
                                        ("num_nodes", args.num_nodes), ("strategy", args.strategy)) if v}
    general = None if args.general == "none" else args.general
    result = train_acoustic_model(
        load_base_model(args.base), args.audio, args.out, mode=args.mode, lm=lm, dev=args.dev,
        general=general, epochs=args.epochs, learning_rate=args.lr, confidence_threshold=args.threshold,
        iterations=args.iterations, freeze_encoder=args.freeze_encoder, trainer_kwargs=trainer_kwargs,
        progress=(lambda fraction, message: print(f"[{fraction:4.0%}] {message}", flush=True)) if args.verbose else None,
    )
    if result.global_rank != 0:  # another process of a multi-process run: rank 0 saves and reports
        return 0
    s = result.summary()
    processes = f" on {result.world_size} processes" if result.world_size > 1 else ""
    print(f"saved a custom acoustic model ({args.mode}) to {result.path}; "
          f"{s['train_utterances']} domain + {s['general_utterances']} general utterances, {s['epochs']} epochs"
          f"{processes}")
    if result.general_wer_before is not None and result.general_wer_after is not None:
        print(f"forgetting guard: general-set WER {result.general_wer_before:.1%} -> {result.general_wer_after:.1%}")
    if result.dev_wer_before is not None and result.dev_wer_after is not None:
        print(f"dev WER (greedy): {result.dev_wer_before:.1%} -> {result.dev_wer_after:.1%}")
    if result.stop_message:
        print(f"training: {result.stop_message}")
    if result.recommended == "base":
        print(f"recommended: the base model, not this one: {result.recommended_reason}")
    return 0


def _cmd_transcribe(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from jupyter_speechcustom.services.management import language_model_path
    from jupyter_speechcustom.services.recognition import Recognizer
    from jupyter_speechcustom.services.transcription import (
        check_output,
        expand_inputs,
        transcribe_inputs,
        write_transcripts,
    )
    from jupyter_speechcustom.text.words import read_custom_words

    # Before any audio is decoded: the output, the inputs (files, folders, manifests).
    check_output(args.out, args.format)
    items = expand_inputs([*args.inputs, *([args.manifest] if args.manifest else [])])
    check_output(args.out, args.format, len(items))
    words = read_custom_words(args.words) if args.words else None
    lm = language_model_path(args.lm, args.workspace) if args.lm else None
    recognizer = Recognizer(args.base, lm=lm, am=args.am, words=words, speech_detection=args.speech_detection)
    # The weights tuned for the LM (else the defaults), with those given here instead.
    given = {k: v for k, v in (("lm_alpha", args.lm_alpha), ("lm_beta", args.lm_beta), ("boost_alpha", args.boost_alpha),
                               ("beam_size", args.beam_size), ("head", args.head)) if v is not None}
    recognizer.decoder.weights = replace(recognizer.decoder.weights, **given)
    if recognizer.lm is not None:  # where the weights come from, on stderr: stdout may be the transcripts
        from jupyter_speechcustom.asr.decoding import weights_provenance

        changed = f"; given here: {', '.join(f'{k} {v}' for k, v in given.items())}" if given else ""
        print(f"decoding with the custom LM's {weights_provenance(recognizer.lm, recognizer.acoustic_model)}{changed}",
              file=sys.stderr)
    if args.progress or sys.stderr.isatty():  # a progress bar on stderr: stdout may be the transcripts
        from tqdm import tqdm

        with tqdm(total=len(items), unit="file", desc="transcribing", file=sys.stderr) as bar:
            transcripts = transcribe_inputs(
                recognizer, items, progress=lambda fraction, message: bar.update(round(fraction * len(items)) - bar.n))
    else:
        transcripts = transcribe_inputs(recognizer, items)
    written = write_transcripts(items, transcripts, args.format, args.out, model=recognizer.name, stdout=sys.stdout)
    if written:
        where = written[0] if len(written) == 1 else f"{len(written)} files in {args.out}"
        print(f"wrote {len(items)} transcripts ({recognizer.name}) to {where}")
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from jupyter_speechcustom.evaluation.metrics import evaluate
    from jupyter_speechcustom.io.manifest import entry_key, read_manifest

    # One utterance per manifest line: a file's segments (or a file listed twice) pair with the
    # hypotheses for the same file and segment, in order.
    refs = read_manifest(args.manifest, require_text=True)
    hyps: defaultdict[tuple[Any, ...], deque[str]] = defaultdict(deque)
    for e in read_manifest(args.hyp):
        hyps[entry_key(e)].append(str(e.get("pred_text") or ""))
    pairs, missing = [], []
    for ref in refs:
        queue = hyps.get(entry_key(ref))
        if queue:
            pairs.append((str(ref["text"]), queue.popleft()))
        else:
            missing.append(ref["audio_filepath"])
    if missing:
        msg = (f"{len(missing)} manifest entries have no hypothesis in {args.hyp}, e.g. {missing[0]}: "
               "transcribe the same manifest with `speechcustom transcribe`")
        raise SpeechCustomError(msg)
    result = evaluate([r for r, _ in pairs], [h for _, h in pairs])
    if args.json:
        print(json.dumps(result.summary()))
    else:
        print(f"WER {result.wer:.2%}  CER {result.cer:.2%}  S={result.substitutions} D={result.deletions} "
              f"I={result.insertions}  over {result.reference_words} words in {len(pairs)} utterances")
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    from jupyter_speechcustom.server.app import serve

    limits = {"max_recognize_bytes": args.max_recognize_mb and args.max_recognize_mb * 1024**2,
              "max_upload_bytes": args.max_upload_mb and args.max_upload_mb * 1024**2,
              "max_recognize_seconds": args.max_recognize_minutes and args.max_recognize_minutes * 60,
              "max_stream_message_bytes": args.max_message_mb and args.max_message_mb * 1024**2}
    argv = [f"--SpeechCustomService.{name}={int(value)}" for name, value in limits.items() if value]
    if args.allow_root:
        argv.append("--ServerApp.allow_root=True")
    return serve(port=args.port, ip=args.ip, workspace=args.workspace, token=args.token, extra_argv=argv)


def _cmd_keys(args: argparse.Namespace) -> int:
    from jupyter_speechcustom.services import management as m
    from jupyter_speechcustom.store.workspace import Store

    folder = Path(args.workspace).expanduser() if args.workspace else m.default_workspace_path()
    if args.keys_command != "create" and not (folder / "index.sqlite").is_file():
        raise SpeechCustomError(f"no workspace at {folder}: give --workspace DIR (the folder `speechcustom serve` uses)")
    keys = Store(folder).api_keys
    if args.keys_command == "create":
        key, secret = keys.create(args.name)
        print(f"API key {key.id} ({key.name}) for the speech service of workspace {folder}:")
        print(secret)
        print("It is shown only now: keep it somewhere safe. Clients send it as IAMAuthenticator(KEY, "
              "url=SERVER + '/speechcustom'), Basic apikey:KEY, or Authorization: Bearer KEY.", file=sys.stderr)
    elif args.keys_command == "list":
        listed = keys.list()
        if args.json:
            print(json.dumps([{"id": k.id, "name": k.name, "created": k.created, "revoked": k.revoked}
                              for k in listed]))
        elif not listed:
            print(f"no API keys in {folder}: create one with `speechcustom keys create NAME`")
        for k in listed if not args.json else ():
            print(f"{k.id}  {k.name[:40]:40}  created {k.created[:19]}  "
                  f"{'revoked ' + k.revoked[:19] if k.revoked else 'active'}")
    else:
        key = keys.revoke(args.key)
        print(f"revoked API key {key.id} ({key.name}); its access tokens no longer work")
    return 0


def _add_audio(ws: Any, args: argparse.Namespace) -> list[Any]:
    """``workspace add audio``: a name already stored is refused unless --on-duplicate says what to do."""
    from jupyter_speechcustom.store.workspace import DuplicateNameError

    try:
        return list(ws.add_audio_files(args.files, transcript=args.transcript, role=args.role,
                                       on_duplicate=args.on_duplicate or "error"))
    except DuplicateNameError as exc:
        shown = ", ".join(exc.names[:10]) + (f" and {len(exc.names) - 10} more" if len(exc.names) > 10 else "")
        raise DuplicateNameError(f"already in the workspace under the same name: {shown}; nothing was added. Add "
                                 "--on-duplicate replace (replace the stored files), keep (keep both, the new ones "
                                 "numbered) or skip (leave them out)", exc.names) from None


def _cmd_workspace(args: argparse.Namespace) -> int:
    from jupyter_speechcustom.services import management as m
    from jupyter_speechcustom.services.workspace import Workspace

    folder = Path(args.workspace).expanduser() if args.workspace else m.default_workspace_path()
    if args.ws_command != "add" and not (folder / "index.sqlite").is_file():
        raise SpeechCustomError(f"no workspace at {folder}: give --workspace DIR (the folder the Studio or "
                                "`speechcustom serve` uses), or add files with `speechcustom workspace add`")
    ws = Workspace(folder)
    # OOV words of corpora and word lists: those this base model does not know, as in the Studio.
    known = m.known_words_of(args.base) if args.ws_command in ("list", "show", "add") else None
    out: Any
    if args.ws_command == "list":
        out = m.list_items(ws, args.kind, known=known)
        text = m.format_items(out) or f"nothing in the workspace {ws.path} yet"
    elif args.ws_command == "show":
        out = [m.item(ws, rec, known=known) for rec in m.find(ws, args.name, args.kind)]
        text = "\n\n".join(m.format_item(entry) for entry in out)
    elif args.ws_command == "rename":
        records = m.rename(ws, args.kind, args.old, args.new)
        out = [m.item(ws, rec) for rec in records]
        text = f"renamed {m.KINDS[records[0].kind]} {args.old!r} to {records[0].name!r}" + (
            f" ({len(records)} versions)" if len(records) > 1 else "")
    elif args.ws_command == "delete":
        deletion = m.delete(ws, args.kind, args.name, force=args.force)
        out = deletion.to_dict()
        text = "deleted " + ", ".join(f"{r.label} ({r.id})" for r in deletion.deleted) + "".join(
            f"\nkept {r.label} ({r.id}), marked as made from a deleted item" for r in deletion.kept_dependants)
    elif args.ws_command == "history":
        out = m.history(ws, args.name, args.kind)
        text = m.format_history(out) or f"no history recorded for {args.name!r}"
    elif args.ws_command == "set-transcript":
        rec = m.set_transcript(ws, args.audio, args.text)
        out = m.item(ws, rec)
        text = f"{rec.name}: " + (f"transcript set to {rec.info['transcript']!r}" if rec.info.get("transcript")
                                  else "transcript removed")
    elif args.ws_command == "add":
        if args.kind != "audio" and (args.role or args.on_duplicate):
            raise SpeechCustomError("--role and --on-duplicate go with audio: `workspace add audio FILE...`")
        records = (_add_audio(ws, args) if args.kind == "audio"
                   else m.add_files(ws, args.kind, args.files, transcript=args.transcript))
        out = [m.item(ws, rec, known=known) for rec in records]
        text = "\n".join(f"added {m.KINDS[rec.kind]} {rec.name} ({rec.id}): {entry['summary']}"
                         for rec, entry in zip(records, out))
    elif args.ws_command == "set-role":
        records = ws.set_role([rec.id for ref in args.audio for rec in m.find(ws, ref, "audio")], args.role)
        out = [m.item(ws, rec) for rec in records]
        text = "\n".join(f"{rec.name} ({rec.id}): role {args.role}" for rec in records)
    elif args.export_what == "result":
        path = m.export_result(ws, args.name, args.out, args.format, overwrite=args.overwrite)
        out, text = {"path": str(path)}, f"wrote {path}"
    else:
        path = m.export_bundle(ws, args.name, args.out, kind=args.kind, results=args.result or (),
                               overwrite=args.overwrite)
        out, text = {"path": str(path)}, f"wrote the bundle {path}"
    print(json.dumps(out, indent=2, ensure_ascii=False, default=str) if args.json else text)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="speechcustom", description="Customize NeMo speech recognition, offline.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("setup", help="compile the KenLM builders (lmplz, build_binary) into the user cache")
    p.add_argument("--force", action="store_true", help="rebuild even if already installed")
    p.set_defaults(func=_cmd_setup)

    p = sub.add_parser("demo", help="run the customization chain on the bundled demo and print a WER table")
    p.add_argument("--out", help="folder for the models and report (default: a temporary folder)")
    p.add_argument("--epochs", type=_whole(1), default=8, help="fine-tuning epochs of the custom acoustic model")
    p.add_argument("--base", default="demo",
                   help="a base model whose profile has example data: 'demo' (hybrid TDT + CTC) or 'demo-char'")
    p.set_defaults(func=_cmd_demo)

    lm = sub.add_parser("lm", help="custom language models").add_subparsers(dest="lm_command", required=True)
    p = lm.add_parser("build", help="build a custom language model from corpora and custom words")
    p.add_argument("--base", required=True, help="'demo', a .nemo path or a NeMo pretrained name")
    p.add_argument("--corpus", action="append", default=[], help="a text file (repeatable)")
    p.add_argument("--words", help="custom words file (CSV word,sounds_like,display_as; JSON; or one per line)")
    p.add_argument("--out", required=True, help="folder to create")
    p.add_argument("--order", type=_whole(*LM_ORDER_RANGE),
                   help=f"n-gram order, {LM_ORDER_RANGE[0]}-{LM_ORDER_RANGE[1]} (default: chosen from the corpus size)")
    p.add_argument("--general-text", default="auto",
                   help="general sentences to mix in: 'auto' (default: the base model's own when known), "
                        "'base' (the base model's own, required), 'none', or a text file")
    p.add_argument("--general-weight", type=_number(0, 1, below=True), default=0.3,
                   help="share of general text in the mix, 0 up to (not including) 1")
    p.add_argument("--number-variants", type=_whole(0, MAX_NUMBER_VARIANTS), default=NUMBER_VARIANTS,
                   help="copies of each sentence with numbers, its number words drawn at random, so the LM learns "
                        f"where numbers go, not only the corpus's own (0-{MAX_NUMBER_VARIANTS}, default {NUMBER_VARIANTS})")
    p.add_argument("--overwrite", action="store_true",
                   help="replace a custom LM folder built here before (never a folder holding other files)")
    p.add_argument("--word-model", action="store_true",
                   help="also export a word-level ARPA and KenLM binary (words.arpa, words.binary)")
    p.set_defaults(func=_cmd_lm_build)
    p = lm.add_parser("tune", help="tune a custom LM's decoding weights on transcribed audio and save them with it")
    p.add_argument("lm", metavar="LM", help="the custom language model: its folder, or its name ('name vN', or an "
                                             "id) in the --workspace")
    p.add_argument("--workspace", help="workspace whose language models LM may name (default ~/speechcustom-workspace)")
    p.add_argument("--base", required=True, help="the base model it was built on")
    p.add_argument("--dev", help="NeMo manifest of transcribed audio of the LM's domain "
                                 "(default: the base model's own dev set, where it has one)")
    p.set_defaults(func=_cmd_lm_tune)

    am = sub.add_parser("am", help="custom acoustic models").add_subparsers(dest="am_command", required=True)
    p = am.add_parser("train", help="fine-tune the base model on your audio")
    p.add_argument("--base", required=True, help="'demo', a .nemo path or a NeMo pretrained name")
    p.add_argument("--audio", required=True, help="NeMo manifest; \"text\" may be absent except in supervised mode")
    p.add_argument("--mode", choices=["supervised", "lightly-supervised", "unsupervised"], default="supervised")
    p.add_argument("--lm", help="custom LM that labels the audio (lightly-supervised): its folder, or its name "
                                "('name vN', or an id) in the --workspace")
    p.add_argument("--workspace", help="workspace whose language models --lm may name (default ~/speechcustom-workspace)")
    p.add_argument("--out", required=True, help="the custom acoustic model to write (.nemo)")
    p.add_argument("--dev", help="transcribed dev manifest for early stopping (default: 10%% of the data)")
    p.add_argument("--general", default="auto", help="general manifest mixed in against forgetting ('auto', 'none')")
    p.add_argument("--epochs", type=_whole(1), default=10)
    p.add_argument("--lr", type=_number(0, 1, above=True), default=5e-4, help="learning rate (above 0, at most 1)")
    p.add_argument("--threshold", type=_number(0, 1), default=None,
                   help="keep pseudo-labels at or above this confidence, 0-1: the share of words that survive "
                   "re-decoding with a stronger LM, times the posterior against the model's median on the same "
                   f"audio (default: calibrated on the audio: {CONFIDENCE_THRESHOLD:g}, lowered to keep the most "
                   f"confident {100 * CONFIDENCE_KEEP_SHARE:.0f}%%, never below {CONFIDENCE_FLOOR:g})")
    p.add_argument("--iterations", type=_whole(1), default=1, help="re-label with the improved model and train again")
    p.add_argument("--freeze-encoder", action="store_true", help="train only the output layer")
    p.add_argument("--accelerator", help="Lightning accelerator, e.g. gpu (default cpu)")
    p.add_argument("--devices", type=_whole(1), help="devices per node: GPUs, or processes with --accelerator cpu")
    p.add_argument("--num-nodes", type=_whole(1), help="nodes for multi-node training (run the command on each)")
    p.add_argument("--strategy", help="Lightning strategy, e.g. ddp (one process per device)")
    p.set_defaults(func=_cmd_am_train)

    p = sub.add_parser("transcribe", help="transcribe audio files, folders or NeMo manifests")
    p.add_argument("--base", default="demo", help="'demo', a .nemo path or a NeMo pretrained name")
    p.add_argument("--lm", help="a custom language model (built on --base): its folder, or its name ('name vN', or "
                                "an id) in the --workspace")
    p.add_argument("--workspace", help="workspace whose language models --lm may name (default ~/speechcustom-workspace)")
    p.add_argument("--am", help="a custom acoustic model .nemo (fine-tuned from --base)")
    p.add_argument("--words", help="custom words file (default: the custom LM's)")
    p.add_argument("--lm-alpha", type=_number(0), help="custom LM weight, 0 or more (0 turns it off)")
    p.add_argument("--lm-beta", type=_number(), help="per-token bonus in LM decoding")
    p.add_argument("--boost-alpha", type=_number(0), help="phrase boosting weight, 0 or more (0 turns it off)")
    p.add_argument("--beam-size", type=_whole(1, 1024), help="beam size, 1-1024")
    p.add_argument("--head", choices=["transducer", "ctc"],
                   help="for a hybrid transducer + CTC model, the head that decodes (default: transducer)")
    p.add_argument("inputs", nargs="*", metavar="INPUT",
                   help="audio files, folders of recordings (searched recursively) or NeMo manifests (.json/.jsonl)")
    p.add_argument("--manifest", help="a NeMo manifest (JSON lines with audio_filepath; 'offset'/'duration' segments)")
    p.add_argument("--format", choices=["jsonl", "json", "txt", "srt", "vtt"], default="jsonl",
                   help="jsonl: one object per utterance (default); json: one document with word timings; "
                        "txt: one transcript per line; srt/vtt: subtitles (one file per input with a folder --out)")
    p.add_argument("--out", default="-", help="output file, a folder for srt/vtt, or '-' for stdout (default)")
    p.add_argument("--progress", action="store_true", help="show a progress bar on stderr even when it is not a terminal")
    p.add_argument("--no-speech-detection", dest="speech_detection", action="store_false",
                   help="decode all audio as it is: no empty transcript for audio without speech, and long "
                        "audio cut at fixed pauses rather than between utterances")
    p.set_defaults(func=_cmd_transcribe)

    p = sub.add_parser("evaluate", help="score HYP.jsonl against a manifest's transcripts")
    p.add_argument("--manifest", required=True)
    p.add_argument("--hyp", required=True)
    p.add_argument("--json", action="store_true", help="print one JSON object (WER as a fraction)")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("serve", help="serve the IBM Watson Speech to Text v1-compatible API (a Jupyter server)")
    p.add_argument("--port", type=_whole(1, 65535), default=8890, help="port (default 8890)")
    p.add_argument("--ip", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--workspace", help="workspace folder (default ~/speechcustom-workspace)")
    p.add_argument("--token", help="the token clients send (default: a random one, printed)")
    p.add_argument("--allow-root", action="store_true", help="let the server run as root")
    p.add_argument("--max-recognize-mb", type=_whole(1), help="largest audio body of one recognition request "
                                                               "(default 100 MB; larger is refused before it is read)")
    p.add_argument("--max-recognize-minutes", type=_whole(1), help="longest audio of one recognition request "
                                                                    "(default 120)")
    p.add_argument("--max-upload-mb", type=_whole(1), help="largest corpus or audio upload (default 200 MB)")
    p.add_argument("--max-message-mb", type=_whole(1), help="largest WebSocket audio message (default 4 MB)")
    p.set_defaults(func=_cmd_serve)

    p = sub.add_parser("keys", help="API keys of the speech service: create (shown once), list, revoke")
    keys_sub = p.add_subparsers(dest="keys_command", required=True)
    k = keys_sub.add_parser("create", help="create a key and print it (only this once)")
    k.add_argument("name", help="what the key is for, e.g. the client's name")
    k = keys_sub.add_parser("list", help="list the keys (never the keys themselves)")
    k.add_argument("--json", action="store_true", help="print JSON")
    k = keys_sub.add_parser("revoke", help="revoke a key: it and its access tokens stop working at once")
    k.add_argument("key", help="the key's id (key-...) or name")
    for k in keys_sub.choices.values():
        k.add_argument("--workspace", help="workspace folder (default ~/speechcustom-workspace, as serve's)")
    p.set_defaults(func=_cmd_keys)

    # speechcustom workspace ...: list, show, rename, delete, history, transcripts, export, add.
    kinds = "corpus, words, audio, lm, am or result"
    common = argparse.ArgumentParser(add_help=False)  # also accepted after the action
    common.add_argument("--workspace", default=argparse.SUPPRESS, help="workspace folder")
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print JSON for scripts")
    common.add_argument("--base", default=argparse.SUPPRESS, help="base model whose unknown words are counted as OOV")
    ws = sub.add_parser("workspace", help="list, rename, delete, version and export what a workspace holds")
    ws.add_argument("--workspace", help="workspace folder (default ~/speechcustom-workspace, as the service)")
    ws.add_argument("--json", action="store_true", help="print JSON for scripts")
    ws.add_argument("--base", default="demo", help="the base model whose vocabulary OOV words of corpora and word "
                                                   "lists are counted against (default: demo, as the Studio)")
    ws.set_defaults(func=_cmd_workspace)
    wsub = ws.add_subparsers(dest="ws_command", required=True)
    p = wsub.add_parser("list", parents=[common], help="list items, with what the Studio shows about them")
    p.add_argument("kind", nargs="?", help=kinds)
    for action, what in (("show", "an item's details, sources and dependants"), ("history", "an item's history")):
        p = wsub.add_parser(action, parents=[common], help=what)
        p.add_argument("name", help="a name (every version), 'name vN' or an id")
        p.add_argument("--kind", help=f"{kinds}, where the name is used by several kinds")
    p = wsub.add_parser("rename", parents=[common], help="rename an item (every version of it)")
    p.add_argument("kind", help=kinds)
    p.add_argument("old")
    p.add_argument("new")
    p = wsub.add_parser("delete", parents=[common], help="delete an item; refused if others depend on it")
    p.add_argument("kind", help=kinds)
    p.add_argument("name", help="a name (every version), 'name vN' or an id")
    p.add_argument("--force", action="store_true", help="delete even if others depend on it (they are kept, marked)")
    p = wsub.add_parser("set-transcript", parents=[common], help="set an audio item's transcript ('' removes it)")
    p.add_argument("audio", help="the audio item's name or id")
    p.add_argument("text")
    p = wsub.add_parser("add", parents=[common], help="add corpora, word lists or audio files (zip/tar of audio too)")
    p.add_argument("kind", choices=["corpus", "words", "audio"])
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--transcript", help="the transcript of one audio file")
    p.add_argument("--role", choices=["train", "dev", "test"],
                   help="audio: what it is for (default train; in an archive, its train/, dev/ or test/ folder)")
    p.add_argument("--on-duplicate", choices=["replace", "keep", "skip"],
                   help="audio whose name is already stored: replace the stored file, keep both (the new one "
                        "numbered) or skip it (default: refuse, adding nothing)")
    p = wsub.add_parser("set-role", parents=[common],
                        help="set audio items' role: train, dev or test (test audio is never trained on)")
    p.add_argument("role", choices=["train", "dev", "test"])
    p.add_argument("audio", nargs="+", help="the audio items' names or ids")
    export = wsub.add_parser("export", help="export a result or a customization bundle")
    exports = export.add_subparsers(dest="export_what", required=True)
    p = exports.add_parser("result", parents=[common], help="a result as CSV, JSON or the HTML report")
    p.add_argument("name", help="the result's name (latest version), 'name vN' or id")
    p.add_argument("--format", choices=["csv", "json", "html"], help="default: from the --out suffix")
    p.add_argument("--out", required=True, help="the file to write")
    p.add_argument("--overwrite", action="store_true", help="replace an existing file")
    p = exports.add_parser("bundle", parents=[common], help="a custom LM or AM as a customization bundle (.zip)")
    p.add_argument("name", help="the model's name (latest available version), 'name vN' or id")
    p.add_argument("--kind", choices=["lm", "am"], help="where a language and an acoustic model share the name")
    p.add_argument("--result", action="append", help="a result to include (repeatable)")
    p.add_argument("--out", required=True, help="the bundle to write (.zip added when missing)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing file")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose or args.command == "setup" else logging.WARNING,
                        format="%(message)s")
    try:
        return int(args.func(args))
    except SpeechCustomError as exc:
        print(f"speechcustom {args.command}: error: {_one_line(str(exc))}", file=sys.stderr)
        return 2
    except OSError as exc:  # a file the toolkit could not read or write: what failed, and what to do
        from jupyter_speechcustom.io.files import describe_os_error

        print(f"speechcustom {args.command}: error: {describe_os_error(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C: a line, as for errors, not a traceback
        print(f"speechcustom {args.command}: interrupted; run the command again to finish", file=sys.stderr)
        return 2


def _one_line(text: str) -> str:
    return " ".join(text.split())


if __name__ == "__main__":
    sys.exit(main())
