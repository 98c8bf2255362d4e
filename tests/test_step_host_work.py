"""Per-step host work the child takes off the Trainer's step (no GPU needed to check it)."""

from unittest import mock

import torch

from core.config.schema import RunConfig
from core.training import models
from core.training.trainer_setup import count_flops_once


def test_the_flops_count_is_taken_once_and_gives_the_trainers_number():
    from transformers import Trainer, TrainingArguments

    model = models.load_model(RunConfig.from_dict({"model": {"name": "tiny-random"}}).model, ["a", "b"], 42)
    trainer = Trainer(model=model, args=TrainingArguments("/tmp/unused", report_to="none", use_cpu=True))
    inputs = {"input_ids": torch.ones(4, 10, dtype=torch.long), "labels": torch.zeros(4, dtype=torch.long)}
    expected = Trainer.floating_point_ops(trainer, inputs)
    count_flops_once(trainer)
    with mock.patch.object(type(model), "num_parameters", side_effect=AssertionError("counted again")):
        assert trainer.floating_point_ops(inputs) == expected > 0
