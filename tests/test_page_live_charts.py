"""The Live run page's curve controls, table of evaluations, resource charts, notes and tags, on run folders
written by hand."""

import json
import os

from core.rundir import runs
from core.rundir.layout import RunDir
from core.runner import history
from tests.test_page_live_run import RESULTS, all_text, make_run, open_live, overfitting_curve


def figure(app, key):
    found = [c for c in app.get("plotly_chart") if c.proto.id.endswith("-" + key)]  # ids end with the key
    assert len(found) == 1, key
    return json.loads(found[0].proto.spec)


def eval_table(app):
    frames = [df.value for df in app.dataframe if "step" in df.value.columns]
    assert len(frames) == 1
    return frames[0]


def write_samples(run_dir, count=4):
    for i in range(count):
        runs.append_jsonl(RunDir(run_dir).resources, {"time": 1000.0 + 60 * i, "step": 30 * i,
                                                          "cpu_percent": 180.0, "cores": 2, "rss_mb": 1500.0 + i,
                                                          "processes": 1, "sample_cpu_ms": 0.4})
    # A torn last line, as a killed child leaves it: skipped, not fatal.
    with open(RunDir(run_dir).resources, "a") as handle:
        handle.write('{"time": 12')


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


def test_running_run_plots_cpu_and_memory_of_its_process(runs_dir):
    run_dir = make_run(runs_dir, "20260101-000000", "running", overfitting_curve(), pid=os.getpid())
    write_samples(run_dir)
    app = open_live()
    assert not app.exception
    cpu = figure(app, "cpu_chart")
    assert cpu["data"][0]["y"] == [0.9, 0.9, 0.9, 0.9] and cpu["data"][0]["x"] == [0.0, 1.0, 2.0, 3.0]
    assert figure(app, "memory_chart")["data"][0]["y"] == [1500.0, 1501.0, 1502.0, 1503.0]
    assert "Learning rate and resource use" in [h.value for h in app.subheader]
    assert figure(app, "lr_chart")  # beside them, redrawn on the same slower beat
    assert "Last sample: CPU 90% of 2 cores, 1,503 MB resident memory" in all_text(app)


def test_a_run_without_samples_shows_no_resource_section(runs_dir):
    make_run(runs_dir, "20260101-000000", "completed", overfitting_curve(), results=RESULTS)
    app = open_live()
    assert not any("resource use" in h.value.lower() for h in app.subheader)
    assert "Learning rate" in [h.value for h in app.subheader] and figure(app, "lr_chart")


def test_header_shows_the_runs_tags_and_notes(runs_dir):
    make_run(runs_dir, "20260101-000000", "completed", overfitting_curve(), results=RESULTS)
    history.set_notes_and_tags(runs_dir, "20260101-000000", "Lower lr than yesterday.\nWatch eval loss.",
                               ["baseline", "lr sweep"])
    app = open_live()
    text = all_text(app)
    assert ":violet-badge[baseline] :violet-badge[lr sweep]" in text
    assert "Lower lr than yesterday.  \nWatch eval loss." in text
