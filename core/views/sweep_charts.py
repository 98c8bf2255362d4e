"""The Sweep page's figures: each trial's evaluations (pruned curves stop where the trial was stopped), and
Optuna's own optimisation history, parallel coordinates and parameter importances, in the form's words."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

from core.views.sweep_view import label

PRUNED_COLOUR, COMPLETE_COLOUR, OTHER_COLOUR = "#dc2626", "#2563eb", "#94a3b8"
HEIGHT = 340
# fANOVA fits a random forest: seeded, so the bars do not move from one redraw to the next.
IMPORTANCE_SEED = 0
MIN_TRIALS_FOR_IMPORTANCE = 2


def _layout(fig: go.Figure, title: str) -> go.Figure:
    fig.update_layout(title=title, height=HEIGHT, margin={"l": 10, "r": 10, "t": 50, "b": 10})
    return fig


def curves_figure(summary: dict[str, Any]) -> go.Figure | None:
    """The objective at each evaluation, one line per trial; a pruned trial's line ends with a cross."""
    states = {t["number"]: t["state"] for t in summary["trials"]}
    if not summary["curves"]:
        return None
    fig = go.Figure()
    for number, points in sorted(summary["curves"].items()):
        state = states.get(number, "failed")
        colour = {"pruned": PRUNED_COLOUR, "complete": COMPLETE_COLOUR}.get(state, OTHER_COLOUR)
        steps, values = [p[0] for p in points], [p[1] for p in points]
        symbols = ["circle"] * (len(points) - 1) + ["x" if state == "pruned" else "circle"]
        fig.add_trace(go.Scatter(x=steps, y=values, mode="lines+markers", name=f"trial {number} ({state})",
                                 line={"color": colour, "dash": "dot" if state == "pruned" else "solid"},
                                 marker={"symbol": symbols, "size": [7] * (len(points) - 1) + [12]}))
    fig.update_xaxes(title="evaluation", dtick=1)
    fig.update_yaxes(title=summary["metric"])
    return _layout(fig, "Evaluations of each trial")


def _complete(study) -> list:
    import optuna

    return study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))


def history_figure(study) -> go.Figure | None:
    """Optuna's optimisation history: each complete trial's value and the best so far; None before the first."""
    from optuna.visualization import plot_optimization_history

    if not _complete(study):
        return None
    return _layout(plot_optimization_history(study), "Optimisation history")


def parallel_figure(study) -> go.Figure | None:
    """Optuna's parallel coordinates of the complete trials, the axes named as on the New run form."""
    from optuna.visualization import plot_parallel_coordinate

    if not _complete(study):
        return None
    fig = plot_parallel_coordinate(study)
    for trace in fig.data:
        for dimension in getattr(trace, "dimensions", None) or []:
            dimension.label = label(dimension.label) if "." in str(dimension.label) else dimension.label
    return _layout(fig, "Parallel coordinates")


def importance_figure(study) -> tuple[go.Figure | None, str | None]:
    """Optuna's parameter importances (fANOVA), or a sentence saying why there are none yet."""
    from optuna.importance import FanovaImportanceEvaluator
    from optuna.visualization import plot_param_importances

    done = _complete(study)
    if len(done) < MIN_TRIALS_FOR_IMPORTANCE:
        return None, (f"Parameter importances need at least {MIN_TRIALS_FOR_IMPORTANCE} complete trials; "
                      f"{len(done)} so far.")
    if len({tuple(sorted(t.params.items())) for t in done}) < 2:
        return None, "Parameter importances need complete trials with different settings; so far they all had the same."
    if len({t.value for t in done}) < 2:
        return None, "Parameter importances need complete trials with different results; so far they all scored the same."
    try:
        fig = plot_param_importances(study, evaluator=FanovaImportanceEvaluator(seed=IMPORTANCE_SEED))
    except RuntimeError:  # fANOVA's forest found no variance to share out
        return None, "Parameter importances cannot be told apart yet: the results vary too little."
    for trace in fig.data:
        trace.y = [label(name) for name in trace.y]
    return _layout(fig, "Parameter importances"), None
