"""Export a run: its model as a zip, its config as JSON, and a standalone script that reproduces it.

The script is plain transformers code (tokenize, Trainer, compute_metrics) with no import of `core`,
so a user can run it outside the dashboard: `python reproduce.py --output-dir out`. It re-derives nothing:
the data pipeline (core/data/prepare.py) is run here, and what it resolved is written into the script as
values: the file and its sha256 (or the Hub data set and split), how it is read, the columns, the label
order, and the positions of the exact rows the run trained and evaluated on. A run the script cannot
reproduce faithfully gets one sentence (a UserError) instead of a script.
"""

from __future__ import annotations

import hashlib
import json
import pprint
import re
import shutil
import tempfile
import textwrap
import zipfile
from pathlib import Path
from typing import Any

import pandas as pd

from core.common.errors import UserError
from core.config import compat
from core.config.schema import apply_change, metric_for_data, RunConfig
from core.data import balance, prepare, tables
from core.data.columns import label_strings
from core.data.splits import Splits
from core.rundir import runs
from core.rundir.layout import ONNX, RunDir
from core.runner import onnx_export, script_imports, script_template
from core.training import models
from core.training.trainer_setup import training_argument_values
from core.views.model_card import write_model_card

# Reading a finished model in chunks of this size keeps memory flat for a 400 MB BERT-base.
ZIP_CHUNK_BYTES = 1 << 20


def model_zip(run_dir: Path, dest_dir: Path | None = None) -> Path:
    """Zip RUN_DIR/model into a temporary file (entries under `model/`) and return its path. The model card in it
    is written afresh from the run folder (a rename, or a card from before cards existed)."""
    model_dir = RunDir(run_dir).model
    if not (model_dir / "config.json").is_file():
        raise UserError(f"run '{Path(run_dir).name}' has no saved model yet; wait until it has finished.",
                        field="run", code="NO_MODEL")
    write_model_card(run_dir)
    return folder_zip(model_dir, "model", f"{Path(run_dir).name}-model-", dest_dir)


def onnx_zip(run_dir: Path) -> Path:
    """Zip RUN_DIR/onnx (entries under `onnx/`: the ONNX models, tokenizer, config and check) into a temporary file."""
    folder = RunDir(run_dir).onnx
    if onnx_export.read_check(folder) is None:
        raise UserError(f"run '{Path(run_dir).name}' has no ONNX export yet; export it first.", field="run",
                        code="NO_ONNX")
    return folder_zip(folder, ONNX, f"{Path(run_dir).name}-onnx-")


def folder_zip(folder: Path, root: str, prefix: str, dest_dir: Path | None = None) -> Path:
    """Every file under FOLDER in a new temporary zip, with entries under ROOT/."""
    handle, name = tempfile.mkstemp(prefix=prefix, suffix=".zip", dir=dest_dir)
    with open(handle, "wb") as raw, zipfile.ZipFile(raw, "w", compression=zipfile.ZIP_DEFLATED,
                                                    compresslevel=1) as archive:
        # Level 1: weights hardly compress, so a higher level only costs time.
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            with open(path, "rb") as source, archive.open(f"{root}/{path.relative_to(folder)}", "w",
                                                          force_zip64=True) as target:
                while chunk := source.read(ZIP_CHUNK_BYTES):
                    target.write(chunk)
    return Path(name)


def config_json(run_dir: Path) -> str:
    """The run's resolved config as indented JSON text, ready to save as CONFIG.json for `core.train`."""
    return json.dumps(runs.read_json(RunDir(run_dir).config, {}) or {}, indent=2)


def training_arguments_of(config: dict[str, Any]) -> dict[str, Any]:
    """The TrainingArguments values `core.train` passes for this config (without the device's speed plan),
    named for the installed transformers; only how the dashboard logs is left out, so a script shows progress."""
    parsed = RunConfig.from_dict(config)
    values = training_argument_values(parsed, parsed.hardware.device)
    for dashboard_only in ("disable_tqdm", "logging_first_step", "dataloader_num_workers", "ddp_backend"):
        values.pop(dashboard_only, None)
    if not values["use_cpu"]:
        del values["use_cpu"]
    return compat.translate_all(values)


def run_script(run_dir: Path) -> str:
    """reproduce.py for the run in RUN_DIR, checked against the data the run recorded (dataset.json)."""
    run_dir = Path(run_dir)
    return reproduce_script(runs.read_json(RunDir(run_dir).config, {}) or {},
                            runs.read_json(RunDir(run_dir).dataset, None), runs.read_status(run_dir).get("lora"))


