"""The 'auto' memory preset on a CUDA GPU: the largest per-device batch that fits, found by trying one
forward and backward pass at the longest padded length and halving the batch on out-of-memory."""

from __future__ import annotations

from typing import Callable

from core.common.out_of_memory import is_out_of_memory


def largest_fitting_batch(start: int, fits: Callable[[int], bool]) -> tuple[int, list[int]]:
    """Try `start`, then half of it, and so on down to 1; returns the first batch that fits and those tried."""
    tried = []
    batch = max(1, start)
    while True:
        tried.append(batch)
        if fits(batch) or batch == 1:
            return batch, tried
        batch //= 2


def cuda_trial(model, length: int, precision: str, reserve_bytes: int) -> Callable[[int], bool]:
    """A `fits(batch)` that runs one forward and backward pass of random tokens at `length` on the GPU while
    `reserve_bytes` stay allocated for what the trial does not create (AdamW's two moments)."""
    import torch

    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    vocab = int(getattr(model.config, "vocab_size", 30522))

    def fits(batch: int) -> bool:
        reserve = ids = loss = None
        try:
            reserve = torch.empty(reserve_bytes, dtype=torch.uint8, device="cuda")
            ids = torch.randint(0, vocab, (batch, length), device="cuda")
            labels = torch.zeros(batch, dtype=torch.long, device="cuda")
            with torch.autocast("cuda", dtype=dtype, enabled=dtype is not None):
                loss = model(input_ids=ids, attention_mask=torch.ones_like(ids), labels=labels).loss
            loss.backward()
            torch.cuda.synchronize()
            return True
        except Exception as exc:  # noqa: BLE001 - only out-of-memory means "does not fit"
            if not is_out_of_memory(exc):
                raise
            return False
        finally:
            del reserve, ids, loss
            model.zero_grad(set_to_none=True)
            torch.cuda.empty_cache()

    return fits


def fit_batch_on_cuda(model, start: int, length: int, precision: str) -> tuple[int, list[int]]:
    """The largest batch (≤ start, halving) that trains at `length`; the same on every rank of a DDP run."""
    import torch
    import torch.distributed as dist

    model.to("cuda")
    was_training = model.training
    model.train()
    moments = sum(p.numel() * 4 * 2 for p in model.parameters() if p.requires_grad)
    batch, tried = largest_fitting_batch(start, cuda_trial(model, length, precision, moments))
    model.train(was_training)
    if dist.is_available() and dist.is_initialized():
        agreed = torch.tensor([batch], device="cuda")
        dist.all_reduce(agreed, op=dist.ReduceOp.MIN)
        batch = int(agreed.item())
    torch.cuda.reset_peak_memory_stats()
    return batch, tried
