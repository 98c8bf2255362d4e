"""Progress and bests: pure functions over status.json and metrics lines."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from core.rundir.records import as_float, eval_points
from core.rundir.runs import ACTIVE_STATES

# A page re-reads a training run about as often as the run writes a metrics line: never faster than this
# (the progress bar still moves), never slower (a step, a stop or an error shows within this long).
POLL_MIN_S, POLL_MAX_S = 2.0, 15.0


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


def poll_seconds(status: dict[str, Any], records: list[dict], logging_steps: int = 10) -> float | None:
    """How often to re-read a run: None once it has ended, else about as often as it writes a metrics line."""
    if status.get("state") not in ACTIVE_STATES:
        return None
    gap = seconds_per_line(status, logging_steps) or median_gap(records) or POLL_MIN_S
    return min(POLL_MAX_S, max(POLL_MIN_S, gap))


def seconds_per_line(status: dict[str, Any], logging_steps: int) -> float | None:
    """Its pace so far times the steps between two training lines (None before the first step)."""
    p = status.get("progress") or {}
    done = int(p.get("step") or 0) - int(p.get("start_step") or 0)
    started, at = p.get("train_started_at"), p.get("at")
    if done <= 0 or not started or not at or at <= started:
        return None
    return (at - started) / done * max(1, int(logging_steps or 1))


def median_gap(records: list[dict]) -> float | None:
    times = [r["time"] for r in records[-8:] if isinstance(r.get("time"), (int, float))]
    gaps = sorted(b - a for a, b in zip(times, times[1:]) if b - a > 0.5)  # not an eval line right after a train line
    return gaps[len(gaps) // 2] if gaps else None


def best_eval(records: list[dict], metric: str = "f1") -> dict | None:
    """The evaluation the Trainer keeps as best: highest metric, or lowest for loss; first one wins ties."""
    key = f"eval_{metric}"
    evals = [e for e in eval_points(records) if key in e and as_float(e[key]) == as_float(e[key])]
    if not evals:
        return None
    if metric == "loss":
        return min(evals, key=lambda e: as_float(e[key]))
    return max(evals, key=lambda e: (as_float(e[key]), -e["step"]))


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h {minutes:02d}m" if hours else (f"{minutes}m {secs:02d}s" if minutes else f"{secs}s")
