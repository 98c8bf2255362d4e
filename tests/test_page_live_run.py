"""The Live run page on run folders written by hand: what a user sees for each state."""

import json
import os
from unittest import mock

import psutil
from streamlit.testing.v1 import AppTest

from core.rundir import runs
from tests.conftest import ROOT


def make_run(runs_dir, run_id, state, records=(), results=None, error=None, pid=None, created_at=1.0):
    run_dir = runs_dir / run_id
    run_dir.mkdir()
    config = {"name": "", "data": {"name": "tweet-sentiment", "train_size": 2000, "eval_size": 500},
              "model": {"name": "minilm-l6"}, "hardware": {"device": "auto", "memory_preset": "standard"},
              "training": {"num_train_epochs": 3, "learning_rate": 1e-4, "metric_for_best_model": "f1"}}
    (run_dir / "config.json").write_text(json.dumps(config))
    status = {"state": state, "created_at": created_at, "phase": "training",
              "progress": {"step": 60, "max_steps": 120, "epoch": 1.5, "num_train_epochs": 3,
                           "train_started_at": 100.0, "at": 160.0}}
    if pid:
        status.update(pid=pid, pid_create_time=psutil.Process(pid).create_time())
    if error:
        status["error"] = error
    runs.write_json_atomic(run_dir / "status.json", status)
    (run_dir / "dataset.json").write_text(json.dumps({"num_labels": 3, "majority_rate": 0.42,
                                                      "label_names": ["negative", "neutral", "positive"]}))
    for record in records:
        runs.append_metrics(run_dir, record)
    if results:
        (run_dir / "results.json").write_text(json.dumps(results))
    return run_dir


def overfitting_curve():
    trains = [{"type": "train", "step": s, "epoch": s / 40, "loss": loss, "learning_rate": 1e-4, "grad_norm": 1.0}
              for s, loss in zip(range(10, 130, 10), [1.0, .8, .6, .5, .45, .4, .3, .25, .2, .12, .1, .08])]
    evals = [{"type": "eval", "step": s, "epoch": s / 40, "eval_loss": loss, "eval_accuracy": acc, "eval_f1": acc,
              "eval_precision": acc, "eval_recall": acc}
             for s, loss, acc in ((40, 0.48, 0.85), (80, 0.55, 0.84), (120, 0.72, 0.82))]
    return trains + evals


RESULTS = {"final_metrics": {"accuracy": 0.85, "f1": 0.84, "precision": 0.86, "recall": 0.85, "loss": 0.48},
           "per_class": [{"label": n, "precision": 0.8, "recall": 0.8, "f1": 0.8, "support": 10}
                         for n in ("negative", "neutral", "positive")],
           "confusion_matrix": [[8, 1, 1], [1, 8, 1], [1, 1, 8]],
           "label_names": ["negative", "neutral", "positive"], "model_dir": "/tmp/x/model"}


def open_live(run_id=None):
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    if run_id:
        app.query_params["run"] = run_id
    app.switch_page("pages/live.py")
    return app.run()


def all_text(app):
    parts = [m.value for m in app.markdown] + [e.body for kind in ("warning", "error", "success", "info", "caption")
                                              for e in getattr(app, kind)]
    return "\n".join(str(p) for p in parts)


def test_no_runs_points_to_new_run(runs_dir):
    app = open_live()
    assert not app.exception
    assert "No runs yet" in app.info[0].body


def test_running_run_shows_progress_overfitting_warning_and_stop(runs_dir):
    make_run(runs_dir, "20260101-000000", "running", overfitting_curve(), pid=os.getpid())
    app = open_live()
    assert not app.exception
    text = all_text(app)
    assert "The model is overfitting" in text and "**Fix:**" in text
    assert "Best evaluation so far: step 40" in text
    assert app.button(key="stop").label == "Stop"
    with mock.patch("core.runner.launcher.request_stop", return_value="requested") as stop:
        app.button(key="stop").click().run()
    assert stop.call_args.args[0].name == "20260101-000000"


