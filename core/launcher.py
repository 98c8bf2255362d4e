"""Process control: start the training child, stop it, and nothing else.

The child is `python -m core.train` with an argument list (never a shell), in its own
process group, with its output going to RUN_DIR/train.log. It outlives the dashboard:
a restarted dashboard finds it again through status.json (pid plus process start time).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from core import runs
from core.config import RunConfig

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Popen objects of children started by this process, so their exit is reaped (no zombies).
_children: dict[str, subprocess.Popen] = {}
_lock = threading.Lock()


def start_run(config: RunConfig, runs_dir: Path, lineage: dict | None = None) -> Path:
    """Write the run folder, launch the child, and return the folder. The config must be validated.

    Problems that can be seen before launch (a device that is not there) raise UserError and
    leave no folder behind.
    """
    from core import presets

    presets.resolve_device(config.hardware.device)
    runs_dir = Path(runs_dir)
    runs_dir.mkdir(parents=True, exist_ok=True)
    with _lock:
        run_dir = runs_dir / runs.new_run_id(runs_dir, config.name)
        run_dir.mkdir()
    config_path = run_dir / "config.json"
    runs.write_json_atomic(config_path, config.to_dict())
    runs.write_json_atomic(run_dir / "status.json", {"state": "queued", "created_at": time.time(),
                                                     "updated_at": time.time(), **(lineage or {})})
    command = launch_command(config, config_path, run_dir, runs_dir / ".cache" / "tokenized")
    env = {"OMP_WAIT_POLICY": "PASSIVE", **os.environ, "PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false",
           "HF_HUB_DISABLE_TELEMETRY": "1"}
    # OMP_WAIT_POLICY=PASSIVE: idle OpenMP threads sleep instead of spinning, so the browser and the
    # dashboard sharing a 2-core laptop slow training down less (1.40x faster next to a busy core,
    # no loss on an idle machine: bench/RESULTS.md).
    with open(run_dir / "train.log", "ab") as log:
        # NOTE: never shell=True; the command is a list and the config travels as a file.
        child = subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, env=env, start_new_session=True)
    _record_pid(run_dir, child)
    with _lock:
        _children[run_dir.name] = child
    return run_dir


def relaunch_with_change(run_dir: Path, change: dict, reason: str) -> Path:
    """Start a new run from `run_dir`'s config with `change` applied, linked to the run it came from."""
    from core.config import apply_change

    run_dir = Path(run_dir)
    raw = runs.read_json(run_dir / "config.json", {}) or {}
    raw = apply_change(raw, change)
    base = raw.get("name") or run_dir.name
    raw["name"] = f"{base} fix {reason.lower().replace('_', ' ')}"[:60]
    config = RunConfig.from_dict(raw)
    return start_run(config, run_dir.parent, lineage={"derived_from": run_dir.name, "applied_change": change,
                                                      "applied_for": reason})


def launch_command(config: RunConfig, config_path: Path, run_dir: Path, cache_dir: Path) -> list[str]:
    """The child's argument list: `python -m core.train ...`, under torchrun when it spans several processes."""
    train = ["-m", "core.train", "--config", str(config_path), "--run-dir", str(run_dir), "--cache-dir", str(cache_dir)]
    processes = config.hardware.processes
    if processes <= 1:
        return [sys.executable, *train]
    # torchrun starts one worker per GPU; all of them stay in this process group, so a kill reaches each.
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}", *train]


def _record_pid(run_dir: Path, child: subprocess.Popen) -> None:
    import psutil

    try:
        created = psutil.Process(child.pid).create_time()
    except psutil.NoSuchProcess:
        created = None
    status = runs.read_status(run_dir)
    if status.get("state") == "queued":  # the child may already have written its own state
        runs.update_status(run_dir, pid=child.pid, pid_create_time=created)


def reap_children() -> None:
    """Collect the exit status of finished children so they do not linger as zombies."""
    with _lock:
        for run_id, child in list(_children.items()):
            if child.poll() is not None:
                del _children[run_id]


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
    marker = run_dir / runs.STOP_MARKER
    if marker.exists():
        _kill_group(int(pid))
        deadline = time.time() + 5
        while time.time() < deadline and runs.process_alive(pid, status.get("pid_create_time")):
            reap_children()
            time.sleep(0.1)
        runs.reconcile(run_dir)
        return "killed"
    marker.write_text(runs.now_iso(), encoding="utf-8")
    if (runs.read_json(run_dir / "config.json", {}) or {}).get("hardware", {}).get("processes", 1) > 1:
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
