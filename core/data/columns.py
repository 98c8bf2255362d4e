"""Which columns hold the text and the label, and a stable label <-> id mapping, with a sentence for each problem."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from pandas.api import types

from core.common.errors import UserError
from core.data.multilabel import holds_lists

# Names people give these columns, most telling first (Kaggle's review/sentiment, GLUE's sentence/label...).
TEXT_NAMES = ("text", "sentence", "review", "content", "body", "document", "comment", "tweet", "message",
              "utterance", "sentence1", "premise", "question", "question1", "text_a", "title")
LABEL_NAMES = ("label", "labels", "sentiment", "category", "class", "target", "topic", "intent", "emotion",
               "polarity", "stars", "rating", "y", "tags", "tag", "topics", "categories", "genres")
PAIRS = {"sentence1": "sentence2", "premise": "hypothesis", "question1": "question2", "text_a": "text_b",
         "question": "sentence"}
# More distinct values than this is an id or a free-text column, not a set of classes.
MAX_LABELS = 1000


@dataclass
class Columns:
    text: str
    label: str
    text_pair: str | None = None
    # Multi-label data in several 0/1 columns, one per label (then `label` is the first of them).
    label_columns: list[str] | None = None


def is_text(series: pd.Series) -> bool:
    """Mostly strings (numbers, booleans and dates are not texts)."""
    values = series.dropna()
    if values.empty or types.is_numeric_dtype(series) or types.is_bool_dtype(series):
        return False
    return values.map(lambda v: isinstance(v, str)).mean() > 0.9


def _named(frame: pd.DataFrame, names: tuple[str, ...], skip: set[str]) -> str | None:
    by_lower = {str(c).lower(): c for c in frame.columns if c not in skip}
    return next((by_lower[n] for n in names if n in by_lower), None)


def detect_text(frame: pd.DataFrame, skip: set[str] = frozenset()) -> str | None:
    named = _named(frame, TEXT_NAMES, skip)
    if named is not None and is_text(frame[named]):
        return named
    texts = [c for c in frame.columns if c not in skip and is_text(frame[c])]
    lengths = {c: frame[c].dropna().astype(str).str.len().mean() for c in texts}
    return max(lengths, key=lengths.get) if lengths else None


def detect_label(frame: pd.DataFrame, text: str | None, class_labels: dict[str, list[str]]) -> str | None:
    skip = {text} if text else set()
    named = _named(frame, LABEL_NAMES, skip)
    if named is not None:
        return named
    hub = [c for c in class_labels if c in frame.columns and c not in skip]
    if hub:
        return hub[0]
    listed = [c for c in frame.columns if c not in skip and holds_lists(frame[c])]  # multi-label lists
    if listed:
        return listed[0]
    distinct = {c: frame[c].nunique() for c in frame.columns if c not in skip}
    candidates = {c: n for c, n in distinct.items() if 2 <= n <= min(MAX_LABELS, max(20, len(frame) // 20))}
    return min(candidates, key=candidates.get) if candidates else None


def detect_pair(frame: pd.DataFrame, text: str) -> str | None:
    partner = PAIRS.get(str(text).lower())
    return _named(frame, (partner,), {text}) if partner else None


def resolve_columns(frame: pd.DataFrame, text: str | None, label: str | None, pair: str | None,
                    class_labels: dict[str, list[str]] | None = None) -> Columns:
    """The columns asked for (checked), or detected where left empty."""
    class_labels = class_labels or {}
    listed = ", ".join(map(str, frame.columns))
    for field, name in (("data.text_column", text), ("data.label_column", label), ("data.text_pair_column", pair)):
        if name and name not in frame.columns:
            raise UserError(f"there is no column '{name}'; the columns are: {listed}.", field=field,
                            code="LABELS_MISSING" if field == "data.label_column" else "MISSING_COLUMN")
    detected_text = not text
    text = text or detect_text(frame)
    if text is None:
        raise UserError(f"no column holds text (columns: {listed}); pick the column with the texts.",
                        field="data.text_column", code="MISSING_COLUMN")
    if not is_text(frame[text]):
        raise UserError(f"column '{text}' holds {_kind(frame[text])}, not text; pick the column with the texts "
                        f"(columns: {listed}).", field="data.text_column", code="NOT_TEXT")
    label = label or detect_label(frame, text, class_labels)
    if label is None:
        raise UserError(f"no column looks like a label (columns: {listed}); pick the column with the classes.",
                        field="data.label_column", code="LABELS_MISSING")
    if label == text:
        raise UserError(f"'{label}' is also the text column; pick a different column for the classes.",
                        field="data.label_column")
    # A pair partner (sentence1 -> sentence2) is only guessed along with a guessed text column.
    pair = pair or (detect_pair(frame, text) if detected_text else None)
    if pair and (pair in (text, label) or not is_text(frame[pair])):
        raise UserError(f"column '{pair}' cannot be the second text; pick another text column or leave it empty.",
                        field="data.text_pair_column", code="NOT_TEXT")
    return Columns(text, label, pair)


def _kind(series: pd.Series) -> str:
    if types.is_bool_dtype(series):
        return "true/false values"
    if types.is_numeric_dtype(series):
        return "numbers"
    return "mixed values" if not series.dropna().empty else "no values"


def missing_labels(labels: pd.Series, class_names: list[str] | None) -> pd.Series:
    """Rows without a label: empty, NaN, or -1 in a ClassLabel column (the Hub's 'no label', as in GLUE tests)."""
    missing = labels.isna() | labels.map(lambda v: isinstance(v, str) and not v.strip())
    if class_names is not None:
        missing |= labels.map(lambda v: not isinstance(v, str) and v == -1)
    return missing


def label_names_of(labels: pd.Series, class_names: list[str] | None) -> list[str]:
    """Label names in a stable order: the ClassLabel's own order, numbers ascending, else sorted text."""
    if class_names is not None:
        return list(class_names)
    values = labels.dropna().unique().tolist()  # tolist() turns numpy scalars into Python ones
    if all(isinstance(v, bool) for v in values):
        return [str(v) for v in sorted(values)]
    if all(types.is_number(v) for v in values):
        if any(float(v) != int(v) for v in values):
            raise UserError("holds decimal numbers (a score to predict?), not classes; pick a column of classes "
                            "or round the numbers to whole classes.", field="data.label_column", code="NOT_CLASSES")
        return [str(int(v)) for v in sorted(set(int(v) for v in values))]
    return sorted({str(v).strip() for v in values})


def label_strings(labels: pd.Series, class_names: list[str] | None) -> pd.Series:
    """Each label as its name (the text the model's id2label will hold)."""
    if class_names is not None:
        return labels.map(lambda v: v if isinstance(v, str) else class_names[int(v)])
    return labels.map(lambda v: str(bool(v)) if isinstance(v, (bool, np.bool_)) else
                      str(int(v)) if types.is_number(v) else str(v).strip())
