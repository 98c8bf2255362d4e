"""Unpadded batches on a CUDA GPU, checked and timed outside the Trainer (core/training/unpadded.py).

  python3 bench/unpad_check.py [--steps 20]

BERT-base-sized random model, a batch of 64 IMDB-like lengths (log-normal, mean ~290 tokens, cut at 512), bf16
autocast as the Trainer runs it:
  1. correctness: logits of the padded path (SDPA) and of the unpadded path (FlashAttention, variable lengths),
     each against an fp32 padded reference, as ||out - ref|| / ||ref|| (bf16 lands between 1e-3 and 1e-2); fresh
     random inputs for each of three draws; NaN never passes;
  2. time: forward + backward of one batch (no optimizer), eager, median of `--steps` after warm-up, timed with
     CUDA events, against the floor of the FLOPs it must do at the measured bf16 matrix rate.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from core.training import unpadded  # noqa: E402
from core.training.batches import FastPadding  # noqa: E402


class _Tokenizer:
    pad_token_id, pad_token_type_id, padding_side = 0, 0, "right"


class _Padder:
    tokenizer, padding, max_length, pad_to_multiple_of = _Tokenizer(), True, None, 64


def batch_features(seed: int, texts: int = 64):
    generator = torch.Generator().manual_seed(seed)
    lengths = torch.distributions.LogNormal(torch.log(torch.tensor(270.0)), 0.75).sample((texts,))
    lengths = lengths.clamp(8, 512).long().tolist()
    return [{"input_ids": [101] + torch.randint(1000, 30000, (n - 1,), generator=generator).tolist(),
             "attention_mask": [1] * n, "token_type_ids": [0] * n, "label": i % 5} for i, n in enumerate(lengths)]


def to_cuda(batch):
    return {k: v.cuda(non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}


def rel(out, ref) -> float:
    if not torch.isfinite(out).all():
        return float("nan")
    return float((out.float() - ref.float()).norm() / ref.float().norm())


def matmul_rate() -> float:
    a, b = (torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16) for _ in range(2))
    for _ in range(3):
        a @ b
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(10):
        a @ b
    end.record()
    torch.cuda.synchronize()
    return 10 * 2 * 8192 ** 3 / (start.elapsed_time(end) / 1000)


def timed(model, batch, steps: int) -> float:
    times = []
    for i in range(steps + 5):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = model(**batch).loss
        loss.backward()
        end.record()
        torch.cuda.synchronize()
        model.zero_grad(set_to_none=True)
        if i >= 5:
            times.append(start.elapsed_time(end))
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    config = BertConfig(num_labels=5, problem_type="single_label_classification")
    config._attn_implementation = "sdpa"  # as core.training.models sets it for the built-ins
    model = BertForSequenceClassification(config).cuda()
    padder, packer = FastPadding(_Padder()), unpadded.PackedBatches(_Padder())
    unpadded.enable(model)
    model.eval()
    print("| draw | real tokens | padded tokens | padded bf16 vs fp32 | unpadded bf16 vs fp32 |")
    print("| --- | --- | --- | --- | --- |")
    for seed in (1, 2, 3):
        feats = batch_features(seed)
        padded, packed = to_cuda(padder(feats)), to_cuda(packer(feats))
        with torch.no_grad():
            reference = model(**padded).logits
            with torch.autocast("cuda", dtype=torch.bfloat16):
                half_padded = model(**padded).logits
                half_packed = model(**packed).logits
        print(f"| {seed} | {packed['input_ids'].numel()} | {padded['input_ids'].numel()} | "
              f"{rel(half_padded, reference):.2e} | {rel(half_packed, reference):.2e} |")
    model.train()
    feats = batch_features(7)
    padded, packed = to_cuda(padder(feats)), to_cuda(packer(feats))
    rate = matmul_rate()
    tokens = packed["input_ids"].numel()
    mean_length = tokens / len(feats)
    # 6 x weights per token for the matrix products, plus attention's 12 x layers x hidden x length per token.
    weights = 12 * config.num_hidden_layers * config.hidden_size ** 2 + 2 * config.hidden_size ** 2
    flops = tokens * (6 * weights + 12 * config.num_hidden_layers * config.hidden_size * mean_length)
    padded_ms, packed_ms = timed(model, padded, args.steps), timed(model, packed, args.steps)
    print(f"\nbf16 matrix rate measured: {rate / 1e12:.0f} TFLOP/s; floor for this batch's forward + backward: "
          f"{flops / rate * 1000:.1f} ms ({flops / 1e12:.2f} TFLOP, {tokens} real tokens)")
    print("| path | forward + backward (ms, median) | x padded | samples/s at this time alone |")
    print("| --- | --- | --- | --- |")
    for name, ms in (("padded (SDPA)", padded_ms), ("unpadded (FlashAttention varlen)", packed_ms)):
        print(f"| {name} | {ms:.1f} | {padded_ms / ms:.2f}x | {len(feats) / ms * 1000:.0f} |")


if __name__ == "__main__":
    main()
