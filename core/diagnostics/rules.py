"""Diagnostics: pure functions over what a run directory holds, returning findings a person can act on.

Each rule takes plain data (metric dicts, the dataset summary, the config) and returns a
`Finding` or None, so it is tested on made-up curves, never on real training.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from core.diagnostics import model_checks
from core.diagnostics.data_rules import (batches_mostly_padding, batches_slow_to_make, classes_far_apart_in_size,
                                         eval_texts_seen_in_training, IMBALANCE_RATIO)
from core.diagnostics.findings import Finding
from core.diagnostics.learning_rates import learning_rate_far_off, lr_text, model_family, USUAL_LEARNING_RATES
from core.rundir.records import as_float, eval_points, train_points

# An eval loss this far above its best counts as a real rise, not noise (1%, from the rule in issue 4).
OVERFIT_MARGIN = 0.01
# Consecutive evaluations above the best before we call it overfitting: one epoch's blip is not enough.
OVERFIT_PATIENCE = 2
# "Stuck": loss within 5% of ln(K), the loss of a uniform guess over K classes...
STUCK_LOSS_TOLERANCE = 0.05
# ...and accuracy no more than 2 points above always answering the most frequent class. (Below it counts too:
# predictions unrelated to the labels score at most the majority rate, e.g. 39% against 42% on shuffled labels.)
STUCK_ACCURACY_POINTS = 0.02
# Judge only after the larger of this share of the planned steps and STUCK_MIN_STEPS (the rule in issue 4),
# so the warm-up is not mistaken for being stuck; a run shorter than that is never called stuck.
STUCK_MIN_PROGRESS = 0.10
STUCK_MIN_STEPS = 50
# ...unless, once the warm-up (STUCK_MIN_PROGRESS of the steps) is over, an evaluation already answers one class
# and the training loss says the same (issue 14): the update ratio is that of a too-high learning rate, or the
# loss stayed at chance over at least EARLY_MIN_LOGS logged values and EARLY_MIN_SPAN steps, falling by less than
# EARLY_FLAT_DROP (a falling loss is a run that learns; over a few steps any run's loss still sits at chance).
EARLY_MIN_LOGS = 3
EARLY_MIN_SPAN = 20
EARLY_FLAT_DROP = 0.02
# More than this share of eval predictions in one class means the model answers one class for everything.
ONE_CLASS_SHARE = 0.95
# Update ratio ‖ΔW‖/‖W‖ bounds (Karpathy's ~1e-3 rule of thumb, widened by a decade either side).
UPDATE_RATIO_HIGH = 1e-2
UPDATE_RATIO_LOW = 1e-5
# A gradient norm below this on every recent step means nothing reaches the weights.
FROZEN_GRAD_NORM = 1e-8
# Diverging: the smoothed training loss is back above this multiple of its lowest point, and above chance.
DIVERGE_FACTOR = 2.0
# One class for every eval text (issue 14): judged at the run's last evaluation whatever its length, so stricter
# than ONE_CLASS_SHARE; 98% leaves room for a stray text or two in a 100-text eval set.
ONE_CLASS_ALL_SHARE = 0.98
# A run of fewer optimizer steps than this is very short; a longer run is the first fix for one that answered one
# class. 150 is 3 epochs of 800 texts at batch 16; the default run (bench/RESULTS.md) takes 375 steps.
SHORT_RUN_STEPS = 150


def _mean_train_loss_before(trains: list[dict], step: int, window: int = 5) -> float:
    losses = [as_float(r["loss"]) for r in trains if r["step"] <= step][-window:]
    return sum(losses) / len(losses) if losses else math.nan


def eval_loss_rising_while_train_falls(records: list[dict]) -> Finding | None:
    """Overfitting: eval loss > best by 1% for 2+ evaluations in a row while training loss keeps falling."""
    evals, trains = eval_points(records), train_points(records)
    if len(evals) < OVERFIT_PATIENCE + 1:
        return None
    losses = [as_float(e["eval_loss"]) for e in evals]
    best_index = min(range(len(losses)), key=lambda i: losses[i])
    after = losses[best_index + 1:]
    threshold = losses[best_index] * (1 + OVERFIT_MARGIN)
    if len(after) < OVERFIT_PATIENCE or not all(loss > threshold for loss in after[-OVERFIT_PATIENCE:]):
        return None
    onset = next(i for i in range(best_index + 1, len(losses)) if losses[i] > threshold)
    best, last = evals[best_index], evals[-1]
    train_then = _mean_train_loss_before(trains, best["step"])
    train_now = _mean_train_loss_before(trains, last["step"])
    if not train_now < train_then:
        return None
    epoch = best.get("epoch")
    return Finding(
        code="OVERFITTING", severity="warning", title="The model is overfitting",
        evidence=(f"Eval loss rose from {losses[best_index]:.3f} (step {best['step']}) to {losses[-1]:.3f} "
                  f"(step {last['step']}) while training loss fell from {train_then:.3f} to {train_now:.3f}."),
        fix=(f"Keep the model from step {best['step']} (load best model at end does this) and stop earlier: "
             f"turn on early stopping, or train fewer epochs; raise weight decay or dropout for the next run."),
        config_change={"training.early_stopping_patience": 2, "training.load_best_model_at_end": True,
                       **({"training.num_train_epochs": max(1.0, round(float(epoch)))} if epoch else {})},
        step=evals[onset]["step"])


def _smoothed(values: list[float], window: int = 5) -> list[float]:
    return [sum(values[max(0, i - window + 1):i + 1]) / len(values[max(0, i - window + 1):i + 1])
            for i in range(len(values))]


def _enough_steps(step: int, max_steps: int) -> bool:
    needed = max(STUCK_MIN_PROGRESS * max_steps, STUCK_MIN_STEPS)
    return step >= needed


def loss_at_chance_and_accuracy_at_majority(records: list[dict], num_labels: int, majority_rate: float,
                                            max_steps: int, learning_rate: float | None = None,
                                            trainable_parameters: int | None = None) -> Finding | None:
    """Stuck: loss ≈ ln(K) and accuracy ≈ the majority rate (or one class predicted for nearly all),
    told apart by cause: frozen weights, learning rate too high or too low."""
    trains, evals = train_points(records), eval_points(records)
    if num_labels < 2 or not trains or not evals or not max_steps:
        return None
    step = trains[-1]["step"]
    chance_loss = math.log(num_labels)
    top_share = as_float(evals[-1].get("eval_top_class_share"))
    early = step >= STUCK_MIN_PROGRESS * max_steps and _early_evidence(trains, top_share, chance_loss)
    if not (_enough_steps(step, max_steps) or early):
        return None
    smoothed = _smoothed([as_float(r["loss"]) for r in trains])[-1]
    accuracy = as_float(evals[-1].get("eval_accuracy"))
    at_chance = (abs(smoothed - chance_loss) <= STUCK_LOSS_TOLERANCE * chance_loss
                 and not math.isnan(accuracy) and accuracy <= majority_rate + STUCK_ACCURACY_POINTS)
    if not (at_chance or top_share > ONE_CLASS_SHARE):
        return None
    evidence = (f"After {step} of {max_steps} steps the training loss is {smoothed:.3f} (a uniform guess over "
                f"{num_labels} classes scores ln({num_labels}) = {chance_loss:.3f}), eval accuracy is {accuracy:.1%} "
                f"(always answering the largest class: {majority_rate:.1%})")
    if top_share == top_share:
        evidence += f", and {top_share:.0%} of eval predictions are one class"
    code, cause, more, fix, change = _stuck_cause(trains, learning_rate, trainable_parameters)
    return Finding(code=code, severity="warning", title=f"The model is not learning{cause}",
                   evidence=evidence + "." + more, fix=fix, config_change=change, step=step)


def _early_evidence(trains: list[dict], top_share: float, chance_loss: float) -> bool:
    """Before the stuck rule's minimum step: an evaluation answers one class and the training loss agrees (the
    update ratio of a too-high learning rate, or a loss flat at chance since its first logged value)."""
    if not top_share >= ONE_CLASS_ALL_SHARE:
        return False
    if max(ratios_at_peak_learning_rate(trains), default=0.0) > UPDATE_RATIO_HIGH:
        return True
    losses = [as_float(r["loss"]) for r in trains]
    return (len(losses) >= EARLY_MIN_LOGS and trains[-1]["step"] - trains[0]["step"] >= EARLY_MIN_SPAN
            and all(abs(loss - chance_loss) <= STUCK_LOSS_TOLERANCE * chance_loss for loss in losses)
            and losses[-1] > losses[0] * (1 - EARLY_FLAT_DROP))


def ratios_at_peak_learning_rate(trains: list[dict]) -> list[float]:
    """Update ratios scaled to the peak learning rate, so warmup and decay do not read as a wrong LR."""
    peak = max((as_float(r.get("learning_rate")) for r in trains), default=math.nan)
    scaled = []
    for r in trains:
        lr, ratio = as_float(r.get("learning_rate")), as_float(r.get("update_ratio"))
        if lr > 0 and ratio == ratio and peak == peak:
            scaled.append(ratio * peak / lr)
    return scaled


def _stuck_cause(trains: list[dict], learning_rate: float | None,
                 trainable_parameters: int | None) -> tuple[str, str, str, str, dict]:
    """(code, title suffix, extra evidence, fix, config change) for a stuck run."""
    norms = [as_float(r.get("grad_norm")) for r in trains[-5:] if "grad_norm" in r]
    ratios = ratios_at_peak_learning_rate(trains)
    if trainable_parameters == 0 or (norms and max(norms) < FROZEN_GRAD_NORM):
        count = trainable_parameters if trainable_parameters is not None else "no"
        return ("FROZEN_WEIGHTS", ": its weights are frozen",
                f" The model has {count} trainable parameters and a gradient norm of about 0.",
                "Make the encoder and the head trainable (requires_grad=True) and restart.", {})
    lr = f"{learning_rate:g}" if learning_rate else "the learning rate"
    # The largest update tells: a too-high rate shows early, before the weights have grown to absorb it.
    if ratios and max(ratios) > UPDATE_RATIO_HIGH:
        return ("LR_TOO_HIGH", ": the learning rate is too high",
                f" At the peak learning rate an update changes the weights by up to {max(ratios):.1e} of their "
                "size (healthy fine-tuning: about 1e-3).",
                f"Lower the learning rate from {lr} to 5e-5.", {"training.learning_rate": 5e-5})
    if ratios and max(ratios) < UPDATE_RATIO_LOW:
        return ("LR_TOO_LOW", ": the learning rate is too low",
                f" At the peak learning rate an update changes the weights by at most {max(ratios):.1e} of their "
                "size (healthy fine-tuning: about 1e-3).",
                f"Raise the learning rate from {lr} to 5e-5.", {"training.learning_rate": 5e-5})
    if ratios:  # updates of a healthy size: the learning rate is not the cause
        return ("STUCK_AT_CHANCE", "", f" Updates are of a healthy size (up to {max(ratios):.1e} of the weights).",
                "Check that the label column matches the texts; if it does, train longer (more epochs or data) "
                "or use a pretrained model rather than a random one.", {})
    fix, change = _stuck_fix(learning_rate)
    return "STUCK_AT_CHANCE", "", "", fix, change


def _stuck_fix(learning_rate: float | None) -> tuple[str, dict[str, Any]]:
    if learning_rate is not None and learning_rate >= 5e-4:
        return (f"The learning rate {learning_rate:g} is too high for fine-tuning; restart with 5e-5.",
                {"training.learning_rate": 5e-5})
    if learning_rate is not None and learning_rate <= 1e-6:
        return (f"The learning rate {learning_rate:g} is too low to move the weights; restart with 5e-5.",
                {"training.learning_rate": 5e-5})
    return ("Check that the label column matches the texts and that the model is not frozen; "
            "if both are right, train longer or try learning rate 5e-5.", {})


def first_non_finite_loss(records: list[dict]) -> Finding | None:
    """LOSS_NAN at the first logging step whose loss or gradient norm is NaN or infinite."""
    for record in train_points(records):
        values = {key: as_float(record.get(key)) for key in ("loss", "grad_norm") if key in record}
        bad = {key: value for key, value in values.items() if not math.isfinite(value)}
        if bad:
            lr = as_float(record.get("learning_rate"))
            what = " and ".join(f"{key.replace('_', ' ')} is {value}" for key, value in bad.items())
            change = {"training.learning_rate": float(f"{lr / 10:.1g}")} if lr == lr and lr > 0 else {}
            return Finding(code="LOSS_NAN", severity="error", title="The loss became NaN",
                           evidence=f"At step {record['step']} the {what}; the weights are now unusable.",
                           fix=("Restart with a 10x lower learning rate; if it uses fp16, switch to bf16 or fp32, "
                                "and keep gradient clipping (max_grad_norm 1.0) on."),
                           config_change=change, step=record["step"])
    return None


def loss_diverging(records: list[dict], num_labels: int, chance: float | None = None) -> Finding | None:
    """DIVERGING: the smoothed training loss climbed back to 2x its lowest point and above chance (ln K unless
    given: a multi-label run's chance is its label frequencies' loss)."""
    trains = train_points(records)
    losses = [as_float(r["loss"]) for r in trains]
    if len(losses) < 10 or not all(math.isfinite(x) for x in losses):
        return None
    smoothed = _smoothed(losses)
    lowest = min(smoothed[:-1])
    if chance is None:
        chance = math.log(num_labels) if num_labels >= 2 else 0.0
    if smoothed[-1] < DIVERGE_FACTOR * lowest or smoothed[-1] <= chance:
        return None
    onset = next(i for i, v in enumerate(smoothed) if i > smoothed.index(lowest) and v >= DIVERGE_FACTOR * lowest)
    lr = as_float(trains[onset].get("learning_rate"))
    return Finding(code="DIVERGING", severity="error", title="Training is diverging",
                   evidence=(f"The training loss fell to {lowest:.3f} and climbed back to {smoothed[-1]:.3f}, "
                             f"above a uniform guess ({chance:.3f})."),
                   fix="The learning rate is too high for this model: stop and restart with a 10x lower one.",
                   config_change={"training.learning_rate": float(f"{lr / 10:.1g}")} if lr == lr and lr > 0 else {},
                   step=trains[onset]["step"])


def train_learns_but_eval_stays_at_majority(records: list[dict], num_labels: int,
                                            majority_rate: float) -> Finding | None:
    """LABEL_NOISE: training loss falls well below chance but eval accuracy stays at the majority rate."""
    trains, evals = train_points(records), eval_points(records)
    if num_labels < 2 or len(evals) < 2 or len(trains) < 5:
        return None
    chance = math.log(num_labels)
    smoothed = _smoothed([as_float(r["loss"]) for r in trains])[-1]
    accuracies = [as_float(e.get("eval_accuracy")) for e in evals[-2:]]
    if smoothed > 0.6 * chance or any(a != a or a > majority_rate + STUCK_ACCURACY_POINTS for a in accuracies):
        return None
    return Finding(code="LABEL_NOISE", severity="warning", title="The model memorises labels that do not generalise",
                   evidence=(f"Training loss fell to {smoothed:.3f} (chance is {chance:.3f}) but eval accuracy stayed "
                             f"at {accuracies[-1]:.1%}, the largest class's share ({majority_rate:.1%})."),
                   fix=("The labels probably do not match the texts (shuffled rows, wrong label column, or a "
                        "different label order in train and eval): check a few rows against their labels."),
                   step=evals[-1]["step"])


# Findings that already explain a model answering one class; when one fires, it is the finding for that cause.
ONE_CLASS_EXPLAINED_BY = ("STUCK_AT_CHANCE", "LR_TOO_HIGH", "LR_TOO_LOW", "FROZEN_WEIGHTS", "LABEL_NOISE", "DIVERGING")
MOST_LIKELY_CAUSE = "Most likely cause: "
ONE_CLASS_CAUSES = {"lr": "a learning rate far from the usual range", "short": "too few training steps",
                    "unequal": "very unequal classes", "labels": "labels that do not follow from the texts"}


def one_class_for_every_eval_text(records: list[dict], dataset: dict, status: dict,
                                  config: dict) -> Finding | None:
    """ONE_CLASS_PREDICTED: the run's last evaluation answered one class for (nearly) every eval text although the
    eval set holds several, whatever the run's length."""
    evals, classes = eval_points(records), len([c for c in (dataset.get("eval_counts") or {}).values() if c])
    if not evals or status.get("dry_run") or classes < 2:
        return None
    last, max_steps = evals[-1], int((status.get("progress") or {}).get("max_steps", 0) or 0)
    share = as_float(last.get("eval_top_class_share"))
    if not share >= ONE_CLASS_ALL_SHARE or not _final_evaluation(records, status, max_steps):
        return None
    accuracy, majority = as_float(last.get("eval_accuracy")), float(dataset.get("majority_rate", 0.0) or 0.0)
    evidence = (f"At the last evaluation (step {last['step']}) the model answered {_top_class(last, dataset)} for "
                f"{share:.0%} of the {dataset.get('eval_size') or 'eval'} eval texts, although they hold "
                f"{classes} classes")
    if accuracy == accuracy and majority:
        evidence += f"; accuracy is {accuracy:.1%}, against {majority:.1%} for always answering the largest class"
    key, cause, fix, change = _one_class_cause(dataset, config, max(max_steps, int(last["step"])))
    others = [text for name, text in ONE_CLASS_CAUSES.items() if name != key]
    return Finding(code="ONE_CLASS_PREDICTED", severity="warning", title="The model answers one class for every text",
                   evidence=f"{evidence}. {MOST_LIKELY_CAUSE}{cause}.",
                   fix=f"{fix} Other usual causes of one-class answers: {', '.join(others[:-1])} or {others[-1]}.",
                   config_change=change, step=last["step"])


