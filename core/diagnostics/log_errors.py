"""Reading a training log's last error: which known failure it is (the patterns of real PyTorch and
transformers messages), the exception's own words as one line, and the amounts in an allocator's message.
Pure text in, text out; core/diagnostics/postmortem.py turns what this finds into a Finding. And, in the training
child, the code and sentence for the exception that ended a run (`classify_exception`)."""

from __future__ import annotations

import re

from core.common import out_of_memory

TRACEBACK = "Traceback (most recent call last):"

# What each code looks like in a log line, from real PyTorch / transformers messages (seed issues 1-3, 9, 10).
PATTERNS: dict[str, tuple[str, ...]] = {
    "OUT_OF_MEMORY": out_of_memory.MESSAGES,
    # "PytorchStreamWriter failed writing file" is what torch.save raises when a checkpoint fills the disk.
    "DISK_SPACE": (r"No space left on device", r"\[Errno 28\]", r"Disk quota exceeded",
                   r"PytorchStreamWriter failed writing file"),
    "DEPRECATED_ARGUMENT": (r"unexpected keyword argument '(?:eval_strategy|evaluation_strategy)'",),
    "DEPENDENCY_ERROR": (r"requires `?accelerate", r"pip install accelerate", r"No module named '",
                         r"^(?:\w+\.)*(?:ModuleNotFoundError|ImportError)\b"),
    "SHAPE_MISMATCH": (r"input_ids`? and `?attention_mask`? should have the same shape",
                       r"expected sequence of length \d+", r"Unable to create tensor"),
    # The Trainer's optimizer with nothing to optimise, or backward() through a model with no trainable weight.
    "FROZEN_WEIGHTS": (r"optimizer got an empty parameter list", r"does not require grad and does not have a grad_fn"),
    "LABEL_OUT_OF_RANGE": (r"Target -?\d+ is out of bounds", r"IndexError: Target", r"device-side assert triggered",
                           r"Assertion `t >= 0 && t < n_classes` failed"),
}
_COMPILED = {code: [re.compile(p, re.IGNORECASE | re.MULTILINE) for p in ps] for code, ps in PATTERNS.items()}
# A line that opens an exception message: "RuntimeError: ...", "torch.OutOfMemoryError: ...".
_EXCEPTION_START = re.compile(r"^(?:[A-Za-z_]\w*\.)*[A-Z]\w*:\s")
_EXCEPTION_FALLBACK = re.compile(r"^(?:[A-Za-z_]\w*\.)*[A-Z]\w*(?:Error|Exception|Interrupt)\b(?::.*)?$")
_AMOUNT = r"(\d+(?:\.\d+)?\s*(?:[KMGT]i?B|bytes))"
_LABELLED_AMOUNTS = (
    ("tried to allocate", rf"tried to allocate {_AMOUNT}"),
    ("MPS allocated", rf"MPS allocated: {_AMOUNT}"),
    ("other allocations", rf"other allocations: {_AMOUNT}"),
    ("max allowed", rf"max allowed: {_AMOUNT}"),
    ("total capacity", rf"total capacity of {_AMOUNT}|{_AMOUNT} total capacity"),
    ("free", rf"of which {_AMOUNT} is free|{_AMOUNT} free"),
    ("in use", rf"this process has {_AMOUNT} memory in use|{_AMOUNT} already allocated"),
)


def last_exception_line(log_tail: str) -> str | None:
    """The 'SomeError: message' line that ends the last traceback in the tail, or None."""
    lines = (log_tail or "").splitlines()
    index = _exception_index(lines)
    return lines[index].strip() if index is not None else None


def _exception_index(lines: list[str]) -> int | None:
    starts = [i for i, line in enumerate(lines) if line.strip() == TRACEBACK]
    if starts:
        for i in range(starts[-1] + 1, len(lines)):
            if re.match(r"^(?:[A-Za-z_]\w*\.)*[A-Za-z_]\w*(?::|$)", lines[i]):
                return i
    # No traceback header in the tail (cut off, or printed without one): the last line shaped like an exception.
    matches = [i for i, line in enumerate(lines) if _EXCEPTION_FALLBACK.match(line)]
    return matches[-1] if matches else None


def error_in_log(lines: list[str]) -> tuple[str, str] | None:
    """(code, message) of the last error in the log; an unrecognised exception gives TRAINING_ERROR."""
    specific = _last_specific(lines)
    generic = _exception_index(lines)
    if specific and (generic is None or specific[0] >= generic):
        return specific[1], _message_block(lines, specific[0])
    if generic is not None:
        return "TRAINING_ERROR", _message_block(lines, generic)
    return None


def _last_specific(lines: list[str]) -> tuple[int, str] | None:
    for index in range(len(lines) - 1, -1, -1):
        # The child's own closing "error: ..." summary repeats the exception; the traceback is the source.
        if lines[index].startswith("error: "):
            continue
        for code, patterns in _COMPILED.items():
            if any(p.search(lines[index]) for p in patterns):
                return index, code
    return None


def _is_message_line(line: str) -> bool:
    return bool(line.strip()) and not line[0].isspace() and not line.startswith(
        (TRACEBACK, "During handling", "The above exception", "error: "))


def _message_block(lines: list[str], index: int) -> str:
    """The exception message around line `index`, which may wrap over a few lines, as one line."""
    start = index
    while start > max(0, index - 2) and not _EXCEPTION_START.match(lines[start]) and _is_message_line(
            lines[start - 1]):
        start -= 1
    end = index + 1
    while end < min(len(lines), index + 4) and _is_message_line(lines[end]) and not _EXCEPTION_START.match(
            lines[end]):
        end += 1
    return one_line(" ".join(lines[start:end]))


def one_line(text: str) -> str:
    return " ".join(str(text).split())


def _readable(amount: str) -> str:
    number, unit = re.match(r"([\d.]+)\s*(\S+)", amount).groups()
    return f"{float(number) / 1e9:.2f} GB" if unit == "bytes" else f"{number} {unit}"


def memory_amounts(message: str) -> str:
    """'tried to allocate 192.00 MB, MPS allocated 18.02 GB, ...' from an allocator's message."""
    found = []
    for label, pattern in _LABELLED_AMOUNTS:
        match = re.search(pattern, message, re.IGNORECASE)
        if match:
            found.append(f"{label} {_readable(next(g for g in match.groups() if g))}")
    return ", ".join(found)


def classify_exception(exc: BaseException) -> tuple[str, str]:
    """A stable error code and a sentence for an exception that ended a run."""
    text = f"{type(exc).__name__}: {exc}"
    if out_of_memory.is_out_of_memory(exc) or out_of_memory.text_is_out_of_memory(text):
        return "OUT_OF_MEMORY", ("The device ran out of memory. Use the low or very_low memory preset, or halve "
                                 "the batch size and double gradient accumulation.")
    if isinstance(exc, OSError) and getattr(exc, "errno", None) == 28:
        return "DISK_SPACE", ("The disk is full. Lower 'checkpoints kept', free space, or delete old runs.")
    if isinstance(exc, KeyError) and exc.args and str(exc.args[0]) in ("label", "labels"):
        return "LABELS_MISSING", (f"The data has no label column {exc.args[0]!r}; point the label column at the "
                                  "column that holds the classes.")
    if isinstance(exc, ImportError):
        return "DEPENDENCY_ERROR", f"A package is missing or too old ({exc}); run 'pip install -r requirements.txt'."
    return "TRAINING_ERROR", f"Training failed with {text[:300]}. The full traceback is in train.log."
