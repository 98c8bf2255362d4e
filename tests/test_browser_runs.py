"""Runs, Compare and Try the model in real Chromium, on two real finished tiny runs."""

import os
import shutil
import zipfile

import pytest

from tests.test_browser import CHROMIUM, browser, shot, streamlit_app  # noqa: F401 - browser is a fixture

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM) and not os.environ.get("REQUIRE_BROWSER"),
                                reason="Debian chromium is not installed")
RUN_A, RUN_B = "20260101-000000-tiny-a", "20260101-000100-tiny-b"


@pytest.fixture(scope="module")
def server(tmp_path_factory, finished_tiny_runs):
    runs_dir = tmp_path_factory.mktemp("browser-history") / "runs"
    for source in finished_tiny_runs.values():
        shutil.copytree(source, runs_dir / source.name)
    with streamlit_app(runs_dir) as (url, _):
        yield url, runs_dir


def pick(page, key: str, option: str) -> None:
    """Choose in a selectbox; a click that lands while the page is still redrawing is tried again."""
    wanted = page.get_by_role("option", name=option, exact=True)
    for _ in range(5):
        page.locator(f".st-key-{key}").click()
        try:
            wanted.click(timeout=10000)
            return
        except Exception:  # noqa: BLE001 - playwright's timeout: the list did not open
            page.keyboard.press("Escape")
    wanted.click()


def open_from_sidebar(page, url: str, title: str) -> None:
    """Start where a person starts, then follow the sidebar link.

    (A first request straight to /runs on a fresh server is served before app.py has declared its pages.)
    """
    page.goto(url)
    page.locator(".st-key-start button").wait_for(timeout=60000)
    page.get_by_role("link", name=title).click()


@pytest.fixture
def page(browser):  # noqa: F811 - the fixture imported above
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    yield page
    page.close()


def test_runs_table_lists_the_runs_downloads_a_model_and_opens_a_run(server, page, tmp_path):
    url, _ = server
    open_from_sidebar(page, url, "Runs")
    page.locator(".st-key-runs_table").wait_for(timeout=30000)
    page.get_by_text("2 of 2 runs").wait_for(timeout=30000)
    page.locator(".st-key-open_run button").wait_for(timeout=30000)  # the whole page has rendered
    shot(page, "runs_table")
    pick(page, "runs_selected", f"{RUN_A} · tiny a · tiny-random on tweet-sentiment")
    page.locator('h4:has-text("tiny a"):visible').wait_for(timeout=30000)
    with page.expect_download(timeout=60000) as download:  # the zip is built when the button is clicked
        page.locator(".st-key-download_model button").click()
    saved = tmp_path / "model.zip"
    download.value.save_as(saved)
    assert download.value.suggested_filename == f"{RUN_A}-model.zip"
    assert "model/model.safetensors" in zipfile.ZipFile(saved).namelist()
    page.locator(".st-key-open_run button").click()
    page.get_by_role("heading", name="Live run").wait_for(timeout=30000)
    assert page.url.endswith(f"/live?run={RUN_A}")
    page.get_by_text("Final evaluation of the saved model").wait_for(timeout=30000)
    assert page.locator('h3:has-text("tiny a"):visible').count() == 1  # the run's name heads the page


def test_compare_two_runs_overlays_their_curves(server, page):
    url, _ = server
    open_from_sidebar(page, url, "Compare")
    page.get_by_text("Pick at least two runs.").wait_for(timeout=60000)  # the whole page has rendered
    for run_id, name in ((RUN_A, "tiny a"), (RUN_B, "tiny b")):
        option = page.get_by_role("option", name=f"{run_id} · {name} · tiny-random on tweet-sentiment")
        if not option.is_visible():  # the list stays open after a pick; a second click would close it
            page.locator(".st-key-compare_runs input").click()
        option.click()
    page.keyboard.press("Escape")
    page.wait_for_function("""() => {
        const plot = document.querySelector('.st-key-compare_loss_chart .js-plotly-plot');
        return plot && plot.data && plot.data.length === 6;
    }""", timeout=60000)
    names = page.evaluate("() => document.querySelector('.st-key-compare_loss_chart .js-plotly-plot')"
                          ".data.map(t => t.name)")
    # Smoothed by default: each run's training loss raw (faint) and smoothed, its one evaluation as is.
    assert names == ["tiny a · train (raw)", "tiny a · train", "tiny a · eval",
                     "tiny b · train (raw)", "tiny b · train", "tiny b · eval"]
    page.get_by_text("Best metric per run").wait_for()
    # Table cells are drawn on a canvas; their text is kept in hidden grid cells for screen readers.
    page.locator('.st-key-compare_config_diff [role=gridcell]:has-text("training.learning_rate")').wait_for(
        state="attached", timeout=30000)
    shot(page, "compare_two_runs")


