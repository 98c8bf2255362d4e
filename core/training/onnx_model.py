"""ONNX for serving: a saved classifier exported to ONNX (dynamic batch and sequence axes), optionally quantised to
int8, run in ONNX Runtime, and checked against PyTorch on the same texts.

`OnnxClassifier(folder).probabilities(texts)` is the ONNX counterpart of running the PyTorch model on a batch of
texts; `predict` returns the same rows as core/training/predict.py's, so either can serve "Try the model".
"""

from __future__ import annotations

import contextlib
import io
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from core.common.errors import UserError
from core.rundir.layout import OnnxDir

BATCH = 32
# torch.onnx.export(dynamo=True) with dynamic_shapes reproduces a BERT's logits to ~1e-7; the legacy TorchScript
# exporter with dynamic_axes, tried on MiniLM-L6 with transformers 5.24, was off by up to 0.02 (its trace freezes
# a Python branch of the attention mask), so only the dynamo exporter is used.
OPSET = 18
# The bars: fp32 logits within 1e-3 of PyTorch's; int8 gives PyTorch's label on at least 99% of texts.
FP32_MAX_LOGIT_DIFF, INT8_MIN_AGREEMENT = 1e-3, 0.99
EXAMPLE_TEXTS = ["An example text to trace the model with.", "A second, shorter one."]


def logits_only(model, input_names: list[str]):
    """The classifier as a module with named tensor inputs and one output, `logits`: what the graph holds."""
    import torch

    class LogitsOnly(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids=None):
            given = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
            return self.model(**{name: given[name] for name in input_names}).logits

    return LogitsOnly()


def model_inputs(tokenizer) -> list[str]:
    """The tensors the model takes, in the graph's order (token_type_ids only for models that have them)."""
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in tokenizer.model_input_names]
    if names[:2] != ["input_ids", "attention_mask"]:
        raise UserError(f"the model's tokenizer gives {', '.join(tokenizer.model_input_names)}, not input_ids and "
                        "attention_mask; only encoder classifiers can be exported to ONNX.", field="run",
                        code="ONNX_UNSUPPORTED")
    return names


def export_onnx(model_dir: Path, out_dir: Path, quantize: bool = False) -> None:
    """Write OUT_DIR/model.onnx (and model_quantized.onnx, int8) with the tokenizer files and config.json."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    _quiet_loading()
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    model = AutoModelForSequenceClassification.from_pretrained(str(model_dir)).eval()
    names = model_inputs(tokenizer)
    example = tokenizer(EXAMPLE_TEXTS, padding=True, return_tensors="pt")
    dynamic = {name: {0: torch.export.Dim.DYNAMIC, 1: torch.export.Dim.DYNAMIC} for name in names}
    out_dir.mkdir(parents=True, exist_ok=True)
    folder = OnnxDir(out_dir)
    # The exporter prints its progress on stdout and warns about its own internals: no use to a CLI user.
    with torch.no_grad(), contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(logits_only(model, names).eval(), tuple(example[n] for n in names),
                                    dynamo=True, dynamic_shapes=tuple(dynamic[n] for n in names),
                                    input_names=names, output_names=["logits"], opset_version=OPSET, verbose=False)
    program.save(str(folder.model))
    tokenizer.save_pretrained(str(out_dir))
    model.config.save_pretrained(str(out_dir))  # id2label for whoever serves it
    if quantize:
        quantize_int8(folder.model, folder.int8_model)


def _quiet_loading() -> None:
    """No progress bar for loading weights: a terminal export shows its result, not transformers' internals."""
    from transformers.utils import logging

    logging.disable_progress_bar()


def quantize_int8(source: Path, target: Path) -> None:
    """Dynamic int8 quantisation of the matrix products: weights int8 per output channel, activations quantised on
    the fly per batch. On a briefly trained MiniLM-L6 the defaults (every op, per tensor, embeddings too) gave
    PyTorch's label on 92.8% of 500 eval texts, per channel on every op 98.0%, MatMul only per channel 99.4%."""
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    # It logs a warning suggesting a pre-processing pass; the check measures what it gives without one.
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"],
                         per_channel=True)
    finally:
        root.setLevel(level)


