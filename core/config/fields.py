"""Turning plain values into typed config sections: unknown keys (with a suggestion), types, choices and
ranges, each problem one UserError naming the field. The sections themselves, with their defaults, help text
and rules, are in core/config/schema.py."""

from __future__ import annotations

import dataclasses
import difflib
from typing import Any

from core.common.errors import UserError
from core.config import compat

# What people type for a choice that has another name here.
CHOICE_ALIASES = {"gpu": "cuda", "cuda:0": "cuda", "apple": "mps", "low_memory": "low", "very-low": "very_low",
                  "very low": "very_low", "none": "no", "epochs": "epoch", "step": "steps"}


def reject_unknown(values: dict, known: list[str], where: str) -> None:
    """The first key not in `known` becomes a UserError with the closest valid key as the suggestion."""
    for key in values:
        if key not in known:
            hint = difflib.get_close_matches(str(key), known, n=1, cutoff=0.5)
            suggestion = f"did you mean '{hint[0]}'?" if hint else f"valid keys are: {', '.join(known)}."
            raise UserError(f"unknown key '{key}'; {suggestion}", field=f"{where}{key}", code="UNKNOWN_KEY")


def build_section(section: str, klass: type, values: dict, notes: list[str]) -> Any:
    """One config section (a dataclass) from its plain values, each checked against its field's rules."""
    fields = {f.name: f for f in dataclasses.fields(klass)}
    if section == "training":
        values = _split_training_extras(values, fields, notes)
    else:
        reject_unknown(values, list(fields), where=f"{section}.")
    kwargs = {}
    for name, value in values.items():
        kwargs[name] = value if name == "extra" else _coerce(f"{section}.{name}", fields[name], value)
    return klass(**kwargs)


def _split_training_extras(values: dict, fields: dict, notes: list[str]) -> dict:
    """Known keys stay; renamed ones are mapped; other real TrainingArguments keys go to `extra`."""
    own = {k: v for k, v in values.items() if k in fields and k != "extra"}
    extra = dict(values.get("extra", {}) or {})
    for key, value in values.items():
        if key in fields:
            continue
        canonical = compat.canonical_name(key)
        if canonical in fields:
            notes.append(compat.rename_note(key, canonical))
            own[canonical] = value
        elif compat.is_training_argument(key):
            extra[key] = value
        else:
            known = [k for k in fields if k != "extra"] + compat.training_argument_names()
            reject_unknown({key: value}, known, where="training.")
    if extra:
        own["extra"] = extra
    return own


def _coerce(path: str, f: dataclasses.Field, value: Any) -> Any:
    meta = f.metadata
    if meta.get("parse"):  # a field with a syntax of its own (class weights) checks itself
        return meta["parse"](value)
    if value is None or value == "":
        if meta.get("optional"):
            return None
        raise UserError(f"is required; set it (default {f.default!r}).", field=path)
    kind = field_kind(f)
    if kind is bool:
        if not isinstance(value, bool):
            raise UserError(f"must be true or false, got {value!r}.", field=path)
    elif kind is int:
        if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, float) and value.is_integer())):
            raise UserError(f"must be a whole number, got {value!r}.", field=path)
        value = int(value)
    elif kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UserError(f"must be a number, got {value!r}.", field=path)
        value = float(value)
        if value != value or value in (float("inf"), float("-inf")):
            raise UserError(f"must be a finite number, got {value!r}.", field=path)
    elif kind is str and not isinstance(value, str):
        raise UserError(f"must be text, got {value!r}.", field=path)
    check_rules(path, meta, value)
    return value


def field_kind(f: dataclasses.Field) -> type:
    """bool, int, float or str from the field's annotation (a string under `from __future__ import annotations`)."""
    text = str(f.type)
    for kind in (bool, int, float, str):
        if text.startswith(kind.__name__):
            return kind
    return object


def check_rules(path: str, meta: Any, value: Any) -> None:
    """A value against its field's choices and min / max."""
    choices = meta.get("choices")
    if choices and value not in choices:
        hint = _closest_choice(str(value), choices)
        tip = f" (did you mean '{hint[0]}'?)" if hint and hint[0] in choices else ""
        raise UserError(f"'{value}' is not a valid choice; choose one of: {', '.join(choices)}{tip}.", field=path)
    low, high = meta.get("min"), meta.get("max")
    if low is not None and value < low:
        raise UserError(f"must be at least {low}, got {value}; raise it.", field=path)
    if high is not None and value > high:
        raise UserError(f"must be at most {high}, got {value}; lower it.", field=path)


def _closest_choice(value: str, choices: tuple) -> list[str]:
    if value.lower() in CHOICE_ALIASES:
        return [CHOICE_ALIASES[value.lower()]]
    prefixed = [c for c in choices if len(value) >= 4 and c.startswith(value.lower()[:4])]
    return prefixed[:1] or difflib.get_close_matches(value.lower(), choices, n=1, cutoff=0.6)
