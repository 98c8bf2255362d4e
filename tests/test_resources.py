"""Resource sampling in the training child: a real tiny run writes samples; workers and the GPU are counted."""

import subprocess
import sys

import pytest

from core.rundir import runs
from core.training.resources import SAMPLE_EVERY_S, ProcessSampler, ResourceRecorder
from tests.conftest import tiny_config, train_tiny_runs, wait_for


def test_a_real_tiny_run_writes_resource_samples_cheaply(tmp_path):
    run_dir = train_tiny_runs(tmp_path, {"run": tiny_config(num_train_epochs=1)})["run"]
    samples = runs.read_resources(run_dir)
    assert len(samples) >= 2  # one when training starts, one when it ends, more every few seconds between
    status = runs.read_status(run_dir)
    assert samples[0]["step"] == 0 and samples[-1]["step"] == status["progress"]["max_steps"]
    assert all(s["rss_mb"] > 50 and s["cpu_percent"] >= 0 and s["cores"] >= 1 and s["processes"] >= 1
               for s in samples)
    assert "gpu_allocated_mb" not in samples[0]  # a CPU run has no GPU figures
    # A tiny run trains in well under a second, so the two start/end samples say nothing about the share of a
    # long run; what does is one sample's cost against the interval between samples.
    assert max(s["sample_cpu_ms"] for s in samples) / 1000 < 0.01 * SAMPLE_EVERY_S, samples


def test_cpu_of_worker_processes_is_counted(tmp_path):
    import psutil

    sampler = ProcessSampler("cpu")
    worker = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        assert wait_for(lambda: sampler.sample()["processes"] == 2, timeout=20)  # found; counted from here on
        watch = psutil.Process(worker.pid)
        watch.cpu_percent(None)
        # Let it run a while: on a loaded machine a busy process gets only a share of a core.
        assert wait_for(lambda: sum(watch.cpu_times()[:2]) > 0.5, timeout=60)
        with_worker, worker_alone = sampler.sample()["cpu_percent"], watch.cpu_percent(None)
        assert worker_alone > 0 and with_worker >= 0.9 * worker_alone
    finally:
        worker.kill()
        worker.wait()
    assert wait_for(lambda: sampler.sample()["processes"] == 1, timeout=10)  # an ended worker drops out


@pytest.fixture
def fake_cuda(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda index: 512 * 2**20)
    monkeypatch.setattr(torch.cuda, "max_memory_reserved", lambda index: 1024 * 2**20)
    return torch.cuda


def test_gpu_memory_is_sampled_and_utilisation_skipped_quietly_without_pynvml(fake_cuda, monkeypatch):
    calls = []

    def no_pynvml(index):
        calls.append(index)
        raise ModuleNotFoundError("No module named 'pynvml'")

    monkeypatch.setattr(fake_cuda, "utilization", no_pynvml)
    sampler = ProcessSampler("cuda")
    first, second = sampler.sample(), sampler.sample()
    assert first["gpu_allocated_mb"] == 512.0 and first["gpu_reserved_peak_mb"] == 1024.0
    assert "gpu_utilization" not in first and "gpu_utilization" not in second
    assert calls == [0]  # tried once, then left alone


def test_gpu_utilisation_is_sampled_where_it_works(fake_cuda, monkeypatch):
    monkeypatch.setattr(fake_cuda, "utilization", lambda index: 87)
    assert ProcessSampler("cuda").sample()["gpu_utilization"] == 87.0


def test_the_sampler_thread_stops_with_training_and_writes_a_last_sample(tmp_path):
    class State:
        global_step, max_steps = 0, 10

    recorder = ResourceRecorder(tmp_path, "cpu", every_s=0.05)
    recorder.on_train_begin(None, State, None)
    assert wait_for(lambda: len(runs.read_resources(tmp_path)) >= 3, timeout=10, every=0.05)
    State.global_step = 10
    recorder.on_train_end(None, State, None)
    assert not recorder._thread.is_alive()
    written = runs.read_resources(tmp_path)
    assert written[-1]["step"] == 10
