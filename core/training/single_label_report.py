"""The end of a single-label run: the (best) model saved, evaluated once more, and results.json with the final
metrics, the per-class report and the confusion matrix (multi-label runs: core/training/multilabel_report.py)."""

from __future__ import annotations

from pathlib import Path

from core.rundir import runs
from core.rundir.layout import RunDir
from core.training import lora
from core.training.metrics import classification_report, compute_metrics


def save_and_report(trainer, tokenizer, eval_dataset, label_names: list[str], run_dir: Path,
                    performance: dict | None, say) -> None:
    """Save the (best) model, then evaluate it once more for the per-class report and confusion matrix."""
    import numpy as np

    model_dir = RunDir(run_dir).model
    lora.merge_into(trainer)  # a LoRA run saves (and reports on) the merged model, a plain transformers one
    trainer.save_model(str(model_dir))  # the Trainer saves from rank 0 only
    if runs.is_writer():
        tokenizer.save_pretrained(str(model_dir))
    say("Evaluating the saved model for the final report.")
    output = trainer.predict(eval_dataset, metric_key_prefix="final")
    logits = output.predictions[0] if isinstance(output.predictions, tuple) else output.predictions
    predictions = logits if logits.ndim == 1 else np.argmax(logits, axis=-1)  # already ids after argmax_logits
    metrics = compute_metrics((logits, output.label_ids))
    metrics["loss"] = float(output.metrics.get("final_loss", float("nan")))
    runs.write_json_atomic(RunDir(run_dir).results, {
        "final_metrics": metrics, **classification_report(output.label_ids, predictions, label_names),
        "model_dir": str(model_dir.resolve()), "best_checkpoint": trainer.state.best_model_checkpoint,
        "best_metric": trainer.state.best_metric, "global_step": trainer.state.global_step,
        "performance": performance or {}})
