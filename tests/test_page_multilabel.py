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
