"""Find learning rate: the suggestion on made-up curves, its chart, the range test's config, and one real tiny
range test through the CLI."""

import math
import random
import subprocess
import sys

from core.config.schema import RunConfig
from core.config.variants import range_test_steps, range_test_variant
from core.diagnostics.diagnose import run_findings
from core.diagnostics.lr_range import format_lr, range_points, suggest_learning_rate
from core.rundir import runs
from core.runner import launcher, process
from core.views.charts import lr_range_figure
from tests.conftest import ROOT, tiny_config, write_config


def sweep(count=100):
    return [1e-7 * 1e7 ** (i / (count - 1)) for i in range(count)]


def healthy_loss(lr):
    """Falls fastest at 3e-5, bottoms out near 5e-4, explodes above 3e-3."""
    x = math.log10(lr)
    return 1.1 - 0.7 / (1 + math.exp(-(x + 4.5) * 2.5)) + 0.1 * math.exp((x + 3) * 2.5)


def healthy_curve():
    return [(lr, healthy_loss(lr)) for lr in sweep() if healthy_loss(lr) < 4.4]  # the test stops at 4x


def test_healthy_curve_suggests_the_steepest_fall_with_its_reason():
    suggestion = suggest_learning_rate(healthy_curve())
    assert suggestion.learning_rate == 3e-5
    assert 2e-4 < suggestion.minimum < 1e-3 and 1e-3 < suggestion.diverges_above < 1e-2
    assert suggestion.reason.startswith("The loss falls fastest around 3e-5; the minimum is at")
    assert "it diverges above" in suggestion.reason


def test_noisy_curve_still_lands_near_the_steepest_fall():
    rng = random.Random(0)
    noisy = [(lr, loss * (1 + rng.gauss(0, 0.05))) for lr, loss in healthy_curve()]
    suggestion = suggest_learning_rate(noisy)
    assert 1e-5 <= suggestion.learning_rate <= 1e-4


def test_a_tenth_of_the_minimum_caps_a_late_steepest_fall():
    # Flat, then a cliff right before the minimum: the steepest point is too close to the divergence.
    curve = [(lr, 1.0 if lr < 1e-3 else 0.5) for lr in sweep() if lr < 3e-3]
    suggestion = suggest_learning_rate(curve)
    assert suggestion.learning_rate <= suggestion.minimum / 10 * 1.5
    assert "a tenth of the minimum" in suggestion.reason


def test_flat_curve_gives_no_suggestion_and_says_why():
    suggestion = suggest_learning_rate([(lr, 1.0986) for lr in sweep()])
    assert suggestion.learning_rate is None
    assert "never fell more than 5%" in suggestion.reason and "from 1e-7 to 1e0" in suggestion.reason


def test_curve_diverging_at_once_gives_no_suggestion():
    suggestion = suggest_learning_rate([(lr, 1.1 * 1.15 ** i) for i, lr in enumerate(sweep(12))])
    assert suggestion.learning_rate is None and "rose from the smallest learning rate tried (1e-7)" in suggestion.reason


def test_too_few_points_is_not_a_curve():
    assert "needed to read a curve" in suggest_learning_rate([(1e-7, 1.0), (1e-6, 0.9)]).reason


def test_range_points_end_at_the_first_non_finite_loss():
    records = [{"type": "train", "step": 1, "loss": 1.0, "learning_rate": 1e-7},
               {"type": "eval", "step": 1, "eval_loss": 1.0},
               {"type": "train", "step": 2, "loss": 0.9, "learning_rate": 1e-6},
               {"type": "train", "step": 3, "loss": "nan", "learning_rate": 1e-5},
               {"type": "train", "step": 4, "loss": 0.5, "learning_rate": 1e-4}]
    assert range_points(records) == [(1e-7, 1.0), (1e-6, 0.9)]


def test_chart_plots_loss_against_a_log_learning_rate_with_the_suggestion():
    points = healthy_curve()
    figure = lr_range_figure(points, suggest_learning_rate(points))
    assert figure.layout.xaxis.type == "log"
    names = [trace.name for trace in figure.data]
    assert names == ["loss", "smoothed", "suggested 3e-5"]
    assert list(figure.data[2].x) == [3e-5, 3e-5]
    assert format_lr(1.0) == "1e0" and format_lr(0.00003) == "3e-5"


