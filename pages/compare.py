"""Compare: overlay the curves of 2 to 6 runs, see their best metric and how their configs differ."""

import pandas as pd
import streamlit as st

from core.config.schema import BEST_METRICS
from core.rundir import runs
from core.rundir.records import MULTI_LABEL_METRICS, SINGLE_LABEL_METRICS
from core.runner import history
from core.views import compare, progress
from pages.components.chart_controls import smoothing_controls
from pages.components.session import runs_dir, through_app_navigation

through_app_navigation()

st.title("Compare runs")
all_runs = {run.run_id: run for run in runs.list_runs(runs_dir())}
if len(all_runs) < 2:
    st.info("Comparing needs at least two runs. Start another on the New run page.")
    st.page_link("pages/new_run.py", label="New run", icon=":material/rocket_launch:")
    st.stop()

# Keep only picks that still exist (a run may have been deleted since).
st.session_state["compare_runs"] = [i for i in st.session_state.get("compare_runs", []) if i in all_runs]
chosen = st.multiselect("Runs to compare (2 to 6)", list(all_runs), key="compare_runs",
                        max_selections=compare.MAX_RUNS, format_func=lambda i: all_runs[i].label)
if len(chosen) < 2:
    st.info("Pick at least two runs.")
    st.stop()


def short_labels(ids: list[str]) -> dict[str, str]:
    """The run's name where names are unique among the picks, else its id."""
    names = [all_runs[i].config.get("name") or i for i in ids]
    return {i: (n if names.count(n) == 1 else i) for i, n in zip(ids, names)}


labels = short_labels(chosen)
axis_col, metric_col = st.columns([1, 1])
axis = axis_col.segmented_control("Horizontal axis", ["step", "epoch"], default="step", key="compare_axis",
                                  required=True, help="Per optimizer step, or per epoch (runs with different "
                                                      "batch sizes line up by epoch).")
curves = {labels[i]: runs.read_metrics(all_runs[i].path) for i in chosen}
# Multi-label runs add their metrics; a single-label name shows their counterpart (f1: micro F1).
multi_label = any(progress.is_multi_label(records) for records in curves.values())
metric = metric_col.selectbox("Eval metric", [m for m in BEST_METRICS if multi_label or m not in MULTI_LABEL_METRICS
                                              or m in SINGLE_LABEL_METRICS], key="compare_metric",
                              help="On a multi-label run, f1, accuracy, precision and recall show micro F1, subset "
                                   "accuracy, micro precision and micro recall." if multi_label else None)
smoothing, log_y = smoothing_controls("compare")
left, right = st.columns(2)
left.plotly_chart(compare.compare_loss_figure(curves, axis or "step", smoothing, log_y), key="compare_loss_chart")
right.plotly_chart(compare.compare_metric_figure(curves, metric, axis or "step", smoothing, log_y),
                   key="compare_metric_chart")

st.subheader("Best metric per run")
best_rows = []
for run_id in chosen:
    row = history.run_row(all_runs[run_id])
    best_rows.append({"run": labels[run_id], "id": run_id, "state": row["state"], "metric": row["metric"],
                      "best": progress.format_metric(row["metric"], row["best metric"]),
                      "duration": progress.format_duration(row["duration_s"])})
with st.container(key="compare_best"):
    st.dataframe(pd.DataFrame(best_rows), hide_index=True)
st.caption("A finished run shows its saved model's final value; a run still training its best evaluation so far. "
           "Runs ranked on different metrics are not directly comparable.")

st.subheader("Config")
only_diff = st.toggle("Show differences only", value=True, key="compare_diff_only")
diff = compare.config_diff({labels[i]: all_runs[i].config for i in chosen}, differences_only=only_diff)
if not diff:
    st.success("The configs are identical.", icon=":material/check:")
else:
    frame = pd.DataFrame(diff).set_index("key")
    shown = frame.drop(columns="differences").astype(str)
    # The container carries the key: a table that cannot be selected does not keep one.
    with st.container(key="compare_config_diff"):
        st.dataframe(shown.style.apply(lambda col: ["background-color: #fef3c7" if d else ""
                                                    for d in frame["differences"]]))
