"""LoRA for large encoders: adapters on the attention projections with the head trained in full, merged before
saving, so the saved model is a plain transformers model; trained for real on tiny-random through the CLI."""

import json
import subprocess
import sys

import pytest
import torch

from core.common.errors import UserError
from core.config.schema import ModelConfig, RunConfig
from core.runner import export
from tests.conftest import ROOT, tiny_config, write_config
from tests.test_reproduce import pyflakes_warnings, run_script

LABELS = ["negative", "neutral", "positive"]


def tiny_lora_model(**lora):
    from core.training import lora as lora_module, models

    model = models.load_model(ModelConfig(name="tiny-random"), LABELS, seed=0)
    return lora_module.add_adapters(model, ModelConfig(name="tiny-random", lora=True, **lora))


def test_adapters_sit_on_query_key_value_and_the_head_trains_in_full():
    model = tiny_lora_model(lora_rank=4)
    trainable = [name for name, p in model.named_parameters() if p.requires_grad]
    adapted = {name.split(".lora_")[0].rpartition(".")[2] for name in trainable if ".lora_" in name}
    assert adapted == {"query", "key", "value"}
    assert {name for name in trainable if ".lora_" not in name} == {
        "base_model.model.classifier.modules_to_save.default.weight",
        "base_model.model.classifier.modules_to_save.default.bias"}
    # rank 4 x (32 in + 32 out) x 3 projections x 2 layers, plus the 32 x 3 head and its bias
    assert sum(model.get_parameter(name).numel() for name in trainable) == 4 * 64 * 3 * 2 + 32 * 3 + 3


def test_merging_keeps_every_prediction_and_leaves_a_plain_model():
    from core.training import lora

    model = tiny_lora_model().eval()
    with torch.no_grad():  # adapters as if trained: B starts at zero, which would make the merge trivially right
        for name, parameter in model.named_parameters():
            if ".lora_B" in name or "modules_to_save" in name:
                parameter.normal_(0, 0.5)
    inputs = {"input_ids": torch.tensor([[101, 2023, 2003, 1037, 3231, 102]]),
              "attention_mask": torch.ones(1, 6, dtype=torch.long)}
    with torch.no_grad():
        before = model(**inputs).logits

    class Holder:  # the two attributes of a Trainer that merge_into replaces
        pass

    trainer = Holder()
    trainer.model = trainer.model_wrapped = model
    lora.merge_into(trainer)
    assert type(trainer.model).__name__ == "BertForSequenceClassification" and trainer.model_wrapped is trainer.model
    assert not any("lora" in name or "modules_to_save" in name for name, _ in trainer.model.named_modules())
    with torch.no_grad():
        assert torch.allclose(trainer.model(**inputs).logits, before, atol=1e-5)


def test_other_families_are_adapted_by_their_own_names_and_a_model_without_them_is_refused():
    from transformers import DistilBertConfig, DistilBertForSequenceClassification

    from core.training import lora

    distil = DistilBertForSequenceClassification(DistilBertConfig(dim=32, hidden_dim=64, n_layers=1, n_heads=2,
                                                                  num_labels=3))
    assert lora.attention_projections(distil) == ["q_lin", "k_lin", "v_lin"]
    assert lora.head_modules(distil) == ["pre_classifier", "classifier"]
    with pytest.raises(UserError) as refused:
        lora.attention_projections(torch.nn.Sequential(torch.nn.Linear(4, 4)))
    assert refused.value.sentence.startswith("model.lora: LoRA found no query / key / value projections")


def test_rank_alpha_and_dropout_are_checked_like_every_field():
    with pytest.raises(UserError) as refused:
        RunConfig.from_dict({"model": {"lora": True, "lora_rank": 0}})
    assert refused.value.sentence == "model.lora_rank: must be at least 1, got 0; raise it."
    assert RunConfig.from_dict({}).model.lora is False  # full fine-tuning stays the default


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory):
    """A real LoRA run of tiny-random through `python -m core.train`."""
    root = tmp_path_factory.mktemp("lora")
    config = tiny_config(num_train_epochs=1, learning_rate=5e-3)
    config["model"].update(lora=True, lora_rank=4, lora_alpha=8)
    result = subprocess.run([sys.executable, "-m", "core.train", "--config", str(write_config(root / "c.json", config)),
                             "--run-dir", str(root / "run")], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return root / "run", result.stdout


def test_a_lora_run_saves_a_merged_model_that_loads_and_predicts(lora_run):
    from transformers import AutoModelForSequenceClassification

    from core.training import predict

    run_dir, log = lora_run
    assert "LoRA rank 4 on key, query, value (head trained in full): " in log
    status = json.loads((run_dir / "status.json").read_text())
    assert 0 < status["lora"]["share"] < 0.01 and status["lora"]["modules_to_save"] == ["classifier"]
    assert not (run_dir / "model" / "adapter_config.json").exists()
    model = AutoModelForSequenceClassification.from_pretrained(str(run_dir / "model"))
    assert not any("lora" in name for name, _ in model.named_modules())
    # The saved model is the one the final report evaluated: its eval accuracy comes back the same.
    from core.data import prepare
    splits = prepare.prepare(RunConfig.from_dict(json.loads((run_dir / "config.json").read_text())).data)
    tokenizer, model = predict.load_classifier(run_dir / "model")
    rows = predict.predict(splits.eval["text"].tolist(), tokenizer, model, max_length=48)
    accuracy = sum(r["label"] == label for r, label in zip(rows, splits.eval["label"])) / len(rows)
    final = json.loads((run_dir / "results.json").read_text())["final_metrics"]["accuracy"]
    assert accuracy == pytest.approx(final, abs=1 / 60)


def test_a_lora_runs_script_trains_with_the_same_adapters(lora_run, tmp_path):
    run_dir, _ = lora_run
    script = export.run_script(run_dir)
    assert "'target_modules': ['key', 'query', 'value']" in script and "add_lora(load_model())" in script
    assert pyflakes_warnings(script) == ""
    output, metrics = run_script(script, tmp_path)
    assert "eval_accuracy" in metrics
    assert (tmp_path / "out" / "model" / "model.safetensors").is_file()
    assert not (tmp_path / "out" / "model" / "adapter_config.json").exists()  # merged, as the dashboard saves it


def test_the_update_ratio_leaves_out_the_zero_started_b_matrices():
    """LoRA's B matrices start at zero, so their first updates change them by ~100%: counted, they would make a
    stuck LoRA run read as a learning rate far too high."""
    from core.training.callbacks import UpdateRatio

    model = tiny_lora_model()
    probe = UpdateRatio()
    probe.snapshot(model)
    names = {id(p): n for n, p in model.named_parameters()}
    watched = [names[id(p)] for p, _ in probe._before]
    assert watched and not any(".lora_B." in n for n in watched) and any(".lora_A." in n for n in watched)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if ".lora_B." in name:
                p.add_(0.01)  # from zero: an infinite relative change, were it counted
            elif p.requires_grad and p.ndim >= 2:
                p.mul_(1 + 1e-3)
    assert abs(probe.measure(model) - 1e-3) < 1e-6
