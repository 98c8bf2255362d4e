"""Test settings: offline, and every run folder in a temporary directory."""

import json
import os
import sys
import time
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


def train_tiny_runs(runs_dir: Path, configs: dict[str, dict]) -> dict[str, Path]:
    """Train each config for real with `core.training.train.run`, in this process (its imports are paid once).

    The signal handlers core.train installs for a graceful stop are put back afterwards.
    """
    import signal

    from core.config.schema import RunConfig
    from core.training import train

    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for run_id, config in configs.items():
            exit_code = train.run(RunConfig.from_dict(config), runs_dir / run_id, runs_dir / ".cache" / "tokenized")
            assert exit_code == 0, (runs_dir / run_id / "status.json").read_text()
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
    return {run_id: runs_dir / run_id for run_id in configs}


@pytest.fixture(scope="session")
def finished_tiny_runs(tmp_path_factory) -> dict[str, Path]:
    """Two real finished tiny runs (1 epoch, two learning rates), trained once per test session.

    Tests copy them (shutil.copytree) into their own runs folder instead of changing them.
    """
    runs_dir = tmp_path_factory.mktemp("tiny-finished") / "runs"
    runs_dir.mkdir()
    return train_tiny_runs(runs_dir, {
        "20260101-000000-tiny-a": {**tiny_config(num_train_epochs=1), "name": "tiny a"},
        "20260101-000100-tiny-b": {**tiny_config(num_train_epochs=1, learning_rate=5e-3), "name": "tiny b"},
    })


def wait_for(predicate, timeout: float = 180, every: float = 0.2) -> bool:
    """Poll `predicate` until it holds or `timeout` seconds pass (the real child runs on its own clock)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return False


# Test modules that train for real, start training children or drive Chromium: marked slow, so a developer can
# skip them with -m "not slow" (CI runs them).
SLOW_MODULES = {"test_bad_inputs", "test_crash_safety", "test_faults", "test_multiprocess", "test_multinode",
                "test_out_of_memory", "test_queue", "test_train_cli", "test_train_sources", "test_throughput_bench",
                "test_profiling", "test_reproduce", "test_export_and_predict", "test_resources", "test_lr_find",
                "test_sweep", "test_sweep_postgres", "test_predict_file",
                "test_train_multilabel", "test_onnx_export", "test_lora",
                "test_page_runs_onnx", "test_imbalance_training"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        name = item.module.__name__.rsplit(".", 1)[-1]
        if name in SLOW_MODULES or name.startswith("test_browser"):
            item.add_marker(pytest.mark.slow)
