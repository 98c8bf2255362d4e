"""Whole-step CUDA graphs (core/training/step_graphs.py): where the plan turns them on, and that the Trainer built
around them trains exactly as the plain Trainer wherever a step takes the ordinary path. The graphs themselves
need a CUDA GPU; `bench/step_graphs_check.py` compares them with the ordinary step there (bench/RESULTS.md)."""

from __future__ import annotations

import pytest

from core.config.schema import RunConfig
from core.plan import presets
from core.training import step_graphs
from tests.test_unpadded import Padder, features, tiny
from tests.test_speed_presets import H100, config


def test_whole_step_graphs_are_the_default_only_where_a_step_can_be_one_graph(monkeypatch):
    monkeypatch.delenv(presets.STEP_GRAPHS_ENV, raising=False)
    plan = presets.speed_plan(config(), H100)  # the fast preset on a GPU at tweet lengths
    assert plan["step_graphs"] and "torch_compile_mode" not in plan["training_arguments"]
    assert any("CUDA graphs of whole training steps" in line for line in plan["summary"])
    monkeypatch.setenv(presets.STEP_GRAPHS_ENV, "0")  # the benchmark's switch: compile's graphs of forward, backward
    off = presets.speed_plan(config(), H100)
    assert not off["step_graphs"] and off["training_arguments"]["torch_compile_mode"] == "reduce-overhead"
    assert any("reduce-overhead" in line for line in off["summary"])
    monkeypatch.delenv(presets.STEP_GRAPHS_ENV)
    # Where a step cannot be one graph, compile's own graphs of forward and backward.
    for other in (config(gradient_accumulation_steps=2), config({"precision": "fp16"})):
        plan = presets.speed_plan(other, H100)
        assert not plan["step_graphs"] and plan["training_arguments"]["torch_compile_mode"] == "reduce-overhead"
    assert not presets.speed_plan(config({"device": "cpu"}), {**H100, "device": "cpu"})["step_graphs"]
    assert not presets.speed_plan(config(data={"max_length": 512}), H100)["step_graphs"]


def test_the_trainer_with_step_graphs_trains_as_the_plain_trainer_where_steps_take_the_ordinary_path(tmp_path):
    """On a CPU every step takes the ordinary path: the same losses, gradient norms and learning rates at each
    step, clipping and the LR schedule included, and one log line saying why."""
    from datasets import Dataset
    from transformers import Trainer, TrainingArguments

    from core.training.batches import FastPadding

    data = Dataset.from_list(features(lengths=[3 + (i * 7) % 40 for i in range(64)], seed=3))
    histories, said = [], []
    for graphed in (False, True):
        args = TrainingArguments(str(tmp_path / str(graphed)), per_device_train_batch_size=8, max_steps=12,
                                 learning_rate=1e-2, warmup_steps=3, max_grad_norm=0.5, report_to="none",
                                 use_cpu=True, seed=0, logging_steps=1, save_strategy="no", disable_tqdm=True)
        kind = step_graphs.trainer_class(Trainer) if graphed else Trainer
        trainer = kind(model=tiny(dropout=0.1), args=args, train_dataset=data, data_collator=FastPadding(Padder()))
        if graphed:
            trainer.step_graphs = step_graphs.StepGraphs(said.append)
        trainer.train()
        histories.append([(h["loss"], h["grad_norm"], h["learning_rate"]) for h in trainer.state.log_history
                          if "grad_norm" in h])
    plain, graphed = histories
    assert len(plain) == len(graphed) == 12
    for (loss_a, norm_a, lr_a), (loss_b, norm_b, lr_b) in zip(plain, graphed):
        assert loss_b == pytest.approx(loss_a, rel=1e-6) and norm_b == pytest.approx(norm_a, rel=1e-6)
        assert lr_b == lr_a
    assert max(norm for _, norm, _ in plain) > 0.5  # clipping was at work in some of the steps compared
    assert said == ["Whole-step CUDA graphs off: they need a CUDA GPU; steps take the ordinary path."]


