"""Unpadded batches (core/training/unpadded.py): packed texts give the same logits, loss, gradients and training
as padded batches; the speed plan picks them only where they run, and says why not elsewhere."""

from __future__ import annotations

import pytest
import torch

from core.config.schema import RunConfig
from core.plan import presets
from core.training import unpadded
from core.training.batches import FastPadding, PaddingMeter

LENGTHS = [5, 17, 9, 30, 3, 12]


def tiny(kind: str = "bert", dropout: float = 0.0, labels: int = 3):
    from transformers import BertConfig, BertForSequenceClassification, RobertaConfig, RobertaForSequenceClassification

    common = dict(vocab_size=200, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                  max_position_embeddings=80, num_labels=labels, hidden_dropout_prob=dropout,
                  attention_probs_dropout_prob=dropout, problem_type="single_label_classification")
    torch.manual_seed(0)
    if kind == "roberta":
        return RobertaForSequenceClassification(RobertaConfig(**common, pad_token_id=1))
    return BertForSequenceClassification(BertConfig(**common, pad_token_id=0))


def features(lengths=LENGTHS, seed: int = 1, labels: int = 3):
    generator = torch.Generator().manual_seed(seed)
    out = []
    for i, n in enumerate(lengths):
        ids = torch.randint(5, 200, (n,), generator=generator).tolist()
        out.append({"input_ids": ids, "attention_mask": [1] * n, "token_type_ids": [0] * n, "label": i % labels})
    return out


class Tokenizer:
    pad_token_id, pad_token_type_id, padding_side = 0, 0, "right"


class Padder:
    """What DataCollatorWithPadding offers FastPadding: a tokenizer and padding settings."""
    tokenizer, padding, max_length, pad_to_multiple_of = Tokenizer(), True, None, None


def padded(feats, pad_id: int = 0):
    padder = FastPadding(Padder())
    padder.pad_id = pad_id
    return padder(feats)


def test_packed_batches_put_texts_end_to_end():
    batch = unpadded.PackedBatches(Padder())(features())
    assert list(batch)[0] == "labels"  # the Trainer reads the batch size from the first tensor
    assert batch["labels"].tolist() == [0, 1, 2, 0, 1, 2]
    assert batch["input_ids"].shape == (sum(LENGTHS),)
    assert batch["cu_seqlens"].tolist() == [0, 5, 22, 31, 61, 64, 76]
    assert batch["cu_seqlens"].dtype == torch.int32
    assert batch["position_ids"][:7].tolist() == [0, 1, 2, 3, 4, 0, 1]
    assert batch["max_seqlen"] == 64 and batch["max_seqlen"] >= max(LENGTHS)
    meter = PaddingMeter(unpadded.PackedBatches(Padder()))
    meter(features())
    assert meter.take_pad_share() == 0.0 and meter.real_seen == sum(LENGTHS)


@pytest.mark.parametrize("kind", ["bert", "roberta"])
def test_unpadded_forward_gives_the_padded_logits_loss_and_gradients(kind):
    model = tiny(kind)
    feats = features()
    pad_id = model.config.pad_token_id
    reference = model(**padded(feats, pad_id))
    reference.loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()

    unpadded.enable(model)
    out = model(**unpadded.PackedBatches(Padder())(feats))
    out.loss.backward()
    torch.testing.assert_close(out.logits, reference.logits, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out.loss, reference.loss, rtol=1e-5, atol=1e-6)
    for name, grad in grads.items():
        if "position_embeddings" in name:
            continue  # padded rows add zero-gradient lookups only; compared below on the positions texts use
        torch.testing.assert_close(dict(model.named_parameters())[name].grad, grad, rtol=1e-4, atol=1e-6, msg=name)
    # Batches without cu_seqlens (prediction, export) still take the model's own padded path.
    torch.testing.assert_close(model(**padded(feats, pad_id)).logits, reference.logits)


def test_multi_label_loss_matches():
    model = tiny()
    model.config.problem_type = "multi_label_classification"
    feats = features()
    for i, f in enumerate(feats):
        f["label"] = [float(i % 2), 1.0, 0.0]
    reference = model(**padded(feats))
    unpadded.enable(model)
    out = model(**unpadded.PackedBatches(Padder())(feats))
    torch.testing.assert_close(out.loss, reference.loss, rtol=1e-5, atol=1e-6)


def ten_steps(folder, model, collator, data) -> tuple[float, float]:
    """Ten Trainer steps of batch 8 on CPU: (the last logged training loss, the eval loss after)."""
    from transformers import Trainer, TrainingArguments

    args = TrainingArguments(str(folder), per_device_train_batch_size=8, max_steps=10, learning_rate=1e-3,
                             report_to="none", use_cpu=True, seed=0, logging_steps=5, save_strategy="no",
                             disable_tqdm=True, per_device_eval_batch_size=16)
    trainer = Trainer(model=model, args=args, train_dataset=data, eval_dataset=data, data_collator=collator)
    trainer.train()
    return trainer.state.log_history[-2]["loss"], trainer.evaluate()["eval_loss"]


