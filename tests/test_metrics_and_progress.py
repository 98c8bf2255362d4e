import numpy as np

from core.training.metrics import classification_report, compute_metrics
from core.views.progress import best_eval, format_duration, POLL_MAX_S, POLL_MIN_S, poll_seconds, progress_of


def test_compute_metrics_matches_hand_counts():
    logits = np.array([[2.0, 0.1, 0.0], [0.1, 3.0, 0.0], [0.0, 0.2, 1.0], [1.0, 0.0, 0.0]])
    labels = np.array([0, 1, 2, 1])
    metrics = compute_metrics((logits, labels))
    assert metrics["accuracy"] == 0.75
    assert set(metrics) == {"accuracy", "f1", "f1_macro", "f1_weighted", "precision", "recall", "top_class_share",
                            "top_class"}
    assert metrics["top_class_share"] == 0.5 and metrics["top_class"] == 0  # class 0 is predicted for 2 of 4 texts
    # Per-class F1: 2/3, 2/3 and 1, with 1, 2 and 1 texts: weighted (2/3 + 4/3 + 1) / 4, macro (2/3 + 2/3 + 1) / 3.
    assert metrics["f1"] == metrics["f1_weighted"] == np.float64(0.75)
    assert abs(metrics["f1_macro"] - 7 / 9) < 1e-9


def test_metrics_do_not_warn_when_a_class_is_never_predicted():
    logits = np.array([[1.0, 0.0], [1.0, 0.0]])
    metrics = compute_metrics((logits, np.array([0, 1])))
    assert metrics["precision"] == 0.25


def test_report_has_every_label_and_the_confusion_matrix():
    report = classification_report(np.array([0, 1, 2, 2]), np.array([0, 2, 2, 2]), ["neg", "neu", "pos"])
    assert [row["label"] for row in report["per_class"]] == ["neg", "neu", "pos"]
    assert report["per_class"][1]["recall"] == 0.0 and report["per_class"][2]["support"] == 2
    assert report["confusion_matrix"] == [[1, 0, 0], [0, 0, 1], [0, 0, 2]]


def test_best_eval_highest_metric_or_lowest_loss():
    records = [{"type": "eval", "step": 10, "eval_loss": 0.5, "eval_f1": 0.7},
               {"type": "eval", "step": 20, "eval_loss": 0.4, "eval_f1": 0.8},
               {"type": "eval", "step": 30, "eval_loss": 0.45, "eval_f1": 0.8}]
    assert best_eval(records, "f1")["step"] == 20
    assert best_eval(records, "loss")["step"] == 20
    assert best_eval([], "f1") is None


def test_eta_uses_the_pace_so_far():
    status = {"state": "running", "progress": {"step": 100, "max_steps": 400, "epoch": 1.0, "num_train_epochs": 4,
                                               "train_started_at": 1000.0, "at": 1050.0}}
    p = progress_of(status, now=1050.0)
    assert p.fraction == 0.25 and p.eta_s == 150.0 and p.elapsed_s == 50.0
    assert format_duration(p.eta_s) == "2m 30s"


def test_a_run_is_polled_as_often_as_it_writes_and_not_at_all_once_it_ended():
    def lines(every, count=6):
        # a train line per logging window, with an eval line right behind some of them
        return [{"type": kind, "step": i, "time": 1000.0 + i * every + (0.1 if kind == "eval" else 0.0)}
                for i in range(count) for kind in (("train", "eval") if i % 3 == 2 else ("train",))]

    assert poll_seconds({"state": "running"}, lines(12.0)) == 12.0
    assert poll_seconds({"state": "running"}, lines(0.3)) == POLL_MIN_S  # a fast run: the floor
    assert poll_seconds({"state": "running"}, lines(120.0)) == POLL_MAX_S  # a slow one still shows a stop soon
    assert poll_seconds({"state": "running"}, []) == POLL_MIN_S  # starting up: nothing written yet
    # Before two lines exist, its pace: 2 s a step, a line every 5 steps.
    pace = {"step": 20, "start_step": 0, "train_started_at": 100.0, "at": 140.0}
    assert poll_seconds({"state": "running", "progress": pace}, lines(6.0, count=1), logging_steps=5) == 10.0
    assert poll_seconds({"state": "queued"}, []) == POLL_MIN_S
    for state in ("completed", "failed", "stopped", "cancelled"):
        assert poll_seconds({"state": state}, lines(6.0)) is None


def test_one_duration_from_process_start_to_end_or_now():
    from core.views.progress import run_duration_s

    ended = {"state": "completed", "started_at": "2026-01-01T10:00:00+0000", "ended_at": "2026-01-01T10:04:47+0000",
             "progress": {"train_started_at": 1767261614.0, "at": 1767261800.0}}
    assert run_duration_s(ended) == 287.0 and format_duration(287.0) == "4m 47s"
    running = {"state": "running", "started_at": "2026-01-01T10:00:00+0000"}
    assert run_duration_s(running, now=1767261600.0 + 30) == 30.0
    assert run_duration_s({"state": "queued"}) is None


def test_metrics_are_written_one_way():
    from core.views.progress import format_metric

    assert format_metric("f1", 0.7432) == "74.3%" and format_metric("eval_accuracy", "0.5") == "50.0%"
    assert format_metric("loss", 0.48213) == "0.482"
    assert format_metric("f1", None) == "–" and format_metric("f1", "nan") == "–"


def test_the_eta_starts_from_the_estimate_and_moves_to_the_measured_pace():
    from core.views.progress import blended_step_s, prior_step_s

    status = {"state": "running", "progress": {"step": 0, "max_steps": 375, "num_train_epochs": 3}}
    prior = prior_step_s({"time": {"train_s_per_epoch": 100.0, "eval_s_per_epoch": 12.5}}, status)
    assert prior == 0.9  # (100 + 12.5) s per epoch x 3 epochs / 375 steps
    assert blended_step_s(None, 0, prior, 375) == 0.9  # before the first step: the estimate alone
    assert blended_step_s(4.0, 20, prior, 375) == (4.0 + 0.9) / 2  # 20 steps weigh as much as the estimate
    assert abs(blended_step_s(1.0, 2000, prior, 375) - 1.0) < 0.01  # in the end, the measurement
    assert blended_step_s(3.0, 5, None, 375) == 3.0  # no estimate (a Hub model): the measurement alone
    assert prior_step_s({"time": {"train_s_per_epoch": 0.0}}, status) is None  # a tiny model's 0 s is no estimate


def test_a_slow_first_step_no_longer_swings_the_eta():
    """A default CPU run: the first step takes 12 s (warm-up), the rest 0.9 s each, as estimated."""
    from core.views.progress import progress_of

    def etas(prior):
        out = []
        for step in range(1, 16):
            at = 1000.0 + 12.0 + 0.9 * (step - 1)
            status = {"state": "running", "progress": {"step": step, "max_steps": 375, "epoch": step / 125,
                                                       "num_train_epochs": 3, "train_started_at": 1000.0, "at": at}}
            out.append(progress_of(status, now=at, prior_s=prior).eta_s)
        return out

    measured_only, blended = etas(None), etas(0.9)
    assert max(measured_only) / min(measured_only) > 3  # 75 min down to 10 min in 15 steps: the swing users saw
    assert max(blended) / min(blended) < 1.5
    truth = 0.9 * (375 - 15)
    assert abs(blended[-1] - truth) < abs(measured_only[-1] - truth)
