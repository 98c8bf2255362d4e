"""Whole-step CUDA graphs (core/training/step_graphs.py) against the ordinary compiled step, on one CUDA GPU.

  python3 bench/step_graphs_check.py [--steps 80]

The same Trainer, data, seed and schedule twice: the ordinary step (torch.compile, default mode) and the
whole-step graph trainer. A small random BERT on random tokens whose batches come in three padded lengths, bf16,
fused AdamW, warmup and linear decay, clipping at 1.0. With dropout off the two runs must give the same loss and
gradient norm at every step (to bf16 noise); with dropout on, the same curve within noise. Prints a Markdown table
and the largest differences; exits 1 if the dropout-off run differs by more than 2% at any step or no step was
replayed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def data(rows: int, seed: int = 0):
    import torch

    generator = torch.Generator().manual_seed(seed)
    lengths = torch.randint(8, 90, (rows,), generator=generator).tolist()
    return [{"input_ids": [101] + torch.randint(1000, 30000, (n - 2,), generator=generator).tolist() + [102],
             "labels": int(torch.randint(0, 3, (1,), generator=generator))} for n in lengths]


# The app's child differs from the plain check in these ways; `--conditions` records with each added in turn, to
# find which one keeps the recording from taking there.
CONDITIONS = {
    "plain": {},
    "loader workers": {"dataloader_num_workers": 2, "dataloader_persistent_workers": True,
                       "dataloader_prefetch_factor": 4},
    "non-blocking copies": {"accelerator_config": {"non_blocking": True}},
    "20 length buckets, grouped by length": {"buckets": True, "train_sampling_strategy": "group_by_length"},
}


def train(graphed: bool, dropout: float, steps: int, rows, condition: dict | None = None) -> dict:
    import torch
    from transformers import (BertConfig, BertForSequenceClassification, DataCollatorWithPadding, PrinterCallback,
                              PreTrainedTokenizerFast, Trainer, TrainingArguments)
    from tokenizers import Tokenizer, models

    from core.training import step_graphs

    tokenizer = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel({"[PAD]": 0, "[UNK]": 1},
                                                                                    unk_token="[UNK]")),
                                        pad_token="[PAD]", unk_token="[UNK]")
    torch.manual_seed(0)
    config = BertConfig(hidden_size=256, num_hidden_layers=4, num_attention_heads=4, intermediate_size=1024,
                        num_labels=3, hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout)
    model = BertForSequenceClassification(config)
    condition = dict(condition or {})
    buckets = condition.pop("buckets", False)
    workers = {"dataloader_num_workers": 0} if "dataloader_num_workers" not in condition else {}
    args = TrainingArguments(output_dir=tempfile.mkdtemp(), per_device_train_batch_size=32, max_steps=steps,
                             learning_rate=3e-4, warmup_steps=10, lr_scheduler_type="linear", max_grad_norm=1.0,
                             bf16=True, optim="adamw_torch_fused", torch_compile=True, logging_steps=1,
                             save_strategy="no", report_to="none", disable_tqdm=True, seed=42,
                             logging_nan_inf_filter=False, dataloader_pin_memory=True, **workers, **condition)
    collator = DataCollatorWithPadding(tokenizer, pad_to_multiple_of=None if buckets else 32)
    if buckets:
        from core.training.batches import FastPadding

        collator = FastPadding(collator, buckets=True)
    trainer_type = step_graphs.trainer_class(Trainer) if graphed else Trainer
    trainer = trainer_type(model=model, args=args, train_dataset=rows, data_collator=collator)
    trainer.remove_callback(PrinterCallback)  # the table below says what matters
    lines = []
    if graphed:
        trainer.step_graphs = step_graphs.StepGraphs(lines.append)
    started = time.time()
    trainer.train()
    torch.cuda.synchronize()
    logs = [h for h in trainer.state.log_history if "loss" in h and "grad_norm" in h]
    graphs = getattr(trainer, "step_graphs", None)
    return {"loss": [h["loss"] for h in logs], "grad_norm": [h["grad_norm"] for h in logs],
            "lr": [h["learning_rate"] for h in logs], "wall_s": time.time() - started,
            "replays": graphs.replays if graphs else 0, "graphs": len(graphs.graphs) if graphs else 0,
            "said": lines}


def failed_recording_recovers() -> str:
    """A recording that fails (a host wait inside it) must leave dropout outside graphs working."""
    import torch

    from core.training import step_graphs

    x = torch.ones(1024, device="cuda")
    try:
        with torch.cuda.graph(torch.cuda.CUDAGraph(), capture_error_mode="thread_local"):
            torch.nn.functional.dropout(x, 0.5)
            torch.cuda.synchronize()
    except Exception as error:
        failed = type(error).__name__
    else:
        failed = "nothing"
    try:
        torch.nn.functional.dropout(x, 0.5)
        before = "dropout works"
    except RuntimeError as error:
        before = f"dropout fails ({str(error)[:60]})"
    step_graphs.end_generator_capture()
    try:
        torch.nn.functional.dropout(x, 0.5).sum().item()
        after = "dropout works"
    except RuntimeError as error:
        after = f"dropout fails ({str(error)[:60]})"
    return f"recording failed with {failed}; then {before}; after end_generator_capture {after}"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=80)
    parser.add_argument("--recovery-only", action="store_true")
    parser.add_argument("--conditions", action="store_true",
                        help="graphed runs only, dropout 0.1, with each of the app's differences added in turn")
    args = parser.parse_args()
    if args.conditions:
        os.environ.setdefault("ACCELERATE_DYNAMO_USE_DYNAMIC", "1")
        rows, added = data(args.steps * 32), {}
        print("| added to the check | steps replayed | graphs | wall (s) | said |\n| --- | --- | --- | --- | --- |")
        for name, condition in CONDITIONS.items():
            added.update(condition)
            result = train(True, 0.1, args.steps, rows, added)
            print(f"| {name} | {result['replays']} of {len(result['loss'])} | {result['graphs']} | "
                  f"{result['wall_s']:.1f} | {' / '.join(result['said'])} |", flush=True)
        return 0
    if args.recovery_only:
        line = failed_recording_recovers()
        print(line)
        return 0 if line.endswith("after end_generator_capture dropout works") else 1
    os.environ.setdefault("ACCELERATE_DYNAMO_USE_DYNAMIC", "1")  # as the app's child sets it
    import torch

    rows = data(args.steps * 32)
    failed = False
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name()}, {args.steps} steps of 32\n")
    print("| dropout | step | ordinary loss | graphed loss | ordinary grad norm | graphed grad norm | lr same |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for dropout in (0.0, 0.1):
        ordinary, graphed = train(False, dropout, args.steps, rows), train(True, dropout, args.steps, rows)
        for step in (0, 1, 2, 5, 10, 20, 40, args.steps - 1):
            if step < len(ordinary["loss"]) and step < len(graphed["loss"]):
                print(f"| {dropout} | {step + 1} | {ordinary['loss'][step]:.4f} | {graphed['loss'][step]:.4f} | "
                      f"{ordinary['grad_norm'][step]:.4f} | {graphed['grad_norm'][step]:.4f} | "
                      f"{ordinary['lr'][step] == graphed['lr'][step]} |")
        pairs = list(zip(ordinary["loss"], graphed["loss"]))
        worst = max(abs(a - b) / max(abs(a), 1e-6) for a, b in pairs)
        worst_norm = max(abs(a - b) / max(abs(a), 1e-6) for a, b in zip(ordinary["grad_norm"], graphed["grad_norm"]))
        tail = slice(len(pairs) * 3 // 4, None)
        mean = lambda xs: sum(xs) / max(1, len(xs))  # noqa: E731
        print(f"\ndropout {dropout}: {len(pairs)} steps logged; largest loss difference {worst:.2%}, grad norm "
              f"{worst_norm:.2%}; last quarter's mean loss {mean(ordinary['loss'][tail]):.4f} ordinary, "
              f"{mean(graphed['loss'][tail]):.4f} graphed; {graphed['replays']} steps replayed from "
              f"{graphed['graphs']} graphs; wall {ordinary['wall_s']:.1f} s ordinary, {graphed['wall_s']:.1f} s "
              f"graphed; said: {graphed['said']}\n")
        if graphed["replays"] == 0 or len(pairs) != args.steps or (dropout == 0.0 and worst > 0.02):
            failed = True
    print("FAILED" if failed else "OK")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
