"""Sweep benchmark (issue 15): the same sweep with pruning and without, side by side, and the default settings.

  python bench/sweep.py [--trials 10] [--train-size 200] [--epochs 3] [--seed 7]

MiniLM-L6 on the built-in tweets (a few hundred training rows per trial), learning rate searched over
1e-6..1e-1 (log) and batch size over {16, 32}, accuracy as the objective, one evaluation per epoch. Three
processes run at once, each with its own runs folder (so each has its own CPU slot): the sweep with the median
pruner and our findings, the same sweep with neither (`--pruner none`, findings still read but not acted on is
not possible, so that arm simply trains every trial to the end), and one run of the default settings.

Compute is counted in training samples (optimizer steps x effective batch, read from each trial's run folder)
and in CPU-seconds of the training children (getrusage of reaped children): neither depends on how loaded the
machine is. Wall time is given as context. The sweep machinery's overhead per trial is the driver process's own
CPU time over the trials' CPU time. Prints a Markdown section for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.rundir import runs  # noqa: E402
from core.rundir.records import eval_points, train_points  # noqa: E402

SPACE = {"training.learning_rate": {"low": 1e-6, "high": 1e-1, "log": True},
         "training.per_device_train_batch_size": {"choices": [16, 32]}}


def base_config(args) -> dict:
    return {"data": {"name": "tweet-sentiment", "train_size": args.train_size, "eval_size": args.eval_size,
                     "max_length": 64},
            "model": {"name": "minilm-l6"}, "hardware": {"device": "cpu"},
            "training": {"num_train_epochs": args.epochs, "eval_strategy": "epoch", "logging_steps": 1,
                         "metric_for_best_model": "accuracy", "save_total_limit": 1}}


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def _reap_all(timeout: float = 60) -> None:
    from core.runner import process

    deadline = time.time() + timeout
    while process._children and time.time() < deadline:
        process.reap_children()
        time.sleep(0.2)


def trial_compute(run_dir: Path) -> dict:
    """Optimizer steps and training samples a trial's run really trained, from its folder."""
    records = runs.read_metrics(run_dir)
    steps = max((r["step"] for r in train_points(records)), default=0)
    config = runs.read_json(run_dir / "config.json", {}) or {}
    batch = config["training"]["per_device_train_batch_size"] * config["training"].get("gradient_accumulation_steps", 1)
    return {"steps": steps, "samples": steps * batch, "evals": len(eval_points(records))}


def arm_sweep(args, pruner: str, workdir: Path) -> dict:
    from core.search import sweeps

    runs_dir = workdir / "runs"
    runs_dir.mkdir(parents=True)
    (workdir / "config.json").write_text(json.dumps(base_config(args)))
    (workdir / "space.json").write_text(json.dumps(SPACE))
    settings = sweeps.prepare(workdir / "config.json", workdir / "space.json", args.trials, "tpe", pruner, args.seed)
    cpu_self, cpu_children, began = _cpu(resource.RUSAGE_SELF), _cpu(resource.RUSAGE_CHILDREN), time.time()
    summary = sweeps.run_sweep(settings, f"bench-{pruner}", runs_dir)
    _reap_all()
    wall = time.time() - began
    trials = [{**row, **trial_compute(runs_dir / row["run_id"])} for row in summary["trials"] if row["run_id"]]
    return {"arm": pruner, "wall_s": wall, "driver_cpu_s": _cpu(resource.RUSAGE_SELF) - cpu_self,
            "children_cpu_s": _cpu(resource.RUSAGE_CHILDREN) - cpu_children, "best": summary["best"],
            "trials": trials}


