"""A sweep spread over several GPUs (issue 19), through `python -m core.sweep run` and the dashboard's own queue.

  python bench/sweep_gpus.py [--gpus N] [--trials-per-gpu 4] [--model minilm-l6] [--out FILE]
  python bench/sweep_gpus.py --device cpu --gpus 1 --model tiny-random --train-size 200   (the script's own smoke)

Three parts, each a `python -m core.sweep run` process with its own runs folder and the same sampler seed:
1. wide: N GPUs visible (CUDA_VISIBLE_DEVICES=0..N-1), trials-per-gpu x N trials, the median pruner.
2. narrow: the same sweep with GPU 0 alone. Wide against narrow: wall time (target >= 0.8 N x) and best objective.
3. kill: the wide sweep again without pruning; once N trials train, one trial's process group gets SIGKILL. The
   other trials must go on training, the killed one must be shown failed, and its GPU must take the next trial.

From the wide sweep's run folders (each trial's `slots`, `launched_at` and `ended_at`): the most trials that were
ever on one GPU at once (target: 1, as `runs_per_gpu` = 1 asks), the share of time each GPU held a trial until the
last trial started (every GPU busy), and the gap between a trial ending on a GPU and the next one starting there
(a pruned trial frees its GPU at once: the driver polls every 1.5 s). Prints Markdown tables for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.rundir import runs  # noqa: E402
from core.views.progress import epoch_seconds  # noqa: E402

SPACE = {"training.learning_rate": {"low": 1e-6, "high": 1e-2, "log": True},
         "training.per_device_train_batch_size": {"choices": [32, 64]}}


def base_config(args) -> dict:
    return {"data": {"name": "tweet-sentiment", "train_size": args.train_size, "eval_size": args.eval_size,
                     "max_length": 64},
            "model": {"name": args.model}, "hardware": {"device": args.device, "runs_per_gpu": 1},
            "training": {"num_train_epochs": args.epochs, "eval_strategy": "epoch", "logging_steps": 10,
                         "metric_for_best_model": "accuracy", "save_total_limit": 1, "seed": 42}}


def sweep_process(args, workdir: Path, name: str, trials: int, gpus: int, pruner: str) -> subprocess.Popen:
    runs_dir = workdir / name
    runs_dir.mkdir(parents=True)
    (workdir / "config.json").write_text(json.dumps(base_config(args)))
    (workdir / "space.json").write_text(json.dumps(SPACE))
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ",".join(str(i) for i in range(gpus))}
    command = [sys.executable, "-m", "core.sweep", "run", "--config", str(workdir / "config.json"), "--space",
               str(workdir / "space.json"), "--trials", str(trials), "--name", name, "--pruner", pruner,
               "--seed", str(args.seed), "--runs-dir", str(runs_dir)]
    log = open(workdir / f"{name}.log", "w")
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def summary(runs_dir: Path, name: str) -> dict:
    from core.search import sweeps

    return sweeps.sweep_summary(name, runs_dir)


def intervals(runs_dir: Path) -> list[dict]:
    """Each trial run's GPU and the time it held it: from the queue's launch to the run's end."""
    rows = []
    for run in runs.list_runs(runs_dir):
        status = runs.read_status(run.path)
        if status.get("launched_at") is None:
            continue
        slot = (status.get("slots") or [status.get("slot") or "?"])[0]
        rows.append({"run": run.run_id, "slot": slot, "start": float(status["launched_at"]),
                     "end": epoch_seconds(status.get("ended_at")) or time.time(), "state": status.get("state")})
    return sorted(rows, key=lambda r: r["start"])


def occupancy(rows: list[dict]) -> dict:
    """Most trials at once on one GPU, each GPU's busy share until the last trial started, and the gaps between
    a trial's end and the next start on the same GPU."""
    most, busy, gaps = 0, {}, []
    if not rows:
        return {"most_at_once": 0, "busy": {}, "gaps": []}
    window = (rows[0]["start"], max(r["start"] for r in rows))
    for slot in sorted({r["slot"] for r in rows}):
        mine = [r for r in rows if r["slot"] == slot]
        for r in mine:
            most = max(most, sum(1 for o in mine if o["start"] < r["end"] and o["end"] > r["start"]))
        gaps += [b["start"] - a["end"] for a, b in zip(mine, mine[1:])]
        held = sum(max(0.0, min(r["end"], window[1]) - max(r["start"], window[0])) for r in mine)
        busy[slot] = held / (window[1] - window[0]) if window[1] > window[0] else 1.0
    return {"most_at_once": most, "busy": busy, "gaps": gaps}


def timed_sweep(args, workdir: Path, name: str, gpus: int) -> dict:
    began = time.time()
    process = sweep_process(args, workdir, name, args.trials_per_gpu * args.gpus, gpus, "median")
    code = process.wait(timeout=args.timeout)
    wall = time.time() - began
    result = summary(workdir / name, name)
    states = [t["state"] for t in result["trials"]]
    return {"name": name, "gpus": gpus, "exit": code, "wall_s": wall, "best": result["best"],
            "pruned": states.count("pruned"), "complete": states.count("complete"), "failed": states.count("failed"),
            **occupancy(intervals(workdir / name))}


def trial_runs(runs_dir: Path) -> list[runs.RunSummary]:
    return [r for r in runs.list_runs(runs_dir) if r.status.get("sweep")]