def test_range_test_config_has_no_evaluation_no_checkpoints_and_fewer_steps_on_little_data():
    config = RunConfig.from_dict(tiny_config(per_device_train_batch_size=4, eval_strategy="steps", eval_steps=5))
    config.data.train_size = 40
    variant = range_test_variant(config, 1e-7)
    assert range_test_steps(config) == 30  # 3 passes over 40 rows at batch 4
    assert variant.training.extra["max_steps"] == 30 and variant.training.extra["save_strategy"] == "no"
    assert variant.training.eval_strategy == "no" and not variant.training.load_best_model_at_end
    assert variant.training.learning_rate == 1e-7 and variant.training.logging_steps == 1
    assert range_test_steps(RunConfig.from_dict(tiny_config())) == 39  # 200 rows at 16: 13 batches a pass
    assert range_test_steps(RunConfig()) == 100


def test_range_test_is_queued_as_a_run_that_the_child_starts_with_lr_find(runs_dir, monkeypatch):
    launched, real_popen = [], subprocess.Popen
    monkeypatch.setattr(process.subprocess, "Popen", lambda command, **kw: launched.append(command) or
                        real_popen([sys.executable, "-c", "pass"]))
    run_dir = launcher.start_lr_find(RunConfig.from_dict(tiny_config()), runs_dir)
    assert runs.read_status(run_dir)["lr_find"] is True
    assert runs.read_json(run_dir / "config.json")["name"] == "find lr tiny"
    child = next(command for command in launched if "core.train" in command)
    assert child[-1] == "--lr-find"


def test_cli_range_test_records_a_curve_and_suggests(tmp_path):
    raw = tiny_config(per_device_train_batch_size=8, learning_rate=5e-5)  # 20 steps
    raw["data"].update(train_size=40, eval_size=12, max_length=32)
    config_path = write_config(tmp_path / "config.json", raw)
    result = subprocess.run([sys.executable, "-m", "core.train", "--config", str(config_path), "--run-dir",
                             str(tmp_path / "run"), "--cache-dir", str(tmp_path / "cache"), "--lr-find"],
                            cwd=ROOT, capture_output=True, text=True, timeout=400)
    assert result.returncode == 0, result.stderr[-2000:]
    run_dir = tmp_path / "run"
    status = runs.read_status(run_dir)
    assert status["state"] == "completed" and status["lr_find"] is True
    lrs = [lr for lr, _ in range_points(runs.read_metrics(run_dir))]
    assert 8 <= len(lrs) <= 20 and lrs == sorted(lrs) and lrs[0] < 1e-6
    assert not any(r["type"] == "eval" for r in runs.read_metrics(run_dir))
    assert not (run_dir / "model").exists() and not list((run_dir / "checkpoints").glob("checkpoint-*"))
    assert runs.read_json(run_dir / "config.json")["training"]["learning_rate"] == 5e-5  # the config as given
    assert "falls fastest" in result.stdout or "No suggestion" in result.stdout
    assert run_findings(run_dir) == []  # a curve that diverges on purpose is not a problem


def test_cli_refuses_lr_find_with_resume(tmp_path):
    result = subprocess.run([sys.executable, "-m", "core.train", "--run-dir", str(tmp_path / "r"), "--resume",
                             "--lr-find"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "--lr-find is a run of its own" in result.stderr


def test_range_test_stops_once_the_running_loss_is_four_times_its_best():
    from transformers import TrainerControl

    from core.training.lr_find import StopWhenLossExplodes

    explosion, control = StopWhenLossExplodes(), TrainerControl()
    for step, loss in enumerate([1.1, 1.0, 0.8, 0.6, 0.5, 0.5, 0.6]):
        explosion.on_log(None, None, control, logs={"loss": loss, "learning_rate": 10.0 ** (step - 7)})
    assert not control.should_training_stop
    for step, loss in enumerate([5.0, 20.0, 80.0], start=7):
        explosion.on_log(None, None, control, logs={"loss": loss, "learning_rate": 10.0 ** (step - 7)})
        if control.should_training_stop:
            break
    assert control.should_training_stop and explosion.exploded_at in (1.0, 10.0)
