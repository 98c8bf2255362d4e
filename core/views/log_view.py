"""train.log as a person reads it: no terminal escape codes, no progress-bar redraws, no raw Python dicts,
and transformers' weight-loading report said in words.

The file on disk is left as written (it is the record); only what the page shows is rewritten.
"""

from __future__ import annotations

import ast
import re

ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")
# A head is new whenever a pretrained encoder gets a classification head: these keys are expected to be missing.
HEAD_PREFIXES = ("classifier.", "score.", "pre_classifier.", "classification_head.", "logits_proj.")
PROGRESS_BAR = re.compile(r"^(.*?):\s+\d+%\|")
REPORT_ROW = re.compile(r"^\s*([\w.\-]+)\s*\|\s*(MISSING|UNEXPECTED|MISMATCH\w*)\s*\|")


def readable_log(text: str) -> str:
    """The log's lines with escapes stripped, progress bars at their last state, dicts and load reports in words."""
    lines = [ANSI_ESCAPE.sub("", line).rsplit("\r", 1)[-1] for line in text.replace("\r\n", "\n").split("\n")]
    out: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        if "LOAD REPORT" in line:
            index = _load_report(lines, index, out)
            continue
        if not _bar_redrawn_next(lines, index):
            out.append(_dict_line(line))
        index += 1
    return "\n".join(out)


def _bar_redrawn_next(lines: list[str], index: int) -> bool:
    """A progress bar line whose next line is the same bar, further along (only its last state is kept)."""
    bar = PROGRESS_BAR.match(lines[index])
    following = PROGRESS_BAR.match(lines[index + 1]) if index + 1 < len(lines) else None
    return bool(bar and following and bar.group(1) == following.group(1))


def _load_report(lines: list[str], index: int, out: list[str]) -> int:
    """Replace the report's table and notes by one or two sentences; returns the index after the report."""
    rows: dict[str, list[str]] = {}
    index += 1
    while index < len(lines):
        line = lines[index]
        row = REPORT_ROW.match(line)
        if row:
            rows.setdefault(row.group(2), []).append(row.group(1))
        elif not (line.strip() == "" or line.startswith(("Key ", "---", "Notes:", "- ", "\t")) or "|" in line):
            break
        index += 1
    out.extend(load_report_sentences(rows))
    return index


def load_report_sentences(rows: dict[str, list[str]]) -> list[str]:
    """What the loading report means for this run, in words."""
    sentences = []
    missing = rows.get("MISSING", [])
    head = [key for key in missing if key.startswith(HEAD_PREFIXES)]
    if head:
        sentences.append(f"A new classification head ({', '.join(head)}) starts from random weights and is trained "
                         "in this run; this is expected when fine-tuning a pretrained encoder.")
    other = [key for key in missing if key not in head]
    if other:
        sentences.append(f"{len(other)} weights were not in the checkpoint and start from random values: "
                         f"{_few(other)}.")
    if rows.get("UNEXPECTED"):
        sentences.append(f"{len(rows['UNEXPECTED'])} weights of the checkpoint are not used by this model (usual "
                         f"when it was trained for another task): {_few(rows['UNEXPECTED'])}.")
    mismatched = [key for status, keys in rows.items() if status.startswith("MISMATCH") for key in keys]
    if mismatched:
        sentences.append(f"{len(mismatched)} weights had another shape and were replaced: {_few(mismatched)}.")
    return sentences or ["The model's weights were loaded."]


def _few(keys: list[str], most: int = 4) -> str:
    return ", ".join(keys[:most]) + (f" and {len(keys) - most} more" if len(keys) > most else "")


def _dict_line(line: str) -> str:
    """A Trainer log dict ({'loss': '1.098', 'epoch': '0.08'}) as 'loss 1.098 · epoch 0.08'; others as they are."""
    stripped = line.strip()
    if not (stripped.startswith("{'") and stripped.endswith("}")):
        return line
    try:
        values = ast.literal_eval(stripped)
    except (ValueError, SyntaxError):
        return line
    if not isinstance(values, dict):
        return line
    prefix = "Evaluation: " if any(str(k).startswith("eval_") for k in values) else (
        "Training done: " if "train_runtime" in values else "")
    parts = [f"{str(key).removeprefix('eval_').replace('_', ' ')} {_number(value)}" for key, value in values.items()]
    return prefix + " · ".join(parts)


def _number(value) -> str:
    try:
        return f"{float(value):.4g}"
    except (TypeError, ValueError):
        return str(value)
