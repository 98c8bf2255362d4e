"""Inside the training child: the TrainingArguments and the Trainer for a run, built from its config, batch plan
and speed plan (core.train calls these; kept apart so the training entry stays readable)."""

from __future__ import annotations

import os
from pathlib import Path

from core.common import faults
from core.config import compat
from core.config.schema import RunConfig, training_argument_fields
from core.plan import presets
from core.rundir import runs
from core.rundir.layout import RunDir
from core.training import profiling, step_graphs
from core.training.batches import FastPadding, padding_arguments, PaddingMeter
from core.training.unpadded import PackedBatches


def training_arguments(config: RunConfig, run_dir: Path, device: str, speed: dict | None = None, plan=None):
    """The TrainingArguments for a config, through the version-compatibility layer."""
    return compat.build_training_arguments(str(RunDir(run_dir).checkpoints),
                                           **training_argument_values(config, device, speed, plan))


def training_argument_values(config: RunConfig, device: str, speed: dict | None = None, plan=None) -> dict:
    """The version-neutral TrainingArguments values: the config, its batch plan and speed plan, then the
    config's own extra arguments, which override the plans."""
    t = config.training
    plan = plan or presets.batch_plan(config)
    # Checkpoints follow the eval schedule, which load_best_model_at_end requires.
    schedule = t.eval_strategy if t.eval_strategy != "no" else "epoch"
    arguments = {
        **training_argument_fields(t),
        "per_device_train_batch_size": plan.per_device_train_batch_size,
        "per_device_eval_batch_size": plan.per_device_eval_batch_size,
        "gradient_accumulation_steps": plan.gradient_accumulation_steps,
        "gradient_checkpointing": plan.gradient_checkpointing,
        "save_strategy": schedule, "greater_is_better": t.metric_for_best_model != "loss",
        "logging_first_step": True, "report_to": "none", "disable_tqdm": True, "use_cpu": device == "cpu",
        "dataloader_num_workers": 0,
    }
    if t.eval_strategy == "steps":
        arguments.update(eval_steps=t.eval_steps, save_steps=t.eval_steps)
    # Several processes on this machine, or one on each of several machines (WORLD_SIZE is torchrun's count of all).
    if device == "cpu" and max(config.hardware.processes, int(os.environ.get("WORLD_SIZE", "1"))) > 1:
        arguments["ddp_backend"] = "gloo"
    if speed:
        # A speed setting the installed transformers lacks (older releases) is skipped, not an error.
        planned = {k: v for k, v in speed["training_arguments"].items() if compat.is_training_argument(k)}
        if {"bf16", "fp16"} & set(t.extra):  # a precision set by hand replaces the plan's, not joins it
            planned.pop("bf16"), planned.pop("fp16")
        if config.hardware.memory_preset in ("low", "very_low"):
            planned.pop("per_device_eval_batch_size")  # the low presets keep the eval batch small too
        arguments.update(planned)
    arguments.update({k: v for k, v in t.extra.items() if k != "gradient_checkpointing"})
    if plan.learning_rate is not None:  # the max-throughput preset's scaled rate (core/plan/presets.py)
        arguments["learning_rate"] = plan.learning_rate
    if plan.warmup_steps is not None:
        arguments["warmup_steps"] = plan.warmup_steps
    if plan.max_steps is not None:
        arguments["max_steps"] = plan.max_steps
    return arguments


LIVE_METRICS_ENV = "DASHBOARD_LIVE_METRICS"
# `DASHBOARD_DDP_GRADIENT_VIEWS=0`: DDP copies gradients into its buckets as by default (for the benchmark that
# measures what the views save).
DDP_GRADIENT_VIEWS_ENV = "DASHBOARD_DDP_GRADIENT_VIEWS"


# `DASHBOARD_MODULE_GUARDS=0`: the compiled model checks no guards on its modules' attributes before each call
# (measured by bench/host_work.py against the default).
MODULE_GUARDS_ENV = "DASHBOARD_MODULE_GUARDS"


def skip_module_guards(trainer) -> None:
    """torch.compile without dynamo's per-call guards on module attributes (weights and settings never change
    during a run): the guard check was ~1.8 ms of host time per forward at tweet lengths on an H200."""
    import torch

    plugin = getattr(trainer.accelerator.state, "dynamo_plugin", None)
    skip = getattr(torch.compiler, "skip_guard_on_all_nn_modules_unsafe", None)
    if plugin is None or skip is None:
        return
    options = {"guard_filter_fn": skip}
    if plugin.mode == "reduce-overhead":  # mode and options exclude each other; this option is that mode
        options["triton.cudagraphs"] = True
    plugin.mode, plugin.options = None, options


