"""LoRA for large encoders (peft): low-rank adapters on the attention projections, the classification head
trained in full, and the adapters merged back into the weights before the model is saved, so the saved model is
an ordinary `from_pretrained` folder for every consumer (Try the model, ONNX, reproduce, a model card).
"""

from __future__ import annotations

from typing import Any

from core.common.errors import UserError
from core.config.schema import ModelConfig

# Names of the attention's query / key / value projections across encoder families: BERT, RoBERTa, ELECTRA,
# ALBERT (query, key, value); DistilBERT (q_lin...); DeBERTa-v2 (query_proj...); others (q_proj...);
# MPNet (q, k, v). The first group a model has all of is used.
ATTENTION_PROJECTIONS = (("query", "key", "value"), ("q_lin", "k_lin", "v_lin"),
                         ("query_proj", "key_proj", "value_proj"), ("q_proj", "k_proj", "v_proj"), ("q", "k", "v"))


def attention_projections(model) -> list[str]:
    """The module names LoRA adapts in this model: its attention's query, key and value linear layers."""
    import torch

    linear = {name.rpartition(".")[2] for name, module in model.named_modules() if isinstance(module, torch.nn.Linear)}
    for group in ATTENTION_PROJECTIONS:
        if set(group) <= linear:
            return list(group)
    raise UserError(f"LoRA found no query / key / value projections in this {type(model).__name__}; turn LoRA "
                    "off for this model.", field="model.lora", code="LORA_UNSUPPORTED")


def head_modules(model) -> list[str]:
    """The classifier's own modules (everything beside the encoder), trained in full and saved with the adapters."""
    return [name for name, child in model.named_children()
            if name != model.base_model_prefix and any(True for _ in child.parameters())]


def add_adapters(model, config: ModelConfig):
    """The model wrapped by peft: LoRA on the attention projections, the head fully trainable, the rest frozen."""
    from peft import LoraConfig, TaskType, get_peft_model

    settings = LoraConfig(task_type=TaskType.SEQ_CLS, r=config.lora_rank, lora_alpha=config.lora_alpha,
                          lora_dropout=config.lora_dropout, target_modules=attention_projections(model),
                          modules_to_save=head_modules(model))
    return get_peft_model(model, settings)


def trainable_share(model) -> dict[str, Any]:
    """How many parameters train, of how many: what the log and Live run show."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return {"trainable_parameters": trainable, "total_parameters": total, "share": trainable / total if total else 0.0}


def is_adapted(model) -> bool:
    return hasattr(model, "merge_and_unload") and hasattr(model, "peft_config")


def merge_into(trainer) -> None:
    """Fold the adapters into the weights (and the trained head into place): the Trainer then holds, evaluates
    and saves a plain transformers model."""
    if not is_adapted(trainer.model):
        return
    merged = trainer.model.merge_and_unload()
    trainer.model = trainer.model_wrapped = merged
