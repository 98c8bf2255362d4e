"""Multi-label data, metrics and diagnostics as plain functions: the three label shapes, task detection, the
summary's frequencies and baseline, stratified subsets, metric names, and rules that judge against label frequencies."""

import json

import numpy as np
import pandas as pd
import pytest

from core.common.errors import UserError
from core.config.schema import metric_for_data, RunConfig
from core.data import multilabel, prepare
from core.diagnostics.diagnose import run_findings
from core.diagnostics.multilabel_rules import stuck_at_label_frequencies
from core.rundir import runs
from core.training import multilabel_metrics as mlm
from tests.bad_inputs import FIXTURES


def frame_of(labels):
    return pd.DataFrame({"text": [f"text number {i}" for i in range(len(labels))], "tags": labels})


def test_json_and_python_lists_in_a_text_column_are_lists_of_labels():
    frame = frame_of(['["sports", "uk"]', "['politics']", "[]", '["tech"]'])
    shape = multilabel.label_shape(frame, "tags")
    assert (shape.task, shape.shape) == ("multi_label", "lists")
    assert multilabel.label_tuples(frame, "tags", shape).tolist() == [("sports", "uk"), ("politics",), (), ("tech",)]


def test_lists_from_parquet_or_the_hub_and_class_label_ids_become_names():
    frame = frame_of([np.array([0, 2]), np.array([1]), np.array([], dtype=int)])
    shape = multilabel.label_shape(frame, "tags")
    names = ["joy", "anger", "fear"]
    assert multilabel.label_tuples(frame, "tags", shape, class_names=names).tolist() == [("joy", "fear"), ("anger",), ()]


@pytest.mark.parametrize("separator", ["|", ";", ","])
def test_separated_strings_are_detected_with_their_separator(separator):
    labels = [separator.join(p) for p in (["sports", "uk"], ["politics"], ["tech", "usa", "uk"], ["sports"])] * 5
    shape = multilabel.label_shape(frame_of(labels), "tags")
    assert (shape.task, shape.shape, shape.separator) == ("multi_label", "separated", separator)
    assert multilabel.label_tuples(frame_of(labels), "tags", shape).iloc[2] == ("tech", "usa", "uk")


def test_class_names_with_a_comma_inside_stay_single_label():
    labels = ["Arts, Culture", "Business", "Science", "Arts, Culture", "Business"] * 4
    assert multilabel.label_shape(frame_of(labels), "tags").task == "single_label"
    assert multilabel.label_shape(frame_of(["positive", "negative"] * 10), "tags").task == "single_label"


def test_the_separator_and_the_task_can_be_set_by_hand():
    labels = ["a/b", "c", "a/c", "b"] * 5
    shape = multilabel.label_shape(frame_of(labels), "tags", "multi_label", separator="/")
    assert shape.separator == "/" and multilabel.label_tuples(frame_of(labels), "tags", shape).iloc[0] == ("a", "b")
    assert multilabel.label_shape(frame_of(["a|b", "c"] * 10), "tags", "single_label").task == "single_label"


def test_zero_one_columns_become_label_tuples_and_anything_else_is_refused():
    frame = pd.DataFrame({"text": ["x", "y", "z"], "sports": [1, 0, 1], "uk": [True, False, True], "tech": [0, 1, 0]})
    assert multilabel.binary_columns(frame, ["sports", "uk", "tech"]).tolist() == [("sports", "uk"), ("tech",),
                                                                                    ("sports", "uk")]
    frame.loc[1, "tech"] = 2
    with pytest.raises(UserError, match="column 'tech' holds '2', not only 0 and 1") as caught:
        multilabel.binary_columns(frame, ["sports", "uk", "tech"])
    assert caught.value.field == "data.label_columns"


def data(name, **more):
    return RunConfig.from_dict({"data": {"source": "file", "path": str(FIXTURES / name), "train_size": 200,
                                         "eval_size": 60, **more}}).data


SHAPES = [("bbc_tags.jsonl", {}), ("bbc_tags_binary.csv", {"label_columns": ["business", "entertainment", "europe",
                                                                             "money", "politics", "sports", "tech",
                                                                             "uk", "usa"]})]


@pytest.mark.parametrize("name, more", SHAPES, ids=["json-lists", "zero-one-columns"])
def test_the_three_shapes_of_one_data_set_give_the_same_subsets(name, more):
    """The same 120 articles as JSON lists and as 0/1 columns read as the same labels as separated strings."""
    separated = prepare.prepare(data("bbc_tags.csv", train_size=80, eval_size=24))
    other = prepare.prepare(data(name, train_size=80, eval_size=24, **more))
    assert other.task == "multi_label" and other.label_names == separated.label_names
    first_120 = pd.read_csv(FIXTURES / "bbc_tags.csv").head(120)
    expected = {t: tuple(tags.split("|")) for t, tags in zip(first_120["text"], first_120["tags"])}
    assert all(set(label) == set(expected[text]) for text, label in zip(other.train["text"], other.train["label"]))


