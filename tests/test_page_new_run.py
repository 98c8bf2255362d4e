"""The New run page, driven by Streamlit's AppTest; the launcher is mocked where a run would start."""

from unittest import mock

import pytest
from streamlit.testing.v1 import AppTest

from core.config.schema import RunConfig
from tests.conftest import ROOT


@pytest.fixture
def app(runs_dir):
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()


def widget(app, key):
    return next(
        w for kind in ("number_input", "selectbox", "checkbox", "text_input") for w in getattr(app, kind)
        if w.key == key)


def test_defaults_render_ready_to_start(app):
    assert not app.exception
    assert app.title[0].value == "New run"
    assert widget(app, "form.data.name").value == "tweet-sentiment"
    assert widget(app, "form.model.name").value == "minilm-l6"
    assert widget(app, "form.data.train_size").value == 2000
    assert "= **16**" in app.info[0].body
    assert not app.button(key="start").disabled
    assert not app.error


def test_choosing_file_asks_for_an_upload_without_an_error(app):
    app.selectbox(key="form.data.source").select("file").run()
    assert not app.exception
    assert not app.error, [e.value for e in app.error]  # nothing went wrong yet: no file was given
    assert any("Upload a data file, or type the path of one" in i.value for i in app.info)
    assert app.button(key="start").disabled


def test_a_bad_value_names_the_field_as_the_form_labels_it(app):
    app.selectbox(key="form.data.source").select("file").run()
    widget(app, "form.data.path").set_value("/no/such/../file.csv").run()
    assert app.error and app.error[0].value.startswith("Data file: "), [e.value for e in app.error]
    assert "data.path" not in app.error[0].value


def test_an_out_of_range_value_is_said_and_start_waits_for_a_fix(app):
    widget(app, "form.training.warmup_ratio").set_value(5.0).run()
    assert app.error and app.error[0].value == "Warmup ratio: must be at most 0.99, got 5.0; lower it."
    assert app.button(key="start").disabled and app.button(key="dry_run").disabled
    widget(app, "form.training.warmup_ratio").set_value(0.1).run()
    assert not app.error and not app.button(key="start").disabled


def test_the_page_speaks_to_users_not_to_us(app):
    shown = [c.value for c in app.caption] + [m.value for m in app.markdown] + [i.body for i in app.info] + \
            [w.help or "" for kind in ("number_input", "selectbox", "checkbox") for w in getattr(app, kind)]
    text = "\n".join(str(s) for s in shown)
    assert "RESULTS.md" not in text and "seed's" not in text and "core/" not in text
    button = next(b for b in app.button if b.key == "use_suggested_max_length")
    assert button.label.startswith("Use max length 56 (faster: shorter batches; cuts ")  # speed, and what it costs
    assert button.label.endswith("% of texts)")
    leak = next(i.body for i in app.info if i.body.startswith("**Some eval texts also appear in training"))
    assert "**Note:** Nothing to do" in leak and "**Fix:**" not in leak  # nothing to fix: a note


def test_every_field_has_help_text(app):
    for kind in ("number_input", "selectbox", "checkbox"):
        for w in getattr(app, kind):
            assert w.help, f"{w.label} has no help text"


def test_low_memory_preset_keeps_the_effective_batch(app):
    widget(app, "form.hardware.memory_preset").select("low").run()
    assert "4 per step × 4 accumulation = **16**" in app.info[0].body
    widget(app, "form.hardware.memory_preset").select("very_low").run()
    assert "gradient checkpointing on" in app.info[0].body


def test_max_throughput_says_it_changes_the_optimisation_and_runs_per_gpu_reach_the_config(app, runs_dir):
    assert not [w for w in app.warning if "changes the optimisation" in w.body]
    widget(app, "form.hardware.memory_preset").select("throughput").run()
    said = [w.body for w in app.warning if "changes the optimisation" in w.body]
    assert said and "batch grows from 16" in said[0] and "square root" in said[0]
    widget(app, "form.hardware.runs_per_gpu").select(2).run()
    with mock.patch("core.runner.launcher.start_run", return_value=runs_dir / "x") as start:
        app.button(key="start").click().run()
    config = start.call_args.args[0]
    assert config.hardware.memory_preset == "throughput" and config.hardware.runs_per_gpu == 2