def test_completed_run_shows_final_report_and_no_stop_button(runs_dir):
    make_run(runs_dir, "20260101-000000", "completed", overfitting_curve(), results=RESULTS)
    app = open_live()
    assert not app.exception
    assert [m.value for m in app.metric][:2] == ["85.0%", "84.0%"]
    assert "Model saved to `/tmp/x/model`" in all_text(app)
    assert "Always answering the largest class would score 42.0%" in all_text(app)
    assert not [b for b in app.button if b.key == "stop"]


def test_failed_run_shows_the_error_sentence(runs_dir):
    make_run(runs_dir, "20260101-000000", "failed",
             error={"code": "OUT_OF_MEMORY", "message": "The device ran out of memory. Use the low preset."})
    app = open_live()
    assert "ran out of memory" in app.error[0].body and "**Fix:** Pick the low memory preset" in app.error[0].body
    assert "Recorded error: The device ran out of memory." in all_text(app)
    assert "OUT_OF_MEMORY" not in all_text(app)  # codes are for `core.diagnose --json`, not for sentences


def test_dead_running_run_is_shown_failed_after_reload(runs_dir):
    make_run(runs_dir, "20260101-000000", "running", pid=None)
    status = runs.read_status(runs_dir / "20260101-000000")
    status["pid"] = 2 ** 22 + 1  # no such process
    runs.write_json_atomic(runs_dir / "20260101-000000" / "status.json", status)
    app = open_live()
    assert "The training process was killed" in app.error[0].body
    assert "Recorded error: The training process ended without reporting" in all_text(app)


def test_the_run_in_the_url_is_the_one_shown(runs_dir):
    make_run(runs_dir, "20260101-000000-old", "completed", results=RESULTS, created_at=1.0)
    make_run(runs_dir, "20260102-000000-new", "failed", error={"code": "X", "message": "y"}, created_at=2.0)
    assert open_live().selectbox(key="run_picker").value == "20260102-000000-new"
    assert open_live("20260101-000000-old").selectbox(key="run_picker").value == "20260101-000000-old"


def test_a_run_in_the_url_that_does_not_exist_is_said_and_the_list_offered(runs_dir):
    make_run(runs_dir, "20260101-000000-old", "completed", results=RESULTS, created_at=1.0)
    app = open_live("does-not-exist")
    assert not app.exception
    assert "There is no run 'does-not-exist'" in app.warning[0].body
    picker = app.selectbox(key="run_picker")
    assert picker.value is None and picker.options == ["20260101-000000-old · minilm-l6 on tweet-sentiment"]
    assert not app.get("progress")  # no other run is shown in its place
    picker.select("20260101-000000-old").run()
    assert app.get("progress") and not app.warning


def test_an_uploaded_file_is_called_by_its_own_name(runs_dir):
    run_dir = make_run(runs_dir, "20260101-000000-upload", "completed", results=RESULTS)
    config = json.loads((run_dir / "config.json").read_text())
    config["data"] = {"source": "file", "name": "file", "path": str(runs_dir / "data" / "0123abcdef-reviews.csv")}
    (run_dir / "config.json").write_text(json.dumps(config))
    app = open_live("20260101-000000-upload")
    assert "reviews.csv" in app.selectbox(key="run_picker").options[0]
    assert "minilm-l6 on reviews.csv" in all_text(app) and " on file" not in all_text(app)


def test_a_run_shows_the_same_duration_and_best_metric_on_live_run_and_runs(runs_dir):
    run_dir = make_run(runs_dir, "20260101-000000-done", "completed", overfitting_curve(), results=RESULTS)
    status = runs.read_status(run_dir)
    status.update(started_at="2026-01-01T10:00:00+0000", ended_at="2026-01-01T10:04:47+0000")
    runs.write_json_atomic(run_dir / "status.json", status)
    live = open_live("20260101-000000-done")
    assert "elapsed 4m 47s" in live.get("progress")[0].proto.text
    assert "Best evaluation: step 40 (epoch 1.00), f1 85.0%." in all_text(live)  # no "so far" once it ended
    assert [m.value for m in live.metric][:2] == ["85.0%", "84.0%"]
    listing = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    listing.switch_page("pages/runs.py")
    row = listing.run().dataframe(key="runs_table").value.iloc[0]
    assert row["duration"] == "4m 47s" and row["best metric"] == 0.84  # shown as 84.0%, sorted as a number


