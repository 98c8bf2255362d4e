"""One trial as the driver sees it: an ordinary run folder, read at the run's own write cadence.

Each evaluation's objective goes to Optuna (`trial.report`); the trial is pruned when Optuna's pruner says so
or when the run's live diagnostics report one of PRUNE_CODES, and it ends with the best evaluation as its value.
Pure reading lives in `objective` / `trial_verdict`; the driver (core/search/driver.py) does the acting.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.diagnostics.diagnose import run_findings
from core.rundir import runs
from core.rundir.layout import RunDir
from core.rundir.records import as_float, eval_points, metric_for_task

# Findings that make the rest of a trial worthless: it will not learn from here (issue 15).
PRUNE_CODES = ("STUCK_AT_CHANCE", "LR_TOO_HIGH", "DIVERGING", "LOSS_NAN")


def objective(record: dict, metric: str) -> float | None:
    """The objective of one eval record (the config's metric_for_best_model, as a multi-label run records it: f1
    is f1_micro there); None when it is not a number."""
    value = as_float(record.get("eval_" + metric_for_task(metric, "eval_f1_micro" in record)))
    return value if math.isfinite(value) else None


def best_value(records: list[dict], metric: str) -> float | None:
    """The best evaluation of a run: highest, or lowest for loss."""
    values = [v for v in (objective(r, metric) for r in eval_points(records)) if v is not None]
    if not values:
        return None
    return min(values) if metric == "loss" else max(values)


def stopping_finding(run_dir: Path, status: dict, records: list[dict]) -> Any | None:
    """The first live finding that prunes a trial at once, or None."""
    for finding in run_findings(run_dir, status, records):
        if finding.code in PRUNE_CODES:
            return finding
    return None


@dataclass
class TrialRun:
    """A trial in flight: its Optuna trial, its run folder and what has been read from it so far."""
    trial: Any
    run_dir: Path
    metric: str
    prune: bool = True  # False with --pruner none: every trial trains to its end
    reported: int = 0
    seen_size: int = -1
    beat_at: float = 0.0
    records: list[dict] = field(default_factory=list)

    def read(self) -> tuple[dict, bool]:
        """The reconciled status, and whether metrics.jsonl grew since the last read (only then is it parsed)."""
        status = runs.reconcile(self.run_dir)
        try:
            size = RunDir(self.run_dir).metrics.stat().st_size
        except FileNotFoundError:
            size = 0
        grew = size != self.seen_size
        if grew:
            self.seen_size = size
            self.records = runs.read_metrics(self.run_dir)
        return status, grew

    def report_new_evaluations(self) -> bool:
        """Report each evaluation not reported yet as step 1, 2, ...; True if Optuna's pruner now says stop."""
        evals = eval_points(self.records)
        new = evals[self.reported:]
        for record in new:
            self.reported += 1
            value = objective(record, self.metric)
            if value is not None:
                self.trial.report(value, self.reported)
        return bool(new) and self.prune and self.trial.should_prune()

    def pruner_reason(self) -> str:
        value = objective(eval_points(self.records)[-1], self.metric)
        shown = "not a number" if value is None else f"{value:.4f}"
        return (f"pruned by the sweep's pruner: {self.metric} {shown} at evaluation {self.reported} is behind the "
                "other trials at that point")


def failure_reason(status: dict) -> str:
    """Why a trial's run ended without completing, in the run's own words (its message, not its error code)."""
    error = status.get("error") or {}
    state = status.get("state", "unknown")
    if error.get("message"):
        return f"the run {state}: {error['message']}"
    return f"the run {state}"
