"""Multi-label data on the New run page (detection, preview, metric choices, threshold) and a multi-label run's
Live run page (its metrics on the chart, the per-label report), through AppTest."""

import json
import shutil
from unittest import mock

import pytest
from streamlit.testing.v1 import AppTest

from tests.bad_inputs import FIXTURES
from tests.conftest import ROOT
from tests.test_page_data import set_field, use_file, widget


@pytest.fixture
def app(runs_dir):
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=90).run()


def test_separated_tags_are_detected_and_previewed_with_frequencies(app, runs_dir):
    set_field(app, "form.model.name", "tiny-random")
    use_file(app, FIXTURES / "bbc_tags.csv")
    assert not app.exception and not app.error
    assert widget(app, "form.data.label_column").value == "tags"
    assert any("Task: **multi-label** (detected): column 'tags' holds labels separated by '|'" in c.value
               for c in app.caption)
    assert widget(app, "form.data.label_separator").value == "|"
    assert any("Share of training texts carrying each label: uk" in c.value for c in app.caption)
    assert len(app.get("plotly_chart")) == 3  # texts per label, labels per text, token lengths
    # The best-model metric follows the data: the multi-label metrics only, micro F1 for the default f1.
    metric = widget(app, "form.training.metric_for_best_model")
    assert metric.value == "f1_micro" and "accuracy" not in metric.options and "subset_accuracy" in metric.options
    set_field(app, "form.training.tune_thresholds", True)
    assert any("optimistic" in c.value for c in app.caption)
    with mock.patch("core.runner.launcher.start_run", return_value=runs_dir / "x") as start:
        app.button(key="start").click().run()
    config = start.call_args.args[0]
    assert config.data.task == "auto" and config.training.metric_for_best_model == "f1_micro"
    assert config.training.tune_thresholds is True


def test_zero_one_columns_are_picked_on_the_page(app, runs_dir):
    set_field(app, "form.model.name", "tiny-random")
    use_file(app, FIXTURES / "bbc_tags_binary.csv")
    picker = next(w for w in app.multiselect if w.key == "form.data.label_columns")
    picker.set_value(["business", "politics", "sports", "uk"]).run()
    assert not app.exception and not app.error, [e.value for e in app.error]
    assert any("Task: **multi-label** (detected): 4 columns of 0/1, one per label" in c.value for c in app.caption)
    assert any("`0` business · `1` politics · `2` sports · `3` uk" in m.value for m in app.markdown)


def test_choosing_single_label_switches_back_to_single_label_metrics(app):
    use_file(app, FIXTURES / "bbc_tags.csv")
    set_field(app, "form.data.task", "single_label")
    assert any("Task: **single-label**" in c.value for c in app.caption)
    assert widget(app, "form.training.metric_for_best_model").value == "f1"


def test_the_zero_one_picker_offers_only_columns_of_zeros_and_ones(app):
    use_file(app, FIXTURES / "tags_not_binary.csv")
    picker = next(w for w in app.multiselect if w.key == "form.data.label_columns")
    assert "business" in picker.options and "tech" not in picker.options  # 'tech' holds a 2


ML_NAMES = ["politics", "sports", "uk"]
ML_RESULTS = {"task": "multi_label", "label_names": ML_NAMES, "model_dir": "/tmp/x/model", "threshold": 0.5,
              "final_metrics": {"f1_micro": 0.81, "f1_macro": 0.77, "precision_micro": 0.84, "recall_micro": 0.78,
                                "subset_accuracy": 0.55, "loss": 0.21},
              "per_class": [{"label": n, "precision": 0.8, "recall": 0.7, "f1": 0.75, "support": 10, "threshold": 0.5,
                             "true_positives": 7, "false_positives": 2, "false_negatives": 3, "true_negatives": 48}
                            for n in ML_NAMES],
              "co_occurrence": [[10, 1, 6], [1, 10, 4], [6, 4, 10]],
              "thresholds_note": "Thresholds were tuned per label on the eval set, so the final eval scores are "
                                 "optimistic."}


def multi_label_curve():
    trains = [{"type": "train", "step": s, "epoch": s / 40, "loss": loss, "learning_rate": 1e-4, "grad_norm": 1.0}
              for s, loss in zip(range(10, 130, 10), [.69, .6, .5, .42, .36, .3, .27, .24, .22, .2, .19, .18])]
    evals = [{"type": "eval", "step": s, "epoch": s / 40, "eval_loss": loss, "eval_f1_micro": f1,
              "eval_f1_macro": f1 - 0.05, "eval_precision_micro": f1 + 0.03, "eval_recall_micro": f1 - 0.03,
              "eval_subset_accuracy": f1 - 0.3, "eval_no_label_share": 0.1, "eval_labels_per_text": 1.4}
             for s, loss, f1 in ((40, 0.4, 0.6), (80, 0.3, 0.78), (120, 0.28, 0.76))]
    return trains + evals


def test_live_run_plots_the_multi_label_metrics_and_the_per_label_report(runs_dir):
    from tests.test_page_live_charts import eval_table, figure
    from tests.test_page_live_run import all_text, make_run, open_live

    run_dir = make_run(runs_dir, "20260101-000000", "completed", multi_label_curve(), results=ML_RESULTS)
    (run_dir / "dataset.json").write_text(json.dumps({
        "task": "multi_label", "num_labels": 3, "label_names": ML_NAMES, "majority_rate": 0.2, "eval_size": 60,
        "chance_loss": 0.6, "baseline_f1_micro": 0.42, "train_counts": {n: 40 for n in ML_NAMES}}))
    app = open_live()
    assert not app.exception
    names = {t["name"] for t in figure(app, "metrics_chart")["data"]}
    assert {"f1_micro", "f1_macro", "precision_micro", "recall_micro", "subset_accuracy"} <= names
    assert "accuracy" not in names
    table = eval_table(app)  # the config's metric f1 is read as micro F1: step 80 is the best
    assert list(table["best"]) == ["", "★ best", ""] and "f1 micro" in table.columns
    text = all_text(app)
    assert "Best evaluation: step 80 (epoch 2.00), f1_micro 78.0%" in text
    assert "would score 42.0% micro F1" in text and "optimistic" in text
    per_label = next(df.value for df in app.dataframe if "missed" in df.value.columns)
    assert list(per_label.index) == ML_NAMES and list(per_label["extra"]) == [2, 2, 2]
    assert figure(app, "co_occurrence_chart")["data"][0]["z"][0] == [10, 1, 6]
    assert not [c for c in app.get("plotly_chart") if c.proto.id.endswith("-confusion_chart")]
    # No false alarm: a learning multi-label run is not "stuck" and answers no "one class".
    assert "not learning" not in text and "one class" not in text
