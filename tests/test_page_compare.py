"""The Compare page: pick runs, overlaid curves per step or epoch, best metric per run, config diff."""

import json

from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT
from tests.test_page_live_run import RESULTS, make_run, overfitting_curve, stuck_curve


def open_compare():
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    app.switch_page("pages/compare.py")
    return app.run()


def two_runs(runs_dir):
    make_run(runs_dir, "20260101-000000-a", "completed", overfitting_curve(), results=RESULTS, created_at=1.0)
    slow = make_run(runs_dir, "20260102-000000-b", "failed", stuck_curve(), created_at=2.0,
                    error={"code": "X", "message": "y"})
    config = json.loads((slow / "config.json").read_text())
    config["name"], config["training"]["learning_rate"] = "high lr", 1e-2
    (slow / "config.json").write_text(json.dumps(config))


def chart(app, key):
    return json.loads(app.get("plotly_chart")[["compare_loss_chart", "compare_metric_chart"].index(key)].proto.spec)


def test_needs_two_runs(runs_dir):
    make_run(runs_dir, "20260101-000000-a", "completed")
    app = open_compare()
    assert not app.exception and "at least two runs" in app.info[0].body


def test_two_runs_overlaid_with_best_metric_and_config_differences(runs_dir):
    two_runs(runs_dir)
    app = open_compare()
    assert "Pick at least two runs." in app.info[0].body
    app.multiselect(key="compare_runs").select("20260101-000000-a").select("20260102-000000-b").run()
    assert not app.exception
    loss = chart(app, "compare_loss_chart")
    # Smoothed by default (TensorBoard's 0.6): each training curve drawn raw and faint, then smoothed.
    assert [t["name"] for t in loss["data"]] == ["20260101-000000-a · train (raw)", "20260101-000000-a · train",
                                                 "20260101-000000-a · eval", "high lr · train (raw)",
                                                 "high lr · train", "high lr · eval"]
    best = app.dataframe[0].value.set_index("id")
    # Written as on Runs and Live run: one formatting everywhere.
    assert best.loc["20260101-000000-a", "best"] == "84.0%" and best.loc["20260102-000000-b", "best"] == "25.0%"
    diff = app.dataframe[1].value
    assert sorted(diff.index) == ["name", "training.learning_rate"]
    app.toggle(key="compare_diff_only").set_value(False).run()
    assert "data.train_size" in list(app.dataframe[1].value.index)


def test_curves_switch_to_epochs(runs_dir):
    two_runs(runs_dir)
    app = open_compare()
    app.multiselect(key="compare_runs").select("20260101-000000-a").select("20260102-000000-b").run()
    assert chart(app, "compare_metric_chart")["data"][0]["x"] == [40, 80, 120]
    app.button_group(key="compare_axis").set_value("epoch").run()
    assert chart(app, "compare_metric_chart")["data"][0]["x"] == [1.0, 2.0, 3.0]
    assert chart(app, "compare_metric_chart")["layout"]["xaxis"]["title"]["text"] == "epoch"


def test_smoothing_slider_and_log_scale_redraw_the_loss_chart(runs_dir):
    two_runs(runs_dir)
    app = open_compare()
    app.multiselect(key="compare_runs").select("20260101-000000-a").select("20260102-000000-b").run()
    app.slider(key="compare_smoothing").set_value(0.0).run()
    loss = chart(app, "compare_loss_chart")
    assert [t["name"] for t in loss["data"]] == ["20260101-000000-a · train", "20260101-000000-a · eval",
                                                 "high lr · train", "high lr · eval"]
    assert loss["layout"]["yaxis"].get("type") != "log"
    app.toggle(key="compare_log_y").set_value(True).run()
    assert chart(app, "compare_loss_chart")["layout"]["yaxis"]["type"] == "log"
