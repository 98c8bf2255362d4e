"""A sweep in real Chromium: set one up from an earlier run, start it, see a pruned trial with its reason in words,
and press Train with these settings to get New run filled with the best trial's learning rate."""

import re

import pytest

from core.rundir import runs
from core.search import sweeps
from tests.conftest import write_config
from tests.test_browser import browser, choose, enter_and_wait, pytestmark, shot, streamlit_app  # noqa: F401 - fixtures
from tests.test_browser_idle_cpu import APP_IDLE, IDLE_SHARE_MAX, MEASURE_S, server_cpu_share
from tests.test_sweep import sweep_config

RUN_ID = "20260101-000000-tiny-sweep-base"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    runs_dir = tmp_path_factory.mktemp("browser-sweep") / "runs"
    (runs_dir / RUN_ID).mkdir(parents=True)
    write_config(runs_dir / RUN_ID / "config.json", {**sweep_config(), "name": "tiny sweep base"})
    runs.write_json_atomic(runs_dir / RUN_ID / "status.json", {"state": "completed", "created_at": 1.0})
    with streamlit_app(runs_dir) as (url, process):
        try:
            yield url, runs_dir, process
        finally:
            for found in sweeps.list_sweeps(runs_dir):  # a failed test must not leave a worker taking trials
                if sweeps.sweep_summary(found["name"], runs_dir)["state"] != "finished":
                    sweeps.stop_sweep(found["name"], runs_dir)


def test_a_small_sweep_prunes_a_trial_says_why_and_trains_the_best_settings_again(server, browser):  # noqa: F811
    url, runs_dir, process = server
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(url)
    page.locator(".st-key-start button:visible").wait_for(timeout=60000)  # app.py has declared its pages
    page.get_by_role("link", name="Sweep").click()
    page.locator(".st-key-start_sweep button:visible").wait_for(timeout=60000)
    choose(page, "sweep_start_from", f"{RUN_ID} · tiny sweep base · tiny-random on tweet-sentiment")
    page.get_by_text("tiny-random on tweet-sentiment (160 train / 30 eval)").wait_for(timeout=30000)
    page.locator(".st-key-sweep-on-training-learning_rate label").click()
    page.locator(".st-key-sweep-kind-training-learning_rate").get_by_text("list", exact=True).click()
    page.locator(".st-key-sweep-values-training-learning_rate input:enabled").wait_for(timeout=30000)
    # 1.0 diverges at once: the diagnostics prune it.
    enter_and_wait(page, ".st-key-sweep-values-training-learning_rate input", "1.0, 1e-4, 3e-5")
    enter_and_wait(page, ".st-key-sweep_n_trials input", "3")
    # A drop-down opened near the window's bottom edge closes again at once: scroll it up first.
    page.locator(".st-key-sweep_sampler").evaluate("box => box.scrollIntoView({block: 'center'})")
    choose(page, "sweep_sampler", "grid (every combination of the lists)")
    enter_and_wait(page, ".st-key-sweep_name input", "browser-lr")
    page.locator(".st-key-start_sweep button:visible").click()

    page.locator(".st-key-sweep_state").get_by_text("finished", exact=True).wait_for(timeout=400000)
    ended = page.locator(".st-key-sweep_ended_early").inner_text()
    assert re.search(r"Trial \d pruned: \S", ended), ended
    assert not re.search(r"[A-Z]{3,}_[A-Z]", ended), ended  # the finding in words, not its code
    [pruned] = [t for t in sweeps.sweep_summary("browser-lr", runs_dir)["trials"] if t["state"] == "pruned"]
    assert pruned["params"]["training.learning_rate"] == 1.0
    page.locator('.st-key-sweep_trials [role=gridcell]:has-text("pruned")').first.wait_for(state="attached")
    best = page.locator(".st-key-sweep_best").inner_text()
    learning_rate = re.search(r"learning rate (\S+?)\.", best).group(1)
    assert learning_rate in ("1e-4", "3e-5"), best
    page.locator(".st-key-sweep_history_chart .js-plotly-plot").wait_for(timeout=30000)
    # The tiny random model scores about the same at every learning rate: importances say why they are missing.
    importances = page.locator(".st-key-sweep_importance_chart .js-plotly-plot")
    assert importances.count() or page.get_by_text("Parameter importances need").count()
    shot(page, "sweep_finished")
    page.locator(APP_IDLE).wait_for(timeout=60000)
    share = server_cpu_share(process, MEASURE_S)  # a finished sweep is drawn once, then not looked at again
    assert share <= IDLE_SHARE_MAX, f"the server used {share:.1%} of a core with one tab on a finished sweep"

    page.locator(".st-key-train_best button:visible").click()
    page.locator(".st-key-start button:visible").wait_for(timeout=60000)  # New run has rendered
    shown = {"1e-4": "1.0e-4", "3e-5": "3.0e-5"}[learning_rate]
    page.wait_for_function("(shown) => { const box = document.querySelector("
                           "'.st-key-form-training-learning_rate input'); return box && box.value === shown; }",
                           arg=shown, timeout=30000)
    assert page.locator(".st-key-form-model-name input").input_value() == "tiny-random"
    shot(page, "sweep_train_best_new_run")
    page.close()
