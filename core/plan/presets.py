"""Hardware presets: which device to train on, how the memory presets change the batch settings, and the
speed settings each device gets. The plans are pure functions of the config and plain device facts, so
they are tested per device without the hardware; `device_facts` is the one place that asks torch."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

from core.common.errors import UserError
from core.common.faults import fake_devices
from core.config.schema import RunConfig

# The seed document's low-memory preset: batch 4, with accumulation keeping the effective batch.
LOW_MEMORY_BATCH = 4
LOW_MEMORY_EVAL_BATCH = 8
# torch.compile costs about 50 s before the first step on an H100 (a first compile; inductor's disk cache
# halves later ones) and saved 15-45 ms per step at batch 64 (bench/RESULTS.md): from about 1,000 steps on,
# it pays for itself.
COMPILE_MIN_STEPS = 1000
# All-reduce bucket size for compiled multi-GPU runs: torch.compile splits the model's graph at each DDP bucket
# (DDPOptimizer), so fewer buckets mean fewer graph pieces (bench/RESULTS.md, 2-GPU scaling).
DDP_COMPILED_BUCKET_MB = 200
# CUDA graphs pay where steps are short and launch-bound (measured 2.5x at tweet lengths) but cost where each
# of many length buckets must be recorded first (0.7x at ~300 tokens), so only up to this max_length.
GRAPHS_MAX_LENGTH = 128
# Evaluation keeps no gradients or optimizer state, so on a GPU it takes a much larger batch.
FAST_CUDA_EVAL_BATCH = 256
# accelerate's TorchDynamoPlugin reads this when the Trainer leaves `dynamic` unset.
COMPILE_DYNAMIC_ENV = "ACCELERATE_DYNAMO_USE_DYNAMIC"
# Whole training steps as CUDA graphs (core/training/step_graphs.py) in place of compile's graphs of the forward and
# backward (mode reduce-overhead), where the step allows; `DASHBOARD_STEP_GRAPHS=0` keeps compile's (for the
# benchmark that measures the difference, bench/RESULTS.md).
STEP_GRAPHS_ENV = "DASHBOARD_STEP_GRAPHS"
# `DASHBOARD_UNPAD_GRAPHS=1`: unpadded batches filled to a multiple of GRAPH_TOKEN_BUCKET tokens, their whole steps
# as CUDA graphs too. Asked for only: not yet measured on a GPU (bench/issue18_round.sh, stage imdb-final).
UNPAD_GRAPHS_ENV, GRAPH_TOKEN_BUCKET = "DASHBOARD_UNPAD_GRAPHS", 1024
NEXT_MEMORY_PRESET = {"standard": "low", "auto": "low", "throughput": "low", "low": "very_low"}
# The max-throughput preset grows the batch at most this much over the effective batch as set (so the learning
# rate at most by sqrt(8) = 2.8x), and keeps at least this many optimizer steps in the run.
THROUGHPUT_MAX_GROWTH = 8
THROUGHPUT_MIN_STEPS = 100
# DataLoader worker processes for the fast preset on a GPU with cores to spare.
LOADER_WORKERS = 2
# Model types whose encoder trains on unpadded batches (core/training/unpadded.py), and the attribute that
# holds the encoder; the built-in models are all BERT.
UNPADDED_FAMILIES = {"bert": "bert", "roberta": "roberta", "xlm-roberta": "roberta", "camembert": "roberta"}


@dataclass(frozen=True)
class BatchPlan:
    per_device_train_batch_size: int
    per_device_eval_batch_size: int
    gradient_accumulation_steps: int
    gradient_checkpointing: bool
    # Set only by the max-throughput preset, which changes the optimisation: the scaled learning rate and,
    # when the config gives warmup in steps, those steps for the larger batch.
    learning_rate: float | None = None
    warmup_steps: int | None = None
    max_steps: int | None = None  # a step count set by hand, for the same number of examples at the larger batch

    @property
    def effective_batch_size(self) -> int:
        return self.per_device_train_batch_size * self.gradient_accumulation_steps


def batch_plan(config: RunConfig, fitted_batch: int | None = None) -> BatchPlan:
    """The batch settings a memory preset gives; every preset keeps the effective batch size.

    `fitted_batch` is what the 'auto' preset found to fit on the GPU (core.autofit); without it, 'auto'
    keeps the batch as set (CPU and MPS, or before the fit has run)."""
    t = config.training
    preset = config.hardware.memory_preset
    checkpointing = bool(t.extra.get("gradient_checkpointing", False))
    effective = t.per_device_train_batch_size * t.gradient_accumulation_steps
    if preset == "standard" or (preset in ("auto", "throughput") and fitted_batch is None):
        return BatchPlan(t.per_device_train_batch_size, t.per_device_eval_batch_size,
                         t.gradient_accumulation_steps, checkpointing)
    if preset == "throughput" and fitted_batch is not None and fitted_batch > effective:
        return throughput_plan(config, fitted_batch)
    if preset in ("auto", "throughput"):
        batch = max(1, min(fitted_batch, effective))
        return BatchPlan(batch, t.per_device_eval_batch_size, math.ceil(effective / batch), checkpointing)
    batch = min(LOW_MEMORY_BATCH, effective)
    return BatchPlan(batch, min(LOW_MEMORY_EVAL_BATCH, t.per_device_eval_batch_size),
                     max(1, math.ceil(effective / batch)), preset == "very_low")


def throughput_start_batch(config: RunConfig) -> int:
    """The largest batch the max-throughput preset tries: the effective batch times THROUGHPUT_MAX_GROWTH, halved
    while the run would take fewer than THROUGHPUT_MIN_STEPS optimizer steps, never below the batch as set."""
    effective = config.effective_batch_size()
    batch = effective * THROUGHPUT_MAX_GROWTH
    steps = planned_steps(config)
    while batch > effective and steps is not None and steps * effective / batch < THROUGHPUT_MIN_STEPS:
        batch //= 2
    return max(batch, effective)


def throughput_plan(config: RunConfig, batch: int) -> BatchPlan:
    """One batch of `batch` per step, no accumulation; the learning rate scaled by the square root of the batch's
    growth (the square-root rule for Adam, Malladi et al. 2022) and warmup kept at the same number of examples:
    a share of the steps (warmup_ratio) already is; warmup and max_steps given in steps are divided by the
    growth, so the run also sees the same number of examples."""
    t = config.training
    growth = batch / config.effective_batch_size()
    return BatchPlan(batch, t.per_device_eval_batch_size, 1, bool(t.extra.get("gradient_checkpointing", False)),
                     learning_rate=t.learning_rate * math.sqrt(growth),
                     warmup_steps=_fewer_steps(t.extra.get("warmup_steps"), growth),
                     max_steps=_fewer_steps(t.extra.get("max_steps"), growth))


def _fewer_steps(steps: Any, growth: float) -> int | None:
    """A step count set by hand, for the same number of examples at a batch `growth` times larger."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        return None  # unset, or a share of the run (warmup_steps below 1 is a ratio in transformers 5)
    return max(1, math.ceil(steps / growth))


