"""Before launch: peak accelerator memory and time per epoch, from the model's shape and the batch.

Pure functions of plain numbers. Memory counts fp32 weights, fp32 gradients, AdamW's two fp32 moments,
the bf16/fp16 weight copies autocast keeps, the update-ratio snapshot of the live metrics, and the
activations one layer saves for backward (Korthikanti et al. 2022, "Reducing Activation Recomputation in
Large Transformer Models", eq. 1, with the FFN width and the element size as parameters). Time uses the
FLOPs model 6·N·tokens plus attention, divided by the FLOP/s measured on the benchmark configs.
"""

from __future__ import annotations

import math
import random
from typing import Any

MB = 2**20
# On CPU the measure is the growth of the process's peak resident memory, which also holds what PyTorch and
# transformers load and keep around the tensors (code, allocator caches): 143 MB at the MiniLM-L6 load alone,
# and 150 MB closes the gap on the CPU benchmark runs (bench/RESULTS.md, ## Throughput on CPU).
CPU_RUNTIME_MB = 150
# Shapes of the built-in models (layers, hidden, heads, FFN width, vocabulary, positions).
MODEL_SHAPES = {
    "minilm-l6": {"layers": 6, "hidden": 384, "heads": 12, "intermediate": 1536, "vocab": 30522, "positions": 512},
    "bert-base-random": {"layers": 12, "hidden": 768, "heads": 12, "intermediate": 3072, "vocab": 30522,
                         "positions": 512},
    "tiny-random": {"layers": 2, "hidden": 32, "heads": 2, "intermediate": 64, "vocab": 30522, "positions": 512},
}
# Training FLOP/s achieved, from bench/RESULTS.md (## Throughput): samples/s × padded tokens × FLOPs per token.
ACHIEVED_FLOPS = {
    ("cpu", "fp32"): 44e9,     # MiniLM-L6 default run, 19.08 samples/s x ~35 padded tokens, 2-core AMD EPYC, idle
    ("mps", "fp32"): 1.5e12,   # not measured here; an M-series GPU's order of magnitude
    ("cuda", "fp32"): 16e12,   # issue 5's H100 reference: the seed default ran at 1.6% MFU of 989 TFLOP/s
    ("cuda", "bf16"): 180e12,  # issue 5's H100 reference: the tuned script ran at 18.4% MFU
    ("cuda", "fp16"): 180e12,
}


def parameter_counts(shape: dict[str, int], num_labels: int) -> dict[str, int]:
    """Parameters of a BERT-style classifier: embeddings, encoder layers, pooler and head."""
    h, i, layers = shape["hidden"], shape["intermediate"], shape["layers"]
    embeddings = (shape["vocab"] + shape["positions"] + 2) * h + 2 * h
    layer = 4 * h * h + 4 * h + 2 * h * i + i + h + 4 * h
    head = h * h + h + h * num_labels + num_labels
    return {"embedding": embeddings, "non_embedding": layers * layer + head,
            "total": embeddings + layers * layer + head}


def layer_activation_bytes(shape: dict[str, int], batch: int, length: int, element_bytes: int,
                           fused_attention: bool) -> float:
    """Bytes one encoder layer keeps for backward: 8sbh + 2sbi + 2as²b elements, 2sbh + as²b dropout masks;
    a fused attention kernel (SDPA on CUDA) keeps no s×s matrices."""
    s, b, h, i, a = length, batch, shape["hidden"], shape["intermediate"], shape["heads"]
    elements = 8 * s * b * h + 2 * s * b * i
    masks = 2 * s * b * h
    if not fused_attention:
        elements += 2 * a * s * s * b
        masks += a * s * s * b
    return elements * element_bytes + masks


