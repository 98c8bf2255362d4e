"""Rules over how a run is set up (the model's head and trainable parameters, the device it trains on),
read from status.json's `model_facts` and `device_facts`; known before the first step, so shown at once.

Pure: plain dicts in, a `Finding` or None out, tested on made-up facts in tests/test_model_checks.py.
"""

from __future__ import annotations

from core.diagnostics.findings import Finding
from core.rundir.records import as_float, step_records

# Gradient checkpointing trades ~30% speed for memory; below this share of the GPU in use it buys nothing.
CHECKPOINTING_SPARE_SHARE = 0.5


def no_trainable_parameters(facts: dict) -> Finding | None:
    """FROZEN_WEIGHTS: a model with 0 trainable parameters cannot learn (and the optimizer gets nothing)."""
    if facts.get("trainable_parameters") != 0:
        return None
    total = facts.get("total_parameters")
    return Finding(code="FROZEN_WEIGHTS", severity="error", title="Every weight of the model is frozen",
                   evidence=f"The model has 0 trainable parameters out of {total or 'all its'}, so no update can "
                            "change it.",
                   fix="Make the encoder and the head trainable (requires_grad=True on their parameters, or do "
                       "not freeze them) and restart; to train only the head, freeze just the encoder.", step=0)


def head_does_not_match_classes(facts: dict, dataset: dict) -> Finding | None:
    """REGRESSION_HEAD for a one-output head on a classification task; NUM_LABELS_MISMATCH for any other
    head whose outputs differ from the number of classes in the data."""
    outputs, classes = facts.get("num_labels"), int(dataset.get("num_labels", 0) or 0)
    if not outputs or classes < 2 or outputs == classes:
        return None
    names = ", ".join(dataset.get("label_names") or [])
    fix = (f"Create the model with num_labels={classes} (one output per class: {names}) and problem_type "
           "single_label_classification; the dashboard sizes the head from the data, so remove any num_labels "
           "or head you set by hand.")
    if outputs == 1:
        return Finding(code="REGRESSION_HEAD", severity="error",
                       title="The model has a regression head on a classification task",
                       evidence=(f"The head has 1 output (problem_type {facts.get('problem_type') or 'regression'}) "
                                 f"but the data has {classes} classes: it would fit the label ids as numbers with "
                                 "a squared error, and its accuracy would mean nothing."), fix=fix, step=0)
    return Finding(code="NUM_LABELS_MISMATCH", severity="error",
                   title="The model's head does not match the number of classes",
                   evidence=(f"The head has {outputs} outputs but the data has {classes} classes"
                             + (f", so labels {outputs}..{classes - 1} have no output and the loss fails on them."
                                if outputs < classes else ", so some outputs are never the right answer.")),
                   fix=fix, step=0)


def fp32_on_a_bf16_gpu(device_facts: dict, training: dict, precision: str | None = None) -> Finding | None:
    """SLOW_TRAINING: full fp32 on a GPU that computes bf16 several times faster.

    `precision` is what the run's speed plan chose (status.json's `speed`); without it, the config's
    hand-set `training.bf16`/`fp16` decide."""
    if device_facts.get("device") != "cuda" or not device_facts.get("bf16"):
        return None
    if (precision and precision != "fp32") or (not precision and (training.get("bf16") or training.get("fp16"))):
        return None
    gpu = device_facts.get("name") or "this GPU"
    return Finding(code="SLOW_TRAINING", severity="warning", title="Training in fp32 on a GPU that has bf16",
                   evidence=f"{gpu} supports bf16, but the run trains in full fp32 precision.",
                   fix="Turn on bf16 mixed precision: on this GPU it trains several times faster with about half "
                       "the activation memory, and unlike fp16 it needs no loss scaling.",
                   config_change={"hardware.precision": "bf16"}, step=0)


def checkpointing_with_memory_to_spare(records: list[dict], device_facts: dict,
                                       gradient_checkpointing: bool) -> Finding | None:
    """SLOW_TRAINING: gradient checkpointing (recomputing activations, ~30% slower) while most GPU memory is free."""
    total = as_float(device_facts.get("total_memory_mb"))
    peaks = [as_float(r.get("memory_mb")) for r in step_records(records) if "memory_mb" in r]
    if not gradient_checkpointing or device_facts.get("device") != "cuda" or not peaks or not total > 0:
        return None
    peak = max(peaks)
    if not peak < CHECKPOINTING_SPARE_SHARE * total:
        return None
    step = step_records(records)[-1]["step"]
    return Finding(code="SLOW_TRAINING", severity="warning",
                   title="Gradient checkpointing is on with memory to spare",
                   evidence=(f"Gradient checkpointing recomputes activations (about 30% slower), yet training peaks "
                             f"at {peak:,.0f} MB of the GPU's {total:,.0f} MB ({peak / total:.0%})."),
                   fix="Switch to the standard memory preset (no gradient checkpointing); it fits in memory.",
                   config_change={"hardware.memory_preset": "standard"}, step=step)