def test_summary_has_label_frequencies_labels_per_text_and_the_baselines():
    splits = prepare.prepare(data("bbc_tags.csv"))
    summary = splits.summary()
    assert summary["task"] == "multi_label" and summary["num_labels"] == 9
    assert sum(summary["labels_per_text"].values()) == 200
    # Counts are of texts carrying each label; the five topics are one per text.
    topics = ("business", "entertainment", "politics", "sports", "tech")
    assert sum(summary["train_counts"][t] for t in topics) == 200
    assert 0 < summary["chance_loss"] < np.log(9) and 0 < summary["baseline_f1_micro"] < 1
    assert any("rarest label" in note for note in splits.notes)
    json.dumps(summary)  # dataset.json


def test_stratifying_by_the_rarest_label_keeps_a_rare_label_in_both_subsets():
    labels = ["common"] * 90 + ["common|rare"] * 10
    frame = pd.DataFrame({"text": [f"t{i}" for i in range(100)], "tags": labels})
    path = FIXTURES.parent.parent / "tmp_rare.csv"
    try:
        frame.to_csv(path, index=False)
        config = RunConfig.from_dict({"data": {"source": "file", "path": str(path), "train_size": 50,
                                               "eval_size": 20}}).data
        splits = prepare.prepare(config)
    finally:
        path.unlink()
    rare = multilabel.label_counts(splits.train["label"], ["rare"])["rare"]
    assert rare == 5 and multilabel.label_counts(splits.eval["label"], ["rare"])["rare"] == 2


def test_multi_label_metrics_have_the_record_names():
    labels = np.array([[1, 0, 1], [0, 1, 0], [1, 0, 0], [0, 0, 1]], dtype=float)
    logits = np.array([[3.0, -3, 2], [-3, 2, -3], [2, 1, -2], [-2, -2, -2]])
    scores = mlm.compute_multilabel_metrics((logits, labels), 0.5)
    # Predicted: [1,0,1], [0,1,0], [1,1,0], [0,0,0]: 4 right, 1 extra, 1 missed.
    assert scores["precision_micro"] == pytest.approx(4 / 5) and scores["recall_micro"] == pytest.approx(4 / 5)
    assert scores["f1_micro"] == pytest.approx(0.8) and scores["subset_accuracy"] == pytest.approx(0.5)
    assert scores["no_label_share"] == pytest.approx(0.25)
    assert {"f1_micro", "f1_macro", "precision_micro", "recall_micro", "subset_accuracy"} <= set(scores)


def test_tuned_thresholds_and_the_per_label_report():
    labels = np.array([[1, 0], [1, 0], [0, 1], [0, 0]])
    probs = np.array([[0.3, 0.1], [0.35, 0.2], [0.1, 0.9], [0.05, 0.2]])
    tuned = mlm.tune_thresholds(labels, probs, 0.5)
    assert tuned[0] <= 0.3 and tuned[0] > 0.1  # label 0 is only found below 0.5
    report = mlm.report(labels, probs, tuned, ["a", "b"])
    assert report["per_class"][0]["true_positives"] == 2 and report["per_class"][0]["false_positives"] == 0
    assert report["co_occurrence"] == [[2, 0], [0, 1]]


def test_best_model_metric_follows_the_task():
    assert metric_for_data("f1", True) == ("f1_micro", "metric_for_best_model 'f1' means 'f1_micro' on multi-label "
                                                       "data.")
    assert metric_for_data("loss", True) == ("loss", None) and metric_for_data("f1", False) == ("f1", None)
    with pytest.raises(UserError, match="'subset_accuracy' is a multi-label metric"):
        metric_for_data("subset_accuracy", False)
    assert metric_for_data("f1_macro", False) == ("f1_macro", None)  # macro F1: a name both kinds of run record


SPARSE = {"task": "multi_label", "chance_loss": 0.2, "baseline_f1_micro": 0.0, "num_labels": 20, "eval_size": 100,
          "majority_rate": 0.3, "label_names": [f"l{i}" for i in range(20)]}


def curve(losses, f1s, no_label=0.9):
    trains = [{"type": "train", "step": 20 * (i + 1), "loss": v, "learning_rate": 1e-4, "grad_norm": 1.0}
              for i, v in enumerate(losses)]
    evals = [{"type": "eval", "step": 20 * (i + 1) * len(losses) // len(f1s), "eval_loss": losses[-1],
              "eval_f1_micro": f, "eval_no_label_share": no_label} for i, f in enumerate(f1s)]
    return trains + evals


