"""The runner: a run's life from the outside. Start (validated config -> run folder -> queue), stop, resume,
relaunch with a change. Pages and the CLI call these; the queue and core/runner/process.py start the child."""

from __future__ import annotations

import dataclasses
import os
import signal
import time
from pathlib import Path

from core.common import safety
from core.common.errors import UserError
from core.config.schema import apply_change, RunConfig
from core.plan import presets
from core.rundir import runs
from core.rundir.layout import RunDir
from core.runner import queue
from core.runner.process import reap_children


def start_run(config: RunConfig, runs_dir: Path, lineage: dict | None = None) -> Path:
    """Write the run folder and start the child, or queue it while its device is busy; returns the folder.

    The config must be validated. Problems that can be seen before launch (a device that is not there)
    raise UserError and leave no folder behind. See core/runner/queue.py for the queue.
    """
    request = queue.request_for(config, presets.available_devices(), runs_dir)
    config = dataclasses.replace(config, name=safety.clean_run_name(config.name))
    runs_dir = Path(runs_dir)
    runs_dir.mkdir(parents=True, exist_ok=True)
    while True:  # another process may take the same id at the same second: mkdir decides
        run_dir = runs_dir / runs.new_run_id(runs_dir, config.name)
        try:
            run_dir.mkdir()
            break
        except FileExistsError:
            continue
    # Tokens come from the environment only: a credential-like key never reaches the run folder.
    runs.write_json_atomic(RunDir(run_dir).config, safety.scrub_config(config.to_dict()))
    runs.write_json_atomic(RunDir(run_dir).status, {"state": "queued", "created_at": time.time(),
                                                     "updated_at": time.time(), **(lineage or {})})
    queue.submit(run_dir, request)
    return run_dir


def start_lr_find(config: RunConfig, runs_dir: Path, lineage: dict | None = None) -> Path:
    """Queue a learning-rate range test with this config's data, model and batch, as a run of its own
    (queued, stoppable, shown on Live run); the child runs it with `--lr-find`. Returns its folder."""
    named = dataclasses.replace(config, name=f"find lr {config.name}".strip())
    return start_run(named, runs_dir, lineage={**(lineage or {}), "lr_find": True})


def resume_run(run_dir: Path) -> Path:
    """Continue a failed or stopped run from its newest checkpoint, in the same folder, through the queue."""
    run_dir = Path(run_dir)
    state = runs.reconcile(run_dir).get("state")
    if state not in runs.RESUMABLE_STATES:
        raise UserError(f"run '{run_dir.name}' is {state}; only a failed or stopped run can be resumed.",
                        field="run", code="NOT_RESUMABLE")
    if runs.last_checkpoint(run_dir) is None:
        raise UserError(f"run '{run_dir.name}' saved no checkpoint before it ended, so there is nothing to resume "
                        "from; start it again instead.", field="run", code="NO_CHECKPOINT")
    config = RunConfig.from_dict(runs.read_json(RunDir(run_dir).config, {}) or {})
    request = queue.request_for(config, presets.available_devices(), run_dir.parent)
    (RunDir(run_dir).stop_marker).unlink(missing_ok=True)
    if not queue.submit(run_dir, request, allowed=runs.RESUMABLE_STATES, resume=True):
        raise UserError(f"run '{run_dir.name}' was resumed already.", field="run", code="NOT_RESUMABLE")
    return run_dir


def relaunch_with_change(run_dir: Path, change: dict, reason: str) -> Path:
    """Start a new run from `run_dir`'s config with `change` applied, linked to the run it came from."""
    run_dir = Path(run_dir)
    raw = runs.read_json(RunDir(run_dir).config, {}) or {}
    raw = apply_change(raw, change)
    base = raw.get("name") or run_dir.name
    raw["name"] = f"{base} fix {reason.lower().replace('_', ' ')}"[:60]
    config = RunConfig.from_dict(raw)
    return start_run(config, run_dir.parent, lineage={"derived_from": run_dir.name, "applied_change": change,
                                                      "applied_for": reason})


def request_stop(run_dir: Path) -> str:
    """First call: ask the child to stop after the current step. Second call: kill its process group.

    Returns what was done: 'requested', 'killed' or 'not running'.
    """
    run_dir = Path(run_dir)
    reap_children()
    status = runs.reconcile(run_dir)
    pid = status.get("pid")
    if status.get("state") not in runs.ACTIVE_STATES or not runs.process_alive(pid, status.get("pid_create_time")):
        return "not running"
    marker = RunDir(run_dir).stop_marker
    if marker.exists():
        _kill_group(int(pid))
        deadline = time.time() + 5
        while time.time() < deadline and runs.process_alive(pid, status.get("pid_create_time")):
            reap_children()
            time.sleep(0.1)
        runs.reconcile(run_dir)
        return "killed"
    marker.write_text(runs.now_iso(), encoding="utf-8")
    if (runs.read_json(RunDir(run_dir).config, {}) or {}).get("hardware", {}).get("processes", 1) > 1:
        return "requested"  # torchrun would tear its workers down on SIGTERM; the ranks read the marker instead
    try:
        os.kill(int(pid), signal.SIGTERM)
    except (ProcessLookupError, PermissionError, AttributeError):
        pass  # the marker file alone stops it at the next step
    return "requested"


def _kill_group(pid: int) -> None:
    try:
        os.killpg(os.getpgid(pid), signal.SIGKILL)
    except (ProcessLookupError, PermissionError, AttributeError, OSError):
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
