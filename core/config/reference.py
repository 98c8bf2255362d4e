"""The config's fields as people see them: which the New run form shows, each field's label, help and rules
(from the dataclasses in core/config/schema.py), and the README's config table (`python -m core.config.reference`)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from core.config.fields import field_kind
from core.config.schema import DataConfig, HardwareConfig, ModelConfig, TrainingConfig


SECTION_CLASSES = {"data": DataConfig, "model": ModelConfig, "hardware": HardwareConfig, "training": TrainingConfig}


def form_fields(section: str, source_fields: bool | None = None) -> list[str]:
    """The fields of a section that the New run form shows, in declaration order; `source_fields` True or False
    keeps only (or leaves out) where the data and model come from, which the form draws with inputs of their own."""
    return [f.name for f in dataclasses.fields(SECTION_CLASSES[section])
            if f.name != "extra" and f.metadata.get("form", True)
            and (source_fields is None or bool(f.metadata.get("source_field")) == source_fields)]


def field_help(section: str, name: str) -> dict[str, Any]:
    """Label, help text and rules of one config field, for the form."""
    for f in dataclasses.fields(SECTION_CLASSES[section]):
        if f.name == name:
            return {"default": f.default, "kind": field_kind(f).__name__, **f.metadata}
    raise KeyError(f"{section}.{name}")


def markdown_table() -> str:
    """The README's config reference, generated from the dataclasses above."""
    rows = ["| key | default | meaning |", "| --- | --- | --- |"]
    for section, klass in (("data", DataConfig), ("model", ModelConfig), ("hardware", HardwareConfig),
                           ("training", TrainingConfig)):
        for f in dataclasses.fields(klass):
            if f.name == "extra":
                continue
            default = f.default if f.default is not dataclasses.MISSING else "{}"
            choices = f.metadata.get("choices")
            text = f.metadata["help"] + (f" One of: {', '.join(choices)}." if choices else "")
            rows.append(f"| `{section}.{f.name}` | `{json.dumps(default)}` | {text} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(markdown_table())
