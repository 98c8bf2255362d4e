"""Out of memory: a real tiny run with an injected OOM fails as OUT_OF_MEMORY with its batch and device,
and the retry with half the batch keeps the effective batch and trains to the end."""

import os
import subprocess
import sys
import time

from core.plan import presets
from core.rundir import runs
from core.runner import launcher, process
from tests.conftest import ROOT, tiny_config, write_config


def test_injected_oom_fails_the_run_and_the_half_batch_retry_completes(tmp_path, runs_dir):
    config = tiny_config(num_train_epochs=1)
    config["data"].update(train_size=96, eval_size=32)
    run_dir = runs_dir / "oom"
    done = subprocess.run([sys.executable, "-m", "core.train", "--config", str(write_config(tmp_path / "c.json",
                                                                                             config)),
                           "--run-dir", str(run_dir), "--cache-dir", str(runs_dir / ".cache" / "tokenized")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "DASHBOARD_FAULT": "cpu_oom@step=3"})
    assert done.returncode == 1, done.stderr
    status = runs.read_status(run_dir)
    error = status["error"]
    assert status["state"] == "failed" and error["code"] == "OUT_OF_MEMORY"
    assert (error["device"], error["per_device_train_batch_size"], error["gradient_accumulation_steps"]) == (
        "cpu", 16, 1)
    assert "batch size 16" in error["message"] and "DefaultCPUAllocator" in error["message"]

    change = presets.half_batch_change(runs.read_json(run_dir / "config.json"), 16, 1)
    retry = launcher.relaunch_with_change(run_dir, change, "OUT_OF_MEMORY")
    retried = runs.read_json(retry / "config.json")
    assert retried["training"]["per_device_train_batch_size"] == 8
    assert retried["training"]["gradient_accumulation_steps"] == 2
    deadline = time.time() + 300
    while runs.reconcile(retry).get("state") not in runs.FINAL_STATES and time.time() < deadline:
        process.reap_children()
        time.sleep(0.5)
    assert runs.read_status(retry)["state"] == "completed", runs.read_log_tail(retry)
    assert runs.read_status(retry)["batch"]["gradient_accumulation_steps"] == 2
