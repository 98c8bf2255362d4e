"""Trainer callbacks: write what happens to the run directory, and stop when asked.

Each callback only records or flips a `TrainerControl` flag; the training loop stays the Trainer's.
"""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path

from transformers import TrainerCallback

from core import runs

TRAIN_KEYS = ("loss", "learning_rate", "grad_norm")
SUMMARY_KEYS = ("train_runtime", "train_samples_per_second", "train_steps_per_second", "train_loss")


def _clean(value):
    """JSON has no NaN or Infinity: write them as strings the readers understand."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


class MetricsRecorder(TrainerCallback):
    """Appends every log event to metrics.jsonl and keeps status.json's progress current."""

    PROGRESS_EVERY_S = 1.0

    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        self._last_progress = 0.0
        self._train_started = None

    def on_train_begin(self, args, state, control, **kwargs):
        self._train_started = time.time()
        self._write_progress(state, force=True)

    def on_step_end(self, args, state, control, **kwargs):
        self._write_progress(state)

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        base = {"step": state.global_step, "epoch": round(state.epoch or 0.0, 4), "time": time.time()}
        if any(key.startswith("eval_") for key in logs):
            record = {"type": "eval", **base, **{k: _clean(v) for k, v in logs.items() if k.startswith("eval_")}}
        elif any(key in logs for key in SUMMARY_KEYS):
            record = {"type": "summary", **base, **{k: _clean(v) for k, v in logs.items() if k in SUMMARY_KEYS}}
        else:
            record = {"type": "train", **base, **{k: _clean(logs[k]) for k in TRAIN_KEYS if k in logs}}
        runs.append_metrics(self.run_dir, record)
        self._write_progress(state, force=True)

    def _write_progress(self, state, force: bool = False) -> None:
        now = time.time()
        if not force and now - self._last_progress < self.PROGRESS_EVERY_S:
            return
        self._last_progress = now
        runs.update_status(self.run_dir, progress={
            "step": state.global_step, "max_steps": state.max_steps, "epoch": state.epoch or 0.0,
            "num_train_epochs": state.num_train_epochs, "train_started_at": self._train_started, "at": now})


class StopOnRequest(TrainerCallback):
    """Ends training gracefully after the current step when a stop was requested.

    A request is a SIGTERM (the dashboard's Stop button) or the stop marker file in the run
    directory (for platforms without signals). The Trainer then loads the best checkpoint
    (with load_best_model_at_end) and the child saves the model as usual.
    """

    def __init__(self, run_dir: Path):
        self.marker = Path(run_dir) / runs.STOP_MARKER
        self.requested = threading.Event()

    def stop_requested(self) -> bool:
        return self.requested.is_set() or self.marker.exists()

    def on_step_end(self, args, state, control, **kwargs):
        if self.stop_requested():
            control.should_training_stop = True
        return control
