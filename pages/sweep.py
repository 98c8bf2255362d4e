"""Sweep: search settings automatically. Set a sweep up from the New run form or an earlier run, then follow its
trials live, stop, resume or delete it, and train again with the best trial's settings."""

import streamlit as st

from core.runner import process
from core.search import sweeps
from pages.components.session import runs_dir, through_app_navigation
from pages.components.sweep_results import show_sweep
from pages.components.sweep_setup import PENDING_SWEEP, setup_form

through_app_navigation()

NEW_SWEEP = ""


def pick_sweep() -> str | None:
    """The sweep named in the URL (a reload), one just started, else the newest; None for a new one."""
    found = list(reversed(sweeps.list_sweeps(runs_dir())))
    labels = {NEW_SWEEP: "New sweep", **{s["name"]: f"{s['name']} · {s['trials']} of {s['n_trials']} trials"
                                          for s in found}}
    pending = st.session_state.pop(PENDING_SWEEP, None)
    asked = st.query_params.get("sweep")
    if asked and asked not in labels and not pending:
        st.warning(f"There is no sweep '{asked}' (it may have been deleted). Pick one below, or set up a new one.",
                   icon=":material/search_off:")
        del st.query_params["sweep"]
    if pending or st.session_state.get("sweep_picker") not in labels:
        wanted = pending or asked or (found[0]["name"] if found else NEW_SWEEP)
        st.session_state["sweep_picker"] = wanted if wanted in labels else NEW_SWEEP
    chosen = st.selectbox("Sweep", list(labels), format_func=labels.get, key="sweep_picker")
    if chosen == NEW_SWEEP:
        if "sweep" in st.query_params:
            del st.query_params["sweep"]
        return None
    if st.query_params.get("sweep") != chosen:
        st.query_params["sweep"] = chosen
    return chosen


process.reap_children()  # a sweep worker this dashboard started and that has ended
st.title("Sweep")
picked = pick_sweep()
if picked is None:
    setup_form()
else:
    show_sweep(picked)
