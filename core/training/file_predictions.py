"""Predictions on a whole file: `python -m core.predict --model MODEL_DIR --input FILE --output OUT.csv`.

Every row of the input comes out with the predicted label and each class's probability. The file is read and
written in chunks, so memory stays flat however long it is; the output is written to a hidden file next to OUT.csv
and renamed only once complete, so a failure never leaves half a file. When the file also holds the model's
label column, the predictions are scored against it (an evaluation on new data).
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.common.errors import UserError
from core.data import stream as streaming
from core.data.columns import label_strings, missing_labels
from core.rundir import runs
from core.rundir.layout import RunDir
from core.training import predict
from core.training.predict import PREDICT_BATCH, predict_batches

CHUNK_ROWS = 2048  # rows read, predicted and written at a time: memory holds one chunk, not the file
LABEL_OUT, PROBABILITY_OUT = "predicted_label", "p({})"
MULTI_SEPARATOR = "|"  # a multi-label model's answers in one cell, as the training files separate them


@dataclass
class Fields:
    """How the caller names its inputs in a sentence: the CLI's flags, or the page's field labels."""
    model: str = "--model"
    input: str = "--input"
    output: str = "--output"
    text_column: str = "--text-column"
    batch_size: str = "--batch-size"


@dataclass
class FileReport:
    """What a prediction run did: rows, columns used, where the CSV is, and the evaluation when there was one."""
    rows: int
    text_column: str
    label_column: str | None
    output: Path
    evaluation: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)


def model_labels(model_dir: Path, fields: Fields = Fields()) -> list[str]:
    """The saved model's label names in id order (its config's id2label); a folder without a model is one sentence."""
    config = runs.read_json(Path(model_dir) / "config.json", None)
    if not isinstance(config, dict) or not config.get("id2label"):
        raise UserError(f"'{model_dir}' holds no saved classifier (no config.json with labels); pick a run's model/ "
                        "folder from a run that finished.", field=fields.model, code="NO_MODEL")
    id2label = config["id2label"]
    return [str(id2label[key]) for key in sorted(id2label, key=int)]


def label_thresholds(model_dir: Path, labels: list[str]) -> np.ndarray | None:
    """Each label's threshold for a multi-label model (as `predict.thresholds_of` reads them), None otherwise."""
    config = runs.read_json(Path(model_dir) / "config.json", {}) or {}
    if config.get("problem_type") != "multi_label_classification":
        return None
    by_label = predict.label_thresholds(config.get("label_thresholds"), config.get("threshold"), labels)
    return np.array([by_label[name] for name in labels])


def run_settings(model_dir: Path) -> dict[str, Any]:
    """The max length and label column of the run that saved MODEL_DIR (RUN_DIR/model), where it is a run's model."""
    run_dir = Path(model_dir).resolve().parent
    config = runs.read_json(RunDir(run_dir).config, {}) or {}
    dataset = runs.read_json(RunDir(run_dir).dataset, {}) or {}
    return {"max_length": int((config.get("data") or {}).get("max_length") or 128),
            "label_column": (dataset.get("columns") or {}).get("label")}


def check_output(output: Path, input_path: Path, fields: Fields = Fields()) -> Path:
    """OUT.csv must be a .csv in a folder that exists and can be written, and not the input itself."""
    output = Path(output)
    if output.suffix.lower() != ".csv":
        raise UserError(f"'{output.name}' does not end in .csv; the predictions are written as CSV, name the file "
                        "OUT.csv.", field=fields.output, code="BAD_OUTPUT")
    folder = output.resolve().parent
    if not folder.is_dir():
        raise UserError(f"the folder '{folder}' does not exist; create it or write somewhere else.",
                        field=fields.output, code="BAD_OUTPUT")
    try:  # a real write, not os.access: permissions, a read-only file system, root on a locked folder alike
        handle, probe = tempfile.mkstemp(prefix=".probe-", dir=folder)
        os.close(handle)
        os.unlink(probe)
    except OSError:
        raise UserError(f"'{folder}' cannot be written to; pick a folder you can write to.", field=fields.output,
                        code="BAD_OUTPUT") from None
    if output.resolve() == Path(input_path).resolve():
        raise UserError("is the input file itself; write the predictions to a new file.", field=fields.output,
                        code="BAD_OUTPUT")
    return output


