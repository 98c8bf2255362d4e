"""Planted faults through the real training child (tiny random BERT, 64 tweets): the diagnosis names them."""

import os
import subprocess
import sys

import pytest

from core.diagnostics.diagnose import run_findings
from core.rundir import runs
from tests.conftest import ROOT, tiny_config, write_config

PLANTED = {"nan": "nan@step=3", "oom": "cpu_oom@step=2", "head2": "head=2"}


@pytest.fixture(scope="module")
def planted_runs(tmp_path_factory):
    """The three runs at once (they are small), each with its fault in DASHBOARD_FAULT."""
    tmp_path = tmp_path_factory.mktemp("faults")
    config = tiny_config(num_train_epochs=1, logging_steps=1, save_strategy="no", load_best_model_at_end=False)
    config["data"].update(train_size=64, eval_size=32)
    children = {}
    for name, fault in PLANTED.items():
        path = write_config(tmp_path / f"{name}.json", config)
        (tmp_path / name).mkdir()
        with open(tmp_path / name / "train.log", "wb") as log:
            children[name] = subprocess.Popen(
                [sys.executable, "-m", "core.train", "--config", str(path), "--run-dir", str(tmp_path / name),
                 "--cache-dir", str(tmp_path / f"cache-{name}")], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                env={**os.environ, "DASHBOARD_FAULT": fault, "OMP_NUM_THREADS": "1"})
    for child in children.values():
        child.wait(timeout=300)
    return tmp_path


def test_injected_nan_is_flagged_at_the_first_logging_step_after_it(planted_runs):
    findings = run_findings(planted_runs / "nan")
    assert findings[0].code == "LOSS_NAN" and findings[0].step == 3
    assert findings[0].config_change["training.learning_rate"] < 1e-3


def test_injected_out_of_memory_fails_the_run_with_the_memory_fix(planted_runs):
    assert runs.read_status(planted_runs / "oom")["state"] == "failed"
    finding = run_findings(planted_runs / "oom")[0]
    assert finding.code == "OUT_OF_MEMORY" and "CPU memory" in finding.evidence
    assert finding.config_change == {"hardware.memory_preset": "low"}


def test_a_two_output_head_for_three_classes_is_named_a_num_labels_mismatch(planted_runs):
    status = runs.read_status(planted_runs / "head2")
    assert status["state"] == "failed" and status["model_facts"]["num_labels"] == 2
    codes = [f.code for f in run_findings(planted_runs / "head2")]
    assert codes[0] == "NUM_LABELS_MISMATCH" and "LABEL_OUT_OF_RANGE" not in codes
