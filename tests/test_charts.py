"""Chart builders on made-up data: TensorBoard-style smoothing, the log axis, the evaluations table's rows and
the resource-use charts."""

import math

import pytest

from core.views import charts, compare, progress


def noisy_curve(evaluations=3):
    trains = [{"type": "train", "step": s, "epoch": s / 100, "loss": 1.0 / s + (0.3 if s % 20 else 0.0)}
              for s in range(10, 210, 10)]
    evals = [{"type": "eval", "step": s, "epoch": s / 100, "eval_loss": 0.5 + (0.1 if i % 2 else 0.0),
              "eval_accuracy": 0.7, "eval_f1": 0.6 + i / 100, "eval_precision": 0.7, "eval_recall": 0.7,
              "eval_runtime": 1.5, "eval_samples_per_second": 300.0, "eval_top_class_share": 0.4}
             for i, s in enumerate(range(200 // evaluations, 201, 200 // evaluations))]
    return trains + evals


def test_smoothing_is_tensorboards_debiased_moving_average():
    assert charts.smooth_ema([1.0, 2.0, 3.0], 0.6) == pytest.approx([1.0, 1.625, 2.3265306])
    assert charts.smooth_ema([2.0, 2.0, 2.0], 0.9) == pytest.approx([2.0, 2.0, 2.0])  # no pull towards zero


def test_weight_zero_gives_the_values_as_logged():
    values = [0.9, 0.1, 0.5, 0.3]
    assert charts.smooth_ema(values, 0.0) == values


def test_nan_points_are_skipped_not_averaged_in():
    smoothed = charts.smooth_ema([1.0, "nan", 3.0, math.inf], 0.5)
    assert smoothed[0] == 1.0 and math.isnan(smoothed[1]) and smoothed[3] == math.inf
    assert smoothed[2] == pytest.approx(charts.smooth_ema([1.0, 3.0], 0.5)[1])


def test_smoothed_loss_is_solid_with_the_raw_curve_faint_behind_it():
    fig = charts.loss_figure(noisy_curve(), smoothing=0.6)
    raw, smooth, evals = fig.data
    assert (raw.name, smooth.name, evals.name) == ("training loss (raw)", "training loss", "eval loss")
    assert raw.opacity < 0.5 and raw.showlegend is False and smooth.opacity is None
    assert list(smooth.y) == pytest.approx(charts.smooth_ema(list(raw.y), 0.6))
    assert fig.layout.yaxis.type is None
    assert [t.name for t in charts.loss_figure(noisy_curve(), smoothing=0.0).data] == ["training loss", "eval loss"]


def test_log_scale_turns_the_loss_axis_logarithmic():
    assert charts.loss_figure(noisy_curve(), log_y=True).layout.yaxis.type == "log"
    curves = {"a": noisy_curve(), "b": noisy_curve()}
    assert compare.compare_loss_figure(curves, log_y=True).layout.yaxis.type == "log"
    # A log axis on a 0-100% metric would only squash it: the toggle applies to loss.
    assert compare.compare_metric_figure(curves, "f1", log_y=True).layout.yaxis.type is None
    assert compare.compare_metric_figure(curves, "loss", log_y=True).layout.yaxis.type == "log"


def test_eval_curves_are_smoothed_only_with_enough_evaluations():
    few = charts.eval_metrics_figure(noisy_curve(evaluations=3), smoothing=0.6)
    assert [t.name for t in few.data] == ["accuracy", "f1 weighted", "precision", "recall"]
    many = charts.eval_metrics_figure(noisy_curve(evaluations=10), smoothing=0.6)
    assert [t.name for t in many.data][:2] == ["accuracy (raw)", "accuracy"]


def test_macro_f1_gets_its_own_line_where_the_run_recorded_it():
    records = [{**r, "eval_f1_macro": 0.3, "eval_f1_weighted": r["eval_f1"]} if r["type"] == "eval" else r
               for r in noisy_curve(evaluations=3)]
    fig = charts.eval_metrics_figure(records)
    assert [t.name for t in fig.data] == ["accuracy", "f1 weighted", "f1 macro", "precision", "recall"]
    assert list(fig.data[2].y) == [0.3, 0.3, 0.3]
    assert progress.format_metric("eval_f1_macro", 0.3) == "30.0%"


def test_compare_smooths_each_runs_training_loss_in_its_own_colour():
    fig = compare.compare_loss_figure({"a": noisy_curve(), "b": noisy_curve()}, smoothing=0.8)
    assert [t.name for t in fig.data] == ["a · train (raw)", "a · train", "a · eval",
                                          "b · train (raw)", "b · train", "b · eval"]
    assert fig.data[0].line.color == fig.data[1].line.color != fig.data[4].line.color
    assert fig.data[0].legendgroup == fig.data[1].legendgroup == "a"


def test_every_evaluation_is_a_row_with_the_best_one_marked():
    rows = progress.evaluation_rows(noisy_curve(evaluations=3), "f1")
    assert [(r["step"], r["best"]) for r in rows] == [(66, False), (132, False), (198, True)]
    assert set(rows[0]) == {"best", "step", "epoch", "loss", "accuracy", "f1", "precision", "recall",
                            "top class share"}  # timings are the evaluation's, not the model's
    by_loss = progress.evaluation_rows(noisy_curve(evaluations=3), "loss")
    assert [r["best"] for r in by_loss] == [True, False, False]


def samples(gpu=False):
    out = [{"time": 1000.0 + 30 * i, "step": 10 * i, "cpu_percent": 100.0 + 50 * i, "cores": 4,
            "rss_mb": 900.0 + i, "processes": 1} for i in range(5)]
    if gpu:
        for i, s in enumerate(out):
            s.update(gpu_allocated_mb=2000.0, gpu_reserved_peak_mb=3000.0, gpu_utilization=80.0 + i)
    return out


def test_cpu_chart_shows_the_share_of_the_cores_over_minutes():
    fig = charts.cpu_figure(samples())
    assert list(fig.data[0].x) == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert list(fig.data[0].y) == [0.25, 0.375, 0.5, 0.625, 0.75]  # 100% = one core of 4
    assert "4 cores" in fig.layout.title.text and fig.layout.yaxis.tickformat == ".0%"


def test_memory_chart_adds_the_gpu_lines_only_where_they_were_measured():
    assert [t.name for t in charts.memory_figure(samples()).data] == ["resident memory (process and workers)"]
    names = [t.name for t in charts.memory_figure(samples(gpu=True)).data]
    assert names == ["resident memory (process and workers)", "GPU memory allocated", "GPU memory reserved, peak"]
    assert charts.gpu_utilization_figure(samples()) is None
    assert list(charts.gpu_utilization_figure(samples(gpu=True)).data[0].y)[0] == 0.8
