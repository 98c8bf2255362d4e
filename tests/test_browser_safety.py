"""Real Chromium: two tabs on one run see the same state; Stop, then Resume; the server listens on localhost only."""

import os
import time

import psutil
import pytest

from core.config.schema import RunConfig
from core.rundir import runs
from core.runner import launcher
from tests.conftest import tiny_config
from tests.test_browser import CHROMIUM, browser, shot, streamlit_app  # noqa: F401 (fixture)

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM) and not os.environ.get("REQUIRE_BROWSER"),
                                reason="Debian chromium is not installed")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`streamlit run app.py` with the project's .streamlit/config.toml (no address given on the command line)."""
    runs_dir = tmp_path_factory.mktemp("safety-browser-runs")
    with streamlit_app(runs_dir) as (url, process):
        yield url, runs_dir, process


def test_the_server_listens_on_localhost_only(server):
    _, _, process = server
    listening = {c.laddr.ip for c in psutil.Process(process.pid).net_connections(kind="inet")
                 if c.status == psutil.CONN_LISTEN}
    assert listening and listening <= {"127.0.0.1"}


def badge(page) -> str:
    return page.locator(".st-key-run_state:visible").first.inner_text()


def wait_badge(page, state: str, timeout: int = 120000) -> None:
    page.wait_for_function("s => [...document.querySelectorAll('.st-key-run_state')]"
                           ".some(e => e.offsetParent && e.innerText.includes(s))", arg=state, timeout=timeout)


def test_two_tabs_see_the_same_run_and_stop_then_resume_continues_it(server, browser):  # noqa: F811
    url, runs_dir, _ = server
    run_dir = launcher.start_run(RunConfig.from_dict({**tiny_config(num_train_epochs=40), "name": "two tabs"}),
                                 runs_dir)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    first, second = context.new_page(), context.new_page()
    for page in (first, second):
        page.goto(f"{url}/live?run={run_dir.name}")
    for page in (first, second):
        wait_badge(page, "running")
        dismiss_page_not_found(page)
    first.wait_for_function("() => { const p = document.querySelector('.st-key-loss_chart .js-plotly-plot');"
                            " return p && p.data && p.data.some(t => t.x.length > 0); }", timeout=120000)
    assert wait_for_step_past(run_dir, 14)  # mid-epoch: the stop itself must leave a checkpoint
    first.bring_to_front()
    shot(first, "two_tabs_running")
    first.locator(".st-key-stop button:visible").first.click()
    for page in (first, second):  # the second tab was not touched: it reads the same folder
        wait_badge(page, "stopped")
    stopped_at = runs.read_status(run_dir)["progress"]["step"]
    assert runs.checkpoint_step(runs.last_checkpoint(run_dir)) == stopped_at
    shot(second, "stopped_in_the_other_tab")

    second.locator(".st-key-resume button:visible").first.click()
    for page in (first, second):
        wait_badge(page, "running")
    assert wait_for_step_past(run_dir, stopped_at)
    assert runs.read_status(run_dir)["resumed_from"] == f"checkpoint-{stopped_at}"
    shot(first, "resumed_in_the_other_tab")
    context.close()
    launcher.request_stop(run_dir)
    launcher.request_stop(run_dir)


def dismiss_page_not_found(page) -> None:
    """A deep link to /live can open with Streamlit's 'Page not found' dialog over the right page (a quirk of
    st.navigation on a first load); it makes the page inert until closed."""
    dialog = page.get_by_role("dialog")
    if dialog.count() and "Page not found" in dialog.first.inner_text():
        page.keyboard.press("Escape")
        dialog.first.wait_for(state="hidden", timeout=10000)


def wait_for_step_past(run_dir, step, timeout=120) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if (runs.read_status(run_dir).get("progress") or {}).get("step", 0) > step:
            return True
        time.sleep(0.2)
    return False
