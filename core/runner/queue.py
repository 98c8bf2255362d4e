"""The run queue: one training run per device slot at a time; further Starts wait in line.

A slot is one CPU (`cpu:0`), one Apple GPU (`mps:0`) or one CUDA GPU (`cuda:0`, `cuda:1`, ...). A run takes
the slots of its resolved device: one, or N GPUs for a run of N processes; a one-process run whose config allows
k runs per GPU takes 1/k of one, so k such runs train on it at once. Busy slots are read from the run
folders (the run directory is the API). A lock file in the runs folder makes "check the slots, then launch
or queue" one step, so two Starts pressed at once never put two runs on one device.

Queued runs start when their device frees, whoever notices first: any page or CLI that looks, or the small
detached dispatcher (`python -m core.queue --runs-dir DIR`) that lives while a run waits, so the queue
drains with the dashboard closed and after a run was killed.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from core.common.errors import UserError
from core.plan import presets, sharing
from core.rundir import runs
from core.rundir.layout import RunDir
from core.runner import process

LOCK_FILE = ".queue.lock"
DISPATCHER_LOCK_FILE = ".dispatcher.lock"
DISPATCH_EVERY_S = 1.0
# Runs on the CPU at once; one by default, since two CPU runs on one machine only slow each other down.
CPU_SLOTS_ENV = "DASHBOARD_CPU_SLOTS"


@contextmanager
def queue_lock(runs_dir: Path):
    """Exclusive across threads and processes (flock on a file in the runs folder); released if we die."""
    with open(Path(runs_dir) / LOCK_FILE, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def slot_request(device: str, processes: int, available: dict, per_gpu: int = 1) -> dict:
    """What a run needs: its device kind, how many slots of it, and how many that kind has on this machine.

    `per_gpu` runs like it may share one GPU (core/plan/sharing.py): the run takes 1/per_gpu of each of its GPUs."""
    if device == "cuda":
        capacity = int(available.get("cuda_count") or 1)
        if processes > capacity:
            raise UserError(f"{processes} GPUs were asked for but this machine has {capacity}; "
                            f"set it to {capacity} or fewer.", field="hardware.processes", code="TOO_MANY_GPUS")
        shared = {"per_gpu": per_gpu} if per_gpu > 1 and processes <= 1 else {}
        return {"device": "cuda", "count": max(1, processes), "capacity": capacity, **shared}
    capacity = int(os.environ.get(CPU_SLOTS_ENV, "1")) if device == "cpu" else 1
    return {"device": device, "count": 1, "capacity": max(1, capacity)}


def _run_dirs(runs_dir: Path) -> list[Path]:
    return [p for p in Path(runs_dir).iterdir()
            if not p.name.startswith(".") and p.is_dir() and RunDir(p).status.exists()]


def request_for(config, available: dict, runs_dir: Path | None = None) -> dict:
    """The slot request of a validated RunConfig on this machine, with its runs per GPU on CUDA (from the GPU use
    of an earlier run like it in `runs_dir`, when there is one)."""
    device = presets.resolve_device(config.hardware.device, available)
    per_gpu = 1
    if device == "cuda":
        measured = measured_gpu_busy(Path(runs_dir), config.to_dict()) if runs_dir else None
        per_gpu, _ = sharing.runs_per_gpu(config, presets.gpu_memory_mb(), measured)
    return slot_request(device, config.hardware.processes, available, per_gpu)


def measured_gpu_busy(runs_dir: Path, raw: dict) -> float | None:
    """The median GPU utilisation (0..1) of the newest completed run like this one that had a GPU to itself."""
    if not runs_dir.is_dir():
        return None
    for path in sorted(_run_dirs(runs_dir), reverse=True):  # run ids start with their date: newest first
        status = runs.read_status(path)
        if status.get("state") != "completed" or (status.get("slot_request") or {}).get("per_gpu"):
            continue
        if status.get("device") != "cuda" or not sharing.same_setup(runs.read_json(RunDir(path).config, {}) or {},
                                                                     raw):
            continue
        samples = sorted(r["gpu_utilization"] for r in runs.read_jsonl(RunDir(path).resources)
                         if r.get("gpu_utilization") is not None)
        if samples:
            return samples[len(samples) // 2] / 100
    return None


def share_of(request: dict) -> float:
    """The share of each of its slots a run takes: 1, or 1/per_gpu for a run that shares its GPU."""
    return 1.0 / max(1, int(request.get("per_gpu") or 1))


def slot_load(runs_dir: Path) -> dict[str, float]:
    """The share of each slot taken by launched runs that are still alive (dead ones are reconciled and give
    theirs back): 1.0 for a slot a run has to itself, 0.25 for each of four runs sharing a GPU."""
    load: dict[str, float] = {}
    for path in _run_dirs(runs_dir):
        status = runs.read_status(path)
        if status.get("state") in runs.ACTIVE_STATES and status.get("slots"):
            status = runs.reconcile(path)
            if status.get("state") in runs.ACTIVE_STATES:
                share = share_of(status.get("slot_request") or {})
                for slot in status["slots"]:
                    load[slot] = load.get(slot, 0.0) + share
    return load


def busy_slots(runs_dir: Path) -> set[str]:
    """Slots with any run on them."""
    return set(slot_load(runs_dir))


def waiting(runs_dir: Path) -> list[Path]:
    """Queued runs not yet launched, first come first served."""
    found = []
    for path in _run_dirs(runs_dir):
        status = runs.read_status(path)
        if status.get("state") == "queued" and not status.get("slots") and status.get("slot_request"):
            found.append((status.get("queued_at", 0), path.name, path))
    return [path for _, _, path in sorted(found)]


def free_slots(request: dict, busy: set[str] | dict[str, float]) -> list[str] | None:
    """The slots this request can take now, or None when its device is full. `busy` is a set of taken slots or
    each slot's taken share; a shared run goes to the least loaded GPUs that still have room for its share."""
    load = busy if isinstance(busy, dict) else {slot: 1.0 for slot in busy}
    share = share_of(request)
    names = [f"{request['device']}:{i}" for i in range(request["capacity"])]
    free = [name for name in names if load.get(name, 0.0) + share <= 1.0 + 1e-9]
    free.sort(key=lambda name: load.get(name, 0.0))  # stable: equal loads keep the GPU order
    return free[: request["count"]] if len(free) >= request["count"] else None


