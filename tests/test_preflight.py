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


def lr_finding(learning_rate, model="minilm-l6", tmp_path="."):
    raw = {"model": {"name": model}, "training": {"learning_rate": learning_rate}}
    return next((f for f in preflight(RunConfig.from_dict(raw), tmp_path, CPU_ONLY) if f.code.startswith("LR_")), None)


def test_a_learning_rate_far_above_the_usual_range_is_a_warning_with_the_usual_value(tmp_path):
    for lr in (0.01, 1.0, 1e-3):  # 1e-3 is 10x the top of fine-tuning's 1e-5..1e-4
        finding = lr_finding(lr, tmp_path=tmp_path)
        assert finding.code == "LR_TOO_HIGH" and finding.severity == "warning"
        assert finding.config_change == {"training.learning_rate": 5e-5}
    finding = lr_finding(0.01, tmp_path=tmp_path)
    assert "Learning rate 0.01 is 100x the top of the usual range" in finding.evidence
    assert "(1e-5 to 1e-4)" in finding.evidence and finding.fix.startswith("Use 5e-5")
    assert "LR_" not in finding.title + finding.evidence + finding.fix


def test_a_learning_rate_far_below_the_usual_range_is_a_warning(tmp_path):
    finding = lr_finding(1e-7, tmp_path=tmp_path)
    assert finding.code == "LR_TOO_LOW" and finding.config_change == {"training.learning_rate": 5e-5}
    assert "100x below the bottom" in finding.evidence


def test_usual_learning_rates_are_quiet(tmp_path):
    for lr in (1e-5, 2e-5, 5e-5, 1e-4, 5e-4, 2e-6):
        assert lr_finding(lr, tmp_path=tmp_path) is None


def test_a_model_with_random_weights_has_the_from_scratch_range(tmp_path):
    assert lr_finding(1e-3, "tiny-random", tmp_path) is None  # what the tests train tiny-random at
    finding = lr_finding(0.05, "tiny-random", tmp_path)
    assert finding.code == "LR_TOO_HIGH" and finding.config_change == {"training.learning_rate": 5e-4}
    assert "random weights" in finding.evidence
