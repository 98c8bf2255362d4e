"""The issue's reference on one GPU: a plain `Trainer` script tuned by hand (bf16, SDPA, fused AdamW,
torch.compile, length-grouped batches, batch 64), on the same IMDB-like data and BERT-base-sized random model as
bench/throughput.py's IMDB-like fast row, with none of the dashboard's code in the training step.

  python3 bench/plain_tuned_gpu.py [--steps 300]

Prints the steady-state samples/s (the steps after the first 20%, CUDA synchronised at both ends).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from transformers import DataCollatorWithPadding, Trainer, TrainerCallback  # noqa: E402

from bench.throughput import imdb_like_frame  # noqa: E402
from core.config import compat  # noqa: E402
from core.config.schema import ModelConfig  # noqa: E402
from core.training import models  # noqa: E402

BATCH = 64


class SteadyClock(TrainerCallback):
    def __init__(self, first: int):
        self.first, self.marks = first, {}

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step in (self.first, state.max_steps):
            import torch

            torch.cuda.synchronize()
            self.marks[state.global_step] = time.perf_counter()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()
    from datasets import Dataset

    frame = imdb_like_frame(6000)
    names = sorted(frame.label.unique())
    tokenizer = models.load_tokenizer(ModelConfig())
    data = Dataset.from_dict({"text": frame.text.tolist(), "label": [names.index(x) for x in frame.label]})
    data = data.map(lambda b: tokenizer(b["text"], truncation=True, max_length=512), batched=True,
                    remove_columns=["text"])
    model = models.load_model(ModelConfig(source="builtin", name="bert-base-random"), names, 42, attention="sdpa")
    training = compat.build_training_arguments("/tmp/plain-tuned", max_steps=args.steps,
                                               per_device_train_batch_size=BATCH, bf16=True,
                                               optim="adamw_torch_fused", torch_compile=True, learning_rate=1e-4,
                                               eval_strategy="no", save_strategy="no", logging_steps=50,
                                               report_to="none", disable_tqdm=True, dataloader_pin_memory=True,
                                               train_sampling_strategy="group_by_length")
    first = args.steps // 5
    clock = SteadyClock(first)
    trainer = Trainer(model=model, args=training, train_dataset=data,
                      data_collator=DataCollatorWithPadding(tokenizer, pad_to_multiple_of=8), callbacks=[clock])
    started = time.perf_counter()
    trainer.train()
    steady = (args.steps - first) * BATCH / (clock.marks[args.steps] - clock.marks[first])
    print(f"plain tuned Trainer, IMDB-like, batch {BATCH}: steady state {steady:.0f} samples/s "
          f"(wall {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
