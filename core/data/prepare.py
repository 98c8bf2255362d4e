"""From a data config to train and eval subsets: load the source, find the columns, clean, map labels, split.

The New run page (preview) and `python -m core.train` (before the run folder is made) call the same code,
so a problem is the same sentence in both places and stops the run before anything is written.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from core.common.errors import UserError
from core.config.schema import DataConfig
from core.data import balance, columns as cols, multilabel
from core.data.sources import load_hub_frames
from core.data.splits import load_frame, make_splits, Splits
from core.data.tables import read_table


@dataclass
class Loaded:
    """The whole data set, cleaned: `text`, `label` (names) and maybe `text_pair`; eval rows if it has its own."""
    train: pd.DataFrame
    eval: pd.DataFrame | None
    label_names: list[str]
    columns: cols.Columns
    all_columns: list[str]
    notes: list[str] = field(default_factory=list)
    # How the labels were read (multi-label: each `label` is a tuple of names).
    shape: multilabel.LabelShape = field(default_factory=lambda: multilabel.LabelShape("single_label", "single"))
    # Each cleaned row's position in the data as read (rows without a label or a text are skipped).
    train_rows: list[int] = field(default_factory=list)
    eval_rows: list[int] = field(default_factory=list)


def read_source(config: DataConfig) -> tuple[pd.DataFrame, pd.DataFrame | None, dict[str, list[str]], list[str]]:
    """(train rows, eval rows or None, ClassLabel names per column, notes) as the source holds them."""
    if config.source == "builtin":
        return load_frame(config), None, {}, []
    if config.source == "hub":
        return load_hub_frames(config.name, config.config_name, config.train_split, config.eval_split)
    train, notes = read_table(config.path, "data.path")
    eval_frame = None
    if config.eval_path:
        eval_frame, eval_notes = read_table(config.eval_path, "data.eval_path")
        notes += [f"Eval file: {note}" for note in eval_notes]
        notes.append("Using the eval file for evaluation.")
    return train, eval_frame, {}, notes


def load(config: DataConfig) -> Loaded:
    """Read the source, resolve the columns, drop what cannot be used (with a count), map labels to names."""
    return build(read_source(config), config)


def detect(raw: tuple, config: DataConfig) -> cols.Columns:
    """The columns the config names, or detected ones where it names none."""
    train_raw, _, class_labels, _ = raw
    if config.source == "builtin":
        return cols.resolve_columns(train_raw, None, None, None, class_labels)
    picked = config.label_columns or []
    if picked:  # 0/1 columns, one per label: the first stands for them where one label column is expected
        multilabel.binary_columns(train_raw.head(0), picked)
    found = cols.resolve_columns(train_raw, config.text_column, picked[0] if picked else config.label_column,
                                 config.text_pair_column, class_labels)
    if picked and found.text in picked:
        raise UserError(f"'{found.text}' is the text column; pick only the 0/1 columns as labels.",
                        field="data.label_columns")
    found.label_columns = list(picked) or None
    return found


def label_shape(raw: tuple, config: DataConfig, found: cols.Columns) -> multilabel.LabelShape:
    """Single- or multi-label, and how the labels are written (the config's choice, else detected)."""
    if config.source == "builtin":
        return multilabel.LabelShape("single_label", "single", reason="one label per text")
    return multilabel.label_shape(raw[0], found.label, config.task, found.label_columns, config.label_separator)


def build(raw: tuple, config: DataConfig) -> Loaded:
    """Loaded data from what read_source returned (the page caches that part)."""
    train_raw, eval_raw, class_labels, notes = raw
    notes = list(notes)
    found = detect(raw, config)
    shape = label_shape(raw, config, found)
    class_names = class_labels.get(found.label)
    if shape.multi_label:
        train_raw = _with_label_tuples(train_raw, found, shape, class_names)
    train, train_labels, train_rows = _clean(train_raw, found, class_names, config, notes, "")
    eval_frame, eval_labels, eval_rows = None, pd.Series(dtype=object), []
    if eval_raw is not None:
        _check_eval_columns(eval_raw, found, config)
        if shape.multi_label:
            eval_raw = _with_label_tuples(eval_raw, found, shape, class_names)
        eval_frame, eval_labels, eval_rows = _clean(eval_raw, found, class_names, config, notes, "eval ")
    all_labels = pd.concat([train_labels, eval_labels])
    names = (_multi_label_names(all_labels, found, class_names) if shape.multi_label
             else _label_names(all_labels, class_names, found.label))
    return Loaded(train, eval_frame, names, found, [str(c) for c in train_raw.columns], notes, shape, train_rows,
                  eval_rows)


def _with_label_tuples(frame: pd.DataFrame, found: cols.Columns, shape, class_names) -> pd.DataFrame:
    """A copy whose label column holds each row's labels as a tuple of names."""
    frame = frame.copy()
    frame[found.label] = multilabel.label_tuples(frame, found.label, shape, found.label_columns, class_names)
    return frame


def _multi_label_names(labels: pd.Series, found: cols.Columns, class_names: list[str] | None) -> list[str]:
    names = multilabel.label_names_of(labels, found.label_columns or class_names)
    field = "data.label_columns" if found.label_columns else "data.label_column"
    multilabel.check_labels(labels, names, field, found.label)
    if len(names) > cols.MAX_LABELS:
        raise UserError(f"column '{found.label}' has {len(names):,} distinct labels, more than the "
                        f"{cols.MAX_LABELS:,} a label column plausibly has; pick the column with the labels.",
                        field=field, code="TOO_MANY_LABELS")
    if len(names) < 2:
        raise UserError(f"column '{found.label}' has only one label ('{names[0]}'); a classifier needs at least two, "
                        "so pick another label column or add texts with other labels.", field=field,
                        code="ONE_CLASS")
    return names


def _clean(frame: pd.DataFrame, found: cols.Columns, class_names: list[str] | None, config: DataConfig,
           notes: list[str], which: str) -> tuple[pd.DataFrame, pd.Series, list[int]]:
    """Rows without a label stop the run (or are dropped when asked); empty texts are dropped with a count.

    Also returns the kept rows' positions in `frame`."""
    frame = frame.set_axis(range(len(frame)))  # positions as the index, whatever index the source came with
    missing = cols.missing_labels(frame[found.label], class_names)
    if missing.any():
        count = int(missing.sum())
        if not config.drop_missing_labels:
            raise UserError(f"{count} of {len(frame)} {which}rows have no label in column '{found.label}'; fill "
                            "them in, or set data.drop_missing_labels to true (tick 'Drop rows without a label') to "
                            "drop them.", field="data.label_column", code="MISSING_LABELS")
        notes.append(f"Dropped {count} {which}rows without a label.")
        frame = frame[~missing]
    texts = frame[found.text]
    empty = texts.isna() | texts.astype(str).str.strip().eq("")
    if empty.any():
        notes.append(f"Dropped {int(empty.sum())} {which}rows whose text is empty or only spaces.")
        frame, texts = frame[~empty], texts[~empty]
    if frame.empty:
        raise UserError(f"no {which}rows are left with both a text and a label in columns '{found.text}' and "
                        f"'{found.label}'; check the column choice.", field="data.text_column", code="NO_ROWS")
    labels = frame[found.label]
    multi = len(labels) and isinstance(labels.iloc[0], tuple)
    out = pd.DataFrame({"text": texts.astype(str),
                        "label": labels if multi else cols.label_strings(labels, class_names)})
    if found.text_pair:
        out["text_pair"] = frame[found.text_pair].fillna("").astype(str)
    return out.reset_index(drop=True), frame[found.label], frame.index.tolist()


def _check_eval_columns(eval_raw: pd.DataFrame, found: cols.Columns, config: DataConfig) -> None:
    where = "data.eval_path" if config.source == "file" else "data.eval_split"
    for column in (found.text, found.label, found.text_pair):
        if column and column not in eval_raw.columns:
            raise UserError(f"the eval data has no column '{column}' (its columns: "
                            f"{', '.join(map(str, eval_raw.columns))}); give it the same columns as the training "
                            "data.", field=where, code="MISSING_COLUMN")


def _label_names(labels: pd.Series, class_names: list[str] | None, column: str) -> list[str]:
    names = cols.label_names_of(labels, class_names)
    if len(names) > cols.MAX_LABELS:
        raise UserError(f"column '{column}' has {len(names):,} distinct values, more than the {cols.MAX_LABELS:,} a "
                        "label column plausibly has (an id or a text?); pick the column with the classes.",
                        field="data.label_column", code="TOO_MANY_LABELS")
    if len(names) < 2:
        only = f" ('{names[0]}')" if names else ""
        raise UserError(f"column '{column}' has only one class{only}; a classifier needs at least two, so pick "
                        "another label column or add examples of other classes.", field="data.label_column",
                        code="ONE_CLASS")
    return names


def split(loaded: Loaded, config: DataConfig) -> Splits:
    """The stratified, seeded train and eval subsets of loaded data."""
    splits = make_splits(loaded.train, config, loaded.eval, loaded.label_names)
    splits.columns, splits.notes, splits.task = loaded.columns, list(loaded.notes), loaded.shape.task
    if splits.multi_label:
        _check_every_label_trains(splits, loaded, config)
        splits.notes.append(f"Multi-label ({loaded.shape.reason}): the subsets are stratified by each text's rarest "
                            "label.")
    eval_source_rows = loaded.eval_rows if loaded.eval is not None else loaded.train_rows
    splits.train_rows = [loaded.train_rows[i] for i in splits.train_rows]
    splits.eval_rows = [eval_source_rows[i] for i in splits.eval_rows]
    if config.oversample:  # after the eval rows are set apart: only the training subset grows
        balance.check_oversample(splits.multi_label)
        splits.train, splits.train_rows, note = balance.oversample(splits.train, splits.train_rows, config.seed)
        splits.notes += [note] if note else []
    return splits


def _check_every_label_trains(splits: Splits, loaded: Loaded, config: DataConfig) -> None:
    """A label no training text carries cannot be learned (its eval scores would only measure chance)."""
    counts = multilabel.label_counts(splits.train["label"], splits.label_names)
    unused = [name for name, count in counts.items() if not count]
    if not unused:
        return
    if not multilabel.label_counts(loaded.train["label"], [unused[0]])[unused[0]]:
        where = "data.eval_path" if config.source == "file" else "data.eval_split"
        raise UserError(f"label '{unused[0]}' appears in the eval data but in no training text; add training texts "
                        "with it or remove it from the eval data.", field=where, code="UNUSED_LABEL")
    raise UserError(f"label '{unused[0]}' appears in no text of the training subset; raise the train subset size so "
                    "it is sampled, or give more texts that label.", field="data.train_size", code="UNUSED_LABEL")


def file_digests(config: DataConfig) -> dict[str, str]:
    """The sha256 of each data file a file-source config reads, by field (empty for other sources)."""
    if config.source != "file":
        return {}
    paths = {"data.path": config.path, "data.eval_path": config.eval_path}
    return {field: hashlib.sha256(Path(path).read_bytes()).hexdigest() for field, path in paths.items() if path}


def prepare(config: DataConfig) -> Splits:
    """Load and split in one step (the training child's path)."""
    return split(load(config), config)


def describe_source(d) -> str:
    """The data source in a few words, for the training log (`d`: a config's data section)."""
    if d.source == "file":
        return f"file {d.path}" + (f" (eval file {d.eval_path})" if d.eval_path else "")
    return f"{d.source} data set '{d.name}'" + (f" ({d.config_name})" if d.config_name else "")
