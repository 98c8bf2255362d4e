"""Multi-label evaluation: micro / macro F1, micro precision and recall, subset accuracy, per-label thresholds
tuned on the eval set, and the end-of-run per-label report with its confusion counts and label co-occurrence."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import f1_score, precision_recall_fscore_support

# Thresholds tried when tuning one label's threshold on the eval set.
THRESHOLD_GRID = np.round(np.arange(0.05, 0.96, 0.05), 2)


def probabilities(logits) -> np.ndarray:
    """Each label's probability: a sigmoid per output (labels are independent yes/no questions)."""
    logits = logits[0] if isinstance(logits, tuple) else logits
    return 1.0 / (1.0 + np.exp(-np.asarray(logits, dtype=np.float64)))


def predict(probs: np.ndarray, thresholds) -> np.ndarray:
    """0/1 per text and label: the probability at or above the label's threshold (one number or one per label)."""
    return (probs >= np.asarray(thresholds, dtype=np.float64)).astype(int)


def scores(labels, predicted: np.ndarray) -> dict[str, float]:
    """The multi-label metrics of metrics.jsonl (without the eval_ prefix)."""
    labels = np.asarray(labels).astype(int)
    precision, recall, f1_micro, _ = precision_recall_fscore_support(labels, predicted, average="micro",
                                                                     zero_division=0)
    return {"f1_micro": float(f1_micro), "f1_macro": float(f1_score(labels, predicted, average="macro",
                                                                      zero_division=0)),
            "precision_micro": float(precision), "recall_micro": float(recall),
            "subset_accuracy": float((labels == predicted).all(axis=1).mean()) if len(labels) else 0.0,
            # For the diagnostics: a model that answers no label for every text is the multi-label "one class".
            "no_label_share": float((predicted.sum(axis=1) == 0).mean()) if len(labels) else 0.0,
            "labels_per_text": float(predicted.sum(axis=1).mean()) if len(labels) else 0.0}


def compute_multilabel_metrics(eval_pred, threshold: float = 0.5) -> dict[str, float]:
    """Called by the Trainer at each evaluation with (logits, multi-hot labels)."""
    logits, labels = eval_pred
    return scores(labels, predict(probabilities(logits), threshold))


def metrics_function(threshold: float):
    """compute_metrics for the Trainer at a fixed threshold."""
    def compute(eval_pred):
        return compute_multilabel_metrics(eval_pred, threshold)
    return compute


def tune_thresholds(labels, probs: np.ndarray, default: float) -> list[float]:
    """Per label, the threshold of THRESHOLD_GRID with the best F1 on these rows (ties: nearest the default)."""
    labels = np.asarray(labels).astype(int)
    tuned = []
    for k in range(labels.shape[1]):
        def f1_at(t):
            return f1_score(labels[:, k], (probs[:, k] >= t).astype(int), zero_division=0)
        tuned.append(float(max(THRESHOLD_GRID, key=lambda t: (f1_at(t), -abs(t - default)))))
    return tuned


def report(labels, probs: np.ndarray, thresholds: list[float], label_names: list[str]) -> dict[str, Any]:
    """Per label: precision / recall / F1 / support, its confusion counts and threshold; and how often two labels
    are carried by the same eval text (co-occurrence, the diagonal is each label's count)."""
    labels = np.asarray(labels).astype(int)
    predicted = predict(probs, thresholds)
    precision, recall, f1, support = precision_recall_fscore_support(labels, predicted, average=None,
                                                                     zero_division=0)
    per_class = []
    for k, name in enumerate(label_names):
        truth, guess = labels[:, k] == 1, predicted[:, k] == 1
        per_class.append({"label": name, "precision": float(precision[k]), "recall": float(recall[k]),
                          "f1": float(f1[k]), "support": int(support[k]), "threshold": float(thresholds[k]),
                          "true_positives": int((truth & guess).sum()), "false_positives": int((~truth & guess).sum()),
                          "false_negatives": int((truth & ~guess).sum()),
                          "true_negatives": int((~truth & ~guess).sum())})
    return {"per_class": per_class, "co_occurrence": (labels.T @ labels).tolist(), "label_names": label_names}
