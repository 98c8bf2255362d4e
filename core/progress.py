"""Progress and bests: pure functions over status.json and metrics lines."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from core.diagnostics import as_float, eval_points


@dataclass
class Progress:
    step: int
    max_steps: int
    epoch: float
    num_train_epochs: float
    elapsed_s: float | None
    eta_s: float | None

    @property
    def fraction(self) -> float:
        return min(1.0, self.step / self.max_steps) if self.max_steps else 0.0


def progress_of(status: dict[str, Any], now: float | None = None) -> Progress | None:
    """Step, epoch and ETA from status.json; the ETA assumes the remaining steps run at the average pace so far."""
    p = status.get("progress")
    if not p:
        return None
    now = time.time() if now is None else now
    started = p.get("train_started_at")
    at = p.get("at") or now
    step, max_steps = int(p.get("step", 0)), int(p.get("max_steps", 0))
    elapsed = (now - started) if started and status.get("state") == "running" else ((at - started) if started else None)
    eta = None
    done = step - int(p.get("start_step") or 0)  # steps trained by this process (a resumed run starts later)
    if elapsed and done > 0 and max_steps and status.get("state") == "running":
        # Measured at the last progress write, so a stalled child does not look like it is still advancing.
        eta = max(0.0, (at - started) / done * (max_steps - step) - (now - at))
    return Progress(step, max_steps, float(p.get("epoch") or 0.0), float(p.get("num_train_epochs") or 0.0),
                    elapsed, eta)


def best_eval(records: list[dict], metric: str = "f1") -> dict | None:
    """The evaluation the Trainer keeps as best: highest metric, or lowest for loss; first one wins ties."""
    key = f"eval_{metric}"
    evals = [e for e in eval_points(records) if key in e and as_float(e[key]) == as_float(e[key])]
    if not evals:
        return None
    if metric == "loss":
        return min(evals, key=lambda e: as_float(e[key]))
    return max(evals, key=lambda e: (as_float(e[key]), -e["step"]))


# Eval keys that time the evaluation itself, not the model: left out of the table of evaluations.
EVAL_TIMING_SUFFIXES = ("_runtime", "_samples_per_second", "_steps_per_second")


def evaluation_rows(records: list[dict], metric: str = "f1") -> list[dict]:
    """One row per evaluation: step, epoch, loss and each metric, with `best` True on the best-model one."""
    best = best_eval(records, metric)
    rows = []
    for record in eval_points(records):
        values = {key[len("eval_"):].replace("_", " "): as_float(value) for key, value in record.items()
                  if key.startswith("eval_") and not key.endswith(EVAL_TIMING_SUFFIXES)}
        rows.append({"best": record is best, "step": record["step"], "epoch": record.get("epoch"), **values})
    return rows


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h {minutes:02d}m" if hours else (f"{minutes}m {secs:02d}s" if minutes else f"{secs}s")
