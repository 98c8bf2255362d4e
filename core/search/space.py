"""SPACE.json: the settings a sweep searches, as dotted config keys mapped to ranges or choices.

    {"training.learning_rate": {"low": 1e-5, "high": 1e-3, "log": true},
     "training.per_device_train_batch_size": {"choices": [16, 32]}}

A range is `low` and `high` (and optionally `log`, or `step` for whole numbers); a list of values is `choices`.
Every range end and every choice is checked against the run config itself before anything starts, so a
setting the config refuses is one sentence naming the key.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from core.common.errors import UserError
from core.config.schema import apply_change, RunConfig

RANGE_KEYS = {"low", "high", "log", "step"}


def load_space(path: str | Path, base: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Read and check SPACE.json against the base config dict; every problem is one UserError sentence."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"file '{path}' does not exist; check the path.", field="--space") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"'{path}' is not a readable JSON file ({type(exc).__name__}); fix its syntax.",
                        field="--space") from None
    return check_space(raw, base)


def check_space(raw: Any, base: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The space as given, once every key and range has been checked against `base` (a config dict)."""
    if not isinstance(raw, dict) or not raw:
        raise UserError("must be a JSON object mapping config keys such as training.learning_rate to "
                        '{"low": ..., "high": ...} or {"choices": [...]}.', field="SPACE.json")
    for key, spec in raw.items():
        _check_entry(str(key), spec, base)
    return raw


def _check_entry(key: str, spec: Any, base: dict[str, Any]) -> None:
    if key.count(".") != 1 or key.split(".")[0] not in ("data", "model", "hardware", "training"):
        raise UserError("is not a config key; write section.key, for example training.learning_rate.", field=key)
    if not isinstance(spec, dict) or not ("choices" in spec or {"low", "high"} <= set(spec)):
        raise UserError('needs {"low": ..., "high": ...} or {"choices": [...]}.', field=key)
    if "choices" in spec:
        _check_choices(key, spec, base)
    else:
        _check_range(key, spec, base)


def _check_choices(key: str, spec: dict, base: dict[str, Any]) -> None:
    if set(spec) != {"choices"} or not isinstance(spec["choices"], list) or not spec["choices"]:
        raise UserError('needs a non-empty list, {"choices": [a, b]}, and nothing else.', field=key)
    for value in spec["choices"]:
        _check_value(key, value, base)


def _check_range(key: str, spec: dict, base: dict[str, Any]) -> None:
    unknown = set(spec) - RANGE_KEYS
    if unknown:
        raise UserError(f"has '{sorted(unknown)[0]}', which a range does not take; use low, high, log or step.",
                        field=key)
    low, high = spec["low"], spec["high"]
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (low, high)):
        raise UserError("low and high must be numbers.", field=key)
    if low >= high:
        raise UserError(f"low ({low:g}) must be below high ({high:g}); swap or widen them.", field=key)
    if spec.get("log") and low <= 0:
        raise UserError(f"a log range needs low above 0, got {low:g}; raise low or drop log.", field=key)
    if spec.get("log") and spec.get("step"):
        raise UserError("takes log or step, not both; drop one.", field=key)
    for value in (low, high):
        _check_value(key, value, base)


def _check_value(key: str, value: Any, base: dict[str, Any]) -> None:
    """The config with this one value must be valid; its own sentence is kept, prefixed by the key."""
    try:
        RunConfig.from_dict(apply_change(base, {key: value}))
    except UserError as exc:
        where = "" if exc.field == key else f" (at {exc.field})" if exc.field else ""
        raise UserError(f"the value {json.dumps(value)} is refused by the config{where}: {exc}", field=key) from None


def is_integer_range(key: str, spec: dict, base: dict[str, Any]) -> bool:
    """A range over a setting that holds whole numbers (batch size, epochs given as ints) is searched as ints."""
    current = RunConfig.from_dict(base).to_dict()
    section, _, name = key.partition(".")
    held = (current.get(section) or {}).get(name)
    return (isinstance(held, int) and not isinstance(held, bool)
            and all(isinstance(spec[k], int) for k in ("low", "high")))


def suggest(trial: Any, space: dict[str, dict[str, Any]], base: dict[str, Any]) -> dict[str, Any]:
    """Ask an Optuna trial for one value per key of the space."""
    params = {}
    for key, spec in space.items():
        if "choices" in spec:
            params[key] = trial.suggest_categorical(key, spec["choices"])
        elif is_integer_range(key, spec, base):
            params[key] = trial.suggest_int(key, spec["low"], spec["high"], step=spec.get("step") or 1,
                                            log=bool(spec.get("log")))
        else:
            params[key] = trial.suggest_float(key, float(spec["low"]), float(spec["high"]), step=spec.get("step"),
                                              log=bool(spec.get("log")))
    return params


def grid(space: dict[str, dict[str, Any]]) -> dict[str, list[Any]]:
    """The grid sampler's search space: every key must list its choices."""
    for key, spec in space.items():
        if "choices" not in spec:
            raise UserError('is a range, but the grid sampler needs {"choices": [...]} for every key; list the '
                            "values or use --sampler tpe.", field=key)
    return {key: spec["choices"] for key, spec in space.items()}