def reproduce_script(config: dict[str, Any], recorded: dict[str, Any] | None = None,
                     lora: dict[str, Any] | None = None) -> str:
    """A standalone Python script that trains the same rows, model and arguments as this config.

    Raises UserError (one sentence) where it cannot: the data or model is gone or changed (`recorded`, the run's
    dataset.json, must match what the data gives now), or label values the script could not tell apart. A LoRA
    run's script adapts the modules the run recorded (`lora`, from its status.json)."""
    parsed = RunConfig.from_dict(config)
    raw = prepare.read_source(parsed.data)
    source = data_facts(parsed, raw, recorded)  # first: a file that changed is named as such
    splits = prepare.split(prepare.build(raw, parsed.data), parsed.data)
    if recorded:
        _check_same_data(parsed, splits, recorded)
    models.check_model_folder(parsed.model)
    labels = ({"LABEL_SHAPE": label_shape_facts(raw, parsed, splits), "THRESHOLD": parsed.training.threshold}
              if splits.multi_label else {"LABEL_OF_VALUE": label_values(raw, splits)})
    columns = {k: v for k, v in vars(splits.columns).items() if k != "label_columns"}  # 0/1 columns: LABEL_SHAPE
    values = {"DATA": source, "COLUMNS": columns, "LABEL_NAMES": splits.label_names, **labels,
              "PROBLEM_TYPE": models.MULTI_LABEL if splits.multi_label else models.SINGLE_LABEL,
              "MAX_LENGTH": parsed.data.max_length, "MODEL": model_facts(parsed), "SEED": parsed.training.seed,
              "TRAINING_ARGUMENTS": training_arguments_of(_with_metric_for_data(config, splits.multi_label)),
              "EARLY_STOPPING_PATIENCE": parsed.training.early_stopping_patience}
    if parsed.model.lora:
        values["LORA"] = lora_settings(parsed, lora)
    # The weights the run trained with, from the same training rows (so the same numbers as its dataset.json).
    weights = balance.class_weights(parsed.training.class_weights, splits.label_names, splits.train["label"],
                                    splits.multi_label)
    if weights:
        values["CLASS_WEIGHTS"] = weights
    return _assemble(parsed, values, splits)


def lora_settings(parsed: RunConfig, recorded: dict[str, Any] | None) -> dict[str, Any]:
    """peft's LoraConfig arguments for a LoRA run: its rank, alpha and dropout, and the modules it adapted."""
    if not recorded or not recorded.get("target_modules"):
        raise UserError("this LoRA run did not record which modules it adapted (it ended before training), so a "
                        "script cannot train it the same way.", field="model.lora", code="NOT_REPRODUCIBLE")
    model = parsed.model
    return {"r": model.lora_rank, "lora_alpha": model.lora_alpha, "lora_dropout": model.lora_dropout,
            "target_modules": recorded["target_modules"], "modules_to_save": recorded["modules_to_save"]}


def _assemble(parsed: RunConfig, values: dict[str, Any], splits: Splits) -> str:
    """The script: header, the resolved values, the reader for this source, the loader for this model, the rows."""
    t = script_template
    reader = {"builtin": "READ_BUILTIN", "file": "READ_FILE", "hub": "READ_HUB"}[parsed.data.source]
    builtin_model = parsed.model.source == "builtin"
    if builtin_model and parsed.model.name in models.RANDOM_CONFIGS:
        model = ["MODEL_RANDOM"]
    else:
        model = ["LOCATION_MINILM" if builtin_model else "LOCATION_GIVEN", "MODEL_PRETRAINED"]
    if builtin_model and parsed.data.source != "builtin":  # the built-in data's reader already has package_dir
        model.insert(0, "PACKAGE_DIR")
    multi = values["PROBLEM_TYPE"] == models.MULTI_LABEL
    pieces = [reader, "ROWS_MULTI" if multi else "ROWS", *model, *(["LORA"] if parsed.model.lora else []),
              *(["WEIGHTED_LOSS"] if "CLASS_WEIGHTS" in values else []),
              *(["METRICS_MULTI", "SAVE_MULTI_TUNED" if parsed.training.tune_thresholds else "SAVE_MULTI"] if multi
                else ["METRICS_SINGLE"])]
    note = (f"# The run used {parsed.hardware.processes} processes; run this with torchrun --nproc_per_node=N.\n"
            if parsed.hardware.processes > 1 else "")
    source = {"builtin": f"the built-in data set {parsed.data.name}", "file": "the data file and its sha256",
              "hub": f"the Hub data set {parsed.data.name} and its splits"}[parsed.data.source]
    header = (t.HEADER.replace("__NAME__", _docstring_safe(parsed.name) or "run").replace("__NOTE__", note)
              .replace("__SOURCE__", _docstring_safe(source)).replace("__IMPORTS__", script_imports.imports(pieces)))
    constants = "".join(f"{name} = {_literal(value)}\n" for name, value in values.items())
    tokenizer_kwarg = ("processing_class" if "processing_class" in compat.trainer_tokenizer_kwargs(object())
                       else "tokenizer")
    rows = ("\n\n# The rows the run used: positions in the data as read above (0 is the first row), in the run's "
            f"order.\nTRAIN_ROWS = {_row_list(splits.train_rows)}\nEVAL_ROWS = {_row_list(splits.eval_rows)}\n")
    code = "".join(getattr(t, piece) for piece in pieces)
    loss_kwarg = ", compute_loss_func=weighted_loss" if "WEIGHTED_LOSS" in pieces else ""
    train = (t.TRAIN.replace("__TOKENIZER_KWARG__", tokenizer_kwarg).replace("__LOSS_KWARG__", loss_kwarg)
             .replace("__LOAD_MODEL__", "add_lora(load_model())" if parsed.model.lora else "load_model()")
             .replace("__MERGE__", t.MERGE if parsed.model.lora else ""))
    return header + constants + code + train + rows + t.FOOTER


