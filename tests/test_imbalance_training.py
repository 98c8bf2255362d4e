"""Unequal classes for real: a tiny run with class weights balanced through the CLI records the weights it trained
with and macro F1, its reproduce.py carries the same weighted loss and runs; bad weights stop the CLI first."""

import json
import runpy
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch
from sklearn.utils.class_weight import compute_class_weight

from core.runner import export
from core.training import train
from core.training.loss import weighted_loss
from tests.conftest import ROOT, tiny_config, write_config


def cli(argv: list[str]) -> int:
    """`python -m core.train` in this process; the stop-signal handlers it installs are put back afterwards."""
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return train.main(argv)
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def small_weighted_config(**training) -> dict:
    raw = tiny_config(**{"num_train_epochs": 1, "class_weights": "balanced", "metric_for_best_model": "f1_macro",
                         **training})
    raw["data"].update(train_size=96, eval_size=30)
    return raw


def test_a_balanced_run_records_its_weights_and_macro_f1_and_reproduce_py_trains_with_them(tmp_path, capsys):
    config_path = write_config(tmp_path / "config.json", small_weighted_config())
    run_dir = tmp_path / "runs" / "balanced"
    assert cli(["--config", str(config_path), "--run-dir", str(run_dir)]) == 0
    dataset = json.loads((run_dir / "dataset.json").read_text())
    names, counts = dataset["label_names"], dataset["train_counts"]
    expected = compute_class_weight("balanced", classes=np.array(names),
                                    y=np.array([n for n in names for _ in range(counts[n])]))
    assert list(dataset["class_weights"]) == names
    assert list(dataset["class_weights"].values()) == pytest.approx(expected, rel=1e-5)
    assert "Class weights in the loss: negative" in capsys.readouterr().out
    evals = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()
             if '"eval"' in line]
    assert evals and {"eval_f1", "eval_f1_macro", "eval_f1_weighted"} <= set(evals[-1])
    final = json.loads((run_dir / "results.json").read_text())["final_metrics"]
    assert 0 <= final["f1_macro"] <= 1 and final["f1_weighted"] == final["f1"]

    script = export.run_script(run_dir)
    assert "compute_loss_func=weighted_loss" in script
    (tmp_path / "reproduce.py").write_text(script)
    namespace = runpy.run_path(str(tmp_path / "reproduce.py"), run_name="not_main")
    assert namespace["CLASS_WEIGHTS"] == list(dataset["class_weights"].values())
    logits, labels = torch.randn(7, 3), torch.tensor([0, 1, 2, 2, 1, 0, 2])
    theirs = namespace["weighted_loss"]({"logits": logits}, labels)
    ours = weighted_loss(logits, labels, torch.tensor(namespace["CLASS_WEIGHTS"]), multi_label=False)
    assert theirs.item() == pytest.approx(ours.item())
    done = subprocess.run([sys.executable, str(tmp_path / "reproduce.py"), "--output-dir", str(tmp_path / "out")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert '"eval_f1_macro"' in done.stdout and (tmp_path / "out" / "model" / "config.json").is_file()


@pytest.mark.parametrize("weights,words", [
    ("postive=3", "training.class_weights: 'postive' is not a label of this data (its labels: negative, neutral, "
                  "positive); weigh only those labels, or use balanced."),
    ("positive=0", "training.class_weights: the weight of 'positive' is 0; weights must be above 0"),
    ("positive:3", "training.class_weights: 'positive:3' is neither none, balanced nor label=weight pairs"),
])
def test_bad_class_weights_are_one_line_and_no_run_folder(weights, words, tmp_path, capsys):
    config_path = write_config(tmp_path / "config.json", small_weighted_config(class_weights=weights))
    assert cli(["--config", str(config_path), "--run-dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: {words}"), err
    assert not (tmp_path / "run").exists()


def test_the_real_cli_process_refuses_weights_for_an_unknown_label(tmp_path):
    config_path = write_config(tmp_path / "config.json", small_weighted_config(class_weights={"spam": 2}))
    done = subprocess.run([sys.executable, "-m", "core.train", "--config", str(config_path), "--run-dir",
                           str(tmp_path / "run")], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.startswith("error: training.class_weights: 'spam' is not a label of this data")
    assert not (tmp_path / "run").exists()


def test_an_oversampled_weighted_script_is_clean_and_reads_the_runs_rows_with_their_repeats(tmp_path):
    from tests.bad_inputs import file_data
    from tests.test_reproduce import assert_reads_the_dashboards_rows, pyflakes_warnings, run_config, script_namespace

    data = file_data("reviews.csv", oversample=True)
    script = export.reproduce_script(run_config(data, class_weights={"positive": 2.0}))
    assert pyflakes_warnings(script) == ""  # no undefined name, no unused import (torch is used by the loss)
    namespace = script_namespace(tmp_path, script)
    assert len(namespace["TRAIN_ROWS"]) > len(set(namespace["TRAIN_ROWS"]))  # the repeats oversampling added
    assert_reads_the_dashboards_rows(namespace, data)
    plain = export.reproduce_script(run_config(file_data("reviews.csv")))
    assert "weighted_loss" not in plain and "import torch" not in plain