def throughput_words(config: RunConfig, plan: BatchPlan | None = None) -> str:
    """What the max-throughput preset changes, in one sentence for the form and train.log."""
    effective, rate = config.effective_batch_size(), config.training.learning_rate
    if plan is None or plan.learning_rate is None:
        return (f"Max throughput changes the optimisation: on a CUDA GPU the batch grows from {effective} to the "
                f"largest that fits (up to {throughput_start_batch(config)}), the learning rate {rate:g} grows with "
                "the square root of that growth, and warmup stays at the same number of examples; results will "
                "differ from a run at your batch.")
    return (f"Max throughput changes the optimisation: batch {effective} → {plan.per_device_train_batch_size}, "
            f"learning rate {rate:g} → {plan.learning_rate:.3g} (square-root scaling), warmup and the run's length at "
            "the same number of examples.")


def half_batch_change(config: dict, ran_batch: int, ran_accumulation: int) -> dict[str, Any] | None:
    """The config change behind 'Retry with half the batch': half the per-device batch that ran, twice the
    accumulation, the same effective batch. Set under the standard preset so no preset overrides it; the
    very_low preset's gradient checkpointing is kept. None when the batch is already 1."""
    if ran_batch <= 1:
        return None
    change: dict[str, Any] = {"hardware.memory_preset": "standard",
                              "training.per_device_train_batch_size": ran_batch // 2,
                              "training.gradient_accumulation_steps": ran_accumulation * 2}
    if (config.get("hardware") or {}).get("memory_preset") == "very_low":
        change["training.gradient_checkpointing"] = True
    return change


