"""Out-of-memory recognition, in one place: from an exception (the training child, the auto batch fit) and from a
log's text (the post-mortem of a child that died), for CUDA, Apple MPS and the CPU allocator."""

from __future__ import annotations

import re

# What an out-of-memory error says, from real PyTorch messages: CUDA and MPS say "out of memory", PyTorch's CPU
# allocator "can't allocate memory", Windows "not enough memory"; torch.OutOfMemoryError names itself.
MESSAGES = (r"CUDA out of memory", r"CUDA error: out of memory", r"OutOfMemoryError", r"MPS backend out of memory",
            r"DefaultCPUAllocator: can't allocate memory", r"not enough memory", r"\bout of memory\b",
            r"can't allocate memory")
_PATTERN = re.compile("|".join(MESSAGES), re.IGNORECASE)


def text_is_out_of_memory(text: str) -> bool:
    """True when an error message or log line is an out-of-memory error."""
    return bool(_PATTERN.search(text or ""))


def is_out_of_memory(exc: BaseException) -> bool:
    """CUDA's torch.OutOfMemoryError, MPS's and the CPU allocator's RuntimeErrors, Python's MemoryError."""
    if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError":
        return True
    return isinstance(exc, RuntimeError) and text_is_out_of_memory(str(exc))