def dispatch(runs_dir: Path) -> list[Path]:
    """Launch every waiting run whose device has room, in order; returns the runs launched."""
    launched = []
    with queue_lock(runs_dir):
        load = slot_load(runs_dir)
        blocked: set[str] = set()  # a device whose first waiting run does not fit: later ones wait behind it
        for path in waiting(runs_dir):
            request = runs.read_status(path)["slot_request"]
            slots = None if request["device"] in blocked else free_slots(request, load)
            if slots is None:
                blocked.add(request["device"])
                continue
            if _launch(path, slots):
                for slot in slots:
                    load[slot] = load.get(slot, 0.0) + share_of(request)
                launched.append(path)
    return launched


def _launch(run_dir: Path, slots: list[str]) -> bool:
    """Start one queued run; a folder that cannot be started fails alone and does not hold up the queue."""
    try:
        process.launch(run_dir, slots)
        return True
    except (UserError, OSError, ValueError) as exc:
        sentence = exc.sentence if isinstance(exc, UserError) else f"{type(exc).__name__}: {exc}"
        runs.update_status(run_dir, state="failed", ended_at=runs.now_iso(), slots=[],
                           error={"code": "LAUNCH_FAILED", "message": f"The run could not be started ({sentence})."})
        return False


def submit(run_dir: Path, request: dict, allowed: tuple = (None, "queued"), **changes) -> bool:
    """Put a run folder in line and start it if its device is free.

    False (and nothing changed) when the run's state is not in `allowed`: someone else queued it first.
    A failed or stopped run starts a new attempt; the last one's outcome is kept under `attempts`.
    """
    run_dir = Path(run_dir)
    with queue_lock(run_dir.parent):
        status = runs.read_status(run_dir)
        if status.get("state") not in allowed:
            return False
        if status.get("state") in runs.RESUMABLE_STATES:
            status = runs.new_attempt(status)
        runs.write_json_atomic(RunDir(run_dir).status, {**status, **changes, "state": "queued", "slot_request": request,
                                                         "queued_at": time.time(), "updated_at": time.time()})
    dispatch(run_dir.parent)
    status = runs.read_status(run_dir)
    if status.get("state") == "queued" and not status.get("slots"):
        start_dispatcher(run_dir.parent)  # after dispatch() released the lock: see dispatcher_main
    return True