def test_try_the_model_shows_labels_with_probabilities(server, page):
    url, _ = server
    open_from_sidebar(page, url, "Runs")
    page.locator(".st-key-open_run button").wait_for(timeout=60000)  # the whole page has rendered
    pick(page, "runs_selected", f"{RUN_B} · tiny b · tiny-random on tweet-sentiment")
    page.get_by_role("tab", name="Try the model").click()
    page.locator(".st-key-try_texts textarea").fill("what a lovely day\nthe service was awful")
    page.locator(".st-key-try_texts textarea").press("Control+Enter")
    page.locator(".st-key-try_predict button").click()
    page.locator(".st-key-try_results").wait_for(timeout=60000)
    shot(page, "try_the_model")
    cells = page.locator(".st-key-try_results [role=gridcell]")
    cells.filter(has_text="what a lovely day").wait_for(state="attached", timeout=30000)
    text = " ".join(cells.all_text_contents())
    assert "the service was awful" in text
    assert any(label in text for label in ("negative", "neutral", "positive"))


def test_predict_a_file_shows_the_evaluation_and_downloads_every_row(server, page, tmp_path):
    url, _ = server
    open_from_sidebar(page, url, "Runs")
    page.locator(".st-key-open_run button").wait_for(timeout=60000)  # the whole page has rendered
    page.get_by_role("tab", name="Predict a file").click()
    reviews = os.path.join(os.path.dirname(__file__), "fixtures", "data", "reviews.csv")
    page.locator(".st-key-predict_upload input[type=file]").set_input_files(reviews)
    page.locator(".st-key-predict_file button:not([disabled])").click(timeout=30000)
    page.get_by_text("Wrote 90 rows with predictions from column 'review'.").wait_for(timeout=120000)
    page.locator(".st-key-file_confusion_chart .js-plotly-plot").wait_for(timeout=30000)
    page.locator(".st-key-file_confusion_chart").scroll_into_view_if_needed()
    shot(page, "runs_predict_a_file")
    with page.expect_download(timeout=60000) as download:
        page.locator(".st-key-download_predictions button").click()
    saved = tmp_path / "predictions.csv"
    download.value.save_as(saved)
    lines = saved.read_text().splitlines()
    assert lines[0] == "review,sentiment,predicted_label,p(negative),p(neutral),p(positive)" and len(lines) == 91


def test_the_model_card_and_the_push_form_are_shown(server, page):
    url, _ = server
    open_from_sidebar(page, url, "Runs")
    page.locator(".st-key-open_run button").wait_for(timeout=60000)
    page.get_by_text("Model card", exact=True).click()
    page.get_by_text("Majority-class baseline").wait_for(timeout=30000)
    image = page.locator("[data-testid=stImage] img").first
    image.wait_for(timeout=30000)
    page.get_by_text("Majority-class baseline").scroll_into_view_if_needed()
    shot(page, "runs_model_card")
    image.scroll_into_view_if_needed()
    shot(page, "runs_model_card_image")
    page.get_by_role("tab", name="Push to the Hub").click()
    page.locator(".st-key-push_token input[type=password]").wait_for(timeout=30000)
    assert page.locator(".st-key-push_private input").is_checked()
    shot(page, "runs_push_form")
