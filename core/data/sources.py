"""Where data and models come from: checks of names and paths, and the Hugging Face Hub (offline-safe).

Nothing here waits on the network for long: offline mode (HF_HUB_OFFLINE) or an unreachable Hub
becomes one sentence pointing at the built-in data and file upload, within seconds.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import pandas as pd

from core.common.errors import UserError

# Split names tried, in order, when the data set has an eval split of its own.
EVAL_SPLIT_NAMES = ("validation", "valid", "dev", "test")
HUB_HOST, HUB_PROBE_SECONDS = "huggingface.co", 3.0
OFFLINE_FIX = "use a built-in data set (data source builtin) or upload the data as a file (data source file)"


def hub_offline_reason() -> str | None:
    """Why the Hub cannot be used right now, or None. Probes the network for at most a few seconds."""
    for variable in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        if os.environ.get(variable, "").strip().lower() in ("1", "true", "yes", "on"):
            return f"offline mode is on ({variable} is set)"
    try:
        socket.create_connection((HUB_HOST, 443), timeout=HUB_PROBE_SECONDS).close()
    except OSError:
        return f"{HUB_HOST} cannot be reached from this machine"
    return None


def _hub_failure(name: str, exc: BaseException, offline: str | None) -> UserError:
    text = " ".join(str(exc).split())[:200]
    if offline or "offline" in text.lower() or isinstance(exc, (ConnectionError, TimeoutError)):
        reason = offline or "the Hub cannot be reached"
        return UserError(f"cannot load '{name}' from the Hugging Face Hub: {reason} and it is not in the local "
                         f"cache; {OFFLINE_FIX}.", field="data.name", code="HUB_UNREACHABLE")
    if "config" in text.lower() and ("not found" in text.lower() or "missing" in text.lower()):
        return UserError(f"'{name}' has no such configuration ({text}); pick one it lists.",
                         field="data.config_name", code="BAD_NAME")
    return UserError(f"cannot load '{name}' from the Hub ({type(exc).__name__}: {text}); check the name, "
                     f"or {OFFLINE_FIX}.", field="data.name", code="HUB_LOAD_FAILED")


def load_hub_frames(name: str, config_name: str | None, train_split: str,
                    eval_split: str | None) -> tuple[pd.DataFrame, pd.DataFrame | None, dict[str, list[str]], list[str]]:
    """(train rows, eval rows or None, ClassLabel names per column, notes) of a Hub data set.

    `name` may also be a local folder that `datasets.load_dataset` reads (used by the tests).
    """
    offline = None if Path(name).is_dir() else hub_offline_reason()
    if offline and "offline mode" not in offline:  # not reachable and not told: do not wait on retries
        raise _hub_failure(name, ConnectionError(offline), offline)
    try:
        from datasets import load_dataset

        splits = load_dataset(name, config_name)
    except Exception as exc:  # noqa: BLE001 - every failure becomes one sentence
        raise _hub_failure(name, exc, offline) from None
    return pick_splits(splits, name, train_split, eval_split)


def pick_splits(splits, name: str, train_split: str, eval_split: str | None):
    """The train split and the eval split (asked for, else the data set's own validation/test, else None)."""
    available = list(splits.keys())
    if train_split not in splits:
        raise UserError(f"'{name}' has no split '{train_split}'; pick one of: {', '.join(available)}.",
                        field="data.train_split")
    if eval_split and eval_split not in splits:
        raise UserError(f"'{name}' has no split '{eval_split}'; pick one of: {', '.join(available)}, or leave it "
                        "empty to carve one.", field="data.eval_split")
    chosen = eval_split or next((s for s in EVAL_SPLIT_NAMES if s in splits and s != train_split
                                 and not _labels_hidden(splits[s])), None)
    notes = [f"Using the data set's own '{chosen}' split for evaluation." if chosen else
             f"'{name}' has no validation or test split; an eval split is carved from '{train_split}'."]
    features = splits[train_split].features
    class_names = {column: names for column, feature in features.items()
                   if (names := _class_names(feature)) is not None}
    eval_frame = splits[chosen].to_pandas() if chosen else None
    train_frame = splits[train_split].to_pandas()
    # Which split each frame is, for the reproduce script (it loads the same splits by name).
    train_frame.attrs["split"] = train_split
    if eval_frame is not None:
        eval_frame.attrs["split"] = chosen
    return train_frame, eval_frame, class_names, notes


def _class_names(feature) -> list[str] | None:
    """The names of a ClassLabel column, or of a column of lists of ClassLabels (multi-label), else None."""
    if type(feature).__name__ == "ClassLabel":
        return list(feature.names)
    inner = getattr(feature, "feature", None)
    if type(feature).__name__ in ("Sequence", "List", "LargeList") and type(inner).__name__ == "ClassLabel":
        return list(inner.names)
    return None


def _labels_hidden(split) -> bool:
    """A split whose ClassLabel columns are all -1 (GLUE's test splits hide their labels) cannot evaluate."""
    columns = [c for c, f in split.features.items() if type(f).__name__ == "ClassLabel"]
    return bool(columns) and all(set(split[c]) == {-1} for c in columns)


def model_failure(source: str, where: str, exc: BaseException) -> UserError:
    """One sentence for a model that would not load, by source."""
    text = " ".join(str(exc).split())[:160]
    if source == "path":
        return UserError(f"'{where}' is not a saved model ({text}); pick a folder written by save_pretrained, such "
                         "as an earlier run's model/ folder.", field="model.path", code="NOT_A_MODEL")
    offline = hub_offline_reason()
    if offline:
        return UserError(f"cannot load '{where}' from the Hugging Face Hub: {offline} and it is not in the local "
                         "cache; pick a built-in model (model source builtin) or a local folder (model source path).",
                         field="model.name", code="HUB_UNREACHABLE")
    return UserError(f"cannot load '{where}' from the Hub ({text}); check the model id.", field="model.name",
                     code="HUB_LOAD_FAILED")


def hub_model_precheck(name: str) -> None:
    """Fail in seconds, not after retries, when the Hub is unreachable and offline mode is not on."""
    offline = hub_offline_reason()
    if offline and "offline mode" not in offline:
        raise model_failure("hub", name, ConnectionError(offline))


def as_kwargs(config: Any) -> dict[str, Any]:
    """from_pretrained keyword arguments shared by the tokenizer and the model."""
    return {"trust_remote_code": bool(config.trust_remote_code)}
