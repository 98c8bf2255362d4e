"""The sweep driver: asks Optuna for trials while this machine has device slots, starts each as an ordinary run
through the queue, watches the run folders, reports, prunes, and tells Optuna how each trial ended.

One driver runs in `python -m core.sweep run` and in every `worker`; several drivers on one study share its
trials through the storage. Each loop is cheap: a status read per trial, and metrics are parsed only when
metrics.jsonl grew (the child appends at its logging cadence).
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from typing import Any

from core.common.errors import UserError
from core.config.schema import apply_change, RunConfig
from core.plan import presets
from core.rundir import runs
from core.runner import launcher, queue
from core.search.space import suggest
from core.search.study import HEARTBEAT_S
from core.search.trials import best_value, failure_reason, stopping_finding, TrialRun

POLL_S = 1.5
STOPPED_WITH_SWEEP = "stopped with the sweep; it does not count towards the number of trials"
SURPLUS = "asked for when another worker had just taken the last place; given back without running"


def parallel_trials(base: dict[str, Any], runs_dir: Path | None = None) -> int:
    """How many trials this machine trains at once: its device slots (times the runs each GPU takes) over the
    slots one trial takes."""
    request = queue.request_for(RunConfig.from_dict(base), presets.available_devices(), runs_dir)
    return max(1, request["capacity"] * int(request.get("per_gpu") or 1) // request["count"])


def counted_trials(study) -> int:
    """Trials that use up the sweep's budget: those asked for, less those interrupted by a stop (a resume
    replaces them); a grid's enqueued points wait to be asked."""
    return sum(1 for t in study.get_trials(deepcopy=False) if _counts(t))


def _counts(trial) -> bool:
    import optuna

    return (trial.state != optuna.trial.TrialState.WAITING and not trial.user_attrs.get("interrupted")
            and not trial.user_attrs.get("surplus"))


def claimed(study, trial, n_trials: int) -> bool:
    """Whether a trial just asked for is within the sweep's number of trials.

    Two workers can both see one place left and both ask. The storage numbers trials in the order they were
    made, so every worker ranks them the same way: the one made later, past the number, is given back."""
    ours = trial._trial_id
    earlier = sum(1 for t in study.get_trials(deepcopy=False) if _counts(t) and t._trial_id <= ours)
    return earlier <= n_trials


def stop_requested(study) -> bool:
    return bool(study._storage.get_study_user_attrs(study._study_id).get("sweep_stopped"))


def drive(study, runs_dir: Path, timeout_s: float | None = None, poll_s: float = POLL_S) -> None:
    """Run trials until the study holds its number of trials (or `timeout_s` passed), then wait for ours to end."""
    import optuna

    settings = study.user_attrs
    capacity = parallel_trials(settings["config"], Path(runs_dir))
    active: dict[int, TrialRun] = {}
    began = time.time()
    # SIGTERM stops the trials like Ctrl-C does (a handler can only be set from the main thread).
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _raise_interrupt) if main else None
    try:
        while True:
            optuna.storages.fail_stale_trials(study)
            if stop_requested(study):
                _interrupt_all(study, active)
                return
            for number, trial_run in list(active.items()):
                if watch(study, trial_run):
                    del active[number]
            _heartbeat(study, active)
            in_time = timeout_s is None or time.time() - began < timeout_s
            while in_time and len(active) < capacity and counted_trials(study) < settings["n_trials"]:
                trial_run = start_trial(study, Path(runs_dir), settings)
                if trial_run is not None:
                    active[trial_run.trial.number] = trial_run
            if not active:
                if not in_time and counted_trials(study) < settings["n_trials"]:
                    study.set_user_attr("out_of_time", True)
                return
            time.sleep(poll_s)
    except KeyboardInterrupt:
        _interrupt_all(study, active)
        raise
    finally:
        if main:
            signal.signal(signal.SIGTERM, previous)


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def start_trial(study, runs_dir: Path, settings: dict[str, Any]) -> TrialRun | None:
    """Ask Optuna for a trial and start its run; a config the trial's values break fails that trial alone."""
    import optuna

    trial = study.ask()
    study._storage.record_heartbeat(trial._trial_id)
    if not claimed(study, trial, settings["n_trials"]):
        trial.set_user_attr("surplus", True)
        trial.set_user_attr("reason", SURPLUS)
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        return None
    base = settings["config"]
    params = suggest(trial, settings["space"], base)
    raw = apply_change(base, params)
    raw["name"] = f"{study.study_name} trial {trial.number}"
    try:
        run_dir = launcher.start_run(RunConfig.from_dict(raw), runs_dir,
                                     lineage={"sweep": study.study_name, "trial": trial.number})
    except UserError as exc:
        trial.set_user_attr("reason", f"could not start: {exc.sentence}")
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        return None
    trial.set_user_attr("run_id", run_dir.name)
    return TrialRun(trial, run_dir, settings["metric"], prune=settings["pruner"] != "none")


