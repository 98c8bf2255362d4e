"""DASHBOARD_PROFILE: a real tiny training run writes where its steps' time went."""

from core.training import profiling
from tests.conftest import tiny_config, train_tiny_runs


def test_the_variable_is_read_strictly(monkeypatch):
    for raw, expected in (("3:2", (3, 2)), ("", None), ("3", None), ("a:b", None), ("3:0", None)):
        monkeypatch.setenv(profiling.PROFILE_ENV, raw)
        assert profiling.requested() == expected


def test_a_profiled_run_writes_profile_txt_with_its_step_times(tmp_path, monkeypatch):
    monkeypatch.setenv(profiling.PROFILE_ENV, "2:3")
    run_dir = train_tiny_runs(tmp_path, {"20260101-000000-prof": tiny_config(num_train_epochs=1)})[
        "20260101-000000-prof"]
    report = (run_dir / "profile.txt").read_text()
    assert report.startswith("profiled steps: 3; wall ") and "ms/step" in report
    assert "aten::" in report  # the operator table
    assert (run_dir / "model").is_dir()  # profiling does not get in the way of the run


def test_without_the_variable_nothing_is_profiled(tmp_path, monkeypatch):
    monkeypatch.delenv(profiling.PROFILE_ENV, raising=False)
    assert profiling.callbacks(tmp_path, "cpu") == []
