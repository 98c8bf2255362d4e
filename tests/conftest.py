"""Test settings: offline, and every run folder in a temporary directory."""

import json
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture
def runs_dir(tmp_path, monkeypatch):
    path = tmp_path / "runs"
    path.mkdir()
    monkeypatch.setenv("DASHBOARD_RUNS_DIR", str(path))
    return path


def tiny_config(**training) -> dict:
    """A run that trains for real in seconds: tiny random BERT, 200 tweets."""
    return {"name": "tiny", "data": {"name": "tweet-sentiment", "train_size": 200, "eval_size": 60,
                                     "max_length": 48},
            "model": {"name": "tiny-random"}, "hardware": {"device": "cpu"},
            "training": {"num_train_epochs": 2, "learning_rate": 1e-3, "logging_steps": 2,
                         "per_device_train_batch_size": 16, **training}}


def write_config(path: Path, config: dict) -> Path:
    path.write_text(json.dumps(config), encoding="utf-8")
    return path