def watch(study, trial_run: TrialRun) -> bool:
    """Read one trial's run folder; report, prune or finish it. True when the trial is over."""
    status, grew = trial_run.read()
    if status.get("state") in runs.ACTIVE_STATES:
        if not grew:
            return False
        if trial_run.report_new_evaluations():
            prune(study, trial_run, trial_run.pruner_reason())
            return True
        finding = stopping_finding(trial_run.run_dir, status, trial_run.records) if trial_run.prune else None
        if finding is not None:
            prune(study, trial_run, f"{finding.code}: {finding.title}", finding.code)
            return True
        return False
    finish(study, trial_run, status)
    return True


def prune(study, trial_run: TrialRun, reason: str, code: str | None = None) -> None:
    """End a trial's run at once (its model would be thrown away) and tell Optuna it was pruned, and why."""
    import optuna

    launcher.request_stop(trial_run.run_dir)  # asks; the second call ends the process group without waiting
    launcher.request_stop(trial_run.run_dir)
    runs.update_status(trial_run.run_dir, sweep_pruned={"reason": reason, "code": code})
    trial_run.trial.set_user_attr("reason", reason)
    if code:
        trial_run.trial.set_user_attr("finding", code)
    study.tell(trial_run.trial, state=optuna.trial.TrialState.PRUNED)


def finish(study, trial_run: TrialRun, status: dict) -> None:
    """Tell Optuna how a trial whose run ended came out: its best evaluation, pruned by a finding, or failed."""
    import optuna

    trial_run.read()
    trial_run.report_new_evaluations()
    finding = stopping_finding(trial_run.run_dir, status, trial_run.records) if trial_run.prune else None
    value = best_value(trial_run.records, trial_run.metric)
    if status.get("state") == "completed" and finding is not None:
        reason = f"{finding.code}: {finding.title}"
        runs.update_status(trial_run.run_dir, sweep_pruned={"reason": reason, "code": finding.code})
        trial_run.trial.set_user_attr("reason", reason)
        trial_run.trial.set_user_attr("finding", finding.code)
        study.tell(trial_run.trial, state=optuna.trial.TrialState.PRUNED)
    elif status.get("state") == "completed" and value is not None:
        study.tell(trial_run.trial, value)
    else:
        reason = failure_reason(status) if status.get("state") != "completed" else "the run made no evaluation"
        trial_run.trial.set_user_attr("reason", reason)
        study.tell(trial_run.trial, state=optuna.trial.TrialState.FAIL)


def _heartbeat(study, active: dict[int, TrialRun]) -> None:
    """One heartbeat per running trial every HEARTBEAT_S (a row write in the storage), not every poll."""
    now = time.time()
    for trial_run in active.values():
        if now - trial_run.beat_at >= HEARTBEAT_S:
            study._storage.record_heartbeat(trial_run.trial._trial_id)
            trial_run.beat_at = now


def _interrupt_all(study, active: dict[int, TrialRun]) -> None:
    """Stop our running trials; they end failed and marked interrupted, so a resume runs new ones instead."""
    import optuna

    for trial_run in active.values():
        # A run still waiting for a slot must not start later; one already asked to stop (stop_sweep) is left
        # to end gracefully, since a second request would kill it.
        if not queue.cancel(trial_run.run_dir) and not (trial_run.run_dir / runs.STOP_MARKER).exists():
            launcher.request_stop(trial_run.run_dir)
        trial_run.trial.set_user_attr("reason", STOPPED_WITH_SWEEP)
        trial_run.trial.set_user_attr("interrupted", True)
        study.tell(trial_run.trial, state=optuna.trial.TrialState.FAIL, skip_if_finished=True)
    active.clear()