def next_preset_change(config: dict) -> dict[str, Any] | None:
    """The next memory preset down (standard or auto → low → very_low), or None at the bottom."""
    preset = (config.get("hardware") or {}).get("memory_preset", "standard")
    return {"hardware.memory_preset": NEXT_MEMORY_PRESET[preset]} if preset in NEXT_MEMORY_PRESET else None


def available_devices() -> dict[str, bool]:
    import torch

    mps = getattr(torch.backends, "mps", None)
    cuda = torch.cuda.is_available()

    return fake_devices({"cpu": True, "cuda": cuda, "mps": bool(mps and mps.is_available()),
                         "cuda_count": torch.cuda.device_count() if cuda else 0})


def gpu_memory_mb() -> float | None:
    """The first CUDA GPU's memory in MB, read from its properties (no memory is taken on it), or None."""
    import torch

    if not torch.cuda.is_available():
        return None
    return torch.cuda.get_device_properties(0).total_memory / 2**20


def resolve_device(requested: str, available: dict[str, bool] | None = None) -> str:
    """auto → cuda, else mps, else cpu; a device that is not there is a clear error, not a silent CPU run."""
    available = available_devices() if available is None else available
    if requested == "auto":
        return next(d for d in ("cuda", "mps", "cpu") if available.get(d))
    if not available.get(requested):
        names = {"cuda": "no CUDA GPU is visible to PyTorch", "mps": "Apple MPS is not available on this machine"}
        raise UserError(f"'{requested}' was requested but {names.get(requested, 'it is missing')}; "
                        "choose auto or cpu.", field="hardware.device", code="DEVICE_NOT_AVAILABLE")
    return requested


def physical_cores() -> int:
    import psutil

    cores = psutil.cpu_count(logical=False) or os.cpu_count() or 1
    allowed = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    return max(1, min(cores, allowed))


def device_facts(device: str) -> dict[str, Any]:
    """What the plans need to know about a device: cores, bf16 support, name and memory (MB)."""
    import psutil

    facts: dict[str, Any] = {"device": device, "physical_cores": physical_cores()}
    if device == "cuda":
        import torch

        free, total = torch.cuda.mem_get_info()
        facts.update(bf16=bool(torch.cuda.is_bf16_supported()), name=torch.cuda.get_device_name(),
                     total_memory_mb=total / 2**20, free_memory_mb=free / 2**20)
    else:
        memory = psutil.virtual_memory()
        facts.update(bf16=False, name="Apple GPU" if device == "mps" else "CPU",
                     total_memory_mb=memory.total / 2**20, free_memory_mb=memory.available / 2**20)
    return facts


