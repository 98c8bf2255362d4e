"""Variants of a run's config that the dashboard starts beside it: a dry run (the same settings on a few rows for a
few steps) and a learning-rate range test (the same data, model and batch, the rate rising every step)."""

from __future__ import annotations

from core.config.schema import RunConfig


DRY_RUN_TRAIN_ROWS, DRY_RUN_EVAL_ROWS, DRY_RUN_STEPS = 64, 32, 20


def dry_run_variant(config: RunConfig) -> RunConfig:
    """The same config on 64 rows for 20 steps with one evaluation and one save (the seed's "test on a
    small dataset first"), so a crash or a bad setting shows in seconds, not after an hour."""
    raw = config.to_dict()
    raw["name"] = f"dry run {config.name}".strip()
    raw["data"].update(train_size=min(DRY_RUN_TRAIN_ROWS, config.data.train_size),
                       eval_size=min(DRY_RUN_EVAL_ROWS, config.data.eval_size))
    training = raw["training"]
    training.update(max_steps=DRY_RUN_STEPS, logging_steps=min(5, config.training.logging_steps),
                    early_stopping_patience=0)
    if config.training.eval_strategy != "no":
        training.update(eval_strategy="steps", eval_steps=DRY_RUN_STEPS)
    training.pop("save_strategy", None)
    return RunConfig.from_dict(raw)


# The learning-rate range test: at most this many steps, at most this many passes over the training rows, and
# never fewer than RANGE_TEST_MIN_STEPS points (a curve needs them, even if the rows are seen several times).
RANGE_TEST_STEPS, RANGE_TEST_PASSES, RANGE_TEST_MIN_STEPS = 100, 3, 20


def range_test_steps(config: RunConfig) -> int:
    """Steps of a range test: 100, or fewer when three passes over the training rows take fewer."""
    batch = config.effective_batch_size() * max(1, config.hardware.processes)
    per_pass = -(-config.data.train_size // batch)
    return max(RANGE_TEST_MIN_STEPS, min(RANGE_TEST_STEPS, RANGE_TEST_PASSES * per_pass))


def range_test_variant(config: RunConfig, start_lr: float) -> RunConfig:
    """The same data, model and batch as a learning-rate range test: a loss line every step from `start_lr`
    up (the child's schedule raises it), no evaluation, no checkpoints."""
    raw = config.to_dict()
    training = raw["training"]
    for key in ("lr_scheduler_type", "lr_scheduler_kwargs", "warmup_steps", "eval_steps"):
        training.pop(key, None)
    training.update(max_steps=range_test_steps(config), learning_rate=start_lr, logging_steps=1, warmup_ratio=0.0,
                    eval_strategy="no", load_best_model_at_end=False, early_stopping_patience=0,
                    save_strategy="no")
    return RunConfig.from_dict(raw)