def memory_estimate(shape: dict[str, int], num_labels: int, batch: int, length: int, precision: str,
                    checkpointing: bool, fused_attention: bool, live_metrics: bool = True,
                    device: str = "cuda") -> dict[str, float]:
    """Peak training memory in MB by component, and the total (CUDA: tensors only, as the allocator counts)."""
    counts = parameter_counts(shape, num_labels)
    n = counts["total"]
    half = precision in ("bf16", "fp16")
    element = 2 if half else 4
    layer = layer_activation_bytes(shape, batch, length, element, fused_attention)
    embedding_out = 3 * batch * length * shape["hidden"] * element
    if checkpointing:  # each layer's input is kept; one layer at a time is recomputed in backward
        activations = shape["layers"] * batch * length * shape["hidden"] * element + 2 * layer
    else:  # one more layer's worth for the gradients flowing back through the layer being differentiated
        activations = (shape["layers"] + 1) * layer
    parts = {"weights_mb": 4 * n, "gradients_mb": 4 * n, "optimizer_mb": 8 * n,
             "half_precision_copies_mb": 2 * n if half else 0,
             "update_ratio_snapshot_mb": 4 * counts["non_embedding"] if live_metrics else 0,
             "activations_mb": activations + embedding_out,
             "cpu_runtime_mb": CPU_RUNTIME_MB * MB if device == "cpu" else 0}
    out = {k: round(v / MB, 1) for k, v in parts.items()}
    out["total_mb"] = round(sum(parts.values()) / MB, 1)
    return out


def flops_per_token(shape: dict[str, int], num_labels: int, length: float) -> float:
    """Training FLOPs per token: 6·N (non-embedding) for the matmuls, 12·layers·hidden·length for attention."""
    n = parameter_counts(shape, num_labels)["non_embedding"]
    return 6 * n + 12 * shape["layers"] * shape["hidden"] * length


def length_bucket(length: int) -> int:
    """The padded length a compiled model sees: a multiple of 8 up to 64, then of 16, 32, 64... (the step
    doubles with the length). At most 20 shapes up to 512 tokens, so CUDA graphs are recorded a few times,
    and at most 23% padding on top of the batch's longest text (65 → 80)."""
    step = 8
    while length > 8 * step:
        step *= 2
    return math.ceil(length / step) * step


def padded_width(longest: int, multiple: int | None = None, buckets: bool = False) -> int:
    """The length a batch whose longest text is `longest` is padded to: its length bucket (when bucketing),
    then rounded up to `multiple`. The batch maker, the estimates and the batch fit all use this."""
    width = length_bucket(longest) if buckets else longest
    return math.ceil(width / multiple) * multiple if multiple else width


def padded_lengths(lengths: list[int], batch: int, grouped: bool, multiple: int | None, seed: int = 0,
                   buckets: bool = False) -> list[int]:
    """Each batch's padded length when `lengths` are batched: shuffled, or grouped by length (the Trainer
    sorts megabatches of 50 batches), each padded to its longest text, rounded up to `multiple` (or to
    its length bucket)."""
    order = list(lengths)
    random.Random(seed).shuffle(order)
    if grouped:
        mega = 50 * batch
        order = [x for start in range(0, len(order), mega) for x in sorted(order[start:start + mega], reverse=True)]
    out = []
    for start in range(0, len(order), batch):
        out.append(padded_width(max(order[start:start + batch]), multiple, buckets))
    return out


def length_profile(lengths: list[int], batch: int, grouped: bool, multiple: int | None,
                   buckets: bool = False) -> dict[str, float]:
    """Mean real length, mean padded length per sample, and the longest padded batch."""
    padded = padded_lengths(lengths, batch, grouped, multiple, buckets=buckets) if lengths else [0]
    return {"mean_real": sum(lengths) / max(1, len(lengths)), "mean_padded": sum(padded) / len(padded),
            "max_padded": max(padded)}


def time_estimate(shape: dict[str, int], num_labels: int, train_size: int, eval_size: int,
                  profile: dict[str, float], device: str, precision: str) -> dict[str, float]:
    """Seconds per epoch (training plus one evaluation) and the samples/s it implies."""
    rate = ACHIEVED_FLOPS.get((device, precision), ACHIEVED_FLOPS[("cpu", "fp32")])
    per_token = flops_per_token(shape, num_labels, profile["mean_padded"])
    train_s = train_size * profile["mean_padded"] * per_token / rate
    eval_s = eval_size * profile["mean_padded"] * per_token / 3 / rate  # forward only: a third of training
    return {"train_s_per_epoch": round(train_s, 1), "eval_s_per_epoch": round(eval_s, 1),
            "samples_per_second": round(train_size / train_s, 2) if train_s else 0.0,
            "tokens_per_second": round(train_size * profile["mean_real"] / train_s, 1) if train_s else 0.0,
            "flops_per_s_assumed": rate}


