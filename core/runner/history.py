"""Run history: the Runs table's rows, filtering, rename and delete, and `python -m core.runs list`.

Built on the run directory (core/rundir/runs.py): every figure here is read back from a run's files.
"""

from __future__ import annotations

import json
import math
import re
import time
from pathlib import Path
from typing import Any

from core.common.errors import UserError
from core.rundir.records import as_float, metric_for_task
from core.rundir.runs import (ACTIVE_STATES, RunSummary, dataset_label, default_runs_dir, list_runs, read_json,
                              read_metrics, reconcile, safe_run_path, write_json_atomic)
from core.rundir.layout import ONNX, RunDir
from core.runner import onnx_export
from core.runner.export import export_run
from core.runner.hub import push_command
from core.views.progress import best_eval, format_duration, format_metric, run_duration_s  # noqa: F401 - run_duration_s: the one duration, for callers of history

NAME_MAX_CHARS = 60
# Notes and tags live in the run's meta.json, apart from config.json: they are not settings, so a relaunch,
# an exported config and the Compare page's config diff leave them out.
NOTES_MAX_CHARS, TAG_MAX_CHARS, MAX_TAGS = 2000, 30, 20
TAG_PATTERN = re.compile(r"\w[\w .+:/-]*")  # \w: letters (any script), digits and the underscore
TABLE_COLUMNS = ("id", "name", "state", "sweep", "data set", "model", "device", "best metric", "duration", "started")


def best_metric_of(run: RunSummary) -> tuple[str, float | None]:
    """The best-model metric: the saved model's final value if the run ended, else the best evaluation so far."""
    metric = (run.config.get("training") or {}).get("metric_for_best_model") or "f1"
    # A multi-label run records f1 as f1_micro (and so on).
    metric = metric_for_task(metric, (read_json(RunDir(run.path).dataset, {}) or {}).get("task") == "multi_label")
    final = (read_json(RunDir(run.path).results, {}) or {}).get("final_metrics") or {}
    if final.get(metric) is not None:
        value = as_float(final[metric])
        return metric, (value if math.isfinite(value) else None)  # NaN is no best, and not valid JSON
    best = best_eval(read_metrics(run.path), metric)
    return metric, (as_float(best["eval_" + metric]) if best else None)


def run_row(run: RunSummary) -> dict[str, Any]:
    """One line of the Runs table (and of `core.runs list`), as plain values."""
    metric, value = best_metric_of(run)
    started = run.status.get("started_at") or _epoch_to_iso(run.status.get("created_at"))
    meta = read_meta(run.path)
    return {"id": run.run_id, "name": run.config.get("name") or "", "state": run.state,
            "data set": dataset_label(run.config),
            "model": (run.config.get("model") or {}).get("name"),
            "device": run.status.get("device") or (run.config.get("hardware") or {}).get("device"),
            "metric": metric, "best metric": value, "duration_s": run_duration_s(run.status), "started": started,
            "tags": meta["tags"], "notes": meta["notes"], "sweep": sweep_tag(run.status)}


def sweep_tag(status: dict[str, Any]) -> str | None:
    """'NAME #N' for a trial of a sweep (the sweep driver puts both in status.json), else None."""
    if not status.get("sweep"):
        return None
    return f"{status['sweep']} #{status['trial']}" if status.get("trial") is not None else str(status["sweep"])


def filter_rows(rows: list[dict[str, Any]], states: list[str] | None = None, text: str = "",
                tags: list[str] | None = None) -> list[dict[str, Any]]:
    """Rows in one of `states` and with one of `tags` (all when empty) whose id, name, data set, model, notes or
    tags contain `text`."""
    needle = text.strip().lower()

    def searched(row: dict[str, Any]) -> str:
        parts = [row.get(c) for c in ("id", "name", "data set", "model", "notes", "sweep")] + list(row.get("tags") or [])
        return "\n".join(str(part or "") for part in parts).lower()

    return [row for row in rows if (not states or row["state"] in states)
            and (not tags or set(tags) & set(row.get("tags") or []))
            and (not needle or needle in searched(row))]


def _epoch_to_iso(value: Any) -> str | None:
    if not isinstance(value, (int, float)):
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(value))


def _existing_run(runs_dir: Path, run_id: str) -> Path:
    path = safe_run_path(runs_dir, run_id)
    if path is None:
        raise UserError(f"'{run_id}' is not a run id (letters, digits, dots, dashes and underscores only, "
                        "no folders); pick a run from the list.", field="run", code="BAD_RUN_ID")
    if not RunDir(path).status.is_file():
        raise UserError(f"there is no run '{run_id}' in {runs_dir}; pick a run from the list.",
                        field="run", code="NO_SUCH_RUN")
    return path


