"""The metrics record schema: one line of metrics.jsonl per logging step, evaluation or end-of-training summary.

The training child's recorder writes records with `make_record`; every reader (charts, progress, diagnostics,
compare, history) reads them with the functions here, so the types, field names and the NaN encoding live in
one place.
"""

from __future__ import annotations

import math
import time
from typing import Any, Iterable

TRAIN, EVAL, SUMMARY = "train", "eval", "summary"
# Training-step fields the recorder copies from the Trainer's logs (more are added: memory, speed, ratios).
TRAIN_KEYS = ("loss", "learning_rate", "grad_norm")
# The Trainer's end-of-training log line.
SUMMARY_KEYS = ("train_runtime", "train_samples_per_second", "train_steps_per_second", "train_loss")
# Evaluation fields all start with this prefix (eval_loss, eval_accuracy, eval_f1, ...).
EVAL_PREFIX = "eval_"
# The metrics of an evaluation, without the prefix. Single-label runs: accuracy; f1, precision and recall are
# averages over the classes weighted by their size (f1_weighted is f1 under its full name); f1_macro is the plain
# mean over the classes, so a rare class counts as much as a large one (runs before issue 16 lack f1_macro and
# f1_weighted); plus the share of predictions in the most-predicted class (`top_class_share`, its id `top_class`).
SINGLE_LABEL_METRICS = ("accuracy", "f1", "f1_macro", "f1_weighted", "precision", "recall")
# Multi-label runs: micro / macro F1, micro precision and recall, subset accuracy (every label of a text right),
# plus the share of texts given no label at all (`no_label_share`) and the mean labels given per text
# (`labels_per_text`).
MULTI_LABEL_METRICS = ("f1_micro", "f1_macro", "precision_micro", "recall_micro", "subset_accuracy")
# A single-label metric named for a multi-label run means its multi-label counterpart (the default "f1" included).
MULTI_LABEL_EQUIVALENT = {"f1": "f1_micro", "accuracy": "subset_accuracy", "precision": "precision_micro",
                          "recall": "recall_micro"}


def rate_metrics(multi_label: bool) -> tuple[str, ...]:
    """The eval metrics (rates between 0 and 1) a run of this kind records."""
    return MULTI_LABEL_METRICS if multi_label else SINGLE_LABEL_METRICS


def metric_for_task(metric: str, multi_label: bool) -> str:
    """The metric a run of this kind records for `metric` (loss is loss for both)."""
    return MULTI_LABEL_EQUIVALENT.get(metric, metric) if multi_label else metric


def encode(value: Any) -> Any:
    """JSON has no NaN or Infinity: they are written as the strings 'nan', 'inf' and '-inf'."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


def as_float(value: Any) -> float:
    """A metric value as a float; the strings written for non-finite values included."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def record_type(logs: dict[str, Any]) -> str:
    """Which kind of record a Trainer log line makes."""
    if any(key.startswith(EVAL_PREFIX) for key in logs):
        return EVAL
    if any(key in logs for key in SUMMARY_KEYS):
        return SUMMARY
    return TRAIN


def make_record(logs: dict[str, Any], step: int, epoch: float | None, extras: dict[str, Any] | None = None) -> dict:
    """One metrics line from a Trainer log line: its type, step, epoch, wall time and the fields of its type."""
    kind = record_type(logs)
    if kind == EVAL:
        values = {k: v for k, v in logs.items() if k.startswith(EVAL_PREFIX)}
    elif kind == SUMMARY:
        values = {k: v for k, v in logs.items() if k in SUMMARY_KEYS}
    else:
        values = {**{k: logs[k] for k in TRAIN_KEYS if k in logs}, **(extras or {})}
    return {"type": kind, "step": step, "epoch": round(epoch or 0.0, 4), "time": time.time(),
            **{k: encode(v) for k, v in values.items()}}


def train_points(records: Iterable[dict]) -> list[dict]:
    """Training-step records that carry a loss."""
    return [r for r in records if r.get("type") == TRAIN and "loss" in r]


def eval_points(records: Iterable[dict]) -> list[dict]:
    """Evaluation records."""
    return [r for r in records if r.get("type") == EVAL and "eval_loss" in r]


def step_records(records: Iterable[dict]) -> list[dict]:
    """Training-step records, with or without a loss (memory and speed windows included)."""
    return [r for r in records if r.get("type") == TRAIN]


def is_summary(record: dict) -> bool:
    return record.get("type") == SUMMARY
