"""Environment checks with made-up versions, distributions, disks and devices; one look at the real machine."""

import time

from core.diagnostics import environment
from core.diagnostics.environment import (accelerate_check, checkpoint_bytes, dependency_conflicts, device_check,
                              disk_space_check, transformers_argument_names_check)

GB = 10 ** 9


def test_old_accelerate_is_a_dependency_error():
    finding = accelerate_check({"accelerate": "0.20.3"})
    assert finding.code == "DEPENDENCY_ERROR" and finding.severity == "error"
    assert "0.20.3" in finding.evidence and "pip install -r requirements.txt" in finding.fix


def test_missing_accelerate_is_a_dependency_error():
    assert "not installed" in accelerate_check({"accelerate": None}).evidence


def test_recent_accelerate_passes():
    assert accelerate_check({"accelerate": "0.21.0"}) is None
    assert accelerate_check({"accelerate": "1.15.0"}) is None


def test_argument_names_of_an_old_and_a_new_transformers():
    old = transformers_argument_names_check({"evaluation_strategy", "no_cuda", "group_by_length"}, "4.40.0")
    assert old.code == "DEPRECATED_ARGUMENT" and old.severity == "info"
    assert "4.40.0 takes evaluation_strategy (not eval_strategy)" in old.evidence
    new = transformers_argument_names_check({"eval_strategy", "use_cpu", "train_sampling_strategy"}, "5.24.0")
    assert "eval_strategy (not evaluation_strategy)" in new.evidence and "accepts both names" in new.fix


def test_conflicting_distributions_name_both_packages_and_versions():
    fake = [("datasets", "2.16.0", ["fsspec<=2023.10.0,>=2023.1.0", "pytest; extra == 'dev'"]),
            ("fsspec", "2024.6.1", []), ("pytest", "1.0", [])]
    [finding] = dependency_conflicts(fake)
    assert finding.code == "DEPENDENCY_CONFLICT" and finding.severity == "warning"
    assert "datasets 2.16.0" in finding.evidence and "fsspec 2024.6.1" in finding.evidence
    assert "<=2023.10.0" in finding.fix and "requirements.txt" in finding.fix


def test_satisfied_requirements_and_extras_give_no_finding():
    fake = [("datasets", "2.16.0", ["fsspec>=2023.1.0", "jax>=9; extra == 'jax'", "Missing-Pkg>=1"]),
            ("fsspec", "2023.10.0", []), ("jax", "0.1", [])]
    assert dependency_conflicts(fake) == []


def test_real_dependency_scan_is_fast():
    started = time.perf_counter()
    assert isinstance(dependency_conflicts(), list)
    assert time.perf_counter() - started < 2


def test_checkpoint_bytes_counts_weights_and_two_adam_moments_per_checkpoint_and_final_model():
    assert checkpoint_bytes(1_000_000, 2) == 1_000_000 * 4 * 3 * 3


def test_disk_space_thresholds(tmp_path):
    assert disk_space_check(tmp_path, 1 * GB, free_bytes=2 * GB) is None
    warning = disk_space_check(tmp_path, 1 * GB, free_bytes=int(1.5 * GB))
    assert warning.code == "DISK_SPACE" and warning.severity == "warning" and "1.5 GB" in warning.evidence
    error = disk_space_check(tmp_path, 1 * GB, free_bytes=GB // 2)
    assert error.severity == "error" and error.config_change == {"training.save_total_limit": 1}


def test_disk_space_of_a_folder_not_created_yet(tmp_path):
    assert disk_space_check(tmp_path / "runs" / "new", 1) is None


def test_cpu_chosen_while_a_gpu_is_there():
    finding = device_check("cpu", {"cpu": True, "cuda": True, "mps": False})
    assert finding.code == "DEVICE_NOT_USED" and finding.severity == "warning"
    assert finding.config_change == {"hardware.device": "auto"}


def test_missing_gpu_requested():
    finding = device_check("mps", {"cpu": True, "cuda": False, "mps": False})
    assert finding.code == "DEVICE_NOT_AVAILABLE" and finding.severity == "error"
    assert finding.config_change == {"hardware.device": "auto"}


def test_fitting_device_choices_pass():
    assert device_check("cpu", {"cpu": True, "cuda": False, "mps": False}) is None
    assert device_check("auto", {"cpu": True, "cuda": True, "mps": False}) is None
    assert device_check("cuda", {"cpu": True, "cuda": True, "mps": False}) is None


def test_real_environment_report_names_torch_and_free_disk(tmp_path):
    rows = {row["item"]: row["value"] for row in environment.environment_report(tmp_path)}
    assert "CUDA:" in rows["torch"] and rows["torch"] != "not installed"
    assert {"Python", "transformers", "datasets", "accelerate", "streamlit", "CPU cores"} <= set(rows)
    assert "GB under" in rows["Free disk"]


def test_all_findings_use_the_newest_runs_device(tmp_path, monkeypatch):
    monkeypatch.setattr(environment, "detected_devices", lambda: {"cpu": True, "cuda": True, "mps": False})
    monkeypatch.setattr(environment, "last_requested_device", lambda runs_dir: "cpu")
    codes = [f.code for f in environment.all_environment_findings(tmp_path)]
    assert "DEVICE_NOT_USED" in codes and codes[-1] == "DEPRECATED_ARGUMENT"  # info sorts last
