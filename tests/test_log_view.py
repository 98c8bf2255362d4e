"""The Live run page's training log in words: a real train.log (weight loading, tqdm, Trainer dicts) rewritten."""

from core.views.log_view import readable_log
from tests.conftest import ROOT

SAMPLE = (ROOT / "tests" / "fixtures" / "train_log_sample.log").read_text(encoding="utf-8")


def test_the_log_has_no_escape_codes_and_one_line_per_progress_bar():
    shown = readable_log(SAMPLE)
    assert "\x1b" not in shown and "\r" not in shown
    assert shown.count("Loading weights") == 1 and "103/103" in shown


def test_a_new_classification_head_is_said_in_words_not_as_missing_keys():
    shown = readable_log(SAMPLE)
    assert "MISSING" not in shown and "LOAD REPORT" not in shown and "| Status" not in shown
    assert "A new classification head (classifier.weight, classifier.bias) starts from random weights and is " \
           "trained in this run" in shown


def test_trainer_dicts_read_as_named_values():
    shown = readable_log(SAMPLE)
    assert "{'" not in shown
    assert "loss 1.098 · grad norm 0.5375 · learning rate 0 · epoch 0.07692" in shown
    assert "Evaluation: loss 1.074 · accuracy 0.4167 · f1 0.2451" in shown


def test_missing_weights_outside_the_head_are_named_as_such():
    log = ("[transformers] X LOAD REPORT from: m\nKey | Status |\n---+---\nencoder.layer.0.w | MISSING |\n"
           "pooler.dense.bias | UNEXPECTED |\n\nNotes:\n- MISSING: newly initialized\n[10:00:00] Next line.")
    shown = readable_log(log)
    assert "1 weights were not in the checkpoint and start from random values: encoder.layer.0.w." in shown
    assert "not used by this model" in shown and shown.endswith("[10:00:00] Next line.")
