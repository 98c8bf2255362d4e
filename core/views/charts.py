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
MULTI_LABEL_COLOURS = {"subset_accuracy": "#2563eb", "f1_micro": "#16a34a", "f1_macro": "#0d9488",
                       "precision_micro": "#d97706", "recall_micro": "#9333ea"}
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


LOG_AXIS = dict(type="log", exponentformat="power")


def log_scale(fig: go.Figure, on: bool) -> go.Figure:
    """A logarithmic y axis (losses that fall by orders of magnitude)."""
    return fig.update_yaxes(LOG_AXIS) if on else fig


def _layout(fig: go.Figure, title: str, y_title: str, max_steps: int | None = None, *, height: int = 320,
            x_title: str = "step", xaxis: dict | None = None, yaxis: dict | None = None, **extra) -> go.Figure:
    """Title, size, legend and both axes set in one assignment. Plotly's update_layout parses every key path and
    costs about ten times more, which a Live run tab would pay on every redraw of a running run."""
    x = {"title": {"text": x_title}, **(xaxis or {})}
    if max_steps:  # the whole run's width, so the curve shows how far along it is
        x["range"] = [0, max_steps * 1.02]
    fig.layout = dict(title=dict(text=title, x=0.01, font=dict(size=15)), height=height,
                      margin=dict(l=10, r=10, t=48, b=10), hovermode="x unified",
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1.0),
                      xaxis=x, yaxis={"title": {"text": y_title}, **(yaxis or {})},
                      shapes=fig.layout.shapes, annotations=fig.layout.annotations, **extra)
    return fig


def _vline(fig: go.Figure, x: float, colour: str, dash: str, text: str, side: str, top: bool) -> None:
    """A dotted vertical marker with its label, added as plain shapes (add_vline is slow on every redraw)."""
    fig.layout.shapes += (dict(type="line", x0=x, x1=x, xref="x", y0=0, y1=1, yref="paper",
                               line=dict(color=colour, dash=dash, width=1.5)),)
    fig.layout.annotations += (dict(x=x, xref="x", y=1 if top else 0, yref="paper", text=text, showarrow=False,
                                    xanchor="right" if side == "left" else "left",
                                    yanchor="top" if top else "bottom", font=dict(color=colour)),)


def _mark_best(fig: go.Figure, best: dict | None) -> None:
    if best:
        _vline(fig, best["step"], BEST_COLOUR, "dot", "best", "left", top=True)


def _mark_findings(fig: go.Figure, findings: list[Finding]) -> None:
    for finding in findings:
        if finding.step is not None:
            _vline(fig, finding.step, "#b45309", "dash", finding.code.replace("_", " ").lower(), "right", top=False)


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
    return _layout(fig, "Loss", "loss", max_steps, yaxis=LOG_AXIS if log_y else None)


def eval_metrics_figure(records: list[dict], best: dict | None = None, max_steps: int | None = None,
                        smoothing: float = 0.0) -> go.Figure:
    """Eval accuracy, F1 (weighted and, where recorded, macro), precision and recall per evaluation (the last two
    weighted averages); for a multi-label run micro and macro F1, micro precision and recall, and subset accuracy."""
    evals = eval_points(records)
    multi_label = any("eval_f1_micro" in e for e in evals)
    fig = go.Figure()
    for metric, colour in (MULTI_LABEL_COLOURS if multi_label else METRIC_COLOURS).items():
        if evals and not any(f"eval_{metric}" in r for r in evals):
            continue  # a run from before macro F1 was recorded
        name = metric if multi_label else METRIC_NAMES.get(metric, metric)
        fig.add_traces(smoothed_traces(name, [r["step"] for r in evals],
                                       [as_float(r.get(f"eval_{metric}")) for r in evals], colour, smoothing,
                                       markers=True, line=dict(dash="dot" if metric == "recall" else "solid")))
    _mark_best(fig, best)
    # Weighted recall equals accuracy by definition; the dotted line keeps both visible.
    return _layout(fig, "Eval metrics", "score", max_steps, yaxis=dict(range=[0, 1.02], tickformat=".0%"))


def learning_rate_figure(records: list[dict], max_steps: int | None = None) -> go.Figure:
    trains = [r for r in train_points(records) if "learning_rate" in r]
    fig = go.Figure(go.Scatter(name="learning rate", x=[r["step"] for r in trains],
                               y=[as_float(r["learning_rate"]) for r in trains], mode="lines",
                               line=dict(color="#0891b2", width=1.8)))
    return _layout(fig, "Learning rate", "learning rate", max_steps, yaxis=dict(exponentformat="e"))


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
                      margin=dict(l=10, r=10, t=48, b=10),
                      xaxis_title="predicted", yaxis_title="true", yaxis_autorange="reversed")
    return fig


