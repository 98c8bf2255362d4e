"""Live run page: one click after running out of memory, and the estimate against the measurement."""

import json
from unittest import mock

from tests.test_page_live_run import RESULTS, make_run, open_live

OOM = {"code": "OUT_OF_MEMORY", "message": "The cuda device ran out of memory at batch size 16.", "device": "cuda",
       "per_device_train_batch_size": 16, "gradient_accumulation_steps": 2, "memory_preset": "standard"}


def test_out_of_memory_offers_half_the_batch_with_the_same_effective_batch(runs_dir):
    make_run(runs_dir, "20260101-000000", "failed", error=OOM)
    app = open_live()
    button = app.button(key="retry_half_batch")
    assert "8 x 4 accumulation, the same effective batch of 32" in button.label
    assert "memory_preset = low" in app.button(key="fix_OUT_OF_MEMORY").label  # the next preset, too
    with mock.patch("core.runner.launcher.start_run", return_value=runs_dir / "20260102-000000-retry") as start:
        button.click().run()
    config = start.call_args.args[0]
    assert (config.training.per_device_train_batch_size, config.training.gradient_accumulation_steps) == (8, 4)
    assert start.call_args.kwargs["lineage"]["derived_from"] == "20260101-000000"


def test_other_failures_get_no_half_batch_button(runs_dir):
    make_run(runs_dir, "20260101-000000", "failed", error={"code": "DISK_SPACE", "message": "disk full"})
    assert not [b for b in open_live().button if b.key == "retry_half_batch"]


def test_finished_run_shows_estimate_against_measurement(runs_dir):
    results = {**RESULTS, "performance": {"peak_memory_mb": 400.0, "samples_per_second": 20.0}}
    run_dir = make_run(runs_dir, "20260101-000000", "completed", results=results)
    (run_dir / "estimate.json").write_text(json.dumps({"memory": {"total_mb": 440.0},
                                                       "time": {"samples_per_second": 18.0}}))
    table = next(d.value for d in open_live().dataframe if "Peak memory (MB)" in d.value.index)
    assert table.loc["Peak memory (MB)", "estimate off by"] == "+10%"
    assert table.loc["Training samples/s", "measured"] == 20.0
