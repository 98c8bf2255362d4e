"""Batches inside the training child: padding made fast with numpy, and a meter of real versus padded tokens."""

from __future__ import annotations

import time
from typing import Any

from core.config.schema import DataConfig
from core.plan.estimate import padded_width


def padding_arguments(config: DataConfig) -> dict[str, Any]:
    """DataCollatorWithPadding arguments: pad each batch to its longest text, or every text to max_length."""
    if config.padding == "max_length":
        return {"padding": "max_length", "max_length": config.max_length}
    return {}


class FastPadding:
    """`DataCollatorWithPadding`'s batches, made with numpy: the tokenizer's `pad()` walks Python lists value
    by value and takes milliseconds per batch, a step's worth of GPU time for short texts. Anything but
    plain padding (no pad token, padding turned off) goes to the wrapped collator, errors included."""
    PAD_VALUES = {"attention_mask": 0, "special_tokens_mask": 1}

    def __init__(self, fallback, buckets: bool = False):
        self.fallback, self.buckets = fallback, buckets
        tokenizer = fallback.tokenizer
        self.pad_id = tokenizer.pad_token_id
        self.type_pad_id = getattr(tokenizer, "pad_token_type_id", 0)
        self.left = getattr(tokenizer, "padding_side", "right") == "left"

    @property
    def padding(self):
        return self.fallback.padding

    @padding.setter
    def padding(self, value):
        self.fallback.padding = value

    def __call__(self, features):
        # Heavy libraries load in the training child only, never on the dashboard's start-up path.
        import numpy as np
        import torch

        padding = self.fallback.padding
        if self.pad_id is None or padding not in (True, "longest", "max_length") or not features:
            return self.fallback(features)
        lengths = [len(f["input_ids"]) for f in features]
        width = max(lengths)
        if padding == "max_length" and self.fallback.max_length:
            width = max(width, self.fallback.max_length)
        width = padded_width(width, self.fallback.pad_to_multiple_of, self.buckets)
        batch = {}
        for key in features[0]:
            values = [f[key] for f in features]
            if key in ("label", "labels", "label_ids"):
                batch["labels"] = torch.tensor(values)
                continue
            pad = self.pad_id if key == "input_ids" else self.PAD_VALUES.get(key, self.type_pad_id)
            array = np.full((len(values), width), pad, dtype=np.int64)
            for row, (value, length) in enumerate(zip(values, lengths)):
                if self.left:
                    array[row, width - length:] = value
                else:
                    array[row, :length] = value
            batch[key] = torch.from_numpy(array)
        return batch


class PaddingMeter:
    """Wraps a collator and counts real and padded tokens, so padding waste can be seen (SLOW_TRAINING).

    The counts live in shared memory, so they add up when the DataLoader makes batches in worker processes
    (the fast preset on a GPU); the time spent making batches counts only in the training process, where it
    holds up a step."""
    def __init__(self, collator):
        import multiprocessing

        self.collator = collator
        # real and total since the last take_pad_share(), real since the start (the performance meter reads
        # real tokens/s from it), all as one shared array of three counters.
        self._counts = multiprocessing.Array("q", 3)
        self.seconds = 0.0  # time spent making batches in the training process (SLOW_TRAINING: input pipeline)

    @property
    def real_seen(self) -> int:
        return self._counts[2]

    def __call__(self, features):
        started = time.perf_counter()
        batch = self.collator(features)
        if _in_training_process():
            self.seconds += time.perf_counter() - started
        mask = batch.get("attention_mask")
        if "cu_seqlens" in batch:  # packed texts (core/training/unpadded.py): real but for a filler text
            total = batch["input_ids"].numel()
            real = int(batch["cu_seqlens"][-2]) if "first_tokens" in batch else total
        elif mask is not None:
            real, total = int(mask.sum()), mask.numel()
        else:
            return batch
        with self._counts.get_lock():
            self._counts[0] += real
            self._counts[1] += total
            self._counts[2] += real
        return batch

    def take_batch_seconds(self) -> float:
        """Seconds spent making batches since the last call, then start counting afresh."""
        seconds, self.seconds = self.seconds, 0.0
        return seconds

    def take_pad_share(self) -> float | None:
        """Share of padding since the last call, then start counting afresh."""
        with self._counts.get_lock():
            real, total = self._counts[0], self._counts[1]
            self._counts[0] = self._counts[1] = 0
        return 1 - real / total if total else None


def _in_training_process() -> bool:
    from torch.utils.data import get_worker_info

    return get_worker_info() is None
