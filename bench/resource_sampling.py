"""What the training child's resource sampling (core/training/resources.py) costs.

  python bench/resource_sampling.py            # CPU: matrix products in the main thread
  python bench/resource_sampling.py --gpu      # CUDA: matrix products on the GPU, GPU figures sampled too

A workload runs in the main thread as training would, in rounds alternating without and with the sampler
thread; the sampler runs every --every seconds (default 0.1 s, 50 times the child's rate, so its cost shows
above the noise). Prints the CPU time one sample takes, the workload's rate with and without sampling, and
the share of time sampling takes at the child's real interval. Copy the figures into bench/RESULTS.md with
the machine, date and command.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.rundir import runs  # noqa: E402
from core.training.resources import ResourceRecorder, SAMPLE_EVERY_S  # noqa: E402


class Step:
    global_step, max_steps = 0, 0


def workload(device: str, seconds: float) -> float:
    """Matrix products for `seconds`; returns products per second."""
    import torch

    size = 4096 if device == "cuda" else 384
    a = torch.randn(size, size, device=device)
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a = (a @ a).clamp_(-1, 1)
        done += 1
        if device == "cuda" and done % 20 == 0:
            torch.cuda.synchronize()
    if device == "cuda":
        torch.cuda.synchronize()
    return done / (time.perf_counter() - start)


def sampled_round(device: str, seconds: float, every: float, run_dir: Path) -> float:
    recorder = ResourceRecorder(run_dir, device, every_s=every)
    recorder.on_train_begin(None, Step, None)
    rate = workload(device, seconds)
    recorder.on_train_end(None, Step, None)
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpu", action="store_true")
    parser.add_argument("--every", type=float, default=0.1)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    device = "cuda" if args.gpu else "cpu"
    workload(device, 2.0)  # warm-up: allocator, kernels, threads
    run_dir = Path(tempfile.mkdtemp())
    plain, sampled = [], []
    for _ in range(args.rounds):
        plain.append(workload(device, args.seconds))
        sampled.append(sampled_round(device, args.seconds, args.every, run_dir))
    samples = runs.read_resources(run_dir)
    cpu_ms = sorted(s["sample_cpu_ms"] for s in samples)
    mean_ms = statistics.mean(cpu_ms)
    print(f"device {device}; {len(samples)} samples every {args.every} s over {args.rounds} rounds of "
          f"{args.seconds:g} s")
    print(f"CPU time per sample: mean {mean_ms:.3f} ms, median {statistics.median(cpu_ms):.3f} ms, "
          f"p95 {cpu_ms[int(len(cpu_ms) * 0.95)]:.3f} ms")
    print(f"workload rate without sampling: {statistics.median(plain):.2f}/s (rounds {plain})")
    print(f"workload rate with sampling every {args.every} s: {statistics.median(sampled):.2f}/s "
          f"(rounds {sampled}); change {statistics.median(sampled) / statistics.median(plain) - 1:+.2%}")
    print(f"share of time sampling takes at the child's interval of {SAMPLE_EVERY_S:g} s: "
          f"{mean_ms / 1e3 / SAMPLE_EVERY_S:.4%}")
    print("last sample:", samples[-1])


if __name__ == "__main__":
    main()
