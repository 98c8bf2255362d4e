"""Crash safety on real tiny runs: SIGKILL at random moments, resume, reattach, a full disk, secrets.

The kill test prints its figures (kills tried, runs recovered, lines lost); run with `-s` to see them.
"""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.config.schema import RunConfig
from core.diagnostics import postmortem
from core.rundir import runs
from core.runner import launcher, queue
from tests.conftest import ROOT, tiny_config, wait_for

# 13 steps an epoch (200 rows, batch 16), a checkpoint every 5 steps: 39 steps in all.
CHAIN = {**tiny_config(num_train_epochs=3, eval_strategy="steps", eval_steps=5, logging_steps=1), "name": "crash"}
KILLS = 10
FAKE_TOKEN = "hf_CrashSafetyFakeToken0123456789abcdef"


def complete_lines(run_dir: Path) -> list[dict]:
    """The metrics lines fully written so far (a newline ends each); what must survive a kill."""
    try:
        text = (run_dir / "metrics.jsonl").read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.split("\n")[:-1] if line.strip()]


def stop_everything(runs_dir):
    for run in runs.list_runs(runs_dir):
        queue.cancel(run.path)
        if run.state in runs.ACTIVE_STATES:
            launcher.request_stop(run.path)
            launcher.request_stop(run.path)


@pytest.fixture(scope="module")
def crash_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("crash-runs")
    yield path
    stop_everything(path)


@pytest.fixture(scope="module")
def uninterrupted(crash_dir):
    """The same run with nothing in its way, with a token in the environment and one in the config."""
    os.environ["HF_TOKEN"] = FAKE_TOKEN
    try:
        run_dir = launcher.start_run(RunConfig.from_dict({**CHAIN, "training": {**CHAIN["training"],
                                                                                "hub_token": FAKE_TOKEN}}), crash_dir)
    finally:
        del os.environ["HF_TOKEN"]
    assert wait_for(lambda: runs.reconcile(run_dir).get("state") in runs.FINAL_STATES), runs.read_log_tail(run_dir)
    assert runs.read_status(run_dir)["state"] == "completed", runs.read_log_tail(run_dir)
    return run_dir


def launch_next(run_dir, crash_dir):
    """Resume the killed run when it has a checkpoint, else start a new one."""
    if run_dir is not None and runs.last_checkpoint(run_dir) is not None:
        return launcher.resume_run(run_dir)
    return launcher.start_run(RunConfig.from_dict(CHAIN), crash_dir)


def step_of(run_dir) -> int:
    return (runs.read_status(run_dir).get("progress") or {}).get("step", 0)


def random_moment(run_dir, rng, pid, created) -> None:
    """Wait for a random moment: a fifth of the kills during start-up, the rest at a random training step
    (which may be a logging, evaluation or checkpoint step) plus a random fraction of a step."""
    alive = lambda: runs.process_alive(pid, created)
    if rng.random() < 0.2:
        deadline = time.time() + rng.uniform(0.2, 3.0)
        wait_for(lambda: time.time() >= deadline or not alive(), every=0.05)
        return
    checkpoint = runs.last_checkpoint(run_dir)
    first = runs.checkpoint_step(checkpoint) + 1 if checkpoint else 1
    last = 38  # a checkpoint at the final step (a kill after it was saved) leaves nothing later to wait for
    target = rng.randint(min(first, last), min(first + 8, last))  # near the resume point: the chain stays short
    wait_for(lambda: step_of(run_dir) >= target or not alive(), every=0.02)
    deadline = time.time() + rng.uniform(0.0, 0.6)
    wait_for(lambda: time.time() >= deadline or not alive(), every=0.02)


