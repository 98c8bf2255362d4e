"""The end of a multi-label run: thresholds (tuned on the eval set when asked), stored with the saved model, and
results.json with the final metrics, the per-label report and the label co-occurrence."""

from __future__ import annotations

from pathlib import Path

from core.rundir import runs
from core.rundir.layout import RunDir
from core.training import multilabel_metrics as mlm

TUNED_NOTE = ("Thresholds were tuned per label on the eval set, so the final eval scores are optimistic: they are "
              "measured on the rows the thresholds were chosen on.")


def store_thresholds(model_config, threshold: float, per_label: dict[str, float] | None) -> None:
    """The threshold travels with the model (its config.json): `threshold`, and `label_thresholds` when tuned."""
    model_config.threshold = float(threshold)
    model_config.label_thresholds = per_label


def save_and_report_multilabel(trainer, tokenizer, eval_dataset, label_names: list[str], run_dir: Path, config,
                               performance: dict | None, say) -> None:
    """Evaluate the (best) model once more, pick the thresholds, save the model with them, write results.json."""
    say("Evaluating the saved model for the final report.")
    output = trainer.predict(eval_dataset, metric_key_prefix="final")
    probs, labels = mlm.probabilities(output.predictions), output.label_ids
    default = config.training.threshold
    thresholds = [default] * len(label_names)
    tuned = None
    if config.training.tune_thresholds:
        thresholds = mlm.tune_thresholds(labels, probs, default)
        tuned = dict(zip(label_names, thresholds))
        say(f"Tuned thresholds on the eval set: {', '.join(f'{n} {t:.2f}' for n, t in tuned.items())}.")
    store_thresholds(trainer.model.config, default, tuned)
    model_dir = RunDir(run_dir).model
    trainer.save_model(str(model_dir))  # the Trainer saves from rank 0 only
    if runs.is_writer():
        tokenizer.save_pretrained(str(model_dir))
    metrics = mlm.scores(labels, mlm.predict(probs, thresholds))
    metrics["loss"] = float(output.metrics.get("final_loss", float("nan")))
    extra = {}
    if tuned:
        extra = {"final_metrics_at_default_threshold": mlm.scores(labels, mlm.predict(probs, default)),
                 "thresholds_note": TUNED_NOTE}
    runs.write_json_atomic(RunDir(run_dir).results, {
        "task": "multi_label", "final_metrics": metrics, **mlm.report(labels, probs, thresholds, label_names),
        "threshold": default, "label_thresholds": tuned, **extra,
        "model_dir": str(model_dir.resolve()), "best_checkpoint": trainer.state.best_model_checkpoint,
        "best_metric": trainer.state.best_metric, "global_step": trainer.state.global_step,
        "performance": performance or {}})
