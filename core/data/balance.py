"""Unequal classes: the class weights a run trains with, and oversampling of the training subset.

Both look at the training subset only; the eval subset is never changed, so eval scores stay comparable with a
run that used neither.
"""

from __future__ import annotations

import pandas as pd

from core.common.errors import UserError
from core.config.class_weights import BALANCED, FIELD, NONE


def class_weights(setting: str | dict[str, float], label_names: list[str],
                  train_labels: pd.Series, multi_label: bool = False) -> list[float] | None:
    """One weight per label id, or None for `none`. `balanced` is scikit-learn's compute_class_weight
    (n / (classes x count)); explicit weights fill unnamed labels with 1. Scaled so an average training text
    weighs 1: the loss keeps its usual size (ln K at chance), which the stuck-at-chance rule relies on.
    Multi-label data gets each label's `pos_weight` instead (label_pos_weights)."""
    if setting == NONE:
        return None
    if multi_label:
        return label_pos_weights(setting, label_names, train_labels)
    counts = {name: int(n) for name, n in train_labels.value_counts().items()}
    present = [name for name in label_names if counts.get(name, 0) > 0]
    if setting == BALANCED:
        raw = {name: len(train_labels) / (len(present) * counts[name]) for name in present}
    else:
        check_weight_labels(setting, label_names)
        raw = {name: setting.get(name, 1.0) for name in label_names}
    # A class with no training text is never a target; its weight only has to be a number.
    weights = [raw.get(name, 1.0) for name in label_names]
    mean = sum(w * counts.get(name, 0) for w, name in zip(weights, label_names)) / max(1, len(train_labels))
    return [round(float(w / mean), 6) for w in weights]


def label_pos_weights(setting: str | dict[str, float], label_names: list[str],
                      train_labels: pd.Series) -> list[float]:
    """Multi-label: one `pos_weight` per label for the binary cross-entropy, how much a text carrying the label
    counts against one that does not. `balanced`: its texts without / its texts with, so both sides of every label
    weigh the same (as BCEWithLogitsLoss's documentation suggests); explicit weights are used as given."""
    if setting != BALANCED:
        check_weight_labels(setting, label_names)
        return [float(setting.get(name, 1.0)) for name in label_names]
    total, carried = len(train_labels), {name: 0 for name in label_names}
    for names in train_labels:
        for name in names:
            carried[name] += 1
    one_sided = [name for name in label_names if carried[name] in (0, total)]
    if one_sided:
        which = "every" if carried[one_sided[0]] == total else "no"
        raise UserError(f"balanced weighs each label's texts with it against those without it, but {which} training "
                        f"text carries '{one_sided[0]}'; drop that label from the data, or give weights by hand "
                        "(label=weight) or none.", field=FIELD, code="ONE_SIDED_LABEL")
    return [round((total - carried[name]) / carried[name], 6) for name in label_names]


def check_weight_labels(setting: str | dict[str, float], label_names: list[str]) -> None:
    """Explicit weights may only name labels the data has: one sentence naming the unknown one."""
    if not isinstance(setting, dict):
        return
    unknown = [label for label in setting if label not in label_names]
    if unknown:
        shown = ", ".join(label_names[:12]) + (", ..." if len(label_names) > 12 else "")
        raise UserError(f"'{unknown[0]}' is not a label of this data (its labels: {shown}); weigh only those "
                        "labels, or use balanced.", field=FIELD, code="UNKNOWN_LABEL")


def check_oversample(multi_label: bool) -> None:
    if multi_label:
        raise UserError("repeats texts of the smaller classes, and multi-label texts belong to several at once; "
                        "untick it and use class weights (balanced) instead.", field="data.oversample",
                        code="OVERSAMPLE_MULTI_LABEL")


def oversample(train: pd.DataFrame, rows: list[int], seed: int) -> tuple[pd.DataFrame, list[int], str]:
    """The training subset with rows of the smaller classes repeated (drawn with `seed`) until each class has as
    many as the largest, shuffled; the source positions of every row (repeats included); and a note saying so."""
    counts = train["label"].value_counts()
    target = int(counts.max())
    positions = pd.Series(rows, index=train.index)
    extra = [train[train["label"] == label].sample(n=target - int(n), replace=True, random_state=seed)
             for label, n in counts.items() if n < target]
    if not extra:
        return train, rows, ""
    grown = pd.concat([train, *extra]).sample(frac=1.0, random_state=seed)
    added = ", ".join(f"'{label}' {n} -> {target}" for label, n in counts.items() if n < target)
    note = (f"Oversampled the training subset: {added} ({len(grown)} training rows); the eval subset is "
            "unchanged.")
    return grown.reset_index(drop=True), positions.loc[grown.index].tolist(), note


def weights_record(weights: list[float] | None, label_names: list[str]) -> dict:
    """dataset.json's `class_weights`: the weight each label had in the loss (absent when none were used)."""
    return {"class_weights": dict(zip(label_names, weights))} if weights else {}
