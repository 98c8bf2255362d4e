"""`training.class_weights` as typed and as stored: none, balanced, or a weight per label.

CONFIG.json may give the weights as a mapping ({"negative": 1, "positive": 3}); the New run form edits them as one
line of text ("negative=1, positive=3"). Both become the same value here, and the form shows a stored mapping as
that line again. Whether the labels exist is only known once the data is read (core/data/balance.py).
"""

from __future__ import annotations

import math
from typing import Any

from core.common.errors import UserError

NONE, BALANCED = "none", "balanced"
EXAMPLE = "negative=1, positive=3"
FIELD = "training.class_weights"


def parse_class_weights(value: Any) -> str | dict[str, float]:
    """'none', 'balanced' or {label: weight} from what a person wrote; one UserError naming the field if bad."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", NONE)):
        return NONE
    if isinstance(value, str) and value.strip().lower() == BALANCED:
        return BALANCED
    if isinstance(value, str) and "=" not in value:
        raise UserError(f"'{value.strip()}' is neither none, balanced nor label=weight pairs; write one of those, "
                        f"such as balanced or {EXAMPLE}.", field=FIELD)
    if isinstance(value, str):
        return _checked(_pairs_of_text(value))
    if isinstance(value, dict) and value:
        return _checked({str(label).strip(): weight for label, weight in value.items()})
    raise UserError(f"must be none, balanced or a weight per label such as {EXAMPLE}, got {value!r}; "
                    "write one of those.", field=FIELD)


def _pairs_of_text(text: str) -> dict[str, Any]:
    """'negative=1, positive=3' (commas, semicolons or new lines between pairs) as {label: weight text}."""
    pairs: dict[str, Any] = {}
    for part in text.replace(";", ",").replace("\n", ",").split(","):
        if not part.strip():
            continue
        label, equals, weight = part.rpartition("=")
        if not equals or not label.strip():
            raise UserError(f"'{part.strip()}' is not label=weight; write none, balanced or pairs such as "
                            f"{EXAMPLE}.", field=FIELD)
        if label.strip() in pairs:
            raise UserError(f"'{label.strip()}' is given twice; give each label one weight.", field=FIELD)
        pairs[label.strip()] = _number(label.strip(), weight.strip())
    return pairs


def _number(label: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise UserError(f"the weight of '{label}' is '{text}', not a number; write a number above 0 such as "
                        f"{EXAMPLE}.", field=FIELD) from None


def _checked(weights: dict[str, Any]) -> dict[str, float]:
    """Each label named, each weight a finite number above 0."""
    out: dict[str, float] = {}
    for label, weight in weights.items():
        if not label:
            raise UserError(f"a weight has no label; write pairs such as {EXAMPLE}.", field=FIELD)
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight):
            raise UserError(f"the weight of '{label}' is {weight!r}, not a number; write a number above 0 such as "
                            f"{EXAMPLE}.", field=FIELD)
        if weight <= 0:
            raise UserError(f"the weight of '{label}' is {weight:g}; weights must be above 0 (1 is the usual "
                            "weight, larger counts the class more).", field=FIELD)
        out[label] = float(weight)
    return out


def class_weights_text(value: Any) -> str:
    """The form's one line for a stored value: 'none', 'balanced' or 'negative=1, positive=3'."""
    if isinstance(value, dict):
        return ", ".join(f"{label}={weight:g}" for label, weight in value.items())
    return str(value or NONE)