def test_sparse_labels_that_are_learned_raise_no_alarm(tmp_path):
    """Most texts carry no label, so the model answers 'no label' for 90% of them: it learns, it is not stuck."""
    records = curve([0.6, 0.3, 0.19, 0.12, 0.09, 0.07, 0.06, 0.05, 0.05, 0.04], [0.2, 0.45, 0.6])
    status = {"state": "completed", "progress": {"max_steps": 200}}
    assert stuck_at_label_frequencies(records, SPARSE, 200) is None
    run = tmp_path / "run"
    run.mkdir()
    for name, value in (("dataset.json", SPARSE), ("config.json", {"training": {"learning_rate": 1e-4}})):
        (run / name).write_text(json.dumps(value))
    codes = {f.code for f in run_findings(run, status, records)}
    assert not codes & {"STUCK_AT_CHANCE", "ONE_CLASS_PREDICTED", "LABEL_NOISE", "DIVERGING"}


def test_a_model_stuck_at_the_label_frequencies_is_found():
    records = curve([0.21, 0.2, 0.2, 0.21, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2], [0.0, 0.0, 0.0], no_label=1.0)
    finding = stuck_at_label_frequencies(records, SPARSE, 200)
    assert finding is not None and finding.code == "STUCK_AT_CHANCE"
    assert "predicting each label's frequency scores 0.200" in finding.evidence
    assert "100% of eval texts get no label" in finding.evidence


def test_the_built_in_data_sets_are_single_label():
    with pytest.raises(UserError, match="one label per text") as caught:
        RunConfig.from_dict({"data": {"task": "multi_label"}})
    assert caught.value.field == "data.task"
    with pytest.raises(UserError, match="must be a list of column names"):
        RunConfig.from_dict({"data": {"source": "file", "path": "/tmp/x.csv", "label_columns": "a,b"}})


def test_compare_runs_table_and_sweeps_read_f1_as_micro_f1_on_multi_label_runs():
    from core.search.trials import best_value
    from core.views.compare import compare_metric_figure

    single = [{"type": "eval", "step": 10, "eval_loss": 0.5, "eval_f1": 0.7}]
    multi = curve([0.5, 0.4], [0.55, 0.65])
    figure = compare_metric_figure({"single": single, "multi": multi}, "f1")
    assert [list(t.y) for t in figure.data] == [[0.7], [0.55, 0.65]]
    assert best_value(multi, "f1") == 0.65 and best_value(multi, "f1_macro") is None


@pytest.mark.parametrize("name, more", [("bbc_tags.csv", {}), *SHAPES], ids=["separated", "json-lists", "zero-one"])
def test_the_reproduce_script_reads_the_same_labels_for_each_shape(tmp_path, name, more):
    from core.runner import export
    from tests.test_reproduce import run_config, script_namespace

    config = run_config({"source": "file", "path": str(FIXTURES / name), "train_size": 60, "eval_size": 24, **more})
    namespace = script_namespace(tmp_path, export.reproduce_script(config))
    assert namespace["PROBLEM_TYPE"] == "multi_label_classification"
    train, evaluation = namespace["load_splits"]()
    ours = prepare.prepare(RunConfig.from_dict(config).data)
    for theirs, mine in ((train, ours.train), (evaluation, ours.eval)):
        assert list(theirs["text"]) == list(mine["text"])
        assert [tuple(labels) for labels in theirs["label"]] == list(mine["label"])


def test_the_reproduce_script_tunes_each_labels_threshold_as_the_run_did(tmp_path):
    """A run with tune_thresholds stored per-label thresholds with its model; the script's saved model must carry
    the thresholds the dashboard would pick from the same eval predictions."""
    from types import SimpleNamespace

    from core.runner import export
    from tests.test_reproduce import pyflakes_warnings, run_config, script_namespace

    data = {"source": "file", "path": str(FIXTURES / "bbc_tags.csv"), "train_size": 60, "eval_size": 24}
    plain = export.reproduce_script(run_config(data))
    script = export.reproduce_script(run_config(data, tune_thresholds=True, threshold=0.4))
    assert "tune_thresholds" not in plain and pyflakes_warnings(script) == ""
    namespace = script_namespace(tmp_path, script)
    names = namespace["LABEL_NAMES"]
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, (24, len(names)))
    logits = rng.normal(0, 1, (24, len(names))) + 1.5 * labels  # informative, so thresholds differ per label
    saved = {}

    class Trainer:
        eval_dataset = "eval rows"
        model = SimpleNamespace(config=SimpleNamespace())

        def predict(self, dataset):
            assert dataset == "eval rows"
            return SimpleNamespace(predictions=logits, label_ids=labels)

        def save_model(self, folder):
            saved.update(vars(self.model.config), folder=folder)

    namespace["save"](Trainer(), "out")
    from core.training import multilabel_metrics as mlm

    ours = mlm.tune_thresholds(labels, 1 / (1 + np.exp(-logits)), 0.4)
    assert saved["label_thresholds"] == dict(zip(names, ours)) and saved["threshold"] == 0.4
    assert len(set(ours)) > 1
