"""Multi-label data: texts that carry several labels (tags, topics, toxicity types).

Three shapes are read: a label column holding lists (JSON lists in CSV / JSON / Parquet, Python lists in Hub
data), a label column of separated strings ("sports|politics"), and several 0/1 columns, one per label. Each
becomes a tuple of label names per row; the training child turns it into a multi-hot vector of floats.
"""

from __future__ import annotations

import ast
import json
import math
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.common.errors import UserError

TASKS = ("auto", "single_label", "multi_label")
# Separators tried, in order, in a label column of strings; a comma last, as it also occurs inside class names.
SEPARATORS = ("|", ";", ",")
# A separator counts when at least this share of the labels hold it...
SEPARATED_SHARE = 0.05
# ...and its parts are short names, at least half of which occur in more than one distinct value (a text column's
# pieces are long and mostly unique; a class name with a comma inside has parts found nowhere else).
MAX_PART_LENGTH = 40
RECURRING_SHARE = 0.5
# The stratum of texts that carry no label.
NO_LABEL = "(no label)"


@dataclass
class LabelShape:
    """How a data set's labels are read: the task, the shape, and the separator of separated strings."""
    task: str  # "single_label" or "multi_label"
    shape: str  # "single", "lists", "separated" or "columns"
    separator: str | None = None
    reason: str = ""

    @property
    def multi_label(self) -> bool:
        return self.task == "multi_label"


def _as_list(value) -> list | None:
    """A list of labels from a list, tuple, array, or the text of a JSON / Python list; None if it is not one."""
    if isinstance(value, (list, tuple, np.ndarray)):
        return list(value)
    if isinstance(value, str) and value.strip().startswith("[") and value.strip().endswith("]"):
        for parse in (json.loads, ast.literal_eval):
            try:
                parsed = parse(value.strip())
            except (ValueError, SyntaxError):
                continue
            if isinstance(parsed, list):
                return parsed
    return None


def holds_lists(series: pd.Series) -> bool:
    """Whether (nearly) every non-empty value of a column is a list of labels."""
    values = series.dropna()
    return not values.empty and values.map(lambda v: _as_list(v) is not None).mean() > 0.9


def detect_separator(series: pd.Series) -> str | None:
    """The separator that splits a column of label strings into short names that recur across values, or None
    ("Arts, Culture" is one class: its parts occur nowhere else)."""
    values = pd.Series([v.strip() for v in series.dropna() if isinstance(v, str)], dtype=object)
    if values.empty:
        return None
    distinct = set(values)
    for separator in SEPARATORS:
        holding = values.str.contains(separator, regex=False)
        if holding.mean() < SEPARATED_SHARE or holding.sum() < 2:
            continue
        seen_in = Counter(p for v in distinct for p in {p.strip() for p in v.split(separator)} if p)
        split = {p.strip() for v in distinct if separator in v for p in v.split(separator) if p.strip()}
        recurring = sum(seen_in[p] >= 2 for p in split) / max(1, len(split))
        if split and recurring >= RECURRING_SHARE and max(map(len, split)) <= MAX_PART_LENGTH:
            return separator
    return None


def label_shape(frame: pd.DataFrame, label: str, task: str = "auto", label_columns: list[str] | None = None,
                separator: str | None = None) -> LabelShape:
    """The task and label shape: asked for in the config, or detected from the label column."""
    if label_columns:
        if task == "single_label":
            raise UserError("is single_label but several 0/1 label columns are picked; choose multi_label (or auto), "
                            "or pick one label column instead.", field="data.task", code="BAD_TASK")
        return LabelShape("multi_label", "columns", reason=f"{len(label_columns)} columns of 0/1, one per label")
    if task == "single_label":
        return LabelShape("single_label", "single", reason="one label per text, as set")
    if holds_lists(frame[label]):
        return LabelShape("multi_label", "lists", reason=f"column '{label}' holds lists of labels")
    found = separator or detect_separator(frame[label])
    if found:
        return LabelShape("multi_label", "separated", found,
                          reason=f"column '{label}' holds labels separated by '{found}'")
    if task == "multi_label":
        return LabelShape("multi_label", "separated", separator or "|",
                          reason=f"multi-label as set; no separator found in column '{label}', so one label per text")
    return LabelShape("single_label", "single", reason=f"column '{label}' holds one label per text")


def _name(value) -> str:
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)) or (isinstance(value, float) and value.is_integer()):
        return str(int(value))
    return str(value).strip()


def _names_in(values: list, class_names: list[str] | None) -> tuple[str, ...]:
    if class_names is not None:  # a Hub Sequence(ClassLabel): ids to their names
        return tuple(dict.fromkeys(class_names[int(v)] if not isinstance(v, str) else v for v in values))
    return tuple(dict.fromkeys(n for n in map(_name, values) if n))


def label_tuples(frame: pd.DataFrame, label: str, shape: LabelShape, label_columns: list[str] | None = None,
                 class_names: list[str] | None = None) -> pd.Series:
    """Each row's labels as a tuple of names (None where the row has no label value at all)."""
    if shape.shape == "columns":
        return binary_columns(frame, label_columns or [])
    column = frame[label]

    def parse(value):
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        listed = _as_list(value)
        if listed is not None:
            return _names_in(listed, class_names)
        if shape.shape == "lists":
            raise UserError(f"holds lists of labels, but one value ({str(value)[:40]!r}) is not a list; write every "
                            "value as a list such as [\"sports\", \"politics\"].", field="data.label_column",
                            code="BAD_LABELS")
        return _names_in(str(value).split(shape.separator or "|"), None)

    return column.map(parse)


