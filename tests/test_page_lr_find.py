"""Find learning rate on the pages (AppTest, launcher mocked): the button on New run, the range test's result on
Live run with 'Use this learning rate', and the offer next to a learning-rate finding's fix."""

import json
import os
from unittest import mock

import psutil

from streamlit.testing.v1 import AppTest

from core.config.schema import RunConfig
from core.rundir import runs
from tests.conftest import ROOT
from tests.test_lr_find import healthy_curve, sweep
from tests.test_page_live_run import all_text, make_run, open_live, RESULTS, stuck_curve


def range_test_run(runs_dir, state, points, run_id="20260101-000000-find-lr-tiny"):
    records = [{"type": "train", "step": i + 1, "loss": loss, "learning_rate": lr} for i, (lr, loss) in
               enumerate(points)]
    run_dir = make_run(runs_dir, run_id, state, records)
    config = json.loads((run_dir / "config.json").read_text())
    config["name"], config["model"]["name"] = "find lr tiny", "tiny-random"
    (run_dir / "config.json").write_text(json.dumps(config))
    runs.update_status(run_dir, lr_find=True, progress={"step": len(points), "max_steps": 100})
    return run_dir


def test_find_learning_rate_on_new_run_starts_a_range_test_with_the_form_settings(runs_dir):
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    app.selectbox(key="form.model.name").select("tiny-random")
    app.text_input(key="form.name").input("smoke")
    fake_run = runs_dir / "20260101-000000-find-lr-smoke"
    with mock.patch("core.runner.launcher.start_run", return_value=fake_run) as start:
        app.button(key="find_lr").click().run()
    config, where = start.call_args.args
    assert isinstance(config, RunConfig) and where == runs_dir
    assert config.model.name == "tiny-random" and config.name == "find lr smoke"
    assert start.call_args.kwargs["lineage"] == {"lr_find": True}
    assert app.title[0].value == "Live run"


def test_finished_range_test_shows_the_curve_the_suggestion_and_carries_it_to_new_run(runs_dir):
    range_test_run(runs_dir, "completed", healthy_curve())
    app = open_live()
    assert not app.exception
    (chart,) = app.get("plotly_chart")
    spec = json.loads(chart.proto.spec)
    assert spec["layout"]["xaxis"]["type"] == "log" and spec["data"][-1]["name"] == "suggested 3e-5"
    text = all_text(app)
    assert "Learning-rate range test" in text and "The loss falls fastest around 3e-5" in text
    assert "diverging" not in text.lower() and "**Fix:**" not in text  # the planned divergence is no finding
    app.button(key="use_lr").click().run()
    assert app.title[0].value == "New run"
    assert app.number_input(key="form.training.learning_rate").value == 3e-5
    assert app.selectbox(key="form.model.name").value == "tiny-random"  # the test's other settings come along


def test_running_range_test_draws_the_curve_without_a_suggestion_yet(runs_dir):
    run_dir = range_test_run(runs_dir, "running", healthy_curve()[:40])
    runs.update_status(run_dir, pid=os.getpid(), pid_create_time=psutil.Process().create_time())
    app = open_live()
    assert len(app.get("plotly_chart")) == 1
    assert "suggestion is read when the test ends" in all_text(app)
    assert not [b for b in app.button if b.key == "use_lr"]


def test_flat_range_test_says_why_there_is_no_suggestion(runs_dir):
    range_test_run(runs_dir, "completed", [(lr, 1.0986) for lr in sweep()])
    app = open_live()
    assert "No suggestion: the loss never fell more than 5%" in app.warning[0].body
    assert not [b for b in app.button if b.key == "use_lr"]


def test_learning_rate_finding_offers_find_learning_rate_next_to_its_fix(runs_dir):
    make_run(runs_dir, "20260101-000000", "completed", stuck_curve(), results=RESULTS)
    app = open_live()
    assert app.button(key="fix_LR_TOO_HIGH")
    with mock.patch("core.runner.launcher.start_run", return_value=runs_dir / "20260102-000000-find-lr") as start:
        app.button(key="find_lr_LR_TOO_HIGH").click().run()
    config = start.call_args.args[0]
    assert config.training.learning_rate == 1e-4 and config.name.startswith("find lr")  # the stuck run's settings
    assert start.call_args.kwargs["lineage"] == {"range_test_for": "20260101-000000", "lr_find": True}
