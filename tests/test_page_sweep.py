"""The Sweep page (AppTest): setting a sweep up with its start mocked, a bad space refused in one sentence, and a
finished sweep's table, charts and best trial from a real small Optuna study (trials told by hand, no training)."""

import json
import os
from unittest import mock

import pytest
from streamlit.testing.v1 import AppTest

from core.config.schema import RunConfig
from core.rundir import runs
from core.search import study as studies, sweeps
from core.search.space import suggest
from core.views import sweep_view
from tests.conftest import ROOT, tiny_config
from tests.test_page_live_run import make_run

SPACE = {"training.learning_rate": {"choices": [1e-4, 1.0, 3e-5]}}
DIVERGED = "DIVERGING: Training is diverging"


def open_sweep_page(name=None):
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    if name:
        app.query_params["sweep"] = name
    app.switch_page("pages/sweep.py")
    return app.run()


def chart_titles(app):
    return {json.loads(c.proto.spec)["layout"]["title"]["text"] for c in app.get("plotly_chart")}


def tell(study, runs_dir, params, values, state, reason=None):
    """One trial as the driver would leave it: its run folder, its evaluations reported, its end told."""
    import optuna

    study.enqueue_trial(params)
    trial = study.ask()
    suggest(trial, study.user_attrs["space"], study.user_attrs["config"])
    run_id = f"20260101-00000{trial.number}-lr-trial-{trial.number}"
    make_run(runs_dir, run_id, "completed" if state == "complete" else "stopped")
    runs.update_status(runs_dir / run_id, sweep=study.study_name, trial=trial.number, started_at=100.0,
                       ended_at=100.0 + 30 * (trial.number + 1))
    trial.set_user_attr("run_id", run_id)
    for step, value in enumerate(values, start=1):
        trial.report(value, step)
    if reason:
        trial.set_user_attr("reason", reason)
    if state == "complete":
        study.tell(trial, max(values))
    else:
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)


def finished_sweep(runs_dir, name="lr", trials=((1e-4, (0.30, 0.42, 0.51)), (1.0, (0.12,)), (3e-5, (0.25, 0.33, 0.40)))):
    """A real study in the runs folder's storage: complete, pruned by a finding, complete."""
    settings = sweeps.settings_for(RunConfig.from_dict(tiny_config()), SPACE, len(trials))
    study = studies.create(sweeps.storage_for(runs_dir), name, {**settings, "timeout_s": None})
    for lr, values in trials:
        pruned = lr == 1.0
        tell(study, runs_dir, {"training.learning_rate": lr}, values, "pruned" if pruned else "complete",
             DIVERGED if pruned else None)
    return study


def test_a_runs_folder_without_sweeps_opens_the_set_up(runs_dir):
    app = open_sweep_page()
    assert not app.exception
    assert app.title[0].value == "Sweep" and app.selectbox(key="sweep_picker").value == ""
    assert app.button(key="start_sweep")
    assert "minilm-l6 on tweet-sentiment (2000 train / 500 eval)" in app.caption[0].value


def test_start_sweep_checks_the_space_and_starts_the_worker_with_the_settings(runs_dir):
    app = open_sweep_page()
    app.checkbox(key="sweep.on.training.learning_rate").check().run()
    app.checkbox(key="sweep.on.training.per_device_train_batch_size").check().run()
    app.text_input(key="sweep.values.training.per_device_train_batch_size").input("8, 16").run()
    app.selectbox(key="sweep_metric").select("accuracy")
    app.number_input(key="sweep_n_trials").set_value(4)
    app.number_input(key="sweep_budget").set_value(30)
    app.selectbox(key="sweep_pruner").select("hyperband")
    app.text_input(key="sweep_name").input("first")
    with mock.patch("core.search.sweeps.start_sweep") as start:
        app.button(key="start_sweep").click().run()
    assert not app.exception and not app.error
    settings, name, where = start.call_args.args
    assert name == "first" and where == runs_dir and start.call_args.kwargs["timeout_s"] == 1800
    assert settings["space"] == {"training.learning_rate": {"low": 1e-5, "high": 1e-3, "log": True},
                                 "training.per_device_train_batch_size": {"choices": [8, 16]}}
    assert settings["n_trials"] == 4 and settings["pruner"] == "hyperband" and settings["sampler"] == "tpe"
    assert settings["metric"] == "accuracy" and settings["config"]["training"]["metric_for_best_model"] == "accuracy"


