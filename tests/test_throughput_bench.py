"""bench/throughput.py's GPU mode, checked on CPU: the configs it runs and the arguments they build on an H100."""

import importlib.util
import subprocess
import sys

from core.config.schema import RunConfig
from core.plan import presets
from core.training.trainer_setup import training_argument_values
from tests.conftest import ROOT
from tests.test_speed_presets import H100

spec = importlib.util.spec_from_file_location("throughput", ROOT / "bench" / "throughput.py")
throughput = importlib.util.module_from_spec(spec)
spec.loader.exec_module(throughput)


def planned(label, lengths="imdb-like"):
    raw = next(c for ln, lb, c in throughput.gpu_runs(1.0) if lb == label and ln == lengths)
    config = RunConfig.from_dict(raw)
    speed = presets.speed_plan(config, H100)
    return config, speed, training_argument_values(config, "cuda", speed)


def test_every_gpu_config_is_valid_and_fits_the_time_budget():
    runs = throughput.gpu_runs(1.0)
    assert {label for _, label, _ in runs} >= {"fast", "seed default", "standard", "low", "very_low", "auto"}
    for _, _, raw in runs:
        RunConfig.from_dict(raw)
    assert [label for _, label, _ in runs][:2] == ["fast", "fast"]  # the headline runs first


def test_fast_preset_on_an_h100_is_bf16_sdpa_fused_compiled_and_bucketed():
    config, speed, values = planned("fast")
    assert values["bf16"] and values["torch_compile"] and values["optim"] == "adamw_torch_fused"
    assert speed["attention"] == "sdpa" and speed["length_buckets"] and "torch_compile_mode" not in values
    assert planned("fast", "tweet-like")[1]["step_graphs"]  # whole steps as CUDA graphs at 128
    assert values["train_sampling_strategy"] == "group_by_length" and values["per_device_train_batch_size"] == 64
    assert values["save_strategy"] == "no" and values["eval_strategy"] == "no"


def test_seed_default_is_fp32_eager_padded_to_512_batch_16_in_random_order():
    config, speed, values = planned("seed default")
    assert not values["bf16"] and not values["fp16"] and not values["torch_compile"]
    assert speed["attention"] == "eager" and speed["pad_to_multiple_of"] == 512 and config.data.max_length == 512
    assert values["per_device_train_batch_size"] == 16 and values["train_sampling_strategy"] == "random"


def test_memory_presets_keep_the_effective_batch_with_compile_off():
    for label, batch, accumulation in (("standard", 64, 1), ("low", 4, 16), ("very_low", 4, 16)):
        _, speed, values = planned(label)
        assert not speed["compile"]
        assert (values["per_device_train_batch_size"], values["gradient_accumulation_steps"]) == (batch, accumulation)


def test_imdb_like_lengths_average_about_300_tokens():
    import numpy as np

    from core.config.schema import ModelConfig
    from core.training import models

    frame = throughput.imdb_like_frame(rows=400)
    tokenizer = models.load_tokenizer(ModelConfig())
    lengths = np.array([len(x) for x in tokenizer(frame.text.tolist(), truncation=True, max_length=512)["input_ids"]])
    assert 250 < lengths.mean() < 340 and (lengths == 512).mean() < 0.25


def test_the_child_trains_on_imdb_like_lengths_through_core_train(tmp_path):
    config = {"data": {"name": "bbc-news", "train_size": 48, "eval_size": 16, "max_length": 512},
              "model": {"name": "tiny-random"}, "hardware": {"device": "cpu"},
              "training": {"max_steps": 4, "per_device_train_batch_size": 8, **throughput.NO_EVAL}}
    result = throughput.run_config("imdb", config, tmp_path, imdb_like=True)
    assert not result.get("failed")
    assert 200 < result["estimate"]["lengths"]["mean_real"] < 400  # BBC articles alone average ~385
    assert result["performance"]["samples_per_second"] > 0


def test_the_training_path_imports_neither_plotly_nor_streamlit():
    code = ("import sys; import core.training.train, core.training.trainer_setup, core.plan.estimate, core.training.performance, "
            "core.common.faults, core.training.autofit, core.training.callbacks, core.data.splits, core.training.models, core.training.metrics, core.diagnostics.rules, core.rundir.runs; "
            "print([m for m in ('plotly', 'streamlit') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "[]", out.stderr
