"""A testing hook: make the training child fail on purpose, the way real failures look.

Set `DASHBOARD_FAULT=<kind>@step=<N>` in the child's environment and the child raises that failure when
optimizer step N ends. For tests and benchmarks of the recovery paths only (out-of-memory retry,
post-mortems); nothing in the dashboard sets it. Kinds:
  oom      torch.OutOfMemoryError with a CUDA-style message
  cpu_oom  RuntimeError from PyTorch's CPU allocator ("DefaultCPUAllocator: can't allocate memory")
  mps_oom  RuntimeError "MPS backend out of memory"
  error    a plain RuntimeError
  kill     SIGKILL to the child itself (what the kernel's out-of-memory killer does)
"""

from __future__ import annotations

import os
import re
import signal

from transformers import TrainerCallback

from core.errors import UserError

ENV = "DASHBOARD_FAULT"
KINDS = ("oom", "cpu_oom", "mps_oom", "error", "kill")
_SPEC = re.compile(r"^(\w+)@step=(\d+)$")


def parse_fault(spec: str | None) -> tuple[str, int] | None:
    """'oom@step=3' → ('oom', 3); empty → None; anything else is one sentence naming the variable."""
    if not spec:
        return None
    match = _SPEC.match(spec.strip())
    if not match or match[1] not in KINDS:
        raise UserError(f"'{spec}' is not a fault; write KIND@step=N with KIND one of {', '.join(KINDS)} "
                        "(e.g. oom@step=3), or unset it.", field=ENV, code="INVALID_INPUT")
    return match[1], int(match[2])


def raise_fault(kind: str, step: int) -> None:
    import torch

    note = f"(injected by {ENV} at step {step})"
    if kind == "oom":
        raise torch.OutOfMemoryError(f"CUDA out of memory. Tried to allocate 2.00 GiB. {note}")
    if kind == "cpu_oom":
        raise RuntimeError(f"[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory: "
                           f"you tried to allocate 4294967296 bytes. {note}")
    if kind == "mps_oom":
        raise RuntimeError(f"MPS backend out of memory (MPS allocated: 18.02 GB, other allocations: 0 bytes, "
                           f"max allowed: 18.13 GB). Tried to allocate 192.00 MB on private pool. {note}")
    if kind == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    raise RuntimeError(f"Injected failure {note}")


class InjectedFault(TrainerCallback):
    """Raises the configured failure when optimizer step `step` ends."""

    def __init__(self, kind: str, step: int):
        self.kind, self.step = kind, step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise_fault(self.kind, self.step)


def fault_callbacks(environ=os.environ) -> list[TrainerCallback]:
    fault = parse_fault(environ.get(ENV))
    return [InjectedFault(*fault)] if fault else []
