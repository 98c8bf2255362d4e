"""Multi-label on CPU: MiniLM-L6 on the BBC tags fixture (9 labels: 5 topics and 4 tags found in the text) against
the frequency baselines, through the dashboard's own training path (`python -m core.train`).

  python bench/multilabel.py     # about 5 minutes on 2 cores

Prints a Markdown table; copy it into bench/RESULTS.md with the machine, date and command. Baselines, on the same
eval rows: answering every text with the most frequent training labels (the k that scores best on the training
rows), and predicting each label's frequency as its probability (thresholded at 0.5: a label on more than half of
the texts is answered for all of them, the others for none).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.rundir import runs  # noqa: E402

CONFIG = {"name": "bench multilabel",
          "data": {"source": "file", "path": str(ROOT / "tests" / "fixtures" / "data" / "bbc_tags.csv"),
                   "train_size": 400, "eval_size": 120, "max_length": 96},
          "model": {"name": "minilm-l6"}, "hardware": {"device": "cpu"},
          "training": {"num_train_epochs": 4, "learning_rate": 2e-4, "per_device_train_batch_size": 16,
                       "logging_steps": 5}}


def frequency_probability_f1(dataset: dict) -> float:
    """Micro F1 of answering every text with the labels whose training frequency is at least 0.5."""
    answered = {n for n, share in dataset["label_frequency"].items() if share >= 0.5}
    counts, texts = dataset["eval_counts"], dataset["eval_size"]
    true_pos = sum(counts[n] for n in answered)
    predicted, actual = len(answered) * texts, sum(counts.values())
    return 2 * true_pos / (predicted + actual) if predicted + actual else 0.0


def main() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="bench-multilabel-"))
    (workdir / "config.json").write_text(json.dumps(CONFIG))
    started = time.time()
    subprocess.run([sys.executable, "-m", "core.train", "--config", str(workdir / "config.json"), "--run-dir",
                    str(workdir / "run"), "--cache-dir", str(workdir / "cache")], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.time() - started
    dataset = runs.read_json(workdir / "run" / "dataset.json")
    final = runs.read_json(workdir / "run" / "results.json")["final_metrics"]
    evals = [r for r in runs.read_metrics(workdir / "run") if r["type"] == "eval"]
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"python {platform.python_version()}")
    rows = [("eval micro F1 per epoch", ", ".join(f"{e['eval_f1_micro']:.3f}" for e in evals)),
            ("final micro F1 / macro F1 of the saved (best) model", f"{final['f1_micro']:.3f} / {final['f1_macro']:.3f}"),
            ("final micro precision / recall", f"{final['precision_micro']:.3f} / {final['recall_micro']:.3f}"),
            ("final subset accuracy (every label of a text right)", f"{final['subset_accuracy']:.3f}"),
            ("baseline: the most frequent labels for every text, micro F1", f"{dataset['baseline_f1_micro']:.3f}"),
            ("baseline: each label's frequency as its probability, micro F1", f"{frequency_probability_f1(dataset):.3f}"),
            ("baseline: the most common label set for every text, subset accuracy", f"{dataset['majority_rate']:.3f}"),
            ("wall time, start to saved model (s)", f"{wall:.0f}")]
    print("\n| measurement | value |\n| --- | --- |")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
