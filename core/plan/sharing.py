"""How many runs may train on one GPU at the same time: a small model at short lengths leaves most of an H200
idle (its steps wait on the CPU), so a sweep's trials, or runs started one after another, can share it.

Pure functions of the config and the GPU's memory; the queue (core/runner/queue.py) packs runs by the share
of a GPU each one asks for (1 / runs per GPU).
"""

from __future__ import annotations

import math

from core.config.schema import RunConfig
from core.plan import estimate

# At most this many runs on one GPU: each brings its own CUDA context (~0.5 GB) and its own CPU process, and
# beyond the point where the GPU is busy, more runs only take turns.
MAX_RUNS_PER_GPU = 4
# Share of the GPU's memory the runs on it may plan for together; the rest is their CUDA contexts, the
# allocator's caches and fragmentation.
MEMORY_SHARE = 0.8
# What one run keeps the GPU busy with, measured on an H100 and an H200 (bench/RESULTS.md, issue 5 and 18):
# while busy the GPU ran a BERT-base step at about 200 (tweet lengths) to 330 (IMDB lengths) TFLOP/s in bf16,
# and the host needed about 12 ms per step (the Trainer's Python, the optimizer's launches) however small the
# model. A step's GPU time over its host time is the share of the GPU one run can use.
BUSY_BF16_FLOPS = 250e12
HOST_MS_PER_STEP = 12.0


def gpu_busy_share(config: RunConfig, num_labels: int = 2) -> float | None:
    """The share of a GPU one run of this config keeps busy (1.0 when its steps are GPU-bound), from the FLOPs of
    a step at max length; None for a model whose shape is not known before it loads."""
    shape = estimate.MODEL_SHAPES.get(config.model.name) if config.model.source == "builtin" else None
    if shape is None:
        return None
    tokens = config.training.per_device_train_batch_size * config.data.max_length
    flops = tokens * estimate.flops_per_token(shape, num_labels, config.data.max_length)
    gpu_ms = flops / BUSY_BF16_FLOPS * 1e3
    return min(1.0, gpu_ms / HOST_MS_PER_STEP)


def memory_mb(config: RunConfig, num_labels: int = 2) -> float | None:
    """Peak GPU memory of one run at max length (the New run page's estimate), or None for an unknown shape."""
    shape = estimate.MODEL_SHAPES.get(config.model.name) if config.model.source == "builtin" else None
    if shape is None:
        return None
    fused = config.hardware.attention != "eager" and config.hardware.speed == "fast"
    precision = "fp32" if config.hardware.speed == "plain" or config.hardware.precision == "fp32" else "bf16"
    return estimate.memory_estimate(shape, num_labels, config.training.per_device_train_batch_size,
                                    config.data.max_length, precision, False, fused)["total_mb"]


def same_setup(a: dict, b: dict) -> bool:
    """Whether two raw configs train alike on a GPU (model, lengths, batch and speed settings): the GPU use one
    of them was measured at stands for the other."""
    keys = (("model", "source"), ("model", "name"), ("model", "path"), ("data", "max_length"),
            ("training", "per_device_train_batch_size"), ("hardware", "speed"), ("hardware", "compile"),
            ("hardware", "precision"), ("hardware", "memory_preset"))
    return all((a.get(s) or {}).get(k) == (b.get(s) or {}).get(k) for s, k in keys)


def runs_per_gpu(config: RunConfig, gpu_memory_mb: float | None,
                 measured_busy: float | None = None) -> tuple[int, str]:
    """How many runs like this one may share a GPU, and why: the user's number, else as many as fit in memory
    and still find the GPU free (1 over the share of it one run keeps busy: `measured_busy`, the GPU utilisation
    of an earlier run like it that had the GPU to itself, else the FLOPs estimate), at most MAX_RUNS_PER_GPU."""
    chosen = config.hardware.runs_per_gpu
    if chosen:
        return chosen, f"{chosen} as set"
    if config.hardware.processes > 1:
        return 1, "a run on several GPUs has them to itself"
    busy = measured_busy if measured_busy is not None else gpu_busy_share(config)
    memory = memory_mb(config)
    if busy is None or memory is None or not gpu_memory_mb:
        return 1, "the model's size is only known once it loads"
    by_memory = max(1, int(gpu_memory_mb * MEMORY_SHARE // memory))
    by_use = max(1, int(1 / max(busy, 1e-6)))
    k = min(MAX_RUNS_PER_GPU, by_memory, by_use)
    source = "measured" if measured_busy is not None else "estimated"
    return k, (f"one run keeps about {math.ceil(busy * 100)}% of the GPU busy ({source}) and needs about "
               f"{estimate.significant(memory)} MB of its {estimate.significant(gpu_memory_mb)} MB")
