"""The run directory: the contract between the training child and everything that reads a run.

The folder's files are named in core/rundir/layout.py (RunDir); records in metrics.jsonl in core/rundir/records.py.

Everything the dashboard shows is rebuilt from these files, so a reload or a restart loses nothing.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.rundir.layout import RunDir, STOP_MARKER  # noqa: F401 - STOP_MARKER: callers read it here too
from core.rundir.records import is_summary

ACTIVE_STATES = ("queued", "running")
FINAL_STATES = ("completed", "failed", "stopped", "cancelled")
RESUMABLE_STATES = ("failed", "stopped")
# A run the queue launched that never got a PID (the launching process died in between) frees its slot after this.
LAUNCH_GRACE_S = 60



def default_runs_dir() -> Path:
    return Path(os.environ.get("DASHBOARD_RUNS_DIR", Path(__file__).resolve().parents[2] / "runs"))


def is_writer() -> bool:
    """Only one process writes a run directory: rank 0 of a multi-process (torchrun) run, or the only one."""
    return int(os.environ.get("RANK", "0")) == 0


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def write_json_atomic(path: Path, data: Any) -> None:
    """Write to a temporary file in the same folder, then rename: readers never see half a file."""
    if not is_writer():
        return
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2, default=str)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_json(path: Path, default: Any = None) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return default


def read_status(run_dir: Path) -> dict[str, Any]:
    return read_json(RunDir(run_dir).status, default={}) or {}


def update_status(run_dir: Path, **changes: Any) -> dict[str, Any]:
    status = read_status(run_dir)
    status.update(changes)
    status["updated_at"] = time.time()
    write_json_atomic(RunDir(run_dir).status, status)
    return status


def append_jsonl(path: Path, record: dict[str, Any]) -> None:
    """Append one JSON line and flush it, so a reader (or a crash) never loses a line that was written."""
    if not is_writer():
        return
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record, default=float) + "\n")
        handle.flush()


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """All complete lines of a JSON-lines file; a torn last line (the writer died mid-write) is skipped."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    records = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def append_metrics(run_dir: Path, record: dict[str, Any]) -> None:
    append_jsonl(RunDir(run_dir).metrics, record)


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """All complete metrics lines; a torn last line (the child died mid-write) is skipped."""
    return read_jsonl(RunDir(run_dir).metrics)


def read_resources(run_dir: Path) -> list[dict[str, Any]]:
    """The training child's resource samples (CPU, memory, GPU), oldest first; none for older runs."""
    return read_jsonl(RunDir(run_dir).resources)


def read_log_tail(run_dir: Path, max_bytes: int = 6000) -> str:
    path = RunDir(run_dir).log
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - max_bytes))
            return handle.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return ""


def process_alive(pid: int | None, create_time: float | None) -> bool:
    """True if `pid` is running and is the same process (its start time matches), not a reused PID."""
    if not pid:
        return False
    import psutil

    try:
        process = psutil.Process(int(pid))
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        return create_time is None or abs(process.create_time() - float(create_time)) < 1.0
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return False


def reconcile(run_dir: Path) -> dict[str, Any]:
    """Fix the state of a run whose process died without saying so; return the current status."""
    run_dir = Path(run_dir)
    status = read_status(run_dir)
    if status.get("state") not in ACTIVE_STATES:
        return status
    if not status.get("pid"):
        if status.get("slots") and time.time() - float(status.get("launched_at", 0)) > LAUNCH_GRACE_S:
            return update_status(run_dir, state="failed", ended_at=now_iso(),
                                 error={"code": "LAUNCH_FAILED", "message": "The training process was never "
                                        "started (the dashboard stopped while launching it); start it again."})
        return status  # waiting in the queue, or being launched right now
    if process_alive(status.get("pid"), status.get("pid_create_time")):
        return status
    # Read again: the child may have written its final state between the two reads.
    status = read_status(run_dir)
    if status.get("state") not in ACTIVE_STATES:
        return status
    if RunDir(run_dir).stop_marker.exists():
        return update_status(run_dir, state="stopped", ended_at=now_iso(),
                             error={"code": "STOPPED_BY_FORCE",
                                    "message": "Stopped by force after a stop request; "
                                               "the newest checkpoint, if any, is in checkpoints/."})
    return update_status(run_dir, state="failed", ended_at=now_iso(),
                         error={"code": "KILLED",
                                "message": "The training process ended without reporting (killed, or the machine "
                                           "ran out of memory). Check the end of train.log; start it again with "
                                           "a smaller batch or subset if memory was short."})