def rename_run(runs_dir: Path, run_id: str, name: str) -> str:
    """Set a run's display name (config.json "name"); the folder keeps its id. Returns the cleaned name."""
    path = _existing_run(runs_dir, run_id)
    # One line of printable text: newlines, tabs and control characters would garble tables and headings.
    cleaned = "".join(ch for ch in " ".join(str(name).split()) if ch.isprintable())
    if not cleaned or len(cleaned) > NAME_MAX_CHARS:
        raise UserError(f"must be 1 to {NAME_MAX_CHARS} characters, got {len(cleaned)}; type a shorter name.",
                        field="name", code="BAD_NAME")
    config = read_json(RunDir(path).config, {}) or {}
    config["name"] = cleaned
    write_json_atomic(RunDir(path).config, config)
    return cleaned


def read_meta(run_dir: Path) -> dict[str, Any]:
    """The run's notes (text) and tags (a list), empty when it has none."""
    meta = read_json(RunDir(run_dir).meta, {})
    meta = meta if isinstance(meta, dict) else {}
    tags = meta.get("tags") if isinstance(meta.get("tags"), list) else []
    return {"notes": str(meta.get("notes") or ""), "tags": [str(tag) for tag in tags]}


def clean_tags(tags: list[str]) -> list[str]:
    """Tags with spaces collapsed and duplicates dropped, in the order given; an odd one is a UserError."""

    cleaned: list[str] = []
    for tag in tags:
        tag = " ".join(str(tag).split())
        if tag and (len(tag) > TAG_MAX_CHARS or not TAG_PATTERN.fullmatch(tag)):
            shown = tag if len(tag) <= TAG_MAX_CHARS else tag[:TAG_MAX_CHARS] + "…"
            raise UserError(f"'{shown}' is not a tag; use up to {TAG_MAX_CHARS} letters, digits and spaces (or "
                            "- _ . + : /), starting with a letter or digit.", field="tags", code="BAD_TAG")
        if tag and tag not in cleaned:
            cleaned.append(tag)
    if len(cleaned) > MAX_TAGS:
        raise UserError(f"a run takes at most {MAX_TAGS} tags, got {len(cleaned)}; remove some.", field="tags",
                        code="BAD_TAG")
    return cleaned


def clean_notes(notes: str) -> str:
    """Notes without control characters (line breaks and tabs kept) or surrounding blanks; too long is an error."""

    text = "".join(ch for ch in str(notes or "") if ch.isprintable() or ch in "\n\t").strip()
    if len(text) > NOTES_MAX_CHARS:
        raise UserError(f"must be at most {NOTES_MAX_CHARS:,} characters, got {len(text):,}; shorten them.",
                        field="notes", code="BAD_NOTES")
    return text


def set_notes_and_tags(runs_dir: Path, run_id: str, notes: str, tags: list[str]) -> dict[str, Any]:
    """Replace a run's notes and tags (meta.json, written atomically); returns what was stored."""
    path = _existing_run(runs_dir, run_id)
    meta = {"notes": clean_notes(notes), "tags": clean_tags(tags)}
    write_json_atomic(RunDir(path).meta, meta)
    return meta


def delete_run(runs_dir: Path, run_id: str) -> None:
    """Remove a run's folder; a run that is still queued or training is refused (stop it first)."""
    import shutil
    path = _existing_run(runs_dir, run_id)
    state = reconcile(path).get("state")
    if state in ACTIVE_STATES:
        raise UserError(f"run '{run_id}' is {state}; stop or cancel it first, then delete it.",
                        field="run", code="RUN_ACTIVE")
    shutil.rmtree(path)


def format_table(rows: list[dict[str, Any]]) -> str:
    """Rows as aligned plain-text columns for the terminal."""
    def cell(row: dict, column: str) -> str:
        if column == "best metric":
            value = row["best metric"]
            return "–" if value is None else f"{row['metric']} {format_metric(row['metric'], value)}"
        if column == "duration":
            return format_duration(row["duration_s"])
        value = row.get(column)
        return "–" if value in (None, "") else str(value)

    table = [list(TABLE_COLUMNS)] + [[cell(row, c) for c in TABLE_COLUMNS] for row in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(TABLE_COLUMNS))]
    return "\n".join("  ".join(value.ljust(w) for value, w in zip(line, widths)).rstrip() for line in table)