@pytest.mark.parametrize("low, high, words", [
    ("1e-3", "1e-5", "Learning rate: low (0.001) must be below high (1e-05)"),
    ("0.001", "fast", "Learning rate: 'fast' is not a number"),
    ("1e-5", "5", "Learning rate: the value 5 is refused by the config"),
])
def test_a_bad_space_is_one_sentence_naming_the_setting_and_nothing_starts(runs_dir, low, high, words):
    app = open_sweep_page()
    app.checkbox(key="sweep.on.training.learning_rate").check().run()
    app.text_input(key="sweep.low.training.learning_rate").input(low)
    app.text_input(key="sweep.high.training.learning_rate").input(high)
    with mock.patch("core.search.sweeps.start_sweep") as start:
        app.button(key="start_sweep").click().run()
    assert not start.called and not app.exception
    [error] = app.error
    assert error.value.startswith(words) and "\n" not in error.value


def test_the_grid_sampler_asks_for_lists_in_the_pages_words(runs_dir):
    app = open_sweep_page()
    app.checkbox(key="sweep.on.training.learning_rate").check().run()
    app.selectbox(key="sweep_sampler").select("grid")
    with mock.patch("core.search.sweeps.start_sweep") as start:
        app.button(key="start_sweep").click().run()
    assert not start.called
    assert app.error[0].value.startswith("Learning rate: is a range, but the grid sampler needs")
    assert app.error[0].value.endswith("list the values or pick the TPE sampler.")


def test_nothing_ticked_asks_for_a_setting(runs_dir):
    app = open_sweep_page()
    with mock.patch("core.search.sweeps.start_sweep") as start:
        app.button(key="start_sweep").click().run()
    assert not start.called
    assert app.error[0].value == "Search space: tick at least one setting to search and give it a range or a list."


def test_a_sweep_starts_from_an_earlier_run_and_keeps_its_settings(runs_dir):
    run_dir = make_run(runs_dir, "20260101-000000-tiny", "completed")
    config = json.loads((run_dir / "config.json").read_text())
    config["model"]["name"] = "tiny-random"
    (run_dir / "config.json").write_text(json.dumps(config))
    app = open_sweep_page()
    app.selectbox(key="sweep_start_from").select("20260101-000000-tiny").run()
    app.checkbox(key="sweep.on.training.learning_rate").check().run()
    with mock.patch("core.search.sweeps.start_sweep") as start:
        app.button(key="start_sweep").click().run()
    settings = start.call_args.args[0]
    assert settings["config"]["model"]["name"] == "tiny-random" and "name" not in settings["config"]


def test_a_finished_sweep_shows_its_trials_charts_and_best_trial(runs_dir):
    finished_sweep(runs_dir)
    app = open_sweep_page("lr")
    assert not app.exception
    assert app.selectbox(key="sweep_picker").value == "lr"
    assert any("finished" in m.value for m in app.markdown if "badge" in m.value)
    table = app.dataframe[0].value
    assert list(table["trial"]) == [0, 1, 2]
    assert list(table["state"]) == ["complete", "pruned", "complete"]
    assert list(table["Learning rate"]) == ["1e-4", "1", "3e-5"]
    assert table["why"][1] == "Training is diverging" and table["why"][0] == ""
    assert list(table["best f1"]) == ["51.0%", "12.0%", "40.0%"]
    assert list(table["duration"]) == ["30s", "1m 00s", "1m 30s"]
    assert table["run"][1] == "live?run=20260101-000001-lr-trial-1"
    assert "Trial 1 pruned: Training is diverging" in [c.value for c in app.caption]
    assert app.success[0].value == "Best so far: trial 0, f1 51.0%, with learning rate 1e-4."
    assert chart_titles(app) == {"Evaluations of each trial", "Optimisation history", "Parallel coordinates",
                                 "Parameter importances"}
    assert {b.key for b in app.button} >= {"delete_sweep", "train_best"}
    assert "resume_sweep" not in {b.key for b in app.button}  # a finished sweep has nothing to resume


