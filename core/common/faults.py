"""Testing hooks that plant faults in the real training child (bench/faults/, tests/test_faults.py).

Nothing here runs unless an environment variable asks for it; with none set, every hook hands its
input back unchanged, so a user's run never sees a planted fault.

DASHBOARD_FAULT, comma-separated:
  nan@step=N          the weights become NaN just before optimizer step N (as an fp16 overflow would)
  oom@step=N          when step N ends, raise CUDA's out-of-memory error (cpu_oom, mps_oom: the CPU
                      allocator's and MPS's; error: a plain RuntimeError; kill: SIGKILL to itself).
                      These step kinds and messages are the speed branch's hook (core/common/faults.py there).
  freeze              no parameter of the model is trainable (encoder and head frozen)
  head=N              the classification head has N outputs (head=1 also makes it a regression head)
  shuffle_labels      the training labels are permuted (they no longer match the texts)
  eval_equals_train   the eval set is a copy of the training set
  imbalance           one training class is cut to a twentieth of its rows
  shape_mismatch      batches are not padded, so texts of different lengths cannot be stacked
  enospc_on_save=N    the Nth checkpoint save writes part of its optimizer file, then raises
                      OSError(ENOSPC) where a full disk would stop it (after the weights, before
                      trainer_state.json)
DASHBOARD_FAKE_DEVICES=cuda[,mps]     the device checks see these GPUs (use with device cpu: 'auto' would
                                      pick the fake GPU and fail)
DASHBOARD_FAKE_FREE_DISK_MB=N         the disk checks see N MB free
DASHBOARD_FAKE_MISSING=pkg[,pkg]      the package checks see these distributions as not installed
"""

from __future__ import annotations

import os
import re

from core.common.errors import UserError

FAULT_ENV = "DASHBOARD_FAULT"


# Faults that fire at a step (KIND@step=N; the kinds of the speed branch's hook, same messages) and faults
# that change the set-up (a name, or NAME=N).
STEP_KINDS = ("nan", "oom", "cpu_oom", "mps_oom", "error", "kill")
SETUP_KINDS = ("freeze", "head", "shuffle_labels", "eval_equals_train", "imbalance",
               "shape_mismatch", "enospc_on_save")
NUMBERED = STEP_KINDS + ("head", "enospc_on_save")  # the kinds that take a number


def planted(environ=None) -> dict[str, int | None]:
    """The planted faults: {'nan': 30, 'freeze': None, 'head': 2, ...} from DASHBOARD_FAULT."""
    text = (os.environ if environ is None else environ).get(FAULT_ENV, "")
    faults: dict[str, int | None] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        match = re.fullmatch(r"(\w+?)(?:@step=|=)(\d+)|(\w+)", item)
        kind = match and (match[1] or match[3])
        if not match or kind not in STEP_KINDS + SETUP_KINDS or (kind in NUMBERED) != bool(match[2]):
            raise UserError(f"'{item}' is not a fault; write KIND@step=N (KIND one of {', '.join(STEP_KINDS)}) "
                            f"or one of {', '.join(SETUP_KINDS)} (head=N, enospc_on_save=N), or unset it.", field=FAULT_ENV,
                            code="INVALID_INPUT")
        faults[kind] = int(match[2]) if match[2] else None
    return faults


def _listed(name: str) -> list[str]:
    return [part.strip() for part in os.environ.get(name, "").split(",") if part.strip()]


def fake_devices(available: dict) -> dict:
    """The device facts with the GPUs named in DASHBOARD_FAKE_DEVICES shown as present."""
    fakes = _listed("DASHBOARD_FAKE_DEVICES")
    if not fakes:
        return available
    faked = {**available, **{name: True for name in fakes}}
    if "cuda" in fakes:
        faked["cuda_count"] = max(1, int(available.get("cuda_count", 0) or 0))
    return faked


def fake_free_bytes(free: int) -> int:
    value = os.environ.get("DASHBOARD_FAKE_FREE_DISK_MB")
    return int(float(value) * 2**20) if value else free


def fake_missing(versions: dict) -> dict:
    """Installed versions with the DASHBOARD_FAKE_MISSING packages shown as not installed."""
    missing = set(_listed("DASHBOARD_FAKE_MISSING"))
    return {name: (None if name in missing else version) for name, version in versions.items()}


def apply_to_splits(splits):
    """Shuffled labels, an eval set equal to the training set, or one rare class."""
    faults = planted()
    if "shuffle_labels" in faults:
        import numpy as np

        order = np.random.default_rng(len(splits.train)).permutation(len(splits.train))
        splits.train["label"] = splits.train["label"].to_numpy()[order]
    if "eval_equals_train" in faults:
        splits.eval = splits.train.copy()
    if "imbalance" in faults:
        rare = splits.label_names[0]
        rows = splits.train[splits.train["label"] == rare]
        keep = rows.index[: max(1, len(rows) // 20)]
        splits.train = splits.train.drop(index=rows.index.difference(keep)).reset_index(drop=True)
    return splits


def apply_to_model(model):
    """A frozen model, or a head with the wrong number of outputs."""
    faults = planted()
    if "freeze" in faults:
        for parameter in model.parameters():
            parameter.requires_grad = False
    if faults.get("head"):
        _replace_head(model, faults["head"])
    return model


def _replace_head(model, outputs: int) -> None:
    import torch

    old = model.classifier
    model.classifier = torch.nn.Linear(old.in_features, outputs)
    model.num_labels = outputs
    model.config.num_labels = outputs
    # A one-output head is what `num_labels=1` gives: transformers then trains it as a regression.
    model.config.problem_type = "regression" if outputs == 1 else "single_label_classification"


def wrap_collator(collator):
    """Without padding, a batch of texts of different lengths cannot become one tensor."""
    if "shape_mismatch" in planted():
        collator.collator.padding = False
    return collator


def callbacks() -> list:
    """A callback that fires the step faults: NaN weights before step N, an error when step N ends."""
    faults = {kind: step for kind, step in planted().items() if kind in STEP_KINDS}
    if not faults:
        return []
    from transformers import TrainerCallback

    class PlantedFault(TrainerCallback):
        def on_step_begin(self, args, state, control, model=None, **kwargs):
            if state.global_step + 1 == faults.get("nan") and model is not None:
                import torch

                with torch.no_grad():  # as an fp16 overflow leaves them: every later loss is NaN
                    next(p for p in model.parameters() if p.is_floating_point()).fill_(float("nan"))

        def on_step_end(self, args, state, control, **kwargs):
            for kind, step in faults.items():
                if kind != "nan" and state.global_step == step:
                    raise_fault(kind, step)

    return [PlantedFault()]


def raise_fault(kind: str, step: int) -> None:
    """The failure a real run of that kind raises (the messages PyTorch writes), marked as planted."""
    import signal

    import torch

    note = f"(injected by {FAULT_ENV} at step {step})"
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


def parse_fault(spec: str | None) -> tuple[str, int] | None:
    """The first step fault in `spec` ('oom@step=3' → ('oom', 3)); None when there is none."""
    steps = [(kind, step) for kind, step in planted({FAULT_ENV: spec or ""}).items() if kind in STEP_KINDS]
    return steps[0] if steps else None


def fault_callbacks() -> list:
    return callbacks()


def install(trainer) -> None:
    """Faults that act on the trainer itself: a disk that fills during the Nth checkpoint save."""
    nth = planted().get("enospc_on_save")
    if nth:
        _fail_nth_save(trainer, nth)


def _fail_nth_save(trainer, nth: int) -> None:
    import errno
    from pathlib import Path

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
