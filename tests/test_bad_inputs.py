"""Each bad input of issue 3 through `python -m core.train`: exit 2, one line naming the field and the fix,
no traceback, and no run folder made."""

import subprocess
import sys

import pytest

from core.training import train
from tests.bad_inputs import CASES, config_for
from tests.conftest import ROOT, write_config


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_sentence_and_no_run_folder(case, tmp_path, capsys):
    config_path = write_config(tmp_path / "config.json", config_for(case))
    code = train.main(["--config", str(config_path), "--run-dir", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith(f"error: {case.field}: "), err
    assert case.words in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()


def test_the_real_cli_process_says_it_in_one_line(tmp_path):
    case = next(c for c in CASES if c.id == "missing-labels")
    config_path = write_config(tmp_path / "config.json", config_for(case))
    result = subprocess.run([sys.executable, "-m", "core.train", "--config", str(config_path), "--run-dir",
                             str(tmp_path / "run")], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip() == ("error: data.label_column: 6 of 90 rows have no label in column 'sentiment'; "
                                     "fill them in, or set data.drop_missing_labels to true (tick 'Drop rows "
                                     "without a label') to drop them.")
    assert not (tmp_path / "run").exists()


def test_a_queued_run_with_bad_data_is_marked_failed_with_the_sentence(runs_dir):
    """The file can change between the page's preview and Start: the child then records why it stopped."""
    from core.config.schema import RunConfig
    from core.rundir import runs
    from core.runner import launcher
    from tests.test_train_cli import wait_for

    case = next(c for c in CASES if c.id == "empty-file")
    run_dir = launcher.start_run(RunConfig.from_dict(config_for(case)), runs_dir)
    assert wait_for(lambda: runs.read_status(run_dir).get("state") == "failed", timeout=120)
    error = runs.read_status(run_dir)["error"]
    assert error["code"] == "EMPTY_FILE" and error["message"].startswith("data.path: ")
    assert not (run_dir / "dataset.json").exists()
