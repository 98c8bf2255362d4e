"""Process control: start the training child, stop it, and nothing else.

The child is `python -m core.train` with an argument list (never a shell), in its own
process group, with its output going to RUN_DIR/train.log. It outlives the dashboard:
a restarted dashboard finds it again through status.json (pid plus process start time).
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from core import runs, safety
from core.config import RunConfig
from core.errors import UserError

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Popen objects of children started by this process, so their exit is reaped (no zombies).
_children: dict[str, subprocess.Popen] = {}
_lock = threading.Lock()


def start_run(config: RunConfig, runs_dir: Path, lineage: dict | None = None) -> Path:
    """Write the run folder and start the child, or queue it while its device is busy; returns the folder.

    The config must be validated. Problems that can be seen before launch (a device that is not there)
    raise UserError and leave no folder behind. See core/queue.py for the queue.
    """
    from core import presets, queue

    available = presets.available_devices()
    device = presets.resolve_device(config.hardware.device, available)
    request = queue.slot_request(device, config.hardware.processes, available)
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
    runs.write_json_atomic(run_dir / "config.json", safety.scrub_config(config.to_dict()))
    runs.write_json_atomic(run_dir / "status.json", {"state": "queued", "created_at": time.time(),
                                                     "updated_at": time.time(), **(lineage or {})})
    queue.submit(run_dir, request)
    return run_dir


def launch(run_dir: Path, slots: list[str]) -> subprocess.Popen:
    """Start the child for a queued run folder on `slots`. Called by core/queue.py under the queue lock."""
    run_dir = Path(run_dir)
    config = RunConfig.from_dict(runs.read_json(run_dir / "config.json", {}) or {})
    command = launch_command(config, run_dir / "config.json", run_dir, run_dir.parent / ".cache" / "tokenized")
    if runs.read_status(run_dir).get("resume"):
        command.append("--resume")
    env = {"OMP_WAIT_POLICY": "PASSIVE", **os.environ, "PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false",
           "HF_HUB_DISABLE_TELEMETRY": "1", **_visible_gpus(slots)}
    # OMP_WAIT_POLICY=PASSIVE: idle OpenMP threads sleep instead of spinning, so the browser and the
    # dashboard sharing a 2-core laptop slow training down less (1.40x faster next to a busy core,
    # no loss on an idle machine: bench/RESULTS.md).
    # The slots go into status.json before the child exists: the child's own status writes keep them.
    runs.update_status(run_dir, slots=slots, launched_at=time.time())
    with open(run_dir / "train.log", "ab") as log:
        # NOTE: never shell=True; the command is a list and the config travels as a file.
        child = subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, env=env, start_new_session=True)
    _record_pid(run_dir, child)
    adopt(run_dir.name, child)
    return child


def _visible_gpus(slots: list[str]) -> dict[str, str]:
    """CUDA_VISIBLE_DEVICES for a run's GPU slots, counted within the GPUs this process may use."""
    indices = [int(slot.split(":")[1]) for slot in slots if slot.startswith("cuda:")]
    if not indices:
        return {}
    ours = [d for d in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if d.strip()]
    return {"CUDA_VISIBLE_DEVICES": ",".join(ours[i] if i < len(ours) else str(i) for i in indices)}


def adopt(name: str, child: subprocess.Popen) -> None:
    """Keep a started child's Popen so its exit is reaped (no zombies)."""
    with _lock:
        _children[name] = child


def resume_run(run_dir: Path) -> Path:
    """Continue a failed or stopped run from its newest checkpoint, in the same folder, through the queue."""
    from core import presets, queue

    run_dir = Path(run_dir)
    state = runs.reconcile(run_dir).get("state")
    if state not in runs.RESUMABLE_STATES:
        raise UserError(f"run '{run_dir.name}' is {state}; only a failed or stopped run can be resumed.",
                        field="run", code="NOT_RESUMABLE")
    if runs.last_checkpoint(run_dir) is None:
        raise UserError(f"run '{run_dir.name}' saved no checkpoint before it ended, so there is nothing to resume "
                        "from; start it again instead.", field="run", code="NO_CHECKPOINT")
    config = RunConfig.from_dict(runs.read_json(run_dir / "config.json", {}) or {})
    available = presets.available_devices()
    request = queue.slot_request(presets.resolve_device(config.hardware.device, available),
                                 config.hardware.processes, available)
    (run_dir / runs.STOP_MARKER).unlink(missing_ok=True)
    if not queue.submit(run_dir, request, allowed=runs.RESUMABLE_STATES, resume=True):
        raise UserError(f"run '{run_dir.name}' was resumed already.", field="run", code="NOT_RESUMABLE")
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
