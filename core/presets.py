"""Hardware presets: which device to train on and how the memory presets change the batch settings."""

from __future__ import annotations

import math
from dataclasses import dataclass

from core.config import RunConfig
from core.errors import UserError

# The seed document's low-memory preset: batch 4, with accumulation keeping the effective batch.
LOW_MEMORY_BATCH = 4
LOW_MEMORY_EVAL_BATCH = 8


@dataclass(frozen=True)
class BatchPlan:
    per_device_train_batch_size: int
    per_device_eval_batch_size: int
    gradient_accumulation_steps: int
    gradient_checkpointing: bool

    @property
    def effective_batch_size(self) -> int:
        return self.per_device_train_batch_size * self.gradient_accumulation_steps


def batch_plan(config: RunConfig) -> BatchPlan:
    """The batch settings a memory preset gives; 'low' and 'very_low' keep the effective batch size."""
    t = config.training
    preset = config.hardware.memory_preset
    if preset == "standard":
        return BatchPlan(t.per_device_train_batch_size, t.per_device_eval_batch_size,
                         t.gradient_accumulation_steps, bool(t.extra.get("gradient_checkpointing", False)))
    effective = t.per_device_train_batch_size * t.gradient_accumulation_steps
    batch = min(LOW_MEMORY_BATCH, effective)
    return BatchPlan(batch, min(LOW_MEMORY_EVAL_BATCH, t.per_device_eval_batch_size),
                     max(1, math.ceil(effective / batch)), preset == "very_low")


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
