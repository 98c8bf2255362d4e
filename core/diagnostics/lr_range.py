"""The learning-rate range test, read: which learning rate to train with, and why, from its (lr, loss) curve.

The test (`python -m core.train --lr-find`) raises the learning rate exponentially every step and records the
loss like any run. Here, a pure function over those points picks the value, so it is tested on made-up curves.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from core.rundir.records import as_float, train_points

# The range the test sweeps: from far too small to learn to far too large to stay finite.
RANGE_START, RANGE_END = 1e-7, 1.0
# The test ends early once its smoothed loss is this many times its best: the curve has exploded (fastai's rule).
EXPLODE_FACTOR = 4.0
# Fewer points than this do not make a curve to read.
MIN_POINTS = 8
# The smoothed loss must fall by at least this share of where it started for the range to have taught anything.
MIN_DROP = 0.05


@dataclass
class Suggestion:
    """A learning rate to train with (None when the curve does not give one) and the reason in words."""
    learning_rate: float | None
    reason: str
    steepest: float | None = None
    minimum: float | None = None
    diverges_above: float | None = None


def format_lr(value: float) -> str:
    """A learning rate as people write it: 3e-5, not 3.000e-05."""
    mantissa, exponent = f"{value:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def range_points(records: list[dict]) -> list[tuple[float, float]]:
    """(learning rate, loss) of a range test's training lines in step order; a non-finite loss ends the curve."""
    points = []
    for record in train_points(records):
        lr, loss = as_float(record.get("learning_rate")), as_float(record["loss"])
        if not math.isfinite(loss):
            break
        if math.isfinite(lr) and lr > 0:
            points.append((lr, loss))
    return points


def smoothed(losses: list[float]) -> list[float]:
    """A centred moving average (no lag, unlike an exponential one), about a twentieth of the curve wide."""
    half = max(1, len(losses) // 20)
    out = []
    for i in range(len(losses)):
        window = losses[max(0, i - half): i + half + 1]
        out.append(sum(window) / len(window))
    return out


def steepest_fall(lrs: list[float], losses: list[float], end: int) -> int:
    """Index of the fastest fall of the loss per decade of learning rate, among the points before `end`."""
    def slope(i: int) -> float:
        return (losses[i + 1] - losses[i - 1]) / (math.log10(lrs[i + 1]) - math.log10(lrs[i - 1]))
    return min(range(1, max(2, end)), key=slope)


def suggest_learning_rate(points: list[tuple[float, float]]) -> Suggestion:
    """The usual rule: where the smoothed loss falls fastest, but no more than a tenth of the rate at its minimum."""
    if len(points) < MIN_POINTS:
        return Suggestion(None, f"No suggestion yet: the test has recorded {len(points)} points and at least "
                                f"{MIN_POINTS} are needed to read a curve; if it has ended, run it again on more "
                                "training rows.")
    lrs, losses = [lr for lr, _ in points], smoothed([loss for _, loss in points])
    start, lowest = losses[0], min(losses)
    low = losses.index(lowest)
    if start - lowest < MIN_DROP * abs(start) or low < 2:
        return Suggestion(None, _no_fall_reason(lrs, losses))
    steep = lrs[steepest_fall(lrs, losses, low)]
    minimum = lrs[low]
    above = next((lrs[i] for i in range(low, len(losses)) if losses[i] > start), None)
    chosen = float(format_lr(min(steep, minimum / 10)))
    ends = (f"it diverges above {format_lr(above)}" if above else
            f"it had not diverged by {format_lr(lrs[-1])}, the largest rate tried")
    why = "the steepest fall" if steep <= minimum / 10 else "a tenth of the minimum, which is below the steepest fall"
    return Suggestion(chosen, f"The loss falls fastest around {format_lr(steep)}; the minimum is at "
                              f"{format_lr(minimum)} and {ends}. Suggested: {format_lr(chosen)} ({why}).",
                      steepest=steep, minimum=minimum, diverges_above=above)


def _no_fall_reason(lrs: list[float], losses: list[float]) -> str:
    if max(losses) > losses[0] * (1 + MIN_DROP) and losses.index(min(losses)) < 2:
        return (f"No suggestion: the loss rose from the smallest learning rate tried ({format_lr(lrs[0])}) and "
                "never fell, so no rate in the range trains this model on this data; check that the labels match "
                "the texts and that the model loads its pretrained weights.")
    return (f"No suggestion: the loss never fell more than {MIN_DROP:.0%} below where it started ({losses[0]:.3g}) "
            f"at any rate from {format_lr(lrs[0])} to {format_lr(lrs[-1])}, so the learning rate is not what holds "
            "training back; check that the weights are trainable and that the labels match the texts.")
