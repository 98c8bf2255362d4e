"""Diagnostics about the data and the input pipeline: eval texts seen in training, classes far apart in size,
batches that are mostly padding, and batches slow to make. Pure functions over the dataset summary and the metric
records, like the curve rules in core/diagnostics/rules.py, which gathers them into a run's findings."""

from __future__ import annotations

from typing import Any

from core.diagnostics.findings import Finding
from core.rundir.records import as_float, train_points

# Share of eval texts also seen in training above which the eval metrics cannot be trusted.
LEAKAGE_WARNING_SHARE = 0.05
# Largest / smallest training class above which accuracy hides the small classes.
IMBALANCE_RATIO = 10.0


def eval_texts_seen_in_training(dataset: dict) -> Finding | None:
    """EVAL_LEAKAGE: eval texts that also appear in training inflate every eval metric."""
    overlap, size = int(dataset.get("eval_overlap") or 0), int(dataset.get("eval_size") or 0)
    if not overlap or not size:
        return None
    share = overlap / size
    return Finding(code="EVAL_LEAKAGE", severity="warning" if share >= LEAKAGE_WARNING_SHARE else "info",
                   title="Some eval texts also appear in training",
                   evidence=f"{overlap} of {size} eval texts ({share:.1%}) are identical to a training text.",
                   fix=("Remove duplicate texts before splitting, or use an eval set drawn from other data; "
                        "until then eval scores are optimistic." if share >= LEAKAGE_WARNING_SHARE else
                        "Nothing to do: a few duplicates in the corpus barely affect the scores."))


def classes_far_apart_in_size(dataset: dict, config: dict | None = None) -> Finding | None:
    """CLASS_IMBALANCE: the largest training class is more than 10x the smallest. The fix weighs the classes in the
    loss (balanced) and keeps the checkpoint with the best macro F1, where the small class counts as much."""
    counts = dataset.get("train_counts") or {}
    if len(counts) < 2 or min(counts.values()) <= 0:
        return None
    largest, smallest = max(counts, key=counts.get), min(counts, key=counts.get)
    ratio = counts[largest] / counts[smallest]
    if ratio <= IMBALANCE_RATIO:
        return None
    training = (config or {}).get("training") or {}
    weighted = training.get("class_weights") not in (None, "none")
    change = {} if weighted else {"training.class_weights": "balanced"}
    if training.get("metric_for_best_model") != "f1_macro":
        change["training.metric_for_best_model"] = "f1_macro"
    first = ("The classes are already weighted in the loss; judge" if weighted else
             "Weigh the classes in the loss (class weights balanced, so each class counts as much as the largest) "
             "and judge")
    return Finding(code="CLASS_IMBALANCE", severity="warning", title="The classes are very unequal in size",
                   evidence=(f"'{largest}' has {counts[largest]} training examples and '{smallest}' only "
                             f"{counts[smallest]} ({ratio:.0f}x fewer)."),
                   fix=(f"{first} the run by macro F1 (every class counts the same) and the per-class report, not "
                        f"accuracy; add examples of '{smallest}' if you can."),
                   config_change=change)


# Batches more than half padding spend most of their compute on nothing.
PADDING_WASTE_SHARE = 0.5


def batches_mostly_padding(records: list[dict], sampling: str | None, padding: str | None = None) -> Finding | None:
    """SLOW_TRAINING (padding waste): over half of the tokens in recent batches are padding."""
    shares = [as_float(r["pad_share"]) for r in train_points(records) if "pad_share" in r][-3:]
    if len(shares) < 3 or min(shares) <= PADDING_WASTE_SHARE:
        return None
    mean = sum(shares) / len(shares)
    if padding == "max_length":
        change: dict[str, Any] = {"data.padding": "longest"}
        fix = "Pad each batch to its longest text (padding 'longest') instead of every text to the max length"
    elif sampling != "group_by_length":
        change = {"training.train_sampling_strategy": "group_by_length"}
        fix = "Batch texts of similar length together (group_by_length)"
    else:
        change, fix = {}, "Lower the max sequence length to what most texts need"
    return Finding(code="SLOW_TRAINING", severity="warning", title="Most of each batch is padding",
                   evidence=f"{mean:.0%} of the tokens in recent training batches are padding, so most compute is "
                            "spent on nothing.",
                   fix=f"{fix}; do not pad to a fixed length (the dashboard pads each batch to its longest text).",
                   config_change=change, step=train_points(records)[-1]["step"])


BATCH_TIME_SHARE = 0.3


def batches_slow_to_make(records: list[dict], workers: int | None) -> Finding | None:
    """SLOW_TRAINING (input pipeline): the model waits for batches for over 30% of recent training time."""
    shares = [as_float(r["batch_time_share"]) for r in train_points(records) if "batch_time_share" in r][-3:]
    if len(shares) < 3 or min(shares) <= BATCH_TIME_SHARE or (workers or 0) > 0:
        return None
    mean = sum(shares) / len(shares)
    return Finding(code="SLOW_TRAINING", severity="warning", title="The model waits for its batches",
                   evidence=f"{mean:.0%} of recent training time went into making batches (collating and padding "
                            "tokenized texts) in the training process, while the model sat idle.",
                   fix="Make batches in background worker processes (dataloader_num_workers = 2), so the next "
                       "batch is ready when the model needs it.",
                   config_change={"training.dataloader_num_workers": 2}, step=train_points(records)[-1]["step"])
