"""Real tiny training from a user's file, cache reuse on the same file, and a path model with a new head."""

import json

import pytest

from core.rundir import runs
from tests.bad_inputs import file_data
from tests.test_train_cli import train_cli


def file_config(name="reviews.csv", model=None, **data):
    return {"name": "file", "data": file_data(name, **data), "model": model or {"name": "tiny-random"},
            "hardware": {"device": "cpu"},
            "training": {"num_train_epochs": 1, "learning_rate": 1e-3, "logging_steps": 2,
                         "per_device_train_batch_size": 16}}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("file-runs")
    first = train_cli(tmp_path, file_config(), "first")
    second = train_cli(tmp_path, file_config(), "second")
    return tmp_path, first, second


def test_a_kaggle_style_csv_trains_with_detected_columns(trained):
    tmp_path, first, _ = trained
    assert first.returncode == 0, first.stderr[-2000:]
    dataset = json.loads((tmp_path / "first" / "dataset.json").read_text())
    assert dataset["columns"] == {"text": "review", "label": "sentiment", "text_pair": None, "label_columns": None}
    assert dataset["label_names"] == ["negative", "neutral", "positive"] and dataset["train_size"] == 40
    model_config = json.loads((tmp_path / "first" / "model" / "config.json").read_text())
    assert model_config["id2label"] == {"0": "negative", "1": "neutral", "2": "positive"}


def test_a_second_run_on_the_same_file_reuses_the_tokenized_cache(trained):
    tmp_path, _, second = trained
    assert second.returncode == 0, second.stderr[-2000:]
    assert runs.read_status(tmp_path / "first")["tokenize_cache"] == "miss"
    assert runs.read_status(tmp_path / "second")["tokenize_cache"] == "hit"


def test_an_earlier_runs_model_folder_trains_on_other_classes_with_a_new_head(trained):
    tmp_path, _, _ = trained
    model = {"source": "path", "path": str(tmp_path / "first" / "model")}
    result = train_cli(tmp_path, file_config("bool_labels.csv", model=model), "from-path")
    assert result.returncode == 0, result.stderr[-2000:]
    status = runs.read_status(tmp_path / "from-path")
    assert status["model_note"].startswith("The model's head had 3 outputs; it was replaced by a new head with 2")
    saved = json.loads((tmp_path / "from-path" / "model" / "config.json").read_text())
    assert saved["id2label"] == {"0": "False", "1": "True"}