def _final_evaluation(records: list[dict], status: dict, max_steps: int) -> bool:
    """Whether the last evaluation is the run's last one: it ended (or stopped), or the evaluation is at its end."""
    if status.get("state") in ("completed", "stopped", "failed") or any(r.get("type") == "summary" for r in records):
        return True
    return bool(max_steps) and int(eval_points(records)[-1]["step"]) >= max_steps


def _top_class(evaluation: dict, dataset: dict) -> str:
    """'<label>' for the class most predicted at an evaluation, where the record names it."""
    names, index = dataset.get("label_names") or [], as_float(evaluation.get("eval_top_class"))
    return f"'{names[int(index)]}'" if index == index and 0 <= index < len(names) else "one class"


def _one_class_cause(dataset: dict, config: dict, steps: int) -> tuple[str, str, str, dict[str, Any]]:
    """(ONE_CLASS_CAUSES key, most likely cause, fix, config change) for a run that answered one class; the first
    cause that matches wins."""
    training, model = config.get("training") or {}, config.get("model") or {}
    low, high, usual = USUAL_LEARNING_RATES[model_family(model)]
    lr, side = training.get("learning_rate"), learning_rate_far_off(training.get("learning_rate"), model)
    if side:
        return ("lr", f"the learning rate {lr_text(lr)} is far {'above' if side == 'high' else 'below'} the usual "
                f"{lr_text(low)} to {lr_text(high)} for this model",
                f"Restart with learning rate {lr_text(usual)}.", {"training.learning_rate": usual})
    # Random weights before a short run: tiny-random at 1e-4 on 240 tweets still answered one class after 10
    # epochs (150 steps), while pretrained MiniLM-L6 reaches 74.6% on tweets (bench/RESULTS.md).
    if model_family(model) == "random":
        return ("random", "the model starts from random weights, so it has to learn language from these few texts",
                "Fine-tune a pretrained model (MiniLM-L6) instead.", {"model.name": "minilm-l6"})
    if steps < SHORT_RUN_STEPS:
        key, unit, now, longer = _longer_run(training, steps)
        return ("short", f"the run was very short ({steps} optimizer steps), too few to move the model off its "
                "first guess",
                f"Train longer: {longer:g} {unit} instead of {now:g}, so that the run takes at least "
                f"{SHORT_RUN_STEPS} steps.", {key: longer})
    counts = dataset.get("train_counts") or {}
    if len(counts) >= 2 and min(counts.values()) > 0 and max(counts.values()) / min(counts.values()) > IMBALANCE_RATIO:
        if training.get("class_weights") in (None, "none"):
            return ("unequal", "the classes are very unequal in size, so answering the largest one pays",
                    "Weigh the classes in the loss (class weights balanced) and judge the run by macro F1; adding "
                    "examples of the small classes helps too.",
                    {"training.class_weights": "balanced", "training.metric_for_best_model": "f1_macro"})
        return ("unequal", "the classes are very unequal in size, so answering the largest one pays",
                "Add examples of the small classes (or use fewer of the largest) and judge the run by macro F1.", {})
    return ("labels", "the labels may not follow from the texts (a wrong label column, or rows shuffled apart from "
            "their labels)",
            "Check a few rows against their labels; if they match, train longer.", {})


