"""Where a training step's time goes, for benchmarks and bug reports: `DASHBOARD_PROFILE=FIRST:COUNT` makes
the child profile optimizer steps FIRST+1 .. FIRST+COUNT with torch.profiler and write `profile.txt` to the
run folder (wall, CPU and device time per step, then the operators that took the most device time).

Off unless the variable is set; the dashboard never sets it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from core.rundir import runs
from core.rundir.layout import RunDir

PROFILE_ENV = "DASHBOARD_PROFILE"


def requested() -> tuple[int, int] | None:
    """(first, count) from DASHBOARD_PROFILE, or None. A malformed value is ignored, not fatal."""
    raw = os.environ.get(PROFILE_ENV, "")
    try:
        first, count = (int(part) for part in raw.split(":"))
    except ValueError:
        return None
    return (first, count) if first >= 0 and count > 0 else None


def callbacks(run_dir: Path, device: str) -> list:
    window = requested()
    if window is None or not runs.is_writer():
        return []
    from transformers import TrainerCallback

    class StepProfiler(TrainerCallback):
        def __init__(self):
            self.profiler, self.started = None, 0.0

        def on_step_begin(self, args, state, control, **kwargs):
            if state.global_step == window[0] and self.profiler is None:
                from torch.profiler import ProfilerActivity, profile

                activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == "cuda" else [])
                _sync(device)
                self.profiler = profile(activities=activities)
                self.profiler.__enter__()
                self.started = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            if self.profiler is not None and state.global_step == window[0] + window[1]:
                _sync(device)
                wall = time.perf_counter() - self.started
                self.profiler.__exit__(None, None, None)
                write_report(RunDir(run_dir).profile, self.profiler, wall, window[1], device)
                self.profiler = None

    return [StepProfiler()]


def _sync(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.synchronize()


def write_report(path: Path, profiler, wall_s: float, steps: int, device: str) -> None:
    events = profiler.key_averages()
    from torch.autograd import DeviceType

    # Kernels only (as the table's footer counts): the CPU-side operator rows repeat their kernels' time.
    device_us = sum(e.self_device_time_total for e in events
                    if e.device_type != DeviceType.CPU and not getattr(e, "is_user_annotation", False))
    cpu_us = sum(e.self_cpu_time_total for e in events)
    sort = "self_device_time_total" if device == "cuda" else "self_cpu_time_total"
    lines = [f"profiled steps: {steps}; wall {wall_s / steps * 1e3:.1f} ms/step; "
             f"device busy {device_us / steps / 1e3:.1f} ms/step ({device_us / 1e6 / max(wall_s, 1e-9):.0%} of wall); "
             f"operator CPU time {cpu_us / steps / 1e3:.1f} ms/step",
             events.table(sort_by=sort, row_limit=30, max_name_column_width=70)]
    if device == "cuda":  # what keeps the CPU busy between kernel launches
        lines += ["", "by CPU time:", events.table(sort_by="cpu_time_total", row_limit=30, max_name_column_width=70)]
    path.write_text("\n".join(lines) + "\n")
