"""Every bad-input case of issue 3: a fixture, the config it makes, and the field and words of its sentence.

Shared by the CLI test (tests/test_bad_inputs.py) and the New run page test (tests/test_page_data.py).
"""

from dataclasses import dataclass, field

from tests.conftest import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "data"


@dataclass
class Case:
    id: str
    data: dict  # data-section keys over the file source on reviews.csv
    field: str
    words: str
    model: dict = field(default_factory=dict)


def file_data(name="reviews.csv", **more) -> dict:
    return {"source": "file", "path": str(FIXTURES / name), "train_size": 40, "eval_size": 12, "max_length": 32,
            **more}


BBC_TAGS = ["business", "entertainment", "europe", "money", "politics", "sports", "tech", "uk", "usa"]

CASES = [
    Case("empty-file", file_data("empty.csv"), "data.path", "is empty"),
    Case("header-only", file_data("header_only.csv"), "data.path", "has a header but no data rows"),
    Case("unknown-format", file_data("table.xlsx"), "data.path", "not a supported format"),
    Case("wrong-extension", file_data("not_parquet.parquet"), "data.path", "is not a Parquet file"),
    Case("text-column-missing", file_data(text_column="body"), "data.text_column", "there is no column 'body'"),
    Case("text-column-not-text", file_data("numbers_only.csv"), "data.text_column", "no column holds text"),
    Case("text-column-numbers", file_data("numbers_only.csv", text_column="rating"), "data.text_column",
         "holds numbers, not text"),
    Case("label-column-missing", file_data(label_column="stars"), "data.label_column", "there is no column 'stars'"),
    Case("one-class", file_data("one_class.csv"), "data.label_column", "has only one class ('positive')"),
    Case("missing-labels", file_data("missing_labels.csv"), "data.label_column",
         "6 of 90 rows have no label in column 'sentiment'"),
    Case("too-many-labels", file_data("many_labels.csv"), "data.label_column", "1,200 distinct values"),
    Case("train-size-too-large", file_data(train_size=500), "data.train_size", "lower it to 72 or less"),
    Case("eval-size-too-large", file_data(eval_size=100), "data.eval_size", "lower it to 18 or less"),
    Case("train-size-zero", file_data(train_size=0), "data.train_size", "must be at least 1"),
    Case("eval-too-small-for-classes", file_data(eval_size=2), "data.eval_size", "cannot cover the 3 classes"),
    Case("eval-fraction-too-small", file_data(eval_fraction=0.02, train_size=85), "data.eval_fraction", "fewer than the 3 classes"),
    Case("max-length-zero", file_data(max_length=0), "data.max_length", "must be at least 8"),
    Case("max-length-above-model", file_data(max_length=1024), "data.max_length", "takes at most 512 tokens"),
    Case("not-a-model", file_data(), "model.path", "is not a saved model",
         model={"source": "path", "path": str(FIXTURES / "not_a_model")}),
    # Multi-label data (issue 16).
    Case("multilabel-empty-lists", file_data("tags_empty_lists.jsonl"), "data.label_column",
         "column 'tags' holds an empty list of labels in every row"),
    Case("multilabel-not-zero-one", file_data("tags_not_binary.csv", label_columns=BBC_TAGS),
         "data.label_columns", "column 'tech' holds '2', not only 0 and 1"),
    Case("multilabel-label-in-no-text", file_data("tags_unused_label.csv", label_columns=[*BBC_TAGS, "weather"]),
         "data.label_columns", "label 'weather' is carried by no text"),
    Case("multilabel-label-only-in-eval", file_data("bbc_tags.csv", eval_path=str(FIXTURES / "tags_eval_new_label.csv")),
         "data.eval_path", "label 'weather' appears in the eval data but in no training text"),
    Case("path-tricks", file_data(path="../../etc/passwd.csv"), "data.path", "climbs out of its folder"),
    Case("hub-name-tricks", {"source": "hub", "name": "../../etc/passwd"}, "data.name", "is not a Hub data set id"),
    Case("hub-offline", {"source": "hub", "name": "imdb"}, "data.name", "offline mode is on"),
    Case("hub-model-offline", file_data(), "model.name", "offline mode is on",
         model={"source": "hub", "name": "distilbert-base-uncased"}),
]


def config_for(case: Case) -> dict:
    return {"name": case.id, "data": case.data, "model": {"name": "tiny-random", **case.model},
            "hardware": {"device": "cpu"}, "training": {"num_train_epochs": 1}}