def _longer_run(training: dict, steps: int) -> tuple[str, str, float, float]:
    """(the config key, its unit, its value, a value that makes the run at least SHORT_RUN_STEPS long)."""
    if int(training.get("max_steps") or 0) > 0:  # a step limit wins over epochs in the Trainer
        return "training.max_steps", "steps", int(training["max_steps"]), SHORT_RUN_STEPS
    epochs = float(training.get("num_train_epochs") or 3.0)
    return "training.num_train_epochs", "epochs", epochs, float(math.ceil(epochs * SHORT_RUN_STEPS / max(steps, 1)))


def live_findings(records: list[dict], dataset: dict, status: dict, config: dict) -> list[Finding]:
    """The findings shown while a run trains (and after), newest first."""
    progress = status.get("progress") or {}
    facts = status.get("model_facts") or {}
    training = config.get("training", {})
    num_labels = int(dataset.get("num_labels", 0) or 0)
    majority = float(dataset.get("majority_rate", 0.0) or 0.0)
    nan = first_non_finite_loss(records)
    # A multi-label run's chance level is its label frequencies: its stuck, noise and divergence rules are in
    # core/diagnostics/multilabel_rules.py, and it has no "one class" to answer.
    single = dataset.get("task") != "multi_label"
    curves = [nan] if nan else [
        loss_diverging(records, num_labels) if single else None,
        eval_loss_rising_while_train_falls(records),
        loss_at_chance_and_accuracy_at_majority(records, num_labels, majority, int(progress.get("max_steps", 0) or 0),
                                                training.get("learning_rate"), facts.get("trainable_parameters"))
        if single else None,
        train_learns_but_eval_stays_at_majority(records, num_labels, majority) if single else None,
        batches_mostly_padding(records, training.get("train_sampling_strategy"),
                               (config.get("data") or {}).get("padding")),
        batches_slow_to_make(records, training.get("dataloader_num_workers")),
    ]
    found = [*curves, eval_texts_seen_in_training(dataset), classes_far_apart_in_size(dataset, config),
             *setup_findings(records, dataset, status, config)]
    if not nan and single:
        found = with_one_class_finding(found, one_class_for_every_eval_text(records, dataset, status, config))
    return sorted((f for f in found if f), key=lambda f: f.step or 0, reverse=True)


