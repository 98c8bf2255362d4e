"""Diagnostics: pure functions over what a run directory holds, returning findings a person can act on.

Each rule takes plain data (metric dicts, the dataset summary, the config) and returns a
`Finding` or None, so it is tested on made-up curves, never on real training.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable

# An eval loss this far above its best counts as a real rise, not noise (1%, from the rule in issue 4).
OVERFIT_MARGIN = 0.01
# Consecutive evaluations above the best before we call it overfitting: one epoch's blip is not enough.
OVERFIT_PATIENCE = 2
# "Stuck": loss within 5% of ln(K), the loss of a uniform guess over K classes...
STUCK_LOSS_TOLERANCE = 0.05
# ...and accuracy within 2 points of always answering the most frequent class.
STUCK_ACCURACY_POINTS = 0.02
# Judge only after this share of the planned steps, so the warm-up is not mistaken for being stuck.
STUCK_MIN_PROGRESS = 0.10


@dataclass
class Finding:
    code: str
    severity: str  # info | warning | error
    title: str
    evidence: str
    fix: str
    config_change: dict[str, Any] = field(default_factory=dict)
    step: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def as_float(value: Any) -> float:
    """Metric values as floats; the strings 'nan' / 'inf' written for non-finite values included."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def train_points(records: Iterable[dict]) -> list[dict]:
    return [r for r in records if r.get("type") == "train" and "loss" in r]


def eval_points(records: Iterable[dict]) -> list[dict]:
    return [r for r in records if r.get("type") == "eval" and "eval_loss" in r]


def _mean_train_loss_before(trains: list[dict], step: int, window: int = 5) -> float:
    losses = [as_float(r["loss"]) for r in trains if r["step"] <= step][-window:]
    return sum(losses) / len(losses) if losses else math.nan


def eval_loss_rising_while_train_falls(records: list[dict]) -> Finding | None:
    """Overfitting: eval loss > best by 1% for 2+ evaluations in a row while training loss keeps falling."""
    evals, trains = eval_points(records), train_points(records)
    if len(evals) < OVERFIT_PATIENCE + 1:
        return None
    losses = [as_float(e["eval_loss"]) for e in evals]
    best_index = min(range(len(losses)), key=lambda i: losses[i])
    after = losses[best_index + 1:]
    threshold = losses[best_index] * (1 + OVERFIT_MARGIN)
    if len(after) < OVERFIT_PATIENCE or not all(loss > threshold for loss in after[-OVERFIT_PATIENCE:]):
        return None
    onset = next(i for i in range(best_index + 1, len(losses)) if losses[i] > threshold)
    best, last = evals[best_index], evals[-1]
    train_then = _mean_train_loss_before(trains, best["step"])
    train_now = _mean_train_loss_before(trains, last["step"])
    if not train_now < train_then:
        return None
    epoch = best.get("epoch")
    return Finding(
        code="OVERFITTING", severity="warning", title="The model is overfitting",
        evidence=(f"Eval loss rose from {losses[best_index]:.3f} (step {best['step']}) to {losses[-1]:.3f} "
                  f"(step {last['step']}) while training loss fell from {train_then:.3f} to {train_now:.3f}."),
        fix=(f"Keep the model from step {best['step']} (load best model at end does this) and stop earlier: "
             f"turn on early stopping, or train fewer epochs; raise weight decay or dropout for the next run."),
        config_change={"training.early_stopping_patience": 2, "training.load_best_model_at_end": True,
                       **({"training.num_train_epochs": max(1.0, round(float(epoch)))} if epoch else {})},
        step=evals[onset]["step"])


def loss_at_chance_and_accuracy_at_majority(records: list[dict], num_labels: int, majority_rate: float,
                                            max_steps: int, learning_rate: float | None = None) -> Finding | None:
    """Stuck: after 10% of the steps, loss ≈ ln(K) and accuracy ≈ the majority-class rate."""
    trains, evals = train_points(records), eval_points(records)
    if num_labels < 2 or not trains or not evals or not max_steps:
        return None
    step = trains[-1]["step"]
    if step < STUCK_MIN_PROGRESS * max_steps:
        return None
    chance_loss = math.log(num_labels)
    recent = [as_float(r["loss"]) for r in trains[-5:]]
    smoothed = sum(recent) / len(recent)
    accuracy = as_float(evals[-1].get("eval_accuracy"))
    if abs(smoothed - chance_loss) > STUCK_LOSS_TOLERANCE * chance_loss:
        return None
    if math.isnan(accuracy) or abs(accuracy - majority_rate) > STUCK_ACCURACY_POINTS:
        return None
    fix, change = _stuck_fix(learning_rate)
    return Finding(
        code="STUCK_AT_CHANCE", severity="warning", title="The model is not learning",
        evidence=(f"After {step} of {max_steps} steps the training loss is {smoothed:.3f}, about ln({num_labels}) = "
                  f"{chance_loss:.3f} (a uniform guess), and eval accuracy is {accuracy:.1%}, the share of the "
                  f"largest class ({majority_rate:.1%})."),
        fix=fix, config_change=change, step=step)


def _stuck_fix(learning_rate: float | None) -> tuple[str, dict[str, Any]]:
    if learning_rate is not None and learning_rate >= 5e-4:
        return (f"The learning rate {learning_rate:g} is too high for fine-tuning; restart with 5e-5.",
                {"training.learning_rate": 5e-5})
    if learning_rate is not None and learning_rate <= 1e-6:
        return (f"The learning rate {learning_rate:g} is too low to move the weights; restart with 5e-5.",
                {"training.learning_rate": 5e-5})
    return ("Check that the label column matches the texts and that the model is not frozen; "
            "if both are right, train longer or try learning rate 5e-5.", {})


def live_findings(records: list[dict], dataset: dict, status: dict, config: dict) -> list[Finding]:
    """The warnings shown while a run trains, newest first."""
    progress = status.get("progress") or {}
    training = config.get("training", {})
    found = [
        eval_loss_rising_while_train_falls(records),
        loss_at_chance_and_accuracy_at_majority(
            records, int(dataset.get("num_labels", 0) or 0), float(dataset.get("majority_rate", 0.0) or 0.0),
            int(progress.get("max_steps", 0) or 0), training.get("learning_rate")),
    ]
    return sorted((f for f in found if f), key=lambda f: f.step or 0, reverse=True)


def classify_exception(exc: BaseException) -> tuple[str, str]:
    """A stable error code and a sentence for an exception that ended a run."""
    text = f"{type(exc).__name__}: {exc}"
    lowered = text.lower()
    if "out of memory" in lowered or type(exc).__name__ == "OutOfMemoryError":
        return "OUT_OF_MEMORY", ("The device ran out of memory. Use the low or very_low memory preset, or halve "
                                 "the batch size and double gradient accumulation.")
    if isinstance(exc, OSError) and getattr(exc, "errno", None) == 28:
        return "DISK_SPACE", ("The disk is full. Lower 'checkpoints kept', free space, or delete old runs.")
    if isinstance(exc, ImportError):
        return "DEPENDENCY_ERROR", f"A package is missing or too old ({exc}); run 'pip install -r requirements.txt'."
    return "TRAINING_ERROR", f"Training failed with {text[:300]}. The full traceback is in train.log."
