"""Curve rules for multi-label runs, whose chance level is not a uniform guess over K classes.

A multi-label model at chance predicts each label's frequency: its loss is the mean binary entropy of the label
frequencies (dataset.json `chance_loss`, far below ln(K)), and thresholded it answers no label, or the most
frequent ones, for every text (`baseline_f1_micro`). Sparse labels make "no label for most texts" normal, so the
rules judge micro F1 against that baseline, never the share of texts given no label alone.
"""

from __future__ import annotations

import math

from core.diagnostics import rules
from core.diagnostics.findings import Finding
from core.rundir.records import as_float, eval_points, train_points

# Micro F1 no more than this above the constant answer counts as "at the baseline" (rules' 2 points for accuracy).
BASELINE_F1_POINTS = 0.02


def _at_baseline(evaluation: dict, baseline: float) -> bool:
    f1 = as_float(evaluation.get("eval_f1_micro"))
    return f1 == f1 and f1 <= baseline + BASELINE_F1_POINTS


def stuck_at_label_frequencies(records: list[dict], dataset: dict, max_steps: int, learning_rate: float | None = None,
                               trainable_parameters: int | None = None) -> Finding | None:
    """STUCK_AT_CHANCE (and its causes) for multi-label: after the warm-up the training loss is still that of
    predicting the label frequencies and micro F1 is no better than answering the most frequent labels."""
    trains, evals = train_points(records), eval_points(records)
    chance, baseline = as_float(dataset.get("chance_loss")), as_float(dataset.get("baseline_f1_micro"))
    if not trains or not evals or not max_steps or not chance > 0 or baseline != baseline:
        return None
    step = trains[-1]["step"]
    smoothed = rules._smoothed([as_float(r["loss"]) for r in trains])[-1]
    if not rules._enough_steps(step, max_steps) or smoothed < chance * (1 - rules.STUCK_LOSS_TOLERANCE):
        return None
    if not _at_baseline(evals[-1], baseline):
        return None
    f1, nothing = as_float(evals[-1].get("eval_f1_micro")), as_float(evals[-1].get("eval_no_label_share"))
    evidence = (f"After {step} of {max_steps} steps the training loss is {smoothed:.3f} (predicting each label's "
                f"frequency scores {chance:.3f}) and eval micro F1 is {f1:.1%} (answering the most frequent labels "
                f"for every text: {baseline:.1%})")
    if nothing == nothing:
        evidence += f"; {nothing:.0%} of eval texts get no label"
    code, cause, more, fix, change = rules._stuck_cause(trains, learning_rate, trainable_parameters)
    return Finding(code=code, severity="warning", title=f"The model is not learning{cause}",
                   evidence=evidence + "." + more, fix=fix, config_change=change, step=step)


def train_learns_but_eval_stays_at_baseline(records: list[dict], dataset: dict) -> Finding | None:
    """LABEL_NOISE for multi-label: the training loss falls well below chance, eval micro F1 stays at the
    constant answer's."""
    trains, evals = train_points(records), eval_points(records)
    chance, baseline = as_float(dataset.get("chance_loss")), as_float(dataset.get("baseline_f1_micro"))
    if len(evals) < 2 or len(trains) < 5 or not chance > 0 or baseline != baseline:
        return None
    smoothed = rules._smoothed([as_float(r["loss"]) for r in trains])[-1]
    if smoothed > 0.6 * chance or not all(_at_baseline(e, baseline) for e in evals[-2:]):
        return None
    f1 = as_float(evals[-1].get("eval_f1_micro"))
    return Finding(code="LABEL_NOISE", severity="warning", title="The model memorises labels that do not generalise",
                   evidence=(f"Training loss fell to {smoothed:.3f} (predicting the label frequencies: {chance:.3f}) "
                             f"but eval micro F1 stayed at {f1:.1%}, no better than answering the most frequent "
                             f"labels ({baseline:.1%})."),
                   fix=("The labels probably do not match the texts (shuffled rows, a wrong label column or "
                        "separator): check a few rows against their labels."),
                   step=evals[-1]["step"])


def multilabel_findings(records: list[dict], dataset: dict, status: dict, config: dict) -> list[Finding]:
    """The multi-label curve rules (rules.live_findings leaves out its single-label ones for these runs)."""
    if dataset.get("task") != "multi_label" or rules.first_non_finite_loss(records):
        return []
    progress, facts = status.get("progress") or {}, status.get("model_facts") or {}
    training = config.get("training") or {}
    chance = as_float(dataset.get("chance_loss"))
    found = [stuck_at_label_frequencies(records, dataset, int(progress.get("max_steps", 0) or 0),
                                        training.get("learning_rate"), facts.get("trainable_parameters")),
             train_learns_but_eval_stays_at_baseline(records, dataset),
             rules.loss_diverging(records, 2, chance=chance if chance > 0 else math.log(2))]
    return [f for f in found if f]
