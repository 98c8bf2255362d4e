"""Find learning rate in real Chromium: a finished range test on Live run, then 'Use this learning rate'."""

import os

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.test_browser import CHROMIUM, browser, shot, streamlit_app  # noqa: F401 - browser is a fixture
from tests.test_lr_find import healthy_curve
from tests.test_page_lr_find import range_test_run

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM) and not os.environ.get("REQUIRE_BROWSER"),
                                reason="Debian chromium is not installed")
RUN_ID = "20260101-000000-find-lr-tiny"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    runs_dir = tmp_path_factory.mktemp("browser-lr-find") / "runs"
    runs_dir.mkdir()
    range_test_run(runs_dir, "completed", healthy_curve(), RUN_ID)
    with streamlit_app(runs_dir) as (url, _):
        yield url


def test_range_test_result_carries_its_suggestion_to_new_run(server, browser):  # noqa: F811
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(server)
    page.locator(".st-key-start button").wait_for(timeout=60000)  # app.py has declared its pages
    page.get_by_role("link", name="Live run").click()
    page.locator(".st-key-lr_suggestion").get_by_text("The loss falls fastest around 3e-5").wait_for(timeout=60000)
    traces = page.evaluate("""() => {
        const plot = document.querySelector('.st-key-lr_range_chart .js-plotly-plot');
        return plot && plot.data ? plot.data.map(t => t.name) : [];
    }""")
    assert traces == ["loss", "smoothed", "suggested 3e-5"]
    shot(page, "lr_find_result")
    use = page.locator(".st-key-use_lr button:visible")  # a fragment redraw may hold a stale copy for a moment
    for _ in range(4):  # a click that lands while the Live run fragment redraws is lost: click again
        if use.count():
            use.first.click()
        try:
            page.locator(".st-key-start button").wait_for(timeout=15000)  # New run has rendered
            break
        except PlaywrightTimeout:
            continue
    page.wait_for_function("() => { const box = document.querySelector('.st-key-form-training-learning_rate input');"
                           " return box && box.value === '3.0e-5'; }", timeout=30000)
    page.locator(".st-key-find_lr").scroll_into_view_if_needed()
    shot(page, "lr_find_new_run")
    page.close()
