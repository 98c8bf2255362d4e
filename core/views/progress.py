"""Progress and bests: pure functions over status.json and metrics lines."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from core.rundir.records import (as_float, eval_points, metric_for_task, MULTI_LABEL_METRICS,
                                 SINGLE_LABEL_METRICS)
from core.rundir.runs import ACTIVE_STATES

# A page re-reads a training run about as often as the run writes a metrics line: never faster than this, never
# slower (a step, a stop or an error shows within this long). Each redraw costs the browser more than the server:
# about 0.1 s of CPU per Plotly chart in Chromium on a 2-core laptop (bench/RESULTS.md), time taken from training.
POLL_MIN_S, POLL_MAX_S = 10.0, 15.0
# The Live run page's second tier (learning rate, resource use, the evaluations table, the log) is redrawn at most
# this often while a run trains: those change slowly, and each chart is a redraw in the browser.
DETAILS_POLL_S = 30.0


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


# How many measured steps count as much as the pre-run estimate: the first steps are slow (warm-up, the first
# evaluation), so the measured pace alone swung from 22 to 5 minutes over the first 15 steps of a default run.
PRIOR_WEIGHT_STEPS = 20


def prior_step_s(estimate: dict[str, Any] | None, status: dict[str, Any]) -> float | None:
    """Seconds per optimizer step as estimated before the run (estimate.json), evaluations included."""
    timing = (estimate or {}).get("time") or {}
    p = status.get("progress") or {}
    epochs, max_steps = float(p.get("num_train_epochs") or 0), int(p.get("max_steps") or 0)
    per_epoch = float(timing.get("train_s_per_epoch") or 0) + float(timing.get("eval_s_per_epoch") or 0)
    if not (per_epoch > 0 and epochs > 0 and max_steps > 0):
        return None
    return per_epoch * epochs / max_steps


def blended_step_s(measured_s: float | None, steps_done: int, prior_s: float | None, max_steps: int) -> float | None:
    """The pace to expect: the estimate at first, the measured pace more and more as steps accumulate."""
    if prior_s is None:
        return measured_s
    if measured_s is None or steps_done <= 0:
        return prior_s
    # A short run (a dry run's 20 steps) trusts its own measurement sooner.
    prior_steps = min(PRIOR_WEIGHT_STEPS, max(1, max_steps // 4))
    weight = steps_done / (steps_done + prior_steps)
    return weight * measured_s + (1 - weight) * prior_s


def progress_of(status: dict[str, Any], now: float | None = None, prior_s: float | None = None) -> Progress | None:
    """Step, epoch and ETA from status.json; the ETA blends the pre-run estimate of the pace (`prior_s`, seconds
    per step) with the pace measured so far, the measurement weighing more with every step."""
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
    if started and max_steps and status.get("state") == "running":
        # Measured at the last progress write, so a stalled child does not look like it is still advancing.
        measured = (at - started) / done if done > 0 else None
        pace = blended_step_s(measured, done, prior_s, max_steps)
        eta = None if pace is None else max(0.0, pace * (max_steps - step) - (now - at))
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


def is_multi_label(records: list[dict]) -> bool:
    """Whether a run's evaluations are multi-label ones (they carry micro F1)."""
    return any("eval_f1_micro" in e for e in eval_points(records))


def best_metric(config: dict, records: list[dict]) -> str:
    """The metric a run picks its best model by, as its evaluations record it (f1 means f1_micro on
    multi-label runs)."""
    metric = (config.get("training") or {}).get("metric_for_best_model") or "f1"
    return metric_for_task(metric, is_multi_label(records))


ACTIVE = ("queued", "running")
RATE_METRICS = tuple(dict.fromkeys((*SINGLE_LABEL_METRICS, *MULTI_LABEL_METRICS, "no_label_share")))


def epoch_seconds(value: Any) -> float | None:
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
    started = epoch_seconds(status.get("started_at")) or epoch_seconds(p.get("train_started_at"))
    if started is None:
        return None
    ended = epoch_seconds(status.get("ended_at"))
    if ended is None:
        active = status.get("state") in ACTIVE
        ended = (time.time() if now is None else now) if active else epoch_seconds(p.get("at"))
    return None if ended is None else max(0.0, ended - started)


def format_started(value: Any) -> str:
    """A start time as a person reads it in a table: '2026-12-03 07:40' (local time, no seconds or zone)."""
    seconds = epoch_seconds(value)
    return "–" if seconds is None else time.strftime("%Y-%m-%d %H:%M", time.localtime(seconds))


def format_metric(metric: str, value: Any) -> str:
    """One way to write a metric everywhere: rates as percentages ('74.3%'), loss as a number ('0.482')."""
    number = as_float(value) if value is not None else None
    if number is None or number != number:
        return "–"
    name = str(metric).removeprefix("eval_")
    return f"{number:.1%}" if name in RATE_METRICS else f"{number:.3f}"


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
