"""Real Chromium: a tab left open costs the dashboard next to nothing (no file watcher; a finished run is not re-read).

With Streamlit's file watcher on, one idle tab kept the server at ~100% of a core (bench/dashboard_cpu.py).
"""

import shutil
import time

import psutil
import pytest

from tests.test_browser import browser, pytestmark, streamlit_app  # noqa: F401 - fixtures

IDLE_SHARE_MAX = 0.05  # of one core: ~1% is measured idle, the watcher costs ~100%
MEASURE_S = 12
APP_IDLE = "[data-testid=stApp][data-test-script-state=notRunning]"


@pytest.fixture(scope="module")
def idle_server(tmp_path_factory, finished_tiny_runs):
    runs_dir = tmp_path_factory.mktemp("idle-runs")
    finished = finished_tiny_runs["20260101-000000-tiny-a"]
    shutil.copytree(finished, runs_dir / finished.name)
    with streamlit_app(runs_dir) as (url, process):
        yield url, process, finished.name


def server_cpu_share(process, seconds: float) -> float:
    """Share of one core the server process used over the next `seconds` (a measuring window, not a wait)."""
    server = psutil.Process(process.pid)
    before, start = server.cpu_times(), time.monotonic()
    time.sleep(seconds)
    after = server.cpu_times()
    return (after.user + after.system - before.user - before.system) / (time.monotonic() - start)


def test_an_idle_tab_on_new_run_costs_almost_nothing(idle_server, browser):
    url, process, _ = idle_server
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(url)
    page.locator(".st-key-start button").wait_for(timeout=60000)
    page.locator(APP_IDLE).wait_for(timeout=60000)
    share = server_cpu_share(process, MEASURE_S)
    page.close()
    assert share <= IDLE_SHARE_MAX, f"the server used {share:.1%} of a core with one idle tab on New run"


def test_an_idle_tab_on_a_finished_run_costs_almost_nothing(idle_server, browser):
    url, process, run_id = idle_server
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{url}/live?run={run_id}")
    page.get_by_text("Final evaluation of the saved model").wait_for(timeout=60000)
    page.locator(APP_IDLE).wait_for(timeout=60000)
    assert "completed" in page.locator(".st-key-run_state").first.inner_text()
    share = server_cpu_share(process, MEASURE_S)
    page.close()
    assert share <= IDLE_SHARE_MAX, f"the server used {share:.1%} of a core with one idle tab on a finished run"
