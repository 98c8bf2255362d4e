"""Built-in data, stratified seeded subsets and the tokenization cache."""

import pandas as pd
import pytest

from core.common.errors import UserError
from core.config.schema import DataConfig, ModelConfig
from core.data import splits as data
from core.training import models


@pytest.fixture(scope="module")
def tweets():
    return data.load_frame(DataConfig())


def test_builtin_tweets_load_offline_with_three_classes(tweets):
    assert len(tweets) > 30000
    assert sorted(tweets["label"].unique()) == ["negative", "neutral", "positive"]


def test_builtin_bbc_news_has_five_topics():
    frame = data.load_frame(DataConfig(name="bbc-news"))
    assert len(frame) > 2000
    assert sorted(frame["label"].unique()) == ["business", "entertainment", "politics", "sports", "tech"]


def test_subsets_are_stratified_disjoint_and_seeded(tweets):
    config = DataConfig(train_size=600, eval_size=200, seed=7)
    splits = data.make_splits(tweets, config)
    assert len(splits.train) == 600 and len(splits.eval) == 200
    whole = tweets["label"].value_counts(normalize=True)
    for part in (splits.train, splits.eval):
        shares = part["label"].value_counts(normalize=True)
        assert (shares - whole).abs().max() < 0.01
    again = data.make_splits(tweets, config)
    assert list(again.train["text"]) == list(splits.train["text"])
    other = data.make_splits(tweets, DataConfig(train_size=600, eval_size=200, seed=8))
    assert list(other.train["text"]) != list(splits.train["text"])


def test_train_and_eval_never_share_a_row():
    frame = pd.DataFrame({"text": [f"text {i}" for i in range(300)], "label": ["a", "b", "c"] * 100})
    splits = data.make_splits(frame, DataConfig(train_size=200, eval_size=100))
    assert not set(splits.train["text"]) & set(splits.eval["text"])
    assert splits.label_names == ["a", "b", "c"]


def test_subset_larger_than_the_data_is_a_sentence():
    frame = pd.DataFrame({"text": ["a", "b", "c", "d"], "label": ["x", "y", "x", "y"]})
    with pytest.raises(UserError, match="lower the subset sizes"):
        data.make_splits(frame, DataConfig(train_size=3, eval_size=2))


def test_one_class_is_refused():
    frame = pd.DataFrame({"text": ["a", "b", "c", "d"], "label": ["x"] * 4})
    with pytest.raises(UserError, match="only one class"):
        data.make_splits(frame, DataConfig(train_size=2, eval_size=2))


def test_tokenized_once_then_read_from_cache(tweets, tmp_path):
    config = DataConfig(train_size=50, eval_size=20, max_length=32)
    splits = data.make_splits(tweets, config)
    tokenizer = models.load_tokenizer(ModelConfig())
    key = data.cache_key(splits, tokenizer, 32)
    first, hit = data.tokenize_splits(splits, tokenizer, 32, tmp_path, key)
    assert not hit and len(first["train"]) == 50
    assert max(len(ids) for ids in first["train"]["input_ids"]) <= 32
    assert "attention_mask" in first["train"].column_names and "labels" in first["train"].column_names
    second, hit = data.tokenize_splits(splits, tokenizer, 32, tmp_path, key)
    assert hit and second["train"]["input_ids"] == first["train"]["input_ids"]
    # No padding at tokenization time: lengths differ, the collator pads per batch.
    assert len({len(ids) for ids in first["train"]["input_ids"]}) > 1


def test_cache_key_changes_with_what_changes_the_tokens(tweets):
    tokenizer = models.load_tokenizer(ModelConfig())

    def key(max_length=128, **data_fields):
        config = DataConfig(**{"train_size": 100, "eval_size": 30, **data_fields})
        return data.cache_key(data.make_splits(tweets, config), tokenizer, max_length)

    base = key()
    assert key() == base
    assert key(max_length=64) != base
    assert key(seed=1) != base
    assert key(train_size=10) != base
    splits = data.make_splits(tweets, DataConfig(train_size=100, eval_size=30))
    splits.train = splits.train.assign(text_pair="a second text")  # a pair column changes the tokens
    assert data.cache_key(splits, tokenizer, 128) != base


def test_summary_counts_eval_texts_seen_in_training():
    frame = pd.DataFrame({"text": [f"text {i}" for i in range(100)] + ["Same text"] * 20,
                          "label": ["a", "b"] * 50 + ["a", "b"] * 10})
    splits = data.make_splits(frame, DataConfig(train_size=80, eval_size=30, seed=1))
    expected = int(splits.eval["text"].isin(set(splits.train["text"])).sum())
    assert expected > 0 and splits.summary()["eval_overlap"] == expected


def test_a_file_without_an_eval_split_gives_the_eval_rows_asked_for_when_the_rows_allow():
    # 240 rows: the default 0.2 share would carve 48, but 150 train + 50 eval fit in 240.
    frame = pd.DataFrame({"text": [f"text {i}" for i in range(240)], "label": ["a", "b"] * 120})
    splits = data.make_splits(frame, DataConfig(source="file", path="x.csv", train_size=150, eval_size=50))
    assert (len(splits.train), len(splits.eval)) == (150, 50)
    assert not set(splits.train["text"]) & set(splits.eval["text"])
    assert splits.eval["label"].value_counts().to_dict() == {"a": 25, "b": 25}


def test_a_file_request_the_rows_cannot_satisfy_is_still_a_sentence():
    frame = pd.DataFrame({"text": [f"text {i}" for i in range(240)], "label": ["a", "b"] * 120})
    with pytest.raises(UserError, match="hold only"):
        data.make_splits(frame, DataConfig(source="file", path="x.csv", train_size=200, eval_size=50))
