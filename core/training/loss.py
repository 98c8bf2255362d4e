"""The weighted loss for unequal classes, handed to the Trainer as its `compute_loss_func`.

transformers' Trainer calls `compute_loss_func(outputs, labels, num_items_in_batch=...)` for training and evaluation
alike, and treats what it returns as already averaged over the whole accumulated batch (it does not divide by the
gradient accumulation steps again). So the loss here is a sum over the texts of the batch divided by
`num_items_in_batch`, the count of the accumulated batch, when the Trainer gives it, else by the batch's own count.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def weighted_loss(logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor, multi_label: bool,
                  num_items_in_batch: int | torch.Tensor | None = None) -> torch.Tensor:
    """Single-label: cross-entropy with each text's loss times its class's weight (scikit-learn's sample weights:
    the mean of weight x loss, not PyTorch's division by the sum of the weights, so accumulated batches add up like
    unweighted ones). Multi-label: binary cross-entropy with `weights` as each label's `pos_weight` (the weight of
    its positive texts), averaged over texts and labels as transformers does."""
    logits = logits.float()  # in float32 also under bf16 / fp16 autocast: a sum over the batch loses digits there
    weights = weights.to(device=logits.device, dtype=logits.dtype)
    if multi_label:
        total = F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype), pos_weight=weights,
                                                   reduction="sum")
        count = labels.numel()
    else:
        total = F.cross_entropy(logits.view(-1, logits.shape[-1]), labels.view(-1), weight=weights, reduction="none",
                                ignore_index=-100).sum()
        count = int(labels.ne(-100).sum())
    divisor = num_items_in_batch if num_items_in_batch is not None else max(1, count)
    if torch.is_tensor(divisor):
        divisor = divisor.to(total.device)
    return total / divisor


class WeightedLoss:
    """The Trainer's `compute_loss_func`: the model's logits, the batch's labels and the run's class weights."""

    def __init__(self, weights: list[float], multi_label: bool = False):
        self.weights = torch.tensor(weights, dtype=torch.float32)
        self.multi_label = multi_label

    def __call__(self, outputs, labels, num_items_in_batch=None) -> torch.Tensor:
        logits = outputs["logits"] if isinstance(outputs, dict) else outputs[0]
        return weighted_loss(logits, labels, self.weights, self.multi_label, num_items_in_batch)


def loss_function(weights: list[float] | None, model) -> WeightedLoss | None:
    """The weighted loss for this model's head (multi-label heads use pos_weight), or None: the model's own loss."""
    if weights is None:
        return None
    multi_label = getattr(model.config, "problem_type", None) == "multi_label_classification"
    return WeightedLoss(weights, multi_label)
