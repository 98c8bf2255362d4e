"""Plotly figures built from metrics lines; no streamlit, so they are testable as plain data."""

from __future__ import annotations

import plotly.graph_objects as go

from core.diagnostics.findings import Finding
from core.diagnostics.lr_range import format_lr, smoothed, Suggestion
from core.rundir.records import as_float, eval_points, train_points

METRIC_COLOURS = {"accuracy": "#2563eb", "f1": "#16a34a", "precision": "#d97706", "recall": "#9333ea"}
TRAIN_COLOUR, EVAL_COLOUR, BEST_COLOUR = "#64748b", "#dc2626", "#16a34a"


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
                max_steps: int | None = None) -> go.Figure:
    """Training loss per logging step and eval loss per evaluation, on one chart."""
    trains, evals = train_points(records), eval_points(records)
    fig = go.Figure()
    fig.add_trace(go.Scatter(name="training loss", x=[r["step"] for r in trains],
                             y=[as_float(r["loss"]) for r in trains], mode="lines",
                             line=dict(color=TRAIN_COLOUR, width=1.8)))
    fig.add_trace(go.Scatter(name="eval loss", x=[r["step"] for r in evals],
                             y=[as_float(r["eval_loss"]) for r in evals], mode="lines+markers",
                             line=dict(color=EVAL_COLOUR, width=2), marker=dict(size=8)))
    _mark_best(fig, best)
    _mark_findings(fig, list(findings))
    return _layout(fig, "Loss", "loss", max_steps)


def eval_metrics_figure(records: list[dict], best: dict | None = None, max_steps: int | None = None) -> go.Figure:
    """Eval accuracy, F1, precision and recall per evaluation (weighted averages)."""
    evals = eval_points(records)
    fig = go.Figure()
    for metric, colour in METRIC_COLOURS.items():
        fig.add_trace(go.Scatter(name=metric, x=[r["step"] for r in evals],
                                 y=[as_float(r.get(f"eval_{metric}")) for r in evals], mode="lines+markers",
                                 line=dict(color=colour, width=2, dash="dot" if metric == "recall" else "solid"),
                                 marker=dict(size=7)))
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
    fig.add_vline(x=max_length, line=dict(color=EVAL_COLOUR, width=2), annotation_text=f"max length {max_length}",
                  annotation_position="top right", annotation_font_color=EVAL_COLOUR)
    if suggested != max_length:
        fig.add_vline(x=suggested, line=dict(color=BEST_COLOUR, dash="dot", width=2),
                      annotation_text=f"95% fit in {suggested}", annotation_position="top left",
                      annotation_font_color=BEST_COLOUR)
    fig.update_layout(title=dict(text="Token lengths (training texts)", x=0.01, font=dict(size=15)), height=300,
                      margin=dict(l=10, r=10, t=48, b=10), template="plotly_white", xaxis_title="tokens",
                      yaxis_title="texts", showlegend=False)
    return fig