class OnnxClassifier:
    """An exported model in ONNX Runtime on the CPU: texts in, logits or probabilities out."""

    def __init__(self, folder: Path, int8: bool = False):
        import onnxruntime
        from transformers import AutoTokenizer

        onnx_dir = OnnxDir(folder)
        path = onnx_dir.int8_model if int8 else onnx_dir.model
        if not path.is_file():
            raise UserError(f"'{folder}' holds no {'int8 ' if int8 else ''}ONNX model; export the run with "
                            f"ONNX{' and int8' if int8 else ''} first.", field="run", code="NO_ONNX")
        self.tokenizer = AutoTokenizer.from_pretrained(str(folder))
        config = json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))
        self.id2label = {int(i): name for i, name in config["id2label"].items()}
        self.session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.int8 = int8

    def encode(self, texts: list[str], pairs: list[str] | None = None, max_length: int = 128) -> dict:
        encoded = self.tokenizer(texts, pairs, truncation=True, max_length=max_length, padding=True,
                                 return_tensors="np")
        return {name: encoded[name].astype(np.int64) for name in self.input_names}

    def run(self, encoded: dict) -> np.ndarray:
        return self.session.run(["logits"], encoded)[0]

    def logits(self, texts: list[str], pairs: list[str] | None = None, max_length: int = 128) -> np.ndarray:
        """Logits, one row per text, computed in batches of 32."""
        parts = [self.run(self.encode(texts[i:i + BATCH], pairs[i:i + BATCH] if pairs else None, max_length))
                 for i in range(0, len(texts), BATCH)]
        return np.concatenate(parts) if parts else np.zeros((0, len(self.id2label)), dtype=np.float32)

    def probabilities(self, texts: list[str], max_length: int = 128) -> np.ndarray:
        return softmax(self.logits(texts, max_length=max_length))


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def predict(texts: list[str], classifier: OnnxClassifier, max_length: int = 128) -> list[dict[str, Any]]:
    """One row per text, as core/training/predict.py gives them: the label, its probability, every probability."""
    rows = []
    for text, probs in zip(texts, classifier.probabilities(texts, max_length).tolist()):
        best = max(range(len(probs)), key=probs.__getitem__)
        rows.append({"text": text, "label": classifier.id2label[best], "probability": probs[best],
                     "probabilities": {classifier.id2label[i]: p for i, p in enumerate(probs)}})
    return rows


def check_export(model_dir: Path, folder: Path, texts: list[str], labels: list[str],
                 pairs: list[str] | None = None, max_length: int = 128) -> dict[str, Any]:
    """PyTorch against ONNX Runtime on the same tokenized batches: the fp32 model's largest logit difference,
    the int8 model's agreement with PyTorch's labels, and each one's accuracy on `labels`."""
    import torch
    from transformers import AutoModelForSequenceClassification

    _quiet_loading()
    model = AutoModelForSequenceClassification.from_pretrained(str(model_dir)).eval()
    engines = {"fp32": OnnxClassifier(folder)}
    if OnnxDir(folder).int8_model.is_file():
        engines["int8"] = OnnxClassifier(folder, int8=True)
    logits: dict[str, list[np.ndarray]] = {name: [] for name in ("pytorch", *engines)}
    for start in range(0, len(texts), BATCH):
        encoded = engines["fp32"].encode(texts[start:start + BATCH],
                                         pairs[start:start + BATCH] if pairs else None, max_length)
        with torch.no_grad():
            logits["pytorch"].append(model(**{k: torch.from_numpy(v) for k, v in encoded.items()}).logits.numpy())
        for name, engine in engines.items():
            logits[name].append(engine.run(encoded))
    return compare_logits({k: np.concatenate(v) for k, v in logits.items()},
                          [model.config.label2id[label] for label in labels])


def compare_logits(logits: dict[str, np.ndarray], label_ids: list[int]) -> dict[str, Any]:
    """The check's figures and verdict from each engine's logits on the same texts (pure, for tests)."""
    truth, reference = np.asarray(label_ids), logits["pytorch"].argmax(axis=-1)
    result: dict[str, Any] = {"eval_texts": len(truth), "pytorch": {"accuracy": float((reference == truth).mean())}}
    fp32_diff = float(np.abs(logits["fp32"] - logits["pytorch"]).max())
    result["fp32"] = {"accuracy": float((logits["fp32"].argmax(axis=-1) == truth).mean()),
                      "max_logit_diff": fp32_diff, "passed": fp32_diff < FP32_MAX_LOGIT_DIFF}
    if "int8" in logits:
        predicted = logits["int8"].argmax(axis=-1)
        agreement = float((predicted == reference).mean())
        result["int8"] = {"accuracy": float((predicted == truth).mean()), "agreement": agreement,
                          "max_logit_diff": float(np.abs(logits["int8"] - logits["pytorch"]).max()),
                          "passed": agreement >= INT8_MIN_AGREEMENT}
    result["passed"] = all(result[k]["passed"] for k in ("fp32", "int8") if k in result)
    result["sentence"] = None if result["passed"] else failure_sentence(result)
    return result


def failure_sentence(result: dict[str, Any]) -> str:
    if not result["fp32"]["passed"]:
        return (f"The ONNX model's logits differ from PyTorch's by up to {result['fp32']['max_logit_diff']:.2g} "
                f"(the limit is {FP32_MAX_LOGIT_DIFF:g}), so this export is not fit to serve; use the PyTorch model.")
    return (f"The int8 model gives PyTorch's label on only {result['int8']['agreement']:.1%} of the eval texts "
            f"(at least {INT8_MIN_AGREEMENT:.0%} is needed); export again without int8 and serve the fp32 model.")