def binary_columns(frame: pd.DataFrame, names: list[str]) -> pd.Series:
    """Tuples of the column names whose value is 1, from several 0/1 columns; anything but 0/1 is refused."""
    listed = ", ".join(map(str, frame.columns))
    for name in names:
        if name not in frame.columns:
            raise UserError(f"there is no column '{name}'; the columns are: {listed}.", field="data.label_columns",
                            code="LABELS_MISSING")
        values = pd.to_numeric(frame[name].replace({True: 1, False: 0}), errors="coerce")
        bad = frame[name][~values.isin([0, 1]) & frame[name].notna()]
        if not bad.empty:
            raise UserError(f"column '{name}' holds {str(bad.iloc[0])[:30]!r}, not only 0 and 1; pick columns of 0/1 "
                            "values (one per label) or fix that value.", field="data.label_columns",
                            code="NOT_BINARY")
    if len(names) < 2:
        raise UserError("needs at least two 0/1 columns (one per label); pick more, or pick one label column "
                        "instead.", field="data.label_columns", code="ONE_CLASS")
    ones = frame[names].replace({True: 1, False: 0}).apply(pd.to_numeric, errors="coerce")
    missing, flags = ones.isna().any(axis=1), ones.to_numpy() == 1
    return pd.Series([None if gone else tuple(n for n, on in zip(names, row) if on)
                      for gone, row in zip(missing, flags)], index=frame.index, dtype=object)


def label_names_of(labels: pd.Series, order: list[str] | None = None) -> list[str]:
    """The label names in a stable order: the 0/1 columns' or ClassLabel's order, else sorted."""
    if order is not None:
        return list(order)
    return sorted({name for value in labels.dropna() for name in value})


def check_labels(labels: pd.Series, names: list[str], field: str, column: str) -> None:
    """Refuse label sets a multi-label classifier cannot learn: no labels anywhere, or a label no text carries."""
    counts = label_counts(labels, names)
    if not any(counts.values()):
        raise UserError(f"column '{column}' holds an empty list of labels in every row; point it at the column with "
                        "the labels, or give the texts their labels.", field=field, code="NO_LABELS")
    unused = [name for name, count in counts.items() if not count]
    if unused:
        raise UserError(f"label '{unused[0]}' is carried by no text (its column is 0 in every row); leave that column "
                        "out or give some texts that label.", field=field, code="UNUSED_LABEL")


def label_counts(labels: pd.Series, names: list[str]) -> dict[str, int]:
    """How many texts carry each label."""
    counts = dict.fromkeys(names, 0)
    for value in labels.dropna():
        for name in value:
            if name in counts:
                counts[name] += 1
    return counts


def rarest_label(labels: pd.Series) -> pd.Series:
    """Each row's rarest label (by its count in these rows), or NO_LABEL: the key multi-label rows are
    stratified by, so a rare label is spread over both subsets instead of landing in one by chance."""
    counts = label_counts(labels, sorted({n for v in labels for n in v}))
    return labels.map(lambda v: min(v, key=lambda n: (counts[n], n)) if v else NO_LABEL)


def multi_hot(labels: tuple[str, ...], label2id: dict[str, int]) -> list[float]:
    """One float per label: 1.0 where the text carries it (BCEWithLogits wants float targets)."""
    vector = [0.0] * len(label2id)
    for name in labels:
        vector[label2id[name]] = 1.0
    return vector


def binary_entropy(p: float) -> float:
    return 0.0 if p <= 0 or p >= 1 else -(p * math.log(p) + (1 - p) * math.log(1 - p))


def constant_baseline_f1(train: pd.Series, eval_labels: pd.Series, names: list[str]) -> float:
    """Micro F1 on the eval rows of the best constant answer: the k most frequent training labels for every text,
    k picked on the training rows (k = 0, answering nothing, scores 0)."""
    ordered = sorted(names, key=lambda n: -label_counts(train, names)[n])

    def micro_f1(labels: pd.Series, answer: set[str]) -> float:
        true_pos = sum(len(answer & set(v)) for v in labels)
        predicted, actual = len(answer) * len(labels), sum(len(v) for v in labels)
        return 2 * true_pos / (predicted + actual) if predicted + actual else 0.0

    best_k = max(range(len(ordered) + 1), key=lambda k: micro_f1(train, set(ordered[:k])))
    return micro_f1(eval_labels, set(ordered[:best_k]))


def summary(train: pd.Series, eval_labels: pd.Series, names: list[str]) -> dict:
    """The dataset.json fields of a multi-label data set (counts are of texts carrying each label)."""
    train_counts, eval_counts = label_counts(train, names), label_counts(eval_labels, names)
    frequency = {n: train_counts[n] / max(1, len(train)) for n in names}
    sets = eval_labels.map(lambda v: tuple(sorted(v))).value_counts()
    return {
        "task": "multi_label",
        "train_counts": train_counts, "eval_counts": eval_counts, "label_frequency": frequency,
        "labels_per_text": {str(k): int(v) for k, v in train.map(len).value_counts().sort_index().items()},
        "eval_labels_per_text": {str(k): int(v) for k, v in eval_labels.map(len).value_counts().sort_index().items()},
        # Always answering the most common label set: what subset accuracy is measured against.
        "majority_rate": float(sets.iloc[0] / len(eval_labels)) if len(eval_labels) else 0.0,
        # The loss of predicting each label's frequency for every text (sigmoid + BCE, averaged over labels).
        "chance_loss": float(np.mean([binary_entropy(p) for p in frequency.values()])) if names else 0.0,
        "baseline_f1_micro": constant_baseline_f1(train, eval_labels, names),
    }