def test_a_launched_run_reads_starting_not_queued(runs_dir):
    run_dir = make_run(runs_dir, "20260101-000000-go", "queued", pid=os.getpid())
    status = runs.read_status(run_dir)
    status.update(slots=["cpu:0"], slot_request={"device": "cpu", "count": 1, "capacity": 1})
    runs.write_json_atomic(run_dir / "status.json", status)
    app = open_live()
    badges = [m.value for m in app.markdown if ":badge" in m.value or "starting" in m.value or "queued" in m.value]
    assert any("starting" in b for b in badges) and not any("queued" in b for b in badges), badges
    assert not any("in line" in c.value for c in app.caption)  # nothing else runs: no place in a queue


def test_a_failed_run_says_best_evaluation_before_it_failed(runs_dir):
    make_run(runs_dir, "20260101-000000-dead", "failed", overfitting_curve(), error={"code": "X", "message": "y"})
    text = all_text(open_live())
    assert "Best evaluation before the run failed: step 40" in text and "so far" not in text


def test_a_run_started_by_an_earlier_dashboard_process_is_found_and_charted(runs_dir):
    """Restart the dashboard mid-run: the new process finds the child and keeps charting it."""
    import subprocess
    import sys
    import time

    from core.runner import launcher

    starter = ("import sys; sys.path.insert(0, '.'); from pathlib import Path; from core.runner import launcher; "
               "from core.config.schema import RunConfig; from tests.conftest import tiny_config; "
               f"print(launcher.start_run(RunConfig.from_dict(tiny_config(num_train_epochs=300)), Path({str(runs_dir)!r})))")
    run_dir = runs.Path(subprocess.run([sys.executable, "-c", starter], cwd=ROOT, capture_output=True, text=True,
                                       check=True).stdout.strip())
    try:
        deadline = time.time() + 120
        while time.time() < deadline and len(runs.read_metrics(run_dir)) < 3:
            time.sleep(0.2)
        app = open_live()
        assert not app.exception
        assert app.selectbox(key="run_picker").value == run_dir.name
        assert "Step" in app.get("progress")[0].proto.text
        assert app.button(key="stop").label == "Stop"
        first_step = runs.read_status(run_dir)["progress"]["step"]
        time.sleep(2)
        assert runs.read_status(run_dir)["progress"]["step"] > first_step  # still training, still read
    finally:
        launcher.request_stop(run_dir)
        launcher.request_stop(run_dir)


def stuck_curve():
    trains = [{"type": "train", "step": s, "loss": 1.0986, "grad_norm": 4.0, "update_ratio": 0.05,
               "learning_rate": 1e-2} for s in range(10, 130, 10)]
    return trains + [{"type": "eval", "step": 120, "eval_loss": 1.1, "eval_accuracy": 0.42, "eval_f1": 0.25,
                      "eval_precision": 0.18, "eval_recall": 0.42, "eval_top_class_share": 1.0}]


def test_apply_fix_relaunches_a_linked_run_with_the_change(runs_dir):
    make_run(runs_dir, "20260101-000000", "completed", stuck_curve(), results=RESULTS)
    app = open_live()
    button = app.button(key="fix_LR_TOO_HIGH")
    assert "Apply fix & relaunch (learning_rate = 5e-05)" in button.label
    with mock.patch("core.runner.launcher.start_run", return_value=runs_dir / "20260102-000000-fixed") as start:
        button.click().run()
    config = start.call_args.args[0]
    assert config.training.learning_rate == 5e-5
    assert start.call_args.kwargs["lineage"] == {"derived_from": "20260101-000000",
                                                 "applied_change": {"training.learning_rate": 5e-5},
                                                 "applied_for": "LR_TOO_HIGH"}


def test_failed_run_offers_the_memory_preset_fix(runs_dir):
    run_dir = make_run(runs_dir, "20260101-000000", "failed",
                       error={"code": "OUT_OF_MEMORY", "message": "The device ran out of memory."})
    (run_dir / "train.log").write_text("Traceback (most recent call last):\n  File \"x\", line 1\n"
                                       "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB\n")
    app = open_live()
    assert "CUDA" in app.error[0].body and "**Fix:**" in app.error[0].body
    assert "memory_preset = low" in app.button(key="fix_OUT_OF_MEMORY").label
