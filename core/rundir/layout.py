"""The file names of a run folder, in one place: `RunDir(path).status` instead of `path / "status.json"`.

RUN_DIR/
  config.json              resolved config (what actually ran), written once by the runner
  status.json              state, pid, times, progress, error; always replaced atomically
  metrics.jsonl            one record per line (core/rundir/records.py), appended and flushed as it happens
  metrics.replaced.jsonl   records of steps that a resume trained again
  dataset.json             labels, class counts, majority rate of the eval subset
  estimate.json            the memory and time estimate made before training
  results.json             final metrics, per-class report, confusion matrix (when the run ends)
  resources.jsonl          the child's CPU, memory and GPU use over time, one sample per line
  meta.json                notes and tags the user gave the run
  profile.txt              a torch.profiler report, when DASHBOARD_PROFILE asked for one
  train.log                the child's stdout and stderr
  stop_requested           present while a graceful stop is asked for
  model/                   best model and tokenizer (save_pretrained format)
    README.md              its model card (Hugging Face format), written when the run ends and on export
    confusion_matrix.png   the card's confusion matrix as an image
  onnx/                    the model as ONNX for serving (OnnxDir below), when it was exported from the Runs page
  checkpoints/             Trainer checkpoints (pruned to save_total_limit)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

CONFIG, STATUS, METRICS, REPLACED_METRICS = "config.json", "status.json", "metrics.jsonl", "metrics.replaced.jsonl"
DATASET, ESTIMATE, RESULTS, LOG = "dataset.json", "estimate.json", "results.json", "train.log"
STOP_MARKER, MODEL, CHECKPOINTS = "stop_requested", "model", "checkpoints"
RESOURCES, META, PROFILE = "resources.jsonl", "meta.json", "profile.txt"
# Inside model/: the names the Hugging Face Hub shows (README.md is the model card).
MODEL_CARD, CONFUSION_IMAGE = "README.md", "confusion_matrix.png"
ONNX = "onnx"
# Inside an ONNX export folder (RUN_DIR/onnx, or DIR/onnx of `core.runs export --onnx`), next to the tokenizer files.
ONNX_MODEL, ONNX_INT8_MODEL, ONNX_CHECK = "model.onnx", "model_quantized.onnx", "onnx_check.json"


@dataclass(frozen=True)
class RunDir:
    """One run folder and the paths of its files."""
    path: Path

    def __init__(self, path: str | Path):
        object.__setattr__(self, "path", Path(path))

    @property
    def config(self) -> Path:
        return self.path / CONFIG

    @property
    def status(self) -> Path:
        return self.path / STATUS

    @property
    def metrics(self) -> Path:
        return self.path / METRICS

    @property
    def replaced_metrics(self) -> Path:
        return self.path / REPLACED_METRICS

    @property
    def dataset(self) -> Path:
        return self.path / DATASET

    @property
    def estimate(self) -> Path:
        return self.path / ESTIMATE

    @property
    def results(self) -> Path:
        return self.path / RESULTS

    @property
    def log(self) -> Path:
        return self.path / LOG

    @property
    def stop_marker(self) -> Path:
        return self.path / STOP_MARKER

    @property
    def resources(self) -> Path:
        return self.path / RESOURCES

    @property
    def meta(self) -> Path:
        return self.path / META

    @property
    def profile(self) -> Path:
        return self.path / PROFILE

    @property
    def model(self) -> Path:
        return self.path / MODEL

    @property
    def model_card(self) -> Path:
        return self.path / MODEL / MODEL_CARD

    @property
    def confusion_image(self) -> Path:
        return self.path / MODEL / CONFUSION_IMAGE

    @property
    def checkpoints(self) -> Path:
        return self.path / CHECKPOINTS

    @property
    def onnx(self) -> Path:
        return self.path / ONNX


@dataclass(frozen=True)
class OnnxDir:
    """An ONNX export folder: the fp32 model, the int8 one (with --quantize), the check's result, the tokenizer."""
    path: Path

    def __init__(self, path: str | Path):
        object.__setattr__(self, "path", Path(path))

    @property
    def model(self) -> Path:
        return self.path / ONNX_MODEL

    @property
    def int8_model(self) -> Path:
        return self.path / ONNX_INT8_MODEL

    @property
    def check(self) -> Path:
        return self.path / ONNX_CHECK
