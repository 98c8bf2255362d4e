"""Plotly figures built from metrics lines; no streamlit, so they are testable as plain data."""

from __future__ import annotations

import math

import plotly.graph_objects as go

from core.diagnostics.findings import Finding
from core.diagnostics.lr_range import format_lr, smoothed, Suggestion
from core.rundir.records import as_float, eval_points, train_points

# f1_weighted is f1 under its full name, so it gets no line of its own.
METRIC_COLOURS = {"accuracy": "#2563eb", "f1": "#16a34a", "f1_macro": "#db2777", "precision": "#d97706",
                  "recall": "#9333ea"}
METRIC_NAMES = {"f1": "f1 weighted", "f1_macro": "f1 macro"}
TRAIN_COLOUR, EVAL_COLOUR, BEST_COLOUR = "#64748b", "#dc2626", "#16a34a"
# TensorBoard's default smoothing weight; 0 shows the raw curve only.
DEFAULT_SMOOTHING, MAX_SMOOTHING = 0.6, 0.99
# Eval curves are smoothed only from this many evaluations on: a few points are each a real measurement, and an
# average over three of them mostly lags.
MIN_POINTS_TO_SMOOTH = 10
RAW_OPACITY = 0.25


def smooth_ema(values: list[float], weight: float) -> list[float]:
    """TensorBoard's smoothing: a debiased exponential moving average; non-finite points stay as they are and
    do not enter the average. Weight 0 returns the values unchanged."""
    weight = min(max(float(weight), 0.0), MAX_SMOOTHING)
    smoothed, last, count = [], 0.0, 0
    for value in map(as_float, values):
        if not math.isfinite(value):
            smoothed.append(value)
            continue
        last = last * weight + (1 - weight) * value
        count += 1
        # Dividing by 1 - w^n undoes the pull towards the zero the average starts from.
        smoothed.append(last / (1 - weight ** count))
    return smoothed


def smoothed_traces(name: str, xs: list, ys: list[float], colour: str, smoothing: float, markers: bool = False,
                    **common) -> list[go.Scatter]:
    """One solid line; with smoothing, the smoothed line solid and the raw values faint behind it."""
    common.setdefault("legendgroup", name)  # the legend hides the raw line with its smoothed one
    mode = "lines+markers" if markers else "lines"
    width = 2 if markers else 1.8
    line = dict(color=colour, width=width, **common.pop("line", {}))
    marker = dict(size=8 if markers else 6)
    if smoothing <= 0 or (markers and len(ys) < MIN_POINTS_TO_SMOOTH):
        return [go.Scatter(name=name, x=xs, y=ys, mode=mode, line=line, marker=marker, **common)]
    raw = go.Scatter(name=f"{name} (raw)", x=xs, y=ys, mode=mode, line={**line, "width": 1}, marker=marker,
                     opacity=RAW_OPACITY, showlegend=False, **common)
    return [raw, go.Scatter(name=name, x=xs, y=smooth_ema(ys, smoothing), mode="lines", line=line, **common)]


def log_scale(fig: go.Figure, on: bool) -> go.Figure:
    """A logarithmic y axis (losses that fall by orders of magnitude)."""
    return fig.update_yaxes(type="log", exponentformat="power") if on else fig


def _layout(fig: go.Figure, title: str, y_title: str, max_steps: int | None = None) -> go.Figure:
    fig.update_layout(title=dict(text=title, x=0.01, font=dict(size=15)), height=320,
                      margin=dict(l=10, r=10, t=48, b=10), hovermode="x unified",
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1.0),
                      xaxis_title="step", yaxis_title=y_title, template="plotly_white")
    if max_steps:  # the whole run's width, so the curve shows how far along it is
        fig.update_xaxes(range=[0, max_steps * 1.02])
    return fig


def _mark_best(fig: go.Figure, best: dict | None) -> None:
    if best:
        fig.add_vline(x=best["step"], line=dict(color=BEST_COLOUR, dash="dot", width=1.5),
                      annotation_text="best", annotation_position="top left",
                      annotation_font_color=BEST_COLOUR)


def _mark_findings(fig: go.Figure, findings: list[Finding]) -> None:
    for finding in findings:
        if finding.step is not None:
            fig.add_vline(x=finding.step, line=dict(color="#f59e0b", dash="dash", width=1.5),
                          annotation_text=finding.code.replace("_", " ").lower(),
                          annotation_position="bottom right", annotation_font_color="#b45309")


