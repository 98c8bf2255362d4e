"""Reference for the dashboard's GPU path: a plain `Trainer` on the same data, model and settings as
bench/multi_gpu.py's scaling config, with no dashboard callbacks. Prints steady-state samples/s.

  python bench/plain_gpu.py            (one GPU; run under torchrun for several)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from transformers import DataCollatorWithPadding, Trainer, TrainerCallback  # noqa: E402

from core.config import compat  # noqa: E402
from core.config.schema import RunConfig  # noqa: E402
from core.data import splits as data
from core.training import models

WARMUP_STEPS = 10


class StepClock(TrainerCallback):
    def __init__(self):
        self.marks = []

    def on_step_end(self, args, state, control, **kwargs):
        self.marks.append((state.global_step, time.perf_counter()))


def main() -> None:
    config = RunConfig.from_dict({"data": {"name": "bbc-news", "train_size": 2000, "eval_size": 200,
                                           "max_length": 512}, "model": {"name": "bert-base-random"}})
    splits = data.make_splits(data.load_frame(config.data), config.data)
    tokenizer = models.load_tokenizer(config.model)
    tokenized, _ = data.tokenize_splits(splits, tokenizer, 512, None, "")
    model = models.load_model(config.model, splits.label_names, 42)
    args = compat.build_training_arguments("/tmp/plain-gpu", num_train_epochs=4, per_device_train_batch_size=32,
                                           bf16=True, learning_rate=1e-4, eval_strategy="no", save_strategy="no",
                                           logging_steps=10, report_to="none", disable_tqdm=True,
                                           train_sampling_strategy="group_by_length")
    clock = StepClock()
    trainer = Trainer(model=model, args=args, train_dataset=tokenized["train"],
                      data_collator=DataCollatorWithPadding(tokenizer), callbacks=[clock])
    output = trainer.train()
    (step0, t0), (step1, t1) = clock.marks[WARMUP_STEPS], clock.marks[-1]
    steady = (step1 - step0) * 32 * args.world_size / (t1 - t0)
    if args.process_index == 0:
        print(f"plain Trainer, {args.world_size} GPU(s): whole run {output.metrics['train_samples_per_second']:.1f}"
              f" samples/s, steady state {steady:.1f} samples/s")


if __name__ == "__main__":
    main()
