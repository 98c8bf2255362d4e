"""A real multi-label run through the CLI: the tiny random model on the BBC tags fixture (separated labels),
then what every later stage reads from its folder: metrics names, the report, the saved threshold, Try the model,
the diagnostics, the Runs table and the export."""

import json
import subprocess
import sys

import pytest

from core.rundir import runs
from core.rundir.records import MULTI_LABEL_METRICS
from tests.bad_inputs import FIXTURES
from tests.conftest import ROOT, write_config

CONFIG = {"name": "tags", "data": {"source": "file", "path": str(FIXTURES / "bbc_tags.csv"), "train_size": 120,
                                   "eval_size": 40, "max_length": 32},
          "model": {"name": "tiny-random"}, "hardware": {"device": "cpu"},
          "training": {"num_train_epochs": 2, "learning_rate": 1e-3, "logging_steps": 2, "tune_thresholds": True,
                       "class_weights": "balanced"}}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("multilabel")
    config_path = write_config(tmp_path / "config.json", CONFIG)
    result = subprocess.run([sys.executable, "-m", "core.train", "--config", str(config_path), "--run-dir",
                             str(tmp_path / "runs" / "tags"), "--cache-dir", str(tmp_path / "cache")],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return tmp_path / "runs" / "tags"


def test_evaluations_record_the_multi_label_metrics_and_the_config_says_which_picks_the_best(run_dir):
    evals = [r for r in runs.read_metrics(run_dir) if r["type"] == "eval"]
    assert len(evals) == 2
    assert {f"eval_{m}" for m in MULTI_LABEL_METRICS} <= set(evals[0]) and "eval_accuracy" not in evals[0]
    assert json.loads((run_dir / "config.json").read_text())["training"]["metric_for_best_model"] == "f1_micro"
    dataset = json.loads((run_dir / "dataset.json").read_text())
    assert dataset["task"] == "multi_label" and dataset["num_labels"] == 9
    # balanced class weights on multi-label data: each label's pos_weight, its texts without / with it
    counts = dataset["train_counts"]
    assert set(dataset["class_weights"]) == set(counts) and all(w > 0 for w in dataset["class_weights"].values())
    rarest, commonest = min(counts, key=counts.get), max(counts, key=counts.get)
    assert dataset["class_weights"][rarest] > dataset["class_weights"][commonest]
    assert runs.read_status(run_dir)["model_facts"]["problem_type"] == "multi_label_classification"


def test_the_report_is_per_label_and_the_thresholds_travel_with_the_model(run_dir):
    results = json.loads((run_dir / "results.json").read_text())
    assert results["task"] == "multi_label" and "confusion_matrix" not in results
    assert [c["label"] for c in results["per_class"]][:2] == ["business", "entertainment"]
    assert all(c["true_positives"] + c["false_negatives"] == c["support"] for c in results["per_class"])
    assert len(results["co_occurrence"]) == 9 and "optimistic" in results["thresholds_note"]
    saved = json.loads((run_dir / "model" / "config.json").read_text())
    assert saved["problem_type"] == "multi_label_classification" and saved["threshold"] == 0.5
    assert saved["label_thresholds"] == results["label_thresholds"] and len(saved["label_thresholds"]) == 9


def test_try_the_model_answers_the_labels_above_their_thresholds(run_dir):
    from core.training import predict

    tokenizer, model = predict.load_classifier(run_dir / "model")
    rows = predict.predict(["Shares in the London firm rose", "England won the match"], tokenizer, model, 32)
    thresholds = predict.thresholds_of(model.config)
    for row in rows:
        assert set(row["probabilities"]) == set(thresholds)
        above = {n: p for n, p in row["probabilities"].items() if p >= thresholds[n]}
        assert row["labels"] == above and list(row["labels"]) == sorted(above, key=lambda n: -above[n])


def test_diagnostics_runs_table_and_export_understand_the_run(run_dir, tmp_path):
    from core.runner import export, history

    result = subprocess.run([sys.executable, "-m", "core.diagnose", str(run_dir), "--json"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and not {f["code"] for f in json.loads(result.stdout)} & {"ONE_CLASS_PREDICTED"}
    row = history.run_row(next(r for r in runs.list_runs(run_dir.parent) if r.run_id == "tags"))
    assert row["metric"] == "f1_micro" and row["best metric"] is not None
    written = export.export_run(run_dir, tmp_path / "out")
    script = written[1].read_text()
    assert "PROBLEM_TYPE = 'multi_label_classification'" in script and "'separator': '|'" in script
    assert "binary_cross_entropy_with_logits" in script and "CLASS_WEIGHTS = " in script
    flakes = subprocess.run([sys.executable, "-m", "pyflakes", str(written[1])], capture_output=True, text=True)
    assert flakes.returncode == 0, flakes.stdout


def test_predictions_on_a_file_give_every_label_above_its_threshold(run_dir, tmp_path):
    import pandas as pd

    from core.training import predict

    source = tmp_path / "new.csv"
    texts = ["Shares in the London firm rose", "England won the match", "The EU and the US agreed on trade"]
    pd.DataFrame({"text": texts, "labels": ["business|uk", "sport|uk", "politics|europe|usa"]}).to_csv(source,
                                                                                                     index=False)
    out = tmp_path / "out.csv"
    result = subprocess.run([sys.executable, "-m", "core.predict", "--model", str(run_dir / "model"), "--input",
                             str(source), "--output", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    written = pd.read_csv(out, keep_default_na=False)
    tokenizer, model = predict.load_classifier(run_dir / "model")
    for (_, line), row in zip(written.iterrows(), predict.predict(texts, tokenizer, model, 32)):
        assert line["predicted_label"] == "|".join(row["labels"])  # the labels Try the model shows, in its order
        for name, probability in row["probabilities"].items():  # each label's own sigmoid, not a softmax share
            assert abs(line[f"p({name})"] - probability) < 1e-4
    assert written["labels"].tolist() == ["business|uk", "sport|uk", "politics|europe|usa"]


def test_an_onnx_export_of_a_multi_label_model_is_refused_in_one_sentence(run_dir, tmp_path):
    result = subprocess.run([sys.executable, "-m", "core.runs", "export", str(run_dir), "--out", str(tmp_path / "out"),
                             "--onnx"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "multi-label model" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out" / "onnx").exists()
