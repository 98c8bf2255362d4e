"""In real Chromium: upload a Kaggle-style CSV, see its columns mapped and the previews, train it, see it finish."""

import shutil

from tests.bad_inputs import FIXTURES
from tests.test_browser import (browser, choose, enter_and_wait, pytestmark, server, shot,  # noqa: F401 - fixtures
                                type_number)

PLOT_TRACES = "(key) => { const p = document.querySelector(`.st-key-${key} .js-plotly-plot`); " \
              "return p && p.data ? p.data.length : 0; }"

# Streamlit may leave a stale copy of a redrawn widget for a moment: wait until only the new value is shown.
SHOWN_VALUE = "([key, value]) => [...document.querySelectorAll(`.st-key-${key} input`)].map(e => e.value).join() " \
              "=== value"


def test_an_uploaded_csv_is_mapped_previewed_and_trained(server, browser, tmp_path):
    url, runs_dir = server
    upload = tmp_path / "IMDB Dataset.csv"  # a name as Kaggle ships it: spaces and capitals
    shutil.copy(FIXTURES / "reviews.csv", upload)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(url)
    page.locator(".st-key-start button").wait_for(timeout=60000)
    choose(page, "form-data-source", "file")
    page.locator(".st-key-upload input[type=file]").set_input_files(str(upload))

    page.wait_for_function(PLOT_TRACES, arg="class_balance_chart", timeout=90000)
    # Columns detected, and the default sizes (2,000 / 500) fitted to the file's 90 rows, in the browser too.
    for key, value in (("text_column", "review"), ("label_column", "sentiment"), ("train_size", "72"),
                       ("eval_size", "18")):
        page.wait_for_function(SHOWN_VALUE, arg=[f"form-data-{key}", value], timeout=30000)
    assert page.evaluate(PLOT_TRACES, "class_balance_chart") == 2  # train and eval bars
    assert page.evaluate(PLOT_TRACES, "token_length_chart") == 1
    assert page.locator(':text("covers 95%"):visible').count() == 1
    assert page.locator(':text("positive"):visible').count() >= 1  # the label mapping
    shot(page, "data_preview")

    choose(page, "form-model-name", "tiny-random")
    choose(page, "form-hardware-device", "cpu")
    type_number(page, "form-training-num_train_epochs", 2)
    type_number(page, "form-training-learning_rate", 0.001)
    enter_and_wait(page, ".st-key-form-name input", "kaggle upload")
    page.locator(".st-key-start button").click()
    page.get_by_role("heading", name="Live run").wait_for(timeout=30000)
    page.get_by_text("Final evaluation of the saved model").wait_for(timeout=180000)
    assert "completed" in page.locator(".st-key-run_state").inner_text()
    shot(page, "upload_run_finished")
    stored = list((runs_dir / "data").iterdir())
    assert len(stored) == 1 and stored[0].name.endswith("-IMDB-Dataset.csv")
    page.close()
