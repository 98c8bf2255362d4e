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
    elapsed = run_duration_s(status, now)
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


ACTIVE = ("queued", "running")
RATE_METRICS = ("accuracy", "f1", "precision", "recall")


def _epoch_seconds(value: Any) -> float | None:
    """status.json keeps started_at / ended_at as ISO text and created_at as epoch seconds."""
    if isinstance(value, (int, float)):
        return float(value)
    if not isinstance(value, str) or not value:
        return None
    from datetime import datetime

    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z").timestamp()
    except ValueError:
        return None


def run_duration_s(status: dict[str, Any], now: float | None = None) -> float | None:
    """A run's duration, the one shown everywhere (Runs, Live run, Compare, `core.runs list`): from the moment
    its process started (status.json started_at) to its end (ended_at), or to now while it is active."""
    p = status.get("progress") or {}
    started = _epoch_seconds(status.get("started_at")) or _epoch_seconds(p.get("train_started_at"))
    if started is None:
        return None
    ended = _epoch_seconds(status.get("ended_at"))
    if ended is None:
        active = status.get("state") in ACTIVE
        ended = (time.time() if now is None else now) if active else _epoch_seconds(p.get("at"))
    return None if ended is None else max(0.0, ended - started)


def format_metric(metric: str, value: Any) -> str:
    """One way to write a metric everywhere: rates as percentages ('74.3%'), loss as a number ('0.482')."""
    number = as_float(value) if value is not None else None
    if number is None or number != number:
        return "–"
    name = str(metric).removeprefix("eval_")
    return f"{number:.1%}" if name in RATE_METRICS else f"{number:.3f}"


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h {minutes:02d}m" if hours else (f"{minutes}m {secs:02d}s" if minutes else f"{secs}s")
