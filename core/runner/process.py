"""The training child as a process: its command, its start in a process group of its own, reaping its exit.

The child is `python -m core.train` with an argument list (never a shell), in its own
process group, with its output going to RUN_DIR/train.log. It outlives the dashboard:
a restarted dashboard finds it again through status.json (pid plus process start time).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

from core.common.errors import UserError
from core.config.schema import RunConfig
from core.rundir import runs
from core.rundir.layout import RunDir

PROJECT_ROOT = Path(__file__).resolve().parents[2]

# Popen objects of children started by this process, so their exit is reaped (no zombies).
_children: dict[str, subprocess.Popen] = {}
_lock = threading.Lock()


def launch(run_dir: Path, slots: list[str]) -> subprocess.Popen:
    """Start the child for a queued run folder on `slots`. Called by core/runner/queue.py under the queue lock."""
    run_dir = Path(run_dir)
    config = RunConfig.from_dict(runs.read_json(RunDir(run_dir).config, {}) or {})
    command = launch_command(config, RunDir(run_dir).config, run_dir, run_dir.parent / ".cache" / "tokenized")
    status = runs.read_status(run_dir)
    if status.get("resume"):
        command.append("--resume")
    if status.get("lr_find"):
        command.append("--lr-find")
    env = {"OMP_WAIT_POLICY": "PASSIVE", **os.environ, "PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false",
           "HF_HUB_DISABLE_TELEMETRY": "1", **_visible_gpus(slots)}
    # OMP_WAIT_POLICY=PASSIVE: idle OpenMP threads sleep instead of spinning, so the browser and the
    # dashboard sharing a 2-core laptop slow training down less (1.40x faster next to a busy core,
    # no loss on an idle machine: bench/RESULTS.md).
    # The slots go into status.json before the child exists: the child's own status writes keep them.
    runs.update_status(run_dir, slots=slots, launched_at=time.time())
    with open(RunDir(run_dir).log, "ab") as log:
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


def launch_command(config: RunConfig, config_path: Path, run_dir: Path, cache_dir: Path) -> list[str]:
    """The child's argument list: `python -m core.train ...`, under torchrun when it spans several processes."""
    train = ["-m", "core.train", "--config", str(config_path), "--run-dir", str(run_dir), "--cache-dir", str(cache_dir)]
    processes = config.hardware.processes
    if processes <= 1:
        return [sys.executable, *train]
    # torchrun starts one worker per GPU; all of them stay in this process group, so a kill reaches each.
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}", *train]


def node_commands(nodes: int, processes_per_node: int, host: str, port: int, config_path: str, run_dir: str,
                  python: str = "python") -> list[list[str]]:
    """The command to start on each of `nodes` machines for one run across them, first machine first.

    torchrun's static rendezvous at the first machine's `host:port` keeps `--node-rank`, so global rank 0 (the
    only one that writes the run folder) is on the first machine. The c10d rendezvous would ignore --node-rank
    and rank the machines by host name, so the run folder could land on any of them."""
    check_rendezvous_address(host, port)
    train = ["-m", "core.train", "--config", config_path, "--run-dir", run_dir]
    return [[python, "-m", "torch.distributed.run", f"--nnodes={nodes}", f"--node-rank={rank}",
             f"--nproc-per-node={processes_per_node}", "--rdzv-backend=static", f"--rdzv-endpoint={host}:{port}",
             *train] for rank in range(nodes)]


def check_rendezvous_address(host: str, port: int) -> None:
    """The first machine's address must be a host name or IP address the others can reach, with a free port."""
    if not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\]", host or ""):
        raise UserError(f"'{host}' is not a host name or IP address; type the address of the first machine as the "
                        "others reach it, such as 10.0.0.5 or node1.example.org.", field="first machine's address")
    if not 1024 <= int(port) <= 65535:
        raise UserError(f"{port} is not a port for the rendezvous; pick a free port from 1024 to 65535, such as "
                        "29500.", field="port")


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
