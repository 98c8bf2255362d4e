"""Unequal classes without training: the class weights setting as typed, the weights a run gets from its training
rows, oversampling of the training subset, and the weighted loss on tensors."""

import math

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from sklearn.utils.class_weight import compute_class_weight

from core.common.errors import UserError
from core.config.class_weights import class_weights_text
from core.config.schema import RunConfig
from core.data import balance, prepare
from core.training.loss import loss_function, weighted_loss, WeightedLoss
from tests.bad_inputs import file_data

LABELS = ["negative", "neutral", "positive"]


def weights_setting(value):
    return RunConfig.from_dict({"training": {"class_weights": value}}).training.class_weights


def test_class_weights_are_none_balanced_or_a_weight_per_label_typed_or_as_a_mapping():
    assert weights_setting(None) == weights_setting("") == weights_setting(" None ") == "none"
    assert RunConfig.from_dict({}).training.class_weights == "none"
    assert weights_setting("Balanced") == "balanced"
    assert weights_setting("negative=1, positive=3") == {"negative": 1.0, "positive": 3.0}
    assert weights_setting("very negative = 0.5;\npositive=2") == {"very negative": 0.5, "positive": 2.0}
    assert weights_setting({"positive": 3}) == {"positive": 3.0}
    assert class_weights_text({"negative": 1.0, "positive": 3.0}) == "negative=1, positive=3"
    assert weights_setting(class_weights_text({"a": 0.25, "b": 4.0})) == {"a": 0.25, "b": 4.0}


@pytest.mark.parametrize("value,words", [
    ("balance", "'balance' is neither none, balanced nor label=weight pairs"),
    ("negative=1, positive", "'positive' is not label=weight"),
    ("negative=one", "the weight of 'negative' is 'one', not a number"),
    ("positive=0", "the weight of 'positive' is 0; weights must be above 0"),
    ({"positive": -2}, "the weight of 'positive' is -2; weights must be above 0"),
    ({"positive": "3"}, "the weight of 'positive' is '3', not a number"),
    ("positive=inf", "the weight of 'positive' is inf, not a number"),
    ("positive=1, positive=2", "'positive' is given twice"),
    ("=2", "'=2' is not label=weight"),
    (3, "must be none, balanced or a weight per label"),
])
def test_bad_class_weights_are_one_sentence_naming_the_field(value, words):
    with pytest.raises(UserError) as caught:
        weights_setting(value)
    assert caught.value.sentence.startswith("training.class_weights: ") and words in str(caught.value)
    assert ";" in str(caught.value) and "\n" not in str(caught.value)  # one sentence: the problem; the fix.


def train_labels(**counts) -> pd.Series:
    return pd.Series([name for name, n in counts.items() for _ in range(n)])


def test_balanced_weights_are_scikit_learns_compute_class_weight():
    labels = train_labels(negative=300, neutral=200, positive=15)
    ours = balance.class_weights("balanced", LABELS, labels)
    theirs = compute_class_weight("balanced", classes=np.array(LABELS), y=labels.to_numpy())
    assert ours == pytest.approx(theirs, rel=1e-5)
    assert ours[2] / ours[0] == pytest.approx(20.0, rel=1e-4)  # the 20x rarer class weighs 20x more
    assert balance.class_weights("none", LABELS, labels) is None


def test_explicit_weights_fill_unnamed_labels_with_one_and_keep_the_average_text_at_one():
    labels = train_labels(negative=50, neutral=30, positive=20)
    weights = balance.class_weights({"positive": 3.0}, LABELS, labels)
    assert weights[0] == weights[1] and weights[2] / weights[0] == pytest.approx(3.0)
    assert sum(w * n for w, n in zip(weights, (50, 30, 20))) / 100 == pytest.approx(1.0)


def test_weights_for_a_label_the_data_does_not_have_name_it_and_the_labels():
    with pytest.raises(UserError) as caught:
        balance.class_weights({"postive": 3.0}, LABELS, train_labels(negative=5, neutral=5, positive=5))
    assert caught.value.field == "training.class_weights" and caught.value.code == "UNKNOWN_LABEL"
    assert "'postive' is not a label of this data (its labels: negative, neutral, positive)" in str(caught.value)


def test_oversampling_repeats_rare_training_rows_seeded_and_leaves_the_eval_subset_alone():
    data = file_data("reviews.csv", train_size=40, eval_size=12)
    plain = prepare.prepare(RunConfig.from_dict({"data": data}).data)
    grown = prepare.prepare(RunConfig.from_dict({"data": {**data, "oversample": True}}).data)
    again = prepare.prepare(RunConfig.from_dict({"data": {**data, "oversample": True}}).data)
    counts = grown.train["label"].value_counts()
    assert counts.nunique() == 1 and counts.max() == plain.train["label"].value_counts().max()
    pd.testing.assert_frame_equal(grown.eval, plain.eval)
    assert grown.eval_rows == plain.eval_rows
    pd.testing.assert_frame_equal(grown.train, again.train)  # the same seed draws the same repeats
    # Every row, repeats included, still says where it came from in the data.
    source = dict(zip(plain.train_rows, plain.train["text"]))
    assert [source[r] for r in grown.train_rows] == grown.train["text"].tolist()
    assert any("Oversampled the training subset" in note for note in grown.notes)


