"""Rules over the model's head, its trainable parameters and the device, on made-up facts; and the
post-mortem and run_findings() paths that use them."""

import json

import pytest

from core.common import faults
from core.common.errors import UserError
from core.diagnostics.diagnose import merged, preflight_findings, run_findings
from core.diagnostics.findings import Finding
from core.diagnostics.data_rules import batches_mostly_padding
from core.diagnostics.log_errors import classify_exception
from core.diagnostics.rules import live_findings
from core.diagnostics.model_checks import (checkpointing_with_memory_to_spare, fp32_on_a_bf16_gpu, head_does_not_match_classes,
                               no_trainable_parameters)
from core.diagnostics.postmortem import explain_failure

THREE = {"num_labels": 3, "label_names": ["negative", "neutral", "positive"], "majority_rate": 0.42}
HEALTHY_FACTS = {"trainable_parameters": 22_714_371, "total_parameters": 22_714_371, "num_labels": 3,
                 "problem_type": "single_label_classification"}


def test_a_model_with_no_trainable_parameter_is_frozen():
    finding = no_trainable_parameters({"trainable_parameters": 0, "total_parameters": 22_714_371})
    assert finding.code == "FROZEN_WEIGHTS" and finding.severity == "error" and "trainable" in finding.fix
    assert "0 trainable parameters out of 22714371" in finding.evidence


@pytest.mark.parametrize("facts", [HEALTHY_FACTS, {}, {"trainable_parameters": 1}])
def test_trainable_or_unknown_models_are_not_called_frozen(facts):
    assert no_trainable_parameters(facts) is None


def test_a_one_output_head_on_three_classes_is_a_regression_head():
    finding = head_does_not_match_classes({"num_labels": 1, "problem_type": "regression"}, THREE)
    assert finding.code == "REGRESSION_HEAD" and "1 output" in finding.evidence and "3 classes" in finding.evidence
    assert "num_labels=3" in finding.fix and "single_label_classification" in finding.fix


def test_a_two_output_head_on_three_classes_is_a_num_labels_mismatch():
    finding = head_does_not_match_classes({"num_labels": 2}, THREE)
    assert finding.code == "NUM_LABELS_MISMATCH" and "labels 2..2 have no output" in finding.evidence
    assert "num_labels=3" in finding.fix


@pytest.mark.parametrize("facts,dataset", [(HEALTHY_FACTS, THREE), ({"num_labels": 5}, {"num_labels": 5}),
                                           ({}, THREE), ({"num_labels": 2}, {})])
def test_a_head_that_matches_or_unknown_facts_stay_silent(facts, dataset):
    assert head_does_not_match_classes(facts, dataset) is None


H100 = {"device": "cuda", "name": "NVIDIA H100 80GB HBM3", "bf16": True, "total_memory_mb": 81_000}


def test_fp32_on_a_gpu_with_bf16_is_slow_training_with_the_bf16_switch():
    finding = fp32_on_a_bf16_gpu(H100, {"learning_rate": 5e-5})
    assert finding.code == "SLOW_TRAINING" and finding.config_change == {"hardware.precision": "bf16"}
    assert "H100" in finding.evidence
    assert fp32_on_a_bf16_gpu(H100, {}, precision="fp32").code == "SLOW_TRAINING"


def test_the_speed_plans_bf16_counts_even_when_the_config_does_not_set_it():
    assert fp32_on_a_bf16_gpu(H100, {}, precision="bf16") is None


def test_the_rules_read_the_keys_that_device_facts_writes():
    from core.plan import presets

    facts = presets.device_facts("cpu")
    assert {"device", "bf16", "total_memory_mb", "name"} <= set(facts)


@pytest.mark.parametrize("device,training", [(H100, {"bf16": True}), (H100, {"fp16": True}), ({"device": "cpu"}, {}),
                                             ({**H100, "bf16": False}, {}), ({}, {})])
def test_mixed_precision_cpu_or_old_gpus_are_not_slow_for_precision(device, training):
    assert fp32_on_a_bf16_gpu(device, training) is None


def memory_records(*peaks):
    return [{"type": "train", "step": 10 * (i + 1), "loss": 1.0, "memory_mb": peak} for i, peak in enumerate(peaks)]


def test_checkpointing_with_most_gpu_memory_free_is_slow_training():
    finding = checkpointing_with_memory_to_spare(memory_records(9_000, 10_500, 10_200), H100, True)
    assert finding.code == "SLOW_TRAINING" and finding.config_change == {"hardware.memory_preset": "standard"}
    assert "10,500 MB" in finding.evidence and finding.step == 30


@pytest.mark.parametrize("peaks,checkpointing,device", [((60_000, 70_000), True, H100), ((9_000,), False, H100),
                                                        ((9_000,), True, {"device": "cpu"}), ((), True, H100)])
def test_checkpointing_that_is_needed_off_or_on_cpu_stays_silent(peaks, checkpointing, device):
    assert checkpointing_with_memory_to_spare(memory_records(*peaks), device, checkpointing) is None


