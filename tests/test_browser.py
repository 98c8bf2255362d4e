"""A person's flow in real Chromium: fill the form with a tiny run, Start, watch it chart live, see it finish.

Uses Debian's chromium (/usr/bin/chromium) through Playwright; `streamlit run app.py` on localhost.
Screenshots land in $SCREENSHOT_DIR when it is set.
"""

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ROOT

CHROMIUM = "/usr/bin/chromium"
# CI sets REQUIRE_BROWSER=1: there a missing chromium is a failure, not a skip.
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists() and not os.environ.get("REQUIRE_BROWSER"),
                                reason="Debian chromium is not installed")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def streamlit_app(runs_dir: Path):
    """`streamlit run app.py` on a free localhost port with the project's .streamlit/config.toml, serving
    `runs_dir`; yields (url, process) once it answers its health check, and stops leftover runs after."""
    port = free_port()
    env = {**os.environ, "DASHBOARD_RUNS_DIR": str(runs_dir), "HF_HUB_OFFLINE": "1"}
    with open(runs_dir.parent / "streamlit.log", "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                                    "--server.headless", "true", "--browser.gatherUsageStats", "false"],
                                   cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                break
        except OSError:
            time.sleep(0.3)
    else:
        process.kill()
        pytest.fail("streamlit did not start")
    try:
        yield url, process
    finally:
        process.terminate()
        process.wait(timeout=20)
        stop_leftover_runs(runs_dir)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    runs_dir = tmp_path_factory.mktemp("browser-runs")
    with streamlit_app(runs_dir) as (url, _):
        yield url, runs_dir


def stop_leftover_runs(runs_dir: Path) -> None:
    """Training children outlive the dashboard by design; a failed test must not leave one running."""
    from core.rundir import runs
    from core.runner import launcher

    for run in runs.list_runs(runs_dir):
        if run.state in runs.ACTIVE_STATES:
            launcher.request_stop(run.path)
            launcher.request_stop(run.path)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic",
                  "--no-first-run", "--disable-component-update", "--disable-sync"])
        yield chromium
        chromium.close()


