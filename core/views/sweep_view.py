"""The Sweep page's plain data: the settings it offers to search, the space read from its inputs, the trials
table in words, the cadence it watches a sweep at, and the config of a trial to train again."""

from __future__ import annotations

import re
from typing import Any

from core.common.errors import UserError
from core.config.reference import field_help
from core.config.schema import apply_change
from core.diagnostics.lr_range import format_lr
from core.views.progress import format_duration, format_metric, POLL_MAX_S, run_duration_s

# The settings the page offers, each with the range or list it starts with (whole numbers are searched as
# whole numbers). Learning rates span orders of magnitude, so theirs is searched on a log scale.
SEARCHABLE: dict[str, dict[str, Any]] = {
    "training.learning_rate": {"low": 1e-5, "high": 1e-3, "log": True},
    "training.per_device_train_batch_size": {"choices": [8, 16, 32]},
    "training.num_train_epochs": {"choices": [1, 2, 3]},
    "training.warmup_ratio": {"low": 0.0, "high": 0.2},
    "training.weight_decay": {"low": 0.0, "high": 0.1},
    "model.hidden_dropout_prob": {"low": 0.0, "high": 0.3},
    "model.attention_probs_dropout_prob": {"low": 0.0, "high": 0.3},
    "data.max_length": {"choices": [64, 128, 256]},
    "training.gradient_accumulation_steps": {"choices": [1, 2, 4]},
}
# A running sweep changes when one of its trials reports an evaluation or ends: a look this often is cheap (one
# read of the study) and a change redraws the page. A sweep that is not running is looked at rarely (another
# tab or a worker may resume it); a finished one never.
WATCH_RUNNING_S = 3.0
STATE_WORDS = {"complete": "complete", "pruned": "pruned", "failed": "failed", "running": "running",
               "waiting": "waiting for a device"}


def label(key: str) -> str:
    """The New run form's label of a dotted config key: training.learning_rate -> Learning rate."""
    section, _, name = key.partition(".")
    try:
        return field_help(section, name)["label"]
    except KeyError:
        return key


def format_value(key: str, value: Any) -> str:
    if isinstance(value, float) and key.endswith("learning_rate") and 0 < value < 0.01:
        return format_lr(value)
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def default_text(key: str) -> dict[str, Any]:
    """The page's starting inputs for one setting: kind, low, high, log and the list, as the boxes show them."""
    spec = SEARCHABLE[key]
    if "choices" in spec:
        return {"kind": "list", "low": "", "high": "", "log": False,
                "values": ", ".join(format_value(key, v) for v in spec["choices"])}
    return {"kind": "range", "low": format_value(key, spec["low"]), "high": format_value(key, spec["high"]),
            "log": bool(spec.get("log")), "values": ""}


def parse_number(key: str, text: str) -> int | float:
    """'16' -> 16, '1e-5' -> 1e-05; anything else is one sentence naming the setting."""
    text = str(text).strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        shown = f"'{text}'" if text else "an empty box"
        raise UserError(f"{shown} is not a number; write it like 16, 0.1 or 1e-5.", field=key) from None


def space_from_inputs(inputs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """SPACE.json from the page's inputs (key -> kind, low, high, log, values) of the ticked settings."""
    if not inputs:
        raise UserError("tick at least one setting to search and give it a range or a list.", field="Search space")
    space = {}
    for key, given in inputs.items():
        if given["kind"] == "list":
            parts = [p for p in re.split(r"[,\s;]+", given["values"]) if p]
            if not parts:
                raise UserError("needs at least one value in its list, such as 16, 32.", field=key)
            space[key] = {"choices": [parse_number(key, p) for p in parts]}
        else:
            spec = {"low": parse_number(key, given["low"]), "high": parse_number(key, given["high"])}
            space[key] = {**spec, "log": True} if given.get("log") else spec
    return space


def reason_in_words(reason: str | None) -> str:
    """A trial's reason without our finding codes: 'DIVERGING: The loss is diverging' -> 'The loss is diverging'."""
    if not reason:
        return ""
    reason = re.sub(r"^[A-Z][A-Z_]+: ", "", reason)
    return re.sub(r"(: )[A-Z][A-Z_]{3,} ", r"\1", reason)


def table_rows(summary: dict[str, Any], statuses: dict[str, dict]) -> list[dict[str, Any]]:
    """One row per trial for the page's table: number, state in words, why it ended so, the settings searched,
    the best objective, how long its run took and a link to the run on Live run (`statuses`: run id -> status)."""
    metric = summary["metric"]
    rows = []
    for trial in summary["trials"]:
        status = statuses.get(trial["run_id"] or "", {})
        best = best_evaluation(summary, trial["number"])
        row = {"trial": trial["number"], "state": STATE_WORDS.get(trial["state"], trial["state"]),
               "why": reason_in_words(trial["reason"])}
        row.update({label(key): format_value(key, trial["params"][key]) if key in trial["params"] else "–"
                    for key in summary["space"]})
        row.update({f"best {metric}": format_metric(metric, best), "duration": format_duration(run_duration_s(status)),
                    "run": f"live?run={trial['run_id']}" if trial["run_id"] else None})
        rows.append(row)
    return rows


def best_evaluation(summary: dict[str, Any], number: int) -> float | None:
    """A trial's best objective over the evaluations it reported (a pruned one's too, up to where it stopped)."""
    values = [value for _, value in summary["curves"].get(number, [])]
    if not values:
        return None
    return max(values) if summary["direction"] == "maximize" else min(values)


def shown_state(summary: dict[str, Any]) -> str:
    """The state as a person reads it: a sweep with no trial yet that nobody stopped is starting."""
    if summary["state"] == "unfinished" and not summary["trials"]:
        return "starting"
    return summary["state"]


def watch_seconds(summary: dict[str, Any]) -> float | None:
    """How often the page looks for a change: often while trials run or the first one is being started, rarely
    while stopped or unfinished, never once finished."""
    if summary["state"] == "finished":
        return None
    return WATCH_RUNNING_S if shown_state(summary) in ("running", "starting") else POLL_MAX_S


def state_sentence(summary: dict[str, Any]) -> str:
    """The sweep in one line: trials so far, objective, sampler, pruner, time budget."""
    budget = f", no new trial after {format_duration(summary['timeout_s'])}" if summary.get("timeout_s") else ""
    goal = "highest" if summary["direction"] == "maximize" else "lowest"
    return (f"{summary['counted']} of {summary['n_trials']} trials · objective: the {goal} {summary['metric']} of a "
            f"trial's evaluations · {summary['sampler']} sampler · pruner: {summary['pruner']}{budget}.")


def best_sentence(summary: dict[str, Any]) -> str | None:
    best = summary["best"]
    if best is None:
        return None
    params = ", ".join(f"{label(k).lower()} {format_value(k, v)}" for k, v in best["params"].items())
    return (f"Best so far: trial {best['number']}, {summary['metric']} "
            f"{format_metric(summary['metric'], best['value'])}, with {params}.")


def trial_config(summary: dict[str, Any], trial: dict[str, Any]) -> dict[str, Any]:
    """The full run config of a trial: the sweep's base config with the trial's values."""
    return apply_change(summary["config"], trial["params"])