def _precision(config: RunConfig, facts: dict[str, Any]) -> str:
    chosen, device = config.hardware.precision, facts["device"]
    if chosen == "fp16" and device != "cuda":
        raise UserError(f"fp16 needs a CUDA GPU but the run trains on {device}; choose auto, bf16 or fp32.",
                        field="hardware.precision")
    if chosen != "auto":
        return chosen
    if device != "cuda" or config.hardware.speed == "plain":
        return "fp32"  # MPS: the seed's advice is fp16 off; CPU: no fast half precision on most CPUs
    return "bf16" if facts.get("bf16") else "fp16"


def _compiles(config: RunConfig, facts: dict[str, Any], checkpointing: bool) -> bool:
    chosen = config.hardware.compile
    if chosen != "auto":
        return chosen == "on"
    # Compiling pays on a GPU, where it fuses many small kernels, once the run is long enough to earn back
    # the compile time; on CPU the compile time of a short run outweighs the gain, and recomputation under
    # gradient checkpointing compiles poorly.
    steps = planned_steps(config)
    return (facts["device"] == "cuda" and config.hardware.speed == "fast" and not checkpointing
            and (steps is None or steps >= COMPILE_MIN_STEPS))


def planned_steps(config: RunConfig) -> int | None:
    """Optimizer steps the run will take, from the config alone (None when the data size is unknown)."""
    t = config.training
    max_steps = int(t.extra.get("max_steps", -1) or -1)
    if max_steps > 0:
        return max_steps
    if not config.data.train_size:
        return None
    per_step = t.per_device_train_batch_size * t.gradient_accumulation_steps * max(1, config.hardware.processes)
    return math.ceil(math.ceil(config.data.train_size / per_step) * t.num_train_epochs)