def kill_at_random(run_dir, rng, figures) -> bool:
    """SIGKILL the child at a random moment; check it is shown failed soon and no written line is lost."""
    status = runs.read_status(run_dir)
    pid, created = status["pid"], status["pid_create_time"]
    random_moment(run_dir, rng, pid, created)
    before = complete_lines(run_dir)
    if not runs.process_alive(pid, created) or runs.read_status(run_dir).get("state") == "completed":
        return False  # it finished first; not a kill
    os.kill(pid, signal.SIGKILL)
    if runs.read_status(run_dir).get("state") == "completed":
        return False  # it wrote 'completed' (everything saved) just before the kill landed: not a kill either
    figures["kills tried"] += 1
    killed_at = time.time()
    shown_failed = wait_for(lambda: runs.reconcile(run_dir).get("state") == "failed", timeout=10, every=0.05)
    figures["slowest failed shown (s)"] = max(figures["slowest failed shown (s)"], round(time.time() - killed_at, 2))
    after = runs.read_metrics(run_dir)
    lost = [line for line in before if line not in after]
    figures["lines written before kills"] += len(before)
    figures["lines lost"] += len(lost)
    error = runs.read_status(run_dir).get("error") or {}
    figures["runs recovered"] += shown_failed and error.get("code") == "KILLED"
    figures["at phase"].append(f'{runs.read_status(run_dir).get("phase", "starting")}@{step_of(run_dir)}')
    return True


def test_sigkill_at_random_moments_is_shown_failed_and_loses_no_line_then_resume_finishes(crash_dir, uninterrupted):
    rng = random.Random(20261125)
    figures = {"kills tried": 0, "runs recovered": 0, "lines written before kills": 0, "lines lost": 0,
               "slowest failed shown (s)": 0.0, "at phase": []}
    run_dir = None
    for _ in range(3 * KILLS):
        if figures["kills tried"] >= KILLS:
            break
        run_dir = launch_next(run_dir, crash_dir)
        assert runs.read_status(run_dir).get("pid"), "the CPU slot should be free after the previous kill"
        if not kill_at_random(run_dir, rng, figures):
            run_dir = None  # it completed before the kill; the next attempt starts fresh
    print(f"\nFault injection (SIGKILL, seed 20261125): {figures}")
    assert figures["kills tried"] >= KILLS
    assert figures["runs recovered"] == figures["kills tried"]
    assert figures["lines lost"] == 0
    assert figures["lines written before kills"] > 0 and any("training@" in at for at in figures["at phase"])
    assert figures["slowest failed shown (s)"] < 5

    # A torn last line, as a kill mid-write leaves it, is skipped, and the run still resumes.
    with open(run_dir / "metrics.jsonl", "a", encoding="utf-8") as handle:
        handle.write('{"type": "train", "step": 99, "lo')
    assert all(record.get("step") != 99 for record in runs.read_metrics(run_dir))
    if runs.last_checkpoint(run_dir) is None:
        run_dir = launch_next(None, crash_dir)
    else:
        launcher.resume_run(run_dir)
    stop_then_resume_to_the_end(run_dir, runs.read_json(uninterrupted / "results.json")["global_step"])


def stop_then_resume_to_the_end(run_dir, expected_steps):
    """Stop gracefully (a checkpoint at the stop step), resume, and finish at the uninterrupted step count."""
    start_step = runs.checkpoint_step(runs.last_checkpoint(run_dir)) if runs.last_checkpoint(run_dir) else 0
    assert wait_for(lambda: (runs.read_status(run_dir).get("progress") or {}).get("step", 0) > start_step)
    assert launcher.request_stop(run_dir) == "requested"
    assert wait_for(lambda: runs.reconcile(run_dir).get("state") in runs.FINAL_STATES, timeout=120)
    stopped = runs.read_status(run_dir)
    assert stopped["state"] == "stopped", runs.read_log_tail(run_dir)
    assert runs.checkpoint_step(runs.last_checkpoint(run_dir)) == stopped["progress"]["step"]
    launcher.resume_run(run_dir)
    assert wait_for(lambda: runs.reconcile(run_dir).get("state") in runs.FINAL_STATES, timeout=180)
    final = runs.read_status(run_dir)
    assert final["state"] == "completed", runs.read_log_tail(run_dir)
    assert runs.read_json(run_dir / "results.json")["global_step"] == expected_steps == 39
    steps = [r["step"] for r in runs.read_metrics(run_dir) if r["type"] == "train"]
    assert steps == sorted(steps) and len(steps) == len(set(steps))  # redone steps are not charted twice
    assert final["attempts"][-1]["state"] == "stopped" and final["resumed_from"].startswith("checkpoint-")


def test_a_token_from_the_environment_is_in_no_file_of_the_run(uninterrupted):
    assert "hub_token" not in json.loads((uninterrupted / "config.json").read_text())["training"]
    for path in uninterrupted.rglob("*"):
        if path.is_file():
            assert FAKE_TOKEN.encode() not in path.read_bytes(), path


