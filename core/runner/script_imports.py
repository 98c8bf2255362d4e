"""The import lines of a generated reproduce.py: only what the pieces it holds need (core/runner/script_template.py
holds the pieces; core/runner/export.py assembles them)."""

from __future__ import annotations

import textwrap

# What each piece imports: (module, name), name None for a plain `import module`. Only the pieces a script holds
# are imported, so a generated script has no unused import (tests/test_reproduce.py runs pyflakes on each kind).
COMMON = [("argparse", None), ("json", None), ("pathlib", "Path"), ("numpy", None), ("pandas", None),
          ("datasets", "Dataset"), ("sklearn.metrics", "precision_recall_fscore_support")] + [
    ("transformers", name) for name in ("AutoTokenizer", "DataCollatorWithPadding", "EarlyStoppingCallback",
                                        "Trainer", "TrainingArguments", "set_seed")]
NEEDS = {
    "PACKAGE_DIR": [("importlib.util", None)],
    "READ_BUILTIN": [("importlib.util", None), ("io", "StringIO")],
    "READ_FILE": [("hashlib", None), ("io", "BytesIO"), ("io", "StringIO")],
    "READ_HUB": [("datasets", "load_dataset")],
    "ROWS_MULTI": [("ast", None)],
    "METRICS_SINGLE": [("sklearn.metrics", "accuracy_score")],
    "SAVE_MULTI_TUNED": [("sklearn.metrics", "f1_score")],
    "MODEL_RANDOM": [("transformers", "BertConfig"), ("transformers", "BertForSequenceClassification")],
    "MODEL_PRETRAINED": [("transformers", "AutoConfig"), ("transformers", "AutoModelForSequenceClassification")],
    "LORA": [("peft", "LoraConfig"), ("peft", "TaskType"), ("peft", "get_peft_model")],
    "WEIGHTED_LOSS": [("torch", None)],
}
STANDARD_LIBRARY = ("argparse", "ast", "hashlib", "importlib.util", "io", "json", "pathlib")
ALIASES = {"numpy": "np", "pandas": "pd"}


def imports(pieces: list[str]) -> str:
    """The import lines for these pieces: the standard library first, then the rest, each sorted."""
    wanted: dict[str, set] = {}
    for module, name in COMMON + [need for piece in pieces for need in NEEDS.get(piece, [])]:
        wanted.setdefault(module, set()).add(name)
    blocks = []
    for standard in (True, False):
        lines = []
        for module in sorted(m for m in wanted if (m in STANDARD_LIBRARY) == standard):
            names = sorted(n for n in wanted[module] if n)
            if None in wanted[module]:
                lines.append(f"import {module}" + (f" as {ALIASES[module]}" if module in ALIASES else ""))
            if names:
                lines.append(_from_line(module, names))
        blocks.append("\n".join(sorted(lines, key=lambda line: line.split()[1])))
    return "\n\n".join(blocks)


def _from_line(module: str, names: list[str]) -> str:
    line = f"from {module} import {', '.join(names)}"
    if len(line) <= 116:
        return line
    return textwrap.fill(", ".join(names), 116, initial_indent=f"from {module} import (",
                         subsequent_indent=" " * len(f"from {module} import (")) + ")"
