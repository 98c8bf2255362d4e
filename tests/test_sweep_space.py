"""SPACE.json checks (each bad case one sentence naming the key, nothing started) and the trial reader's verdicts."""

import json
import subprocess
import sys

import optuna
import pytest

from core.common.errors import UserError
from core.search import sweeps
from core.search.space import check_space, suggest
from core.search.trials import best_value, PRUNE_CODES, TrialRun
from tests.conftest import ROOT, tiny_config, write_config

BASE = tiny_config()


@pytest.mark.parametrize("space, key, words", [
    ({"training.learning_rat": {"low": 1e-5, "high": 1e-3}}, "training.learning_rat", "did you mean 'learning_rate'"),
    ({"learning_rate": {"low": 1e-5, "high": 1e-3}}, "learning_rate", "section.key"),
    ({"training.learning_rate": {"low": 1e-3, "high": 1e-3}}, "training.learning_rate", "must be below high"),
    ({"training.learning_rate": {"low": 0, "high": 1e-3, "log": True}}, "training.learning_rate", "log range"),
    ({"training.per_device_train_batch_size": {"choices": [16, 0]}}, "training.per_device_train_batch_size",
     "refused by the config"),
    ({"training.learning_rate": {"low": 1e-5, "high": 5.0}}, "training.learning_rate", "refused by the config"),
    ({"training.eval_strategy": {"choices": ["epoch", "sometimes"]}}, "training.eval_strategy", "refused"),
    ({"training.learning_rate": [1e-5, 1e-3]}, "training.learning_rate", '"low"'),
])
def test_a_bad_space_is_one_sentence_naming_the_key(space, key, words):
    with pytest.raises(UserError) as caught:
        check_space(space, BASE)
    sentence = caught.value.sentence
    assert sentence.startswith(f"{key}: ") and words in sentence and "\n" not in sentence


def test_a_good_space_suggests_ints_for_whole_number_settings_and_log_floats():
    space = check_space({"training.learning_rate": {"low": 1e-5, "high": 1e-3, "log": True},
                         "training.per_device_train_batch_size": {"low": 8, "high": 32, "step": 8},
                         "training.warmup_ratio": {"choices": [0.0, 0.1]}}, BASE)
    trial = optuna.create_study().ask()
    params = suggest(trial, space, BASE)
    assert 1e-5 <= params["training.learning_rate"] <= 1e-3
    assert params["training.per_device_train_batch_size"] in (8, 16, 24, 32)
    assert isinstance(params["training.per_device_train_batch_size"], int)
    assert params["training.warmup_ratio"] in (0.0, 0.1)


def test_the_cli_refuses_a_bad_space_and_starts_nothing(tmp_path):
    runs_dir = tmp_path / "runs"
    runs_dir.mkdir()
    config = write_config(tmp_path / "config.json", tiny_config())
    space = tmp_path / "space.json"
    space.write_text(json.dumps({"training.learning_rate": {"low": 0.0, "high": 1e-3, "log": True}}))
    result = subprocess.run([sys.executable, "-m", "core.sweep", "run", "--config", str(config), "--space", str(space),
                             "--trials", "2", "--runs-dir", str(runs_dir)], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: training.learning_rate: a log range needs low above 0, got 0; raise low or drop log."]
    assert list(runs_dir.iterdir()) == []  # no run folder, no study


def test_a_grid_needs_choices_and_a_sweep_needs_evaluations(tmp_path):
    space = tmp_path / "space.json"
    space.write_text(json.dumps({"training.learning_rate": {"low": 1e-5, "high": 1e-3}}))
    with pytest.raises(UserError, match="^is a range, but the grid sampler needs"):
        sweeps.prepare(write_config(tmp_path / "c.json", tiny_config()), space, 4, sampler="grid")
    no_evals = tiny_config(eval_strategy="no", load_best_model_at_end=False)
    with pytest.raises(UserError) as caught:
        sweeps.prepare(write_config(tmp_path / "c.json", no_evals), space, 4)
    assert caught.value.field == "training.eval_strategy"


class FakeTrial:
    def __init__(self, prune_after: int):
        self.reports, self.prune_after = [], prune_after

    def report(self, value, step):
        self.reports.append((step, value))

    def should_prune(self):
        return len(self.reports) >= self.prune_after


def test_each_evaluation_is_reported_once_as_steps_one_two_three(tmp_path):
    evals = [{"type": "eval", "step": s, "eval_loss": 1.0, "eval_f1": f} for s, f in ((5, 0.3), (10, "nan"), (15, 0.5))]
    watched = TrialRun(FakeTrial(prune_after=2), tmp_path, "f1", records=evals[:1])
    assert watched.report_new_evaluations() is False
    watched.records = evals
    assert watched.report_new_evaluations() is True
    assert watched.trial.reports == [(1, 0.3), (3, 0.5)]  # a NaN evaluation is counted, never reported
    assert "f1 0.5000 at evaluation 3" in watched.pruner_reason()


def test_with_pruner_none_a_trial_is_never_pruned(tmp_path):
    evals = [{"type": "eval", "step": 4, "eval_loss": 1.0, "eval_f1": 0.1}]
    watched = TrialRun(FakeTrial(prune_after=1), tmp_path, "f1", prune=False, records=evals)
    assert watched.report_new_evaluations() is False and watched.trial.reports == [(1, 0.1)]


def test_the_best_value_is_the_highest_evaluation_or_the_lowest_loss():
    evals = [{"type": "eval", "step": s, "eval_loss": loss, "eval_accuracy": acc}
             for s, loss, acc in ((1, 0.9, 0.5), (2, 0.7, 0.62), (3, 0.8, 0.6))]
    assert best_value(evals, "accuracy") == 0.62 and best_value(evals, "loss") == 0.7
    assert best_value([], "f1") is None
    assert set(PRUNE_CODES) == {"STUCK_AT_CHANCE", "LR_TOO_HIGH", "DIVERGING", "LOSS_NAN"}


def test_a_storage_that_cannot_be_opened_is_one_line_without_the_password(tmp_path):
    result = subprocess.run([sys.executable, "-m", "core.sweep", "show", "x", "--runs-dir", str(tmp_path),
                             "--storage", "postgresql+psycopg://me:secret@127.0.0.1:1/sweeps"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("error: --storage: cannot open 'postgresql+psycopg://me:***@127.0.0.1:1/sweeps'")
    assert "secret" not in result.stderr