def with_one_class_finding(found: list[Finding | None], one_class: Finding | None) -> list[Finding | None]:
    """One finding per cause: a finding that already explains one-class answers wins over ONE_CLASS_PREDICTED;
    a stuck finding with no fix of its own takes the one-class finding's cause and fix."""
    explained = next((f for f in found if f and f.code in ONE_CLASS_EXPLAINED_BY), None)
    if one_class is None:
        return found
    if explained is None:
        return [*found, one_class]
    if explained.code == "STUCK_AT_CHANCE" and not explained.config_change and one_class.config_change:
        cause = one_class.evidence[one_class.evidence.index(MOST_LIKELY_CAUSE):]
        merged = replace(explained, evidence=f"{explained.evidence} {cause}", fix=one_class.fix,
                         config_change=one_class.config_change)
        return [merged if f is explained else f for f in found]
    return found


def setup_findings(records: list[dict], dataset: dict, status: dict, config: dict) -> list[Finding | None]:
    """The rules over the model's head, its trainable parameters and the device (core/diagnostics/model_checks.py)."""
    facts, device = status.get("model_facts") or {}, status.get("device_facts") or {}
    training, hardware = config.get("training") or {}, config.get("hardware") or {}
    checkpointing = hardware.get("memory_preset") == "very_low" or bool(training.get("gradient_checkpointing"))
    return [model_checks.no_trainable_parameters(facts), model_checks.head_does_not_match_classes(facts, dataset),
            model_checks.fp32_on_a_bf16_gpu(device, training, (status.get("speed") or {}).get("precision")),
            model_checks.checkpointing_with_memory_to_spare(records, device, checkpointing)]