def test_training_with_the_trainer_is_the_same_on_packed_batches(tmp_path):
    """Ten steps through the Trainer (column removal, batch size, evaluation) end on the same loss."""
    from datasets import Dataset

    rows = features(lengths=[3 + (i * 7) % 40 for i in range(64)], seed=3)
    data = Dataset.from_list(rows)
    results = []
    for packed in (False, True):
        model = tiny()
        collator = PaddingMeter(FastPadding(Padder()))
        if packed:
            unpadded.enable(model)
            collator = PaddingMeter(unpadded.PackedBatches(FastPadding(Padder())))
        results.append(ten_steps(tmp_path / str(packed), model, collator, data))
    (loss_a, eval_a), (loss_b, eval_b) = results
    assert loss_b == pytest.approx(loss_a, rel=1e-4)
    assert eval_b == pytest.approx(eval_a, rel=1e-4)


def test_models_outside_the_families_say_why():
    from transformers import DistilBertConfig, DistilBertForSequenceClassification

    config = RunConfig.from_dict({"hardware": {"device": "cuda"}})
    model = DistilBertForSequenceClassification(DistilBertConfig(vocab_size=100, dim=32, n_layers=1, n_heads=2,
                                                                 hidden_dim=64))
    assert "this model is distilbert" in unpadded.unsupported_reason(model, config, "cuda", "bf16")
    assert unpadded.unsupported_reason(tiny(), config, "cuda", "bf16") is None
    assert "CUDA GPU" in unpadded.unsupported_reason(tiny(), config, "cpu", "fp32")
    assert "bf16 or fp16" in unpadded.unsupported_reason(tiny(), config, "cuda", "fp32")
    assert "checkpointing" in unpadded.unsupported_reason(tiny(), config, "cuda", "bf16", checkpointing=True)


CUDA = {"device": "cuda", "physical_cores": 16, "bf16": True, "name": "H200", "total_memory_mb": 140000,
        "free_memory_mb": 140000}


def plan_for(hardware=None, max_length=512, **model):
    raw = {"data": {"max_length": max_length}, "model": model or {"source": "builtin", "name": "bert-base-random"},
           "hardware": {"device": "cuda", "compile": "on", **(hardware or {})}}
    return presets.speed_plan(RunConfig.from_dict(raw), CUDA)


def test_the_fast_preset_unpads_long_texts_on_a_gpu_and_keeps_cuda_graphs_for_short_ones():
    long = plan_for()
    assert long["unpad"] and any("unpadded batches" in line for line in long["summary"])
    short = plan_for(max_length=128)
    assert not short["unpad"] and "CUDA graphs" in " ".join(short["summary"])
    assert not any("padded batches:" in line for line in short["summary"])  # the default there: nothing to explain
    forced = plan_for({"unpad": "on"}, max_length=128)
    assert forced["unpad"] and "CUDA graphs" not in " ".join(forced["summary"])
    assert not plan_for({"unpad": "off"})["unpad"]
    assert not presets.speed_plan(RunConfig.from_dict({"hardware": {"device": "cpu"}}),
                                  {**CUDA, "device": "cpu", "bf16": False})["unpad"]


def test_the_plan_says_why_a_run_keeps_padded_batches():
    fp32 = plan_for({"precision": "fp32"})
    assert not fp32["unpad"]
    assert "padded batches: unpadded batches need bf16 or fp16 precision" in " ".join(fp32["summary"])
    lora = presets.speed_plan(RunConfig.from_dict(
        {"data": {"max_length": 512}, "model": {"lora": True}, "hardware": {"device": "cuda", "compile": "on"}}), CUDA)
    assert not lora["unpad"] and "LoRA" in " ".join(lora["summary"])
    hub = presets.speed_plan(RunConfig.from_dict({"data": {"max_length": 512},
                                                  "model": {"source": "hub", "name": "distilbert-base-uncased"},
                                                  "hardware": {"device": "cuda", "compile": "on"}}),
                             {**CUDA, "model_type": "distilbert"})
    assert not hub["unpad"] and "this model is distilbert" in " ".join(hub["summary"])


def test_the_padding_meter_adds_up_across_loader_workers():
    """The fast preset on a GPU box makes batches in worker processes: the meter's counts must still add up."""
    from torch.utils.data import DataLoader

    rows = features(lengths=[3 + (i * 5) % 20 for i in range(40)])
    meter = PaddingMeter(FastPadding(Padder()))
    loader = DataLoader(rows, batch_size=8, collate_fn=meter, num_workers=2)
    padded_total = sum(batch["input_ids"].numel() for batch in loader)
    real = sum(len(r["input_ids"]) for r in rows)
    assert meter.real_seen == real
    assert meter.take_pad_share() == pytest.approx(1 - real / padded_total)
    assert meter.take_batch_seconds() == 0.0  # made in the workers: no time taken from the training step
    packed = PaddingMeter(unpadded.PackedBatches(Padder()))
    list(DataLoader(rows, batch_size=8, collate_fn=packed, num_workers=2))
    assert packed.real_seen == real and packed.take_pad_share() == 0.0