def loss_figure(records: list[dict], best: dict | None = None, findings: list[Finding] = (),
                max_steps: int | None = None, smoothing: float = 0.0, log_y: bool = False) -> go.Figure:
    """Training loss per logging step and eval loss per evaluation, on one chart (smoothed when asked)."""
    trains, evals = train_points(records), eval_points(records)
    fig = go.Figure()
    fig.add_traces(smoothed_traces("training loss", [r["step"] for r in trains],
                                   [as_float(r["loss"]) for r in trains], TRAIN_COLOUR, smoothing))
    fig.add_traces(smoothed_traces("eval loss", [r["step"] for r in evals],
                                   [as_float(r["eval_loss"]) for r in evals], EVAL_COLOUR, smoothing, markers=True))
    _mark_best(fig, best)
    _mark_findings(fig, list(findings))
    return log_scale(_layout(fig, "Loss", "loss", max_steps), log_y)


def eval_metrics_figure(records: list[dict], best: dict | None = None, max_steps: int | None = None,
                        smoothing: float = 0.0) -> go.Figure:
    """Eval accuracy, F1 (weighted and, where recorded, macro), precision and recall per evaluation (the last two
    weighted averages)."""
    evals = eval_points(records)
    fig = go.Figure()
    for metric, colour in METRIC_COLOURS.items():
        if evals and not any(f"eval_{metric}" in r for r in evals):
            continue  # a run from before macro F1 was recorded
        fig.add_traces(smoothed_traces(METRIC_NAMES.get(metric, metric), [r["step"] for r in evals],
                                       [as_float(r.get(f"eval_{metric}")) for r in evals], colour, smoothing,
                                       markers=True, line=dict(dash="dot" if metric == "recall" else "solid")))
    _mark_best(fig, best)
    # Weighted recall equals accuracy by definition; the dotted line keeps both visible.
    fig = _layout(fig, "Eval metrics", "score", max_steps)
    fig.update_yaxes(range=[0, 1.02], tickformat=".0%")
    return fig


def learning_rate_figure(records: list[dict], max_steps: int | None = None) -> go.Figure:
    trains = [r for r in train_points(records) if "learning_rate" in r]
    fig = go.Figure(go.Scatter(name="learning rate", x=[r["step"] for r in trains],
                               y=[as_float(r["learning_rate"]) for r in trains], mode="lines",
                               line=dict(color="#0891b2", width=1.8)))
    fig = _layout(fig, "Learning rate", "learning rate", max_steps)
    fig.update_yaxes(exponentformat="e")
    return fig


def lr_range_figure(points: list[tuple[float, float]], suggestion: Suggestion) -> go.Figure:
    """The range test's loss against the learning rate (log scale), smoothed as the suggestion reads it, with the
    suggested rate marked."""
    lrs, losses = [lr for lr, _ in points], [loss for _, loss in points]
    fig = go.Figure()
    fig.add_trace(go.Scatter(name="loss", x=lrs, y=losses, mode="markers",
                             marker=dict(color=TRAIN_COLOUR, size=5, opacity=0.6)))
    fig.add_trace(go.Scatter(name="smoothed", x=lrs, y=smoothed(losses) if losses else [], mode="lines",
                             line=dict(color=EVAL_COLOUR, width=2)))
    if suggestion.learning_rate and losses:
        # A trace, not add_vline: shapes and their annotations on a log axis take log10 positions.
        fig.add_trace(go.Scatter(name=f"suggested {format_lr(suggestion.learning_rate)}",
                                 x=[suggestion.learning_rate] * 2, y=[min(losses), max(losses)], mode="lines",
                                 line=dict(color=BEST_COLOUR, dash="dot", width=2)))
    fig = _layout(fig, "Loss against learning rate", "loss")
    fig.update_xaxes(type="log", title="learning rate", exponentformat="e")
    fig.update_layout(hovermode="closest")
    return fig


def confusion_figure(results: dict) -> go.Figure:
    """Confusion matrix of the saved model on the eval set; rows are true labels."""
    names = results["label_names"]
    matrix = results["confusion_matrix"]
    fig = go.Figure(go.Heatmap(z=matrix, x=names, y=names, colorscale="Blues", showscale=False,
                               text=matrix, texttemplate="%{text}",
                               hovertemplate="true %{y}<br>predicted %{x}<br>%{z} examples<extra></extra>"))
    fig.update_layout(title=dict(text="Confusion matrix (eval set)", x=0.01, font=dict(size=15)), height=360,
                      margin=dict(l=10, r=10, t=48, b=10), template="plotly_white",
                      xaxis_title="predicted", yaxis_title="true", yaxis_autorange="reversed")
    return fig


