"""Checks of where data and models come from (built-in names, Hub ids, local paths): cheap, no file or network access."""

from __future__ import annotations

import re
from pathlib import Path

from core.common.errors import UserError
from core.config.fields import check_rules

BUILTIN_DATASETS = ("tweet-sentiment", "bbc-news")
BUILTIN_MODELS = ("minilm-l6", "tiny-random", "bert-base-random")
# Hub ids: "name" or "owner/name", letters, digits, '.', '_' and '-' (huggingface_hub's rule, simplified).
HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}(/[A-Za-z0-9][A-Za-z0-9._-]{0,95})?$")


def check_source_fields(data, model) -> None:
    """Cheap checks of the source fields (no file or network access); raise UserError on the first problem."""
    if data.source == "builtin":
        check_rules("data.name", {"choices": BUILTIN_DATASETS}, data.name)
    elif data.source == "hub":
        check_hub_id(data.name, "data.name", "data set")
    else:
        check_local_path(data.path, "data.path", "the data file")
        if data.eval_path:
            check_local_path(data.eval_path, "data.eval_path", "the eval file")
    if model.source == "builtin":
        check_rules("model.name", {"choices": BUILTIN_MODELS}, model.name)
    elif model.source == "hub":
        check_hub_id(model.name, "model.name", "model")
    else:
        check_local_path(model.path, "model.path", "the model folder")


def check_hub_id(name: str, field: str, what: str) -> None:
    """A Hub id, never a path: no '..', no leading '/', at most one '/'."""
    if ".." in name or "\\" in name or not HUB_ID.match(name):
        raise UserError(f"'{name}' is not a Hub {what} id; write it as name or owner/name (letters, digits, "
                        f"'.', '_', '-'), such as {'imdb' if what == 'data set' else 'distilbert-base-uncased'}.",
                        field=field, code="BAD_NAME")


def check_local_path(path: str | None, field: str, what: str) -> None:
    if not path:
        raise UserError(f"is required for this source; give the path of {what}.", field=field)
    if "\x00" in path or ".." in Path(path).parts:
        raise UserError(f"'{path}' climbs out of its folder with '..'; give the full path of {what} instead.",
                        field=field, code="BAD_PATH")
