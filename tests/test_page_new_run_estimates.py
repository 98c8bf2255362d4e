"""New run page: the speed choices, the speed plan, and the memory and time estimate before Start."""

from unittest import mock

from core.plan import presets
from tests.test_page_new_run import app, widget  # noqa: F401 - the fixture


def body(app):
    return "\n".join([i.body for i in app.info] + [c.value for c in app.caption] + [w.body for w in app.warning])


def test_estimate_and_speed_plan_are_shown_before_start(app):  # noqa: F811
    text = body(app)
    assert "Estimate: peak memory" in text and "training samples/s on cpu" in text
    assert "Speed settings on cpu: precision fp32" in text


def test_a_tiny_model_is_estimated_as_under_a_minute_without_a_pace(app):  # noqa: F811
    widget(app, "form.model.name").select("tiny-random").run()
    estimate = next(i.body for i in app.info if i.body.startswith("Estimate:"))
    assert "under a minute for 3 epochs" in estimate
    assert "samples/s" not in estimate and "0 s" not in estimate


def test_speed_choices_change_the_plan(app):  # noqa: F811
    widget(app, "form.hardware.attention").select("eager").run()
    assert "eager attention" in body(app)
    widget(app, "form.hardware.pad_to_multiple_of").select(64).run()
    assert "rounded up to a multiple of 64" in body(app)


def test_an_estimate_above_free_memory_warns_with_the_fix(runs_dir):
    from streamlit.testing.v1 import AppTest

    from tests.conftest import ROOT

    from pages.components.estimates import facts_of

    tiny = {**presets.device_facts("cpu"), "free_memory_mb": 50.0}
    facts_of.clear()  # the page caches device facts for a few seconds
    with mock.patch("core.plan.presets.device_facts", return_value=tiny):
        app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    facts_of.clear()
    warning = next(w.body for w in app.warning if "free memory" in w.body)
    assert "more than the cpu's free memory (50 MB)" in warning and "low or auto memory preset" in warning