def class_balance_figure(summary: dict) -> go.Figure:
    """Examples per class in the train and eval subsets, side by side."""
    names = summary["label_names"]
    fig = go.Figure()
    for part, colour in (("train", TRAIN_COLOUR), ("eval", EVAL_COLOUR)):
        counts = summary[f"{part}_counts"]
        fig.add_trace(go.Bar(name=part, x=names, y=[counts.get(n, 0) for n in names], marker_color=colour,
                             hovertemplate="%{x}: %{y} " + part + " examples<extra></extra>"))
    fig.update_layout(barmode="group", title=dict(text="Class balance", x=0.01, font=dict(size=15)), height=300,
                      margin=dict(l=10, r=10, t=48, b=10), template="plotly_white", yaxis_title="examples",
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1.0))
    return fig


def token_length_figure(lengths: list[int], max_length: int, suggested: int) -> go.Figure:
    """Histogram of token counts, with the chosen max length and the one covering 95% of texts."""
    fig = go.Figure(go.Histogram(x=lengths, nbinsx=40, marker_color="#0891b2", name="texts",
                                 hovertemplate="%{x} tokens: %{y} texts<extra></extra>"))
    # The line labels sit above the plot area (yanchor bottom), where they cannot cover the bars.
    fig.add_vline(x=max_length, line=dict(color=EVAL_COLOUR, width=2), annotation_text=f"max length {max_length}",
                  annotation_position="top right", annotation_yanchor="bottom", annotation_font_color=EVAL_COLOUR)
    if suggested != max_length:
        fig.add_vline(x=suggested, line=dict(color=BEST_COLOUR, dash="dot", width=2),
                      annotation_text=f"95% fit in {suggested}", annotation_position="top left",
                      annotation_yanchor="bottom", annotation_font_color=BEST_COLOUR)
    fig.update_layout(title=dict(text="Token lengths (training texts)", x=0.01, y=0.97, font=dict(size=15)),
                      height=300, margin=dict(l=10, r=10, t=64, b=10), template="plotly_white", xaxis_title="tokens",
                      yaxis_title="texts", showlegend=False)
    return fig


def _minutes(samples: list[dict]) -> list[float]:
    start = samples[0]["time"] if samples else 0.0
    return [round((s["time"] - start) / 60, 3) for s in samples]


def _resource_layout(fig: go.Figure, title: str, y_title: str) -> go.Figure:
    fig = _layout(fig, title, y_title)
    return fig.update_layout(height=280).update_xaxes(title_text="minutes since training started", rangemode="tozero")


def cpu_figure(samples: list[dict]) -> go.Figure:
    """CPU use of the training process and its workers over time, as a share of the cores it may use."""
    cores = max(1, int((samples[-1].get("cores") if samples else 1) or 1))
    shares = [as_float(s.get("cpu_percent")) / 100 / cores for s in samples]
    fig = go.Figure(go.Scatter(name="CPU", x=_minutes(samples), y=shares, mode="lines", fill="tozeroy",
                               line=dict(color="#0891b2", width=1.8)))
    fig = _resource_layout(fig, f"CPU use (100% = all {cores} cores)", "CPU")
    top = max([1.0, *(v for v in shares if math.isfinite(v))])
    return fig.update_yaxes(range=[0, top * 1.02], tickformat=".0%")


MEMORY_SERIES = (("rss_mb", "resident memory (process and workers)", "#64748b"),
                 ("gpu_allocated_mb", "GPU memory allocated", "#dc2626"),
                 ("gpu_reserved_peak_mb", "GPU memory reserved, peak", "#f59e0b"))


def memory_figure(samples: list[dict]) -> go.Figure:
    """Resident memory of the training process and its workers; on CUDA also the GPU memory PyTorch holds."""
    fig = go.Figure()
    minutes = _minutes(samples)
    for key, name, colour in MEMORY_SERIES:
        if any(key in s for s in samples) or key == "rss_mb":
            fig.add_trace(go.Scatter(name=name, x=minutes, y=[as_float(s.get(key)) for s in samples], mode="lines",
                                     line=dict(color=colour, width=1.8)))
    return _resource_layout(fig, "Memory", "MB").update_yaxes(rangemode="tozero")


def gpu_utilization_figure(samples: list[dict]) -> go.Figure | None:
    """The GPU's utilisation over time, or None when it was not measured (no CUDA, or no pynvml)."""
    if not any("gpu_utilization" in s for s in samples):
        return None
    fig = go.Figure(go.Scatter(name="GPU", x=_minutes(samples), y=[as_float(s.get("gpu_utilization")) / 100
                                                                    for s in samples],
                               mode="lines", fill="tozeroy", line=dict(color="#16a34a", width=1.8)))
    return _resource_layout(fig, "GPU utilisation", "GPU").update_yaxes(range=[0, 1.02], tickformat=".0%")