def arm_default(args, workdir: Path) -> dict:
    config = base_config(args)
    (workdir / "config.json").write_text(json.dumps(config))
    run_dir = workdir / "default"
    began = time.time()
    subprocess.run([sys.executable, "-m", "core.train", "--config", str(workdir / "config.json"), "--run-dir",
                    str(run_dir)], cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    records = runs.read_metrics(run_dir)
    best = max(float(r["eval_accuracy"]) for r in eval_points(records))
    return {"arm": "default", "wall_s": time.time() - began, "best_accuracy": best, **trial_compute(run_dir)}


def run_arms(args) -> dict:
    """The three arms as three processes at once; each writes its result as JSON."""
    workdir = Path(tempfile.mkdtemp(prefix="sweep-bench-"))
    children = {}
    for arm in ("median", "none", "default"):
        (workdir / arm).mkdir()
        command = [sys.executable, __file__, "--arm", arm, "--workdir", str(workdir / arm),
                   *[f"--{k.replace('_', '-')}={v}" for k, v in vars(args).items() if k not in ("arm", "workdir", "report_from")]]
        children[arm] = subprocess.Popen(command, cwd=ROOT, stdout=open(workdir / f"{arm}.log", "w"),
                                         stderr=subprocess.STDOUT)
    for arm, child in children.items():
        if child.wait() != 0:
            raise SystemExit(f"arm {arm} failed; see {workdir / (arm + '.log')}")
    return {arm: json.loads((workdir / arm / "result.json").read_text()) for arm in children}


def report(args, results: dict, began: float) -> str:
    pruned, full, default = results["median"], results["none"], results["default"]
    samples = {arm: sum(t["samples"] for t in results[arm]["trials"]) for arm in ("median", "none")}
    steps = {arm: sum(t["steps"] for t in results[arm]["trials"]) for arm in ("median", "none")}
    saved = 1 - samples["median"] / samples["none"]
    saved_cpu = 1 - pruned["children_cpu_s"] / full["children_cpu_s"]
    lines = [f"## Sweeps: pruning against none (issue 15)", "",
             f"Machine: {platform.node()}, {os.cpu_count()} CPU cores, {platform.processor() or platform.machine()}, "
             f"load average {os.getloadavg()[0]:.1f} at the end (shared with other work). "
             f"Date: {time.strftime('%Y-%m-%d %H:%M', time.gmtime(began))}-{time.strftime('%H:%M UTC')}.",
             f"Command: `python bench/sweep.py --trials {args.trials} --train-size {args.train_size} "
             f"--eval-size {args.eval_size} --epochs {args.epochs} --seed {args.seed}` (MiniLM-L6, tweets, "
             f"lr 1e-6..1e-1 log x batch {{16, 32}}, accuracy, one evaluation per epoch, TPE).", "",
             "| | with pruning (median + findings) | without pruning |", "| --- | --- | --- |",
             f"| best accuracy | {pruned['best']['value']:.4f} | {full['best']['value']:.4f} |",
             f"| best trial | {_params(pruned['best'])} | {_params(full['best'])} |",
             f"| trials complete / pruned / failed | {_states(pruned)} | {_states(full)} |",
             f"| training samples (steps x batch), all trials | {samples['median']:,} | {samples['none']:,} |",
             f"| optimizer steps, all trials | {steps['median']:,} | {steps['none']:,} |",
             f"| CPU-seconds of the training processes | {pruned['children_cpu_s']:.0f} | {full['children_cpu_s']:.0f} |",
             f"| wall time (context; three arms shared the machine) | {pruned['wall_s'] / 60:.1f} min | "
             f"{full['wall_s'] / 60:.1f} min |",
             f"| sweep driver CPU-seconds per trial (share of a trial's CPU time) | "
             f"{_overhead(pruned)} | {_overhead(full)} |", "",
             f"Default settings (lr 1e-4, batch 16) on the same rows: best eval accuracy {default['best_accuracy']:.4f} "
             f"({default['samples']:,} training samples).", "",
             f"- Training compute saved by pruning: {saved:.0%} of the samples, {saved_cpu:.0%} of the CPU-seconds "
             f"(target: at least 40%).",
             f"- Best objective: {pruned['best']['value']:.4f} with pruning, {full['best']['value']:.4f} without.",
             f"- Best trial against the default settings: {max(pruned['best']['value'], full['best']['value']):.4f} "
             f"against {default['best_accuracy']:.4f}.", "", "Trials (with pruning):", ""]
    lines += [f"- #{t['number']} {t['state']}, {_params(t)}, value {_fmt(t['value'])}, {t['steps']} steps"
              + (f" ({t['reason']})" if t["reason"] else "") for t in pruned["trials"]]
    return "\n".join(lines) + "\n"


def _fmt(value) -> str:
    return "–" if value is None else f"{value:.4f}"


def _params(row: dict) -> str:
    return (f"lr {row['params'].get('training.learning_rate', 0):.2g}, "
            f"batch {row['params'].get('training.per_device_train_batch_size')}")


def _states(arm: dict) -> str:
    states = [t["state"] for t in arm["trials"]]
    return f"{states.count('complete')} / {states.count('pruned')} / {states.count('failed')}"


def _overhead(arm: dict) -> str:
    per_trial = arm["driver_cpu_s"] / len(arm["trials"])
    return f"{per_trial:.1f} s ({arm['driver_cpu_s'] / arm['children_cpu_s']:.1%})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--train-size", type=int, default=200)
    parser.add_argument("--eval-size", type=int, default=150)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--arm", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--report-from", default=None, help="print the report of an earlier run's folder again")
    args = parser.parse_args()
    if args.report_from:
        folder = Path(args.report_from)
        results = {arm: json.loads((folder / arm / "result.json").read_text()) for arm in ("median", "none", "default")}
        print(report(args, results, (folder / "median.log").stat().st_mtime))
        return 0
    if args.arm:
        workdir = Path(args.workdir)
        result = arm_default(args, workdir) if args.arm == "default" else arm_sweep(args, args.arm, workdir)
        (workdir / "result.json").write_text(json.dumps(result, indent=2, default=str))
        return 0
    began = time.time()
    print(report(args, run_arms(args), began))
    return 0


if __name__ == "__main__":
    sys.exit(main())
