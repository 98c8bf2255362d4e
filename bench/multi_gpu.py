"""One GPU against two, through the dashboard's own launch path (core.runner.launcher.start_run → torchrun → DDP).

  python bench/multi_gpu.py [--parity-only | --scaling-only]

Needs a machine of 2 CUDA GPUs. Prints two Markdown tables:
  parity:  final eval accuracy of tiny-random on 2,000 tweets, 1 GPU at batch 32 against 2 GPUs at batch 16
           each (the same effective batch), seeds 1-3;
  scaling: training samples/s of the BERT-base-sized random model on BBC News articles truncated at 512
           tokens, the fast preset (bf16, SDPA, fused AdamW, torch.compile), --batch per GPU (32), on 1 GPU
           and on 2 (whole-run figure, and the steady state after 40 steps from the training lines' timestamps);
           --gradient-views both adds a 2-GPU run without DDP's gradient bucket views.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.config.schema import RunConfig  # noqa: E402
from core.plan import presets
from core.rundir import runs
from core.runner import launcher  # noqa: E402


def run(raw: dict, runs_dir: Path) -> Path:
    run_dir = launcher.start_run(RunConfig.from_dict(raw), runs_dir)
    while runs.reconcile(run_dir).get("state") not in runs.FINAL_STATES:
        time.sleep(1)
    status = runs.read_status(run_dir)
    if status["state"] != "completed":
        print(runs.read_log_tail(run_dir), file=sys.stderr)
        raise SystemExit(f"{run_dir.name} ended {status['state']}")
    return run_dir


def parity(runs_dir: Path) -> None:
    print("\n| seed | 1 GPU, batch 32: accuracy | 2 GPUs, batch 16 each: accuracy |\n| --- | --- | --- |")
    for seed in (1, 2, 3):
        accuracies = []
        for processes, batch in ((1, 32), (2, 16)):
            raw = {"name": f"parity {processes} gpu seed {seed}",
                   "data": {"name": "tweet-sentiment", "train_size": 2000, "eval_size": 500, "seed": seed},
                   "model": {"name": "tiny-random"},
                   "hardware": {"device": "cuda", "processes": processes, "compile": "off"},
                   "training": {"num_train_epochs": 6, "learning_rate": 2e-3, "per_device_train_batch_size": batch,
                                "seed": seed, "logging_steps": 10}}
            results = runs.read_json(run(raw, runs_dir) / "results.json")
            accuracies.append(results["final_metrics"]["accuracy"])
        print(f"| {seed} | {accuracies[0]:.3f} | {accuracies[1]:.3f} |", flush=True)


def steady_samples_per_second(records: list[dict], global_batch: int, warmup_steps: int = 10) -> float:
    """Samples/s between the first training line after warm-up and the last one, from their timestamps:
    the whole-run figure carries CUDA and NCCL start-up, which a short run cannot amortise."""
    train = [r for r in records if r["type"] == "train"]
    first = next(r for r in train if r["step"] >= warmup_steps)
    last = train[-1]
    return (last["step"] - first["step"]) * global_batch / (last["time"] - first["time"])


def scaling(runs_dir: Path, compile_: str = "auto", warmup_steps: int = 40, counts=(1, 2),
            keep: Path | None = None, batch: int = 32, gradient_views: str = "on",
            buckets_mb=(None,)) -> None:
    """Each GPU count in `counts`; `gradient_views` both: 2 GPUs once with DDP's gradient bucket views
    and once without (DASHBOARD_DDP_GRADIENT_VIEWS=0), side by side; each of `buckets_mb`
    as training.ddp_bucket_cap_mb of the 2-GPU runs (None: the preset's)."""
    epochs = max(4, 4 * batch // 32)  # the same number of steps whatever the batch
    rows = []
    for processes in counts:
        views = ["on"] if processes == 1 else (["off", "on"] if gradient_views == "both" else [gradient_views])
        for view in views:
            for bucket in (buckets_mb if processes > 1 else (None,)):
                rows.append(scaling_row(runs_dir, processes, view, bucket, compile_, batch, epochs, warmup_steps,
                                        keep))
    print(f"\nspeed preset fast, torch.compile {compile_}, batch {batch} per GPU, {epochs} epochs, steady state "
          f"after {warmup_steps} steps")
    print_scaling(rows)


def scaling_row(runs_dir: Path, processes: int, view: str, bucket: int | None, compile_: str, batch: int,
                epochs: int, warmup_steps: int, keep: Path | None) -> tuple:
    """One scaling run: (GPUs, views, bucket MB, whole-run samples/s, steady samples/s, peak memory MB)."""
    from core.training.trainer_setup import DDP_GRADIENT_VIEWS_ENV

    raw = {"name": f"scaling {processes} gpu",
           "data": {"name": "bbc-news", "train_size": 2000, "eval_size": 200, "max_length": 512},
           "model": {"name": "bert-base-random"},
           "hardware": {"device": "cuda", "processes": processes, "compile": compile_},
           "training": {"num_train_epochs": epochs, "per_device_train_batch_size": batch,
                        "eval_strategy": "no", "load_best_model_at_end": False, "save_strategy": "no",
                        "logging_steps": 10, **({"ddp_bucket_cap_mb": bucket} if bucket else {})}}
    os.environ[DDP_GRADIENT_VIEWS_ENV] = "1" if view == "on" else "0"
    run_dir = run(raw, runs_dir)
    if keep is not None and (run_dir / "profile.txt").exists():  # DASHBOARD_PROFILE was set
        keep.mkdir(parents=True, exist_ok=True)
        (keep / f"profile-{processes}gpu-views-{view}.txt").write_text((run_dir / "profile.txt").read_text())
    records = runs.read_metrics(run_dir)
    summary = next(r for r in records if r["type"] == "summary")
    memory = max(r.get("memory_mb", 0) for r in records if r["type"] == "train")
    planned = presets.speed_plan(RunConfig.from_dict(raw), presets.device_facts("cuda"))
    bucket = bucket or planned["training_arguments"].get("ddp_bucket_cap_mb", 25)  # 25: DDP's own
    return (processes, view, bucket, summary["train_samples_per_second"],
            steady_samples_per_second(records, batch * processes, warmup_steps), memory)


def print_scaling(rows: list[tuple]) -> None:
    print("| GPUs | DDP gradient views | DDP bucket (MB) | samples/s (whole run, Trainer's figure) |"
          " samples/s (steady state) | peak memory per GPU (MB) |\n| --- | --- | --- | --- | --- | --- |")
    for processes, view, bucket, whole, steady, memory in rows:
        several = processes > 1
        print(f"| {processes} | {view if several else '-'} | {bucket if several else '-'} | {whole:.1f} | "
              f"{steady:.1f} | {memory:.0f} |")
    one = next((r for r in rows if r[0] == 1), None)
    for processes, view, bucket, whole, steady, _ in rows:
        if one and processes == 2:
            print(f"scaling 2 vs 1 GPU (views {view}, bucket {bucket} MB): whole run {whole / one[3]:.2f}x, "
                  f"steady state {steady / one[4]:.2f}x", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--parity-only", action="store_true")
    parser.add_argument("--scaling-only", action="store_true")
    parser.add_argument("--compile", default="auto", choices=("auto", "on", "off"),
                        help="hardware.compile for the scaling runs (the app's fast preset compiles on CUDA)")
    parser.add_argument("--gpus", type=int, nargs="*", default=[1, 2], help="scaling: GPU counts to run")
    parser.add_argument("--keep", type=Path, help="copy the runs' profile.txt (DASHBOARD_PROFILE) here")
    parser.add_argument("--bucket-mb", type=int, nargs="*", default=[None],
                        help="scaling: training.ddp_bucket_cap_mb values for the 2-GPU runs (default: the preset's)")
    parser.add_argument("--batch", type=int, default=32, help="scaling: per-GPU batch")
    parser.add_argument("--gradient-views", default="on", choices=("on", "off", "both"),
                        help="scaling: DDP gradient_as_bucket_view on the 2-GPU runs (both: each, side by side)")
    args = parser.parse_args()
    runs_dir = Path(tempfile.mkdtemp(prefix="bench-multi-gpu-"))
    if not args.scaling_only:
        parity(runs_dir)
    if not args.parity_only:
        scaling(runs_dir, args.compile, counts=tuple(args.gpus), keep=args.keep, batch=args.batch,
                gradient_views=args.gradient_views, buckets_mb=tuple(args.bucket_mb))


if __name__ == "__main__":
    main()
