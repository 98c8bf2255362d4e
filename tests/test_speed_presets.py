"""Speed and memory presets per device, from made-up device facts (no GPU needed)."""

import pytest

from core.common.errors import UserError
from core.config.schema import RunConfig
from core.plan import presets
from core.training.trainer_setup import training_argument_values

H100 = {"device": "cuda", "bf16": True, "physical_cores": 8, "name": "NVIDIA H100", "total_memory_mb": 81000,
        "free_memory_mb": 80000}
T4 = {**H100, "bf16": False, "name": "Tesla T4"}
CPU = {"device": "cpu", "bf16": False, "physical_cores": 2, "name": "CPU"}
MPS = {"device": "mps", "bf16": False, "physical_cores": 8, "name": "Apple GPU"}


def config(hardware=None, data=None, **training):
    return RunConfig.from_dict({"hardware": hardware or {}, "data": data or {"max_length": 128},
                                "training": {"max_steps": 5000, **training}})


def test_fast_on_an_h100_takes_bf16_sdpa_fused_adamw_and_compile_with_cuda_graphs_and_length_buckets(monkeypatch):
    monkeypatch.delenv(presets.STEP_GRAPHS_ENV, raising=False)
    plan = presets.speed_plan(config(), H100)
    assert plan["training_arguments"] == {"bf16": True, "fp16": False, "optim": "adamw_torch_fused",
                                          "torch_compile": True, "per_device_eval_batch_size": 256,
                                          "accelerator_config": {"non_blocking": True},
                                          "logging_nan_inf_filter": False, "dataloader_pin_memory": True,
                                          "dataloader_num_workers": 2, "dataloader_persistent_workers": True,
                                          "dataloader_prefetch_factor": 4}
    assert plan["env"] == {"ACCELERATE_DYNAMO_USE_DYNAMIC": "1"}  # one graph for every padded length
    assert plan["step_graphs"]  # whole steps as CUDA graphs (core/training/step_graphs.py), not compile's own
    assert not plan["unpad"]  # CUDA graphs at these lengths; packed batches would change shape every step
    # Batches are made in workers only where cores are spare: not on a CPU device, nor a GPU box of 2 cores.
    assert "dataloader_num_workers" not in presets.speed_plan(config(), {**H100, "physical_cores": 2})[
        "training_arguments"]
    assert "dataloader_num_workers" not in presets.speed_plan(config(), CPU)["training_arguments"]
    assert plan["attention"] == "sdpa" and plan["argmax_on_device"]
    assert plan["length_buckets"] and plan["pad_to_multiple_of"] is None


def test_a_short_run_does_not_wait_a_minute_for_compiling():
    short = config(max_steps=-1)  # the defaults: 2,000 rows x 3 epochs at batch 16 = 375 steps
    assert presets.planned_steps(short) == 375
    plan = presets.speed_plan(short, H100)
    assert not plan["compile"] and plan["pad_to_multiple_of"] is None and plan["length_buckets"]


def test_long_texts_compile_without_cuda_graphs():
    plan = presets.speed_plan(config(data={"max_length": 512}), H100)
    assert plan["compile"] and "torch_compile_mode" not in plan["training_arguments"]


def test_several_processes_compile_without_cuda_graphs():
    plan = presets.speed_plan(config({"processes": 2}), H100)
    assert plan["compile"] and "torch_compile_mode" not in plan["training_arguments"]
    assert plan["training_arguments"]["ddp_find_unused_parameters"] is False
    assert plan["ddp_gradient_views"] and not presets.speed_plan(config(), H100)["ddp_gradient_views"]
    assert any("gradients as all-reduce buckets of 200 MB" in line for line in plan["summary"])
    assert plan["training_arguments"]["ddp_bucket_cap_mb"] == presets.DDP_COMPILED_BUCKET_MB
    eager = presets.speed_plan(config({"processes": 2, "compile": "off"}), H100)
    assert eager["ddp_gradient_views"] and "ddp_bucket_cap_mb" not in eager["training_arguments"]