def test_the_pruned_curve_stops_with_a_cross_where_the_trial_was_stopped(runs_dir):
    finished_sweep(runs_dir)
    app = open_sweep_page("lr")
    [curves] = [json.loads(c.proto.spec) for c in app.get("plotly_chart")
                if json.loads(c.proto.spec)["layout"]["title"]["text"] == "Evaluations of each trial"]
    pruned = next(t for t in curves["data"] if t["name"] == "trial 1 (pruned)")
    assert pruned["x"] == [1] and pruned["marker"]["symbol"] == ["x"]
    assert [len(t["x"]) for t in curves["data"]] == [3, 1, 3]


def test_importances_wait_for_two_complete_trials_and_say_so(runs_dir):
    finished_sweep(runs_dir, trials=((1e-4, (0.30, 0.42)), (1.0, (0.12,))))
    app = open_sweep_page("lr")
    assert "Parameter importances need at least 2 complete trials; 1 so far." in [c.value for c in app.caption]
    assert chart_titles(app) == {"Evaluations of each trial", "Optimisation history", "Parallel coordinates"}


def test_train_with_these_settings_opens_new_run_filled_with_the_best_trial(runs_dir):
    finished_sweep(runs_dir, trials=((1e-4, (0.30,)), (3e-5, (0.60,))))
    app = open_sweep_page("lr")
    app.button(key="train_best").click().run()
    assert app.title[0].value == "New run"
    assert app.number_input(key="form.training.learning_rate").value == 3e-5
    assert app.selectbox(key="form.model.name").value == "tiny-random"


def test_a_finished_sweep_is_drawn_once_and_not_watched(runs_dir):
    finished_sweep(runs_dir)
    with mock.patch("streamlit.fragment") as fragment:
        open_sweep_page("lr")
    assert not fragment.called


def test_delete_asks_first_then_removes_the_sweep_and_its_runs(runs_dir):
    finished_sweep(runs_dir)
    app = open_sweep_page("lr")
    app.button(key="delete_sweep").click().run()
    app.checkbox(key="delete_with_runs").check().run()
    app.button(key="confirm_delete_sweep").click().run()
    assert not app.exception
    assert sweeps.list_sweeps(runs_dir) == []
    assert not (runs_dir / "20260101-000000-lr-trial-0").exists()
    assert app.selectbox(key="sweep_picker").value == ""


def test_a_stopped_sweep_offers_resume_with_its_own_settings(runs_dir):
    study = finished_sweep(runs_dir, trials=((1e-4, (0.30,)),))
    study.set_user_attr("n_trials", 3)
    study.set_user_attr("sweep_stopped", True)
    app = open_sweep_page("lr")
    with mock.patch("core.search.sweeps.start_sweep") as start:
        app.button(key="resume_sweep").click().run()
    settings, name = start.call_args.args[:2]
    assert name == "lr" and settings["space"] == SPACE and settings["n_trials"] == 3


def test_a_url_naming_a_deleted_sweep_says_so(runs_dir):
    app = open_sweep_page("gone")
    assert "There is no sweep 'gone'" in app.warning[0].value


def test_a_running_sweep_offers_stop_and_is_looked_at_every_few_seconds(runs_dir):
    study = finished_sweep(runs_dir, trials=((1e-4, (0.30,)),))
    study.set_user_attr("n_trials", 3)
    running = study.ask()
    make_run(runs_dir, "20260101-000009-lr-trial-1", "running", pid=os.getpid())
    running.set_user_attr("run_id", "20260101-000009-lr-trial-1")
    with mock.patch("streamlit.fragment") as fragment:
        app = open_sweep_page("lr")
    assert fragment.call_args.kwargs["run_every"] == sweep_view.WATCH_RUNNING_S
    assert list(app.dataframe[0].value["state"]) == ["complete", "running"]
    assert not [b for b in app.button if b.key in ("resume_sweep", "delete_sweep")]
    with mock.patch("core.search.sweeps.stop_sweep", return_value=["20260101-000009-lr-trial-1"]) as stop:
        app.button(key="stop_sweep").click().run()
    assert stop.call_args.args[:2] == ("lr", runs_dir)