def predict_file(model_dir: Path, input_path: Path, output: Path, text_column: str | None = None,
                 batch_size: int = PREDICT_BATCH, on_progress: Callable[[int, int], None] | None = None,
                 fields: Fields = Fields(), int8: bool = False) -> FileReport:
    """Predict every row of INPUT into OUTPUT (CSV): all input columns, then the label and each class's probability."""
    if batch_size < 1:
        raise UserError(f"must be at least 1, got {batch_size}; try 32.", field=fields.batch_size, code="BAD_BATCH")
    labels = model_labels(model_dir, fields)
    output = check_output(output, input_path, fields)
    table = streaming.open_table(input_path, fields.input)
    first = next(streaming.iter_chunks(table, 1000, fields.input))
    text = streaming.text_column_of(table, first, text_column, fields.text_column)
    settings = run_settings(model_dir)
    thresholds = label_thresholds(model_dir, labels)
    # Scoring a file against its answers is single-label only: a multi-label column is written through unscored.
    label = None if thresholds is not None else streaming.label_column_of(first, text, labels,
                                                                          settings["label_column"])
    report = FileReport(rows=table.rows, text_column=text, label_column=label, output=output)
    matrix = np.zeros((len(labels), len(labels)), dtype=np.int64) if label else None
    handle, partial = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".partial", dir=output.resolve().parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            _write_predictions(table, model_dir, labels, text, label, batch_size, settings["max_length"], out,
                               matrix, report, on_progress, fields, thresholds, int8)
        os.replace(partial, output)
    finally:
        Path(partial).unlink(missing_ok=True)
    if matrix is not None:
        report.evaluation = evaluation_from_confusion(matrix, labels)
    return report


def _write_predictions(table, model_dir, labels, text, label, batch_size, max_length, out, matrix,
                       report: FileReport, on_progress, fields: Fields, thresholds: np.ndarray | None = None,
                       int8: bool = False) -> None:
    """Stream the chunks through the model and append each, with its predictions, to the open output file."""
    chunks = streaming.iter_chunks(table, CHUNK_ROWS, fields.input)
    blank_rows, unknown_labels, done = 0, 0, 0
    pending: list[pd.DataFrame] = []

    def texts_of(chunks_in: Iterator[pd.DataFrame]) -> Iterator[list[str]]:
        for chunk in chunks_in:  # the chunk is kept for writing once its probabilities come back
            pending.append(chunk)
            yield [str(value) if _has_text(value) else "" for value in chunk[text].tolist()]

    for probabilities in predict_batches(model_dir, texts_of(chunks), batch_size, max_length, int8):
        chunk = pending.pop(0)
        blank = ~chunk[text].map(_has_text).to_numpy(dtype=bool)
        blank_rows += int(blank.sum())
        predicted = predicted_labels(probabilities, labels, thresholds, chunk.index)
        predicted[blank] = ""  # no text, no prediction
        columns = {LABEL_OUT: predicted} | {PROBABILITY_OUT.format(name): np.where(blank, np.nan, probabilities[:, i])
                                            for i, name in enumerate(labels)}
        chunk.assign(**columns).to_csv(out, header=done == 0, index=False)
        if matrix is not None:
            unknown_labels += _score_chunk(chunk[label], predicted, blank, labels, matrix)
        done += len(chunk)
        if on_progress:
            on_progress(done, report.rows)
    if blank_rows:
        report.notes.append(f"{blank_rows:,} rows have no text; their prediction is left empty.")
    if unknown_labels:
        report.notes.append(f"{unknown_labels:,} rows of column '{label}' hold no label the model knows (or none); "
                            "they are left out of the evaluation.")


def predicted_labels(probabilities: np.ndarray, labels: list[str], thresholds: np.ndarray | None,
                     index: pd.Index) -> pd.Series:
    """The most likely class per row; for a multi-label model every label at or above its threshold, joined by
    MULTI_SEPARATOR (highest first; empty when none is)."""
    names = np.asarray(labels, dtype=object)
    if thresholds is None:
        return pd.Series(names[probabilities.argmax(axis=1)], index=index)
    answers = [MULTI_SEPARATOR.join(names[[i for i in np.argsort(-row) if row[i] >= thresholds[i]]])
               for row in probabilities]
    return pd.Series(answers, index=index, dtype=object)


def _has_text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip()) or (value is not None and not isinstance(value, str)
                                                              and not pd.isna(value))