def test_live_findings_report_the_head_from_status_facts_and_stay_silent_on_a_healthy_setup():
    bad = live_findings([], THREE, {"model_facts": {**HEALTHY_FACTS, "num_labels": 1}}, {})
    assert [f.code for f in bad] == ["REGRESSION_HEAD"]
    healthy = live_findings([], THREE, {"model_facts": HEALTHY_FACTS, "device_facts": {"device": "cpu"}},
                            {"hardware": {"memory_preset": "very_low"}})
    assert healthy == []


def test_padding_to_max_length_is_fixed_by_padding_each_batch_to_its_longest_text():
    records = [{"type": "train", "step": s, "loss": 1.0, "pad_share": 0.9} for s in (1, 2, 3)]
    finding = batches_mostly_padding(records, "group_by_length", "max_length")
    assert finding.code == "SLOW_TRAINING" and finding.config_change == {"data.padding": "longest"}


TARGET_TAIL = ("Traceback (most recent call last):\n  File \"x.py\", line 1, in <module>\n"
               "IndexError: Target 2 is out of bounds.\n")


def test_target_out_of_bounds_with_a_two_output_head_is_named_a_num_labels_mismatch():
    status = {"state": "failed", "model_facts": {"num_labels": 2}, "error": {"code": "TRAINING_ERROR"}}
    finding = explain_failure(status, TARGET_TAIL, dataset=THREE)
    assert finding.code == "NUM_LABELS_MISMATCH" and "Target 2 is out of bounds" in finding.evidence


def test_target_out_of_bounds_without_model_facts_stays_a_label_out_of_range():
    finding = explain_failure({"state": "failed"}, TARGET_TAIL, dataset=THREE)
    assert finding.code == "LABEL_OUT_OF_RANGE"


def test_an_empty_parameter_list_is_frozen_weights():
    tail = "Traceback (most recent call last):\nValueError: optimizer got an empty parameter list\n"
    finding = explain_failure({"state": "failed"}, tail)
    assert finding.code == "FROZEN_WEIGHTS" and "trainable" in finding.fix


def test_a_missing_label_column_is_labels_missing():
    status = {"state": "failed", "error": {"code": "LABELS_MISSING", "message": "the data set 'x' has no label "
                                                                                "column 'label' (its columns: text)"}}
    finding = explain_failure(status, "error: the data set 'x' has no label column\n")
    assert finding.code == "LABELS_MISSING" and "label column" in finding.fix
    assert classify_exception(KeyError("label"))[0] == "LABELS_MISSING"
    assert classify_exception(KeyError("input_ids"))[0] == "TRAINING_ERROR"


def test_the_cpu_allocators_message_is_out_of_memory():
    error = RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory: you "
                         "tried to allocate 4294967296 bytes.")
    assert classify_exception(error)[0] == "OUT_OF_MEMORY"


def test_diagnose_includes_preflight_findings_and_a_preflight_error_explains_the_failure(tmp_path):
    disk = Finding("DISK_SPACE", "error", "Not enough disk space for a run", "0.0 GB is free", "Free space.",
                   {"training.save_total_limit": 1})
    gpu = Finding("DEVICE_NOT_USED", "warning", "A GPU is available but not used", "cuda", "Choose auto.")
    status = {"state": "failed", "preflight": [disk.to_dict(), gpu.to_dict()],
              "error": {"code": "DISK_SPACE", "message": "0.0 GB is free"}}
    (tmp_path / "status.json").write_text(json.dumps(status))
    found = run_findings(tmp_path)
    assert [f.code for f in found] == ["DISK_SPACE", "DEVICE_NOT_USED"]
    assert found[0].title == "Not enough disk space for a run"  # the pre-flight's words, not "the disk filled up"
    assert preflight_findings({"preflight": [{"code": "X"}]}) == []  # a damaged entry is skipped
    assert merged(None, [gpu], [gpu]) == [gpu]


def test_planted_faults_parse_and_reject_unknown_ones(monkeypatch):
    assert faults.planted({"DASHBOARD_FAULT": "nan@step=30, head=2,freeze"}) == {"nan": 30, "head": 2, "freeze": None}
    assert faults.planted({}) == {}
    for bad in ("head", "nan", "bogus", "freeze=2"):
        with pytest.raises(UserError, match="is not a fault"):
            faults.planted({"DASHBOARD_FAULT": bad})


def test_faked_environment_facts_only_when_asked(monkeypatch):
    real = {"cpu": True, "cuda": False, "mps": False, "cuda_count": 0}
    assert faults.fake_devices(real) == real and faults.fake_free_bytes(10**12) == 10**12
    monkeypatch.setenv("DASHBOARD_FAKE_DEVICES", "cuda")
    monkeypatch.setenv("DASHBOARD_FAKE_FREE_DISK_MB", "20")
    monkeypatch.setenv("DASHBOARD_FAKE_MISSING", "accelerate")
    assert faults.fake_devices(real) == {"cpu": True, "cuda": True, "mps": False, "cuda_count": 1}
    assert faults.fake_free_bytes(10**12) == 20 * 2**20
    assert faults.fake_missing({"accelerate": "1.0", "torch": "2.13"}) == {"accelerate": None, "torch": "2.13"}
