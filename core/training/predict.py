"""Try a trained model: texts in, predicted labels with probabilities out."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from core.common.errors import UserError
from core.rundir.layout import OnnxDir
from core.training.onnx_model import OnnxClassifier

MAX_TEXTS = 200  # one pasted batch; more belongs in a script, not a text box
PREDICT_BATCH = 32


def load_classifier(model_dir: Path):
    """The saved model and tokenizer of a run (RUN_DIR/model), ready for inference on the CPU."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model_dir = Path(model_dir)
    if not (model_dir / "config.json").is_file():
        raise UserError(f"'{model_dir}' holds no saved model; wait until the run has finished.",
                        field="run", code="NO_MODEL")
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    model = AutoModelForSequenceClassification.from_pretrained(str(model_dir))
    model.eval()
    return tokenizer, model


def split_texts(raw: str) -> list[str]:
    """One text per non-empty line."""
    texts = [line.strip() for line in (raw or "").splitlines() if line.strip()]
    if len(texts) > MAX_TEXTS:
        raise UserError(f"has {len(texts)} lines; paste at most {MAX_TEXTS} texts at a time.", field="texts")
    return texts


def is_multi_label(model) -> bool:
    return getattr(model.config, "problem_type", None) == "multi_label_classification"


def thresholds_of(model_config) -> dict[str, float]:
    """Each label's threshold as stored with a multi-label model: tuned per label, else its one threshold (0.5
    when the model carries none)."""
    return label_thresholds(getattr(model_config, "label_thresholds", None), getattr(model_config, "threshold", None),
                            list(model_config.id2label.values()))


def label_thresholds(tuned: dict | None, threshold: float | None, names: list[str]) -> dict[str, float]:
    """Each label's tuned threshold, else the model's one threshold (0.5 when it carries none)."""
    default = float(threshold or 0.5)
    return {name: float((tuned or {}).get(name, default)) for name in names}


def predict(texts: list[str], tokenizer, model, max_length: int = 128) -> list[dict[str, Any]]:
    """One row per text: the predicted label, its probability, and every label's probability. Multi-label models
    answer `labels`: every label at or above its threshold (highest first), each with its probability."""
    import torch

    id2label, multi = model.config.id2label, is_multi_label(model)
    thresholds = thresholds_of(model.config) if multi else {}
    rows = []
    for start in range(0, len(texts), PREDICT_BATCH):
        batch = texts[start:start + PREDICT_BATCH]
        encoded = tokenizer(batch, truncation=True, max_length=max_length, padding=True, return_tensors="pt")
        with torch.no_grad():
            logits = model(**encoded).logits
            probabilities = (torch.sigmoid(logits) if multi else torch.softmax(logits, dim=-1)).tolist()
        for text, probs in zip(batch, probabilities):
            by_name = {id2label[i]: p for i, p in enumerate(probs)}
            best = max(range(len(probs)), key=probs.__getitem__)
            row = {"text": text, "label": id2label[best], "probability": probs[best], "probabilities": by_name}
            if multi:
                row["labels"] = {name: p for name, p in sorted(by_name.items(), key=lambda kv: -kv[1])
                                 if p >= thresholds[name]}
            rows.append(row)
    return rows


def predict_batches(model_dir: Path, text_chunks: Iterable[list[str]], batch_size: int = PREDICT_BATCH,
                    max_length: int = 128, int8: bool = False) -> Iterator[Any]:
    """Class probabilities (a texts x classes numpy array) for each chunk of texts, from the saved model in
    MODEL_DIR, loaded once (each label's own sigmoid for a multi-label model, a softmax over the classes otherwise).
    The one step of file predictions that runs the model. A folder holding `model.onnx` (an ONNX export) runs in
    ONNX Runtime instead, its int8 model with `int8`.

    Within a chunk texts are run shortest first, so each batch pads to a similar length (as training groups by
    length); the rows come back in the chunk's order."""
    import numpy as np

    run_batch = _onnx_runner(model_dir, int8) if OnnxDir(model_dir).model.is_file() else _torch_runner(model_dir)
    for texts in text_chunks:
        order = np.argsort([len(text) for text in texts], kind="stable")
        out = None
        for start in range(0, len(texts), batch_size):
            rows = order[start:start + batch_size]
            probabilities = run_batch([texts[i] for i in rows], max_length)
            out = np.empty((len(texts), probabilities.shape[1]), dtype=np.float32) if out is None else out
            out[rows] = probabilities
        yield out if out is not None else np.zeros((0, 0), dtype=np.float32)


def _torch_runner(model_dir: Path):
    import torch

    tokenizer, model = load_classifier(model_dir)
    squash = torch.sigmoid if is_multi_label(model) else (lambda logits: torch.softmax(logits, dim=-1))

    def run_batch(texts: list[str], max_length: int):
        encoded = tokenizer(texts, truncation=True, max_length=max_length, padding=True, return_tensors="pt")
        with torch.inference_mode():
            return squash(model(**encoded).logits.float()).numpy()
    return run_batch


def _onnx_runner(folder: Path, int8: bool):
    classifier = OnnxClassifier(Path(folder), int8=int8)
    return lambda texts, max_length: classifier.probabilities(texts, max_length=max_length)
