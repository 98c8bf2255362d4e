"""Hardware presets: which device to train on, how the memory presets change the batch settings, and the
speed settings each device gets. The plans are pure functions of the config and plain device facts, so
they are tested per device without the hardware; `device_facts` is the one place that asks torch."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

from core.config import RunConfig
from core.errors import UserError

# The seed document's low-memory preset: batch 4, with accumulation keeping the effective batch.
LOW_MEMORY_BATCH = 4
LOW_MEMORY_EVAL_BATCH = 8
# Padded lengths rounded up to this when compiling: at most 512 / 64 = 8 shapes instead of one per batch.
COMPILE_PAD_MULTIPLE = 64
# Tensor cores work on multiples of 8 tokens.
CUDA_PAD_MULTIPLE = 8
# Evaluation keeps no gradients or optimizer state, so on a GPU it takes a much larger batch.
FAST_CUDA_EVAL_BATCH = 256
NEXT_MEMORY_PRESET = {"standard": "low", "auto": "low", "low": "very_low"}


@dataclass(frozen=True)
class BatchPlan:
    per_device_train_batch_size: int
    per_device_eval_batch_size: int
    gradient_accumulation_steps: int
    gradient_checkpointing: bool

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
    if preset == "standard" or (preset == "auto" and fitted_batch is None):
        return BatchPlan(t.per_device_train_batch_size, t.per_device_eval_batch_size,
                         t.gradient_accumulation_steps, checkpointing)
    if preset == "auto":
        batch = max(1, min(fitted_batch, effective))
        return BatchPlan(batch, t.per_device_eval_batch_size, math.ceil(effective / batch), checkpointing)
    batch = min(LOW_MEMORY_BATCH, effective)
    return BatchPlan(batch, min(LOW_MEMORY_EVAL_BATCH, t.per_device_eval_batch_size),
                     max(1, math.ceil(effective / batch)), preset == "very_low")


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
    from core.faults import fake_devices  # no-op unless a test fakes a GPU (DASHBOARD_FAKE_DEVICES)

    return fake_devices({"cpu": True, "cuda": cuda, "mps": bool(mps and mps.is_available()),
                         "cuda_count": torch.cuda.device_count() if cuda else 0})


def device_facts(device: str) -> dict:
    """What the slow-training rules need to know about the device a run trains on."""
    import torch

    facts: dict = {"device": device}
    if device == "cuda" and torch.cuda.is_available():
        props = torch.cuda.get_device_properties(torch.cuda.current_device())
        facts.update(name=props.name, bf16_supported=bool(torch.cuda.is_bf16_supported()),
                     memory_total_mb=round(props.total_memory / 2**20))
    return facts


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
    # Compiling pays on a GPU, where it fuses many small kernels; on CPU the compile time of a short run
    # outweighs the gain, and recomputation under gradient checkpointing compiles poorly.
    return facts["device"] == "cuda" and config.hardware.speed == "fast" and not checkpointing


def _pad_multiple(config: RunConfig, facts: dict[str, Any], compiles: bool) -> int | None:
    if config.hardware.pad_to_multiple_of:
        return config.hardware.pad_to_multiple_of
    if compiles:
        return COMPILE_PAD_MULTIPLE
    return CUDA_PAD_MULTIPLE if facts["device"] == "cuda" and config.hardware.speed == "fast" else None


def speed_plan(config: RunConfig, facts: dict[str, Any], plan: BatchPlan | None = None) -> dict[str, Any]:
    """Every speed setting for this config on this device, as plain data: TrainingArguments values, model
    and collator arguments, threads and environment, and one line per choice for the form."""
    plan = plan or batch_plan(config)
    fast, device = config.hardware.speed == "fast", facts["device"]
    precision = _precision(config, facts)
    compiles = _compiles(config, facts, plan.gradient_checkpointing)
    multiple = _pad_multiple(config, facts, compiles)
    attention = config.hardware.attention if config.hardware.attention != "auto" else ("sdpa" if fast else "eager")
    optim = "adamw_torch_fused" if fast and device == "cuda" else "adamw_torch"
    eval_batch = plan.per_device_eval_batch_size
    if fast and device == "cuda" and config.hardware.memory_preset in ("standard", "auto"):
        eval_batch = max(eval_batch, FAST_CUDA_EVAL_BATCH)
    arguments: dict[str, Any] = {"bf16": precision == "bf16", "fp16": precision == "fp16", "optim": optim,
                                 "torch_compile": compiles, "per_device_eval_batch_size": eval_batch}
    # No dataloader_drop_last for the compiled model's sake: it would drop eval texts from the metrics too;
    # the smaller last batch costs one recompile, after which the batch dimension is dynamic.
    if device == "cuda":
        arguments["dataloader_pin_memory"] = True
    threads = facts.get("physical_cores") if device == "cpu" and fast else None
    env = {"PYTORCH_ENABLE_MPS_FALLBACK": "1"} if device == "mps" else {}
    summary = [f"precision {precision}", f"{attention} attention", optim.replace("_", " "),
               f"torch.compile {'on' if compiles else 'off'}",
               f"batches padded to their longest text" + (f", rounded up to a multiple of {multiple}" if multiple
                                                           else ""),
               f"{config.training.train_sampling_strategy.replace('_', ' ')} batching", f"eval batch {eval_batch}"]
    if fast:
        summary.append("argmax on the device before metrics")
    if threads:
        summary.append(f"{threads} CPU threads (one per physical core)")
    if env:
        summary.append("PYTORCH_ENABLE_MPS_FALLBACK=1 (unsupported operations run on the CPU)")
    return {"device": device, "precision": precision, "attention": attention, "optim": optim, "compile": compiles,
            "pad_to_multiple_of": multiple, "argmax_on_device": fast, "threads": threads, "env": env,
            "eval_batch_size": eval_batch, "training_arguments": arguments, "summary": summary}