def test_weighted_cross_entropy_is_the_mean_of_weight_times_loss():
    torch.manual_seed(0)
    logits, labels = torch.randn(6, 3), torch.tensor([0, 0, 0, 1, 1, 2])
    ones = torch.ones(3)
    assert weighted_loss(logits, labels, ones, multi_label=False) == pytest.approx(F.cross_entropy(logits, labels).item())
    weights = torch.tensor([0.5, 1.0, 4.0])
    each = F.cross_entropy(logits, labels, reduction="none")
    expected = (each * weights[labels]).mean()
    assert weighted_loss(logits, labels, weights, multi_label=False).item() == pytest.approx(expected.item())
    summed = torch.nn.CrossEntropyLoss(weight=weights, reduction="sum")(logits, labels) / len(labels)
    assert weighted_loss(logits, labels, weights, multi_label=False).item() == pytest.approx(summed.item())


def test_a_rare_class_weighed_up_pulls_harder_on_the_weights():
    logits = torch.zeros(2, 2, requires_grad=True)
    weighted_loss(logits, torch.tensor([0, 1]), torch.tensor([1.0, 3.0]), multi_label=False).backward()
    assert logits.grad[1].abs().sum() == pytest.approx(3 * logits.grad[0].abs().sum().item())


def test_accumulated_batches_add_up_to_the_whole_batch_and_padding_labels_are_ignored():
    torch.manual_seed(1)
    logits, labels, weights = torch.randn(8, 3), torch.tensor([0, 1, 2, 0, 1, 2, 2, 0]), torch.tensor([1.0, 2.0, 5.0])
    whole = weighted_loss(logits, labels, weights, multi_label=False)
    halves = sum(weighted_loss(logits[i:i + 4], labels[i:i + 4], weights, False, num_items_in_batch=torch.tensor(8))
                 for i in (0, 4))
    assert halves.item() == pytest.approx(whole.item())
    masked = labels.clone()
    masked[0] = -100
    assert weighted_loss(logits, masked, weights, False).item() == pytest.approx(
        weighted_loss(logits[1:], labels[1:], weights, False).item())


def test_multi_label_uses_each_labels_weight_as_pos_weight():
    torch.manual_seed(2)
    logits, labels = torch.randn(5, 4), torch.tensor([[1, 0, 0, 1], [0, 0, 1, 0], [1, 1, 0, 0], [0, 0, 0, 1],
                                                      [0, 1, 0, 0]], dtype=torch.float32)
    pos_weight = torch.tensor([1.0, 2.0, 8.0, 0.5])
    expected = torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight)(logits, labels)
    assert weighted_loss(logits, labels, pos_weight, multi_label=True).item() == pytest.approx(expected.item())
    plain = F.binary_cross_entropy_with_logits(logits, labels)
    assert weighted_loss(logits, labels, torch.ones(4), multi_label=True).item() == pytest.approx(plain.item())


class FakeModel:
    def __init__(self, problem_type):
        self.config = type("Config", (), {"problem_type": problem_type})()


def test_the_trainers_loss_function_reads_the_logits_and_follows_the_head():
    assert loss_function(None, FakeModel("single_label_classification")) is None
    single = loss_function([1.0, 3.0], FakeModel("single_label_classification"))
    assert isinstance(single, WeightedLoss) and not single.multi_label
    assert loss_function([1.0, 3.0], FakeModel("multi_label_classification")).multi_label
    logits, labels = torch.tensor([[2.0, 0.0], [0.0, 2.0]]), torch.tensor([1, 1])
    expected = (math.log(1 + math.exp(2.0)) * 3 + math.log(1 + math.exp(-2.0)) * 3) / 2
    assert single({"logits": logits}, labels).item() == pytest.approx(expected, rel=1e-5)
    assert single((logits,), labels).item() == pytest.approx(expected, rel=1e-5)


def test_balanced_pos_weights_of_multi_label_data_weigh_each_labels_texts_against_the_rest():
    labels = pd.Series([("sport", "uk"), ("sport",), ("politics",), ("politics", "uk")])
    weights = balance.class_weights("balanced", ["politics", "sport", "uk"], labels, multi_label=True)
    assert weights == [1.0, 1.0, 1.0]  # each label on 2 of 4 texts
    rare = pd.Series([("sport",), ("sport",), ("sport", "uk"), ("politics",)])
    # politics on 1 of 4 texts: 3 without it for each with it; sport on 3 of 4: 1 for 3.
    assert balance.class_weights("balanced", ["politics", "sport", "uk"], rare, multi_label=True) == [
        3.0, round(1 / 3, 6), 3.0]
    assert balance.class_weights({"uk": 5}, ["politics", "sport", "uk"], rare, multi_label=True) == [1.0, 1.0, 5.0]


def test_balanced_on_a_label_every_training_text_carries_is_one_sentence():
    labels = pd.Series([("news", "uk"), ("news",), ("news", "sport")])
    with pytest.raises(UserError) as caught:
        balance.class_weights("balanced", ["news", "sport", "uk"], labels, multi_label=True)
    assert caught.value.field == "training.class_weights" and "every training text carries 'news'" in caught.value.sentence


def test_oversampling_multi_label_data_is_refused_in_one_sentence():
    with pytest.raises(UserError) as caught:
        balance.check_oversample(multi_label=True)
    assert caught.value.field == "data.oversample" and "class weights" in caught.value.sentence
