"""Unequal classes on the pages: the CLASS_IMBALANCE finding relaunches with balanced class weights and macro F1,
a finished run shows macro F1 and its weights, and the New run form refuses bad weights with one sentence."""

import json
from unittest import mock

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT
from tests.test_page_live_run import make_run, open_live, overfitting_curve, RESULTS

UNEQUAL = {"num_labels": 3, "majority_rate": 0.42, "label_names": ["negative", "neutral", "positive"],
           "train_counts": {"negative": 300, "neutral": 200, "positive": 15},
           "eval_counts": {"negative": 100, "neutral": 100, "positive": 100}}


def unequal_run(runs_dir, dataset=UNEQUAL, results=RESULTS):
    run_dir = make_run(runs_dir, "20260101-000000", "completed", overfitting_curve(), results=results)
    (run_dir / "dataset.json").write_text(json.dumps(dataset))
    return run_dir


def test_class_imbalance_relaunches_with_balanced_weights_and_macro_f1(runs_dir):
    unequal_run(runs_dir)
    app = open_live()
    warning = next(w for w in app.warning if "very unequal in size" in w.body)
    assert "'positive' only 15 (20x fewer)" in warning.body and "macro F1" in warning.body
    button = app.button(key="fix_CLASS_IMBALANCE")
    assert "Apply fix & relaunch (class_weights = balanced, metric_for_best_model = f1_macro)" in button.label
    with mock.patch("core.runner.launcher.start_run", return_value=runs_dir / "20260102-000000-fixed") as start:
        button.click().run()
    config = start.call_args.args[0]
    assert config.training.class_weights == "balanced" and config.training.metric_for_best_model == "f1_macro"
    assert config.data.train_size == 2000  # nothing else changed
    assert start.call_args.kwargs["lineage"]["applied_for"] == "CLASS_IMBALANCE"


def test_a_finished_run_shows_macro_and_weighted_f1_and_the_weights_it_used(runs_dir):
    results = {**RESULTS, "final_metrics": {**RESULTS["final_metrics"], "f1_macro": 0.61, "f1_weighted": 0.84}}
    unequal_run(runs_dir, {**UNEQUAL, "class_weights": {"negative": 0.57, "neutral": 0.86, "positive": 11.4}},
                results)
    app = open_live()
    shown = {m.label: m.value for m in app.metric}
    assert shown["F1 weighted"] == "84.0%" and shown["F1 macro"] == "61.0%"
    assert any("class weights in the loss: negative 0.57, neutral 0.86, positive 11.4" in c.value
               for c in app.caption)


@pytest.fixture
def new_run(runs_dir):
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=90).run()


@pytest.mark.parametrize("typed,sentence", [
    ("positive=0", "Class weights: the weight of 'positive' is 0; weights must be above 0"),
    ("positive=three", "Class weights: the weight of 'positive' is 'three', not a number"),
    ("postive=3", "Class weights: 'postive' is not a label of this data (its labels: negative, neutral, "
                  "positive); weigh only those labels, or use balanced."),
])
def test_bad_class_weights_are_one_sentence_and_start_stays_off(new_run, runs_dir, typed, sentence):
    new_run.text_input(key="form.training.class_weights").set_value(typed).run()
    assert not new_run.exception
    assert any(e.value.startswith(sentence) for e in new_run.error), [e.value for e in new_run.error]
    assert new_run.button(key="start").disabled
    assert not list(runs_dir.iterdir())


def test_weights_and_oversampling_from_the_form_reach_the_run(new_run, runs_dir):
    new_run.text_input(key="form.training.class_weights").set_value("negative=1, positive=3").run()
    new_run.checkbox(key="form.data.oversample").check().run()
    assert not new_run.error, [e.value for e in new_run.error]
    assert any("Oversampled the training subset" in i.body for i in new_run.info)
    with mock.patch("core.runner.launcher.start_run", return_value=runs_dir / "20260101-000000-x") as start:
        new_run.button(key="start").click().run()
    config = start.call_args.args[0]
    assert config.training.class_weights == {"negative": 1.0, "positive": 3.0} and config.data.oversample


def unequal_csv(path):
    """200 'common' and 10 'rare' texts (20:1), told apart by a word."""
    lines = ["text,label"] + [f"an ordinary message number {i},common" for i in range(200)] + \
            [f"an unusual urgent message number {i},rare" for i in range(10)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_the_preview_warns_of_unequal_classes_and_applies_class_weights_and_macro_f1(new_run, tmp_path):
    new_run.selectbox(key="form.model.name").select("tiny-random").run()
    new_run.selectbox(key="form.data.source").select("file").run()
    new_run.text_input(key="form.data.path").set_value(str(unequal_csv(tmp_path / "unequal.csv"))).run()
    warning = next(w for w in new_run.warning if "very unequal in size" in w.body)
    assert "'common' has" in warning.body and "'rare' only" in warning.body
    new_run.button(key="preview_CLASS_IMBALANCE").click().run()
    assert new_run.text_input(key="form.training.class_weights").value == "balanced"
    assert new_run.selectbox(key="form.training.metric_for_best_model").value == "f1_macro"
    assert not new_run.button(key="start").disabled
    # Once applied, the preview says the classes are weighted and offers nothing more to apply.
    assert any("already weighted" in w.body for w in new_run.warning)
    assert not [b for b in new_run.button if b.key == "preview_CLASS_IMBALANCE"]
