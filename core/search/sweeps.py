"""Sweeps from the outside: prepare, run, join, start in the background, stop, delete, list and summarise.

The public API for the CLI (core/search/cli.py) and the Sweep page. Every function takes the runs folder and a
storage URL (None: the embedded SQLite file in the runs folder) and returns plain data; bad input is a UserError
whose sentence names the field. The study and the trials' run folders are the truth: nothing is kept in memory
between calls, so a reload or a dashboard restart loses nothing.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from core.common.errors import UserError
from core.config.schema import load_config_file, RunConfig
from core.rundir import runs
from core.rundir.layout import RunDir
from core.runner import launcher, process, queue
from core.search import driver, study as studies
from core.search.space import check_space, grid, load_space
from core.search.study import SWEEPS_FOLDER

TRIAL_FIELDS = ("number", "state", "params", "value", "run_id", "reason")
LOST_WORKER = (f"its worker stopped answering (no heartbeat for {studies.GRACE_S} s: killed, or its machine went "
               "away), so the trial was given up")


def prepare(config_path: str | Path, space_path: str | Path, n_trials: int, sampler: str = "tpe",
            pruner: str = "median", seed: int | None = None) -> dict[str, Any]:
    """Check CONFIG.json, SPACE.json and the options; the settings a sweep stores in its study."""
    config = load_config_file(config_path)
    base = sweep_base(config)
    _check_trials(n_trials)
    return settings_for(config, load_space(space_path, base), n_trials, sampler, pruner, seed)


def settings_for(config: RunConfig, space: Any, n_trials: int, sampler: str = "tpe", pruner: str = "median",
                 seed: int | None = None) -> dict[str, Any]:
    """The settings a sweep stores in its study, from a checked config and a space (checked here), for the
    CLI and the Sweep page alike."""
    base = sweep_base(config)
    _check_trials(n_trials)
    space = check_space(space, base)
    if sampler == "grid":
        sizes = [len(values) for values in grid(space).values()]
        n_trials = min(n_trials, math.prod(sizes))  # the grid has no more points than this
    return {"config": base, "space": space, "n_trials": n_trials, "sampler": sampler, "pruner": pruner,
            "metric": config.training.metric_for_best_model, "seed": seed}


def sweep_base(config: RunConfig) -> dict[str, Any]:
    """The config every trial starts from (without its name: each trial names itself)."""
    if config.training.eval_strategy == "no":
        raise UserError("is 'no', but a sweep scores and prunes trials by their evaluations; set it to 'epoch' or "
                        "'steps'.", field="training.eval_strategy")
    base = config.to_dict()
    base.pop("name", None)
    return base


def _check_trials(n_trials: Any) -> None:
    if not isinstance(n_trials, int) or isinstance(n_trials, bool) or n_trials < 1:
        raise UserError(f"must be a whole number of at least 1, got {n_trials}.", field="--trials")


# Open storages, one per URL and runs folder: opening one checks its schema (0.7 s the first time, 30 ms after),
# and the Sweep page looks at its sweep every few seconds. A connection pool, not a copy of the sweep.
_STORAGES: dict[tuple[str, str], Any] = {}


def storage_for(runs_dir: Path, url: str | None = None):
    """The storage to use: `url`, or the embedded file; a trial whose worker died has its local run stopped."""
    runs_dir = Path(runs_dir)
    url = url or studies.default_storage(runs_dir)
    key = (url, str(runs_dir.resolve()))
    if key not in _STORAGES:
        _STORAGES[key] = studies.open_storage(url, on_lost_trial=_run_stopper(runs_dir))
    return _STORAGES[key]


def _run_stopper(runs_dir: Path):
    def stop_lost_run(study, trial) -> None:
        run_id = trial.user_attrs.get("run_id")
        path = runs.safe_run_path(runs_dir, run_id) if run_id else None
        if path is not None and RunDir(path).status.exists():
            launcher.request_stop(path)

    return stop_lost_run


def run_sweep(settings: dict[str, Any], name: str, runs_dir: Path, storage: str | None = None,
              timeout_s: float | None = None) -> dict[str, Any]:
    """Create the sweep (or resume the one of that name), run it to the end here, and return its summary."""
    studies.check_name(name)
    study = studies.create(storage_for(runs_dir, storage), name, {**settings, "timeout_s": timeout_s})
    driver.drive(study, Path(runs_dir), timeout_s=timeout_s)
    return sweep_summary(name, runs_dir, storage)


def join_sweep(name: str, runs_dir: Path, storage: str | None = None,
               timeout_s: float | None = None) -> dict[str, Any]:
    """Take trials of an existing sweep until it is done (a worker, here or on another machine); with `timeout_s`,
    start no new trial after that many seconds."""
    study = studies.load(storage_for(runs_dir, storage), studies.check_name(name))
    driver.drive(study, Path(runs_dir), timeout_s=timeout_s)
    return sweep_summary(name, runs_dir, storage)


def start_sweep(settings: dict[str, Any], name: str, runs_dir: Path, storage: str | None = None,
                timeout_s: float | None = None) -> subprocess.Popen:
    """Create the sweep (or resume the one of that name) and run it in a detached worker (like the queue's
    dispatcher), for the Sweep page; with `timeout_s` the worker starts no new trial after that many seconds.

    Its output goes to <runs>/.sweeps/<name>.log; the page follows it with `sweep_summary`."""
    runs_dir = Path(runs_dir)
    studies.create(storage_for(runs_dir, storage), studies.check_name(name), {**settings, "timeout_s": timeout_s})
    command = [sys.executable, "-m", "core.sweep", "worker", "--name", name, "--runs-dir", str(runs_dir)]
    if storage:
        command += ["--storage", storage]
    if timeout_s:
        command += ["--timeout-s", str(timeout_s)]
    with open(log_path(name, runs_dir), "ab") as log:
        child = subprocess.Popen(command, cwd=process.PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, start_new_session=True)
    process.adopt(f".sweep-{name}-{child.pid}", child)
    return child


def resume_sweep(name: str, runs_dir: Path, storage: str | None = None) -> subprocess.Popen:
    """Start a stopped or unfinished sweep again with its own settings (and time budget, counted afresh)."""
    attrs = studies.load(storage_for(runs_dir, storage), name).user_attrs
    settings = {key: attrs.get(key) for key in ("config", "space", "n_trials", "sampler", "pruner", "metric", "seed")}
    return start_sweep(settings, name, runs_dir, storage, timeout_s=attrs.get("timeout_s"))


def log_path(name: str, runs_dir: Path) -> Path:
    """The output of the sweep's background worker."""
    return Path(runs_dir) / SWEEPS_FOLDER / f"{studies.check_name(name)}.log"


