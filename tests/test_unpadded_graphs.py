"""Unpadded batches filled up to a bucket of tokens (core/training/unpadded.py, `PackedBatches(bucket=...)`), the
shapes whole-step CUDA graphs record once each: the filler text changes no logit, loss or gradient, and the plan
asks for it only where `DASHBOARD_UNPAD_GRAPHS=1` and the step can be one graph. The graphs themselves need a CUDA
GPU (bench/issue18_round.sh, stage imdb-final)."""

from __future__ import annotations

import pytest
import torch

from core.plan import presets
from core.training import tuning, unpadded
from core.training.batches import FastPadding, PaddingMeter
from tests.test_unpadded import LENGTHS, Padder, features, plan_for, ten_steps, tiny


def test_a_bucketed_batch_fills_its_row_with_one_text_nobody_reads():
    batch = unpadded.PackedBatches(Padder(), bucket=32, max_length=40)(features())
    real = sum(LENGTHS)  # 76 tokens: filled to 96, the filler 20 tokens long
    assert batch["input_ids"].shape == (96,) and batch["position_ids"].shape == (96,)
    assert batch["cu_seqlens"].tolist() == [0, 5, 22, 31, 61, 64, 76, 96]
    assert batch["first_tokens"].tolist() == [0, 5, 22, 31, 61, 64]
    assert batch["labels"].shape == (len(LENGTHS),)
    assert batch["max_seqlen"] == 64  # the run's longest text rounded up, and at least a bucket: one per run
    assert batch["position_ids"][real:].tolist() == [0] * 20
    # A row of exactly a bucket's tokens still gets a filler text (a text at least one token long).
    exact = unpadded.PackedBatches(Padder(), bucket=38, max_length=40)(features())
    assert exact["input_ids"].shape == (114,) and exact["cu_seqlens"].tolist()[-2:] == [76, 114]
    meter = PaddingMeter(unpadded.PackedBatches(Padder(), bucket=32, max_length=40))
    meter(features())
    assert meter.real_seen == real and meter.take_pad_share() == pytest.approx(20 / 96)


@pytest.mark.parametrize("kind", ["bert", "roberta"])
def test_the_filler_text_changes_no_logit_loss_or_gradient(kind):
    model = tiny(kind)
    unpadded.enable(model)
    feats = features()
    plain = model(**unpadded.PackedBatches(Padder())(feats))
    plain.loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()
    filled = model(**unpadded.PackedBatches(Padder(), bucket=32, max_length=40)(feats))
    filled.loss.backward()
    torch.testing.assert_close(filled.logits, plain.logits, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(filled.loss, plain.loss, rtol=1e-5, atol=1e-6)
    for name, grad in grads.items():
        torch.testing.assert_close(dict(model.named_parameters())[name].grad, grad, rtol=1e-4, atol=1e-6, msg=name)


def test_training_on_bucketed_batches_ends_on_the_same_loss(tmp_path):
    from datasets import Dataset

    data = Dataset.from_list(features(lengths=[3 + (i * 7) % 40 for i in range(64)], seed=3))
    results = []
    for bucket in (None, 64):
        model = tiny()
        unpadded.enable(model)
        collator = PaddingMeter(unpadded.PackedBatches(FastPadding(Padder()), bucket=bucket, max_length=48))
        results.append(ten_steps(tmp_path / str(bucket), model, collator, data))
    (loss_a, eval_a), (loss_b, eval_b) = results
    assert loss_b == pytest.approx(loss_a, rel=1e-4) and eval_b == pytest.approx(eval_a, rel=1e-4)


def test_whole_step_graphs_on_unpadded_batches_are_asked_for_only(monkeypatch):
    monkeypatch.delenv(presets.UNPAD_GRAPHS_ENV, raising=False)
    default = plan_for()  # IMDB-like lengths on a GPU: unpadded, no graphs
    assert default["unpad"] and not default["step_graphs"] and default["packed_bucket"] is None
    monkeypatch.setenv(presets.UNPAD_GRAPHS_ENV, "1")
    asked = plan_for()
    assert asked["unpad"] and asked["step_graphs"] and asked["packed_bucket"] == presets.GRAPH_TOKEN_BUCKET
    assert "torch_compile_mode" not in asked["training_arguments"]
    assert any("filled to a multiple of 1024 tokens" in line for line in asked["summary"])
    assert any("CUDA graphs of whole training steps" in line for line in asked["summary"])
    for hardware in ({"compile": "off"}, {"precision": "fp16"}, {"unpad": "off"}):
        plan = plan_for(hardware)
        assert not plan["step_graphs"] and plan["packed_bucket"] is None, hardware


def test_a_model_that_keeps_padded_batches_leaves_the_graphs_with_them(monkeypatch):
    from transformers import DistilBertConfig, DistilBertForSequenceClassification

    from core.config.schema import RunConfig

    monkeypatch.setenv(presets.UNPAD_GRAPHS_ENV, "1")
    speed, said = plan_for(), []
    model = DistilBertForSequenceClassification(DistilBertConfig(vocab_size=100, dim=32, n_layers=1, n_heads=2,
                                                                 hidden_dim=64))
    config = RunConfig.from_dict({"data": {"max_length": 512}, "hardware": {"device": "cuda", "compile": "on"}})
    after = tuning.unpad_or_say_why(config, model, "cuda", speed, presets.batch_plan(config), said.append)
    assert not after["unpad"] and not after["step_graphs"] and after["packed_bucket"] is None
    assert said and "Padded batches after all" in said[0]
