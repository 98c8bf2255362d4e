"""Sweeps on many machines, for real: a throw-away PostgreSQL cluster, two workers on one sweep (each with its own
runs folder, as on two machines) take different trials, and a worker killed with SIGKILL leaves its trial failed,
not running forever, while the other one goes on."""

import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from core.rundir import runs
from core.runner import launcher
from core.search import study as studies, sweeps
from tests.conftest import ROOT, wait_for, write_config
from tests.test_sweep import sweep_config


def postgres_bin() -> Path | None:
    found = shutil.which("initdb") or next(iter(sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))), None)
    return Path(found).resolve().parent if found else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def as_cluster_owner(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run its tools as the postgres user then."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@pytest.fixture(scope="module")
def postgres_url():
    binaries = postgres_bin()
    if binaries is None:
        if os.environ.get("REQUIRE_POSTGRES"):
            pytest.fail("PostgreSQL is required here (REQUIRE_POSTGRES) but initdb is missing; "
                        "apt-get install postgresql.")
        pytest.skip("PostgreSQL's initdb is not installed (Debian: apt-get install postgresql)")
    folder = Path(tempfile.mkdtemp(prefix="sweep-pg-"))
    folder.chmod(0o755)
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
    port = free_port()
    subprocess.run(as_cluster_owner([str(binaries / "initdb"), "-D", str(folder / "data"), "-U", "postgres",
                                     "--auth=trust", "-E", "UTF8"]), check=True, capture_output=True, timeout=120)
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {folder}"
    subprocess.run(as_cluster_owner([str(binaries / "pg_ctl"), "-D", str(folder / "data"), "-l", str(folder / "log"),
                                     "-w", "-o", options, "start"]), check=True, capture_output=True, timeout=120)
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(as_cluster_owner([str(binaries / "pg_ctl"), "-D", str(folder / "data"), "-m", "immediate",
                                         "stop"]), capture_output=True, timeout=120)
        shutil.rmtree(folder, ignore_errors=True)


def trial_runs(runs_dir: Path) -> list[Path]:
    return [p for p in runs_dir.iterdir() if p.is_dir() and not p.name.startswith(".")]


def training(runs_dir: Path) -> bool:
    return any(runs.read_status(path).get("phase") == "training" for path in trial_runs(runs_dir))


@pytest.mark.slow
def test_two_workers_take_different_trials_and_a_killed_workers_trial_ends_failed(tmp_path, postgres_url):
    machine_a, machine_b = tmp_path / "a", tmp_path / "b"
    machine_a.mkdir(), machine_b.mkdir()
    config = write_config(tmp_path / "config.json", sweep_config())
    space = tmp_path / "space.json"
    space.write_text(json.dumps({"training.learning_rate": {"low": 1e-4, "high": 1e-3, "log": True}}))
    settings = sweeps.prepare(config, space, 2, sampler="random", pruner="none", seed=0)
    studies.create(sweeps.storage_for(machine_a, postgres_url), "shared", settings)
    workers = {m: subprocess.Popen([sys.executable, "-m", "core.sweep", "worker", "--name", "shared", "--storage",
                                    postgres_url, "--runs-dir", str(m)], cwd=ROOT, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True) for m in (machine_a, machine_b)}
    assert wait_for(lambda: training(machine_a) and training(machine_b), 300)
    rows = sweeps.sweep_summary("shared", machine_a, postgres_url)["trials"]
    assert sorted(r["state"] for r in rows) == ["running", "running"]
    by_run = {r["run_id"]: r for r in rows}
    [run_a], [run_b] = trial_runs(machine_a), trial_runs(machine_b)
    lost, other = by_run[run_a.name], by_run[run_b.name]
    assert lost["number"] != other["number"]

    workers[machine_a].kill()  # SIGKILL: no goodbye, its heartbeat simply stops
    workers[machine_a].wait(timeout=60)
    assert workers[machine_b].wait(timeout=400) == 0, workers[machine_b].stdout.read()

    def row(number):
        return next(r for r in sweeps.sweep_summary("shared", machine_a, postgres_url)["trials"] if r["number"] == number)
    assert wait_for(lambda: row(lost["number"])["state"] == "failed", studies.GRACE_S + 90, every=2)
    assert row(lost["number"])["reason"] == sweeps.LOST_WORKER
    assert row(other["number"])["state"] == "complete"
    # The dead worker's training run is stopped too, by whoever found the trial lost in that runs folder.
    orphan = machine_a / lost["run_id"]
    try:
        assert wait_for(lambda: runs.reconcile(orphan).get("state") not in runs.ACTIVE_STATES, 120)
    finally:
        launcher.request_stop(orphan)
        launcher.request_stop(orphan)