def _one_line_parser():
    import argparse
    import sys

    class Parser(argparse.ArgumentParser):
        def error(self, message: str):  # one line on stderr, like core.train, not usage plus a dump
            print(f"error: {message}; see 'python -m core.runs --help'.", file=sys.stderr)
            raise SystemExit(2)

    return Parser(prog="python -m core.runs", description="List the runs in a runs folder.")


def main(argv: list[str] | None = None) -> int:
    """`python -m core.runs list [--runs-dir DIR] [--json]`: every run, states reconciled like the dashboard;
    `python -m core.runs export RUN_DIR --out DIR [--onnx [--quantize]]`: the run's config.json, reproduce.py and
    model.zip (and onnx/);
    `python -m core.runs push RUN_DIR --repo-id USER/NAME [--private | --public]`: model, tokenizer, card to the Hub."""
    parser = _one_line_parser()
    sub = parser.add_subparsers(dest="command", required=True)
    listing = sub.add_parser("list", help="every run, newest first, with dead processes marked failed")
    listing.add_argument("--runs-dir", default=None, help="the runs folder (default: $DASHBOARD_RUNS_DIR or runs/)")
    listing.add_argument("--json", action="store_true", help="print a JSON list of objects")
    exporting = sub.add_parser("export", help="write DIR/config.json, DIR/reproduce.py and DIR/model.zip")
    exporting.add_argument("run_dir", metavar="RUN_DIR", help="the run's folder, e.g. runs/<id>")
    exporting.add_argument("--out", required=True, metavar="DIR", help="folder for the three files; created if "
                                                                        "missing, files of the same name replaced")
    exporting.add_argument("--onnx", action="store_true", help="also DIR/onnx/: the model as ONNX (dynamic batch "
                           "and sequence axes) with its tokenizer, checked against PyTorch on the run's eval texts")
    exporting.add_argument("--quantize", action="store_true", help="with --onnx: also an int8 model "
                           "(onnx/model_quantized.onnx, dynamic quantisation), checked the same way")
    pushing = sub.add_parser("push", help="upload the model, tokenizer and model card to the Hugging Face Hub "
                                          "(token from HF_TOKEN)")
    pushing.add_argument("run_dir", metavar="RUN_DIR", help="the run's folder, e.g. runs/<id>")
    pushing.add_argument("--repo-id", required=True, metavar="USER/NAME", help="the model repository to push to")
    visibility = pushing.add_mutually_exclusive_group()
    visibility.add_argument("--private", dest="private", action="store_true", default=True,
                            help="a private repository (the default)")
    visibility.add_argument("--public", dest="private", action="store_false", help="a public repository")
    args = parser.parse_args(argv)
    if args.command == "export" and args.quantize and not args.onnx:
        parser.error("--quantize quantises the ONNX model; add --onnx")
    if args.command == "push":
        return push_command(args.run_dir, args.repo_id, args.private)
    if args.command == "export":
        return export_command(args.run_dir, args.out, args.onnx, args.quantize)
    return list_command(args)


def export_command(run_dir: str, out: str, onnx: bool = False, quantize: bool = False) -> int:
    """Exit 0 with the files written, 2 with one sentence on stderr and nothing written, or 1 when the ONNX model
    was written but failed its check against PyTorch (the sentence says which part)."""
    import sys

    try:
        written = export_run(Path(run_dir), Path(out), onnx, quantize)
    except UserError as exc:
        print(f"error: {exc.sentence}", file=sys.stderr)
        return 2
    print("Wrote " + ", ".join(str(path) for path in written) + ".")
    check = onnx_export.read_check(Path(out) / ONNX) if onnx else None
    if check:
        print(onnx_export.check_summary(check))
    if check and not check["passed"]:
        print(f"error: {check['sentence']}", file=sys.stderr)
        return 1
    return 0


def list_command(args) -> int:
    import sys

    runs_dir = Path(args.runs_dir) if args.runs_dir else default_runs_dir()
    if args.runs_dir and not runs_dir.is_dir():
        print(f"error: --runs-dir: '{runs_dir}' is not a folder; pass the folder that holds the runs.",
              file=sys.stderr)
        return 2
    rows = [run_row(run) for run in list_runs(runs_dir)]
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
    elif rows:
        print(format_table(rows))
    else:
        print(f"No runs in {runs_dir}.")
    return 0
