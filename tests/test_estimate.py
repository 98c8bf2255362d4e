"""Memory and time estimates from the model's shape: the numbers a user sees before Start."""

from core.plan import estimate

BERT = estimate.MODEL_SHAPES["bert-base-random"]


def test_bert_base_has_110_million_parameters():
    counts = estimate.parameter_counts(BERT, num_labels=2)
    assert 109e6 < counts["total"] < 110.5e6 and 85e6 < counts["non_embedding"] < 86.5e6


def test_static_memory_is_16_bytes_per_parameter_in_fp32_training():
    memory = estimate.memory_estimate(BERT, 2, batch=1, length=8, precision="fp32", checkpointing=False,
                                      fused_attention=False, live_metrics=False)
    n = estimate.parameter_counts(BERT, 2)["total"]
    static = memory["weights_mb"] + memory["gradients_mb"] + memory["optimizer_mb"]
    assert abs(static - 16 * n / 2**20) < 1


def test_checkpointing_and_bf16_cut_activations_and_fused_attention_drops_the_square_term():
    def activations(**kw):
        args = {"precision": "fp32", "checkpointing": False, "fused_attention": False, **kw}
        return estimate.memory_estimate(BERT, 2, 32, 512, **args)["activations_mb"]

    full = activations()
    assert activations(checkpointing=True) < full / 5
    assert activations(precision="bf16") < full * 0.6
    assert activations(fused_attention=True) < full * 0.6


def test_grouped_batches_pad_less_than_shuffled_ones_and_buckets_round_up():
    lengths = [10, 200, 12, 190, 11, 205, 9, 180] * 50
    grouped = estimate.length_profile(lengths, 8, grouped=True, multiple=None)
    shuffled = estimate.length_profile(lengths, 8, grouped=False, multiple=None)
    assert grouped["mean_padded"] < shuffled["mean_padded"] * 0.7
    bucketed = estimate.padded_lengths(lengths, 8, grouped=True, multiple=64)
    assert set(bucketed) <= {64, 128, 192, 256}


def test_time_per_epoch_scales_with_data_and_uses_the_device_rate():
    profile = {"mean_real": 30, "mean_padded": 32, "max_padded": 64}
    shape = estimate.MODEL_SHAPES["minilm-l6"]
    cpu = estimate.time_estimate(shape, 3, 2000, 500, profile, "cpu", "fp32")
    gpu = estimate.time_estimate(shape, 3, 2000, 500, profile, "cuda", "bf16")
    assert cpu["train_s_per_epoch"] > 100 * gpu["train_s_per_epoch"]
    double = estimate.time_estimate(shape, 3, 4000, 500, profile, "cpu", "fp32")
    assert abs(double["train_s_per_epoch"] - 2 * cpu["train_s_per_epoch"]) < 0.2


def test_a_model_without_a_known_shape_gets_no_estimate():
    assert estimate.run_estimate("some/hub-model", 2, 8, [10], 128, {}, False, 100, 10, True) is None


def test_estimate_against_measurement_says_how_far_off_it_was():
    rows = estimate.versus_measured({"memory": {"total_mb": 500}, "time": {"samples_per_second": 20}},
                                    {"peak_memory_mb": 400, "samples_per_second": 25, "time_per_epoch_s": 80})
    by = {r["measure"]: r for r in rows}
    assert by["Peak memory (MB)"]["estimate off by"] == "+25%"
    assert by["Training samples/s"]["estimate off by"] == "-20%"
    assert by["Training time per epoch (s)"]["estimate off by"] == "–"


def test_estimates_are_rounded_to_what_a_person_reads():
    from core.plan.estimate import readable_duration, significant, time_estimate_words

    assert significant(42213.7) == "42,000" and significant(3.456) == "3.5" and significant(1234) == "1,200"
    assert [readable_duration(s) for s in (4, 330, 1460, 4800)] == \
        ["under a minute", "about 6 min", "about 25 min", "about 1 h 20 min"]
    assert time_estimate_words(0.4, 3, 42200.0, "cpu") == "under a minute for 3 epochs"
    assert time_estimate_words(336, 3, 17.86, "cpu") == "about 6 min for 3 epochs (about 18 training samples/s on cpu)"
