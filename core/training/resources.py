"""Resource use of the training child over time, for the Live run page's charts.

A daemon thread samples the child's own process and its workers (CPU use, resident memory) and, on CUDA, the
memory PyTorch holds and the GPU's utilisation, every SAMPLE_EVERY_S seconds, and appends one line per sample
to the run's resources.jsonl (flushed at once; readers skip a torn last line, as for metrics.jsonl).
Each line carries `sample_cpu_ms`, the CPU time the sample took, so its cost can be read back from the run.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

from transformers import TrainerCallback

from core.rundir import runs
from core.rundir.layout import RunDir

# Every few seconds: the Live run page redraws every 4 s or more, and one sample costs about 2 ms of CPU, most of it
# finding the child processes (bench/RESULTS.md), so sampling takes well under 0.1% of the training time.
SAMPLE_EVERY_S = 5.0


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS has no affinity call
        return os.cpu_count() or 1


class ProcessSampler:
    """CPU % (100 = one core) and resident memory of this process and its child processes (loader workers)."""

    def __init__(self, device: str = "cpu"):
        import psutil

        self.process = psutil.Process()
        self.process.cpu_percent(None)  # the first call only starts the clock
        self.workers: dict[int, psutil.Process] = {}  # kept, so each one's CPU % counts from the last sample
        self.cores = _usable_cores()
        self.cuda_index = self._cuda_index(device)
        self.gpu_utilization_works = self.cuda_index is not None

    @staticmethod
    def _cuda_index(device: str) -> int | None:
        torch = sys.modules.get("torch")  # the child has imported it; never import it here
        if device != "cuda" or torch is None or not torch.cuda.is_available():
            return None
        return torch.cuda.current_device()

    def _live_workers(self) -> list:
        import psutil

        try:
            current = {child.pid: child for child in self.process.children(recursive=True)}
        except psutil.Error:
            current = {}
        for pid, child in current.items():
            if pid not in self.workers:
                self.workers[pid] = child
                child.cpu_percent(None)
        self.workers = {pid: w for pid, w in self.workers.items() if pid in current}
        return [self.process, *self.workers.values()]

    def sample(self) -> dict:
        """One sample: cpu_percent, cores, rss_mb, processes; on CUDA also the GPU's memory and utilisation."""
        import psutil

        cpu, rss, counted = 0.0, 0, 0
        for proc in self._live_workers():
            try:
                cpu += proc.cpu_percent(None)
                rss += proc.memory_info().rss
                counted += 1
            except psutil.Error:  # a worker that ended between the listing and the reading
                continue
        record = {"cpu_percent": round(cpu, 1), "cores": self.cores, "rss_mb": round(rss / 2**20, 1),
                  "processes": counted}
        if self.cuda_index is not None:
            record.update(self._cuda_sample())
        return record

    def _cuda_sample(self) -> dict:
        import torch

        out = {"gpu_allocated_mb": round(torch.cuda.memory_allocated(self.cuda_index) / 2**20, 1),
               "gpu_reserved_peak_mb": round(torch.cuda.max_memory_reserved(self.cuda_index) / 2**20, 1)}
        if self.gpu_utilization_works:
            try:  # needs pynvml (nvidia-ml-py); without it there is no utilisation, quietly
                out["gpu_utilization"] = float(torch.cuda.utilization(self.cuda_index))
            except Exception:
                self.gpu_utilization_works = False
        return out


class ResourceRecorder(TrainerCallback):
    """Samples at the start and end of training and every `every_s` seconds in between, in a daemon thread."""

    def __init__(self, run_dir: Path, device: str = "cpu", every_s: float = SAMPLE_EVERY_S):
        self.path = RunDir(run_dir).resources
        self.sampler = ProcessSampler(device)
        self.every_s = every_s
        self.step = 0  # the latest optimizer step, written by the training thread, read by the sampler
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = None

    def on_train_begin(self, args, state, control, **kwargs):
        self.step = state.global_step
        self.record()
        self._thread = threading.Thread(target=self._loop, name="resource-sampler", daemon=True)
        self._thread.start()

    def on_step_end(self, args, state, control, **kwargs):
        self.step = state.global_step

    def on_train_end(self, args, state, control, **kwargs):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.every_s)
        self.step = state.global_step
        self.record()

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self.record()
            except Exception as exc:  # sampling must never end a training run
                print(f"Resource sampling stopped: {exc}", flush=True)
                return

    def record(self) -> None:
        """Take one sample and append it to resources.jsonl."""
        with self._lock:
            started = time.thread_time()  # CPU time of this thread: waiting for the GIL costs training nothing
            sample = {"time": time.time(), "step": self.step, **self.sampler.sample()}
            sample["sample_cpu_ms"] = round((time.thread_time() - started) * 1e3, 3)
            runs.append_jsonl(self.path, sample)