def _score_chunk(truth: pd.Series, predicted: pd.Series, blank: np.ndarray, labels: list[str],
                 matrix: np.ndarray) -> int:
    """Add the chunk's (true, predicted) pairs to the confusion matrix; returns the rows that could not be scored."""
    index = {name: i for i, name in enumerate(labels)}
    has_label = ~missing_labels(truth, None).to_numpy(dtype=bool)
    names = label_strings(truth.where(has_label, ""), None)
    true_ids = names.map(index).to_numpy(dtype=float)
    scored = has_label & ~blank & ~np.isnan(true_ids)
    np.add.at(matrix, (true_ids[scored].astype(int), predicted[scored].map(index).to_numpy(dtype=int)), 1)
    return int((~scored).sum())


def evaluation_from_confusion(matrix: np.ndarray, labels: list[str]) -> dict[str, Any]:
    """Accuracy, weighted precision / recall / F1 and the per-class report, from a confusion matrix (rows: true);
    the same shape as results.json, so the Live run page's tables and charts show it."""
    matrix = np.asarray(matrix, dtype=float)
    support, predicted, correct = matrix.sum(axis=1), matrix.sum(axis=0), np.diag(matrix)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.nan_to_num(correct / predicted)
        recall = np.nan_to_num(correct / support)
        f1 = np.nan_to_num(2 * precision * recall / (precision + recall))
    total = support.sum()
    weights = support / total if total else support

    def weighted(values):
        return float((values * weights).sum())

    return {"final_metrics": {"accuracy": float(correct.sum() / total) if total else 0.0, "f1": weighted(f1),
                              "precision": weighted(precision), "recall": weighted(recall)},
            "per_class": [{"label": name, "precision": float(precision[i]), "recall": float(recall[i]),
                           "f1": float(f1[i]), "support": int(support[i])} for i, name in enumerate(labels)],
            "confusion_matrix": matrix.astype(int).tolist(), "label_names": labels, "rows": int(total)}


def progress_line(done: int, total: int) -> None:
    """A one-line progress bar on stderr for the command line."""
    width = 30
    share = done / total if total else 1.0
    bar = "#" * round(share * width)
    print(f"\r[{bar:<{width}}] {done:,}/{total:,} rows", end="" if done < total else "\n", file=sys.stderr,
          flush=True)


def main(argv: list[str] | None = None) -> int:
    """`python -m core.predict`: exit 0 with OUT.csv written, 2 with one sentence on stderr and nothing written."""
    import argparse

    class Parser(argparse.ArgumentParser):
        def error(self, message: str):  # one line on stderr, like core.train, not usage plus a dump
            print(f"error: {message}; see 'python -m core.predict --help'.", file=sys.stderr)
            raise SystemExit(2)

    parser = Parser(prog="python -m core.predict", description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, metavar="MODEL_DIR", help="a saved model, e.g. runs/<id>/model, or "
                        "an ONNX export (runs/<id>/onnx, or DIR/onnx of core.runs export --onnx) to run in ONNX Runtime")
    parser.add_argument("--input", required=True, metavar="FILE", help="CSV, TSV, JSON, JSON Lines or Parquet")
    parser.add_argument("--output", required=True, metavar="OUT.csv", help="the predictions (CSV); replaced if there")
    parser.add_argument("--text-column", default=None, metavar="C", help="the column with the texts (default: "
                        "detected as for training)")
    parser.add_argument("--batch-size", type=int, default=PREDICT_BATCH, metavar="B", help="texts per forward pass")
    parser.add_argument("--int8", action="store_true", help="with an ONNX export as --model: its int8 model")
    args = parser.parse_args(argv)
    try:
        report = predict_file(Path(args.model), Path(args.input), Path(args.output), args.text_column,
                              args.batch_size, on_progress=progress_line, int8=args.int8)
    except UserError as exc:
        print(f"error: {exc.sentence}", file=sys.stderr)
        return 2
    print(summary_text(report))
    return 0


def summary_text(report: FileReport, with_path: bool = True) -> str:
    """What was written, the notes, and the evaluation's headline figures when the file had labels."""
    where = f" to {report.output}" if with_path else ""
    lines = [f"Wrote {report.rows:,} rows with predictions from column '{report.text_column}'{where}."]
    lines += report.notes
    if report.evaluation:
        final = report.evaluation["final_metrics"]
        lines.append(f"Against column '{report.label_column}' ({report.evaluation['rows']:,} rows): accuracy "
                     f"{final['accuracy']:.1%}, F1 {final['f1']:.1%} (weighted).")
    return "\n".join(lines)
