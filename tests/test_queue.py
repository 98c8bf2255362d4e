"""The queue: one run per device at a time; later Starts wait, start by themselves, and can be cancelled."""

import json
import os
import subprocess
import sys
import threading

import psutil
import pytest

from core.config.schema import RunConfig
from core.rundir import runs
from core.runner import launcher, process, queue
from tests.conftest import ROOT, tiny_config, wait_for


def state(run_dir):
    return runs.read_status(run_dir).get("state")


def stop_everything(runs_dir):
    """Queued runs cancelled, live ones killed: a failed test must not leave training behind."""
    for run in runs.list_runs(runs_dir):
        queue.cancel(run.path)
    for run in runs.list_runs(runs_dir):
        if run.state in runs.ACTIVE_STATES:
            launcher.request_stop(run.path)
            launcher.request_stop(run.path)


@pytest.fixture
def queue_dir(runs_dir):
    yield runs_dir
    stop_everything(runs_dir)


def start(runs_dir, name, epochs):
    return launcher.start_run(RunConfig.from_dict({**tiny_config(num_train_epochs=epochs), "name": name}), runs_dir)


def test_a_second_start_on_the_cpu_waits_then_starts_by_itself(queue_dir):
    first = start(queue_dir, "first", 1)
    second = start(queue_dir, "second", 1)
    assert runs.read_status(first).get("slots") == ["cpu:0"]
    waiting = runs.read_status(second)
    assert waiting["state"] == "queued" and not waiting.get("pid") and queue.position(second) == 1
    # Nobody in this process dispatches: the detached dispatcher starts it when the first run ends.
    assert wait_for(lambda: state(second) == "completed", timeout=240), runs.read_log_tail(second)
    assert state(first) == "completed"
    first_ended = runs.read_status(first)["updated_at"]
    assert runs.read_status(second)["launched_at"] >= first_ended - 0.5  # never both at once


def concurrent_start_in_a_subprocess(runs_dir, barrier_file, ready_file):
    code = ("import json, sys, time, pathlib; from core.plan import presets; from core.runner import launcher; from core.config.schema import RunConfig;"
            f"cfg = RunConfig.from_dict(json.loads({json.dumps(json.dumps(tiny_config(num_train_epochs=200)))}));"
            f"presets.available_devices(); pathlib.Path({str(ready_file)!r}).touch();"
            f"f = pathlib.Path({str(barrier_file)!r});"
            "[time.sleep(0.01) for _ in iter(lambda: f.exists(), True)];"
            f"print(launcher.start_run(cfg, pathlib.Path({str(runs_dir)!r})))")
    return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True)


def test_starts_pressed_at_once_never_put_two_runs_on_one_device_and_queued_ones_cancel(queue_dir, tmp_path):
    go = tmp_path / "go"
    others = [concurrent_start_in_a_subprocess(queue_dir, go, tmp_path / f"ready-{i}") for i in range(2)]
    results, barrier = [], threading.Barrier(3)

    def press():
        barrier.wait()
        results.append(start(queue_dir, "", 200))

    threads = [threading.Thread(target=press) for _ in range(2)]
    for thread in threads:
        thread.start()
    assert wait_for(lambda: all((tmp_path / f"ready-{i}").exists() for i in range(2)), timeout=120)
    go.touch()  # both subprocesses have imported everything and now press Start with the two threads
    barrier.wait()
    for thread in threads:
        thread.join(timeout=60)
    results += [runs.Path(p.communicate(timeout=120)[0].strip()) for p in others]
    assert len(results) == 4
    launched = [r for r in results if runs.read_status(r).get("slots")]
    queued = [r for r in results if r not in launched]
    assert len(launched) == 1 and all(state(r) == "queued" for r in queued)
    assert sorted(queue.position(r) for r in queued) == [1, 2, 3]

    assert all(queue.cancel(r) for r in queued)
    assert [state(r) for r in queued] == ["cancelled"] * 3
    assert not queue.cancel(launched[0])  # a launched run is stopped, not cancelled
    launcher.request_stop(launched[0])
    assert wait_for(lambda: state(launched[0]) in runs.FINAL_STATES, timeout=120)
    queue.wake(queue_dir)
    assert [state(r) for r in queued] == ["cancelled"] * 3
    assert all(not runs.read_status(r).get("pid") for r in queued)


