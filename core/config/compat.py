"""The one place that builds `TrainingArguments`, whatever transformers version is installed.

Parameters were renamed across releases (`evaluation_strategy` became `eval_strategy` in
4.41, `no_cuda` became `use_cpu`, `group_by_length` became `train_sampling_strategy` and
`warmup_ratio` folded into `warmup_steps` in 5.x, `gradient_checkpointing` is becoming
`activation_checkpointing`). Callers write either name; this module passes the one the
installed version takes and rejects names no version knows, with a suggestion.
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass
from typing import Any, Callable

from core.common.errors import UserError


def _same(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class Rename:
    old: str
    new: str
    to_new: Callable[[Any], Any] = _same
    to_old: Callable[[Any], Any] = _same
    # Use the new name even when the installed version still accepts the old one (deprecated there).
    prefer_new: bool = True


RENAMES = (
    Rename("evaluation_strategy", "eval_strategy"),
    Rename("no_cuda", "use_cpu"),
    Rename("group_by_length", "train_sampling_strategy",
           to_new=lambda v: "group_by_length" if v else "random",
           to_old=lambda v: v == "group_by_length"),
    Rename("gradient_checkpointing", "activation_checkpointing"),
    # 4.x has both warmup_ratio and an integer warmup_steps; 5.x takes a float ratio in warmup_steps.
    Rename("warmup_ratio", "warmup_steps", prefer_new=False),
)

# Set by the dashboard itself; a config that sets them would break the run directory contract.
OWNED_BY_DASHBOARD = {"output_dir": "checkpoints go to RUN_DIR/checkpoints",
                      "logging_dir": "logs go to RUN_DIR",
                      "resume_from_checkpoint": "resuming is not a training argument here"}


def installed_argument_names() -> set[str]:
    from transformers import TrainingArguments

    return {f.name for f in dataclasses.fields(TrainingArguments) if f.init}


def training_argument_names() -> list[str]:
    """Every name this module accepts: the installed version's plus both sides of each rename."""
    names = installed_argument_names()
    for rename in RENAMES:
        names.update((rename.old, rename.new))
    return sorted(names - set(OWNED_BY_DASHBOARD))


def is_training_argument(key: str) -> bool:
    return key in training_argument_names()


def canonical_name(key: str) -> str:
    """The name the dashboard's own config uses for a parameter written under an older name."""
    return {"evaluation_strategy": "eval_strategy"}.get(key, key)


def rename_note(old: str, new: str) -> str:
    return (f"training.{old} is the old name of training.{new} (renamed in transformers 4.41); "
            f"it was read as {new}. Write {new} in new configs.")


def translate(key: str, value: Any, accepted: set[str]) -> tuple[str, Any]:
    """Map one parameter to the name (and value form) the installed transformers accepts."""
    if key in OWNED_BY_DASHBOARD:
        raise UserError(f"is set by the dashboard ({OWNED_BY_DASHBOARD[key]}); remove it from the config.",
                        field=f"training.{key}", code="UNKNOWN_KEY")
    for rename in RENAMES:
        if key == rename.old and rename.new in accepted and (rename.prefer_new or key not in accepted):
            return rename.new, rename.to_new(value)
    if key in accepted:
        return key, value
    for rename in RENAMES:
        if key == rename.new and rename.old in accepted:
            return rename.old, rename.to_old(value)
    hint = difflib.get_close_matches(key, sorted(accepted), n=1, cutoff=0.6)
    tip = f"did you mean '{hint[0]}'?" if hint else "remove it or check the spelling."
    raise UserError(f"is not a TrainingArguments parameter of the installed transformers; {tip}",
                    field=f"training.{key}", code="UNKNOWN_KEY")


def translate_all(arguments: dict[str, Any], accepted: set[str] | None = None) -> dict[str, Any]:
    accepted = installed_argument_names() if accepted is None else accepted
    out: dict[str, Any] = {}
    for key, value in arguments.items():
        name, converted = translate(key, value, accepted)
        out[name] = converted
    return out


def build_training_arguments(output_dir: str, **arguments: Any):
    """Create `TrainingArguments` for the installed transformers from version-neutral keyword arguments."""
    from transformers import TrainingArguments

    kwargs = translate_all(arguments)
    try:
        return TrainingArguments(output_dir=output_dir, **kwargs)
    except (ValueError, TypeError) as exc:
        # The checks inside TrainingArguments (strategy mismatch, bf16 on a CPU...) speak for themselves.
        raise UserError(f"the installed transformers rejected the training arguments: {exc}",
                        field="training", code="INVALID_TRAINING_ARGUMENTS") from None


def trainer_tokenizer_kwargs(tokenizer) -> dict[str, Any]:
    """`Trainer(processing_class=...)` since 4.46; `tokenizer=` before that."""
    import inspect

    from transformers import Trainer

    parameters = inspect.signature(Trainer.__init__).parameters
    return {"processing_class": tokenizer} if "processing_class" in parameters else {"tokenizer": tokenizer}


# Experiment trackers people already use; a run reports to them only when asked and when installed.
# The run's own folder (metrics.jsonl, status.json) stays the source of truth either way.
REPORTERS = {"tensorboard": ("tensorboard", "tensorboardX"), "mlflow": ("mlflow",), "wandb": ("wandb",)}


def ddp_gradient_views(trainer) -> bool:
    """Have DDP keep each gradient as a view into its all-reduce bucket (`gradient_as_bucket_view`): the
    Trainer exposes no argument for it, but its accelerator reads the DDP settings when it wraps the model at
    the start of training, so they can be set between building the Trainer and training. False (and nothing
    changed) where the installed accelerate keeps them elsewhere."""
    accelerator = getattr(trainer, "accelerator", None)
    if accelerator is None or not hasattr(accelerator, "ddp_handler"):
        return False
    if accelerator.ddp_handler is None:
        from accelerate.utils import DistributedDataParallelKwargs

        accelerator.ddp_handler = DistributedDataParallelKwargs()
    if not hasattr(accelerator.ddp_handler, "gradient_as_bucket_view"):
        return False
    accelerator.ddp_handler.gradient_as_bucket_view = True
    return True


def installed_reporters() -> list[str]:
    """The `report_to` integrations whose package is importable here (found without importing it)."""
    import importlib.util

    return [name for name, modules in REPORTERS.items() if any(importlib.util.find_spec(m) for m in modules)]


def requested_reporters(value: Any) -> list[str]:
    """`report_to` as a list of integration names; None, "none" and [] all mean none."""
    if value in (None, "none", "None", ""):
        return []
    names = [value] if isinstance(value, str) else list(value)
    return [str(name) for name in names if name not in ("none", "None")]
