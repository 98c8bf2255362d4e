"""The numpy batch maker must give exactly the batches `DataCollatorWithPadding` gives, only faster."""

import random

import pytest
import torch
from transformers import DataCollatorWithPadding

from core.config.schema import ModelConfig
from core.training import models
from core.training.batches import FastPadding


@pytest.fixture(scope="module")
def tokenizer():
    return models.load_tokenizer(ModelConfig())


def features(tokenizer, rows=37, seed=0):
    rng = random.Random(seed)
    words = "the film was great awful fine movie plot actors long short boring brilliant".split()
    texts = [" ".join(rng.choice(words) for _ in range(rng.randint(1, 60))) for _ in range(rows)]
    encoded = tokenizer(texts, truncation=True, max_length=48)
    return [{**{k: encoded[k][i] for k in encoded}, "labels": rng.randint(0, 2)} for i in range(rows)]


@pytest.mark.parametrize("arguments", [{}, {"pad_to_multiple_of": 8}, {"pad_to_multiple_of": 64},
                                       {"padding": "max_length", "max_length": 48}])
@pytest.mark.parametrize("side", ["right", "left"])
def test_same_tensors_as_the_transformers_collator(tokenizer, arguments, side):
    tokenizer.padding_side = side
    try:
        batch = features(tokenizer)
        expected = DataCollatorWithPadding(tokenizer, **arguments)(batch)
        got = FastPadding(DataCollatorWithPadding(tokenizer, **arguments))(batch)
    finally:
        tokenizer.padding_side = "right"
    assert set(got) == set(expected) == {"input_ids", "token_type_ids", "attention_mask", "labels"}
    for key in expected:
        assert got[key].dtype == expected[key].dtype and torch.equal(got[key], expected[key]), key


def test_padding_turned_off_fails_as_the_transformers_collator_does(tokenizer):
    fast = FastPadding(DataCollatorWithPadding(tokenizer))
    fast.padding = False  # what the planted SHAPE_MISMATCH fault does
    with pytest.raises(ValueError, match="padding"):
        fast(features(tokenizer))