@dataclass
class RunSummary:
    run_id: str
    path: Path
    status: dict[str, Any]
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def state(self) -> str:
        return self.status.get("state", "unknown")

    @property
    def label(self) -> str:
        name = self.config.get("name") or ""
        data = dataset_label(self.config)
        model = self.config.get("model", {}).get("name", "?")
        return f"{self.run_id} · {name + ' · ' if name else ''}{model} on {data}"


def shown_state(status: dict[str, Any]) -> str:
    """The state as a person should read it: a queued run the queue has already launched is 'starting'
    (its child has not written 'running' yet), so 'queued' appears only while it really waits in line."""
    state = status.get("state", "unknown")
    return "starting" if state == "queued" and status.get("slots") else state


def dataset_label(config: dict[str, Any]) -> str:
    """The data set as a person knows it: a file's own name (not "file", not the stored copy's hash prefix)."""
    data = config.get("data") or {}
    name = data.get("name") or "?"
    if data.get("source") != "file" or name != "file":
        return name
    stored = Path(str(data.get("path") or "")).name
    # Uploads are stored as "<10 hex digits>-<name>" (core/data/uploads.py); show the name the person uploaded.
    return re.sub(r"^[0-9a-f]{10}-", "", stored) or name


def list_runs(runs_dir: Path) -> list[RunSummary]:
    """Every run under `runs_dir`, newest first, with stale states reconciled."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return []
    found = []
    for path in runs_dir.iterdir():
        if path.name.startswith(".") or not RunDir(path).status.exists():
            continue
        if safe_run_path(runs_dir, path.name) is None:  # a symlink that leads out of the runs folder
            continue
        status = reconcile(path)
        found.append(RunSummary(path.name, path, status, read_json(RunDir(path).config, {}) or {}))
    found.sort(key=lambda run: (run.status.get("created_at", 0), run.run_id), reverse=True)
    return found


def last_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete Trainer checkpoint (trainer_state.json is written last), or None."""
    found = []
    for path in (RunDir(run_dir).checkpoints).glob("checkpoint-*"):
        step = path.name.rpartition("-")[2]
        if step.isdigit() and read_json(path / "trainer_state.json") is not None:
            found.append((int(step), path))
    return max(found)[1] if found else None


def checkpoint_step(checkpoint: Path) -> int:
    return int(Path(checkpoint).name.rpartition("-")[2])


def keep_metrics_up_to(run_dir: Path, step: int) -> int:
    """Before a resume from `step`: move later lines (training that is redone) to metrics.replaced.jsonl."""
    kept, dropped = [], []
    for record in read_metrics(run_dir):
        (kept if record.get("step", 0) <= step and not is_summary(record) else dropped).append(record)
    if dropped:
        with open(RunDir(run_dir).replaced_metrics, "a", encoding="utf-8") as handle:
            handle.writelines(json.dumps(r, default=float) + "\n" for r in dropped)
        text = "".join(json.dumps(r, default=float) + "\n" for r in kept)
        tmp = Path(run_dir) / ".metrics.jsonl.tmp"
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, RunDir(run_dir).metrics)
    return len(dropped)


def new_attempt(status: dict[str, Any]) -> dict[str, Any]:
    """A status for another attempt at a run: the last one's outcome moves to `attempts`, the rest is reset."""
    ended = {k: status.get(k) for k in ("state", "error", "started_at", "ended_at", "progress") if status.get(k)}
    fresh = {k: v for k, v in status.items() if k not in ("pid", "pid_create_time", "error", "ended_at", "slots",
                                                          "launched_at", "phase", "resume", "progress")}
    fresh["attempts"] = [*status.get("attempts", []), ended]
    return fresh


def new_run_id(runs_dir: Path, name: str = "") -> str:
    """A sortable, filesystem-safe id: timestamp plus a slug of the run's name."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40]
    base = time.strftime("%Y%m%d-%H%M%S") + (f"-{slug}" if slug else "")
    candidate, n = base, 1
    while (Path(runs_dir) / candidate).exists():
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def safe_run_path(runs_dir: Path, run_id: str) -> Path | None:
    """The folder of `run_id` inside `runs_dir`, or None if the id tries to leave it."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", run_id or ""):
        return None
    path = (Path(runs_dir) / run_id).resolve()
    return path if path.parent == Path(runs_dir).resolve() else None