def speed_plan(config: RunConfig, facts: dict[str, Any], plan: BatchPlan | None = None) -> dict[str, Any]:
    """Every speed setting for this config on this device, as plain data: TrainingArguments values, model
    and collator arguments, threads and environment, and one line per choice for the form."""
    plan = plan or batch_plan(config)
    fast, device = config.hardware.speed == "fast", facts["device"]
    precision = _precision(config, facts)
    compiles = _compiles(config, facts, plan.gradient_checkpointing)
    multiple = config.hardware.pad_to_multiple_of or None  # else buckets (compile, CUDA) or the longest text
    attention = config.hardware.attention if config.hardware.attention != "auto" else ("sdpa" if fast else "eager")
    optim = "adamw_torch_fused" if fast and device == "cuda" else "adamw_torch"
    eval_batch = plan.per_device_eval_batch_size
    if fast and device == "cuda" and config.hardware.memory_preset in ("standard", "auto", "throughput"):
        eval_batch = max(eval_batch, FAST_CUDA_EVAL_BATCH)
    arguments: dict[str, Any] = {"bf16": precision == "bf16", "fp16": precision == "fp16", "optim": optim,
                                 "torch_compile": compiles, "per_device_eval_batch_size": eval_batch}
    # Few distinct shapes: a compiled model compiles once, and on CUDA cuDNN's attention and cuBLAS plan once
    # per shape (measured: 1-3 ms of CPU per attention call on a shape not seen before).
    buckets = multiple is None and (compiles or (fast and device == "cuda"))
    graphs = (compiles and device == "cuda" and config.hardware.processes == 1
              and config.data.max_length <= GRAPHS_MAX_LENGTH)
    unpad, unpad_reason = _unpads(config, facts, precision, graphs, plan.gradient_checkpointing)
    graphs = graphs and not unpad  # a graph is recorded for one shape; packed batches change length every step
    # CUDA graphs: each step's hundreds of kernel launches replayed as one, recorded once per length bucket
    # (measured on an H100: tweet-length steps 2x faster than none). Whole steps (forward, backward, clipping,
    # AdamW) where the step allows (1.46x compile's graphs at tweet lengths on an H100), else compile's graphs of
    # the forward and backward.
    one_graph = optim == "adamw_torch_fused" and precision != "fp16" and plan.gradient_accumulation_steps == 1
    step_graphs = graphs and one_graph and os.environ.get(STEP_GRAPHS_ENV, "1") != "0"
    if graphs and not step_graphs:
        arguments["torch_compile_mode"] = "reduce-overhead"
    # Unpadded batches change length every step; filled up to a bucket they come in few shapes, each a graph.
    unpad_graphs = (unpad and compiles and config.hardware.processes == 1 and one_graph
                    and os.environ.get(UNPAD_GRAPHS_ENV) == "1")
    step_graphs = step_graphs or unpad_graphs
    loader_workers = LOADER_WORKERS if fast and device == "cuda" and facts.get("physical_cores", 1) >= 4 else 0
    if fast and device == "cuda":
        # Batches go to the GPU without waiting for it: the Trainer's blocking copy makes the CPU wait for
        # the previous step to end before it can queue the next one.
        arguments["accelerator_config"] = {"non_blocking": True}
    if loader_workers:
        # Batches made in worker processes, ahead of the step, instead of between two steps on the training
        # thread: 1.19x at tweet lengths on an H200 (bench/RESULTS.md). Not on a CPU device, whose cores train.
        arguments.update(dataloader_num_workers=loader_workers, dataloader_persistent_workers=True,
                         dataloader_prefetch_factor=4)
    # Several processes, fast: besides the arguments, DDP keeps gradients as views of its all-reduce buckets
    # (`ddp_gradient_views`, set by core.trainer_setup): the per-bucket copies ran on each rank's CPU thread.
    tuned_ddp = fast and config.hardware.processes > 1
    if tuned_ddp:
        arguments.update(_ddp_arguments(compiles))
    if fast:
        # The Trainer's NaN filter asks the GPU `isnan(loss)` after every step, a full wait that keeps the CPU
        # from queueing the next step; off, a NaN loss is logged as NaN, which the diagnostics want anyway.
        arguments["logging_nan_inf_filter"] = False
    # No dataloader_drop_last for the compiled model's sake: it would drop eval texts from the metrics too;
    # the smaller last batch costs one recompile, after which the batch dimension is dynamic.
    if device == "cuda":
        arguments["dataloader_pin_memory"] = True
    threads = facts.get("physical_cores") if device == "cpu" and fast else None
    env = {"PYTORCH_ENABLE_MPS_FALLBACK": "1"} if device == "mps" else {}
    if compiles:
        # One graph with symbolic lengths and batch sizes from the first step, read by accelerate's dynamo
        # plugin; left to guess, dynamo compiles each new length again until it gives up (cache limit 8).
        env[COMPILE_DYNAMIC_ENV] = "1"
    summary = _summary(config, device, precision, attention, optim, compiles, multiple, buckets,
                       "steps" if step_graphs else graphs, eval_batch, threads)
    if loader_workers:
        summary.append(f"batches made ahead in {loader_workers} worker processes")
    if unpad:  # in place of the padding line
        summary[4] = ("unpadded batches (no computation on pad tokens, FlashAttention on variable lengths)"
                      + (f", filled to a multiple of {GRAPH_TOKEN_BUCKET} tokens" if unpad_graphs else ""))
    elif unpad_reason:
        summary.append(f"padded batches: {unpad_reason}")
    if tuned_ddp:
        summary.append("DDP: no unused-weight search, no buffer broadcast, gradients as all-reduce buckets"
                       + (f" of {DDP_COMPILED_BUCKET_MB} MB" if compiles else ""))
    return {"device": device, "precision": precision, "attention": attention, "optim": optim, "compile": compiles,
            "length_buckets": buckets, "ddp_gradient_views": tuned_ddp, "unpad": unpad, "step_graphs": step_graphs,
            "packed_bucket": GRAPH_TOKEN_BUCKET if unpad_graphs else None,
            "pad_to_multiple_of": multiple, "argmax_on_device": fast, "threads": threads, "env": env,
            "eval_batch_size": eval_batch, "training_arguments": arguments, "summary": summary}