def position(run_dir: Path) -> int | None:
    """1 for the next run to start on its device, 2 for the one after, ...; None when not waiting."""
    run_dir = Path(run_dir)
    status = runs.read_status(run_dir)
    if status.get("state") != "queued" or status.get("slots") or not status.get("slot_request"):
        return None
    device = status["slot_request"]["device"]
    line = [p for p in waiting(run_dir.parent) if runs.read_status(p).get("slot_request", {}).get("device") == device]
    return line.index(run_dir) + 1 if run_dir in line else None


def cancel(run_dir: Path) -> bool:
    """Take a waiting run out of the queue (state 'cancelled'); False if it has already been launched."""
    run_dir = Path(run_dir)
    with queue_lock(run_dir.parent):
        status = runs.read_status(run_dir)
        if status.get("state") != "queued" or status.get("slots"):
            return False
        if status.get("resume") and status.get("attempts"):  # a cancelled resume leaves the run as it was
            *earlier, last = status["attempts"]
            kept = {k: v for k, v in status.items() if k not in ("resume", "slot_request", "queued_at")}
            runs.write_json_atomic(RunDir(run_dir).status, {**kept, **last, "attempts": earlier})
        else:
            runs.update_status(run_dir, state="cancelled", ended_at=runs.now_iso())
    return True


def wake(runs_dir: Path) -> None:
    """Start what can start (cheap when nothing waits). Pages no longer call it: the dispatcher starts queued runs."""
    runs_dir = Path(runs_dir)
    if runs_dir.is_dir() and waiting(runs_dir):
        dispatch(runs_dir)


def start_dispatcher(runs_dir: Path) -> subprocess.Popen:
    """A detached dispatcher for this runs folder; it exits at once if one is already there."""
    with open(Path(runs_dir) / ".queue.log", "ab") as log:
        child = subprocess.Popen([sys.executable, "-m", "core.queue", "--runs-dir", str(runs_dir)],
                                 cwd=process.PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, start_new_session=True)
    process.adopt(f".dispatcher-{child.pid}", child)
    return child


def dispatcher_main(runs_dir: Path) -> int:
    """Launch queued runs as devices free, until nothing waits. One dispatcher per runs folder.

    It decides to exit, and gives up its lock, while holding the queue lock; submit() starts a new one
    only after its own dispatch() has taken and released that lock. So a run queued while this one exits
    is always seen by someone.
    """
    runs_dir = Path(runs_dir)
    with open(runs_dir / DISPATCHER_LOCK_FILE, "a") as mine:
        try:
            fcntl.flock(mine, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return 0  # another dispatcher serves this folder
        while True:
            dispatch(runs_dir)
            process.reap_children()
            with queue_lock(runs_dir):
                if not waiting(runs_dir):
                    fcntl.flock(mine, fcntl.LOCK_UN)
                    return 0
            time.sleep(DISPATCH_EVERY_S)


def main(argv: list[str] | None = None) -> int:
    """`python -m core.queue --runs-dir DIR`: serve one runs folder until nothing waits."""
    parser = argparse.ArgumentParser(prog="python -m core.queue", description="Start queued runs as devices free.")
    parser.add_argument("--runs-dir", required=True, help="the runs folder to serve")
    return dispatcher_main(Path(parser.parse_args(argv).runs_dir))


if __name__ == "__main__":
    sys.exit(main())
