"""`python -m core.sweep`: run a sweep, join one as a worker, show, list, stop and delete sweeps.

Exit codes: 0 done, 2 bad input (one line on stderr, nothing started), 130 interrupted (Ctrl-C; the running
trials are stopped and `run` with the same --name resumes).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from core.common.errors import UserError
from core.rundir.runs import default_runs_dir
from core.search import sweeps
from core.search.study import new_name, PRUNERS, SAMPLERS

EXIT_BAD_INPUT, EXIT_INTERRUPTED = 2, 130


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line on stderr, like core.train, not usage plus a dump
        print(f"error: {message}; see 'python -m core.sweep --help'.", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT)


def parser() -> argparse.ArgumentParser:
    top = _Parser(prog="python -m core.sweep", description="Hyperparameter sweeps: each trial is an ordinary run.")
    sub = top.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = sub.add_parser("run", help="run a sweep to the end (or resume the one of that --name)")
    run.add_argument("--config", required=True, help="CONFIG.json: the base run config")
    run.add_argument("--space", required=True, help="SPACE.json: dotted config keys mapped to ranges or choices")
    run.add_argument("--trials", type=int, required=True, help="how many trials in all")
    run.add_argument("--timeout-s", type=float, default=None, help="start no new trial after this many seconds")
    run.add_argument("--name", default=None, help="the sweep's name (default: sweep-DATE-TIME)")
    run.add_argument("--sampler", choices=SAMPLERS, default="tpe")
    run.add_argument("--pruner", choices=PRUNERS, default="median")
    run.add_argument("--seed", type=int, default=None, help="the sampler's seed, for a repeatable sweep")
    worker = sub.add_parser("worker", help="join an existing sweep and take trials until it is done")
    worker.add_argument("--name", required=True)
    worker.add_argument("--timeout-s", type=float, default=None, help="start no new trial after this many seconds")
    show = sub.add_parser("show", help="print a sweep's trials")
    show.add_argument("name")
    show.add_argument("--json", action="store_true", help="a JSON list of trials")
    listing = sub.add_parser("list", help="every sweep in the storage")
    listing.add_argument("--json", action="store_true")
    stop = sub.add_parser("stop", help="stop a sweep and its running trials")
    stop.add_argument("name")
    delete = sub.add_parser("delete", help="delete a sweep (stop it first)")
    delete.add_argument("name")
    delete.add_argument("--with-runs", action="store_true", help="also delete its trials' run folders")
    for each in (run, worker, show, listing, stop, delete):
        each.add_argument("--runs-dir", default=None, help="the runs folder (default: $DASHBOARD_RUNS_DIR or runs/)")
        each.add_argument("--storage", default=None, help="a SQLAlchemy URL (default: a file in the runs folder)")
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    runs_dir = Path(args.runs_dir) if args.runs_dir else default_runs_dir()
    try:
        if args.runs_dir and not runs_dir.is_dir():
            raise UserError(f"'{runs_dir}' is not a folder; pass the folder that holds the runs.", field="--runs-dir")
        return COMMANDS[args.command](args, runs_dir)
    except UserError as exc:
        print(f"error: {exc.sentence}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("Interrupted: the running trials were stopped; run it again with the same --name to resume.",
              file=sys.stderr)
        return EXIT_INTERRUPTED


def _run(args, runs_dir: Path) -> int:
    settings = sweeps.prepare(args.config, args.space, args.trials, args.sampler, args.pruner, args.seed)
    name = args.name or new_name()
    print(f"Sweep '{name}': {settings['n_trials']} trials, {settings['sampler']} sampler, {settings['pruner']} pruner, "
          f"{settings['metric']} as the objective.", flush=True)
    _print_best(sweeps.run_sweep(settings, name, runs_dir, args.storage, args.timeout_s))
    return 0


def _worker(args, runs_dir: Path) -> int:
    _print_best(sweeps.join_sweep(args.name, runs_dir, args.storage, args.timeout_s))
    return 0


def _print_best(summary: dict[str, Any]) -> None:
    best = summary["best"]
    if best is None:
        print(f"Sweep '{summary['name']}' ended with no completed trial.")
        return
    params = ", ".join(f"{k} = {v:g}" if isinstance(v, float) else f"{k} = {v}" for k, v in best["params"].items())
    print(f"Best trial {best['number']}: {summary['metric']} {best['value']:.4f} with {params} (run {best['run_id']}).")


def _show(args, runs_dir: Path) -> int:
    summary = sweeps.sweep_summary(args.name, runs_dir, args.storage)
    if args.json:
        print(json.dumps(summary["trials"], indent=2))
        return 0
    print(f"Sweep '{summary['name']}' ({summary['state']}): {summary['counted']} of {summary['n_trials']} "
          f"trials, {summary['metric']} to {summary['direction']}.")
    for row in summary["trials"]:
        value = "–" if row["value"] is None else f"{row['value']:.4f}"
        params = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in row["params"].items())
        reason = f"  ({row['reason']})" if row["reason"] else ""
        print(f"  #{row['number']:<3} {row['state']:<9} {value:>7}  {params}  {row['run_id'] or ''}{reason}")
    return 0


def _list(args, runs_dir: Path) -> int:
    rows = sweeps.list_sweeps(runs_dir, args.storage)
    if args.json:
        print(json.dumps(rows, indent=2))
    for row in [] if args.json else rows:
        best = "–" if row["best value"] is None else f"{row['best value']:.4f}"
        print(f"{row['name']}  {row['trials']}/{row['n_trials']} trials  best {row['metric']} {best}")
    if not rows and not args.json:
        print("No sweeps.")
    return 0


def _stop(args, runs_dir: Path) -> int:
    stopped = sweeps.stop_sweep(args.name, runs_dir, args.storage)
    print(f"Sweep '{args.name}' is stopping ({len(stopped)} running trials asked to stop).")
    return 0


def _delete(args, runs_dir: Path) -> int:
    removed = sweeps.delete_sweep(args.name, runs_dir, args.storage, with_runs=args.with_runs)
    print(f"Sweep '{args.name}' deleted" + (f", with {len(removed)} run folders." if args.with_runs else "."))
    return 0


COMMANDS = {"run": _run, "worker": _worker, "show": _show, "list": _list, "stop": _stop, "delete": _delete}
