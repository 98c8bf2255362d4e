"""Run history: the Runs table's rows, filtering, rename and delete, and `python -m core.runs list`.

Built on the run directory (core/rundir/runs.py): every figure here is read back from a run's files.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from core.common.errors import UserError
from core.rundir.records import as_float
from core.rundir.runs import (ACTIVE_STATES, RunSummary, default_runs_dir, list_runs, read_json, read_metrics, reconcile,
                              safe_run_path, write_json_atomic)
from core.views.progress import best_eval, format_duration

NAME_MAX_CHARS = 60
TABLE_COLUMNS = ("id", "name", "state", "sweep", "data set", "model", "device", "best metric", "duration", "started")


def _iso_to_epoch(value: Any) -> float | None:
    """status.json keeps started_at / ended_at as ISO text and created_at as epoch seconds."""
    if isinstance(value, (int, float)):
        return float(value)
    if not isinstance(value, str) or not value:
        return None
    from datetime import datetime

    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z").timestamp()
    except ValueError:
        return None


def run_duration_s(status: dict[str, Any], now: float | None = None) -> float | None:
    """Seconds from start to end; a run still active counts up to now."""
    started = _iso_to_epoch(status.get("started_at"))
    if started is None:
        return None
    ended = _iso_to_epoch(status.get("ended_at"))
    if ended is None and status.get("state") in ACTIVE_STATES:
        ended = time.time() if now is None else now
    return None if ended is None else max(0.0, ended - started)


def best_metric_of(run: RunSummary) -> tuple[str, float | None]:
    """The best-model metric: the saved model's final value if the run ended, else the best evaluation so far."""
    metric = (run.config.get("training") or {}).get("metric_for_best_model") or "f1"
    final = (read_json(run.path / "results.json", {}) or {}).get("final_metrics") or {}
    if final.get(metric) is not None:
        value = as_float(final[metric])
        return metric, (value if math.isfinite(value) else None)  # NaN is no best, and not valid JSON
    best = best_eval(read_metrics(run.path), metric)
    return metric, (as_float(best["eval_" + metric]) if best else None)


def run_row(run: RunSummary) -> dict[str, Any]:
    """One line of the Runs table (and of `core.runs list`), as plain values."""
    metric, value = best_metric_of(run)
    started = run.status.get("started_at") or _epoch_to_iso(run.status.get("created_at"))
    return {"id": run.run_id, "name": run.config.get("name") or "", "state": run.state,
            "data set": (run.config.get("data") or {}).get("name"),
            "model": (run.config.get("model") or {}).get("name"),
            "device": run.status.get("device") or (run.config.get("hardware") or {}).get("device"),
            "metric": metric, "best metric": value, "duration_s": run_duration_s(run.status), "started": started,
            "sweep": sweep_tag(run.status)}


def sweep_tag(status: dict[str, Any]) -> str | None:
    """'NAME #N' for a trial of a sweep (the sweep driver puts both in status.json), else None."""
    if not status.get("sweep"):
        return None
    return f"{status['sweep']} #{status['trial']}" if status.get("trial") is not None else str(status["sweep"])


def filter_rows(rows: list[dict[str, Any]], states: list[str] | None = None, text: str = "") -> list[dict[str, Any]]:
    """Rows in one of `states` (all when empty) whose id, name, data set or model contains `text`."""
    needle = text.strip().lower()
    searched = ("id", "name", "data set", "model", "sweep")
    return [row for row in rows if (not states or row["state"] in states)
            and (not needle or any(needle in str(row.get(c) or "").lower() for c in searched))]


def _epoch_to_iso(value: Any) -> str | None:
    if not isinstance(value, (int, float)):
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(value))


def _existing_run(runs_dir: Path, run_id: str) -> Path:
    path = safe_run_path(runs_dir, run_id)
    if path is None:
        raise UserError(f"'{run_id}' is not a run id (letters, digits, dots, dashes and underscores only, "
                        "no folders); pick a run from the list.", field="run", code="BAD_RUN_ID")
    if not (path / "status.json").is_file():
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
    config = read_json(path / "config.json", {}) or {}
    config["name"] = cleaned
    write_json_atomic(path / "config.json", config)
    return cleaned


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
            return "–" if row["best metric"] is None else f"{row['metric']} {row['best metric']:.3f}"
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
    """`python -m core.runs list [--runs-dir DIR] [--json]`: every run, states reconciled like the dashboard."""
    import sys

    parser = _one_line_parser()
    sub = parser.add_subparsers(dest="command", required=True)
    listing = sub.add_parser("list", help="every run, newest first, with dead processes marked failed")
    listing.add_argument("--runs-dir", default=None, help="the runs folder (default: $DASHBOARD_RUNS_DIR or runs/)")
    listing.add_argument("--json", action="store_true", help="print a JSON list of objects")
    args = parser.parse_args(argv)
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
