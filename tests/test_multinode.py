"""One run across several machines: the per-machine torchrun commands, and two "machines" on this one (two
torchrun processes, one rank each, gloo on CPU) that complete one run written by the first machine only."""

import json
import os
import socket
import subprocess
import sys

import pytest

from core.common.errors import UserError
from core.rundir import runs
from core.runner import process
from tests.conftest import ROOT, tiny_config, write_config


def test_each_machine_gets_its_node_rank_and_the_first_machine_address():
    commands = process.node_commands(3, 4, "10.0.0.5", 29500, "run-config.json", "runs/big")
    assert len(commands) == 3
    for rank, command in enumerate(commands):
        assert command[:3] == ["python", "-m", "torch.distributed.run"]
        assert {"--nnodes=3", f"--node-rank={rank}", "--nproc-per-node=4", "--rdzv-backend=static",
                "--rdzv-endpoint=10.0.0.5:29500"} <= set(command)
        assert command[-6:] == ["-m", "core.train", "--config", "run-config.json", "--run-dir", "runs/big"]


def test_an_address_that_is_not_one_is_a_sentence():
    with pytest.raises(UserError) as bad_host:
        process.node_commands(2, 1, "node 1", 29500, "c.json", "runs/x")
    assert bad_host.value.sentence.startswith("first machine's address: 'node 1' is not a host name")
    with pytest.raises(UserError) as bad_port:
        process.node_commands(2, 1, "10.0.0.5", 80, "c.json", "runs/x")
    assert bad_port.value.sentence.startswith("port: 80 is not a port for the rendezvous")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_machines_train_one_run_and_only_the_first_writes_it(tmp_path):
    raw = tiny_config(num_train_epochs=1, per_device_train_batch_size=8)
    raw["data"].update(train_size=40, eval_size=12, max_length=32)
    config = write_config(tmp_path / "run-config.json", raw)
    machines = [tmp_path / "machine0", tmp_path / "machine1"]  # each with its own disk: run folder and cache
    commands = process.node_commands(2, 1, "127.0.0.1", free_port(), str(config), "runs/together",
                                     python=sys.executable)
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"}
    children = []
    for machine, command in zip(machines, commands):
        machine.mkdir()
        with open(machine / "console.log", "wb") as log:
            # The project is importable from any folder, as on a machine where it is installed.
            children.append(subprocess.Popen(command, cwd=machine, env={**env, "PYTHONPATH": str(ROOT)},
                                             stdout=log, stderr=subprocess.STDOUT))
    for child in children:
        child.wait(timeout=400)
    outputs = [(machine / "console.log").read_text(errors="replace") for machine in machines]
    assert [child.returncode for child in children] == [0, 0], outputs[0][-3000:] + outputs[1][-3000:]
    first, second = (machine / "runs" / "together" for machine in machines)
    assert runs.read_status(first)["state"] == "completed"
    steps = [r["step"] for r in runs.read_metrics(first) if r["type"] == "train"]
    assert steps and steps == sorted(set(steps))  # one line per logging step, not one per machine
    assert len([r for r in runs.read_metrics(first) if r["type"] == "eval"]) == 1
    assert (first / "model" / "model.safetensors").exists()
    assert not (second / "metrics.jsonl").exists() and not (second / "status.json").exists()
    assert "Run completed" in outputs[0] and "Run completed" not in outputs[1]


def test_new_run_shows_the_command_for_each_machine(runs_dir):
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    app.number_input(key="machines.count").set_value(3)
    app.text_input(key="machines.host").input("10.0.0.5").run()
    commands = [c.value for c in app.code if "torch.distributed.run" in c.value]
    assert len(commands) == 3
    assert all("--rdzv-endpoint=10.0.0.5:29500" in c and "--config run-config.json" in c for c in commands)
    assert [f"--node-rank={rank}" in c for rank, c in enumerate(commands)] == [True] * 3
    config = json.loads(next(c.value for c in app.code if c.language == "json"))
    assert config["model"]["name"] == "minilm-l6"  # the form's settings, ready to save on every machine
    app.text_input(key="machines.host").input("node 1").run()
    assert any(e.body.startswith("first machine's address: 'node 1' is not a host name") for e in app.error)
    assert not [c for c in app.code if "torch.distributed.run" in c.value]