def test_length_buckets_are_few_and_waste_little():
    from core.plan.estimate import length_bucket

    buckets = {length_bucket(n) for n in range(1, 513)}
    assert len(buckets) == 20 and max(buckets) == 512 and all(b % 8 == 0 for b in buckets)
    assert all(n <= length_bucket(n) <= max(n + 7, n * 1.25) for n in range(1, 513))


def test_a_card_without_bf16_gets_fp16():
    assert presets.speed_plan(config(), T4)["precision"] == "fp16"


def test_cpu_gets_fp32_dynamic_padding_no_compile_and_one_thread_per_core():
    plan = presets.speed_plan(config(), CPU)
    assert plan["precision"] == "fp32" and not plan["compile"] and plan["pad_to_multiple_of"] is None
    assert plan["threads"] == 2 and plan["env"] == {}


def test_mps_sets_the_cpu_fallback_and_keeps_fp16_off():
    plan = presets.speed_plan(config({"device": "mps"}), MPS)
    assert plan["env"] == {"PYTORCH_ENABLE_MPS_FALLBACK": "1"}
    assert plan["training_arguments"]["fp16"] is False and plan["precision"] == "fp32"


def test_plain_is_the_seeds_fp32_eager_adamw_without_compile_even_on_a_gpu():
    plan = presets.speed_plan(config({"speed": "plain"}), H100)
    assert (plan["precision"], plan["attention"], plan["optim"], plan["compile"]) == ("fp32", "eager",
                                                                                      "adamw_torch", False)


def test_each_choice_overrides_the_speed_setting():
    plan = presets.speed_plan(config({"precision": "fp32", "compile": "off", "attention": "eager",
                                      "pad_to_multiple_of": 16}), H100)
    assert (plan["precision"], plan["compile"], plan["attention"], plan["pad_to_multiple_of"]) == (
        "fp32", False, "eager", 16)


def test_gradient_checkpointing_turns_auto_compile_off():
    assert not presets.speed_plan(config({"memory_preset": "very_low"}), H100)["compile"]


def test_fp16_on_cpu_is_one_sentence_naming_the_field():
    with pytest.raises(UserError, match="fp16 needs a CUDA GPU") as caught:
        config({"device": "cpu", "precision": "fp16"})
    assert caught.value.field == "hardware.precision"
    with pytest.raises(UserError, match="fp16 needs a CUDA GPU"):
        presets.speed_plan(config({"precision": "fp16"}), CPU)


def test_training_arguments_carry_the_plan_and_extra_arguments_win():
    values = training_argument_values(config(), "cuda", presets.speed_plan(config(), H100))
    assert values["bf16"] and values["torch_compile"] and values["optim"] == "adamw_torch_fused"
    from core.config import compat

    assert compat.translate_all(values)  # every name is a TrainingArguments parameter of the installed version
    by_hand = config(fp16=True, optim="adamw_torch")
    values = training_argument_values(by_hand, "cuda", presets.speed_plan(by_hand, H100))
    assert values["fp16"] and "bf16" not in values and values["optim"] == "adamw_torch"


def test_low_preset_keeps_a_small_eval_batch_with_the_fast_plan():
    low = config({"memory_preset": "low"})
    values = training_argument_values(low, "cuda", presets.speed_plan(low, H100))
    assert values["per_device_eval_batch_size"] == 8 and values["per_device_train_batch_size"] == 4


def test_auto_preset_uses_the_fitted_batch_and_keeps_the_effective_batch():
    auto = config({"memory_preset": "auto"}, per_device_train_batch_size=64, gradient_accumulation_steps=2)
    assert presets.batch_plan(auto).per_device_train_batch_size == 64  # CPU / MPS: as set
    plan = presets.batch_plan(auto, fitted_batch=32)
    assert (plan.per_device_train_batch_size, plan.gradient_accumulation_steps) == (32, 4)
    assert presets.batch_plan(auto, fitted_batch=1000).per_device_train_batch_size == 128