def data_facts(parsed: RunConfig, raw: tuple, recorded: dict[str, Any] | None = None) -> dict[str, Any]:
    """Where the rows come from and how they are read, as the run resolved it (checked against `recorded`)."""
    data, (train_raw, eval_raw, _, _) = parsed.data, raw
    if data.source == "file":
        hashes = (recorded or {}).get("file_sha256") or {}
        return {"source": "file", "train": file_facts(data.path, "data.path", hashes),
                "eval": file_facts(data.eval_path, "data.eval_path", hashes) if data.eval_path else None}
    if data.source == "builtin":
        return {"source": "builtin", "name": data.name, "eval": None,
                "train": {"where": f"The built-in data set '{data.name}'", "rows": len(train_raw)}}

    def split_facts(frame: pd.DataFrame) -> dict[str, Any]:
        split = frame.attrs["split"]
        return {"split": split, "where": f"Split '{split}' of '{data.name}'", "rows": len(frame)}

    return {"source": "hub", "name": data.name, "config_name": data.config_name, "train": split_facts(train_raw),
            "eval": split_facts(eval_raw) if eval_raw is not None else None}


def file_facts(path: str, field: str, recorded: dict[str, str] | None = None) -> dict[str, Any]:
    """The file's absolute path, its sha256 and how it is read. A file whose sha256 is not the one the run recorded
    (`recorded`: by field), or an upload whose content no longer matches the hash in its stored name, is refused."""
    file = Path(path).resolve()
    digest = hashlib.sha256(file.read_bytes()).hexdigest()
    stored = re.match(r"([0-9a-f]{10})-", file.name)
    if file.parent.name == "data" and stored and not digest.startswith(stored.group(1)):
        raise UserError(f"'{file.name}' changed since it was uploaded, so the rows this run trained on are gone; "
                        "upload the data again and start a new run.", field=field, code="DATA_CHANGED")
    if recorded and recorded.get(field) not in (None, digest):
        raise UserError(f"'{file.name}' changed since the run read it (its sha256 differs), so the rows this run "
                        "trained on are gone; put back the file the run used.", field=field, code="DATA_CHANGED")
    return {"path": str(file), "sha256": digest, **tables.reading_facts(file)}


def label_values(raw: tuple, splits: Splits) -> dict[Any, str]:
    """Each label value of the chosen rows, as read, and the label name the run gave it (the same function)."""
    train_raw, eval_raw, class_labels, _ = raw
    column = splits.columns.label
    values = pd.concat([train_raw[column].iloc[splits.train_rows],
                        (train_raw if eval_raw is None else eval_raw)[column].iloc[splits.eval_rows]],
                       ignore_index=True)
    mapping: dict[Any, str] = {}
    for value, name in zip(values.tolist(), label_strings(values, class_labels.get(column)).tolist()):
        # A value that is not a plain literal, or 1 and True named differently, cannot be written as a dict key.
        if not isinstance(value, (str, int, float, bool)) or mapping.setdefault(value, name) != name:
            raise UserError(f"column '{column}' holds label values ({value!r}) that the script cannot tell apart "
                            "as written; use text labels in that column.", field="data.label_column",
                            code="NOT_REPRODUCIBLE")
    return mapping


