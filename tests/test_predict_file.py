"""Predictions on a whole file: `python -m core.predict`, every format, chunk boundaries, the evaluation on a file
with labels, and each bad input as one sentence with nothing left behind."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.common.errors import UserError
from core.data import stream, tables
from core.data.columns import resolve_columns
from core.training import file_predictions
from tests.conftest import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "data"
LABELS = ["negative", "neutral", "positive"]
PROBABILITIES = [f"p({name})" for name in LABELS]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A tiny random BERT saved as a run's model/ is (predictions need not be good to be checked)."""
    from core.config.schema import ModelConfig
    from core.training import models

    folder = tmp_path_factory.mktemp("tiny") / "model"
    config = ModelConfig(source="builtin", name="tiny-random")
    models.load_model(config, LABELS, seed=0).save_pretrained(folder)
    models.load_tokenizer(config).save_pretrained(folder)
    return folder


def predict_cli(*args):
    return subprocess.run([sys.executable, "-m", "core.predict", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1",
                                                       "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"})


def test_cli_writes_every_row_with_label_and_probabilities_and_scores_the_labels(model_dir, tmp_path):
    out = tmp_path / "out.csv"
    result = predict_cli("--model", model_dir, "--input", FIXTURES / "reviews.csv", "--output", out,
                         "--batch-size", 16)
    assert result.returncode == 0, result.stderr
    given, written = pd.read_csv(FIXTURES / "reviews.csv"), pd.read_csv(out)
    assert list(written.columns) == ["review", "sentiment", "predicted_label", *PROBABILITIES]
    assert written["review"].tolist() == given["review"].tolist()
    assert np.allclose(written[PROBABILITIES].sum(axis=1), 1, atol=1e-5)
    assert (written["predicted_label"] == written[PROBABILITIES].idxmax(axis=1).str[2:-1]).all()
    accuracy = (written["predicted_label"] == written["sentiment"]).mean()
    assert f"Against column 'sentiment' (90 rows): accuracy {accuracy:.1%}" in result.stdout
    assert "90/90 rows" in result.stderr  # the progress bar's last state
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]


@pytest.mark.parametrize("name", ["reviews.tsv", "reviews.jsonl", "reviews.json", "reviews.parquet"])
def test_every_format_gives_the_same_predictions(model_dir, tmp_path, name):
    reference = file_predictions.predict_file(model_dir, FIXTURES / "reviews.csv", tmp_path / "csv.csv")
    report = file_predictions.predict_file(model_dir, FIXTURES / name, tmp_path / "other.csv")
    assert (report.text_column, report.label_column) == ("review", "sentiment")
    expected, got = pd.read_csv(reference.output), pd.read_csv(report.output)
    assert got["predicted_label"].tolist() == expected["predicted_label"].tolist()
    assert np.allclose(got[PROBABILITIES], expected[PROBABILITIES], atol=1e-6)
    assert report.evaluation["confusion_matrix"] == reference.evaluation["confusion_matrix"]


def test_chunk_boundaries_change_nothing(model_dir, tmp_path, monkeypatch):
    whole = pd.read_csv(file_predictions.predict_file(model_dir, FIXTURES / "reviews.csv", tmp_path / "a.csv").output)
    monkeypatch.setattr(file_predictions, "CHUNK_ROWS", 7)  # 90 rows: 13 chunks, the last one short
    seen = []
    chunked = file_predictions.predict_file(model_dir, FIXTURES / "reviews.csv", tmp_path / "b.csv",
                                            batch_size=3, on_progress=lambda done, total: seen.append((done, total)))
    assert seen[0] == (7, 90) and seen[-1] == (90, 90) and len(seen) == 13
    pd.testing.assert_frame_equal(pd.read_csv(chunked.output), whole, atol=1e-6)


def test_rows_without_text_get_no_prediction_and_a_note(model_dir, tmp_path):
    report = file_predictions.predict_file(model_dir, FIXTURES / "blank_texts.csv", tmp_path / "out.csv")
    written = pd.read_csv(report.output)
    blank = pd.read_csv(FIXTURES / "blank_texts.csv")["review"].fillna("").str.strip() == ""
    assert blank.sum() > 0 and written.loc[blank, "predicted_label"].isna().all()
    assert written.loc[~blank, "predicted_label"].isin(LABELS).all()
    assert f"{blank.sum()} rows have no text; their prediction is left empty." in report.notes


def test_a_file_without_the_label_column_is_predicted_without_an_evaluation(model_dir, tmp_path):
    source = tmp_path / "texts.csv"
    pd.read_csv(FIXTURES / "reviews.csv")[["review"]].to_csv(source, index=False)
    report = file_predictions.predict_file(model_dir, source, tmp_path / "out.csv")
    assert report.label_column is None and report.evaluation is None and report.rows == 90


def test_a_failure_midway_leaves_no_half_written_file(model_dir, tmp_path, monkeypatch):
    def breaks_after_one_chunk(model, chunks, *args):
        yield np.full((len(next(iter(chunks))), 3), 1 / 3, dtype=np.float32)
        raise RuntimeError("the machine ran out of something")

    monkeypatch.setattr(file_predictions, "CHUNK_ROWS", 10)
    monkeypatch.setattr(file_predictions, "predict_batches", breaks_after_one_chunk)
    (tmp_path / "out").mkdir()
    with pytest.raises(RuntimeError):
        file_predictions.predict_file(model_dir, FIXTURES / "reviews.csv", tmp_path / "out" / "out.csv")
    assert list((tmp_path / "out").iterdir()) == []


