"""Find learning rate: start a range test (from New run, or from a run whose learning rate is off), and show
its result on Live run: the loss against the learning rate, the suggested value with the reason, and a button
that carries that value to New run."""

from __future__ import annotations

import streamlit as st

from core.config.schema import RunConfig
from core.diagnostics.lr_range import format_lr, range_points, suggest_learning_rate, Suggestion
from core.rundir import runs
from core.runner import launcher
from core.views import charts
from pages.components.form_fields import fill_form
from pages.components.session import runs_dir, select_run

from core.common.errors import UserError

# Findings whose fix is a better learning rate: they offer the range test next to their own fix.
FIND_LR_CODES = ("LR_TOO_HIGH", "LR_TOO_LOW")
OPEN_NEW_RUN = "lr_find.open_new_run"
FIND_LR_HELP = ("A short test with these settings: the learning rate grows from 1e-7 to 1 over up to 100 steps "
                "while the loss is recorded, with no evaluation and no checkpoints. It ends with a suggested "
                "learning rate and the reason.")


def start_range_test(config: RunConfig, lineage: dict | None = None) -> bool:
    """Queue the range test and open it on Live run; False (with the sentence shown) when it cannot start."""
    try:
        run_dir = launcher.start_lr_find(config, runs_dir(), lineage)
    except UserError as exc:
        st.error(exc.sentence, icon=":material/error:")
        return False
    select_run(run_dir.name)
    return True


def find_for_run_button(run: runs.RunSummary, key: str) -> None:
    """On a finding about the learning rate: a range test with this run's settings (a run still training stops)."""
    if not st.button("Find learning rate", key=key, icon=":material/search_insights:",
                     help=FIND_LR_HELP + " A run still training is stopped first."):
        return
    try:
        config = RunConfig.from_dict(run.config)
    except UserError as exc:
        st.error(exc.sentence, icon=":material/error:")
        return
    if start_range_test(config, {"range_test_for": run.run_id}):
        if run.state in runs.ACTIVE_STATES:
            launcher.request_stop(run.path)
        st.rerun(scope="app")


def show_range_test(run: runs.RunSummary, records: list[dict]) -> None:
    """The loss against the learning rate; once the test has ended, the suggestion and 'Use this learning rate'."""
    points = range_points(records)
    ended = run.state not in runs.ACTIVE_STATES
    suggestion = suggest_learning_rate(points)
    st.plotly_chart(charts.lr_range_figure(points, suggestion if ended else Suggestion(None, "")),
                    key="lr_range_chart")
    if not ended:
        st.caption("The curve fills in step by step; the suggestion is read when the test ends.")
        return
    if run.state == "failed":
        return  # the finding above says why it died
    if suggestion.learning_rate is None:
        st.warning(suggestion.reason, icon=":material/search_insights:")
        return
    with st.container(key="lr_suggestion"):
        st.success(suggestion.reason, icon=":material/search_insights:")
    if st.button(f"Use this learning rate ({format_lr(suggestion.learning_rate)})", key="use_lr", type="primary",
                 icon=":material/edit_note:",
                 help="Open New run with this test's settings and the suggested learning rate filled in."):
        fill_form({**run.config, "training": {**run.config.get("training", {}),
                                              "learning_rate": suggestion.learning_rate}})
        st.session_state[OPEN_NEW_RUN] = True
        st.rerun(scope="app")


def open_new_run_if_asked() -> None:
    """Called by the page outside its fragment: a switch_page made inside the refreshing fragment left the
    browser on a blank New run page (seen in Chromium), so the fragment asks and the page switches."""
    if st.session_state.pop(OPEN_NEW_RUN, False):
        st.switch_page("pages/new_run.py")