def test_start_launches_the_configured_run_and_opens_live_run(app, runs_dir, tmp_path):
    widget(app, "form.model.name").select("tiny-random")
    widget(app, "form.data.train_size").set_value(300)
    widget(app, "form.training.num_train_epochs").set_value(1.0)
    app.text_input(key="form.name").input("smoke")
    fake_run = runs_dir / "20260101-000000-smoke"
    with mock.patch("core.runner.launcher.start_run", return_value=fake_run) as start:
        app.button(key="start").click().run()
    config, where = start.call_args.args
    assert isinstance(config, RunConfig) and where == runs_dir
    assert config.model.name == "tiny-random" and config.data.train_size == 300
    assert config.training.num_train_epochs == 1.0 and config.name == "smoke"
    assert app.title[0].value == "Live run"


def test_steps_strategy_without_eval_steps_blocks_start_with_a_sentence(app):
    widget(app, "form.training.eval_strategy").select("steps").run()
    assert app.error[0].body.startswith("Eval every N steps: is needed when eval strategy is 'steps'")
    assert app.button(key="start").disabled


def test_no_evaluation_disables_best_model_choice(app):
    widget(app, "form.training.eval_strategy").select("no").run()
    assert widget(app, "form.training.load_best_model_at_end").disabled
    assert not app.error and not app.button(key="start").disabled


def test_missing_device_is_caught_before_start(app, runs_dir):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    widget(app, "form.hardware.device").select("cuda").run()
    assert any("cuda" in e.body.lower() and "**Fix:**" in e.body for e in app.error)
    assert app.button(key="start").disabled and app.button(key="dry_run").disabled
    app.button(key="preflight_DEVICE_NOT_AVAILABLE").click().run()
    assert widget(app, "form.hardware.device").value == "auto"
    assert not app.button(key="start").disabled
    assert list(runs_dir.iterdir()) == []


def test_dry_run_launches_the_same_settings_on_64_rows(app, runs_dir):
    widget(app, "form.training.learning_rate").set_value(3e-5)
    fake_run = runs_dir / "20260101-000000-dry-run"
    with mock.patch("core.runner.launcher.start_run", return_value=fake_run) as start:
        app.button(key="dry_run").click().run()
    config = start.call_args.args[0]
    assert config.data.train_size == 64 and config.training.extra["max_steps"] == 20
    assert config.training.learning_rate == 3e-5
    assert start.call_args.kwargs["lineage"] == {"dry_run": True}


def test_the_form_draws_every_field_the_config_dataclasses_mark_for_it(app):
    from core.config.reference import form_fields
    from tests.bad_inputs import FIXTURES

    widget(app, "form.model.name").select("tiny-random").run()
    widget(app, "form.data.source").select("file").run()
    widget(app, "form.data.path").set_value(str(FIXTURES / "reviews.csv")).run()  # a file draws every data field
    drawn = {w.key for kind in ("number_input", "selectbox", "checkbox", "text_input") for w in getattr(app, kind)}
    for section in ("data", "model", "hardware", "training"):
        for name in form_fields(section, source_fields=False):
            assert f"form.{section}.{name}" in drawn, f"{section}.{name} is in the config but not on the form"


def test_a_value_typed_in_the_form_reaches_the_training_arguments_unchanged(app, runs_dir):
    from core.training.trainer_setup import training_argument_values

    widget(app, "form.training.learning_rate").set_value(3e-5)
    widget(app, "form.training.weight_decay").set_value(0.05)
    app.run()
    with mock.patch("core.runner.launcher.start_run", return_value=runs_dir / "x") as start:
        app.button(key="start").click().run()
    config = start.call_args.args[0]
    arguments = training_argument_values(RunConfig.from_dict(config.to_dict()), "cpu")
    assert (arguments["learning_rate"], arguments["weight_decay"]) == (3e-5, 0.05)


def test_a_learning_rate_far_off_warns_and_apply_sets_the_usual_value(app):
    widget(app, "form.training.learning_rate").set_value(0.01).run()
    warning = next(w.body for w in app.warning if "learning rate is far above the usual range" in w.body)
    assert "Learning rate 0.01 is 100x the top" in warning and "**Fix:** Use 5e-5" in warning
    assert not app.button(key="start").disabled  # a warning, not a blocker
    app.button(key="preflight_LR_TOO_HIGH").click().run()
    assert widget(app, "form.training.learning_rate").value == 5e-5
    assert not any("learning rate" in w.body.lower() for w in app.warning)


def test_a_usual_learning_rate_gets_no_warning(app):
    widget(app, "form.training.learning_rate").set_value(5e-5).run()
    assert not any("learning rate" in w.body.lower() for w in app.warning)
    assert not any(b.key == "preflight_LR_TOO_HIGH" for b in app.button)