def test_a_run_started_by_a_dashboard_that_is_gone_is_reattached_and_a_reused_pid_is_not(crash_dir, tmp_path):
    config = json.dumps(json.dumps({**CHAIN, "training": {**CHAIN["training"], "num_train_epochs": 200}}))
    code = ("import json, pathlib; from core.runner import launcher; from core.config.schema import RunConfig;"
            f"print(launcher.start_run(RunConfig.from_dict(json.loads({config})), pathlib.Path({str(crash_dir)!r})))")
    dashboard = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    run_dir = Path(dashboard.stdout.strip())  # the "dashboard" that started it has exited
    try:
        assert wait_for(lambda: any(r["type"] == "train" for r in runs.read_metrics(run_dir)))
        seen = len(runs.read_metrics(run_dir))
        assert runs.reconcile(run_dir)["state"] == "running"
        assert wait_for(lambda: len(runs.read_metrics(run_dir)) > seen, timeout=60)  # the charts continue
        # Same PID, another start time: some other process got the number; it is not taken for the run.
        impostor = crash_dir / "impostor"
        impostor.mkdir()
        status = runs.read_status(run_dir)
        runs.write_json_atomic(impostor / "status.json", {**status, "slots": [],
                                                          "pid_create_time": status["pid_create_time"] - 30})
        assert runs.reconcile(impostor)["state"] == "failed"
        assert runs.reconcile(run_dir)["state"] == "running"
    finally:
        launcher.request_stop(run_dir)
        launcher.request_stop(run_dir)


def test_a_full_disk_while_saving_fails_the_run_with_disk_space_and_keeps_earlier_checkpoints(crash_dir,
                                                                                              monkeypatch):
    from transformers import AutoModelForSequenceClassification

    monkeypatch.setenv("DASHBOARD_FAULT", "enospc_on_save=2")  # the second checkpoint (step 10) hits a full disk
    run_dir = launcher.start_run(RunConfig.from_dict(CHAIN), crash_dir)
    assert wait_for(lambda: runs.reconcile(run_dir).get("state") in runs.FINAL_STATES)
    status = runs.read_status(run_dir)
    assert status["state"] == "failed" and status["error"]["code"] == "DISK_SPACE", runs.read_log_tail(run_dir)
    finding = postmortem.explain_failure(status, runs.read_log_tail(run_dir, 20000), config=CHAIN)
    assert finding.code == "DISK_SPACE"
    earlier = run_dir / "checkpoints" / "checkpoint-5"
    assert json.loads((earlier / "trainer_state.json").read_text())["global_step"] == 5
    assert AutoModelForSequenceClassification.from_pretrained(earlier).num_labels == 3
    assert not (run_dir / "checkpoints" / "checkpoint-10" / "trainer_state.json").exists()
    assert runs.last_checkpoint(run_dir) == earlier  # a resume would start from the intact one


def test_resume_from_the_cli_refuses_a_run_it_cannot_continue_in_one_line(tmp_path):
    from tests.conftest import write_config

    done = tmp_path / "done"
    done.mkdir()
    write_config(done / "config.json", CHAIN)
    runs.write_json_atomic(done / "status.json", {"state": "completed"})
    bare = tmp_path / "bare"
    bare.mkdir()
    write_config(bare / "config.json", CHAIN)
    runs.write_json_atomic(bare / "status.json", {"state": "stopped"})
    for run_dir, says in ((done, "holds a completed run; only a failed or stopped run can be resumed"),
                          (bare, "has no complete checkpoint to resume from")):
        result = subprocess.run([sys.executable, "-m", "core.train", "--run-dir", str(run_dir), "--resume"],
                                cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert result.returncode == 2 and says in result.stderr and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert runs.read_status(done)["state"] == "completed"


def test_the_eta_of_a_resumed_run_counts_only_the_steps_it_trained():
    from core.views.progress import progress_of

    status = {"state": "running", "progress": {"step": 30, "max_steps": 40, "start_step": 20,
                                               "train_started_at": 100.0, "at": 110.0}}
    assert progress_of(status, now=110.0).eta_s == 10.0  # 10 steps in 10 s, 10 to go