def test_evaluation_from_the_confusion_matrix_matches_scikit_learn():
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    rng = np.random.default_rng(0)
    truth, predicted = rng.integers(0, 4, 500), rng.integers(0, 4, 500)
    predicted[:200] = truth[:200]
    matrix = np.zeros((4, 4), dtype=int)
    np.add.at(matrix, (truth, predicted), 1)
    ours = file_predictions.evaluation_from_confusion(matrix, list("abcd"))["final_metrics"]
    precision, recall, f1, _ = precision_recall_fscore_support(truth, predicted, average="weighted", zero_division=0)
    assert ours["accuracy"] == pytest.approx(accuracy_score(truth, predicted))
    assert (ours["precision"], ours["recall"], ours["f1"]) == pytest.approx((precision, recall, f1))


@pytest.mark.parametrize("name", ["reviews.csv", "reviews.tsv", "reviews.json", "reviews.jsonl", "reviews.parquet",
                                  "semicolon_bom.csv", "cp1252.csv"])
def test_streamed_reading_sees_the_rows_and_text_column_training_sees(name):
    frame, _ = tables.read_table(FIXTURES / name)
    opened = stream.open_table(FIXTURES / name)
    chunks = list(stream.iter_chunks(opened, 16))
    streamed = pd.concat(chunks, ignore_index=True)
    assert opened.rows == len(frame) == len(streamed) and opened.columns == list(frame.columns)
    assert streamed[frame.columns[0]].astype(str).tolist() == frame[frame.columns[0]].astype(str).tolist()
    assert stream.text_column_of(opened, chunks[0], None, "--text-column") == resolve_columns(frame, None, None,
                                                                                              None).text


def no_model(tmp_path):
    folder = tmp_path / "empty-model"
    folder.mkdir()
    return folder


def unwritable(tmp_path):
    if os.geteuid() == 0:  # root writes into any folder whatever its mode; /sys refuses even root
        return Path("/sys/out.csv")
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    return folder / "out.csv"


BAD_INPUTS = {
    "no model": (no_model, "reviews.csv", None, "--model: '", "holds no saved classifier"),
    "unwritable output folder": (None, "reviews.csv", unwritable, "--output: '", "cannot be written to; pick a folder"),
    "missing output folder": (None, "reviews.csv", lambda t: t / "nowhere" / "out.csv", "--output: the folder",
                              "does not exist"),
    "output not csv": (None, "reviews.csv", lambda t: t / "out.xlsx", "--output: 'out.xlsx'", "does not end in .csv"),
    "no text column": (None, "numbers_only.csv", None, "--text-column: no column of 'numbers_only.csv' holds text",
                       "name the column with the texts"),
    "empty file": (None, "empty.csv", None, "--input: 'empty.csv' is empty", "choose a file"),
    "header only": (None, "header_only.csv", None, "--input: 'header_only.csv' has a header but no data rows", ""),
    "unknown format": (None, "table.xlsx", None, "--input: 'table.xlsx' has the extension", "not a supported"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_one_sentence_and_nothing_is_written(model_dir, tmp_path, case):
    make_model, source, make_output, start, middle = BAD_INPUTS[case]
    output = make_output(tmp_path) if make_output else tmp_path / "out.csv"
    model = make_model(tmp_path) if make_model else model_dir
    before = sorted(tmp_path.rglob("*"))
    try:
        result = predict_cli("--model", model, "--input", FIXTURES / source, "--output", output)
    finally:
        for locked in tmp_path.glob("locked"):
            locked.chmod(0o700)
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"error: {start}") and middle in line, line
    assert sorted(tmp_path.rglob("*")) == before


def test_a_text_column_that_is_not_there_names_the_columns(model_dir, tmp_path):
    with pytest.raises(UserError, match=r"there is no column 'body' in 'reviews.csv'; the columns are: review, "
                                        r"sentiment\."):
        file_predictions.predict_file(model_dir, FIXTURES / "reviews.csv", tmp_path / "out.csv", text_column="body")
    assert not (tmp_path / "out.csv").exists()


def test_the_runs_label_column_is_found_under_its_own_name(model_dir, tmp_path):
    """A model inside a run folder: the run's dataset.json names its label column, even an unusual one."""
    run = tmp_path / "run"
    shutil.copytree(model_dir, run / "model")
    (run / "dataset.json").write_text('{"columns": {"text": "review", "label": "verdict"}}')
    (run / "config.json").write_text('{"data": {"max_length": 32}}')
    source = tmp_path / "verdicts.csv"
    pd.read_csv(FIXTURES / "reviews.csv").rename(columns={"sentiment": "verdict"}).to_csv(source, index=False)
    report = file_predictions.predict_file(run / "model", source, tmp_path / "out.csv")
    assert report.label_column == "verdict" and report.evaluation["rows"] == 90