def _with_metric_for_data(config: dict[str, Any], multi_label: bool) -> dict[str, Any]:
    """The config with the best-model metric the run recorded (f1 is f1_micro on multi-label data)."""
    metric = (config.get("training") or {}).get("metric_for_best_model") or "f1"
    return apply_change(config, {"training.metric_for_best_model": metric_for_data(metric, multi_label)[0]})


def label_shape_facts(raw: tuple, parsed: RunConfig, splits: Splits) -> dict[str, Any]:
    """How a multi-label run read its labels: 0/1 columns, or the label column's separator (and a Hub
    Sequence(ClassLabel)'s names), so the script turns each row into the same label names."""
    found = splits.columns
    shape = prepare.label_shape(raw, parsed.data, found)
    return {"columns": found.label_columns, "separator": shape.separator,
            "class_names": raw[2].get(found.label) if not found.label_columns else None}


def model_facts(parsed: RunConfig) -> dict[str, Any]:
    """The model as the run loaded it: a random BERT's shape, or the Hub id or folder it started from."""
    model = parsed.model
    facts: dict[str, Any] = {"trust_remote_code": bool(model.trust_remote_code),
                             "dropout": models.dropout_overrides(model)}
    if model.source == "builtin" and model.name in models.RANDOM_CONFIGS:
        facts["bert_config"] = models.RANDOM_CONFIGS[model.name]
    elif model.source == "path":
        facts["location"] = str(Path(model.path).resolve())
    elif model.source == "hub":
        facts["location"] = model.name
    return facts


def _check_same_data(parsed: RunConfig, splits: Splits, recorded: dict[str, Any]) -> None:
    now = splits.summary()
    if any(recorded.get(key) not in (None, now[key]) for key in ("label_names", "train_counts", "eval_counts")):
        field = "data.path" if parsed.data.source == "file" else "data.name"
        raise UserError("the data no longer gives the rows this run trained on (its labels or class counts differ "
                        "from the run's); put back the data the run used.", field=field, code="DATA_CHANGED")


def _docstring_safe(text: str) -> str:
    """A run name fit for the script's docstring: quotes and backslashes would end or break it."""
    return re.sub(r"[^\w .,:;()+/-]", "", text)


def _literal(value: Any) -> str:
    return pprint.pformat(value, width=116, sort_dicts=False)


def _row_list(rows: list[int]) -> str:
    if not rows:
        return "[]"
    return "[\n" + textwrap.fill(", ".join(map(str, rows)), 116, initial_indent="    ", subsequent_indent="    ") + ",\n]"


def export_run(run_dir: Path, out_dir: Path, onnx: bool = False, quantize: bool = False) -> list[Path]:
    """Write OUT_DIR/config.json, reproduce.py and model.zip (and with `onnx` the folder onnx/, checked against
    PyTorch): all of them, or none and a UserError that says why."""
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    if not (RunDir(run_dir).config).is_file():
        raise UserError(f"'{run_dir}' is not a run folder (it has no config.json); pass a run's folder, such as "
                        "runs/<id>.", field="RUN_DIR", code="NO_SUCH_RUN")
    if not (RunDir(run_dir).model / "config.json").is_file():
        state = runs.read_status(run_dir).get("state") or "unfinished"
        raise UserError(f"run '{run_dir.name}' has no saved model (it is {state}); export a run that finished and "
                        "saved its model.", field="RUN_DIR", code="NO_MODEL")
    script = run_script(run_dir)
    partial = _partial_folder(out_dir)  # moved in only once everything is written
    try:
        (partial / "config.json").write_text(config_json(run_dir) + "\n", encoding="utf-8")
        (partial / "reproduce.py").write_text(script, encoding="utf-8")
        model_zip(run_dir, dest_dir=partial).rename(partial / "model.zip")
        names = ["config.json", "reproduce.py", "model.zip"]
        if onnx:
            onnx_export.write_onnx(run_dir, partial / ONNX, quantize)
            names.append(ONNX)
        for name in names:
            onnx_export.replace_folder(partial / name, out_dir / name)
        return [out_dir / name for name in names]
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def _partial_folder(out_dir: Path) -> Path:
    """A temporary folder inside OUT_DIR (created if missing); a folder that cannot be written is a UserError."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=".export-", dir=out_dir))
    except OSError as exc:
        raise UserError(f"cannot write to '{out_dir}' ({type(exc).__name__}); pass a folder you can write to.",
                        field="--out", code="OUT_NOT_WRITABLE") from None
