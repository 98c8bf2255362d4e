"""How fast NCCL all-reduces between this machine's GPUs: the gradient size of BERT-base (110M fp32 values,
440 MB) and 1 GiB, bus bandwidth as nccl-tests reports it. Run with torchrun:

  torchrun --standalone --nproc_per_node=2 bench/nccl_check.py
(NCCL_DEBUG=INFO shows which transport NCCL chose: P2P/NVLink, SHM or sockets.)
"""

import os
import time

import torch
import torch.distributed as dist


def main() -> None:
    dist.init_process_group("nccl")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
    for label, numel in (("BERT-base gradients, fp32", 110_000_000), ("BERT-base gradients, bf16", 110_000_000),
                         ("1 GiB fp32", 2**28)):
        dtype = torch.bfloat16 if "bf16" in label else torch.float32
        tensor = torch.randn(numel, device="cuda", dtype=dtype)
        for _ in range(3):
            dist.all_reduce(tensor)
        torch.cuda.synchronize()
        started = time.perf_counter()
        for _ in range(10):
            dist.all_reduce(tensor)
        torch.cuda.synchronize()
        seconds = (time.perf_counter() - started) / 10
        size = numel * tensor.element_size()
        bus = size / seconds * 2 * (world - 1) / world / 1e9
        if rank == 0:
            print(f"{label}: {size / 1e6:.0f} MB in {seconds * 1e3:.2f} ms, bus bandwidth {bus:.0f} GB/s", flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
