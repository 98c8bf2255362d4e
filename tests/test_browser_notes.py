"""In real Chromium: tag a run with a new tag and a note on the Runs page, find it by tag, see both on Live run."""

import os

import pytest

from core.runner import history
from tests.test_browser import CHROMIUM, browser, shot, streamlit_app  # noqa: F401 - browser is a fixture
from tests.test_browser_runs import open_from_sidebar
from tests.test_page_live_run import RESULTS, make_run, overfitting_curve

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM) and not os.environ.get("REQUIRE_BROWSER"),
                                reason="Debian chromium is not installed")
OLD, NEW = "20260101-000000-old", "20260102-000000-new"


def test_a_new_tag_and_a_note_are_saved_filtered_on_and_shown_on_live_run(runs_dir, browser):  # noqa: F811
    make_run(runs_dir, OLD, "completed", overfitting_curve(), results=RESULTS, created_at=1.0)
    make_run(runs_dir, NEW, "completed", overfitting_curve(), results=RESULTS, created_at=2.0)
    with streamlit_app(runs_dir) as (url, _):
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        open_from_sidebar(page, url, "Runs")
        page.locator(f".st-key-tags_{NEW} input").wait_for(timeout=60000)  # the newest run is selected
        page.locator(f".st-key-tags_{NEW} input").fill("warm-up test")
        page.keyboard.press("Enter")  # a tag no run has yet
        page.keyboard.press("Escape")
        page.locator(f".st-key-notes_{NEW} textarea").fill("Ten percent warm-up.")
        page.locator(f".st-key-notes_{NEW} textarea").press("Control+Enter")
        page.locator(".st-key-save_meta button").click()
        page.get_by_text("Notes and tags saved.").wait_for(timeout=30000)
        assert history.read_meta(runs_dir / NEW) == {"notes": "Ten percent warm-up.", "tags": ["warm-up test"]}

        page.locator(".st-key-runs_tag_filter").click()
        page.get_by_role("option", name="warm-up test", exact=True).click()
        page.keyboard.press("Escape")
        page.get_by_text("1 of 2 runs.").wait_for(timeout=30000)
        shot(page, "runs_tag_filter")

        page.locator(".st-key-open_run button").click()
        page.get_by_role("heading", name="Live run").wait_for(timeout=30000)
        page.locator(".st-key-run_tags").get_by_text("warm-up test").wait_for(timeout=30000)
        page.locator(".st-key-run_notes").get_by_text("Ten percent warm-up.").wait_for(timeout=30000)
        shot(page, "live_run_tags")
        page.close()
