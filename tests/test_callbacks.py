"""The update-ratio probe and the stop vote, on small made-up models."""

import os

import torch

from core.training.callbacks import StopOnRequest, UpdateRatio


def test_update_ratio_is_the_median_relative_change_of_the_weight_matrices():
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 4), torch.nn.Linear(4, 4))
    probe = UpdateRatio()
    probe.snapshot(model)
    with torch.no_grad():
        for layer, scale in zip(model, (1e-4, 1e-3, 1e-1)):
            layer.weight.mul_(1 + scale)  # ‖ΔW‖/‖W‖ = scale exactly
            layer.bias.add_(100.0)  # biases (1-D) are not weight matrices and must not count
    assert abs(probe.measure(model) - 1e-3) < 1e-6
    assert probe.measure(model) is None  # one measurement per snapshot


def test_frozen_weights_give_a_zero_ratio():
    model = torch.nn.Linear(3, 3)
    probe = UpdateRatio()
    probe.snapshot(model)
    assert probe.measure(model) == 0.0


def test_a_single_process_stops_on_its_own_request_without_a_vote(tmp_path):
    stop = StopOnRequest(tmp_path)
    stop.on_train_begin(None, None, None)  # no process group: nothing to agree with
    assert stop._agreed(False, None) is False
    stop.requested.set()
    assert stop._agreed(stop.stop_requested(), None) is True


def test_a_lone_training_process_sees_one_gpu_and_torchrun_ranks_are_left_alone(monkeypatch):
    from core.training.train import _one_gpu_per_process

    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    _one_gpu_per_process()  # else the Trainer wraps the model in DataParallel over every GPU it sees
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "0"
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    monkeypatch.setenv("WORLD_SIZE", "2")
    _one_gpu_per_process()
    assert "CUDA_VISIBLE_DEVICES" not in os.environ
    monkeypatch.delenv("WORLD_SIZE")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")  # a GPU chosen by the user or the queue stays chosen
    _one_gpu_per_process()
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "1"


def test_the_batch_maker_is_timed_so_a_slow_input_pipeline_can_be_seen():
    import time

    from core.training.batches import PaddingMeter

    def slow_collator(features):
        time.sleep(0.02)
        return {"attention_mask": torch.ones(len(features), 4, dtype=torch.long)}

    meter = PaddingMeter(slow_collator)
    meter([{}] * 2)
    meter([{}] * 2)
    assert 0.04 <= meter.take_batch_seconds() < 1.0
    assert meter.take_batch_seconds() == 0.0  # counted afresh after each take


def test_ranks_vote_on_stopping_every_tenth_step_and_at_the_last(tmp_path):
    from types import SimpleNamespace

    from transformers import TrainerControl

    stop = StopOnRequest(tmp_path)
    stop._group = object()  # as in a multi-process run
    votes = []
    stop._agreed = lambda requested, args: votes.append(True) or requested
    args = SimpleNamespace(save_strategy="steps")
    for step in range(1, 26):
        stop.on_step_end(args, SimpleNamespace(global_step=step, max_steps=25), TrainerControl())
    assert len(votes) == 3  # steps 10, 20 and 25: a barrier every step cost ~15 ms on 2 GPUs
    stop.requested.set()
    control = stop.on_step_end(args, SimpleNamespace(global_step=30, max_steps=40), TrainerControl())
    assert control.should_training_stop and control.should_save
