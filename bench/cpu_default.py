"""CPU benchmark of the dashboard's own training path (`python -m core.train`), side by side in one run.

  python bench/cpu_default.py            # everything (about 12 minutes on 2 cores)
  python bench/cpu_default.py --quick    # skip the full default run

Prints a Markdown table; copy it into bench/RESULTS.md with the machine, date and command.
Measures:
  1. batching: random shuffle vs. group_by_length (MiniLM-L6, 640 tweets, 1 epoch);
  2. OMP_WAIT_POLICY=PASSIVE vs. the OpenMP default while another process keeps one core busy
     (what a browser redrawing charts does to a 2-core laptop);
  3. the default run of the New run page end to end: wall time, time to the first step,
     training samples/s, and eval accuracy against the majority-class rate.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.rundir import runs  # noqa: E402

THROUGHPUT = {"data": {"train_size": 640, "eval_size": 100},
              "training": {"num_train_epochs": 1, "eval_strategy": "no", "load_best_model_at_end": False,
                           "logging_steps": 5}}


def train(config: dict, workdir: Path, name: str, env: dict | None = None) -> dict:
    """One real training run through the CLI; returns its summary line, status and wall time."""
    config_path = workdir / f"{name}.json"
    config_path.write_text(json.dumps(config))
    run_dir = workdir / name
    started = time.time()
    subprocess.run([sys.executable, "-m", "core.train", "--config", str(config_path), "--run-dir", str(run_dir),
                    "--cache-dir", str(workdir / "cache")], cwd=ROOT, check=True,
                   env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.time() - started
    records = runs.read_metrics(run_dir)
    summary = next(r for r in records if r["type"] == "summary")
    return {"summary": summary, "records": records, "status": runs.read_status(run_dir), "wall": wall,
            "run_dir": run_dir, "started": started}


def with_busy_core(fn):
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        return fn()
    finally:
        hog.kill()


def sampling_config(strategy: str) -> dict:
    return {**THROUGHPUT, "training": {**THROUGHPUT["training"], "train_sampling_strategy": strategy}}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="skip the full default run")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-cpu-"))
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"python {platform.python_version()}")
    # Warm the tokenization cache so every timed run reads the same tokens.
    train(sampling_config("random"), workdir, "warmup")
    rows = []
    random_run = train(sampling_config("random"), workdir, "random")
    grouped_run = train(sampling_config("group_by_length"), workdir, "grouped")
    r, g = (x["summary"]["train_samples_per_second"] for x in (random_run, grouped_run))
    rows.append(("batching: random (samples/s)", f"{r:.2f}", ""))
    rows.append(("batching: group_by_length (samples/s)", f"{g:.2f}", f"{g / r:.2f}x"))
    spin = with_busy_core(lambda: train(sampling_config("group_by_length"), workdir, "busy-spin",
                                        env={"OMP_WAIT_POLICY": "ACTIVE"}))
    passive = with_busy_core(lambda: train(sampling_config("group_by_length"), workdir, "busy-passive",
                                           env={"OMP_WAIT_POLICY": "PASSIVE"}))
    quiet_passive = train(sampling_config("group_by_length"), workdir, "quiet-passive",
                          env={"OMP_WAIT_POLICY": "PASSIVE"})
    s, p, q = (x["summary"]["train_samples_per_second"] for x in (spin, passive, quiet_passive))
    rows.append(("one core busy, OMP_WAIT_POLICY=ACTIVE (samples/s)", f"{s:.2f}", ""))
    rows.append(("one core busy, OMP_WAIT_POLICY=PASSIVE (samples/s)", f"{p:.2f}", f"{p / s:.2f}x"))
    rows.append(("idle machine, PASSIVE vs. default above", f"{q:.2f}", f"{q / g:.2f}x"))
    if not args.quick:
        rows += default_run_rows(workdir)
    print("\n| measurement | value | ratio |\n| --- | --- | --- |")
    for row in rows:
        print(f"| {row[0]} | {row[1]} | {row[2]} |")


def default_run_rows(workdir: Path) -> list[tuple[str, str, str]]:
    """The New run page's defaults, unchanged, with a cold tokenization cache (a first start)."""
    result = train({}, workdir, "default", env={"OMP_WAIT_POLICY": "PASSIVE"})
    trains = [r for r in result["records"] if r["type"] == "train"]
    evals = [r for r in result["records"] if r["type"] == "eval"]
    dataset = runs.read_json(result["run_dir"] / "dataset.json")
    final = runs.read_json(result["run_dir"] / "results.json")["final_metrics"]
    first_step = trains[0]["time"] - result["started"]
    return [
        ("default run: wall time, start to completed (s)", f"{result['wall']:.0f}", ""),
        ("default run: start to first training step (s), cold cache", f"{first_step:.1f}", ""),
        ("default run: training samples/s", f"{result['summary']['train_samples_per_second']:.2f}", ""),
        ("default run: eval accuracy per epoch",
         ", ".join(f"{e['eval_accuracy']:.3f}" for e in evals), ""),
        ("default run: final accuracy / F1 of the saved (best) model",
         f"{final['accuracy']:.3f} / {final['f1']:.3f}", ""),
        ("default run: majority-class rate of the eval set", f"{dataset['majority_rate']:.3f}", ""),
    ]


if __name__ == "__main__":
    main()
