"""Runs: every run in a table; filter, sort, open, rename, delete, export, try a finished model, predict a whole
file with it, and push it to the Hugging Face Hub."""

import pandas as pd
import streamlit as st

from core.rundir import runs
from core.runner import history
from core.views import progress
from pages.components.onnx_panel import onnx_panel
from pages.components.run_actions import export_panel, has_model, manage_panel, notes_panel, try_model_panel
from pages.components.session import runs_dir, through_app_navigation
from pages.components.shipping import model_card_panel, predict_file_panel, push_panel

through_app_navigation()

st.title("Runs")
all_runs = {run.run_id: run for run in runs.list_runs(runs_dir())}
if not all_runs:
    st.info("No runs yet. Start one on the New run page.")
    st.page_link("pages/new_run.py", label="New run", icon=":material/rocket_launch:")
    st.stop()

rows = [history.run_row(run) for run in all_runs.values()]
known_tags = sorted({tag for row in rows for tag in row["tags"]}, key=str.lower)
state_col, tag_col, text_col = st.columns([1, 1, 2])
states = state_col.multiselect("State", sorted({row["state"] for row in rows}), key="runs_state_filter",
                               placeholder="all states")
tags = tag_col.multiselect("Tags", known_tags, key="runs_tag_filter", placeholder="all tags",
                           help="Runs with any of these tags.")
text = text_col.text_input("Search", key="runs_text_filter", placeholder="id, name, sweep, data set, model, notes or tags")
visible = history.filter_rows(rows, states, text, tags)

frame = pd.DataFrame([{"id": r["id"], "name": r["name"], "state": r["state"], "sweep": r["sweep"],
                       "data set": r["data set"],
                       "model": r["model"], "device": r["device"],
                       "best metric": r["best metric"], "metric": r["metric"],
                       "duration": progress.format_duration(r["duration_s"]),
                       "started": progress.format_started(r["started"]), "tags": r["tags"], "notes": r["notes"]}
                      for r in visible], columns=["id", "name", "state", "sweep", "data set", "model", "device",
                                                  "best metric", "metric", "duration", "started", "tags", "notes"])
st.caption(f"{len(visible)} of {len(rows)} runs. Click a column header to sort; tick a row to select it.")
# Shown as everywhere else (74.3%, or 0.482 for a loss); sorting still goes by the numbers underneath.
shown = frame.style
for metric in set(frame["metric"]):
    ranked_on = frame.index[frame["metric"] == metric]
    shown = shown.format(lambda v, m=metric: progress.format_metric(m, v),
                         subset=pd.IndexSlice[ranked_on, ["best metric"]])
table = st.dataframe(shown, key="runs_table", hide_index=True, on_select="rerun", selection_mode="single-row",
                     column_config={"tags": st.column_config.ListColumn("tags")})

ids = [r["id"] for r in visible]
if not ids:
    st.info("No run matches the filter.")
    st.stop()
# A row ticked in the table selects that run, once; afterwards the picker below can choose freely.
ticked = [ids[i] for i in table.selection.rows if i < len(ids)]
if ticked and ticked != st.session_state.get("runs_table_applied"):
    st.session_state["runs_selected"] = ticked[0]
st.session_state["runs_table_applied"] = ticked
if st.session_state.get("runs_selected") not in ids:
    st.session_state["runs_selected"] = ids[0]
chosen = st.selectbox("Selected run", ids, key="runs_selected", format_func=lambda i: all_runs[i].label)

run = all_runs[chosen]
manage_panel(run)
notes_panel(run, known_tags)
export_tab, try_tab, file_tab, push_tab = st.tabs(["Export", "Try the model", "Predict a file", "Push to the Hub"])
with export_tab:
    export_panel(run)
    model_card_panel(run)
    onnx_panel(run, has_model(run))
with try_tab:
    try_model_panel(run)
with file_tab:
    predict_file_panel(run)
with push_tab:
    push_panel(run)
