"""The curve controls Live run and Compare share: TensorBoard-style smoothing and a log-scale loss axis."""

from __future__ import annotations

import streamlit as st

from core.views.charts import DEFAULT_SMOOTHING, MAX_SMOOTHING


def smoothing_controls(prefix: str) -> tuple[float, bool]:
    """A smoothing slider and a log-scale toggle side by side; returns (weight, log scale on)."""
    slider_col, toggle_col, _ = st.columns([2, 1, 3], vertical_alignment="bottom")
    weight = slider_col.slider("Smoothing", 0.0, MAX_SMOOTHING, DEFAULT_SMOOTHING, 0.01, key=f"{prefix}_smoothing",
                               help="An exponential moving average, as in TensorBoard: 0 shows the values as "
                                    "logged, higher is smoother. The raw curve stays faint behind the smoothed "
                                    "one. Eval curves are smoothed from 10 evaluations on.")
    log_y = toggle_col.toggle("Log scale", key=f"{prefix}_log_y",
                              help="A logarithmic loss axis, for losses that fall by orders of magnitude.")
    return weight, log_y
