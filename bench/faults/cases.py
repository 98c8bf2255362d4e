"""The planted faults and the healthy runs of the benchmark (bench/faults/run.py), as data.

Each fault is a config change and/or a DASHBOARD_FAULT / DASHBOARD_FAKE_* setting for the real child
(core/common/faults.py), the codes that name it, and a test of the finding's fix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

# Small, so that a run costs seconds: MiniLM-L6 on a few hundred short texts, no checkpoints.
BASE = {"data": {"name": "tweet-sentiment", "train_size": 240, "eval_size": 100, "max_length": 48},
        "model": {"name": "minilm-l6"}, "hardware": {"device": "cpu"},
        "training": {"num_train_epochs": 2, "learning_rate": 5e-5, "per_device_train_batch_size": 16,
                     "logging_steps": 5, "load_best_model_at_end": False, "save_strategy": "no"}}
# A stuck run is planned long (>= 500 steps) so "flagged within 10% of the planned steps" can be measured;
# the benchmark stops it at the first alarm, as a user would.
STUCK = {"data": {"train_size": 400}, "training": {"num_train_epochs": 5, "per_device_train_batch_size": 4,
                                                   "eval_strategy": "steps", "eval_steps": 25}}


def lr_at_most(limit: float) -> Callable[[dict], bool]:
    return lambda f: 0 < float(f["config_change"].get("training.learning_rate", 0)) <= limit


def lr_at_least(limit: float) -> Callable[[dict], bool]:
    return lambda f: float(f["config_change"].get("training.learning_rate", 0)) >= limit


def change_is(key: str, *values: Any) -> Callable[[dict], bool]:
    return lambda f: f["config_change"].get(key, object()) in values


def fix_says(*words: str) -> Callable[[dict], bool]:
    return lambda f: all(word.lower() in f["fix"].lower() for word in words)


@dataclass
class Fault:
    name: str
    codes: tuple[str, ...]  # the codes that name this fault correctly
    fix_ok: Callable[[dict], bool]  # is the finding's fix (a Finding as a dict) the right one
    change: dict = field(default_factory=dict)  # config sections merged over BASE
    fault: str = ""  # DASHBOARD_FAULT
    env: dict = field(default_factory=dict)
    onset: int = 0  # the step the fault starts at
    stuck: bool = False  # report the delay as a share of the planned steps
    own_cache: bool = False  # the fault changes the tokenized splits, so it must not share the cache
    cost_samples: int = 0  # training samples (at 48 tokens) the run gets through before it is flagged
    before_model: bool = False  # flagged before the model loads (pre-flight, data), so cheaper to run


def _stuck(**training) -> dict:
    return {"data": dict(STUCK["data"]), "training": {**STUCK["training"], **training}}


FAULTS = [
    Fault("lr 1e-2", ("LR_TOO_HIGH", "DIVERGING"), lr_at_most(1e-3), _stuck(learning_rate=1e-2), stuck=True,
          cost_samples=300),
    Fault("lr 1e-8", ("LR_TOO_LOW",), lr_at_least(1e-5), _stuck(learning_rate=1e-8), stuck=True,
          cost_samples=300),
    Fault("frozen encoder and head", ("FROZEN_WEIGHTS",), fix_says("trainable"), fault="freeze"),
    Fault("misnamed label column", ("LABELS_MISSING",), fix_says("label column"),
          {"data": {"source": "file", "path": "{work}/tweets.csv", "label_column": "labels"}}, before_model=True),
    Fault("labels shuffled", ("LABEL_NOISE", "STUCK_AT_CHANCE"), fix_says("label"), _stuck(),
          fault="shuffle_labels", stuck=True, own_cache=True, cost_samples=300),
    Fault("head of 1 output", ("REGRESSION_HEAD",), fix_says("num_labels=3"), fault="head=1"),
    Fault("head of 2 outputs for 3 classes", ("NUM_LABELS_MISMATCH",), fix_says("num_labels=3"), fault="head=2"),
    Fault("64 rows for 20 epochs", ("OVERFITTING",), change_is("training.early_stopping_patience", 1, 2, 3),
          {"data": {"train_size": 64, "eval_size": 60}, "training": {"num_train_epochs": 20, "learning_rate": 1e-4,
                                                                     "logging_steps": 2}}, cost_samples=900),
    Fault("NaN at step 10", ("LOSS_NAN",), lr_at_most(1e-5), fault="nan@step=10", onset=10,
          cost_samples=160),
    Fault("out of memory at step 5", ("OUT_OF_MEMORY",), change_is("hardware.memory_preset", "low", "very_low"),
          fault="cpu_oom@step=5", onset=5, cost_samples=80),
    Fault("cpu while a GPU is present", ("DEVICE_NOT_USED",), change_is("hardware.device", "auto", "cuda"),
          env={"DASHBOARD_FAKE_DEVICES": "cuda"}, before_model=True),
    Fault("padding to 512", ("SLOW_TRAINING",), change_is("data.padding", "longest"),
          {"data": {"max_length": 512, "padding": "max_length"},
           "training": {"per_device_train_batch_size": 4, "logging_steps": 1}}, cost_samples=200),
    Fault("tiny disk quota", ("DISK_SPACE",), change_is("training.save_total_limit", 1),
          env={"DASHBOARD_FAKE_FREE_DISK_MB": "20"}, before_model=True),
    Fault("evaluation_strategy in config", ("DEPRECATED_ARGUMENT",), fix_says("new name"),
          {"training": {"evaluation_strategy": "epoch"}}, before_model=True),
    Fault("eval set = train set", ("EVAL_LEAKAGE",), fix_says("eval set"), fault="eval_equals_train",
          own_cache=True, before_model=True),
    Fault("one class 20x rarer", ("CLASS_IMBALANCE",), change_is("training.class_weights", "balanced"),
          fault="imbalance", own_cache=True, before_model=True),
    Fault("unpadded batches", ("SHAPE_MISMATCH",), fix_says("pad"), fault="shape_mismatch"),
    Fault("accelerate missing", ("DEPENDENCY_ERROR",), fix_says("pip install"),
          env={"DASHBOARD_FAKE_MISSING": "accelerate"}, before_model=True),
]

# (data set, train rows, epochs, learning rate): learning rates 1e-5..1e-4, several sizes, both data sets.
HEALTHY = [("tweet-sentiment", 320, 3, 1e-5), ("tweet-sentiment", 160, 2, 2e-5), ("tweet-sentiment", 200, 2, 3e-5),
           ("tweet-sentiment", 160, 2, 5e-5), ("tweet-sentiment", 200, 2, 1e-4), ("tweet-sentiment", 320, 3, 5e-5),
           ("tweet-sentiment", 200, 2, 2e-5), ("tweet-sentiment", 160, 2, 1e-4), ("tweet-sentiment", 160, 2, 7e-5),
           ("tweet-sentiment", 160, 2, 3e-5),
           ("bbc-news", 100, 2, 2e-5), ("bbc-news", 100, 2, 5e-5), ("bbc-news", 100, 2, 1e-4),
           ("bbc-news", 100, 2, 3e-5), ("bbc-news", 120, 2, 1e-5)]


def healthy_change(data: str, rows: int, epochs: int, lr: float) -> dict:
    return {"data": {"name": data, "train_size": rows, "max_length": 64 if data == "bbc-news" else 48},
            "training": {"num_train_epochs": epochs, "learning_rate": lr}}


def merged_config(change: dict, seed: int, name: str) -> dict:
    """BASE with a change's sections merged in, and the seed used for both the data subset and training."""
    config = {section: dict(values) for section, values in BASE.items()}
    for section, values in change.items():
        config[section] = {**config.get(section, {}), **values}
    training = config["training"]
    if "evaluation_strategy" in training:  # the old name replaces the new one, as a user's old config has it
        training.pop("eval_strategy", None)
    config["data"]["seed"] = seed
    training["seed"] = seed
    config["name"] = name
    return config
