"""The run directory: torn lines, atomic status, reconciling dead processes, safe paths."""

import json
import subprocess
import sys

from core.rundir import runs


def test_metrics_survive_a_torn_last_line(tmp_path):
    runs.append_metrics(tmp_path, {"type": "train", "step": 1, "loss": 1.0})
    runs.append_metrics(tmp_path, {"type": "eval", "step": 2, "eval_loss": 0.9})
    with open(tmp_path / "metrics.jsonl", "a") as handle:
        handle.write('{"type": "train", "step": 3, "lo')  # the child died mid-write
    records = runs.read_metrics(tmp_path)
    assert [r["step"] for r in records] == [1, 2]


def test_missing_files_read_as_empty(tmp_path):
    assert runs.read_metrics(tmp_path) == []
    assert runs.read_status(tmp_path) == {}
    assert runs.read_log_tail(tmp_path) == ""


def test_status_updates_are_atomic_and_merge(tmp_path):
    runs.update_status(tmp_path, state="running", pid=1)
    runs.update_status(tmp_path, phase="training")
    status = json.loads((tmp_path / "status.json").read_text())
    assert status["state"] == "running" and status["phase"] == "training"
    assert not list(tmp_path.glob(".status.json.*"))  # no temporary files left behind


def dead_pid():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_run_whose_process_died_is_reconciled_to_failed(tmp_path):
    runs.write_json_atomic(tmp_path / "status.json", {"state": "running", "pid": dead_pid()})
    status = runs.reconcile(tmp_path)
    assert status["state"] == "failed" and status["error"]["code"] == "KILLED"


def test_a_killed_run_after_a_stop_request_is_stopped(tmp_path):
    runs.write_json_atomic(tmp_path / "status.json", {"state": "running", "pid": dead_pid()})
    (tmp_path / runs.STOP_MARKER).write_text("now")
    assert runs.reconcile(tmp_path)["state"] == "stopped"


def test_a_reused_pid_is_not_mistaken_for_the_run(tmp_path):
    import os

    import psutil

    # Our own PID is alive, but with another start time it is not the run's process.
    created = psutil.Process(os.getpid()).create_time()
    assert runs.process_alive(os.getpid(), created)
    assert not runs.process_alive(os.getpid(), created - 3600)


def test_live_run_stays_running(tmp_path):
    import os

    import psutil

    runs.write_json_atomic(tmp_path / "status.json", {"state": "running", "pid": os.getpid(),
                                                      "pid_create_time": psutil.Process().create_time()})
    assert runs.reconcile(tmp_path)["state"] == "running"


def test_list_runs_newest_first_and_skips_the_cache(tmp_path):
    for i, run_id in enumerate(["b-run", "a-run"]):
        (tmp_path / run_id).mkdir()
        runs.write_json_atomic(tmp_path / run_id / "status.json", {"state": "completed", "created_at": i})
    (tmp_path / ".cache").mkdir()
    assert [r.run_id for r in runs.list_runs(tmp_path)] == ["a-run", "b-run"]


def test_run_ids_are_unique_and_safe(tmp_path):
    first = runs.new_run_id(tmp_path, "My ../../run!")
    assert "/" not in first and ".." not in first
    (tmp_path / first).mkdir()
    assert runs.new_run_id(tmp_path, "My ../../run!") != first


def test_safe_run_path_refuses_to_leave_the_runs_folder(tmp_path):
    assert runs.safe_run_path(tmp_path, "20260101-run") == (tmp_path / "20260101-run").resolve()
    for bad in ("../etc", "/etc/passwd", "a/../../b", "", ".hidden"):
        assert runs.safe_run_path(tmp_path, bad) is None