def test_free_slots_follow_the_device_and_its_size():
    gpu4 = {"device": "cuda", "count": 2, "capacity": 4}
    assert queue.free_slots(gpu4, {"cuda:0"}) == ["cuda:1", "cuda:2"]
    assert queue.free_slots(gpu4, {"cuda:0", "cuda:1", "cuda:3"}) is None
    assert queue.free_slots({"device": "cpu", "count": 1, "capacity": 1}, {"cuda:0"}) == ["cpu:0"]
    assert queue.free_slots({"device": "cpu", "count": 1, "capacity": 1}, {"cpu:0"}) is None
    assert process._visible_gpus(["cuda:1", "cuda:2"]) in ({"CUDA_VISIBLE_DEVICES": "1,2"},
                                                            {"CUDA_VISIBLE_DEVICES": os.environ.get(
                                                                "CUDA_VISIBLE_DEVICES", "")})


def test_a_run_asking_for_more_gpus_than_there_are_is_refused():
    from core.common.errors import UserError

    with pytest.raises(UserError) as refused:
        queue.slot_request("cuda", 4, {"cuda": True, "cuda_count": 2})
    assert refused.value.sentence.startswith("hardware.processes: 4 GPUs were asked for but this machine has 2")


def test_a_dead_run_gives_its_slot_back(runs_dir):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (runs_dir / "old").mkdir()
    runs.write_json_atomic(runs_dir / "old" / "status.json", {"state": "running", "slots": ["cpu:0"], "pid": dead.pid})
    (runs_dir / "live").mkdir()
    runs.write_json_atomic(runs_dir / "live" / "status.json", {"state": "running", "slots": ["cuda:0"],
                                                              "pid": os.getpid(),
                                                              "pid_create_time": psutil.Process().create_time()})
    assert queue.busy_slots(runs_dir) == {"cuda:0"}
    assert state(runs_dir / "old") == "failed"


# --- the Live run page (AppTest; nothing is launched) ------------------------------------------------------------

def test_the_live_page_shows_a_queued_run_with_its_place_in_line_and_cancels_it(runs_dir):
    from tests.test_page_live_run import all_text, make_run, open_live

    for i, run_id in enumerate(["20260101-000001-a", "20260101-000002-b"]):
        make_run(runs_dir, run_id, "queued", created_at=float(i))
        runs.update_status(runs_dir / run_id, queued_at=float(i), progress=None,
                           slot_request={"device": "cpu", "count": 1, "capacity": 1})
    # Busy CPU: this test process stands in for the run that holds it, so nothing is launched.
    make_run(runs_dir, "20260101-000000-busy", "running", pid=os.getpid(), created_at=-1.0)
    runs.update_status(runs_dir / "20260101-000000-busy", slots=["cpu:0"])
    app = open_live("20260101-000002-b")
    assert not app.exception
    assert "Queued: number 2 in line for cpu" in all_text(app)
    assert not [b for b in app.button if b.key == "stop"]
    app.button(key="cancel").click().run()
    assert state(runs_dir / "20260101-000002-b") == "cancelled"
    assert state(runs_dir / "20260101-000001-a") == "queued"


def test_the_live_page_offers_resume_for_a_stopped_run_with_a_checkpoint(runs_dir):
    from unittest import mock

    from tests.test_page_live_run import make_run, open_live

    run_dir = make_run(runs_dir, "20260101-000000", "stopped")
    checkpoint = run_dir / "checkpoints" / "checkpoint-60"
    checkpoint.mkdir(parents=True)
    (checkpoint / "trainer_state.json").write_text("{}")
    app = open_live()
    assert "checkpoint-60" in app.button(key="resume").help
    with mock.patch("core.runner.launcher.resume_run") as resume:
        app.button(key="resume").click().run()
    assert resume.call_args.args[0].name == "20260101-000000"
    (checkpoint / "trainer_state.json").unlink()  # no complete checkpoint: nothing to resume from
    assert not [b for b in open_live().button if b.key == "resume"]


