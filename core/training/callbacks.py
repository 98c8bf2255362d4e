"""Trainer callbacks: write what happens to the run directory, and stop when asked.

Each callback only records or flips a `TrainerControl` flag; the training loop stays the Trainer's.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from transformers import TrainerCallback

from core.rundir import records, runs
from core.rundir.layout import RunDir


def memory_mb(device: str) -> float:
    """Peak accelerator memory on CUDA, else the process's resident memory."""
    import torch

    if device == "cuda" and torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def head_outputs(model) -> int | None:
    """Outputs of a sequence classifier's last layer (BERT's `classifier`, RoBERTa's `classifier.out_proj`)."""
    head = getattr(model, "classifier", None)
    head = getattr(head, "out_proj", head)
    outputs = getattr(head, "out_features", None)
    return int(outputs) if outputs else getattr(getattr(model, "config", None), "num_labels", None)


def model_facts(model) -> dict:
    """What the diagnostics need to know about a model: trainable parameters and the head it has."""
    config = getattr(model, "config", None)
    return {"trainable_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
            "total_parameters": sum(p.numel() for p in model.parameters()),
            "num_labels": head_outputs(model), "problem_type": getattr(config, "problem_type", None)}


class UpdateRatio:
    """‖ΔW‖/‖W‖ of one optimizer update: the median over weight matrices (embeddings, where most rows get
    no gradient in a step, would drown a global ratio). ~1e-3 is healthy fine-tuning; above 1e-2 the
    learning rate is too high, below 1e-5 too low (or the weights are frozen)."""
    def __init__(self):
        self._before = None

    def snapshot(self, model) -> None:
        # LoRA's B matrices start at zero and grow from there: their relative change says nothing of the
        # learning rate (it reads ~1 for the first updates), and would blame a stuck LoRA run on a learning rate
        # too high. Their A matrices and the head are ordinary weights.
        self._before = [(p, p.detach().clone()) for name, p in model.named_parameters()
                        if p.requires_grad and p.ndim >= 2 and ".lora_B." not in name]

    def measure(self, model) -> float | None:
        import torch

        if self._before is None:
            return None
        current = [p.detach() for p, _ in self._before]
        before = [b for _, b in self._before]
        self._before = None
        # All norms on the device, then one host transfer: per-tensor float() would stall a GPU ~200 times.
        changes = torch.stack([n.float() for n in torch._foreach_norm(torch._foreach_sub(current, before))])
        sizes = torch.stack([n.float() for n in torch._foreach_norm(before)])
        ratios = (changes[sizes > 0] / sizes[sizes > 0]).tolist()
        return sorted(ratios)[len(ratios) // 2] if ratios else None


class MetricsRecorder(TrainerCallback):
    """Appends every log event to metrics.jsonl and keeps status.json's progress current.

    Training lines also carry what the diagnostics need: the update ratio (measured on the
    update just before each logging step), samples/s over the last logging window, and memory.
    """
    PROGRESS_EVERY_S = 1.0

    def __init__(self, run_dir: Path, device: str = "cpu", effective_batch: int = 1, padding_meter=None):
        self.run_dir = Path(run_dir)
        self.padding_meter = padding_meter
        self.device = device
        self.effective_batch = effective_batch
        self._last_progress = 0.0
        self._train_started = None
        self._start_step = 0
        self._window = (0, time.time())  # (step, time) at the previous training line
        self._ratio = UpdateRatio()
        self._last_ratio = None

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self._train_started = time.time()
        self._start_step = state.global_step  # above 0 when resumed from a checkpoint
        self._window = (state.global_step, self._train_started)
        if model is not None:
            runs.update_status(self.run_dir, model_facts=model_facts(model))
        self._write_progress(state, force=True)

    def on_step_begin(self, args, state, control, model=None, **kwargs):
        # Only the update right before a logging step is measured: one weight copy per logging window.
        if model is not None and (state.global_step + 1) % max(1, args.logging_steps) == 0:
            self._ratio.snapshot(model)

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if model is not None:
            ratio = self._ratio.measure(model)
            if ratio is not None:
                self._last_ratio = ratio
        self._write_progress(state)

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        extras = self._train_extras(state) if records.record_type(logs) == records.TRAIN else None
        record = records.make_record(logs, state.global_step, state.epoch, extras)
        runs.append_metrics(self.run_dir, record)
        self._write_progress(state, force=True)

    def _train_extras(self, state) -> dict:
        step0, time0 = self._window
        now = time.time()
        self._window = (state.global_step, now)
        extras = {"memory_mb": round(memory_mb(self.device), 1)}
        if state.global_step > step0 and now > time0:
            extras["samples_per_second"] = round((state.global_step - step0) * self.effective_batch / (now - time0), 3)
        if self._last_ratio is not None:
            extras["update_ratio"] = self._last_ratio
            self._last_ratio = None
        if self.padding_meter is not None and now > time0:
            # Batches are made in this process (no loader workers), so their time is time the model waits.
            extras["batch_time_share"] = round(min(1.0, self.padding_meter.take_batch_seconds() / (now - time0)), 4)
        share = self.padding_meter.take_pad_share() if self.padding_meter else None
        if share is not None:
            extras["pad_share"] = round(share, 4)
        return extras

    def _write_progress(self, state, force: bool = False) -> None:
        now = time.time()
        if not force and now - self._last_progress < self.PROGRESS_EVERY_S:
            return
        self._last_progress = now
        runs.update_status(self.run_dir, progress={
            "step": state.global_step, "max_steps": state.max_steps, "epoch": state.epoch or 0.0,
            "num_train_epochs": state.num_train_epochs, "train_started_at": self._train_started, "at": now,
            "start_step": self._start_step})


class StopOnRequest(TrainerCallback):
    """Ends training gracefully after the current step when a stop was requested.

    A request is a SIGTERM (the dashboard's Stop button) or the stop marker file in the run
    directory (for platforms without signals). The Trainer then loads the best checkpoint
    (with load_best_model_at_end) and the child saves the model as usual.
    """
    VOTE_EVERY = 10

    def __init__(self, run_dir: Path):
        self.marker = RunDir(run_dir).stop_marker
        self.requested = threading.Event()
        self._group = None  # the ranks' CPU group for the stop vote, in a multi-process run

    def on_train_begin(self, args, state, control, **kwargs):
        self._group = _cpu_group()

    def stop_requested(self) -> bool:
        return self.requested.is_set() or self.marker.exists()

    def on_step_end(self, args, state, control, **kwargs):
        # Across ranks the vote is a barrier, so it is held every VOTE_EVERY steps, not every step: on 2 GPUs
        # a per-step vote cost ~15 ms a step (bench/RESULTS.md). Every rank counts the same steps.
        if self._group is not None and state.global_step % self.VOTE_EVERY and state.global_step < state.max_steps:
            return control
        if self._agreed(self.stop_requested(), args):
            control.should_training_stop = True
            # A checkpoint at the stop step, so the run can be resumed from there. With per-epoch saving
            # the Trainer already saves when the interrupted epoch ends, so it is not written twice; a run that
            # saves nothing (the learning-rate range test) saves nothing here either.
            if args.save_strategy not in ("epoch", "no"):
                control.should_save = True
        return control

    def _agreed(self, requested: bool, args) -> bool:
        """Across ranks, stop if any rank was asked: ranks stopping at different steps would hang DDP.

        The vote goes over a CPU (gloo) group, so it never waits for the GPU's queue to drain.
        """
        import torch
        import torch.distributed as dist

        if self._group is None:
            return requested
        flag = torch.tensor([1 if requested else 0], dtype=torch.int32)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX, group=self._group)
        return bool(flag[0])


def _cpu_group():
    """A gloo process group over all ranks of a multi-process run (None in a single process).

    Every rank must call this at the same point (on_train_begin), as `new_group` is collective.
    """
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
        return None
    if dist.get_backend() == "gloo":
        return dist.group.WORLD
    return dist.new_group(backend="gloo")
