"""Pre-flight findings for a config, before anything starts."""

from core.config.schema import RunConfig
from core.diagnostics.preflight import preflight

CPU_ONLY = {"cpu": True, "cuda": False, "mps": False}
WITH_GPU = {"cpu": True, "cuda": True, "mps": False}


def codes(raw, available=CPU_ONLY, tmp_path="."):
    return [f.code for f in preflight(RunConfig.from_dict(raw), tmp_path, available)]


def test_defaults_on_a_cpu_machine_are_clean(tmp_path):
    assert codes({}, tmp_path=tmp_path) == []


def test_old_argument_name_is_an_info_note(tmp_path):
    assert codes({"training": {"evaluation_strategy": "epoch"}}, tmp_path=tmp_path) == ["DEPRECATED_ARGUMENT"]


def test_cpu_chosen_while_a_gpu_is_present(tmp_path):
    assert codes({"hardware": {"device": "cpu"}}, WITH_GPU, tmp_path) == ["DEVICE_NOT_USED"]


def test_missing_gpu_and_fp16_off_cuda_are_errors(tmp_path):
    assert codes({"hardware": {"device": "cuda"}}, CPU_ONLY, tmp_path)[0] == "DEVICE_NOT_AVAILABLE"
    findings = preflight(RunConfig.from_dict({"training": {"fp16": True}}), tmp_path, CPU_ONLY)
    assert findings[0].code == "PRECISION_NOT_SUPPORTED" and findings[0].severity == "error"
    assert findings[0].config_change == {"training.fp16": False}
    assert codes({"training": {"fp16": True}}, WITH_GPU, tmp_path) == []


def test_more_processes_than_gpus_is_an_error(tmp_path):
    two_gpus = {"cpu": True, "cuda": True, "mps": False, "cuda_count": 2}
    assert codes({"hardware": {"device": "cuda", "processes": 2}}, two_gpus, tmp_path) == []
    findings = preflight(RunConfig.from_dict({"hardware": {"device": "auto", "processes": 4}}), tmp_path, two_gpus)
    assert findings[0].code == "DEVICE_NOT_AVAILABLE" and findings[0].config_change == {"hardware.processes": 2}
    assert codes({"hardware": {"device": "cpu", "processes": 2}}, CPU_ONLY, tmp_path) == []