def unpad_blocker(config: RunConfig, device: str, precision: str, checkpointing: bool,
                  model_type: str | None) -> str | None:
    """Why this run cannot train on unpadded batches, in words; None when it can. `model_type` None: not known
    yet (a Hub model before its config is read), checked again in the training child."""
    if model_type is not None and model_type not in UNPADDED_FAMILIES:
        return f"unpadded batches cover BERT- and RoBERTa-family models, and this model is {model_type}"
    if device != "cuda":
        return "unpadded batches need a CUDA GPU (FlashAttention's variable-length kernel)"
    if precision not in ("bf16", "fp16"):
        return "unpadded batches need bf16 or fp16 precision (FlashAttention has no fp32 kernel)"
    if config.hardware.attention == "eager":
        return "eager attention was chosen, and unpadded batches run FlashAttention"
    if checkpointing:
        return "gradient checkpointing recomputes padded layers"
    if config.model.lora:
        return "LoRA adapters train on padded batches"
    return None


def _unpads(config: RunConfig, facts: dict[str, Any], precision: str, graphs: bool,
            checkpointing: bool) -> tuple[bool, str | None]:
    """(unpadded batches or not, why not when they were asked for or would be the default)."""
    chosen = config.hardware.unpad
    if chosen == "off":
        return False, None
    model_type = "bert" if config.model.source == "builtin" else facts.get("model_type")
    blocker = unpad_blocker(config, facts["device"], precision, checkpointing, model_type)
    if chosen == "auto":
        if config.hardware.speed != "fast" or facts["device"] != "cuda":
            return False, None  # padded batches are the default there: nothing to explain
        if graphs:
            return False, None  # CUDA graphs need one shape per bucket; they pay more at these lengths
    return blocker is None, blocker


def _ddp_arguments(compiles: bool) -> dict[str, Any]:
    """DDP settings for the fast preset: every weight of a sequence classifier gets a gradient, so the per-step
    search for unused ones is wasted, and the buffers (position ids) never change, so need no broadcast."""
    arguments: dict[str, Any] = {"ddp_find_unused_parameters": False, "ddp_broadcast_buffers": False}
    if compiles:
        # Compiled, the graph is cut at every bucket: 200 MB buckets measured 1.84x against 25 MB's 1.78x
        # (2 H200s, the same call).
        arguments["ddp_bucket_cap_mb"] = DDP_COMPILED_BUCKET_MB
    return arguments


def _summary(config: RunConfig, device: str, precision: str, attention: str, optim: str, compiles: bool,
             multiple: int | None, buckets: bool, graphs: bool | str, eval_batch: int,
             threads: int | None) -> list[str]:
    """One short line per speed choice, for the New run page and train.log."""
    fast = config.hardware.speed == "fast"
    padding = ("batches padded to their longest text" + (f", rounded up to a multiple of {multiple}" if multiple
                                                         else ", rounded up to one of 20 lengths" if buckets else ""))
    summary = [f"precision {precision}", f"{attention} attention", optim.replace("_", " "),
               f"torch.compile {'on, dynamic shapes' if compiles else 'off'}", padding,
               f"{config.training.train_sampling_strategy.replace('_', ' ')} batching", f"eval batch {eval_batch}"]
    if graphs == "steps":
        summary.append("CUDA graphs of whole training steps (forward, backward, clipping and AdamW)")
    elif graphs:
        summary.append("CUDA graphs (compile mode reduce-overhead)")
    if fast and device == "cuda":
        summary += ["batches copied to the GPU without waiting", "no per-step GPU wait for the NaN filter"]
    if fast:
        summary.append("argmax on the device before metrics")
    if threads:
        summary.append(f"{threads} CPU threads (one per physical core)")
    if device == "mps":
        summary.append("PYTORCH_ENABLE_MPS_FALLBACK=1 (unsupported operations run on the CPU)")
    return summary