def run_estimate(model_name: str, num_labels: int, batch: int, lengths: list[int], max_length: int,
                 plan: dict[str, Any], checkpointing: bool, train_size: int, eval_size: int,
                 grouped: bool, live_metrics: bool = True) -> dict[str, Any] | None:
    """Memory and time for one run of a built-in model, from a sample of its tokenized lengths."""
    shape = MODEL_SHAPES.get(model_name)
    if shape is None:
        return None
    lengths = [min(x, max_length) for x in lengths]
    profile = length_profile(lengths, batch, grouped, plan.get("pad_to_multiple_of"),
                             bool(plan.get("length_buckets")))
    fused = plan.get("attention") == "sdpa" and plan.get("device") == "cuda"
    memory = memory_estimate(shape, num_labels, batch, int(profile["max_padded"]), plan.get("precision", "fp32"),
                             checkpointing, fused, live_metrics, plan.get("device", "cpu"))
    timing = time_estimate(shape, num_labels, train_size, eval_size, profile, plan.get("device", "cpu"),
                           plan.get("precision", "fp32"))
    return {"memory": memory, "time": timing, "lengths": {k: round(v, 1) for k, v in profile.items()},
            "batch": batch, "device": plan.get("device"), "precision": plan.get("precision")}


def versus_measured(estimate: dict[str, Any], performance: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows of estimate against measurement for the run page: peak memory, samples/s, tokens/s, epoch time."""
    memory, timing = estimate.get("memory", {}), estimate.get("time", {})
    pairs = (("Peak memory (MB)", memory.get("total_mb"), performance.get("peak_memory_mb")),
             ("Training samples/s", timing.get("samples_per_second"), performance.get("samples_per_second")),
             ("Real tokens/s", timing.get("tokens_per_second"), performance.get("tokens_per_second")),
             ("Training time per epoch (s)", timing.get("train_s_per_epoch"), performance.get("time_per_epoch_s")))
    rows = []
    for label, estimated, measured in pairs:
        if estimated is None and measured is None:
            continue
        off = (f"{(estimated / measured - 1) * 100:+.0f}%" if estimated and measured else "–")
        rows.append({"measure": label, "estimate": estimated, "measured": measured, "estimate off by": off})
    return rows


# Below a minute of computing, loading the model and tokenizing outweigh what the FLOP count measures,
# so the figure would be false precision ("about 0 s").
SHORTEST_STATED_S = 60


def significant(value: float, digits: int = 2) -> str:
    """A figure rounded to what a person reads: 42,213.7 -> '42,000', 3.456 -> '3.5'."""
    if not value:
        return "0"
    from math import floor, log10

    decimals = digits - 1 - floor(log10(abs(value)))
    return f"{round(value, decimals):,.{max(0, decimals)}f}"


def readable_duration(seconds: float) -> str:
    """An estimated duration as a person says it: 'under a minute', 'about 6 min', 'about 1 h 20 min'."""
    if seconds < SHORTEST_STATED_S:
        return "under a minute"
    minutes = seconds / 60
    if minutes < 10:
        return f"about {round(minutes)} min"
    if minutes < 60:
        return f"about {5 * round(minutes / 5)} min"
    hours, rest = divmod(10 * round(minutes / 10), 60)
    return f"about {hours} h" + (f" {rest} min" if rest else "")


def time_estimate_words(total_s: float, epochs: float, samples_per_second: float, device: str) -> str:
    """The New run page's time estimate; the pace is stated only when the run is long enough to measure it."""
    words = f"{readable_duration(total_s)} for {epochs:g} epochs"
    if total_s < SHORTEST_STATED_S:
        return words
    return f"{words} (about {significant(samples_per_second)} training samples/s on {device})"
