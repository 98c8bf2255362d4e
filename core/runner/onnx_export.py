"""A run's model as ONNX for serving, checked against PyTorch on the run's eval texts before it is offered.

`write_onnx` builds an ONNX folder (core/training/onnx_model.py) and writes the check's result next to it
(onnx_check.json); `export_to_run` does that into RUN_DIR/onnx for the Runs page (and "Try the model"),
`core.runs export --onnx` into DIR/onnx (core/runner/export.py).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from core.common.errors import UserError
from core.config.schema import RunConfig
from core.data import prepare
from core.rundir import runs
from core.rundir.layout import OnnxDir, RunDir
from core.training import onnx_model


def write_onnx(run_dir: Path, folder: Path, quantize: bool = False) -> dict[str, Any]:
    """Export RUN_DIR's model into FOLDER (fp32, and int8 with `quantize`), check it on the run's eval texts and
    write the check's result there; returns it. A model the exporter cannot handle is a UserError."""
    model_dir = RunDir(run_dir).model
    if (runs.read_json(model_dir / "config.json", {}) or {}).get("problem_type") == "multi_label_classification":
        raise UserError("is a multi-label model; the ONNX export and its check against PyTorch handle single-label "
                        "models only for now, so serve this one with PyTorch (Try the model, Predict a file).",
                        field="run", code="ONNX_MULTI_LABEL")
    texts, labels, pairs, max_length = eval_subset(run_dir)  # first: unreadable data stops before the slow part
    try:
        onnx_model.export_onnx(model_dir, folder, quantize)
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - an architecture the exporter does not cover: one sentence
        raise UserError(f"the model could not be exported to ONNX ({type(exc).__name__}: "
                        f"{' '.join(str(exc).split())[:160]}); serve it with PyTorch instead.", field="run",
                        code="ONNX_FAILED") from None
    result = onnx_model.check_export(model_dir, folder, texts, labels, pairs, max_length)
    result["quantized"] = quantize
    runs.write_json_atomic(OnnxDir(folder).check, result)
    return result


def eval_subset(run_dir: Path) -> tuple[list[str], list[str], list[str] | None, int]:
    """The run's eval texts, their labels, the second texts of pairs (or None) and its max length."""
    config = RunConfig.from_dict(runs.read_json(RunDir(run_dir).config, {}) or {})
    try:
        splits = prepare.prepare(config.data)
    except UserError as exc:
        raise UserError(f"the export cannot be checked because the run's eval data cannot be read ({exc.sentence}); "
                        "put the data back and export again.", field="run", code="ONNX_UNCHECKED") from None
    pairs = splits.eval["text_pair"].tolist() if splits.has_pair else None
    return splits.eval["text"].tolist(), splits.eval["label"].tolist(), pairs, config.data.max_length


def export_to_run(run_dir: Path, quantize: bool = False) -> dict[str, Any]:
    """RUN_DIR/onnx, replaced only once the new export and its check are complete; returns the check."""
    run_dir = Path(run_dir)
    if not (RunDir(run_dir).model / "config.json").is_file():
        raise UserError(f"run '{run_dir.name}' has no saved model yet; export it once it has finished.",
                        field="run", code="NO_MODEL")
    partial = Path(tempfile.mkdtemp(prefix=".onnx-", dir=run_dir))
    try:
        result = write_onnx(run_dir, partial / "onnx", quantize)
        replace_folder(partial / "onnx", RunDir(run_dir).onnx)
        return result
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def replace_folder(source: Path, target: Path) -> None:
    """Put SOURCE where TARGET is, removing an earlier TARGET first (a rename cannot replace a full folder)."""
    if target.exists():
        shutil.rmtree(target)
    source.rename(target)


def read_check(folder: Path) -> dict[str, Any] | None:
    """The check written next to an ONNX export, or None when there is no (complete) export."""
    folder = OnnxDir(folder)
    return runs.read_json(folder.check, None) if folder.model.is_file() else None


def usable_engines(folder: Path) -> list[str]:
    """The ONNX models in FOLDER that passed their check: 'int8' and/or 'fp32'."""
    check = read_check(folder) or {}
    return [name for name in ("int8", "fp32") if (check.get(name) or {}).get("passed")]


def check_summary(check: dict[str, Any]) -> str:
    """One line for the terminal and the page: each model's accuracy and how close it is to PyTorch."""
    parts = [f"PyTorch accuracy {check['pytorch']['accuracy']:.1%}",
             f"ONNX fp32 {check['fp32']['accuracy']:.1%} (largest logit difference "
             f"{check['fp32']['max_logit_diff']:.1e})"]
    if "int8" in check:
        parts.append(f"ONNX int8 {check['int8']['accuracy']:.1%} (same label as PyTorch on "
                     f"{check['int8']['agreement']:.1%})")
    return f"On {check['eval_texts']} eval texts: " + "; ".join(parts) + "."
