"""Run history in core/rundir/runs.py: table rows, filter, rename, delete and `python -m core.runs list`."""

import json
import os
import subprocess
import sys

import pytest

from core.common.errors import UserError
from core.rundir import runs
from core.runner import history
from tests.conftest import ROOT
from tests.test_page_live_run import RESULTS, make_run, overfitting_curve


def cli(*args):
    return subprocess.run([sys.executable, "-m", "core.runs", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)


def test_row_has_every_table_column_and_the_saved_models_metric(runs_dir):
    make_run(runs_dir, "20260101-000000", "completed", overfitting_curve(), results=RESULTS)
    status = runs.read_status(runs_dir / "20260101-000000")
    status.update(started_at="2026-01-01T10:00:00+0000", ended_at="2026-01-01T10:05:30+0000", device="cpu")
    runs.write_json_atomic(runs_dir / "20260101-000000" / "status.json", status)
    row = history.run_row(runs.list_runs(runs_dir)[0])
    assert row == {"id": "20260101-000000", "name": "", "state": "completed", "data set": "tweet-sentiment",
                   "model": "minilm-l6", "device": "cpu", "metric": "f1", "best metric": 0.84, "duration_s": 330.0,
                   "started": "2026-01-01T10:00:00+0000", "tags": [], "notes": "", "sweep": None}


def test_a_running_run_shows_its_best_evaluation_so_far(runs_dir):
    make_run(runs_dir, "20260101-000000", "running", overfitting_curve(), pid=os.getpid())
    row = history.run_row(runs.list_runs(runs_dir)[0])
    assert row["state"] == "running" and row["best metric"] == 0.85  # eval_f1 at step 40


def test_filter_by_state_and_text():
    rows = [{"id": "a1", "name": "baseline", "state": "completed", "data set": "bbc-news", "model": "minilm-l6"},
            {"id": "b2", "name": "", "state": "failed", "data set": "tweet-sentiment", "model": "tiny-random"},
            {"id": "c3", "name": "", "state": "queued", "data set": "tweet-sentiment", "model": "minilm-l6"}]
    assert [r["id"] for r in history.filter_rows(rows, ["failed", "queued"])] == ["b2", "c3"]
    assert [r["id"] for r in history.filter_rows(rows, [], "BBC")] == ["a1"]
    assert [r["id"] for r in history.filter_rows(rows, ["completed"], "tiny")] == []
    assert len(history.filter_rows(rows)) == 3


def test_rename_changes_the_shown_name_not_the_folder(runs_dir):
    make_run(runs_dir, "20260101-000000", "completed")
    assert history.rename_run(runs_dir, "20260101-000000", "  best   so far ") == "best so far"
    run = runs.list_runs(runs_dir)[0]
    assert run.run_id == "20260101-000000" and run.config["name"] == "best so far"
    assert run.config["training"]["learning_rate"] == 1e-4  # the rest of the config is kept
    with pytest.raises(UserError, match="1 to 60 characters"):
        history.rename_run(runs_dir, "20260101-000000", "   ")


def test_delete_removes_the_folder_and_refuses_a_running_run(runs_dir):
    make_run(runs_dir, "20260101-000000", "failed")
    make_run(runs_dir, "20260102-000000", "running", pid=os.getpid())
    history.delete_run(runs_dir, "20260101-000000")
    assert not (runs_dir / "20260101-000000").exists()
    with pytest.raises(UserError) as refused:
        history.delete_run(runs_dir, "20260102-000000")
    assert refused.value.sentence == "run: run '20260102-000000' is running; stop or cancel it first, then delete it."
    assert (runs_dir / "20260102-000000" / "status.json").exists()


def test_delete_never_leaves_the_runs_folder(runs_dir, tmp_path):
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "status.json").write_text("{}")
    (runs_dir / "link").symlink_to(outside)
    for bad in ("../precious", str(outside), "link", "", "no-such-run"):
        with pytest.raises(UserError):
            history.delete_run(runs_dir, bad)
    assert (outside / "status.json").exists()


def test_cli_lists_runs_and_marks_a_dead_process_failed(runs_dir):
    make_run(runs_dir, "20260101-000000", "completed", overfitting_curve(), results=RESULTS)
    dead = make_run(runs_dir, "20260102-000000", "running", created_at=2.0)
    status = runs.read_status(dead)
    status["pid"] = 2 ** 22 + 1  # no such process: the child was killed without a word
    runs.write_json_atomic(dead / "status.json", status)
    result = cli("list", "--runs-dir", str(runs_dir), "--json")
    assert result.returncode == 0, result.stderr
    listed = json.loads(result.stdout)
    assert [(r["id"], r["state"]) for r in listed] == [("20260102-000000", "failed"), ("20260101-000000", "completed")]
    assert runs.read_status(dead)["error"]["code"] == "KILLED"  # reconciled on disk, as the dashboard does
    table = cli("list", "--runs-dir", str(runs_dir)).stdout.splitlines()
    assert table[0].split()[:3] == ["id", "name", "state"] and "f1 84.0%" in table[2]


def test_cli_bad_arguments_get_one_sentence(tmp_path):
    missing = cli("list", "--runs-dir", str(tmp_path / "nope"))
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1
    assert "--runs-dir" in missing.stderr and "Traceback" not in missing.stderr
    wrong = cli("lst")
    assert wrong.returncode == 2 and wrong.stderr.startswith("error: ") and wrong.stderr.count("\n") == 1
    assert "No runs in" in cli("list", "--runs-dir", str(tmp_path)).stdout


def test_rename_keeps_one_printable_line(runs_dir):
    make_run(runs_dir, "20260101-000000", "completed")
    assert history.rename_run(runs_dir, "20260101-000000", "two\nlines\x07 here") == "two lines here"


def test_a_nan_final_metric_is_listed_as_none_and_the_json_stays_valid(runs_dir):
    make_run(runs_dir, "20260101-000000", "completed", results={**RESULTS, "final_metrics": {"f1": "nan"}})
    assert history.run_row(runs.list_runs(runs_dir)[0])["best metric"] is None
    assert json.loads(cli("list", "--runs-dir", str(runs_dir), "--json").stdout)[0]["best metric"] is None