def cuda_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


@pytest.mark.skipif(os.environ.get("QUEUE_TEST_DEVICE") != "cuda", reason="set QUEUE_TEST_DEVICE=cuda on a 2-GPU machine")
def test_gpu_runs_take_one_gpu_each_and_a_third_waits_for_one(queue_dir):
    assert cuda_count() >= 2
    # One run per GPU (tiny runs would otherwise share one: tests/test_gpu_sharing.py).
    config = RunConfig.from_dict({**tiny_config(num_train_epochs=300), "hardware": {"device": "cuda",
                                                                                    "runs_per_gpu": 1}})
    started = [launcher.start_run(config, queue_dir) for _ in range(cuda_count() + 1)]
    *running, third = started
    assert sorted(runs.read_status(r)["slots"][0] for r in running) == [f"cuda:{i}" for i in range(len(running))]
    assert state(third) == "queued" and queue.position(third) == 1
    for run_dir in running:  # each child sees only its own GPU
        assert wait_for(lambda r=run_dir: state(r) == "running" and runs.read_status(r).get("device") == "cuda")
        visible = psutil.Process(runs.read_status(run_dir)["pid"]).environ()["CUDA_VISIBLE_DEVICES"]
        assert visible == runs.read_status(run_dir)["slots"][0].split(":")[1]
    freed = runs.read_status(running[0])["slots"]
    launcher.request_stop(running[0])
    assert wait_for(lambda: runs.read_status(third).get("pid") is not None, timeout=120)
    assert runs.read_status(third)["slots"] == freed
    assert state(running[0]) in runs.FINAL_STATES


def test_a_queued_run_that_cannot_start_fails_alone_and_the_next_one_starts(runs_dir):
    from unittest import mock

    for i, run_id in enumerate(["broken", "fine"]):
        (runs_dir / run_id).mkdir()
        runs.write_json_atomic(runs_dir / run_id / "status.json", {
            "state": "queued", "queued_at": float(i), "slot_request": {"device": "cpu", "count": 1, "capacity": 1}})
    (runs_dir / "broken" / "config.json").write_text('{"training": {"learning_rat": 1}}')
    with mock.patch("core.runner.process.subprocess.Popen") as popen:
        popen.return_value.pid = os.getpid()
        assert queue.dispatch(runs_dir) == [runs_dir / "fine"]
    broken = runs.read_status(runs_dir / "broken")
    assert broken["state"] == "failed" and broken["error"]["code"] == "LAUNCH_FAILED"
    assert "learning_rat" in broken["error"]["message"]
    assert runs.read_status(runs_dir / "fine")["slots"] == ["cpu:0"]


def test_cancelling_a_queued_resume_leaves_the_run_stopped_and_resumable(runs_dir):
    run_dir = runs_dir / "stopped"
    run_dir.mkdir()
    runs.write_json_atomic(run_dir / "status.json", {"state": "stopped", "ended_at": "then",
                                                     "error": {"code": "STOPPED_BY_FORCE", "message": "m"}})
    runs.write_json_atomic(run_dir / "status.json", {
        **runs.new_attempt(runs.read_status(run_dir)), "state": "queued", "resume": True, "queued_at": 1.0,
        "slot_request": {"device": "cpu", "count": 1, "capacity": 1}})
    assert queue.cancel(run_dir)
    status = runs.read_status(run_dir)
    assert status["state"] == "stopped" and status["error"]["code"] == "STOPPED_BY_FORCE"
    assert status["attempts"] == [] and "resume" not in status and not queue.waiting(runs_dir)
