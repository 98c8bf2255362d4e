"""Inside the training child: the speed plan acting on the process, the 'auto' batch fit, the estimate
written before training and the measured figures after it. (core.train calls these; kept apart so the
training entry stays readable.)"""

from __future__ import annotations

import os
from pathlib import Path

from core.config.schema import RunConfig
from core.plan import estimate, presets
from core.plan.estimate import padded_width
from core.rundir import runs
from core.rundir.layout import RunDir
from core.training import autofit, unpadded


def apply_speed_plan(config: RunConfig, device: str) -> dict:
    """The speed plan for this device; the parts that act on the process (threads, environment) act here."""
    speed = presets.speed_plan(config, presets.device_facts(device))
    for key, value in speed["env"].items():
        os.environ.setdefault(key, value)
    if speed["threads"]:
        import torch

        torch.set_num_threads(speed["threads"])
    # DASHBOARD_CUDNN_ATTENTION=0 turns cuDNN's attention kernel off (for the benchmark that compares kernels).
    if os.environ.get("DASHBOARD_CUDNN_ATTENTION") == "0":
        import torch

        torch.backends.cuda.enable_cudnn_sdp(False)
    return speed


def unpad_or_say_why(config: RunConfig, model, device: str, speed: dict, plan, say) -> dict:
    """Unpadded batches where the plan chose them and the loaded model has the layout for them; else padded
    batches and one line saying why (a Hub model's kind is known only once it is loaded)."""
    if not speed.get("unpad"):
        return speed
    reason = unpadded.unsupported_reason(model, config, device, speed["precision"], plan.gradient_checkpointing)
    if reason:
        say(f"Padded batches after all: {reason}.")
        # Whole-step graphs asked for on unpadded batches (filled to a bucket) leave with them.
        graphs = speed.get("step_graphs") and not speed.get("packed_bucket")
        return {**speed, "unpad": False, "packed_bucket": None, "step_graphs": graphs}
    unpadded.enable(model)
    return speed


def fit_batch(config: RunConfig, run_dir: Path, model, speed: dict, say) -> "presets.BatchPlan":
    """The 'auto' memory preset on CUDA: the largest batch that trains at the longest padded length."""
    runs.update_status(run_dir, phase="fitting the batch to GPU memory")
    length = min(512, padded_width(config.data.max_length, speed["pad_to_multiple_of"],
                                   bool(speed.get("length_buckets"))))
    if presets.batch_plan(config).gradient_checkpointing:
        model.gradient_checkpointing_enable()
    throughput = config.hardware.memory_preset == "throughput"
    start = presets.throughput_start_batch(config) if throughput else config.effective_batch_size()
    batch, tried = autofit.fit_batch_on_cuda(model, start, length, speed["precision"])
    plan = presets.batch_plan(config, batch)
    say(f"Memory preset {config.hardware.memory_preset}: tried batch {', '.join(map(str, tried))} at {length} "
        f"tokens; training with {plan.per_device_train_batch_size} x {plan.gradient_accumulation_steps} "
        "accumulation.")
    fit = {"tried": tried, "length": length, "fitted": batch}
    if plan.learning_rate is not None:
        say(presets.throughput_words(config, plan))
        fit.update(learning_rate=plan.learning_rate, warmup_steps=plan.warmup_steps,
                   words=presets.throughput_words(config, plan))
    runs.update_status(run_dir, batch_fit=fit)
    return plan


def current_rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def write_estimate(config: RunConfig, run_dir: Path, train_set, num_labels: int, plan, speed: dict,
                   live_metrics: bool) -> None:
    """The memory and time estimate for this run, stored before training so it can be checked after."""
    if not runs.is_writer():
        return
    lengths = [len(ids) for ids in train_set["input_ids"]]
    result = estimate.run_estimate(config.model.name, num_labels, plan.per_device_train_batch_size, lengths,
                                   config.data.max_length, speed, plan.gradient_checkpointing,
                                   config.data.train_size, config.data.eval_size,
                                   config.training.train_sampling_strategy == "group_by_length",
                                   live_metrics=live_metrics)
    if result:
        runs.write_json_atomic(RunDir(run_dir).estimate, result)


def performance_figures(trainer, train_size: int) -> dict:
    # heavy (imports transformers / scikit-learn): loaded in the training child only, not at the dashboard's start-up
    from core.training.performance import PerformanceMeter

    meter = next((c for c in trainer.callback_handler.callbacks if isinstance(c, PerformanceMeter)), None)
    if meter is None:
        return {}
    figures = meter.figures(trainer.state)
    if figures.get("samples_per_second"):
        figures["time_per_epoch_s"] = round(train_size / figures["samples_per_second"], 1)
    return figures
