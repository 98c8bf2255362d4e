"""A sweep's Optuna study: where it is stored, its sampler and pruner, and the settings every worker reads.

Storage: by default a SQLite file in the runs folder (`<runs>/.sweeps/sweeps.db`); any SQLAlchemy URL
(`postgresql+psycopg://user@host/db`) for workers on several machines. SQLite is chosen over Optuna's journal
file because it goes through the same RDBStorage as PostgreSQL: one code path for heartbeats and for failing
the trials of a worker that died, and SQLite's own file lock keeps several local processes (the sweep driver,
a second worker, the dashboard reading it) safe on one disk.

The sweep's settings (the base config, the space, the number of trials, sampler and pruner) are stored in the
study itself, so `worker --name NAME --storage URL` needs nothing else to join, and the study is the truth.
"""

from __future__ import annotations

import itertools
import random
import re
import time
import warnings
from pathlib import Path
from typing import Any

from core.common.errors import UserError
from core.search.space import grid

SWEEPS_FOLDER = ".sweeps"
SAMPLERS = ("tpe", "random", "grid")
PRUNERS = ("median", "hyperband", "none")
# A worker writes a heartbeat per running trial this often; a trial whose heartbeat is older than the grace
# period is failed by whichever worker looks next (its worker was killed or lost its machine).
HEARTBEAT_S = 5
GRACE_S = 20
# SQLite waits this long for another process's write lock instead of failing at once.
SQLITE_TIMEOUT_S = 30
NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,59}"


def default_storage(runs_dir: Path) -> str:
    """The embedded store: a SQLite file in the runs folder, no server."""
    folder = Path(runs_dir).resolve() / SWEEPS_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'sweeps.db'}"


def check_name(name: str) -> str:
    if not re.fullmatch(NAME_PATTERN, name or ""):
        raise UserError(f"'{name}' is not a sweep name; use up to 60 letters, digits, dots, dashes or underscores.",
                        field="--name")
    return name


def new_name() -> str:
    return time.strftime("sweep-%Y%m%d-%H%M%S")


def open_storage(url: str, on_lost_trial=None):
    """An RDBStorage with heartbeats; `on_lost_trial(study, trial)` runs for a trial whose worker went quiet."""
    import optuna
    from sqlalchemy.exc import ArgumentError, OperationalError

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # Heartbeats are "experimental" and meant for study.optimize; the driver records them itself (driver.py).
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")
    engine = {"connect_args": {"timeout": SQLITE_TIMEOUT_S}} if url.startswith("sqlite") else {"pool_pre_ping": True}
    try:
        return optuna.storages.RDBStorage(url, engine_kwargs=engine, heartbeat_interval=HEARTBEAT_S,
                                          grace_period=GRACE_S, heartbeat_stale_trial_callback=on_lost_trial)
    except (ArgumentError, OperationalError, ImportError, ValueError) as exc:
        first = " ".join(str(exc).split())[:160]
        raise UserError(f"cannot open '{_safe_url(url)}' ({type(exc).__name__}: {first}); pass a SQLAlchemy URL "
                        "such as postgresql+psycopg://user@host/db, or leave --storage out.",
                        field="--storage") from None


def _safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", url)


def make_sampler(kind: str, space: dict[str, Any], n_trials: int, seed: int | None = None):
    import optuna

    if kind in ("random", "grid"):  # the grid's points are enqueued when the study is made (see enqueue_grid)
        return optuna.samplers.RandomSampler(seed=seed)
    # TPE models the good and the bad trials after a few random ones; a third of a short sweep, at most ten.
    return optuna.samplers.TPESampler(n_startup_trials=max(2, min(10, n_trials // 3)), seed=seed)


def make_pruner(kind: str):
    """Steps are evaluations (1, 2, ...), so trials of different batch sizes line up by evaluation."""
    import optuna

    if kind == "median":
        # Two finished trials make a median; from the first evaluation on, a trial below it stops.
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1)
    if kind == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource="auto", reduction_factor=3)
    return optuna.pruners.NopPruner()


def create(storage, name: str, settings: dict[str, Any]):
    """A new study holding `settings`, or the existing one of that name (resume) when its base config and space
    are the same; a different config under a used name is refused."""
    import optuna

    existing = find(storage, name)
    if existing is not None:
        old = existing.user_attrs
        if old.get("config") != settings["config"] or old.get("space") != settings["space"]:
            raise UserError(f"a sweep '{name}' already exists with another config or space; pick a new --name, "
                            "or pass the same files to resume it.", field="--name")
        existing.set_user_attr("n_trials", settings["n_trials"])
        existing.set_user_attr("timeout_s", settings.get("timeout_s"))
        existing.set_user_attr("sweep_stopped", False)
        existing.set_user_attr("out_of_time", False)
        return load(storage, name)
    direction = "minimize" if settings["metric"] == "loss" else "maximize"
    study = optuna.create_study(storage=storage, study_name=name, direction=direction,
                                sampler=make_sampler(settings["sampler"], settings["space"], settings["n_trials"],
                                                     settings.get("seed")),
                                pruner=make_pruner(settings["pruner"]))
    for key, value in settings.items():
        study.set_user_attr(key, value)
    if settings["sampler"] == "grid":
        enqueue_grid(study, settings["space"], settings["n_trials"], settings.get("seed"))
    return study


def enqueue_grid(study, space: dict[str, Any], n_trials: int, seed: int | None) -> None:
    """The grid as waiting trials, in a shuffled order. Optuna's GridSampler stops the study from inside
    `optimize` when the grid is done, which the ask-and-tell driver does not use."""
    points = [dict(zip(grid(space), values)) for values in itertools.product(*grid(space).values())]
    random.Random(seed).shuffle(points)
    for params in points[:n_trials]:
        study.enqueue_trial(params)


def find(storage, name: str):
    """The study called `name`, or None."""
    import optuna

    try:
        return optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        return None


def load(storage, name: str):
    """The study with the sampler and pruner its settings name (they are not stored by Optuna)."""
    import optuna

    study = find(storage, name)
    if study is None:
        raise UserError(f"there is no sweep '{name}' in this storage; check the name (python -m core.sweep list).",
                        field="--name")
    attrs = study.user_attrs
    return optuna.load_study(study_name=name, storage=storage,
                             sampler=make_sampler(attrs["sampler"], attrs["space"], attrs["n_trials"],
                                                  attrs.get("seed")),
                             pruner=make_pruner(attrs["pruner"]))
