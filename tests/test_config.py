import json

import pytest

from core.common.errors import UserError
from core.config.reference import markdown_table
from core.config.schema import load_config_file, RunConfig


def test_defaults_are_valid_and_train_the_builtin_model_on_tweets():
    config = RunConfig.from_dict({})
    assert config.data.name == "tweet-sentiment" and config.model.name == "minilm-l6"
    assert config.data.train_size == 2000 and config.training.num_train_epochs == 3
    assert config.effective_batch_size() == 16


def test_unknown_key_names_the_key_and_suggests_the_closest():
    with pytest.raises(UserError) as err:
        RunConfig.from_dict({"data": {"train_szie": 100}})
    assert err.value.field == "data.train_szie"
    assert "did you mean 'train_size'" in err.value.sentence


def test_unknown_training_key_suggests_a_training_argument():
    with pytest.raises(UserError) as err:
        RunConfig.from_dict({"training": {"learning_rat": 1e-5}})
    assert "learning_rate" in err.value.sentence


def test_unknown_section_is_rejected():
    with pytest.raises(UserError, match="did you mean 'training'"):
        RunConfig.from_dict({"trainin": {}})


def test_old_evaluation_strategy_name_is_read_with_a_note():
    config = RunConfig.from_dict({"training": {"evaluation_strategy": "steps", "eval_steps": 5}})
    assert config.training.eval_strategy == "steps"
    assert any("evaluation_strategy" in note for note in config.notes)


def test_other_real_training_arguments_pass_through():
    config = RunConfig.from_dict({"training": {"max_grad_norm": 0.5, "lr_scheduler_type": "cosine"}})
    assert config.training.extra == {"max_grad_norm": 0.5, "lr_scheduler_type": "cosine"}
    assert config.to_dict()["training"]["max_grad_norm"] == 0.5


@pytest.mark.parametrize("section,key,value,words", [
    ("data", "train_size", 0, "at least 1"),
    ("data", "train_size", "many", "whole number"),
    ("data", "max_length", 100000, "at most 16384"),
    ("data", "name", "tweets", "did you mean 'tweet-sentiment'"),
    ("training", "learning_rate", "fast", "must be a number"),
    ("training", "eval_strategy", "epochs", "did you mean 'epoch'"),
    ("training", "load_best_model_at_end", "yes", "true or false"),
    ("hardware", "device", "gpu", "choose one of: auto, cpu, cuda, mps (did you mean 'cuda'?)"),
    ("hardware", "device", "quantum", "choose one of: auto, cpu, cuda, mps."),
])
def test_bad_values_give_one_sentence_naming_the_field(section, key, value, words):
    with pytest.raises(UserError) as err:
        RunConfig.from_dict({section: {key: value}})
    assert err.value.sentence.startswith(f"{section}.{key}: ")
    assert words in err.value.sentence
    assert "\n" not in err.value.sentence


def field_of(raw):
    with pytest.raises(UserError) as err:
        RunConfig.from_dict(raw)
    return err.value.field


def test_steps_strategy_needs_eval_steps():
    assert field_of({"training": {"eval_strategy": "steps"}}) == "training.eval_steps"


def test_no_evaluations_alone_turns_the_best_model_default_off():
    config = RunConfig.from_dict({"training": {"eval_strategy": "no"}})
    assert config.training.eval_strategy == "no" and config.training.load_best_model_at_end is False
    assert RunConfig.from_dict({"training": {"eval_strategy": "steps", "eval_steps": 5}}).training.load_best_model_at_end


def test_best_model_asked_for_without_evaluations_is_refused():
    raw = {"training": {"eval_strategy": "no", "load_best_model_at_end": True}}
    assert field_of(raw) == "training.load_best_model_at_end"


def test_a_save_schedule_of_its_own_turns_the_best_model_default_off_with_a_note():
    config = RunConfig.from_dict({"training": {"save_strategy": "steps"}})
    assert config.training.load_best_model_at_end is False
    assert any("load_best_model_at_end is off" in note for note in config.notes)


def test_best_model_asked_for_with_a_mismatched_save_strategy_is_refused():
    raw = {"training": {"save_strategy": "steps", "load_best_model_at_end": True}}
    assert field_of(raw) == "training.save_strategy"


def test_early_stopping_needs_best_model():
    raw = {"training": {"early_stopping_patience": 2, "load_best_model_at_end": False}}
    assert field_of(raw) == "training.early_stopping_patience"


def test_round_trip_through_json(tmp_path):
    config = RunConfig.from_dict({"name": "x", "training": {"max_grad_norm": 0.5}})
    path = tmp_path / "c.json"
    path.write_text(json.dumps(config.to_dict()))
    assert load_config_file(path).to_dict() == config.to_dict()


def test_config_file_errors_are_sentences(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_config_file(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{\"data\": ")
    with pytest.raises(UserError, match="not valid JSON"):
        load_config_file(bad)


def test_readme_table_lists_every_field():
    table = markdown_table()
    for key in ("data.train_size", "model.hidden_dropout_prob", "hardware.memory_preset",
                "training.early_stopping_patience"):
        assert f"`{key}`" in table


def test_apply_change_sets_dotted_keys_without_touching_the_original():
    from core.config.schema import apply_change

    raw = {"training": {"learning_rate": 1e-2}, "data": {"train_size": 100}}
    changed = apply_change(raw, {"training.learning_rate": 5e-5, "hardware.memory_preset": "low"})
    assert changed["training"]["learning_rate"] == 5e-5 and changed["hardware"] == {"memory_preset": "low"}
    assert raw["training"]["learning_rate"] == 1e-2 and "hardware" not in raw


def test_dry_run_keeps_the_settings_on_64_rows_and_20_steps():
    from core.config.variants import dry_run_variant

    config = RunConfig.from_dict({"name": "big", "training": {"learning_rate": 3e-5, "early_stopping_patience": 2,
                                                              "lr_scheduler_type": "cosine"}})
    dry = dry_run_variant(config)
    assert dry.data.train_size == 64 and dry.data.eval_size == 32
    assert dry.training.extra["max_steps"] == 20 and dry.training.eval_strategy == "steps"
    assert dry.training.eval_steps == 20 and dry.training.early_stopping_patience == 0
    assert dry.training.learning_rate == 3e-5 and dry.training.extra["lr_scheduler_type"] == "cosine"
    assert dry.name == "dry run big"
