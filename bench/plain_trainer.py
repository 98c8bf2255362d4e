"""A plain HuggingFace Trainer script, the baseline of bench/throughput.py: what a careful user writes by hand.

  python bench/plain_trainer.py --rows 320 --batch 32 [--max-steps N]

MiniLM-L6 on the same stratified tweet subset the dashboard picks, tokenized with truncation and no padding,
DataCollatorWithPadding (each batch padded to its longest text), a random shuffle, fp32, no evaluation and
none of the dashboard's callbacks. Prints one JSON line with the steady-state samples/s, measured the same
way as the dashboard's runs (core.training.performance.PerformanceMeter: the steps after warm-up).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=320)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--max-steps", type=int, default=-1)
    args = parser.parse_args()

    from datasets import Dataset
    from transformers import (AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding,
                              Trainer, TrainingArguments)

    from core.config.schema import DataConfig
    from core.data import splits as data
    from core.training import models
    from core.training.batches import PaddingMeter
    from core.training.performance import PerformanceMeter

    splits = data.make_splits(data.load_frame(DataConfig()), DataConfig(train_size=args.rows, eval_size=50))
    path = str(models.minilm_dir())
    tokenizer = AutoTokenizer.from_pretrained(path)
    label2id = splits.label2id

    def encode(batch):
        out = tokenizer(batch["text"], truncation=True, max_length=128)
        out["labels"] = [label2id[x] for x in batch["label"]]
        return out

    train = Dataset.from_pandas(splits.train, preserve_index=False).map(encode, batched=True,
                                                                          remove_columns=["text", "label"])
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=len(label2id))
    collator = PaddingMeter(DataCollatorWithPadding(tokenizer))
    meter = PerformanceMeter("cpu", args.batch, collator)
    training_args = TrainingArguments(output_dir=tempfile.mkdtemp(prefix="plain-"), per_device_train_batch_size=args.batch,
                                      num_train_epochs=args.epochs, max_steps=args.max_steps, learning_rate=5e-5,
                                      use_cpu=True, report_to="none", save_strategy="no", logging_steps=50,
                                      disable_tqdm=True)
    trainer = Trainer(model=model, args=training_args, train_dataset=train, data_collator=collator,
                      callbacks=[meter])
    trainer.train()
    print(json.dumps({"plain": meter.figures(trainer.state)}))


if __name__ == "__main__":
    main()
