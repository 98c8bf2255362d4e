"""Live run's final report for a multi-label run: micro / macro scores against the frequency baseline, the
per-label table with its confusion counts and thresholds, and which labels the eval texts carry together."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.views import charts, progress

SHOWN = (("f1_micro", "F1 (micro)"), ("f1_macro", "F1 (macro)"), ("precision_micro", "Precision (micro)"),
         ("recall_micro", "Recall (micro)"), ("subset_accuracy", "Subset accuracy"), ("loss", "Loss"))
COUNTS = {"true_positives": "right", "false_positives": "extra", "false_negatives": "missed"}


def show_multilabel_results(results: dict, dataset: dict) -> None:
    final = results["final_metrics"]
    for col, (metric, label) in zip(st.columns(len(SHOWN)), SHOWN):
        col.metric(label, progress.format_metric(metric, final.get(metric)))
    baseline = dataset.get("baseline_f1_micro")
    if baseline is not None:
        st.caption(f"Answering every text with the most frequent labels would score {baseline:.1%} micro F1; a "
                   f"text counts for subset accuracy only when all its labels are right.")
    if results.get("thresholds_note"):
        st.warning(results["thresholds_note"], icon=":material/tune:")
    table_col, matrix_col = st.columns(2)
    frame = pd.DataFrame(results["per_class"]).set_index("label").rename(columns=COUNTS)
    frame = frame[["precision", "recall", "f1", "support", *COUNTS.values(), "threshold"]]
    table_col.dataframe(frame.style.format({**{m: (lambda v, m=m: progress.format_metric(m, v))
                                               for m in ("precision", "recall", "f1")}, "threshold": "{:.2f}"}),
                        key="per_class_table")
    table_col.caption("Per label on the eval set: right (predicted and carried), extra (predicted, not carried), "
                      "missed (carried, not predicted).")
    matrix_col.plotly_chart(charts.co_occurrence_figure(results), key="co_occurrence_chart")
    st.success(f"Model saved to `{results['model_dir']}` (load it with "
               "`AutoModelForSequenceClassification.from_pretrained`; its config holds the threshold).",
               icon=":material/save:")
