"""Unpadded batches for BERT-family encoders: no pad token is computed on, and attention runs on variable lengths.

A padded batch of texts of ~300 tokens spends part of every matrix product and most of the attention on pad
positions. Here the collator packs a batch's texts end to end (one row of T real tokens, the offsets of each
text in `cu_seqlens`) and the model's forward runs the encoder layers on that row: the linear layers on T
tokens instead of batch x longest, and attention through FlashAttention's variable-length kernel
(`aten::_flash_attention_forward` with cumulative lengths, in PyTorch since 2.2, with its own backward and
attention dropout). Only the classifier sees one vector per text again (each text's first token).

The model keeps its class and weights: its forward is replaced on the instance, runs the padded path for any
batch without `cu_seqlens` (prediction, export), and is saved exactly as before. Other architectures, LoRA
adapters, gradient checkpointing and fp32 fall back to padded batches with a sentence saying why
(`unsupported_reason`). On a CPU (the tests) attention runs through SDPA on the texts padded again, the same
function the kernel computes.
"""

from __future__ import annotations

import types
from typing import Any

from core.plan.presets import UNPADDED_FAMILIES as FAMILIES, unpad_blocker

# max_seqlen sent to the kernel is rounded up to this (an upper bound is all it needs): a compiled model sees
# few distinct values.
MAX_LENGTH_STEP = 64


def unsupported_reason(model, config, device: str, precision: str, checkpointing: bool = False) -> str | None:
    """Why this model and run (a RunConfig) cannot train on unpadded batches, in words; None if they can."""
    model_config = getattr(model, "config", None)
    blocker = unpad_blocker(config, device, precision, checkpointing,
                            getattr(model_config, "model_type", None) or "an unknown kind")
    if blocker:
        return blocker
    if getattr(model_config, "is_decoder", False) or getattr(model_config, "add_cross_attention", False):
        return "the model is set up as a decoder"
    if getattr(model_config, "position_embedding_type", "absolute") not in (None, "absolute"):
        return "the model uses relative position embeddings"
    if getattr(model_config, "num_labels", 2) < 2:
        return "a regression head keeps padded batches"
    encoder = getattr(model, FAMILIES[model_config.model_type], None)
    if encoder is None or not hasattr(encoder, "encoder") or not hasattr(encoder, "embeddings"):
        return "the model's layers are not laid out as a BERT encoder's"
    return None


def enable(model) -> None:
    """Give `model` the unpadded forward for batches that carry `cu_seqlens`; other batches take its own."""
    padded_forward = model.forward

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                inputs_embeds=None, labels=None, cu_seqlens=None, max_seqlen=None, first_tokens=None, **kwargs):
        if cu_seqlens is None:
            return padded_forward(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                                  position_ids=position_ids, inputs_embeds=inputs_embeds, labels=labels, **kwargs)
        return unpadded_forward(self, input_ids, token_type_ids, position_ids, cu_seqlens, max_seqlen, labels,
                                first_tokens)

    model.forward = types.MethodType(forward, model)


def unpadded_forward(model, input_ids, token_type_ids, position_ids, cu_seqlens, max_seqlen: int, labels,
                     first_tokens=None):
    """The classifier's output for packed texts: input_ids, token_type_ids and position_ids of shape (T,),
    `cu_seqlens` (texts + 1,) int32 offsets, `max_seqlen` at least the longest text; `first_tokens` (texts,),
    where the row ends in a filler text (PackedBatches' `bucket`), says where each real text starts."""
    from transformers.modeling_outputs import SequenceClassifierOutput

    family = FAMILIES[model.config.model_type]
    encoder = getattr(model, family)
    if family == "roberta":  # RoBERTa counts positions from pad_token_id + 1
        position_ids = position_ids + model.config.pad_token_id + 1
    hidden = encoder.embeddings(input_ids=input_ids[None], token_type_ids=token_type_ids[None],
                                position_ids=position_ids[None])[0]
    for layer in encoder.encoder.layer:
        hidden = _layer(layer, hidden, cu_seqlens, max_seqlen, model.training)
    starts = first_tokens if first_tokens is not None else cu_seqlens[:-1].long()
    first = hidden[starts]  # each text's first token ([CLS] or <s>)
    if family == "roberta":
        logits = model.classifier(first[:, None])
    else:
        pooled = encoder.pooler(first[:, None]) if encoder.pooler is not None else first
        logits = model.classifier(model.dropout(pooled))
    loss = _loss(model, logits, labels) if labels is not None else None
    return SequenceClassifierOutput(loss=loss, logits=logits)


def _layer(layer, hidden, cu_seqlens, max_seqlen: int, training: bool):
    """One encoder layer on packed tokens: the layer's own modules, only self-attention on variable lengths."""
    attention = layer.attention.self
    heads, size = attention.num_attention_heads, attention.attention_head_size
    shape = (hidden.shape[0], heads, size)
    query = attention.query(hidden).view(shape)
    key = attention.key(hidden).view(shape)
    value = attention.value(hidden).view(shape)
    dropout = attention.dropout.p if training else 0.0
    context = varlen_attention(query, key, value, cu_seqlens, max_seqlen, dropout, size ** -0.5)
    attended = layer.attention.output(context.reshape(hidden.shape[0], heads * size), hidden)
    return layer.output(layer.intermediate(attended), attended)