def co_occurrence_figure(results: dict) -> go.Figure:
    """How many eval texts carry both labels (a multi-label run's view instead of a confusion matrix); the
    diagonal is how many carry each label."""
    names, matrix = results["label_names"], results["co_occurrence"]
    fig = go.Figure(go.Heatmap(z=matrix, x=names, y=names, colorscale="Blues", showscale=False, text=matrix,
                               texttemplate="%{text}",
                               hovertemplate="%{y} and %{x}: %{z} eval texts<extra></extra>"))
    fig.update_layout(title=dict(text="Labels carried together (eval set)", x=0.01, font=dict(size=15)),
                      height=360, margin=dict(l=10, r=10, t=48, b=10),
                      yaxis_autorange="reversed")
    return fig


def labels_per_text_figure(summary: dict) -> go.Figure:
    """How many labels a training text carries (a multi-label data set's preview)."""
    counts = summary.get("labels_per_text") or {}
    fig = go.Figure(go.Bar(x=list(counts), y=list(counts.values()), marker_color=TRAIN_COLOUR,
                           hovertemplate="%{y} texts carry %{x} labels<extra></extra>"))
    fig.update_layout(title=dict(text="Labels per text (train)", x=0.01, font=dict(size=15)), height=300,
                      margin=dict(l=10, r=10, t=48, b=10), xaxis_title="labels",
                      yaxis_title="texts", xaxis_type="category")
    return fig


def class_balance_figure(summary: dict) -> go.Figure:
    """Examples per class in the train and eval subsets, side by side."""
    names = summary["label_names"]
    fig = go.Figure()
    for part, colour in (("train", TRAIN_COLOUR), ("eval", EVAL_COLOUR)):
        counts = summary[f"{part}_counts"]
        fig.add_trace(go.Bar(name=part, x=names, y=[counts.get(n, 0) for n in names], marker_color=colour,
                             hovertemplate="%{x}: %{y} " + part + " examples<extra></extra>"))
    multi = summary.get("task") == "multi_label"
    fig.update_layout(barmode="group", title=dict(text="Texts per label" if multi else "Class balance", x=0.01,
                                                  font=dict(size=15)), height=300,
                      margin=dict(l=10, r=10, t=48, b=10),
                      yaxis_title="texts" if multi else "examples",
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
                      height=300, margin=dict(l=10, r=10, t=64, b=10), xaxis_title="tokens",
                      yaxis_title="texts", showlegend=False)
    return fig


def _minutes(samples: list[dict]) -> list[float]:
    start = samples[0]["time"] if samples else 0.0
    return [round((s["time"] - start) / 60, 3) for s in samples]


def _resource_layout(fig: go.Figure, title: str, y_title: str, **yaxis) -> go.Figure:
    return _layout(fig, title, y_title, height=280, x_title="minutes since training started",
                   xaxis=dict(rangemode="tozero"), yaxis=yaxis)


def cpu_figure(samples: list[dict]) -> go.Figure:
    """CPU use of the training process and its workers over time, as a share of the cores it may use."""
    cores = max(1, int((samples[-1].get("cores") if samples else 1) or 1))
    shares = [as_float(s.get("cpu_percent")) / 100 / cores for s in samples]
    fig = go.Figure(go.Scatter(name="CPU", x=_minutes(samples), y=shares, mode="lines", fill="tozeroy",
                               line=dict(color="#0891b2", width=1.8)))
    top = max([1.0, *(v for v in shares if math.isfinite(v))])
    return _resource_layout(fig, f"CPU use (100% = all {cores} cores)", "CPU", range=[0, top * 1.02],
                            tickformat=".0%")


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
    return _resource_layout(fig, "Memory", "MB", rangemode="tozero")


def gpu_utilization_figure(samples: list[dict]) -> go.Figure | None:
    """The GPU's utilisation over time, or None when it was not measured (no CUDA, or no pynvml)."""
    if not any("gpu_utilization" in s for s in samples):
        return None
    fig = go.Figure(go.Scatter(name="GPU", x=_minutes(samples), y=[as_float(s.get("gpu_utilization")) / 100
                                                                    for s in samples],
                               mode="lines", fill="tozeroy", line=dict(color="#16a34a", width=1.8)))
    return _resource_layout(fig, "GPU utilisation", "GPU", range=[0, 1.02], tickformat=".0%")
