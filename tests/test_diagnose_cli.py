"""`python -m core.diagnose RUN_DIR [--json]` on run folders written by hand."""

import json
import subprocess
import sys

from core.rundir import runs
from tests.conftest import ROOT


def diagnose(*args):
    return subprocess.run([sys.executable, "-m", "core.diagnose", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)


def stuck_run(tmp_path):
    run_dir = tmp_path / "stuck"
    run_dir.mkdir()
    runs.write_json_atomic(run_dir / "status.json", {"state": "completed", "progress": {"max_steps": 200}})
    (run_dir / "config.json").write_text(json.dumps({"training": {"learning_rate": 1e-2}}))
    (run_dir / "dataset.json").write_text(json.dumps({"num_labels": 3, "majority_rate": 0.42}))
    for step in range(10, 210, 10):
        runs.append_metrics(run_dir, {"type": "train", "step": step, "loss": 1.099, "grad_norm": 3.0,
                                      "update_ratio": 0.04, "learning_rate": 1e-2})
    runs.append_metrics(run_dir, {"type": "eval", "step": 200, "eval_loss": 1.1, "eval_accuracy": 0.42,
                                  "eval_top_class_share": 1.0})
    return run_dir


def test_json_lists_findings_with_every_field(tmp_path):
    result = diagnose(stuck_run(tmp_path), "--json")
    assert result.returncode == 0, result.stderr
    findings = json.loads(result.stdout)
    assert [f["code"] for f in findings] == ["LR_TOO_HIGH"]
    assert set(findings[0]) >= {"code", "severity", "title", "evidence", "fix", "config_change"}
    assert findings[0]["config_change"] == {"training.learning_rate": 5e-5}


def test_text_output_says_evidence_and_fix(tmp_path):
    result = diagnose(stuck_run(tmp_path))
    assert "[WARNING] LR_TOO_HIGH at step 200" in result.stdout and "Fix: " in result.stdout


def test_failed_run_explains_why_first(tmp_path):
    run_dir = tmp_path / "oom"
    run_dir.mkdir()
    runs.write_json_atomic(run_dir / "status.json", {"state": "failed", "error": {"code": "OUT_OF_MEMORY",
                                                                                 "message": "x"}})
    (run_dir / "train.log").write_text("Traceback (most recent call last):\n  File \"x\", line 1\n"
                                       "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB\n")
    findings = json.loads(diagnose(run_dir, "--json").stdout)
    assert findings[0]["code"] == "OUT_OF_MEMORY" and findings[0]["severity"] == "error"


def test_a_folder_that_is_not_a_run_is_one_sentence(tmp_path):
    result = diagnose(tmp_path / "nowhere")
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "not a run folder" in result.stderr


def failed_run_with_preflight(tmp_path):
    (tmp_path / "build").mkdir()
    run_dir = stuck_run(tmp_path / "build").rename(tmp_path / "failed")
    status = runs.read_status(run_dir)
    status.update(state="failed", error={"code": "OUT_OF_MEMORY", "message": "CUDA out of memory."},
                  preflight=[{"code": "DISK_LOW", "severity": "warning", "title": "Little disk space left",
                              "evidence": "2 GB free.", "fix": "Free some space.", "config_change": {}}])
    runs.write_json_atomic(run_dir / "status.json", status)
    (run_dir / "train.log").write_text("Traceback (most recent call last):\ntorch.OutOfMemoryError: CUDA out of "
                                       "memory. Tried to allocate 2.00 GiB\n")
    return run_dir


def test_the_live_run_page_and_the_cli_show_the_same_findings(tmp_path, monkeypatch):
    import re

    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("DASHBOARD_RUNS_DIR", str(tmp_path))
    for run_dir in (stuck_run(tmp_path), failed_run_with_preflight(tmp_path)):
        cli = json.loads(diagnose(run_dir, "--json").stdout)
        app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
        app.query_params["run"] = run_dir.name
        app.switch_page("pages/live.py")
        app.run()
        boxes = [box.value for box in [*app.error, *app.warning]]
        shown = [m.group(1) for m in (re.match(r"\*\*(.+?)\.\*\*", text) for text in boxes) if m]
        assert sorted(shown) == sorted(f["title"] for f in cli), run_dir.name
        assert len(cli) >= 1


def test_a_pre_flight_learning_rate_warning_gives_way_to_the_measured_finding(tmp_path):
    run_dir = stuck_run(tmp_path)
    status = runs.read_status(run_dir)
    status["preflight"] = [{"code": "LR_TOO_HIGH", "severity": "warning", "title": "The learning rate is far above "
                            "the usual range", "evidence": "Learning rate 0.01 is 100x the top of the usual range.",
                            "fix": "Use 5e-5.", "config_change": {"training.learning_rate": 5e-5}}]
    runs.write_json_atomic(run_dir / "status.json", status)
    findings = json.loads(diagnose(run_dir, "--json").stdout)
    assert [(f["code"], f["title"]) for f in findings] == [("LR_TOO_HIGH", "The model is not learning: the learning "
                                                             "rate is too high")]
