import numpy as np

from core.training.metrics import classification_report, compute_metrics
from core.views.progress import best_eval, format_duration, POLL_MAX_S, POLL_MIN_S, poll_seconds, progress_of


def test_compute_metrics_matches_hand_counts():
    logits = np.array([[2.0, 0.1, 0.0], [0.1, 3.0, 0.0], [0.0, 0.2, 1.0], [1.0, 0.0, 0.0]])
    labels = np.array([0, 1, 2, 1])
    metrics = compute_metrics((logits, labels))
    assert metrics["accuracy"] == 0.75
    assert set(metrics) == {"accuracy", "f1", "precision", "recall", "top_class_share", "top_class"}
    assert metrics["top_class_share"] == 0.5 and metrics["top_class"] == 0  # class 0 is predicted for 2 of 4 texts
    assert 0 < metrics["f1"] < 1


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

    assert poll_seconds({"state": "running"}, lines(6.0)) == 6.0
    assert poll_seconds({"state": "running"}, lines(0.3)) == POLL_MIN_S  # a fast run: the floor
    assert poll_seconds({"state": "running"}, lines(120.0)) == POLL_MAX_S  # a slow one still shows a stop soon
    assert poll_seconds({"state": "running"}, []) == POLL_MIN_S  # starting up: nothing written yet
    # Before two lines exist, its pace: 2 s a step, a line every 5 steps.
    pace = {"step": 20, "start_step": 0, "train_started_at": 100.0, "at": 140.0}
    assert poll_seconds({"state": "running", "progress": pace}, lines(6.0, count=1), logging_steps=5) == 10.0
    assert poll_seconds({"state": "queued"}, []) == POLL_MIN_S
    for state in ("completed", "failed", "stopped", "cancelled"):
        assert poll_seconds({"state": state}, lines(6.0)) is None
