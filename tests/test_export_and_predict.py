"""Export (model zip, config, reproduce script) and Try the model, on real finished tiny runs."""

import json
import runpy
import subprocess
import sys
import zipfile

import pytest

from core.common.errors import UserError
from core.config.schema import RunConfig
from core.data import splits as data
from core.rundir import runs
from core.runner import export
from core.training import predict
from tests.conftest import tiny_config


@pytest.fixture(scope="module")
def run_dir(finished_tiny_runs):
    return finished_tiny_runs["20260101-000000-tiny-a"]


def test_model_zip_loads_back_as_the_same_classifier(run_dir, tmp_path):
    archive = export.model_zip(run_dir, dest_dir=tmp_path)
    with zipfile.ZipFile(archive) as opened:
        assert "model/model.safetensors" in opened.namelist()
        opened.extractall(tmp_path / "unzipped")
    tokenizer, model = predict.load_classifier(tmp_path / "unzipped" / "model")
    assert list(model.config.id2label.values()) == ["negative", "neutral", "positive"]


def test_a_run_without_a_model_cannot_be_zipped(tmp_path):
    with pytest.raises(UserError, match="no saved model yet"):
        export.model_zip(tmp_path)


def test_config_json_is_the_runs_config_and_trains_again(run_dir):
    text = export.config_json(run_dir)
    assert json.loads(text) == runs.read_json(run_dir / "config.json")
    RunConfig.from_dict(json.loads(text))  # valid as a CONFIG.json for core.train


def test_script_arguments_match_what_core_train_passes(tmp_path):
    """The script must not drift from the dashboard's own TrainingArguments."""
    from transformers import TrainingArguments

    from core.training.trainer_setup import training_arguments

    raw = tiny_config(eval_strategy="steps", eval_steps=5, lr_scheduler_type="cosine")
    ours = training_arguments(RunConfig.from_dict(raw), tmp_path, "cpu").to_dict()
    theirs = TrainingArguments(output_dir=str(tmp_path / "checkpoints"), **export.training_arguments_of(raw)).to_dict()
    # Only how the dashboard logs differs: no progress bars in train.log, a first-step loss for the chart.
    for key in ("disable_tqdm", "logging_first_step"):
        ours.pop(key), theirs.pop(key)
    assert theirs == ours and theirs["lr_scheduler_type"] == "cosine"


def test_script_picks_the_same_rows_as_the_dashboard(tmp_path):
    config = tiny_config()
    script = tmp_path / "reproduce.py"
    script.write_text(export.reproduce_script(config))
    namespace = runpy.run_path(str(script), run_name="not_main")
    (train, evaluation), labels = namespace["load_splits"](), namespace["LABEL_NAMES"]
    ours = data.make_splits(data.load_frame(RunConfig.from_dict(config).data), RunConfig.from_dict(config).data)
    assert labels == ours.label_names
    assert list(train["text"]) == list(ours.train["text"]) and list(evaluation["text"]) == list(ours.eval["text"])


def test_generated_script_trains_outside_the_dashboard_and_prints_metrics(tmp_path):
    config = tiny_config(num_train_epochs=1)
    config["data"].update(train_size=48, eval_size=24)
    script = tmp_path / "reproduce.py"
    script.write_text(export.reproduce_script(config))
    assert "import core" not in script.read_text() and "from core" not in script.read_text()
    result = subprocess.run([sys.executable, str(script), "--output-dir", str(tmp_path / "out")], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300,
                            env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr[-3000:]
    assert "48 training and 24 eval examples" in result.stdout
    metrics = json.loads(result.stdout.split("Final eval metrics: ")[1].splitlines()[0])
    assert 0.0 <= metrics["eval_accuracy"] <= 1.0 and metrics["eval_loss"] > 0
    assert (tmp_path / "out" / "model" / "model.safetensors").exists()


def test_predictions_reproduce_the_runs_final_accuracy(run_dir):
    """Predicting the eval texts gives the accuracy results.json recorded: the label mapping is right."""
    config = RunConfig.from_dict(runs.read_json(run_dir / "config.json"))
    splits = data.make_splits(data.load_frame(config.data), config.data)
    tokenizer, model = predict.load_classifier(run_dir / "model")
    rows = predict.predict(list(splits.eval["text"]), tokenizer, model, config.data.max_length)
    accuracy = sum(r["label"] == truth for r, truth in zip(rows, splits.eval["label"])) / len(rows)
    assert accuracy == pytest.approx(runs.read_json(run_dir / "results.json")["final_metrics"]["accuracy"])
    assert all(abs(sum(r["probabilities"].values()) - 1) < 1e-5 for r in rows)
    assert all(r["probability"] == max(r["probabilities"].values()) for r in rows)


def test_pasted_text_is_split_into_lines_and_limited():
    assert predict.split_texts("good\n\n  bad  \n") == ["good", "bad"]
    with pytest.raises(UserError, match="at most 200"):
        predict.split_texts("x\n" * 201)


def test_a_name_with_quotes_cannot_break_the_script():
    config = {**tiny_config(), "name": 'say """hi""" \\ bye'}
    compile(export.reproduce_script(config), "reproduce.py", "exec")


def test_the_training_child_writes_the_model_card_and_export_refreshes_it(run_dir, tmp_path):
    import shutil

    from huggingface_hub import ModelCard

    card = ModelCard.load(run_dir / "model" / "README.md")
    results = runs.read_json(run_dir / "results.json")
    assert {r.metric_type: r.metric_value for r in card.data.eval_results}["accuracy"] == round(
        results["final_metrics"]["accuracy"], 4)
    assert (run_dir / "model" / "confusion_matrix.png").read_bytes().startswith(b"\x89PNG")
    copy = tmp_path / "runs" / run_dir.name
    shutil.copytree(run_dir, copy)
    (copy / "model" / "README.md").unlink()
    (copy / "model" / "confusion_matrix.png").unlink()
    config = runs.read_json(copy / "config.json")
    runs.write_json_atomic(copy / "config.json", {**config, "name": "renamed later"})
    export.export_run(copy, tmp_path / "out")
    with zipfile.ZipFile(tmp_path / "out" / "model.zip") as opened:
        assert "model/confusion_matrix.png" in opened.namelist()
        assert "# renamed later" in opened.read("model/README.md").decode()
