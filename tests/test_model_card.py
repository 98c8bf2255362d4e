"""The model card: Hugging Face metadata with the metric values, and the prose built from a run folder."""

import json

from huggingface_hub import ModelCard
from PIL import Image

from core.rundir import runs
from core.rundir.layout import RunDir
from core.views import model_card
from core.views.confusion_image import confusion_image
from tests.test_page_live_run import RESULTS, make_run, overfitting_curve

DATASET = {"num_labels": 3, "majority_rate": 0.42, "label_names": ["negative", "neutral", "positive"],
           "train_size": 2000, "eval_size": 30, "train_counts": {"negative": 840, "neutral": 800, "positive": 360},
           "eval_counts": {"negative": 10, "neutral": 10, "positive": 10}, "notes": []}


def finished_run(runs_dir, run_id="20260101-000000-card", **config_changes):
    """A completed run folder with a model config, results and an overfitting curve (no training needed)."""
    run_dir = make_run(runs_dir, run_id, "completed", overfitting_curve(), results=RESULTS)
    config = json.loads(RunDir(run_dir).config.read_text())
    for section, values in config_changes.items():
        config[section].update(values)
    config["name"] = "tweets, minilm"
    runs.write_json_atomic(RunDir(run_dir).config, config)
    runs.write_json_atomic(RunDir(run_dir).dataset, DATASET)
    runs.update_status(run_dir, started_at="2026-01-01T10:00:00+0000", ended_at="2026-01-01T10:05:36+0000",
                       device_facts={"device": "cpu", "physical_cores": 2})
    RunDir(run_dir).model.mkdir()
    (RunDir(run_dir).model / "config.json").write_text("{}")
    return run_dir


def test_card_metadata_names_library_task_base_model_and_metric_values(runs_dir):
    run_dir = finished_run(runs_dir)
    card = ModelCard.load(model_card.write_model_card(run_dir))
    data = card.data
    assert data.library_name == "transformers" and data.pipeline_tag == "text-classification"
    assert data.base_model == "sentence-transformers/all-MiniLM-L6-v2"
    values = {r.metric_type: r.metric_value for r in data.eval_results}
    assert values == {"accuracy": 0.85, "f1": 0.84, "precision": 0.86, "recall": 0.85}
    assert data.datasets is None  # a built-in data set is not a Hub id


def test_card_prose_has_data_metrics_baseline_matrix_diagnostics_and_usage(runs_dir):
    run_dir = finished_run(runs_dir)
    text = model_card.write_model_card(run_dir).read_text()
    assert "# tweets, minilm" in text
    assert "2000 training and 30 evaluation examples" in text
    assert "| 0 | negative | 840 | 10 | 33.3% |" in text  # class balance
    assert "| learning rate | 0.0001 |" in text and "| epochs | 3 |" in text
    assert "| accuracy | 85.0% |" in text
    assert "always answering `negative` scores 42.0% accuracy" in text and "43.0 points above it" in text
    assert "| negative | 0.800 | 0.800 | 0.800 | 10 |" in text  # per class
    assert "| true \\ predicted | negative | neutral | positive |" in text and "| neutral | 1 | 8 | 1 |" in text
    assert "Training took 5m 36s on a CPU with 2 physical cores" in text
    assert "**Warning (from step 80): The model is overfitting.** Eval loss rose from 0.480" in text
    assert 'AutoModelForSequenceClassification.from_pretrained("path/to/model")' in text
    assert "![Confusion matrix of the evaluation examples](confusion_matrix.png)" in text


def test_card_shows_the_repository_id_it_is_pushed_to(runs_dir):
    card = model_card.build_card(finished_run(runs_dir), model_reference="me/tweets")
    assert 'pipeline("text-classification", model="me/tweets"' in str(card)


def test_hub_data_is_named_in_the_metadata_and_a_random_model_has_no_base(runs_dir):
    run_dir = finished_run(runs_dir, data={"source": "hub", "name": "stanfordnlp/sst2"},
                           model={"name": "tiny-random"})
    data = ModelCard.load(model_card.write_model_card(run_dir)).data
    assert data.datasets == ["stanfordnlp/sst2"] and data.base_model is None
    assert "randomly initialised" in model_card.write_model_card(run_dir).read_text()


def test_a_file_run_names_the_file_but_not_where_it_lives(runs_dir, tmp_path):
    run_dir = finished_run(runs_dir, data={"source": "file", "path": str(tmp_path / "secret" / "reviews.csv")})
    text = model_card.write_model_card(run_dir).read_text()
    assert "`reviews.csv`" in text and str(tmp_path) not in text


def test_a_run_at_the_baseline_is_called_out(runs_dir):
    run_dir = finished_run(runs_dir)
    results = {**RESULTS, "final_metrics": {**RESULTS["final_metrics"], "accuracy": 0.425}}
    runs.write_json_atomic(RunDir(run_dir).results, results)
    assert "does not beat this baseline" in model_card.write_model_card(run_dir).read_text()


def test_confusion_png_is_written_next_to_the_card_and_shades_the_largest_cell_darkest(runs_dir):
    run_dir = finished_run(runs_dir)
    model_card.write_model_card(run_dir)
    image = Image.open(RunDir(run_dir).confusion_image)
    assert image.format == "PNG" and image.width > 200
    drawn = confusion_image([[1, 0], [0, 9]], ["a", "b"]).convert("L")
    # A corner pixel inside each diagonal cell (the count is drawn in the middle): the 9 is darker than the 1.
    cell, top, left = 64, 85, 150
    assert drawn.getpixel((left + cell + 4, top + cell + 4)) < drawn.getpixel((left + 4, top + 4))
    assert drawn.getpixel((left + cell + 4, top + 4)) == 255  # a zero cell stays white


def test_a_model_folder_keeps_no_half_written_card(runs_dir):
    run_dir = finished_run(runs_dir)
    model_card.write_model_card(run_dir)
    assert sorted(p.name for p in RunDir(run_dir).model.iterdir()) == ["README.md", "config.json",
                                                                       "confusion_matrix.png"]
