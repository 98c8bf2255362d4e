"""Several training processes (torchrun + DDP): the command, and real 2-process runs on CPU with gloo."""

import os
from pathlib import Path

import psutil

from core.config.schema import RunConfig
from core.rundir import runs
from core.runner import launcher, process
from tests.conftest import tiny_config, wait_for


# CI runs two CPU processes (gloo); on a machine of 2 GPUs set MULTIPROCESS_TEST_DEVICE=cuda (NCCL).
DEVICE = os.environ.get("MULTIPROCESS_TEST_DEVICE", "cpu")


def two_process_config(**training):
    raw = tiny_config(**training)
    raw["hardware"] = {"device": DEVICE, "processes": 2}
    return RunConfig.from_dict(raw)


def test_launch_command_uses_torchrun_for_several_processes(tmp_path):
    one = process.launch_command(RunConfig.from_dict(tiny_config()), tmp_path / "c.json", tmp_path / "r",
                                  tmp_path / "cache")
    assert one[1:3] == ["-m", "core.train"] and "torch.distributed.run" not in one
    two = process.launch_command(two_process_config(), tmp_path / "c.json", tmp_path / "r", tmp_path / "cache")
    assert two[1:5] == ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    assert two[5:7] == ["-m", "core.train"] and "--run-dir" in two
    one_gpu = RunConfig.from_dict({**tiny_config(), "hardware": {"device": "cuda", "processes": 1}})
    assert "torch.distributed.run" not in process.launch_command(one_gpu, tmp_path / "c.json", tmp_path / "r",
                                                                  tmp_path / "cache")


def ranks_of(run_dir: Path) -> list[psutil.Process]:
    try:
        return [p for p in psutil.Process(runs.read_status(run_dir)["pid"]).children(recursive=True)
                if "core.train" in " ".join(p.cmdline())]
    except psutil.NoSuchProcess:
        return []


def test_two_ranks_train_and_only_rank_zero_writes(runs_dir):
    run_dir = launcher.start_run(two_process_config(), runs_dir)
    assert wait_for(lambda: runs.reconcile(run_dir).get("state") in runs.FINAL_STATES)
    status = runs.read_status(run_dir)
    assert status["state"] == "completed", runs.read_log_tail(run_dir)
    steps = [r["step"] for r in runs.read_metrics(run_dir) if r["type"] == "train"]
    assert steps == sorted(set(steps))  # one line per logging step, not one per rank
    assert len([r for r in runs.read_metrics(run_dir) if r["type"] == "eval"]) == 2
    assert (run_dir / "model" / "model.safetensors").exists()
    # The child writes its last log line just after its final status; a fast reader can come in between.
    assert wait_for(lambda: "Run completed" in runs.read_log_tail(run_dir, 100000), 30)
    assert runs.read_log_tail(run_dir, 100000).count("Run completed") == 1


def test_stop_reaches_every_rank(runs_dir):
    run_dir = launcher.start_run(two_process_config(num_train_epochs=300), runs_dir)
    assert wait_for(lambda: any(r["type"] == "train" for r in runs.read_metrics(run_dir)))
    assert len(ranks_of(run_dir)) == 2
    assert launcher.request_stop(run_dir) == "requested"
    assert wait_for(lambda: runs.reconcile(run_dir).get("state") in runs.FINAL_STATES, timeout=90)
    assert runs.read_status(run_dir)["state"] == "stopped", runs.read_log_tail(run_dir)
    assert (run_dir / "model" / "model.safetensors").exists()
    assert wait_for(lambda: not ranks_of(run_dir), timeout=30)


def test_a_killed_rank_fails_the_run_without_orphans(runs_dir):
    run_dir = launcher.start_run(two_process_config(num_train_epochs=300), runs_dir)
    assert wait_for(lambda: any(r["type"] == "train" for r in runs.read_metrics(run_dir)))
    workers = ranks_of(run_dir)
    rank_one = next(p for p in workers if p.environ().get("RANK") == "1")
    rank_one.kill()
    assert wait_for(lambda: runs.reconcile(run_dir).get("state") == "failed", timeout=90), runs.read_log_tail(run_dir)
    assert wait_for(lambda: not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in workers),
                    timeout=30)
