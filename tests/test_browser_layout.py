"""The New run page's layout in real Chromium at 1400 x 900: what a person sees without scrolling."""

import os

import pytest

from tests.test_browser import CHROMIUM, browser, server, shot, type_number  # noqa: F401 - fixtures

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM) and not os.environ.get("REQUIRE_BROWSER"),
                                reason="Debian chromium is not installed")

IN_VIEW = """key => { const r = document.querySelector('.st-key-' + key).getBoundingClientRect();
                     return r.top >= 0 && r.bottom <= window.innerHeight && r.height > 0; }"""


@pytest.fixture
def page(browser, server):  # noqa: F811 - the fixtures imported above
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(server[0])
    page.locator(".st-key-start button").wait_for(timeout=60000)
    yield page
    page.close()


def test_start_and_dry_run_are_in_sight_without_scrolling(page):
    page.wait_for_function(IN_VIEW, arg="start", timeout=30000)
    assert page.evaluate(IN_VIEW, "dry_run")
    shot(page, "new_run_action_bar")
    page.locator(".st-key-form-training-learning_rate input").scroll_into_view_if_needed()
    assert page.evaluate(IN_VIEW, "start")  # still there halfway down the form


def test_an_out_of_range_warmup_turns_start_off_with_the_reason(page):
    type_number(page, "form-training-warmup_ratio", 5)
    page.locator(".st-key-start button:disabled").wait_for(timeout=30000)
    bar = page.locator(".st-key-action_bar")
    assert "Warmup ratio: must be at most 0.99, got 5.0; lower it." in bar.inner_text()
    assert page.evaluate(IN_VIEW, "action_bar")  # the reason is next to the button, in sight
    type_number(page, "form-training-warmup_ratio", 0.1)
    page.locator(".st-key-start button:enabled").wait_for(timeout=30000)


def test_hardware_labels_fit_on_one_line(page):
    label = page.locator(".st-key-form-hardware-compile [data-testid=stWidgetLabel]")
    reference = page.locator(".st-key-form-hardware-speed [data-testid=stWidgetLabel]")
    assert label.bounding_box()["height"] <= reference.bounding_box()["height"] + 1  # "torch.compile" unwrapped
    assert page.locator(".st-key-form-hardware-pad_to_multiple_of [aria-label*=lear]").count() == 0  # no clear icon
