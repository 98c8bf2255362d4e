"""Fault injection for the crash-safety tests: make the real training child fail the way a full disk does.

Off unless DASHBOARD_FAULT is set, e.g. `DASHBOARD_FAULT=enospc_on_save:2`: the second checkpoint save
writes part of its optimizer file, then raises OSError(ENOSPC), exactly where a full disk would stop it
(after the weights, before trainer_state.json). Nothing in the dashboard sets it.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

FAULT_ENV = "DASHBOARD_FAULT"


def install(trainer) -> None:
    """Apply the fault named in DASHBOARD_FAULT to this trainer; no-op when it is unset."""
    kind, _, arg = os.environ.get(FAULT_ENV, "").partition(":")
    if kind == "enospc_on_save":
        _fail_nth_save(trainer, int(arg or 1))


def _fail_nth_save(trainer, nth: int) -> None:
    original = trainer._save_optimizer_and_scheduler
    calls = {"n": 0}

    def save_optimizer_and_scheduler(output_dir):
        calls["n"] += 1
        if calls["n"] < nth:
            return original(output_dir)
        partial = Path(output_dir) / "optimizer.pt"
        partial.write_bytes(b"PK\x03\x04" + b"\0" * 1024)  # what was written before the disk filled
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(partial))

    trainer._save_optimizer_and_scheduler = save_optimizer_and_scheduler
