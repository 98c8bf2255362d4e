"""The sweep driver without training (the run launcher mocked, a real Optuna study in a SQLite file): two workers
racing for the last place do not overshoot the number of trials, and the hyperband pruner stops a trial that is
behind the others at the same evaluation."""

from unittest import mock

import optuna

from core.config.schema import RunConfig
from core.search import driver, study as studies, sweeps
from core.search.trials import TrialRun
from tests.conftest import tiny_config

SPACE = {"training.learning_rate": {"low": 1e-5, "high": 1e-3, "log": True}}


def new_study(runs_dir, n_trials, pruner="median", name="race"):
    settings = sweeps.settings_for(RunConfig.from_dict(tiny_config()), SPACE, n_trials, pruner=pruner)
    return studies.create(sweeps.storage_for(runs_dir), name, settings), settings


def test_a_worker_that_asks_after_another_took_the_last_place_gives_its_trial_back(runs_dir):
    study, settings = new_study(runs_dir, n_trials=1)
    other_worker = studies.load(sweeps.storage_for(runs_dir), "race")
    other_worker.ask()  # took the one place after this worker had counted none
    with mock.patch("core.runner.launcher.start_run") as start_run:
        assert driver.start_trial(study, runs_dir, settings) is None
    assert not start_run.called
    assert driver.counted_trials(study) == 1
    assert [row["number"] for row in sweeps.trial_rows(study, runs_dir)] == [0]


def test_the_trial_made_first_keeps_its_place_whichever_worker_checks_first(runs_dir):
    study, _ = new_study(runs_dir, n_trials=2)
    study.tell(study.ask(), 0.5)
    first, second = study.ask(), study.ask()  # both workers saw one place left
    assert driver.claimed(study, second, 2) is False
    assert driver.claimed(study, first, 2) is True


def test_a_trial_within_the_number_starts_its_run_as_a_trial_of_the_sweep(runs_dir):
    study, settings = new_study(runs_dir, n_trials=2)
    with mock.patch("core.runner.launcher.start_run", return_value=runs_dir / "run-0") as start_run:
        started = driver.start_trial(study, runs_dir, settings)
    assert started is not None and started.trial.number == 0
    assert start_run.call_args.kwargs["lineage"] == {"sweep": "race", "trial": 0}


def evaluations(*values):
    return [{"type": "eval", "step": 4 * i, "eval_loss": 1.0, "eval_f1": v} for i, v in enumerate(values, start=1)]


def test_hyperband_stops_a_trial_behind_an_earlier_one_at_the_same_evaluation(runs_dir):
    study, _ = new_study(runs_dir, n_trials=12, pruner="hyperband", name="hb")
    finished = study.ask()
    for step, value in enumerate((0.5, 0.6, 0.7, 0.7, 0.8), start=1):
        finished.report(value, step)
    study.tell(finished, 0.8)  # hyperband sizes its brackets from the first complete trial's evaluations
    # Three evaluations reach the first rung of both of hyperband's brackets (evaluation 1, and evaluation 3).
    good = TrialRun(study.ask(), runs_dir, "f1", records=evaluations(0.9, 0.9, 0.9))
    assert good.report_new_evaluations() is False
    pruned = []
    for _ in range(8):  # trials fall in hyperband's brackets by a hash of their number: some share good's
        poor = TrialRun(study.ask(), runs_dir, "f1", records=evaluations(0.1, 0.1, 0.1))
        stop = poor.report_new_evaluations()
        pruned += [poor] if stop else []
        study.tell(poor.trial, state=optuna.trial.TrialState.PRUNED if stop else optuna.trial.TrialState.FAIL)
    assert pruned
    assert "f1 0.1000 at evaluation 3 is behind the other trials" in pruned[0].pruner_reason()
