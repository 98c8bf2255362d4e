"""Real tiny sweeps through `python -m core.sweep`: a planted stuck trial is pruned with its finding as the reason,
`show --json` keeps its contract, the Runs list tags trials with their sweep, and a stopped sweep resumes and is
deleted with its runs."""

import json
import subprocess
import sys

import pytest

from core.rundir import runs
from core.search import sweeps
from tests.conftest import ROOT, wait_for, write_config

CONTRACT = {"number", "state", "params", "value", "run_id", "reason"}


def sweep_config() -> dict:
    """20 optimizer steps of the tiny random model, an evaluation every 4."""
    return {"data": {"name": "tweet-sentiment", "train_size": 160, "eval_size": 30, "max_length": 32},
            "model": {"name": "tiny-random"}, "hardware": {"device": "cpu"},
            "training": {"num_train_epochs": 1, "learning_rate": 1e-4, "per_device_train_batch_size": 8,
                         "logging_steps": 1, "eval_strategy": "steps", "eval_steps": 4, "save_total_limit": 1}}


def sweep(*args, timeout=400, **kwargs):
    return subprocess.run([sys.executable, "-m", "core.sweep", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, **kwargs)


def show(name, runs_dir):
    result = sweep("show", name, "--json", "--runs-dir", runs_dir, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.slow
def test_a_stuck_trial_is_pruned_at_once_with_its_finding_as_the_reason(tmp_path, runs_dir):
    config = write_config(tmp_path / "config.json", sweep_config())
    space = tmp_path / "space.json"
    space.write_text(json.dumps({"training.learning_rate": {"choices": [1.0, 1e-4]}}))  # 1.0 diverges at once
    result = sweep("run", "--config", config, "--space", space, "--trials", 2, "--sampler", "grid", "--seed", 0,
                   "--name", "lr", "--runs-dir", runs_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Best trial" in result.stdout and "training.learning_rate = 0.0001" in result.stdout
    trials = show("lr", runs_dir)
    assert [set(t) for t in trials] == [CONTRACT, CONTRACT]
    stuck = next(t for t in trials if t["params"]["training.learning_rate"] == 1.0)
    good = next(t for t in trials if t["params"]["training.learning_rate"] == 1e-4)
    assert stuck["state"] == "pruned" and stuck["reason"].split(":")[0] in ("DIVERGING", "LOSS_NAN", "LR_TOO_HIGH")
    assert good["state"] == "complete" and isinstance(good["value"], float) and good["reason"] is None
    status = runs.read_status(runs_dir / stuck["run_id"])
    assert status["sweep_pruned"]["reason"] == stuck["reason"]
    # On an idle machine these 20 tiny steps take about a second, less than the driver's poll: the run may have
    # reached its end before the stop landed. When it had not, it was stopped there.
    assert status["state"] == "stopped" or status["progress"]["step"] == status["progress"]["max_steps"]
    [listing] = json.loads(sweep("list", "--json", "--runs-dir", runs_dir, timeout=120).stdout)
    assert listing["name"] == "lr" and listing["trials"] == 2 and listing["best value"] == good["value"]
    listed = subprocess.run([sys.executable, "-m", "core.runs", "list", "--runs-dir", str(runs_dir), "--json"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    tags = {row["id"]: row["sweep"] for row in json.loads(listed.stdout)}
    assert tags == {stuck["run_id"]: f"lr #{stuck['number']}", good["run_id"]: f"lr #{good['number']}"}


@pytest.mark.slow
def test_a_stopped_sweep_resumes_under_its_name_and_the_study_remembers(tmp_path, runs_dir):
    slower = sweep_config()  # 120 steps: the trial still trains when the stop command has started up
    slower["training"]["num_train_epochs"] = 6
    config = write_config(tmp_path / "config.json", slower)
    space = tmp_path / "space.json"
    space.write_text(json.dumps({"training.learning_rate": {"low": 3e-5, "high": 1e-4, "log": True}}))
    first = sweeps.start_sweep(sweeps.prepare(config, space, 1), "again", runs_dir)  # what the Sweep page calls
    assert wait_for(lambda: any(runs.read_status(p).get("phase") == "training" for p in runs_dir.iterdir()
                                   if p.is_dir() and not p.name.startswith(".")), 240)
    stop = sweep("stop", "again", "--runs-dir", runs_dir, timeout=120)
    assert stop.returncode == 0 and "1 running trials asked to stop" in stop.stdout, stop.stderr
    assert first.wait(timeout=120) == 0, (runs_dir / ".sweeps" / "again.log").read_text()
    assert sweeps.sweep_summary("again", runs_dir)["state"] == "stopped"
    [interrupted] = show("again", runs_dir)
    assert interrupted["state"] == "failed" and "stopped with the sweep" in interrupted["reason"]
    assert wait_for(lambda: runs.reconcile(runs_dir / interrupted["run_id"]).get("state") == "stopped", 120)

    args = ["run", "--config", config, "--space", space, "--trials", 1, "--name", "again", "--runs-dir", runs_dir]
    second = sweep(*args)
    assert second.returncode == 0, second.stdout + second.stderr
    trials = show("again", runs_dir)
    # The new trial ends (a tiny random model may be pruned as stuck on the longer run: it ended all the same).
    assert trials[0]["state"] == "failed" and trials[1]["state"] in ("complete", "pruned")
    assert trials[1]["run_id"] != interrupted["run_id"]
    text = sweep("show", "again", "--runs-dir", runs_dir, timeout=120).stdout
    assert text.startswith("Sweep 'again' (finished): 1 of 1 trials")

    deleted = sweep("delete", "again", "--with-runs", "--runs-dir", runs_dir, timeout=120)
    assert deleted.returncode == 0 and "with 2 run folders" in deleted.stdout, deleted.stderr
    assert not (runs_dir / interrupted["run_id"]).exists() and not (runs_dir / trials[1]["run_id"]).exists()
    gone = sweep("show", "again", "--runs-dir", runs_dir, timeout=120)
    assert gone.returncode == 2 and "there is no sweep 'again'" in gone.stderr


@pytest.mark.slow
def test_a_time_budget_stops_new_trials_and_the_hyperband_pruner_runs_a_sweep(tmp_path, runs_dir):
    config = write_config(tmp_path / "config.json", sweep_config())
    space = tmp_path / "space.json"
    space.write_text(json.dumps({"training.learning_rate": {"low": 3e-5, "high": 1e-4, "log": True}}))
    # One CPU slot: the first trial starts at once; the budget has run out when it ends, so no second one starts.
    result = sweep("run", "--config", config, "--space", space, "--trials", 3, "--timeout-s", 1, "--pruner",
                   "hyperband", "--name", "budget", "--runs-dir", runs_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 trials, tpe sampler, hyperband pruner" in result.stdout and "Best trial 0" in result.stdout
    assert [t["state"] for t in show("budget", runs_dir)] == ["complete"]
    text = sweep("show", "budget", "--runs-dir", runs_dir, timeout=120).stdout
    assert text.startswith("Sweep 'budget' (out of time): 1 of 3 trials")


@pytest.mark.slow
def test_a_killed_trial_is_shown_failed_in_words_and_its_slot_takes_the_next_trial(tmp_path, runs_dir):
    import os
    import signal

    slower = sweep_config()  # 120 steps: the first trial still trains when it is killed
    slower["training"]["num_train_epochs"] = 6
    config = write_config(tmp_path / "config.json", slower)
    space = tmp_path / "space.json"
    space.write_text(json.dumps({"training.learning_rate": {"low": 3e-5, "high": 1e-4, "log": True}}))
    driver = sweeps.start_sweep(sweeps.prepare(config, space, 2, pruner="none"), "killing", runs_dir)

    def training_trials():
        return [p for p in runs_dir.iterdir() if p.is_dir() and not p.name.startswith(".")
                and runs.read_status(p).get("phase") == "training"]

    assert wait_for(lambda: training_trials(), 240)
    [victim] = training_trials()
    slot = runs.read_status(victim)["slots"]
    os.killpg(os.getpgid(int(runs.read_status(victim)["pid"])), signal.SIGKILL)
    assert driver.wait(timeout=300) == 0, (runs_dir / ".sweeps" / "killing.log").read_text()
    killed, other = sorted(show("killing", runs_dir), key=lambda t: t["run_id"] != victim.name)
    assert killed["run_id"] == victim.name and killed["state"] == "failed" and other["state"] == "complete"
    assert killed["reason"].startswith("the run failed: The training process ended without reporting")
    assert runs.read_status(runs_dir / other["run_id"])["slots"] == slot  # the freed CPU took the next trial
