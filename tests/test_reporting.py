"""Optional report_to: offered only for installed trackers, checked before a run starts, passed to the Trainer."""

from unittest import mock

from streamlit.testing.v1 import AppTest

from core.config import compat
from core.config.schema import RunConfig
from core.diagnostics import preflight
from core.training.trainer_setup import training_arguments
from tests.conftest import ROOT, tiny_config


def test_report_to_is_off_by_default_and_passed_through_when_set(tmp_path):
    assert training_arguments(RunConfig.from_dict(tiny_config()), tmp_path, "cpu").report_to == []
    with mock.patch("transformers.integrations.integration_utils.is_tensorboard_available", return_value=True):
        config = RunConfig.from_dict(tiny_config(report_to=["tensorboard"]))
        assert config.training.extra["report_to"] == ["tensorboard"]
        assert training_arguments(config, tmp_path, "cpu").report_to == ["tensorboard"]


def test_a_tracker_that_is_not_installed_stops_the_run_before_it_starts():
    config = RunConfig.from_dict(tiny_config(report_to="wandb"))
    finding = preflight.reporting_check(config, installed=["tensorboard"])
    assert finding.severity == "error" and "pip install wandb" in finding.fix
    assert preflight.reporting_check(config, installed=["wandb"]) is None
    assert preflight.reporting_check(RunConfig.from_dict(tiny_config(report_to="none")), installed=[]) is None


def test_installed_reporters_only_lists_importable_packages():
    with mock.patch("importlib.util.find_spec", side_effect=lambda name: object() if name == "mlflow" else None):
        assert compat.installed_reporters() == ["mlflow"]
    assert compat.requested_reporters("none") == [] and compat.requested_reporters("wandb") == ["wandb"]


def test_the_form_offers_only_installed_trackers_and_passes_the_choice(runs_dir):
    with mock.patch("core.config.compat.installed_reporters", return_value=["tensorboard"]):
        app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
        assert app.multiselect(key="form.report_to").options == ["tensorboard"]
        app.multiselect(key="form.report_to").select("tensorboard").run()
        with mock.patch("core.runner.launcher.start_run", return_value=runs_dir / "x") as start:
            app.button(key="start").click().run()
    assert start.call_args.args[0].training.extra["report_to"] == ["tensorboard"]


def test_the_form_says_how_to_enable_reporting_when_nothing_is_installed(runs_dir):
    with mock.patch("core.config.compat.installed_reporters", return_value=[]):
        app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    assert not [m for m in app.multiselect if m.key == "form.report_to"]
    assert any("pip install tensorboard" in c.value for c in app.caption)
