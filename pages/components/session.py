"""Shared page helpers: where runs live and which run is selected. No training logic here."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from core.rundir import runs

# The New run form's settings as a config dict after its last check (None while the form has a problem): the
# Sweep page starts from them.
NEW_RUN_CONFIG = "new_run.config"


def runs_dir() -> Path:
    return runs.default_runs_dir()


def select_run(run_id: str) -> None:
    """Remember the run in the session and in the URL, so a browser reload shows it again."""
    st.session_state["run_id"] = run_id
    st.query_params["run"] = run_id
    # The run picker may already be drawn in this script run; it takes the new value on the next one.
    st.session_state["pending_run"] = run_id
