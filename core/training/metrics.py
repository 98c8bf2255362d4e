"""Evaluation metrics: accuracy, weighted F1 / precision / recall, macro F1, plus the end-of-run report."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support


def compute_metrics(eval_pred) -> dict[str, float]:
    """Called by the Trainer at each evaluation with (logits, labels)."""
    logits, labels = eval_pred
    logits = logits[0] if isinstance(logits, tuple) else logits
    # Class ids already when preprocess_logits_for_metrics took the argmax on the device.
    predictions = logits if logits.ndim == 1 else np.argmax(logits, axis=-1)
    precision, recall, f1, _ = precision_recall_fscore_support(labels, predictions, average="weighted",
                                                               zero_division=0)
    # Macro: every class counts the same, so a rare class the model never gets right pulls it down (weighted F1
    # hardly moves). Averaged over the classes present in the labels or the predictions, as scikit-learn does.
    f1_macro = precision_recall_fscore_support(labels, predictions, average="macro", zero_division=0)[2]
    # Share of predictions in the most-predicted class (and its id): near 1.0 means the model answers one class
    # for all.
    counts = np.bincount(predictions, minlength=1)
    top_share = float(counts.max() / len(predictions)) if len(predictions) else 0.0
    return {"accuracy": float(accuracy_score(labels, predictions)), "f1": float(f1),
            "f1_macro": float(f1_macro), "f1_weighted": float(f1),
            "precision": float(precision), "recall": float(recall), "top_class_share": top_share,
            "top_class": int(counts.argmax())}


def classification_report(labels, predictions, label_names: list[str]) -> dict[str, Any]:
    """Per-class precision / recall / F1 / support and the confusion matrix (rows: true, columns: predicted)."""
    ids = list(range(len(label_names)))
    precision, recall, f1, support = precision_recall_fscore_support(labels, predictions, labels=ids,
                                                                     zero_division=0)
    per_class = [{"label": name, "precision": float(precision[i]), "recall": float(recall[i]),
                  "f1": float(f1[i]), "support": int(support[i])} for i, name in enumerate(label_names)]
    matrix = confusion_matrix(labels, predictions, labels=ids)
    return {"per_class": per_class, "confusion_matrix": matrix.tolist(), "label_names": label_names}
