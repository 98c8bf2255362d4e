"""The learning-rate range test inside the training child: an exponentially growing learning rate, a loss line
every step (the usual metrics.jsonl), and an early end once the loss explodes. No evaluation, no checkpoints.

The curve is read by core/diagnostics/lr_range.py, here for the log and on the Live run page for the chart.
"""

from __future__ import annotations

import math
from pathlib import Path

from transformers import TrainerCallback

from core.diagnostics.lr_range import EXPLODE_FACTOR, format_lr, RANGE_END, range_points, suggest_learning_rate
from core.rundir import runs

# Weight of the past in the running loss that decides the explosion (the last ~10 steps count).
SMOOTHING = 0.9


class StopWhenLossExplodes(TrainerCallback):
    """Ends the test once the running loss is 4x its best, or not finite: larger rates only diverge further."""

    def __init__(self):
        self.average, self.best, self.seen = 0.0, math.inf, 0
        self.exploded_at: float | None = None

    def on_log(self, args, state, control, logs=None, **kwargs):
        loss = (logs or {}).get("loss")
        if loss is None:
            return control
        self.seen += 1
        self.average = SMOOTHING * self.average + (1 - SMOOTHING) * float(loss)
        smoothed = self.average / (1 - SMOOTHING ** self.seen)  # without the bias of starting at 0
        self.best = min(self.best, smoothed)
        if not math.isfinite(smoothed) or smoothed > EXPLODE_FACTOR * self.best:
            self.exploded_at = (logs or {}).get("learning_rate")
            control.should_training_stop = True
        return control


def use_exponential_schedule(trainer, steps: int, end_lr: float = RANGE_END) -> None:
    """The learning rate grows by the same factor every step, from the arguments' rate to `end_lr` at the last.

    Made before train() on the Trainer's own optimizer, so the Trainer keeps both (as if they were passed in
    `optimizers`), with the optimizer settings of the run."""
    from torch.optim.lr_scheduler import LambdaLR

    growth = (end_lr / trainer.args.learning_rate) ** (1 / max(1, steps - 1))
    optimizer = trainer.create_optimizer()
    trainer.lr_scheduler = LambdaLR(optimizer, lambda step: growth ** step)


def run_range_test(trainer, run_dir: Path, steps: int, stop, say) -> str:
    """Train with the growing rate until the last step, an explosion or a stop; log the suggestion."""
    use_exponential_schedule(trainer, steps)
    explosion = StopWhenLossExplodes()
    trainer.add_callback(explosion)
    say(f"Learning-rate range test: {format_lr(trainer.args.learning_rate)} to {format_lr(RANGE_END)} "
        f"over {steps} steps.")
    runs.update_status(run_dir, phase="training")
    trainer.train()
    if explosion.exploded_at is not None:
        say(f"The loss exploded at a learning rate of {format_lr(explosion.exploded_at)}; the test ends there.")
    suggestion = suggest_learning_rate(range_points(runs.read_metrics(run_dir)))
    say(suggestion.reason)
    return "stopped" if stop.stop_requested() else "completed"