def step_of(run: Path) -> int:
    return int((runs.read_status(run).get("progress") or {}).get("step") or 0)


def wait_until(check, timeout: float) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if check():
            return True
        time.sleep(0.5)
    return False


def kill_one(args, workdir: Path) -> dict:
    """Kill one training trial while N train; the others go on, it is shown failed, its GPU takes the next."""
    name = "kill"
    runs_dir = workdir / name
    process = sweep_process(args, workdir, name, 2 * args.gpus, args.gpus, "none")

    def training() -> list[runs.RunSummary]:
        return [r for r in trial_runs(runs_dir) if r.status.get("state") == "running" and step_of(r.path) > 0]

    if not wait_until(lambda: len(training()) >= args.gpus, args.timeout / 2):
        process.kill()
        return {"error": f"{args.gpus} trials never trained at once"}
    victim, *others = training()
    slot = victim.status["slots"][0]
    before = {r.run_id: step_of(r.path) for r in others}
    os.killpg(os.getpgid(int(victim.status["pid"])), signal.SIGKILL)
    killed_at = time.time()
    shown_failed = wait_until(lambda: runs.reconcile(victim.path).get("state") == "failed", 60)
    failed_after = time.time() - killed_at
    others_went_on = wait_until(lambda: all(step_of(r.path) > before[r.run_id] or
                                            runs.read_status(r.path).get("state") == "completed" for r in others), 60)
    others_states = {r.run_id: runs.read_status(r.path).get("state") for r in others}
    next_on_slot = wait_until(lambda: any(r.status.get("slots") == [slot] and r.run_id != victim.run_id
                                          and r.status.get("launched_at", 0) > killed_at for r in trial_runs(runs_dir)),
                              60)
    code = process.wait(timeout=args.timeout)
    trials = summary(runs_dir, name)["trials"]
    row = next(t for t in trials if t["run_id"] == victim.run_id)
    return {"victim": victim.run_id, "slot": slot, "shown_failed_after_s": failed_after if shown_failed else None,
            "others_went_on": others_went_on, "others_states_then": others_states, "next_trial_on_its_gpu":
            next_on_slot, "trial_state": row["state"], "trial_reason": row["reason"], "exit": code,
            "other_trials": {t["number"]: t["state"] for t in trials if t["run_id"] != victim.run_id}}


def report(args, wide: dict, narrow: dict | None, killed: dict | None) -> str:
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    lines = [f"- Machine: {platform.node()}, {gpu}, {os.cpu_count()} cores, torch {torch.__version__}, "
             f"Python {platform.python_version()}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
             f"- Command: `python bench/sweep_gpus.py {' '.join(sys.argv[1:])}`",
             f"- Sweep: {args.model}, tweets ({args.train_size} train / {args.eval_size} eval, max length 64), "
             f"{args.epochs} epochs, an evaluation each epoch; learning rate 1e-6..1e-2 (log) and batch 32 or 64; "
             f"{args.trials_per_gpu * args.gpus} trials, TPE seed {args.seed}, median pruner, one trial per GPU.", "",
             "| sweep | GPUs | wall (s) | speed-up | complete / pruned / failed | best accuracy | "
             "most trials on one GPU at once | each GPU busy until the last start | gap end → next start (s) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for arm in [a for a in (narrow, wide) if a]:
        speed = f"{narrow['wall_s'] / arm['wall_s']:.2f}x" if narrow else ""
        best = f"{arm['best']['value']:.4f}" if arm["best"] else "–"
        busy = ", ".join(f"{slot} {share:.0%}" for slot, share in arm["busy"].items())
        gaps = (f"median {statistics.median(arm['gaps']):.1f}, max {max(arm['gaps']):.1f}" if arm["gaps"] else "–")
        lines.append(f"| {arm['name']} | {arm['gpus']} | {arm['wall_s']:.0f} | {speed} | {arm['complete']} / "
                     f"{arm['pruned']} / {arm['failed']} | {best} | {arm['most_at_once']} | {busy} | {gaps} |")
    if narrow:
        lines.append(f"\n- Target wall speed-up >= {0.8 * args.gpus:.1f}x (0.8 N): "
                     f"{narrow['wall_s'] / wide['wall_s']:.2f}x.")
    if killed:
        lines.append(f"- A killed trial: {json.dumps(killed)}")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpus", type=int, default=2)
    parser.add_argument("--trials-per-gpu", type=int, default=4)
    parser.add_argument("--model", default="minilm-l6")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--train-size", type=int, default=8000)
    parser.add_argument("--eval-size", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--timeout", type=float, default=900, help="seconds each sweep may take")
    parser.add_argument("--parts", nargs="+", default=["wide", "narrow", "kill"], choices=["wide", "narrow", "kill"])
    parser.add_argument("--out", default=None, help="append the tables to this file too")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-sweep-gpus-"))
    wide = timed_sweep(args, workdir, "wide", args.gpus) if "wide" in args.parts else None
    narrow = timed_sweep(args, workdir, "narrow", 1) if "narrow" in args.parts else None
    killed = kill_one(args, workdir) if "kill" in args.parts else None
    text = report(args, wide or narrow, narrow if wide else None, killed)
    print(text)
    if args.out:
        with open(args.out, "a", encoding="utf-8") as out:
            out.write(text)


if __name__ == "__main__":
    main()