def read_log_tail(name: str, runs_dir: Path, max_bytes: int = 4000) -> str:
    """The last lines the sweep's background worker wrote ('' when it wrote none)."""
    try:
        with open(log_path(name, runs_dir), "rb") as log:
            log.seek(max(0, log.seek(0, 2) - max_bytes))
            return log.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return ""


def stop_sweep(name: str, runs_dir: Path, storage: str | None = None) -> list[str]:
    """Ask every worker of the sweep to stop, and stop its trials' runs in this runs folder; returns their ids.

    The workers notice at their next poll and mark their running trials interrupted; `run` with the same name
    resumes the sweep."""
    study = studies.load(storage_for(runs_dir, storage), name)
    stopped = []
    # The runs first, then the flag: a worker that sees the flag leaves a run already asked to stop to end
    # gracefully (a second request would kill it).
    for row in trial_rows(study, runs_dir):
        path = runs.safe_run_path(Path(runs_dir), row["run_id"] or "")
        if _in_flight(row) and path is not None and RunDir(path).status.exists():
            if queue.cancel(path) or launcher.request_stop(path) != "not running":
                stopped.append(row["run_id"])
    study.set_user_attr("sweep_stopped", True)
    return stopped


def delete_sweep(name: str, runs_dir: Path, storage: str | None = None, with_runs: bool = False) -> list[str]:
    """Delete the sweep's study, and with `with_runs` its trials' run folders; returns the folders removed.

    A sweep with a trial still running is refused: stop it first."""
    import optuna

    study = studies.load(storage_for(runs_dir, storage), name)
    rows = trial_rows(study, runs_dir)
    if any(_in_flight(row) for row in rows):
        raise UserError(f"sweep '{name}' still has trials running; stop it first, then delete it.", field="sweep")
    removed = []
    for row in rows if with_runs else []:
        path = runs.safe_run_path(Path(runs_dir), row["run_id"] or "")
        if path is not None and path.is_dir():
            shutil.rmtree(path)
            removed.append(row["run_id"])
    optuna.delete_study(study_name=name, storage=study._storage)
    log_path(name, runs_dir).unlink(missing_ok=True)
    return removed


def _in_flight(row: dict[str, Any]) -> bool:
    """Running, or asked and waiting for a device slot (a grid point not asked yet has no run)."""
    return row["state"] == "running" or (row["state"] == "waiting" and row["run_id"] is not None)


def trial_rows(study, runs_dir: Path) -> list[dict[str, Any]]:
    """One plain row per trial: number, state, params, value, run_id, reason (the `show --json` contract).

    A trial a worker asked for and gave back at once (another worker's took the last place) never ran: no row."""
    return [_trial_row(trial, Path(runs_dir)) for trial in study.get_trials(deepcopy=False)
            if not trial.user_attrs.get("surplus")]


