"""Data from files and Hub-style folders: formats, encodings, separators, columns, labels, splits; uploads; preview."""

import tomllib

import pandas as pd
import pytest

from core.common.errors import UserError
from core.config.schema import DataConfig
from core.data import columns, prepare, uploads
from core.data.sources import load_hub_frames
from core.views import preview
from tests.bad_inputs import FIXTURES
from tests.conftest import ROOT


def load(name, **fields):
    return prepare.load(DataConfig(source="file", path=str(FIXTURES / name), **fields))


@pytest.mark.parametrize("name", ["reviews.csv", "reviews.tsv", "reviews.json", "reviews.jsonl", "reviews.parquet"])
def test_every_format_gives_the_same_rows_and_columns(name):
    loaded = load(name)
    reference = load("reviews.csv")
    assert (loaded.columns.text, loaded.columns.label) == ("review", "sentiment")
    assert loaded.label_names == ["negative", "neutral", "positive"]
    assert loaded.train.equals(reference.train) and not loaded.notes


def test_semicolons_and_a_byte_order_mark_are_handled_and_said():
    loaded = load("semicolon_bom.csv")
    assert loaded.columns.text == "review" and len(loaded.train) == 90
    assert any("byte-order mark" in n for n in loaded.notes) and any("semicolons" in n for n in loaded.notes)


def test_a_windows_encoded_file_is_read_and_the_encoding_named():
    loaded = load("cp1252.csv")
    assert any("read as cp1252" in note for note in loaded.notes)
    assert loaded.train["text"].str.contains("café").any()


def test_blank_texts_are_dropped_with_a_count():
    loaded = load("blank_texts.csv")
    assert len(loaded.train) == 87 and "Dropped 3 rows whose text is empty or only spaces." in loaded.notes


def test_rows_without_a_label_can_be_dropped_on_request():
    loaded = load("missing_labels.csv", drop_missing_labels=True)
    assert len(loaded.train) == 84 and "Dropped 6 rows without a label." in loaded.notes


def test_boolean_labels_are_detected_by_few_values_and_ordered():
    loaded = load("bool_labels.csv")
    assert (loaded.columns.text, loaded.columns.label) == ("sentence", "is_positive")
    assert loaded.label_names == ["False", "True"]


def test_integer_labels_are_ordered_as_numbers():
    labels = pd.Series([10, 2, 1, 2, 10])
    assert columns.label_names_of(labels, None) == ["1", "2", "10"]
    assert columns.label_strings(labels, None).tolist() == ["10", "2", "1", "2", "10"]
    with pytest.raises(UserError, match="decimal numbers"):
        columns.label_names_of(pd.Series([0.5, 1.25]), None)


def test_sentence_pairs_are_detected():
    frame = pd.DataFrame({"sentence1": ["a b", "c d"], "sentence2": ["e f", "g h"], "label": [0, 1]})
    found = columns.resolve_columns(frame, None, None, None)
    assert (found.text, found.text_pair, found.label) == ("sentence1", "sentence2", "label")


def test_the_eval_split_is_carved_stratified_and_seeded():
    config = DataConfig(source="file", path=str(FIXTURES / "reviews.csv"), train_size=60, eval_size=18,
                        eval_fraction=0.2, seed=3)
    splits = prepare.prepare(config)
    assert splits.summary()["eval_counts"] == {"negative": 6, "neutral": 6, "positive": 6}
    assert not set(splits.train["text"]) & set(splits.eval["text"])
    assert prepare.prepare(config).train["text"].tolist() == splits.train["text"].tolist()


def test_an_eval_file_is_used_as_the_eval_split():
    config = DataConfig(source="file", path=str(FIXTURES / "reviews.csv"), eval_path=str(FIXTURES / "reviews.tsv"),
                        train_size=90, eval_size=30)
    splits = prepare.prepare(config)
    assert len(splits.train) == 90 and splits.eval_overlap() == 30  # the same rows: all of them leak
    assert any(f.code == "EVAL_LEAKAGE" and "30 of 30" in f.evidence for f in preview.data_warnings(splits))


