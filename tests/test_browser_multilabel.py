"""In real Chromium: a multi-label file is detected and previewed on New run, and a multi-label run's Live run page
shows its metrics and per-label report."""

import json

from tests.bad_inputs import FIXTURES
from tests.test_browser import browser, choose, pytestmark, server, shot  # noqa: F401 - fixtures
from tests.test_browser_data import PLOT_TRACES
from tests.test_page_live_run import make_run
from tests.test_page_multilabel import ML_NAMES, ML_RESULTS, multi_label_curve


def test_an_uploaded_tags_file_is_previewed_as_multi_label(server, browser):
    url, _ = server
    page = browser.new_page(viewport={"width": 1400, "height": 1400})
    page.goto(url)
    page.locator(".st-key-start button").wait_for(timeout=60000)
    choose(page, "form-data-source", "file")
    page.locator(".st-key-upload input[type=file]").set_input_files(str(FIXTURES / "bbc_tags.csv"))
    page.wait_for_function(PLOT_TRACES, arg="labels_per_text_chart", timeout=90000)
    assert page.get_by_text("(detected): column 'tags' holds labels separated by '|'").count() == 1
    assert page.evaluate(PLOT_TRACES, "class_balance_chart") == 2
    page.locator(".st-key-data_preview").scroll_into_view_if_needed()
    shot(page, "multilabel_preview")
    page.close()


def test_a_multi_label_run_shows_its_metrics_and_per_label_report(server, browser):
    url, runs_dir = server
    run_dir = make_run(runs_dir, "20260101-000000-tags", "completed", multi_label_curve(), results=ML_RESULTS)
    (run_dir / "dataset.json").write_text(json.dumps({
        "task": "multi_label", "num_labels": 3, "label_names": ML_NAMES, "majority_rate": 0.2, "eval_size": 60,
        "chance_loss": 0.6, "baseline_f1_micro": 0.42, "train_counts": {n: 40 for n in ML_NAMES}}))
    page = browser.new_page(viewport={"width": 1400, "height": 1800})
    page.goto(f"{url}/live?run={run_dir.name}")
    page.wait_for_function(PLOT_TRACES, arg="co_occurrence_chart", timeout=60000)
    # Five multi-label metrics (raw lines are drawn only with 10 or more evaluations).
    page.wait_for_function(f"() => ({PLOT_TRACES})('metrics_chart') >= 5", timeout=30000)
    assert page.get_by_text("would score 42.0% micro F1").count() == 1
    page.get_by_text("Labels carried together (eval set)").scroll_into_view_if_needed()
    shot(page, "multilabel_live_report")
    page.close()
