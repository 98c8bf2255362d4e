"""Several runs on one GPU: how many may share it (core/plan/sharing.py) and the queue starting them together."""

import json
import os
from unittest import mock

from core.config.schema import RunConfig
from core.plan import sharing
from core.rundir import runs
from core.runner import queue
from core.search import driver
from tests.conftest import tiny_config

H200_MB = 143771


def config(model="minilm-l6", max_length=128, batch=64, **hardware):
    return RunConfig.from_dict({"data": {"max_length": max_length}, "model": {"name": model},
                                "hardware": {"device": "cuda", **hardware},
                                "training": {"per_device_train_batch_size": batch}})


def test_small_models_at_short_lengths_share_a_gpu_and_large_runs_have_one_each():
    assert sharing.runs_per_gpu(config("minilm-l6"), H200_MB)[0] == 4
    assert sharing.runs_per_gpu(config("bert-base-random", max_length=512), H200_MB)[0] == 1
    k, why = sharing.runs_per_gpu(config("minilm-l6"), H200_MB)
    assert "% of the GPU busy" in why and "MB" in why


def test_memory_limits_how_many_share_a_small_gpu():
    one = sharing.memory_mb(config("minilm-l6"))
    assert sharing.runs_per_gpu(config("minilm-l6"), one * 2.6)[0] == 2  # 80% of 2.6 runs' memory


def test_the_users_number_wins_and_unknown_or_multi_gpu_runs_keep_a_gpu():
    assert sharing.runs_per_gpu(config("bert-base-random", max_length=512, runs_per_gpu=3), H200_MB) == (3, "3 as set")
    hub = RunConfig.from_dict({"model": {"source": "hub", "name": "roberta-base"}, "hardware": {"device": "cuda"}})
    assert sharing.runs_per_gpu(hub, H200_MB)[0] == 1
    assert sharing.runs_per_gpu(config(processes=2), H200_MB)[0] == 1
    assert sharing.runs_per_gpu(config(), None)[0] == 1


def test_a_shared_run_takes_its_share_of_the_least_loaded_gpu():
    shared = {"device": "cuda", "count": 1, "capacity": 2, "per_gpu": 4}
    assert queue.free_slots(shared, {"cuda:0": 0.25}) == ["cuda:1"]
    assert queue.free_slots(shared, {"cuda:0": 0.75, "cuda:1": 1.0}) == ["cuda:0"]
    assert queue.free_slots(shared, {"cuda:0": 1.0, "cuda:1": 1.0}) is None
    whole = {"device": "cuda", "count": 1, "capacity": 2}
    assert queue.free_slots(whole, {"cuda:0": 0.25}) == ["cuda:1"]  # a run that wants a GPU to itself
    assert queue.free_slots(whole, {"cuda:0": 0.25, "cuda:1": 0.5}) is None
    assert queue.slot_request("cuda", 1, {"cuda": True, "cuda_count": 1}, per_gpu=4)["per_gpu"] == 4
    assert "per_gpu" not in queue.slot_request("cuda", 2, {"cuda": True, "cuda_count": 2}, per_gpu=4)


def queued_run(runs_dir, name, request, at):
    (runs_dir / name).mkdir()
    raw = {**tiny_config(), "hardware": {"device": "cuda"}}
    runs.write_json_atomic(runs_dir / name / "config.json", raw)
    runs.write_json_atomic(runs_dir / name / "status.json", {"state": "queued", "queued_at": at,
                                                             "slot_request": request})
    return runs_dir / name


def test_the_queue_starts_k_runs_on_one_gpu_and_the_next_waits(runs_dir):
    request = {"device": "cuda", "count": 1, "capacity": 1, "per_gpu": 4}
    paths = [queued_run(runs_dir, f"run{i}", request, float(i)) for i in range(5)]
    with mock.patch("core.runner.process.subprocess.Popen") as popen:
        popen.return_value.pid = os.getpid()  # alive, so the launched runs hold their share
        assert queue.dispatch(runs_dir) == paths[:4]
    assert [runs.read_status(p)["slots"] for p in paths[:4]] == [["cuda:0"]] * 4
    assert [call.kwargs["env"]["CUDA_VISIBLE_DEVICES"] for call in popen.call_args_list] == ["0"] * 4
    assert runs.read_status(paths[4]).get("slots") is None and queue.position(paths[4]) == 1
    assert queue.slot_load(runs_dir) == {"cuda:0": 1.0}


def test_a_sweep_runs_as_many_trials_as_its_gpus_take(monkeypatch):
    monkeypatch.setenv("DASHBOARD_FAKE_DEVICES", "cuda")
    base = {**tiny_config(), "hardware": {"device": "cuda", "runs_per_gpu": 3}}
    assert driver.parallel_trials(base) == 3
    assert driver.parallel_trials({**base, "hardware": {"device": "cuda", "runs_per_gpu": 1}}) == 1


def finished_gpu_run(runs_dir, name, raw, utilisation, alone=True):
    (runs_dir / name).mkdir()
    runs.write_json_atomic(runs_dir / name / "config.json", raw)
    request = {"device": "cuda", "count": 1, "capacity": 1, **({} if alone else {"per_gpu": 4})}
    runs.write_json_atomic(runs_dir / name / "status.json", {"state": "completed", "device": "cuda",
                                                             "slot_request": request})
    lines = [{"gpu_utilization": u} for u in utilisation]
    (runs_dir / name / "resources.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))


def test_the_gpu_use_measured_on_an_earlier_run_like_it_decides_how_many_share(runs_dir):
    bert = config("bert-base-random")  # BERT-base at 128 tokens: estimated to fill the GPU
    assert sharing.runs_per_gpu(bert, H200_MB)[0] == 1
    finished_gpu_run(runs_dir, "20260101-000000-other", config("minilm-l6").to_dict(), [90, 90, 90])
    finished_gpu_run(runs_dir, "20260101-000100-shared", bert.to_dict(), [100, 100], alone=False)
    finished_gpu_run(runs_dir, "20260101-000200-alone", bert.to_dict(), [15, 17, 60])
    measured = queue.measured_gpu_busy(runs_dir, bert.to_dict())
    assert measured == 0.17  # the median of the run like it that had the GPU to itself
    k, why = sharing.runs_per_gpu(bert, H200_MB, measured)
    assert k == 4 and "17% of the GPU busy (measured)" in why
