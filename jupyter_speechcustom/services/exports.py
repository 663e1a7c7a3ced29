"""Exporting from a workspace: a result as CSV, JSON or HTML, a custom model as a customization
bundle. Exports are written atomically and never over an existing file unless ``overwrite=True``."""

from __future__ import annotations

import csv
import html
import io
import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from jupyter_speechcustom.errors import OutputError, check_list
from jupyter_speechcustom.io.files import check_output_path, describe_os_error
from jupyter_speechcustom.services.items import KINDS, find, kind_of, latest, write_lm_name
from jupyter_speechcustom.store.workspace import StoreAPI, WorkspaceError

#: Formats :func:`export_result` writes.
EXPORT_FORMATS = ("csv", "json", "html")


def _make_folder(folder: Path) -> None:
    """Create the folder an export goes in; an error says which folder and why."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the folder to write into: {describe_os_error(exc)}") from None


def _check_free(path: Path, overwrite: bool) -> None:
    """Refuse an existing ``path`` unless ``overwrite``."""
    if path.exists() and not overwrite:
        raise OutputError(f"{path} already exists: choose another path, or pass overwrite=True (--overwrite) "
                          "to replace it")


def _publish(path: Path, data: bytes | Path, overwrite: bool) -> Path:
    """Write ``data`` (bytes, or a finished file to move) to ``path`` atomically; never over an
    existing file unless ``overwrite``."""
    path = check_output_path(path, "export")
    _check_free(path, overwrite)
    _make_folder(path.parent)
    tmp = path.parent / f".{path.name}.{os.urandom(6).hex()}.part"
    try:
        if isinstance(data, Path):
            os.replace(data, tmp)
        else:
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)  # fails if the path was taken meanwhile: nothing is replaced
            except FileExistsError:
                raise OutputError(f"{path} already exists: choose another path, or pass overwrite=True "
                                  "(--overwrite) to replace it") from None
            except OSError:  # a file system without hard links
                if path.exists():
                    raise OutputError(f"{path} already exists: choose another path, or pass overwrite=True") from None
                os.replace(tmp, path)
    except OSError as exc:
        if isinstance(exc, OutputError):
            raise
        raise OutputError(f"cannot write {path}: {describe_os_error(exc)}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return path


def export_path(path: str | Path, fmt: str | None = None) -> Path:
    """The absolute path an export of ``fmt`` to ``path`` writes: a bundle's ends in ``.zip``
    (added when missing), a result's as given. Relative paths are taken from the current folder
    (a notebook kernel's), so messages name the file wherever it is."""
    out = Path(path).expanduser().absolute()
    if fmt == "bundle" and out.suffix.lower() != ".zip":
        out = out.with_name(out.name + ".zip")
    return out


def suggest_export_name(name: str, fmt: str) -> str:
    """A file name for exporting the item called ``name`` as ``fmt`` (``csv``, ``json``, ``html`` or
    ``bundle``): the name made safe, with the format's extension (``.zip`` for a bundle)."""
    from jupyter_speechcustom.io.safety import sanitize_filename

    stem = re.sub(r"\s+", "-", sanitize_filename(str(name), default="export").strip()) or "export"
    return f"{stem}.{'zip' if fmt == 'bundle' else fmt}"


def with_format_suffix(path: str, fmt: str) -> str:
    """``path`` with its export extension (``.csv``, ``.json``, ``.html``, ``.zip``) changed to
    ``fmt``'s; a path without one is returned as it is. ``report.html`` as a bundle is ``report.zip``,
    never ``report.html.zip``."""
    suffixes = (*(f".{f}" for f in EXPORT_FORMATS), ".zip")
    text = path.rstrip()
    for suffix in suffixes:
        if text.lower().endswith(suffix) and len(text) > len(suffix):
            return text[: -len(suffix)] + (".zip" if fmt == "bundle" else f".{fmt}")
    return path


def export_result(ws: StoreAPI, ref: str, path: str | Path, fmt: str | None = None, *, overwrite: bool = False) -> Path:
    """Write result ``ref`` (its latest version, or ``"name vN"``/an id) to ``path`` as ``fmt``.

    ``fmt`` (default: from the suffix): ``json`` (the result as stored), ``csv`` (a comparison:
    one row per utterance and system with its reference, hypothesis and errors; any other result:
    one row per field) or ``html`` (a comparison: the report with the WER table, chart and
    word-aligned transcripts; any other result: a table of its fields). Returns the file's
    absolute path.
    """
    rec = latest(ws, ref, "result")
    fmt = (fmt or Path(path).suffix.lstrip(".")).lower()
    if fmt not in EXPORT_FORMATS:
        what = f"unknown export format {fmt!r}" if fmt else f"no export format for {Path(path).name!r}"
        raise WorkspaceError(f"{what}: give a format ({', '.join(EXPORT_FORMATS)}; --format) or a path ending "
                             "in .csv, .json or .html")
    data = ws.result(rec.id)
    if fmt == "json":
        text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    elif fmt == "csv":
        text = result_csv(data)
    else:
        text = result_html(rec.label, data)
    return _publish(export_path(path), text.encode("utf-8"), overwrite)


def _is_comparison(data: Mapping[str, Any]) -> bool:
    return isinstance(data.get("utterances"), list) and isinstance(data.get("systems"), dict)


def _systems(data: Mapping[str, Any]) -> list[str]:
    return [str(s) for s in data["systems"]]


def _evaluations(data: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """Per system the evaluation of a comparison's transcripts; against the references when every
    utterance has one (True), else against the first system's transcripts (False)."""
    from jupyter_speechcustom.evaluation.metrics import evaluate

    systems = _systems(data)
    utterances = data["utterances"]
    hyps = {s: [str((u.get("hypotheses") or {}).get(s) or "") for u in utterances] for s in systems}
    refs = [u.get("reference") for u in utterances]
    if utterances and all(isinstance(r, str) and r.strip() for r in refs):
        return {s: evaluate([str(r) for r in refs], hyps[s]) for s in systems}, True
    first = systems[0]
    if not any(h.split() for h in hyps[first]):
        return {}, False
    return {s: evaluate(hyps[first], hyps[s]) for s in systems[1:] or systems}, False


def result_csv(data: Mapping[str, Any]) -> str:
    """A result as CSV text (see :func:`export_result`)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if _is_comparison(data) and data["utterances"]:
        evaluations, _ = _evaluations(data)  # without references: errors against the first system
        writer.writerow(["utterance", "title", "audio", "reference", "system", "hypothesis", "wer", "substitutions",
                         "deletions", "insertions", "reference_words"])
        for i, u in enumerate(data["utterances"]):
            for system in _systems(data):
                score = evaluations[system].utterances[i] if system in evaluations else None
                figures = ([f"{score.wer:.6g}", score.substitutions, score.deletions, score.insertions,
                            score.reference_words] if score is not None else ["", "", "", "", ""])
                writer.writerow([i + 1, u.get("title", ""), u.get("audio", ""), u.get("reference") or "",
                                 system, (u.get("hypotheses") or {}).get(system, ""), *figures])
        return out.getvalue()
    writer.writerow(["field", "value"])
    for key, value in _flatten(data):
        writer.writerow([key, value])
    return out.getvalue()


def _flatten(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, Mapping):
        rows = []
        for k, v in value.items():
            rows += _flatten(v, f"{prefix}.{k}" if prefix else str(k))
        return rows or [(prefix, "")]
    if isinstance(value, list):
        rows = []
        for i, v in enumerate(value):
            rows += _flatten(v, f"{prefix}[{i}]")
        return rows or [(prefix, "")]
    return [(prefix, "" if value is None else value)]


def result_html(title: str, data: Mapping[str, Any]) -> str:
    """A result as a self-contained HTML page (see :func:`export_result`)."""
    from jupyter_speechcustom.evaluation import diffview

    if _is_comparison(data) and data["utterances"]:
        from jupyter_speechcustom.evaluation.report import comparison_report

        evaluations, against_refs = _evaluations(data)
        if evaluations:
            notes = [f"Test set: {data.get('test_set', '')}, {len(data['utterances'])} utterances."]
            weights = data.get("weights")
            if isinstance(weights, dict) and weights:
                notes.append("Decoding weights: " + ", ".join(f"{k} {v}" for k, v in weights.items()) + ".")
            if not against_refs:
                notes.append(f"Some utterances have no reference: each system is compared with "
                             f"{_systems(data)[0]}'s transcripts instead.")
            audio = [str(u.get("audio") or u.get("title") or "") for u in data["utterances"]]
            page = comparison_report(title, evaluations, audio=audio, notes=notes,
                                     max_utterances=len(data["utterances"]))
            hits = data.get("term_hits")
            if isinstance(hits, dict) and hits:
                page = page.replace("</body></html>", "<h2>Custom words recognized</h2>"
                                    + diffview.term_hits_html(hits) + "</body></html>")
            return page
    rows = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(str(v))}</td></tr>" for k, v in _flatten(data))
    return ("<!doctype html><html><head><meta charset='utf-8'>"
            f"<title>{html.escape(title)}</title>{diffview.style_tag()}</head><body class='sc-root'>"
            f"<h1>{html.escape(title)}</h1><table class='sc-table'><thead><tr><th>field</th><th>value</th></tr>"
            f"</thead><tbody>{rows}</tbody></table></body></html>")


def export_bundle(
    ws: StoreAPI,
    ref: str,
    path: str | Path,
    *,
    kind: str | None = None,
    results: Sequence[str] = (),
    overwrite: bool = False,
) -> Path:
    """Write a customization bundle (``.zip``, see :mod:`~jupyter_speechcustom.store.bundle`) of
    the custom LM or AM ``ref`` (its latest available version), with its custom words and the
    ``results`` named; ``.zip`` is added to ``path`` when missing. Never over an existing file
    unless ``overwrite``. Returns the bundle's absolute path."""
    from jupyter_speechcustom.store.bundle import export_bundle as write_bundle

    check_list(results, "results", "result names")
    if kind is None:
        found = [r for r in find(ws, ref) if r.kind in ("lm", "am")]
        if not found:
            raise WorkspaceError(f"{ref!r} is not a language or acoustic model: a bundle holds a custom model")
        kind = found[0].kind
    kind = kind_of(kind)
    if kind not in ("lm", "am"):
        raise WorkspaceError(f"a bundle holds a custom language or acoustic model, not a {KINDS[kind]}")
    model = latest(ws, ref, kind, available=True)
    if kind == "lm":
        write_lm_name(model)  # renamed before its lm.json followed renames
    result_ids = [latest(ws, r, "result").id for r in results]
    out = check_output_path(export_path(path, "bundle"), "bundle")
    _check_free(out, overwrite)  # before the bundle is written, not after
    _make_folder(out.parent)
    staging = out.parent / f".{out.stem}.{os.urandom(6).hex()}.zip"
    try:
        written = write_bundle(ws, staging, lm_id=model.id if kind == "lm" else None,
                               am_id=model.id if kind == "am" else None, result_ids=result_ids)
        return _publish(out, written, overwrite)
    finally:
        staging.unlink(missing_ok=True)