def _trial_row(trial, runs_dir: Path) -> dict[str, Any]:
    state = trial.state.name.lower()
    state = {"complete": "complete", "pruned": "pruned", "fail": "failed"}.get(state, state)
    run_id = trial.user_attrs.get("run_id")
    if state == "running" and run_id:
        path = runs.safe_run_path(runs_dir, run_id)
        if path is not None and runs.read_status(path).get("state") == "queued":
            state = "waiting"  # asked, and its run waits for a free device slot
    reason = trial.user_attrs.get("reason")
    if state == "failed" and not reason:
        reason = LOST_WORKER  # our own fails always carry a reason; only a stale heartbeat fails without one
    value = trial.value if state in ("complete", "pruned") else None
    return {"number": trial.number, "state": state, "params": dict(trial.params), "value": value,
            "run_id": run_id, "reason": reason}


def open_sweep(name: str, runs_dir: Path, storage: str | None = None):
    """The sweep's study, with trials whose worker died marked failed (not running forever)."""
    import optuna

    study = studies.load(storage_for(runs_dir, storage), name)
    optuna.storages.fail_stale_trials(study)
    return study


def sweep_summary(name: str, runs_dir: Path, storage: str | None = None) -> dict[str, Any]:
    """Everything a Sweep page shows: see `summarise`."""
    return summarise(open_sweep(name, runs_dir, storage), runs_dir)


def summarise(study, runs_dir: Path) -> dict[str, Any]:
    """Name, metric, direction, trials wanted and counted (those interrupted by a stop do not count), state
    (running, stopped, finished, out of time, unfinished), the best trial, the rows, each trial's evaluations
    (`curves`: number -> [(evaluation, objective)]), the base config, the space and the time budget."""
    rows = trial_rows(study, runs_dir)
    attrs = study.user_attrs
    done = [r for r in rows if r["state"] == "complete"]
    maximise = attrs["metric"] != "loss"
    best = max(done, key=lambda r: r["value"] if maximise else -r["value"]) if done else None
    counted = driver.counted_trials(study)
    curves = {t.number: sorted(t.intermediate_values.items()) for t in study.get_trials(deepcopy=False)
              if t.intermediate_values and not t.user_attrs.get("surplus")}
    return {"name": study.study_name, "metric": attrs["metric"], "direction": "maximize" if maximise else "minimize",
            "n_trials": attrs["n_trials"], "counted": counted, "sampler": attrs["sampler"], "pruner": attrs["pruner"],
            "space": attrs["space"], "config": attrs["config"], "timeout_s": attrs.get("timeout_s"),
            "state": _sweep_state(rows, attrs, counted), "best": best, "trials": rows, "curves": curves}


def _sweep_state(rows: list[dict[str, Any]], attrs: dict[str, Any], counted: int) -> str:
    if any(_in_flight(r) for r in rows):
        return "running"
    if attrs.get("sweep_stopped"):
        return "stopped"
    if counted >= attrs["n_trials"]:
        return "finished"
    return "out of time" if attrs.get("out_of_time") else "unfinished"


def change_stamp(name: str, runs_dir: Path, storage: str | None = None) -> tuple | None:
    """A cheap fingerprint of what the Sweep page draws: each trial's state and value, the evaluations reported,
    and the sweep's own flags. The page redraws only when it changes; None when the sweep is gone."""
    import optuna

    study = studies.find(storage_for(runs_dir, storage), name)
    if study is None:
        return None
    optuna.storages.fail_stale_trials(study)
    attrs = study.user_attrs
    flags = tuple(attrs.get(k) for k in ("n_trials", "sweep_stopped", "out_of_time"))
    evaluations = tuple(len(t.intermediate_values) for t in study.get_trials(deepcopy=False))
    states = tuple((r["number"], r["state"], r["value"]) for r in trial_rows(study, runs_dir))
    return flags + evaluations + states


def list_sweeps(runs_dir: Path, storage: str | None = None) -> list[dict[str, Any]]:
    """Every sweep in the storage (default: the runs folder's own), as rows: name, trials done, wanted, best value."""
    import optuna

    url = storage or studies.default_storage(Path(runs_dir))
    found = []
    for summary in optuna.get_all_study_summaries(storage_for(runs_dir, url), include_best_trial=True):
        attrs = summary.user_attrs
        best = summary.best_trial.value if summary.best_trial is not None else None
        found.append({"name": summary.study_name, "metric": attrs.get("metric"), "trials": summary.n_trials,
                      "n_trials": attrs.get("n_trials"), "best value": best,
                      "started": summary.datetime_start.isoformat(timespec="seconds") if summary.datetime_start
                      else None})
    return found