def test_half_batch_retry_keeps_the_effective_batch():
    assert presets.half_batch_change({"hardware": {"memory_preset": "standard"}}, 16, 1) == {
        "hardware.memory_preset": "standard", "training.per_device_train_batch_size": 8,
        "training.gradient_accumulation_steps": 2}
    very_low = presets.half_batch_change({"hardware": {"memory_preset": "very_low"}}, 4, 4)
    assert very_low["training.gradient_checkpointing"] is True
    assert presets.half_batch_change({}, 1, 16) is None
    assert presets.next_preset_change({"hardware": {"memory_preset": "auto"}}) == {"hardware.memory_preset": "low"}
    assert presets.next_preset_change({"hardware": {"memory_preset": "very_low"}}) is None


def test_largest_fitting_batch_halves_until_it_fits():
    from core.training.autofit import largest_fitting_batch

    assert largest_fitting_batch(64, lambda b: b <= 12) == (8, [64, 32, 16, 8])
    assert largest_fitting_batch(4, lambda b: False) == (1, [4, 2, 1])


def test_fault_spec_is_parsed_or_rejected_with_a_sentence():
    from core.common.faults import parse_fault

    assert parse_fault("oom@step=3") == ("oom", 3) and parse_fault("") is None
    with pytest.raises(UserError, match="is not a fault") as caught:
        parse_fault("oom at 3")
    assert caught.value.sentence.startswith("DASHBOARD_FAULT: ")


def test_max_throughput_grows_the_batch_and_scales_the_learning_rate_by_its_square_root():
    fast = config({"memory_preset": "throughput"}, per_device_train_batch_size=64, learning_rate=1e-4)
    assert presets.throughput_start_batch(fast) == 512  # 8x, and 5,000 steps leave plenty
    assert presets.batch_plan(fast).per_device_train_batch_size == 64  # CPU / MPS: as set, rate unchanged
    plan = presets.batch_plan(fast, fitted_batch=256)
    assert (plan.per_device_train_batch_size, plan.gradient_accumulation_steps) == (256, 1)
    assert plan.learning_rate == pytest.approx(2e-4)  # 4x the batch, 2x the rate
    values = training_argument_values(fast, "cuda", presets.speed_plan(fast, H100), plan)
    assert values["learning_rate"] == pytest.approx(2e-4) and values["per_device_train_batch_size"] == 256
    assert values["warmup_ratio"] == 0.1 and "warmup_steps" not in values  # a share: the same examples at any batch
    assert values["max_steps"] == 1250  # 5,000 steps of 64 = 1,250 of 256


def test_max_throughput_keeps_warmup_examples_and_enough_steps_and_falls_back_when_nothing_larger_fits():
    stepped = config({"memory_preset": "throughput"}, per_device_train_batch_size=16, warmup_steps=100)
    assert presets.batch_plan(stepped, fitted_batch=128).warmup_steps == 13  # 100 steps of 16 = 13 steps of 128
    short = RunConfig.from_dict({"hardware": {"memory_preset": "throughput"}, "data": {"train_size": 2000},
                                 "training": {"per_device_train_batch_size": 16, "num_train_epochs": 3}})
    assert presets.throughput_start_batch(short) == 32  # 2,000 x 3 / 32 = 188 steps; 64 would leave 94
    small = presets.batch_plan(stepped, fitted_batch=8)  # the batch as set does not fit: like auto
    assert (small.per_device_train_batch_size, small.gradient_accumulation_steps, small.learning_rate) == (8, 2, None)


def test_max_throughput_says_it_changes_the_optimisation():
    fast = config({"memory_preset": "throughput"}, per_device_train_batch_size=64, learning_rate=1e-4)
    before = presets.throughput_words(fast)
    assert "changes the optimisation" in before and "up to 512" in before and "square root" in before
    after = presets.throughput_words(fast, presets.batch_plan(fast, fitted_batch=256))
    assert "batch 64 → 256" in after and "learning rate 0.0001 → 0.0002 (square-root scaling)" in after
