"""Several runs on one GPU through the dashboard's own queue and child: aggregate samples/s for k = 1, 2, 4.

  python bench/share_gpu.py [--model bert-base-random] [--ks 1 2 4] [--steps 600] [--out FILE]

For each k, k identical runs (tweet-like lengths, batch 64, same seed) are started with `launcher.start_run`
and `hardware.runs_per_gpu = k`, so the queue puts all of them on cuda:0 at once. The aggregate rate is counted
over the window where every run is past its warm-up and none has ended: the steps each run made in that window
(from the times of its metrics lines), times the batch, over the window's length. Each run's own steady-state
figure (results.json) is shown as well, with the final training loss (same seed: the same loss at every k),
and the GPU's utilisation as the child sampled it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.config.schema import RunConfig  # noqa: E402
from core.rundir import runs  # noqa: E402
from core.rundir.layout import RunDir  # noqa: E402
from core.runner import launcher, process  # noqa: E402

TWEETS = {"name": "tweet-sentiment", "train_size": 30000, "eval_size": 100, "max_length": 128}
NO_EVAL = {"eval_strategy": "no", "load_best_model_at_end": False, "save_strategy": "no"}
WARMUP_SHARE = 0.2


def config(model: dict, k: int, steps: int, compile_: str, device: str = "cuda") -> RunConfig:
    return RunConfig.from_dict({"name": f"share k{k}", "data": TWEETS, "model": model,
                                "hardware": {"device": device, "runs_per_gpu": k, "compile": compile_},
                                "training": {"per_device_train_batch_size": 64, "max_steps": steps,
                                             "logging_steps": 25, "seed": 42, **NO_EVAL}})


def wait_all(run_dirs: list[Path], timeout_s: float) -> None:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        process.reap_children()
        if all(runs.reconcile(r).get("state") in runs.FINAL_STATES for r in run_dirs):
            return
        time.sleep(1.0)
    for run_dir in run_dirs:  # past the limit: stop them, so the next k finds the GPU free
        launcher.request_stop(run_dir)
        launcher.request_stop(run_dir)


def steps_at(points: list[tuple[float, int]], when: float) -> float:
    """A run's step count at time `when`, interpolated between its metrics lines."""
    for (t0, s0), (t1, s1) in zip(points, points[1:]):
        if t0 <= when <= t1:
            return s0 + (s1 - s0) * (when - t0) / max(t1 - t0, 1e-9)
    return float(points[-1][1] if when > points[-1][0] else points[0][1])


def aggregate(run_dirs: list[Path], batch: int, steps: int) -> dict:
    """Samples/s of all runs together over the window where all of them train in steady state."""
    curves = []
    for run_dir in run_dirs:
        lines = [r for r in runs.read_metrics(run_dir) if r["type"] == "train"]
        curves.append([(r["time"], r["step"]) for r in lines])
    if not all(len(c) >= 3 for c in curves):
        return {}
    # From the first training line of any run to the last line of all: what a sweep sees, start-up staggering in.
    first, last = min(c[0][0] for c in curves), max(c[-1][0] for c in curves)
    overall = {"overall_samples_per_second": sum(c[-1][1] - c[0][1] for c in curves) * batch / max(last - first, 1e-9)}
    warm = WARMUP_SHARE * steps
    start = max(next(t for t, s in c if s >= warm) for c in curves)
    end = min(c[-1][0] for c in curves)
    if end <= start:
        return overall
    done = sum(steps_at(c, end) - steps_at(c, start) for c in curves)
    return {"samples_per_second": done * batch / (end - start), "window_s": end - start, **overall}


def gpu_utilisation(run_dir: Path) -> float | None:
    values = [r.get("gpu_utilization") for r in runs.read_jsonl(RunDir(run_dir).resources)]
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def measure(runs_dir: Path, model: dict, k: int, steps: int, compile_: str, timeout_s: float,
            device: str = "cuda") -> dict:
    started = time.time()
    run_dirs = [launcher.start_run(config(model, k, steps, compile_, device), runs_dir) for _ in range(k)]
    slots = [runs.read_status(r).get("slots") for r in run_dirs]
    wait_all(run_dirs, timeout_s)
    results = [runs.read_json(r / "results.json", {}) or {} for r in run_dirs]
    losses = [[r for r in runs.read_metrics(d) if r["type"] == "train"][-1].get("loss") for d in run_dirs]
    return {"k": k, "slots": slots, "states": [runs.read_status(r).get("state") for r in run_dirs],
            "own": [r.get("performance", {}).get("samples_per_second") for r in results],
            "peak_mb": [r.get("performance", {}).get("peak_memory_mb") for r in results],
            "final_loss": losses, "gpu_util": gpu_utilisation(run_dirs[0]), "wall_s": time.time() - started,
            **aggregate(run_dirs, 64, steps)}


def table(rows: list[dict], label: str) -> list[str]:
    one = next((r.get("samples_per_second") for r in rows if r["k"] == 1), None)
    lines = [f"| model | k runs on one GPU | aggregate samples/s | x k=1 | each run's own samples/s | peak MB per run | "
             "first to last training line, samples/s | GPU utilisation (median) | final train loss per run | wall (s) |",
             "| --- " * 10 + "|"]
    for r in rows:
        rate = r.get("samples_per_second") or 0
        ratio = f"{rate / one:.2f}x" if one and rate else ""
        own = ", ".join(f"{x:.0f}" for x in r["own"] if x)
        loss = ", ".join(f"{x:.4f}" for x in r["final_loss"] if x is not None)
        util = f"{r['gpu_util']:.0f}%" if r.get("gpu_util") is not None else ""
        peak = ", ".join(f"{x:.0f}" for x in r["peak_mb"] if x)
        lines.append(f"| {label} | {r['k']} | {rate:.0f} | {ratio} | {own} | {peak} | "
                     f"{r.get('overall_samples_per_second', 0):.0f} | {util} | {loss} | "
                     f"{r['wall_s']:.0f} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="bert-base-random", help="a built-in model name")
    parser.add_argument("--ks", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--compile", default="off", choices=("on", "off"))
    parser.add_argument("--timeout", type=float, default=240, help="seconds per k before its runs are stopped")
    parser.add_argument("--out", type=Path, default=None, help="append the table to this file")
    parser.add_argument("--device", default="cuda", help="cpu only to check this script (DASHBOARD_CPU_SLOTS=k)")
    args = parser.parse_args()
    runs_dir = Path(tempfile.mkdtemp(prefix="bench-share-")) / "runs"
    runs_dir.mkdir()
    rows = []
    for k in args.ks:
        rows.append(measure(runs_dir, {"name": args.model}, k, args.steps, args.compile, args.timeout, args.device))
        print(json.dumps(rows[-1]), flush=True)
    lines = table(rows, f"{args.model}, compile {args.compile}")
    print("\n".join(lines))
    if args.out:
        with open(args.out, "a", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n\n")
    print(f"run folders: {runs_dir}")


if __name__ == "__main__":
    main()
