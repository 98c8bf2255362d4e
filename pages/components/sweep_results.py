"""The Sweep page's view of one sweep: its state and controls (stop, resume, delete), the trials table, the best
trial with Train with these settings, and the charts. Drawn once per change of the sweep (see `watch`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from core.common.errors import UserError
from core.rundir import runs
from core.search import sweeps
from core.views import sweep_charts, sweep_view
from pages.components.form_fields import fill_form
from pages.components.session import runs_dir

STATE_COLOURS = {"starting": "blue", "running": "blue", "finished": "green", "stopped": "orange", "out of time": "orange",
                 "unfinished": "gray"}
CONFIRM_DELETE = "sweep_to_delete"


def header(summary: dict[str, Any]) -> None:
    title_col, button_col = st.columns([5, 1])
    with title_col:
        st.markdown(f"### {summary['name']}")
        with st.container(key="sweep_state"):
            shown = sweep_view.shown_state(summary)
            st.badge(shown, color=STATE_COLOURS.get(shown, "gray"))
        st.caption(sweep_view.state_sentence(summary))
    with button_col:
        controls(summary)
    if st.session_state.get(CONFIRM_DELETE) == summary["name"]:
        confirm_delete(summary)


def controls(summary: dict[str, Any]) -> None:
    """Stop while trials run; Resume a stopped, unfinished or out-of-time sweep; Delete one that is not running."""
    name, state = summary["name"], summary["state"]
    if state == "running":
        if st.button("Stop sweep", key="stop_sweep", icon=":material/stop_circle:",
                     help="Stop the running trials (each saves nothing) and start no new one; Resume goes on."):
            stopped = sweeps.stop_sweep(name, runs_dir())
            st.toast(f"Stopping the sweep: {len(stopped)} running trials asked to stop.")
            st.rerun()
        return
    if state != "finished" and st.button("Resume sweep", key="resume_sweep", icon=":material/resume:",
                                         help="Go on with new trials up to the number of trials; finished trials "
                                              "are kept and a time budget starts again."):
        sweeps.resume_sweep(name, runs_dir())
        st.rerun()
    if st.button("Delete…", key="delete_sweep", icon=":material/delete:", help="Asks first."):
        st.session_state[CONFIRM_DELETE] = name


def confirm_delete(summary: dict[str, Any]) -> None:
    with st.container(border=True, key="confirm_delete"):
        with_runs = st.checkbox(f"Also delete its {len(summary['trials'])} trials' run folders", key="delete_with_runs")
        yes_col, no_col = st.columns([1, 4])
        if yes_col.button("Delete the sweep", key="confirm_delete_sweep", type="primary"):
            try:
                sweeps.delete_sweep(summary["name"], runs_dir(), with_runs=with_runs)
            except UserError as exc:
                st.error(exc.sentence, icon=":material/error:")
                return
            st.session_state.pop(CONFIRM_DELETE, None)
            st.query_params.pop("sweep", None)
            st.toast(f"Sweep {summary['name']} deleted.")
            st.rerun()
        if no_col.button("Cancel", key="cancel_delete_sweep"):
            st.session_state.pop(CONFIRM_DELETE, None)
            st.rerun()


def trials_table(summary: dict[str, Any]) -> None:
    """Every trial, with why a pruned or failed one ended and a link to its run on Live run."""
    if not summary["trials"]:
        st.info("No trial yet: the first one starts in a few seconds.", icon=":material/hourglass_top:")
        return
    statuses = {t["run_id"]: runs.read_status(Path(runs_dir()) / t["run_id"])
                for t in summary["trials"] if t["run_id"] and runs.safe_run_path(runs_dir(), t["run_id"])}
    frame = pd.DataFrame(sweep_view.table_rows(summary, statuses))
    with st.container(key="sweep_trials"):  # a table that cannot be selected keeps no key of its own
        st.dataframe(frame, hide_index=True,
                     column_config={"run": st.column_config.LinkColumn("Live run", display_text="open"),
                                    "why": st.column_config.TextColumn("why", width="large")})
    ended = [t for t in summary["trials"] if t["state"] in ("pruned", "failed")]
    with st.container(key="sweep_ended_early"):
        for trial in ended:
            st.caption(f"Trial {trial['number']} {trial['state']}: {sweep_view.reason_in_words(trial['reason'])}")


def best_trial(summary: dict[str, Any]) -> None:
    """The best trial so far, and a button that opens New run filled with its settings."""
    said = sweep_view.best_sentence(summary)
    if said is None:
        return
    text_col, button_col = st.columns([4, 1.4], vertical_alignment="center")
    with text_col.container(key="sweep_best"):
        st.success(said, icon=":material/trophy:")
    if button_col.button("Train with these settings", key="train_best", type="primary", icon=":material/rocket_launch:",
                         help="Open New run with the form filled with this trial's settings, to train it again "
                              "(on more data, say)."):
        fill_form(sweep_view.trial_config(summary, summary["best"]))
        st.switch_page("pages/new_run.py")


@st.cache_data(max_entries=8, show_spinner="Working out the parameter importances…")
def _importances(name: str, folder: str, complete: tuple) -> tuple:
    """fANOVA takes a second or two: computed once per set of complete trials (`complete` is the cache key)."""
    return sweep_charts.importance_figure(sweeps.open_sweep(name, Path(folder)))


def charts(study, summary: dict[str, Any]) -> None:
    complete = tuple((t["number"], t["value"], tuple(sorted(t["params"].items())))
                     for t in summary["trials"] if t["state"] == "complete")
    figures = {"sweep_curves_chart": sweep_charts.curves_figure(summary),
               "sweep_history_chart": sweep_charts.history_figure(study),
               "sweep_parallel_chart": sweep_charts.parallel_figure(study)}
    importance, why_not = _importances(summary["name"], str(runs_dir()), complete)
    figures["sweep_importance_chart"] = importance
    shown = {key: fig for key, fig in figures.items() if fig is not None}
    for column, (key, fig) in zip(st.columns(2) * 2, shown.items()):
        column.plotly_chart(fig, key=key)
    if why_not:
        st.caption(why_not)


def worker_log(name: str) -> None:
    with st.expander("Sweep log (last lines)"):
        st.code(sweeps.read_log_tail(name, runs_dir()) or "(empty)", language=None)


def watch(name: str, seen: tuple | None) -> None:
    """Redraw the page only when the sweep changed: a trial reported, ended or started, or the sweep stopped."""
    if sweeps.change_stamp(name, runs_dir()) != seen:
        st.rerun(scope="app")


def show_sweep(name: str) -> None:
    seen = sweeps.change_stamp(name, runs_dir())  # before reading: a change during the drawing redraws again
    study = sweeps.open_sweep(name, runs_dir())
    summary = sweeps.summarise(study, runs_dir())
    header(summary)
    trials_table(summary)
    best_trial(summary)
    charts(study, summary)
    worker_log(name)
    every = sweep_view.watch_seconds(summary)
    if every is not None:
        st.fragment(watch, run_every=every)(name, seen)