@pytest.fixture(scope="module")
def hub_folder(tmp_path_factory):
    """A local data set folder that datasets.load_dataset reads: a ClassLabel, a test split, and a validation
    split whose labels are hidden (-1, as in GLUE), which must not be picked for evaluation."""
    from datasets import ClassLabel, Dataset, Features, Value

    folder = tmp_path_factory.mktemp("hub")
    features = Features({"sentence": Value("string"), "label": ClassLabel(names=["neg", "pos"])})
    splits = {"train": {"sentence": [f"good {i}" if i % 2 else f"bad {i}" for i in range(40)],
                        "label": [i % 2 for i in range(40)]},
              "test": {"sentence": ["great", "awful", "meh"], "label": [1, 0, -1]},
              "validation": {"sentence": ["x", "y"], "label": [-1, -1]}}
    for name, rows in splits.items():
        Dataset.from_dict(rows, features=features).to_parquet(str(folder / f"{name}.parquet"))
    return folder


def test_a_hub_style_folder_loads_with_its_class_names_and_test_split(hub_folder):
    train, eval_frame, class_labels, notes = load_hub_frames(str(hub_folder), None, "train", None)
    assert len(train) == 40 and len(eval_frame) == 3 and class_labels == {"label": ["neg", "pos"]}
    assert notes == ["Using the data set's own 'test' split for evaluation."]
    config = DataConfig(source="hub", name="x", drop_missing_labels=True)
    loaded = prepare.build((train, eval_frame, class_labels, notes), config)
    assert loaded.label_names == ["neg", "pos"] and loaded.eval["label"].tolist() == ["pos", "neg"]
    assert "Dropped 1 eval rows without a label." in loaded.notes  # -1 is the Hub's 'no label'
    with pytest.raises(UserError, match="has no split 'dev'"):
        load_hub_frames(str(hub_folder), None, "train", "dev")


def test_uploads_get_a_safe_name_under_the_runs_folder(tmp_path):
    assert uploads.sanitize_filename("../../etc/My data (1).CSV") == "My-data-1.csv"
    assert uploads.sanitize_filename("..\\evil\\.bashrc") == "data.bashrc"
    stored = uploads.store_upload(tmp_path, "../x/reviews.csv", b"review,sentiment\nok,positive\n")
    assert stored.parent == tmp_path / "data" and stored.name.endswith("-reviews.csv")
    assert uploads.store_upload(tmp_path, "reviews.csv", stored.read_bytes()) == stored


def test_an_upload_above_the_limit_is_one_sentence_and_not_stored(tmp_path):
    with pytest.raises(UserError) as err:
        uploads.store_upload(tmp_path, "big.csv", b"x" * (2 * 1024 * 1024 + 1), limit_mb=1)
    assert err.value.sentence == ("data.path: 'big.csv' is 2 MB, above the 1 MB upload limit; upload a sample of "
                                  "it, or give its path on this machine.")
    assert not (tmp_path / "data").exists()


def test_the_upload_limit_matches_streamlits():
    settings = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert settings["server"]["maxUploadSize"] == uploads.UPLOAD_LIMIT_MB


def test_suggested_max_length_covers_95_percent():
    lengths = list(range(1, 101))
    summary = preview.length_summary(lengths, max_length=50)
    assert summary["truncated_share"] == 0.5 and summary["suggested_max_length"] == 96
    assert preview.length_summary(lengths, 50, model_limit=64)["suggested_max_length"] == 64


def test_a_small_eval_set_is_a_warning_naming_the_thin_classes():
    summary = {"eval_size": 30, "eval_counts": {"a": 27, "b": 3}, "label_names": ["a", "b"]}
    finding = preview.eval_set_too_small(summary)
    assert finding.severity == "warning" and "30 rows" in finding.evidence and "'b' has fewer than 5" in finding.evidence
    assert "Raise the eval subset size to about 50 so that 'b' has 5 examples" in finding.fix
    rare = {"eval_size": 500, "eval_counts": {"a": 480, "b": 18, "c": 2}, "label_names": ["a", "b", "c"]}
    assert "to about 1,250 so that 'c' has 5 examples" in preview.eval_set_too_small(rare).fix
    assert preview.eval_set_too_small({"eval_size": 60, "eval_counts": {"a": 30, "b": 30}}) is None
