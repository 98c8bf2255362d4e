"""Real Chromium: a page's own address works as the first request after a (re)start.

A bookmark or a tab left open across a dashboard restart asks a cold server for /compare or /live directly.
Streamlit then ran the page file alone in its older pages-folder mode (no app navigation, and every later tab
stuck in that mode), or showed "Page not found" over the right page (streamlit#8860).
"""

import json

import pytest

from tests.test_browser import browser, pytestmark, streamlit_app  # noqa: F401 - fixtures

APP_IDLE = "[data-testid=stApp][data-test-script-state=notRunning]"
NAV_LINKS = ["New run", "Live run", "Runs", "Compare", "Sweep", "Troubleshooting"]


def plant_finished_run(runs_dir, run_id="20260101-000000"):
    run_dir = runs_dir / run_id
    run_dir.mkdir()
    config = {"name": "planted", "data": {"name": "tweet-sentiment", "train_size": 200, "eval_size": 60},
              "model": {"name": "tiny-random"}, "hardware": {"device": "cpu"}, "training": {}}
    (run_dir / "config.json").write_text(json.dumps(config))
    (run_dir / "status.json").write_text(json.dumps({"state": "completed", "created_at": 1.0}))
    return run_id


def nav_texts(page):
    return page.locator("[data-testid=stSidebarNav] a").all_inner_texts()


def nav_links(page):
    page.locator("[data-testid=stSidebarNav] a").first.wait_for(timeout=30000)
    return [t.split("\n")[-1].strip() for t in nav_texts(page)]


@pytest.mark.parametrize("path, title", [("/compare", "Compare runs"), ("/live?run=20260101-000000", "Live run")])
def test_the_first_request_for_a_page_shows_it_with_the_app_navigation(tmp_path, browser, path, title):
    runs_dir = tmp_path / "runs"
    runs_dir.mkdir()
    plant_finished_run(runs_dir)
    with streamlit_app(runs_dir) as (url, _):
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(url + path)  # the server's very first request
        page.locator(APP_IDLE).wait_for(timeout=120000)
        page.get_by_role("heading", name=title).first.wait_for(timeout=60000)
        assert nav_links(page) == NAV_LINKS
        assert page.get_by_text("Page not found").count() == 0
        other = browser.new_page(viewport={"width": 1400, "height": 900})  # later tabs are not stuck either
        other.goto(url + "/runs")
        other.locator(APP_IDLE).wait_for(timeout=60000)
        assert nav_links(other) == NAV_LINKS