def live_metrics_enabled() -> bool:
    """`DASHBOARD_LIVE_METRICS=0` turns the live metrics and resource sampling off (for measuring their overhead:
    without it the dashboard shows no curves and no diagnostics)."""
    return os.environ.get(LIVE_METRICS_ENV, "1") != "0"


def argmax_logits(logits, labels):
    """Predicted class ids on the device, so evaluation moves one integer per text to the CPU, not logits."""
    logits = logits[0] if isinstance(logits, tuple) else logits
    return logits.argmax(dim=-1)


def build_trainer(config: RunConfig, run_dir: Path, device: str, args, model, tokenizer, tokenized, stop,
                  speed: dict, plan, rss_before_mb: float = 0.0, class_weights: list[float] | None = None,
                  say=None):
    """The Trainer of a run; with `class_weights` (one per label id) its loss weighs each class (core/training/loss.py);
    `say` writes a line to the training log."""
    from transformers import DataCollatorWithPadding, EarlyStoppingCallback, Trainer
    # heavy (imports transformers / scikit-learn): loaded in the training child only, not at the dashboard's start-up
    from core.training.callbacks import MetricsRecorder
    from core.training.loss import loss_function
    from core.training.metrics import compute_metrics
    from core.training.multilabel_metrics import metrics_function
    from core.training.performance import PerformanceMeter
    from core.training.resources import ResourceRecorder

    padder = FastPadding(DataCollatorWithPadding(tokenizer, pad_to_multiple_of=speed["pad_to_multiple_of"],
                                                 **padding_arguments(config.data)),
                         buckets=bool(speed.get("length_buckets")))
    if speed.get("unpad"):  # the model's forward was given the unpadded path (core/training/unpadded.py)
        padder = PackedBatches(padder, bucket=speed.get("packed_bucket"), max_length=config.data.max_length)
    collator = faults.wrap_collator(PaddingMeter(padder))
    effective_batch = plan.effective_batch_size * args.world_size
    callbacks = [stop, PerformanceMeter(device, effective_batch, collator, rss_before_mb), *faults.callbacks(),
                 *profiling.callbacks(run_dir, device)]
    if live_metrics_enabled():
        callbacks.insert(0, MetricsRecorder(run_dir, device, effective_batch, collator))
        if runs.is_writer():  # rank 0 samples its own process; the other ranks' are alike
            callbacks.insert(1, ResourceRecorder(run_dir, device))
    if config.training.early_stopping_patience:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=config.training.early_stopping_patience))
    # Multi-label: every label's logit is needed (no argmax), and the metrics threshold them.
    multi_label = getattr(model.config, "problem_type", None) == "multi_label_classification"
    weighted = loss_function(class_weights, model)
    trainer_type = step_graphs.trainer_class(Trainer) if speed.get("step_graphs") else Trainer
    trainer = trainer_type(model=model, args=args, **({"compute_loss_func": weighted} if weighted else {}),
                      train_dataset=tokenized["train"], eval_dataset=tokenized["eval"], data_collator=collator,
                      compute_metrics=metrics_function(config.training.threshold) if multi_label else compute_metrics,
                      preprocess_logits_for_metrics=(argmax_logits if speed["argmax_on_device"] and not multi_label
                                                     else None),
                      callbacks=callbacks, **compat.trainer_tokenizer_kwargs(tokenizer))
    if speed.get("step_graphs"):
        trainer.step_graphs = step_graphs.StepGraphs(say)
    if speed.get("ddp_gradient_views") and os.environ.get(DDP_GRADIENT_VIEWS_ENV) != "0":
        compat.ddp_gradient_views(trainer)
    if speed.get("compile") and os.environ.get(MODULE_GUARDS_ENV) == "0":
        skip_module_guards(trainer)
    count_flops_once(trainer)
    return trainer


def count_flops_once(trainer) -> None:
    """The Trainer counts each step's FLOPs (for `total_flos`) with `model.num_parameters(exclude_embeddings=True)`,
    a walk over every module and weight: ~0.7 ms of host time a step for BERT-base, where a tweet-length step on
    an H200 has ~12 ms. The count never changes during a run, so it is taken once."""
    model = trainer.model
    if not hasattr(model, "num_parameters"):
        return
    per_token = 6 * model.num_parameters(exclude_embeddings=True)
    name = getattr(model, "main_input_name", "input_ids")
    trainer.floating_point_ops = lambda inputs: per_token * inputs[name].numel() if name in inputs else 0
