"""What a run really cost: steady-state samples/s and real (non-pad) tokens/s, time per epoch and peak
memory, measured in the child and stored in results.json under "performance" next to the estimate.

The meter synchronises the GPU only a few times per run (at the start and end of its window and around
evaluations), so measuring costs nothing per step.
"""

from __future__ import annotations

import resource
import sys
import time

from transformers import TrainerCallback

# Steps left out of the steady-state window: CUDA start-up, torch.compile and the allocator warming up.
WARMUP_SHARE, MIN_WARMUP_STEPS = 0.2, 3


def peak_rss_mb() -> float:
    """The process's peak resident memory so far (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def _sync(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.synchronize()


def peak_memory_mb(device: str, rss_before_mb: float) -> float:
    """Peak accelerator memory on CUDA (allocated by tensors), else the growth of peak RSS since the model load."""
    if device == "cuda":
        import torch

        return torch.cuda.max_memory_allocated() / 2**20
    return max(0.0, peak_rss_mb() - rss_before_mb)


class PerformanceMeter(TrainerCallback):
    """Times the training steps after warm-up, leaving evaluations and checkpoint saves out."""

    def __init__(self, device: str, samples_per_step: int, padding_meter=None, rss_before_mb: float = 0.0):
        self.device, self.samples_per_step, self.padding = device, samples_per_step, padding_meter
        self.rss_before_mb = rss_before_mb
        self.mark = None  # (step, time, real tokens) where the window opens
        self.end = None
        self.window = None  # (steps, seconds, real tokens) once closed
        self.paused_s, self.paused_tokens = 0.0, 0
        self._pause_started = None  # (time, real tokens) when an evaluation or save began
        self._train_started = None

    def on_train_begin(self, args, state, control, **kwargs):
        self._train_started = time.time()

    def on_step_end(self, args, state, control, **kwargs):
        warmup = max(MIN_WARMUP_STEPS, int(state.max_steps * WARMUP_SHARE))
        if self.mark is None and state.global_step >= min(warmup, max(1, state.max_steps // 2)):
            _sync(self.device)
            self.mark = (state.global_step, time.time(), self._real_tokens())
        elif self.mark is not None:
            self.end = (state.global_step,)
        if self.mark is not None and (control.should_evaluate or control.should_save):
            _sync(self.device)
            self._pause_started = (time.time(), self._real_tokens())
        if state.global_step >= state.max_steps or control.should_training_stop:
            self._close()

    def _pause_ends(self) -> None:
        if self._pause_started is not None:
            now, tokens = time.time(), self._real_tokens()
            self.paused_s += now - self._pause_started[0]
            self.paused_tokens += tokens - self._pause_started[1]  # eval batches go through the same collator
            self._pause_started = (now, tokens)

    def on_evaluate(self, args, state, control, **kwargs):
        self._pause_ends()

    def on_save(self, args, state, control, **kwargs):
        self._pause_ends()

    def on_step_begin(self, args, state, control, **kwargs):
        self._pause_started = None

    def _close(self) -> None:
        if self.mark is None or self.window is not None:
            return
        _sync(self.device)
        step = self.end[0] if self.end else self.mark[0]
        self.window = (step - self.mark[0], time.time() - self.mark[1] - self.paused_s,
                       self._real_tokens() - self.mark[2] - self.paused_tokens)

    def _real_tokens(self) -> int:
        return getattr(self.padding, "real_seen", 0) if self.padding is not None else 0

    def figures(self, state) -> dict:
        """The measured figures for results.json (steady-state rates need a few steps after warm-up)."""
        self._close()
        out = {"device": self.device, "peak_memory_mb": round(peak_memory_mb(self.device, self.rss_before_mb), 1),
               "steps": state.global_step}
        if self._train_started:
            out["train_wall_s"] = round(time.time() - self._train_started, 2)
        if self.window and self.window[0] > 0 and self.window[1] > 0:
            steps, seconds, tokens = self.window
            out["samples_per_second"] = round(steps * self.samples_per_step / seconds, 3)
            out["steps_measured"] = steps
            if self.padding is not None:
                out["tokens_per_second"] = round(tokens / seconds, 1)
        return out
