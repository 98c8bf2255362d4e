"""The Live run page's curve controls and table of evaluations, on run folders written by hand."""

import json
import os

from tests.test_page_live_run import RESULTS, make_run, open_live, overfitting_curve


def figure(app, key):
    found = [c for c in app.get("plotly_chart") if c.proto.id.endswith("-" + key)]  # ids end with the key
    assert len(found) == 1, key
    return json.loads(found[0].proto.spec)


def eval_table(app):
    frames = [df.value for df in app.dataframe if "step" in df.value.columns]
    assert len(frames) == 1
    return frames[0]


def test_loss_is_smoothed_by_default_and_the_controls_redraw_it(runs_dir):
    make_run(runs_dir, "20260101-000000", "running", overfitting_curve(), pid=os.getpid())
    app = open_live()
    assert not app.exception
    names = [t["name"] for t in figure(app, "loss_chart")["data"]]
    assert names[:2] == ["training loss (raw)", "training loss"]
    app.slider(key="live_smoothing").set_value(0.0).run()
    assert [t["name"] for t in figure(app, "loss_chart")["data"]] == ["training loss", "eval loss"]
    app.toggle(key="live_log_y").set_value(True).run()
    assert figure(app, "loss_chart")["layout"]["yaxis"]["type"] == "log"


def test_every_evaluation_is_listed_with_the_best_marked(runs_dir):
    make_run(runs_dir, "20260101-000000", "completed", overfitting_curve(), results=RESULTS)
    app = open_live()
    table = eval_table(app)
    assert list(table["step"]) == [40, 80, 120]
    assert list(table["best"]) == ["★ best", "", ""]  # the F1 of step 40 is the highest
    assert list(table["loss"]) == [0.48, 0.55, 0.72] and {"accuracy", "f1", "precision", "recall"} <= set(table)
