"""Comparison helpers: the config diff and the overlaid curves, on made-up data."""

from core.views import compare


def curve(final_loss):
    trains = [{"type": "train", "step": s, "epoch": s / 10, "loss": 1.0 - s / 100 * (1 - final_loss)}
              for s in (5, 10, 15, 20)]
    evals = [{"type": "eval", "step": s, "epoch": s / 10, "eval_loss": 0.9, "eval_f1": 0.5 + s / 100}
             for s in (10, 20)]
    return trains + evals


def test_config_diff_marks_only_the_keys_that_differ():
    a = {"name": "a", "data": {"name": "tweet-sentiment", "train_size": 2000},
         "training": {"learning_rate": 1e-4, "extra_only_here": 1}}
    b = {"name": "b", "data": {"name": "tweet-sentiment", "train_size": 2000}, "training": {"learning_rate": 5e-5}}
    everything = compare.config_diff({"run a": a, "run b": b})
    assert [r["key"] for r in everything] == ["data.name", "data.train_size", "name", "training.extra_only_here",
                                              "training.learning_rate"]
    diffs = compare.config_diff({"run a": a, "run b": b}, differences_only=True)
    assert [(r["key"], r["run a"], r["run b"]) for r in diffs] == [
        ("name", "a", "b"), ("training.extra_only_here", 1, None), ("training.learning_rate", 1e-4, 5e-5)]


def test_identical_configs_have_no_differences():
    config = {"data": {"seed": 1}, "training": {"learning_rate": 1e-4}}
    assert compare.config_diff({"x": config, "y": dict(config)}, differences_only=True) == []


def test_loss_overlay_has_a_train_and_an_eval_trace_per_run_in_one_colour_each():
    fig = compare.compare_loss_figure({"a": curve(0.2), "b": curve(0.6)})
    assert [t.name for t in fig.data] == ["a · train", "a · eval", "b · train", "b · eval"]
    assert fig.data[0].line.color == fig.data[1].line.color != fig.data[2].line.color
    assert list(fig.data[1].x) == [10, 20] and fig.layout.xaxis.title.text == "step"


def test_curves_can_be_drawn_per_epoch():
    fig = compare.compare_metric_figure({"a": curve(0.2), "b": curve(0.6)}, metric="f1", axis="epoch")
    assert list(fig.data[0].x) == [1.0, 2.0] and list(fig.data[0].y) == [0.6, 0.7]
    assert fig.layout.xaxis.title.text == "epoch" and fig.layout.title.text == "Eval f1"


def test_the_legend_sits_below_the_chart_not_beside_it():
    from core.views.compare import compare_loss_figure, compare_metric_figure

    curves = {"a rather long run name number one": [{"type": "train", "step": 1, "epoch": 0.1, "loss": 1.0}],
              "another long run name": [{"type": "eval", "step": 1, "epoch": 0.1, "eval_loss": 1.0, "eval_f1": 0.5}]}
    for fig in (compare_loss_figure(curves), compare_metric_figure(curves)):
        legend = fig.layout.legend
        assert legend.orientation == "h" and legend.y < 0  # the plot keeps the full width


def test_token_length_labels_sit_above_the_bars():
    from core.views.charts import token_length_figure

    fig = token_length_figure([10, 20, 30, 40, 50, 60], max_length=128, suggested=56)
    labels = {a.text: a for a in fig.layout.annotations}
    assert set(labels) == {"max length 128", "95% fit in 56"}
    assert all(a.yanchor == "bottom" and a.y == 1 for a in labels.values())  # over the plot area's top edge