def varlen_attention(query, key, value, cu_seqlens, max_seqlen: int, dropout: float, scale: float):
    """Attention within each packed text: FlashAttention's variable-length kernel on a CUDA GPU in half
    precision; elsewhere SDPA on the texts padded again (same function, for CPU runs and tests)."""
    import torch

    if query.is_cuda and query.dtype in (torch.bfloat16, torch.float16):
        return torch.ops.aten._flash_attention_forward(query, key, value, cu_seqlens, cu_seqlens, max_seqlen,
                                                       max_seqlen, dropout, False, False, scale=scale)[0]
    return _padded_attention(query, key, value, cu_seqlens, dropout, scale)


def _padded_attention(query, key, value, cu_seqlens, dropout: float, scale: float):
    import torch
    import torch.nn.functional as F

    lengths = (cu_seqlens[1:] - cu_seqlens[:-1]).long()
    texts, longest = lengths.numel(), int(lengths.max())
    text = torch.repeat_interleave(torch.arange(texts, device=query.device), lengths)
    position = torch.arange(query.shape[0], device=query.device) - cu_seqlens[:-1].long()[text]

    def padded(x):
        out = x.new_zeros((texts, longest) + tuple(x.shape[1:]))
        out[text, position] = x
        return out.transpose(1, 2)  # (texts, heads, longest, size)

    mask = (torch.arange(longest, device=query.device)[None] < lengths[:, None])[:, None, None, :]
    out = F.scaled_dot_product_attention(padded(query), padded(key), padded(value), attn_mask=mask,
                                         dropout_p=dropout, scale=scale)
    return out.transpose(1, 2)[text, position]


def _loss(model, logits, labels):
    import torch.nn.functional as F

    if model.config.problem_type == "multi_label_classification":
        return F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype))
    return F.cross_entropy(logits.view(-1, model.num_labels), labels.view(-1))


class PackedBatches:
    """A collator that packs a batch's texts end to end: `labels` first (the Trainer reads the batch size from
    the first tensor), then input_ids, token_type_ids and position_ids of shape (T,), `cu_seqlens` and
    `max_seqlen`. Built for the tokenized columns the child makes (input_ids, attention_mask, token_type_ids,
    label); `fallback` (the padding collator) takes an empty batch, and its `padding` is what faults plant on.

    With `bucket` (tokens) the row is filled up to the next multiple of it by one more text of filler tokens, which
    attends only to itself and which nothing reads (`first_tokens` names the real texts' starts), and `max_seqlen`
    is one number for the run: batches then come in few shapes, each recorded once as a whole-step CUDA graph.
    `max_length` is the run's longest text."""

    def __init__(self, fallback, bucket: int | None = None, max_length: int = 512):
        self.fallback = fallback
        self.bucket = bucket
        self.fixed_max_seqlen = (max(_round_up(max_length, MAX_LENGTH_STEP), bucket) if bucket else None)

    @property
    def padding(self):
        return getattr(self.fallback, "padding", True)

    @padding.setter
    def padding(self, value):
        self.fallback.padding = value

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        import numpy as np
        import torch

        if not features:
            return self.fallback(features)
        lengths = np.fromiter((len(f["input_ids"]) for f in features), dtype=np.int64, count=len(features))
        batch: dict[str, Any] = {}
        label_key = next((k for k in ("label", "labels", "label_ids") if k in features[0]), None)
        if label_key is not None:
            batch["labels"] = torch.tensor([f[label_key] for f in features])
        batch["input_ids"] = torch.from_numpy(np.concatenate([np.asarray(f["input_ids"], dtype=np.int64)
                                                              for f in features]))
        if "token_type_ids" in features[0]:
            types_ = np.concatenate([np.asarray(f["token_type_ids"], dtype=np.int64) for f in features])
        else:
            types_ = np.zeros(int(lengths.sum()), dtype=np.int64)
        batch["token_type_ids"] = torch.from_numpy(types_)
        offsets = np.zeros(len(features) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        positions = np.arange(int(offsets[-1])) - np.repeat(offsets[:-1], lengths)
        if self.bucket:
            return self._bucketed(batch, positions, offsets, features[0]["input_ids"][-1])
        batch["position_ids"] = torch.from_numpy(positions)
        batch["cu_seqlens"] = torch.from_numpy(offsets.astype(np.int32))
        batch["max_seqlen"] = _round_up(int(lengths.max()), MAX_LENGTH_STEP)
        return batch

    def _bucketed(self, batch, positions, offsets, filler_id: int) -> dict[str, Any]:
        """The packed row filled up to the bucket with one more text (tokens `filler_id`, a token every text
        has, at position 0), its offsets in `cu_seqlens`, the real texts' starts in `first_tokens`."""
        import numpy as np
        import torch

        real = int(offsets[-1])
        filled = _round_up(real + 1, self.bucket)
        extra = filled - real
        batch["input_ids"] = torch.cat([batch["input_ids"], torch.full((extra,), int(filler_id), dtype=torch.int64)])
        batch["token_type_ids"] = torch.cat([batch["token_type_ids"], torch.zeros(extra, dtype=torch.int64)])
        batch["position_ids"] = torch.from_numpy(np.concatenate([positions, np.zeros(extra, dtype=np.int64)]))
        batch["cu_seqlens"] = torch.from_numpy(np.append(offsets, filled).astype(np.int32))
        batch["max_seqlen"] = self.fixed_max_seqlen
        batch["first_tokens"] = torch.from_numpy(offsets[:-1].copy())
        return batch


def _round_up(value: int, step: int) -> int:
    return int(-(-value // step) * step)