def test_an_optimizer_step_after_a_replayed_step_is_skipped_once():
    """The Trainer calls optimizer.step() after training_step; after a replay the graph already made the update,
    and LR schedulers re-wrap the optimizer's step, which must keep working."""
    import torch

    model = torch.nn.Linear(2, 1)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1)
    graphs = step_graphs.StepGraphs()
    step_graphs._skip_replayed_updates(optimizer, graphs)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    before = model.weight.detach().clone()
    model(torch.ones(1, 2)).sum().backward()
    graphs.stepped = True  # as right after a replay
    optimizer.step()
    assert torch.equal(model.weight, before) and not graphs.stepped
    optimizer.step()  # the next, ordinary step updates
    scheduler.step()
    assert not torch.equal(model.weight, before)


def test_without_a_gpu_the_step_says_why():
    class Args:
        device = type("D", (), {"type": "cpu"})()

    trainer = type("T", (), {"args": Args()})()
    assert step_graphs.blocker(trainer, {}, None) == "they need a CUDA GPU"
    assert RunConfig.from_dict({}).hardware.speed == "fast"


def test_a_batch_shape_is_recorded_at_its_second_sighting_then_replayed_with_the_batch_and_learning_rate(monkeypatch):
    """The bookkeeping around the graphs (the recording itself needs CUDA): the first batch of a shape takes the
    ordinary path (it compiles), the second is recorded, later ones replay with their own values copied in."""
    import torch

    graphs = step_graphs.StepGraphs()
    monkeypatch.setattr(step_graphs, "blocker", lambda trainer, inputs, count: None)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda *a: (50 * 2**30, 80 * 2**30))  # memory to spare
    replayed = []

    class Graph:
        def replay(self):
            replayed.append((recorded_inputs["input_ids"].clone(), graphs.lrs[0].item()))

    recorded_inputs = {}

    def record(trainer, model, inputs, count, key):
        recorded_inputs.update({k: v.clone() for k, v in inputs.items()})
        graphs.lrs = [torch.tensor(0.0)]
        graphs.graphs[key] = step_graphs._Graph(Graph(), recorded_inputs, None, torch.tensor(0.7),
                                                torch.tensor(2.0))
        return graphs.graphs[key]

    monkeypatch.setattr(graphs, "_record", record)
    group = {"lr": 1e-3}
    trainer = type("T", (), {"optimizer": type("O", (), {"param_groups": [group]})()})()
    model = torch.nn.Linear(1, 1)
    batch = lambda value, length=8: {"input_ids": torch.full((4, length), value)}  # noqa: E731
    assert graphs.step(trainer, model, batch(1), None) is None  # first sighting: the ordinary path
    assert graphs.step(trainer, model, batch(2), None).item() == pytest.approx(0.7) and graphs.consume_step()
    group["lr"] = 5e-4  # the scheduler moved on
    graphs.step(trainer, model, batch(3), None)
    assert graphs.step(trainer, model, batch(4, length=16), None) is None  # a new shape: ordinary again
    assert [int(ids[0, 0]) for ids, _ in replayed] == [2, 3]
    assert [lr for _, lr in replayed] == pytest.approx([1e-3, 5e-4])
    assert graphs.replays == 2 and graphs.calls == 4
    assert not graphs.consume_step()  # after an ordinary step the Trainer's update runs


def test_no_new_shape_is_recorded_once_gpu_memory_runs_short(monkeypatch):
    """Each recording keeps memory in the graphs' pool: under 15% free, recorded shapes replay and new ones take
    the ordinary path, said once in the training log."""
    import torch

    said = []
    graphs = step_graphs.StepGraphs(said.append)
    free = {"bytes": 50 * 2**30}
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda *a: (free["bytes"], 80 * 2**30))
    assert not graphs._memory_is_short() and said == []
    free["bytes"] = 10 * 2**30
    assert graphs._memory_is_short() and graphs._memory_is_short()
    free["bytes"] = 50 * 2**30  # memory freed later: the decision stands for the run (no recording mid-replay)
    assert graphs._memory_is_short()
    assert said == ["Whole-step CUDA graphs: 0 batch shapes recorded and the GPU has 10.0 of 80 GB free; new shapes "
                    "take the ordinary path."]
