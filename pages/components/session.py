"""Shared page helpers: where runs live and which run is selected. No training logic here."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from core.rundir import runs

# The New run form's settings as a config dict after its last check (None while the form has a problem): the
# Sweep page starts from them.
NEW_RUN_CONFIG = "new_run.config"


_LEFT_PAGES_FOLDER_MODE = []  # once per process: the first request after a start


def through_app_navigation() -> None:
    """Each page calls this first. When the first request after a (re)start asks for a page's own address (a
    bookmark, a tab left open across a restart), Streamlit sees the `pages/` folder and runs that file alone, in its
    older multipage mode, without app.py's navigation and layout, and stays in that mode for every later tab
    (streamlit#8860). Leave that mode for good and run again through app.py, which shows the same page.
    Only once per process: Streamlit's AppTest runs page files alone on purpose, and resets the mode every run."""
    from streamlit.runtime.pages_manager import PagesManager  # Streamlit's switch between its two modes

    if PagesManager.uses_pages_directory and not _LEFT_PAGES_FOLDER_MODE:
        _LEFT_PAGES_FOLDER_MODE.append(True)
        PagesManager.uses_pages_directory = False
        st.rerun()


def runs_dir() -> Path:
    return runs.default_runs_dir()


def select_run(run_id: str) -> None:
    """Remember the run in the session and in the URL, so a browser reload shows it again."""
    st.session_state["run_id"] = run_id
    st.query_params["run"] = run_id
    # The run picker may already be drawn in this script run; it takes the new value on the next one.
    st.session_state["pending_run"] = run_id
