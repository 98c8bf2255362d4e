"""Comparing runs: overlaid curves and a config diff, as pure functions over plain data."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

from core.rundir.records import as_float, eval_points, metric_for_task, train_points
from core.views.charts import _layout, log_scale, smoothed_traces
from core.views.progress import is_multi_label

# Plotly's default qualitative palette: six clearly different colours for up to six runs.
RUN_COLOURS = ("#636efa", "#ef553b", "#00cc96", "#ab63fa", "#ffa15a", "#19d3f3")
MAX_RUNS = 6


def _x(record: dict, axis: str) -> float | None:
    return record.get("epoch") if axis == "epoch" else record.get("step")


def _points(records: list[dict], key: str, axis: str) -> tuple[list, list]:
    xs, ys = [], []
    for record in records:
        if key in record and _x(record, axis) is not None:
            xs.append(_x(record, axis))
            ys.append(as_float(record[key]))
    return xs, ys


# Below the plot, in rows: on the right it took 40% of the chart's width with long run names.
LEGEND_BELOW = {"legend": dict(orientation="h", yanchor="top", y=-0.24, xanchor="left", x=0.0),
                "margin": dict(l=10, r=10, t=48, b=10)}


def compare_loss_figure(curves: dict[str, list[dict]], axis: str = "step", smoothing: float = 0.0,
                        log_y: bool = False) -> go.Figure:
    """Training loss (solid) and eval loss (dashed, markers) of each run, one colour per run."""
    fig = go.Figure()
    for i, (label, records) in enumerate(curves.items()):
        colour = RUN_COLOURS[i % len(RUN_COLOURS)]
        xs, ys = _points(train_points(records), "loss", axis)
        fig.add_traces(smoothed_traces(f"{label} · train", xs, ys, colour, smoothing, legendgroup=label))
        xs, ys = _points(eval_points(records), "eval_loss", axis)
        fig.add_traces(smoothed_traces(f"{label} · eval", xs, ys, colour, smoothing, markers=True,
                                       legendgroup=label, line=dict(dash="dash")))
    fig = _layout(fig, "Loss (solid: training, dashed: eval)", "loss")
    fig.update_layout(height=380, **LEGEND_BELOW)
    return log_scale(fig.update_xaxes(title_text=axis), log_y)


def compare_metric_figure(curves: dict[str, list[dict]], metric: str = "f1", axis: str = "step",
                          smoothing: float = 0.0, log_y: bool = False) -> go.Figure:
    """One eval metric (accuracy, f1, precision, recall or loss; or a multi-label one) of each run; a multi-label
    run shows its counterpart of a single-label name (f1: micro F1). Log scale applies to loss only."""
    fig = go.Figure()
    for i, (label, records) in enumerate(curves.items()):
        xs, ys = _points(eval_points(records), f"eval_{metric_for_task(metric, is_multi_label(records))}", axis)
        fig.add_traces(smoothed_traces(label, xs, ys, RUN_COLOURS[i % len(RUN_COLOURS)], smoothing, markers=True))
    fig = _layout(fig, f"Eval {metric}", metric)
    fig.update_layout(height=380, **LEGEND_BELOW)
    if metric != "loss":
        fig.update_yaxes(range=[0, 1.02], tickformat=".0%")
    return log_scale(fig.update_xaxes(title_text=axis), log_y and metric == "loss")


def flatten_config(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"training": {"learning_rate": 1e-4}} -> {"training.learning_rate": 1e-4}."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten_config(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


def config_diff(configs: dict[str, dict[str, Any]], differences_only: bool = False) -> list[dict[str, Any]]:
    """One row per config key with each run's value; `differences` is True where the runs disagree.

    A key missing from a run's config shows as None there (an older run may lack a newer field).
    """
    flats = {label: flatten_config(config) for label, config in configs.items()}
    keys = sorted({key for flat in flats.values() for key in flat})
    rows = []
    for key in keys:
        values = {label: flat.get(key) for label, flat in flats.items()}
        differs = len({repr(v) for v in values.values()}) > 1
        if differs or not differences_only:
            rows.append({"key": key, **values, "differences": differs})
    return rows