def shot(page, name: str) -> None:
    folder = os.environ.get("SCREENSHOT_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def choose(page, key: str, option: str) -> None:
    page.locator(f".st-key-{key}").click()
    page.get_by_role("option", name=option, exact=True).click()


def type_number(page, key: str, value) -> None:
    box = page.locator(f".st-key-{key} input")
    box.fill(str(value))
    box.press("Enter")


# Counts the page's script runs from now on, from the attribute Streamlit's own e2e tests wait on.
COUNT_SCRIPT_RUNS = """() => {
    const app = document.querySelector('[data-testid=stApp]');
    window.scriptRuns = 0;
    if (window.scriptRunObserver) window.scriptRunObserver.disconnect();
    window.scriptRunObserver = new MutationObserver(() => {
        if (app.dataset.testScriptState === 'running') window.scriptRuns += 1;
    });
    window.scriptRunObserver.observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
}"""
# The rerun an Enter starts has run and finished; a rerun so quick that its 'running' state was never observed
# counts once the app has been idle for 5 s after the Enter (seen once in CI on an idle machine).
SCRIPT_RAN_AND_FINISHED = ("() => document.querySelector('[data-testid=stApp]').dataset.testScriptState === "
                           "'notRunning' && (window.scriptRuns > 0 || Date.now() - window.enteredAt > 5000)")


def enter_and_wait(page, selector: str, text: str) -> None:
    """Type `text` and press Enter, then wait until the run it starts has finished (a click during it can be lost)."""
    page.locator("[data-testid=stApp][data-test-script-state=notRunning]").wait_for(timeout=60000)
    page.evaluate(COUNT_SCRIPT_RUNS)
    page.locator(selector).fill(text)
    page.locator(selector).press("Enter")
    page.evaluate("() => { window.enteredAt = Date.now(); }")
    page.wait_for_function(SCRIPT_RAN_AND_FINISHED, timeout=60000)


def eval_points_on_loss_chart(page) -> int:
    return page.evaluate("""() => {
        const plot = document.querySelector('.st-key-loss_chart .js-plotly-plot');
        if (!plot || !plot.data) return 0;
        const trace = plot.data.find(t => t.name === 'eval loss');
        return trace ? trace.x.length : 0;
    }""")


def test_tiny_run_from_the_form_charts_live_and_finishes(server, browser):
    url, runs_dir = server
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(url)
    page.locator(".st-key-start button").wait_for(timeout=60000)  # the whole form has rendered
    shot(page, "new_run_defaults")
    choose(page, "form-model-name", "tiny-random")
    choose(page, "form-hardware-device", "cpu")
    type_number(page, "form-data-train_size", 200)
    type_number(page, "form-data-eval_size", 60)
    type_number(page, "form-training-num_train_epochs", 25)
    type_number(page, "form-training-learning_rate", 0.001)
    type_number(page, "form-training-logging_steps", 5)
    enter_and_wait(page, ".st-key-form-name input", "browser smoke")
    page.locator(".st-key-start button").click()

    page.get_by_role("heading", name="Live run").wait_for(timeout=30000)
    assert "/live" in page.url and "run=" in page.url
    # The first eval point shows up while the run is still going (the Stop button is there).
    page.wait_for_function("""() => {
        const plot = document.querySelector('.st-key-loss_chart .js-plotly-plot');
        const t = plot && plot.data && plot.data.find(t => t.name === 'eval loss');
        return t && t.x.length >= 1;
    }""", timeout=120000)
    live = "running" in page.locator(".st-key-run_state").inner_text()
    shot(page, "live_run_training")
    assert live, "the run had finished before its first evaluation was charted"

    page.get_by_text("Final evaluation of the saved model").wait_for(timeout=180000)
    assert eval_points_on_loss_chart(page) >= 2
    page.wait_for_function("() => !document.querySelector('.st-key-stop button:not([disabled])')"
                           " || [...document.querySelectorAll('.st-key-stop button')].every(b => !b.offsetParent)",
                           timeout=30000)
    assert "completed" in page.locator(".st-key-run_state").inner_text()
    assert page.locator(':text("Model saved to"):visible').count() == 1
    shot(page, "live_run_finished")
    run_dirs = [p for p in runs_dir.iterdir() if not p.name.startswith(".")]
    assert len(run_dirs) == 1 and "browser-smoke" in run_dirs[0].name

    # A reload finds the same run again from the URL.
    page.reload()
    page.get_by_text("Final evaluation of the saved model").wait_for(timeout=60000)
    # The picker is drawn in the same run as the report, but may show its text a moment later.
    page.wait_for_function("() => (document.querySelector('.st-key-run_picker')?.innerText || '').startsWith('Run')",
                           timeout=30000)
    page.close()


def fill_tiny_run(page, epochs, learning_rate, name):
    page.locator(".st-key-start button").wait_for(timeout=60000)
    choose(page, "form-model-name", "tiny-random")
    choose(page, "form-hardware-device", "cpu")
    type_number(page, "form-data-train_size", 200)
    type_number(page, "form-data-eval_size", 60)
    type_number(page, "form-training-num_train_epochs", epochs)
    type_number(page, "form-training-learning_rate", learning_rate)
    type_number(page, "form-training-logging_steps", 5)
    enter_and_wait(page, ".st-key-form-name input", name)


def relaunched_runs(runs_dir: Path) -> list[str]:
    statuses = [p / "status.json" for p in runs_dir.iterdir()]
    return [s.parent.name for s in statuses if s.is_file() and "derived_from" in s.read_text(encoding="utf-8")]


def click_fix_until_relaunched(page, runs_dir: Path, button: str) -> None:
    """Click once the page is idle; a click that made no run in 30 s is repeated once, as a user would press
    again (CI once waited in vain for the relaunch; a local try of 30 clicks during timed fragment reruns lost
    none, so the cause is not known). Two clicks that make no run fail the test with the page's errors."""
    for _ in range(2):
        page.locator("[data-testid=stApp][data-test-script-state=notRunning]").wait_for(timeout=60000)
        page.locator(button).first.click()
        deadline = time.time() + 30
        while time.time() < deadline and not relaunched_runs(runs_dir):
            time.sleep(0.5)
        if relaunched_runs(runs_dir):
            return
    shot(page, "fix_click_made_no_run")
    errors = page.locator("[data-testid=stAlertContentError]").all_inner_texts()
    raise AssertionError(f"two clicks on the fix made no new run; the page's errors: {errors}")


def test_a_planted_stuck_run_is_explained_and_fixed_in_one_click(server, browser):
    url, runs_dir = server
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(url)
    fill_tiny_run(page, epochs=8, learning_rate=0.05, name="planted lr")
    page.locator(".st-key-start button").click()
    page.get_by_role("heading", name="Live run").wait_for(timeout=30000)
    page.get_by_text("the learning rate is too high").first.wait_for(timeout=180000)
    shot(page, "stuck_run_diagnosed")
    first_run = page.url.split("run=")[1]
    click_fix_until_relaunched(page, runs_dir, ".st-key-fix_LR_TOO_HIGH button:visible")
    try:
        page.locator(":text(\"Relaunched from\"):visible").first.wait_for(timeout=60000)
    except Exception as exc:  # say what the page and the runs folder showed instead
        shot(page, "relaunch_not_shown")
        states = {p.name: json.loads((p / "status.json").read_text()).get("state") for p in runs_dir.iterdir()
                  if (p / "status.json").is_file()}
        raise AssertionError(f"no relaunched run shown at {page.url}; runs: {states}") from exc
    assert len(relaunched_runs(runs_dir)) == 1, "one click made more than one run"
    assert page.url.split("run=")[1] != first_run
    assert "learning_rate = 5e-05" in page.locator(":text(\"Relaunched from\"):visible").first.inner_text()
    fixed = [p for p in runs_dir.iterdir() if p.name == page.url.split("run=")[1]][0]
    assert json.loads((fixed / "config.json").read_text())["training"]["learning_rate"] == 5e-05
    shot(page, "fixed_run_started")
    page.close()
