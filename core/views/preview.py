"""What the New run page shows about the data before launch: token lengths, a suggested max length, warnings.

Pure functions over the subsets and a tokenizer; the charts are in core/views/charts.py.
"""

from __future__ import annotations

import math

from core.data.splits import Splits
from core.diagnostics.findings import by_severity, Finding
from core.diagnostics.data_rules import classes_far_apart_in_size, eval_texts_seen_in_training

# Texts measured for the histogram: enough for a steady 95th percentile, quick to tokenize on a CPU.
LENGTH_SAMPLE = 2000
# The suggested max length covers this share of texts (the 95%).
COVERAGE = 0.95
# An eval set below these is too noisy to compare runs by (one example moves accuracy by 2 points at 50).
SMALL_EVAL_ROWS, SMALL_EVAL_PER_CLASS = 50, 5


def token_lengths(splits: Splits, tokenizer, sample: int = LENGTH_SAMPLE, seed: int = 0) -> list[int]:
    """Untruncated token counts (special tokens included) of up to `sample` training texts."""
    part = splits.train.sample(n=min(sample, len(splits.train)), random_state=seed)
    pairs = part["text_pair"].tolist() if "text_pair" in part.columns else None
    encoded = tokenizer(part["text"].tolist(), pairs, truncation=False, verbose=False)
    return [len(ids) for ids in encoded["input_ids"]]


def length_summary(lengths: list[int], max_length: int, model_limit: int | None = None) -> dict:
    """Share of texts `max_length` would truncate, and the max length that covers 95% of them."""
    if not lengths:
        return {"truncated_share": 0.0, "suggested_max_length": max_length, "longest": 0, "count": 0}
    ordered = sorted(lengths)
    covering = ordered[min(len(ordered) - 1, math.ceil(COVERAGE * len(ordered)) - 1)]
    suggested = max(8, math.ceil(covering / 8) * 8)  # a multiple of 8 suits GPU kernels
    if model_limit:
        suggested = min(suggested, model_limit)
    return {"truncated_share": sum(n > max_length for n in lengths) / len(lengths),
            "suggested_max_length": suggested, "longest": ordered[-1], "count": len(lengths),
            "suggested_truncated_share": sum(n > suggested for n in lengths) / len(lengths)}


def eval_set_too_small(summary: dict) -> Finding | None:
    """SMALL_EVAL_SET: fewer than 50 eval rows or fewer than 5 of some class make eval scores jumpy."""
    size, counts = int(summary.get("eval_size") or 0), summary.get("eval_counts") or {}
    labels = summary.get("label_names") or list(counts)
    thin = sorted(name for name in labels if counts.get(name, 0) < SMALL_EVAL_PER_CLASS)
    if size >= SMALL_EVAL_ROWS and not thin:
        return None
    evidence = f"The eval subset has {size} rows" + (
        f"; {', '.join(repr(n) for n in thin[:5])} {'has' if len(thin) == 1 else 'have'} fewer than "
        f"{SMALL_EVAL_PER_CLASS} examples" if thin else "") + "."
    return Finding(code="SMALL_EVAL_SET", severity="warning", title="The eval set is very small",
                   evidence=evidence, fix=f"Raise the eval subset size{_size_for_every_class(size, counts, thin)} "
                   f"(at least {SMALL_EVAL_ROWS} rows and {SMALL_EVAL_PER_CLASS} per class) or the eval fraction; "
                   "until then one example moves the scores a lot (and a rare class's recall most).")


def _size_for_every_class(size: int, counts: dict, thin: list[str]) -> str:
    """' to about N so that 'x' has 5 examples': the stratified eval size that gives the thinnest class enough."""
    present = [counts[name] for name in thin if counts.get(name, 0) > 0]
    if not present or not size:
        return ""
    rarest = min(thin, key=lambda name: counts.get(name, 0) or size + 1)
    wanted = max(SMALL_EVAL_ROWS, math.ceil(SMALL_EVAL_PER_CLASS * size / min(present)))
    return f" to about {wanted:,} so that '{rarest}' has {SMALL_EVAL_PER_CLASS} examples"


def data_warnings(splits: Splits, config: dict | None = None) -> list[Finding]:
    """Non-blocking warnings about the subsets: imbalance (its fix worded for the config's class weights), eval texts
    seen in training, a tiny eval set."""
    summary = splits.summary()
    return by_severity([classes_far_apart_in_size(summary, config), eval_texts_seen_in_training(summary),
                        eval_set_too_small(summary)])


def label_frequency_sentence(summary: dict) -> str:
    """A multi-label data set in one line: how often each label occurs and how many labels a text carries."""
    frequency = summary.get("label_frequency") or {}
    ordered = sorted(frequency.items(), key=lambda kv: -kv[1])
    per_text = summary.get("labels_per_text") or {}
    texts = sum(per_text.values()) or 1
    mean = sum(int(k) * v for k, v in per_text.items()) / texts
    shares = ", ".join(f"{name} {share:.0%}" for name, share in ordered[:12])
    return (f"Share of training texts carrying each label: {shares}. A text carries {mean:.1f} labels on average; "
            f"{per_text.get('0', 0):,} carry none.")


def sample_rows(splits: Splits, rows: int = 8, seed: int = 0):
    """A few training rows as they will be tokenized (text, second text, label)."""
    return splits.train.sample(n=min(rows, len(splits.train)), random_state=seed).reset_index(drop=True)
