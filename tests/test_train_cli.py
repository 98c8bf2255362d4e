"""Real training through the CLI and the launcher, on the tiny random model and ~200 tweets."""

import json
import os
import subprocess
import sys

import pytest

from core.config.schema import RunConfig
from core.rundir import runs
from core.runner import launcher
from tests.conftest import ROOT, tiny_config, wait_for, write_config


def train_cli(tmp_path, config, run_name="run", cache="cache"):
    config_path = write_config(tmp_path / f"{run_name}.json", config)
    return subprocess.run([sys.executable, "-m", "core.train", "--config", str(config_path), "--run-dir",
                           str(tmp_path / run_name), "--cache-dir", str(tmp_path / cache)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("cli")
    first = train_cli(tmp_path, tiny_config(), "first")
    second = train_cli(tmp_path, tiny_config(num_train_epochs=1), "second")
    return tmp_path, first, second


def test_cli_trains_and_writes_the_run_directory(finished):
    tmp_path, result, _ = finished
    assert result.returncode == 0, result.stderr[-2000:]
    run_dir = tmp_path / "first"
    status = runs.read_status(run_dir)
    assert status["state"] == "completed" and status["pid"] and status["ended_at"]
    records = runs.read_metrics(run_dir)
    trains = [r for r in records if r["type"] == "train"]
    evals = [r for r in records if r["type"] == "eval"]
    assert len(trains) >= 5 and {"step", "epoch", "loss", "learning_rate", "grad_norm"} <= set(trains[0])
    assert len(evals) == 2  # eval strategy epoch, 2 epochs
    # What the diagnostics read, on every training line after the first (the first has no window yet).
    assert all({"pad_share", "batch_time_share", "samples_per_second"} <= set(r) for r in trains[1:])
    assert all(0 <= r["batch_time_share"] < 1 and 0 <= r["pad_share"] < 1 for r in trains[1:])
    assert {"step", "epoch", "eval_loss", "eval_accuracy", "eval_f1", "eval_precision", "eval_recall"} <= set(evals[0])
    assert json.loads((run_dir / "config.json").read_text())["model"]["name"] == "tiny-random"
    dataset = json.loads((run_dir / "dataset.json").read_text())
    assert dataset["label_names"] == ["negative", "neutral", "positive"] and 0.3 < dataset["majority_rate"] < 0.6


def test_saved_model_loads_and_predicts_with_label_names(finished):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tmp_path, _, _ = finished
    model_dir = tmp_path / "first" / "model"
    model = AutoModelForSequenceClassification.from_pretrained(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    assert model.config.id2label == {0: "negative", 1: "neutral", 2: "positive"}
    with torch.no_grad():
        logits = model(**tokenizer(["I love this car", "worst day ever"], return_tensors="pt", padding=True)).logits
    assert logits.shape == (2, 3)


def test_final_report_has_per_class_scores_and_confusion_matrix(finished):
    tmp_path, _, _ = finished
    results = json.loads((tmp_path / "first" / "results.json").read_text())
    assert [row["label"] for row in results["per_class"]] == ["negative", "neutral", "positive"]
    assert sum(row["support"] for row in results["per_class"]) == 60
    assert sum(map(sum, results["confusion_matrix"])) == 60
    assert 0.0 <= results["final_metrics"]["accuracy"] <= 1.0


def test_second_run_on_the_same_data_reuses_the_tokenized_cache(finished):
    tmp_path, first, second = finished
    assert second.returncode == 0, second.stderr[-2000:]
    assert runs.read_status(tmp_path / "first")["tokenize_cache"] == "miss"
    assert runs.read_status(tmp_path / "second")["tokenize_cache"] == "hit"


def test_bad_config_is_one_line_on_stderr_and_touches_nothing(tmp_path):
    config = tiny_config()
    config["training"]["learning_rat"] = 0.1
    result = train_cli(tmp_path, config)
    assert result.returncode == 2
    assert result.stderr.strip() == ("error: training.learning_rat: unknown key 'learning_rat'; "
                                     "did you mean 'learning_rate'?")
    assert not (tmp_path / "run").exists()


def test_a_folder_holding_a_run_is_not_overwritten(finished):
    tmp_path, _, _ = finished
    before = (tmp_path / "first" / "status.json").read_text()
    result = train_cli(tmp_path, tiny_config(), "first")
    assert result.returncode == 2 and "already holds a completed run" in result.stderr
    assert "Traceback" not in result.stderr
    assert (tmp_path / "first" / "status.json").read_text() == before


def test_stop_ends_the_run_as_stopped_with_a_saved_model(runs_dir):
    config = RunConfig.from_dict(tiny_config(num_train_epochs=200))
    run_dir = launcher.start_run(config, runs_dir)
    assert wait_for(lambda: any(r["type"] == "train" for r in runs.read_metrics(run_dir)))
    assert launcher.request_stop(run_dir) == "requested"
    assert wait_for(lambda: runs.read_status(run_dir).get("state") not in runs.ACTIVE_STATES, timeout=60)
    status = runs.read_status(run_dir)
    assert status["state"] == "stopped", runs.read_log_tail(run_dir)
    assert status["progress"]["step"] < status["progress"]["max_steps"]
    assert (run_dir / "model" / "model.safetensors").exists()
    assert (run_dir / "results.json").exists()


def test_killed_child_is_shown_failed_not_running_forever(runs_dir):
    config = RunConfig.from_dict(tiny_config(num_train_epochs=200))
    run_dir = launcher.start_run(config, runs_dir)
    assert wait_for(lambda: runs.read_status(run_dir).get("state") == "running")
    os.kill(runs.read_status(run_dir)["pid"], 9)
    assert wait_for(lambda: runs.reconcile(run_dir).get("state") == "failed", timeout=10)
    assert runs.read_status(run_dir)["error"]["code"] == "KILLED"


def test_dry_run_trains_twenty_steps_evaluates_and_saves_once(tmp_path):
    config_path = write_config(tmp_path / "dry.json", tiny_config(num_train_epochs=50))
    result = subprocess.run([sys.executable, "-m", "core.train", "--config", str(config_path), "--run-dir",
                             str(tmp_path / "dry-run"), "--dry-run"], cwd=ROOT, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    status = runs.read_status(tmp_path / "dry-run")
    assert status["state"] == "completed" and status["dry_run"] is True
    assert status["progress"]["step"] == 20
    assert len([r for r in runs.read_metrics(tmp_path / "dry-run") if r["type"] == "eval"]) == 1
    assert (tmp_path / "dry-run" / "model" / "model.safetensors").exists()
    assert json.loads((tmp_path / "dry-run" / "dataset.json").read_text())["train_size"] == 64


def test_preflight_error_stops_a_cli_run_with_one_sentence(tmp_path):
    result = train_cli(tmp_path, tiny_config(fp16=True), "fp16")
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: training.fp16 is on but the run would train on cpu")
    assert runs.read_status(tmp_path / "fp16")["error"]["code"] == "PRECISION_NOT_SUPPORTED"
