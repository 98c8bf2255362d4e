import pytest
from transformers import TrainingArguments

from core.common.errors import UserError
from core.config import compat

NEW = {"eval_strategy", "use_cpu", "train_sampling_strategy", "warmup_steps", "activation_checkpointing",
       "gradient_checkpointing", "learning_rate"}
OLD = {"evaluation_strategy", "no_cuda", "group_by_length", "warmup_ratio", "warmup_steps", "gradient_checkpointing",
       "learning_rate"}


def test_new_names_map_to_old_for_an_old_transformers():
    out = compat.translate_all({"eval_strategy": "epoch", "use_cpu": True,
                                "train_sampling_strategy": "group_by_length"}, accepted=OLD)
    assert out == {"evaluation_strategy": "epoch", "no_cuda": True, "group_by_length": True}


def test_old_names_map_to_new_for_a_new_transformers():
    out = compat.translate_all({"evaluation_strategy": "epoch", "no_cuda": True, "group_by_length": True,
                                "warmup_ratio": 0.1, "gradient_checkpointing": True}, accepted=NEW)
    assert out == {"eval_strategy": "epoch", "use_cpu": True, "train_sampling_strategy": "group_by_length",
                   "warmup_steps": 0.1, "activation_checkpointing": True}


def test_warmup_ratio_stays_where_it_exists():
    assert compat.translate_all({"warmup_ratio": 0.1}, accepted=OLD) == {"warmup_ratio": 0.1}


def test_unknown_argument_is_rejected_with_a_suggestion():
    with pytest.raises(UserError) as err:
        compat.translate_all({"learning_rte": 1e-5}, accepted=NEW)
    assert "did you mean 'learning_rate'" in err.value.sentence


def test_dashboard_owned_arguments_are_rejected():
    with pytest.raises(UserError, match="set by the dashboard"):
        compat.translate_all({"output_dir": "/tmp/x"}, accepted=NEW)


def test_builds_real_training_arguments_for_the_installed_version(tmp_path):
    args = compat.build_training_arguments(str(tmp_path), evaluation_strategy="epoch", warmup_ratio=0.1,
                                           use_cpu=True, report_to="none")
    assert isinstance(args, TrainingArguments)
    assert str(args.eval_strategy.value if hasattr(args.eval_strategy, "value") else args.eval_strategy) == "epoch"


def test_contradictory_arguments_become_a_sentence(tmp_path):
    with pytest.raises(UserError, match="rejected the training arguments"):
        compat.build_training_arguments(str(tmp_path), eval_strategy="epoch", save_strategy="steps",
                                        load_best_model_at_end=True, report_to="none")


def test_ddp_keeps_gradients_in_its_buckets_when_asked(tmp_path):
    """The Trainer has no argument for `gradient_as_bucket_view`; its accelerator hands it to DDP when the
    model is wrapped, so setting it after the Trainer is built must reach the DDP arguments."""
    import torch
    from transformers import Trainer

    trainer = Trainer(model=torch.nn.Linear(2, 2), args=compat.build_training_arguments(
        str(tmp_path), use_cpu=True, report_to=[]))
    assert compat.ddp_gradient_views(trainer)
    assert trainer.accelerator.ddp_handler.to_kwargs()["gradient_as_bucket_view"] is True
