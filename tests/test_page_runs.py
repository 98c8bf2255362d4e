"""The Runs page: table, filter, open, rename, delete with confirmation, export and Try the model."""

import json
import os
import shutil
import time

from streamlit.testing.v1 import AppTest

from core.rundir import runs
from core.runner import history
from tests.conftest import ROOT
from tests.test_page_live_run import RESULTS, make_run, overfitting_curve


def open_runs():
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    app.switch_page("pages/runs.py")
    return app.run()


def table(app):
    return app.dataframe(key="runs_table").value


def three_runs(runs_dir):
    make_run(runs_dir, "20260101-000000-base", "completed", overfitting_curve(), results=RESULTS, created_at=1.0)
    make_run(runs_dir, "20260102-000000-oom", "failed", error={"code": "OUT_OF_MEMORY", "message": "m"},
             created_at=2.0)
    make_run(runs_dir, "20260103-000000-live", "running", overfitting_curve(), pid=os.getpid(), created_at=3.0)
    history.rename_run(runs_dir, "20260101-000000-base", "baseline")


def test_no_runs_points_to_new_run(runs_dir):
    app = open_runs()
    assert not app.exception and "No runs yet" in app.info[0].body


def test_table_lists_every_run_newest_first_with_its_columns(runs_dir):
    three_runs(runs_dir)
    app = open_runs()
    assert not app.exception
    frame = table(app)
    assert list(frame["id"]) == ["20260103-000000-live", "20260102-000000-oom", "20260101-000000-base"]
    assert list(frame.columns[:8]) == ["id", "name", "state", "sweep", "data set", "model", "device", "best metric"]
    base = frame.set_index("id").loc["20260101-000000-base"]
    assert base["name"] == "baseline" and base["state"] == "completed" and base["best metric"] == 0.84
    assert base["started"] == time.strftime("%Y-%m-%d %H:%M", time.localtime(1.0))  # short enough to fit


def test_filter_by_state_and_text(runs_dir):
    three_runs(runs_dir)
    app = open_runs()
    app.multiselect(key="runs_state_filter").select("failed").run()
    assert list(table(app)["id"]) == ["20260102-000000-oom"]
    app.multiselect(key="runs_state_filter").unselect("failed").run()
    app.text_input(key="runs_text_filter").input("baseline").run()
    assert list(table(app)["id"]) == ["20260101-000000-base"]
    app.text_input(key="runs_text_filter").input("nothing like this").run()
    assert "No run matches the filter." in [i.body for i in app.info]


def test_open_goes_to_the_live_run_of_that_run(runs_dir):
    three_runs(runs_dir)
    app = open_runs()
    app.selectbox(key="runs_selected").select("20260101-000000-base").run()
    app.button(key="open_run").click().run()
    assert not app.exception
    assert app.title[0].value == "Live run"
    assert app.selectbox(key="run_picker").value == "20260101-000000-base"


def test_rename_shows_the_new_name(runs_dir):
    three_runs(runs_dir)
    app = open_runs()
    app.selectbox(key="runs_selected").select("20260102-000000-oom").run()
    app.text_input(key="rename_20260102-000000-oom").input("too big a batch").run()
    app.button(key="rename").click().run()
    assert table(app).set_index("id").loc["20260102-000000-oom", "name"] == "too big a batch"
    assert (runs_dir / "20260102-000000-oom").is_dir()


def test_delete_asks_first_then_removes_the_folder(runs_dir):
    three_runs(runs_dir)
    app = open_runs()
    app.selectbox(key="runs_selected").select("20260102-000000-oom").run()
    app.button(key="delete").click().run()
    assert "cannot be undone" in app.warning[0].body and (runs_dir / "20260102-000000-oom").exists()
    app.button(key="delete_cancel").click().run()
    assert not app.warning and (runs_dir / "20260102-000000-oom").exists()
    app.button(key="delete").click().run()
    app.button(key="delete_confirm").click().run()
    assert not (runs_dir / "20260102-000000-oom").exists()
    assert "20260102-000000-oom" not in list(table(app)["id"])


def test_a_running_run_cannot_be_deleted(runs_dir):
    three_runs(runs_dir)
    app = open_runs()
    assert app.selectbox(key="runs_selected").value == "20260103-000000-live"
    assert app.button(key="delete").disabled


def test_export_shows_the_config_and_the_script(runs_dir):
    three_runs(runs_dir)
    app = open_runs()
    app.selectbox(key="runs_selected").select("20260101-000000-base").run()
    codes = [c.value for c in app.code]
    assert any('"learning_rate": 0.0001' in c for c in codes)
    assert any("trainer.train()" in c and "TrainingArguments(" in c for c in codes)


def test_try_the_model_on_a_real_finished_run(runs_dir, finished_tiny_runs):
    source = finished_tiny_runs["20260101-000000-tiny-a"]
    shutil.copytree(source, runs_dir / source.name)
    app = open_runs()
    app.text_area(key="try_texts").input("what a lovely day\n\nthe service was awful").run()
    app.button(key="try_predict").click().run()
    assert not app.exception
    # AppTest keeps the key of selectable tables only; the results table is the one with a label column.
    results = next(d.value for d in app.dataframe if "label" in d.value.columns)
    assert list(results["text"]) == ["what a lovely day", "the service was awful"]
    assert set(results["label"]) <= {"negative", "neutral", "positive"}
    assert all(0.33 < p <= 1 for p in results["probability"])  # the top of three classes


def test_try_the_model_waits_for_a_finished_run(runs_dir):
    three_runs(runs_dir)
    app = open_runs()
    assert "Try the model once the run has finished" in " ".join(c.value for c in app.caption)


def test_a_state_this_page_does_not_know_is_still_listed(runs_dir):
    """Another part of the dashboard may add states (queued runs, say); nothing here may break on them."""
    odd = runs_dir / "20260104-000000-odd"
    odd.mkdir()
    runs.write_json_atomic(odd / "status.json", {"state": "paused-by-admin", "created_at": 4.0})
    app = open_runs()
    assert not app.exception
    assert list(table(app)["state"]) == ["paused-by-admin"]
    assert not app.button(key="delete").disabled


def test_try_the_model_with_no_text_says_what_to_do(runs_dir, finished_tiny_runs):
    source = finished_tiny_runs["20260101-000000-tiny-a"]
    shutil.copytree(source, runs_dir / source.name)
    app = open_runs()
    app.button(key="try_predict").click().run()
    assert app.error[0].body == "texts: is empty; type at least one text, one per line."


def test_export_offers_no_script_for_a_run_whose_data_file_is_gone(runs_dir):
    run_dir = make_run(runs_dir, "20260101-000000-file", "completed", overfitting_curve(), results=RESULTS)
    config = json.loads((run_dir / "config.json").read_text())
    config["data"] = {"source": "file", "path": str(runs_dir / "data" / "0123456789-gone.csv"), "train_size": 40,
                      "eval_size": 12}
    (run_dir / "config.json").write_text(json.dumps(config))
    app = open_runs()
    app.selectbox(key="runs_selected").select("20260101-000000-file").run()
    assert not app.exception
    sentence = next(c.value for c in app.caption if c.value.startswith("No reproduce script for this run: "))
    assert "data.path: '" in sentence and "does not exist" in sentence
    assert not any("trainer.train()" in c.value for c in app.code)
    assert not [e for e in app.get("download_button") if getattr(e, "key", None) == "download_script"]


FIXTURES = ROOT / "tests" / "fixtures" / "data"


def uploader(app, key):
    return next(w for w in app.file_uploader if w.key == key)


def finished_copy(runs_dir, finished_tiny_runs):
    source = finished_tiny_runs["20260101-000000-tiny-a"]
    shutil.copytree(source, runs_dir / source.name)
    return runs_dir / source.name


def test_predict_a_file_shows_every_row_and_the_evaluation_on_it(runs_dir, finished_tiny_runs):
    finished_copy(runs_dir, finished_tiny_runs)
    app = open_runs()
    uploader(app, "predict_upload").set_value(("new reviews.csv", (FIXTURES / "reviews.csv").read_bytes(),
                                               "text/csv")).run()
    app.button(key="predict_file").click().run()
    assert not app.exception and not app.error
    assert app.success[0].body == "Wrote 90 rows with predictions from column 'review'."
    preview = next(d.value for d in app.dataframe if "predicted_label" in d.value.columns)
    assert len(preview) == 90 and set(preview["predicted_label"]) <= {"negative", "neutral", "positive"}
    assert {"p(negative)", "p(neutral)", "p(positive)"} <= set(preview.columns)
    accuracy = (preview["predicted_label"] == preview["sentiment"]).mean()
    assert app.metric[0].label == "accuracy" and app.metric[0].value == f"{accuracy:.1%}"
    per_class = next(d.value for d in app.dataframe if "support" in d.value.columns)
    assert per_class["support"].sum() == 90 and list(per_class.index) == ["negative", "neutral", "positive"]
    assert [c for c in app.get("plotly_chart") if "Confusion matrix (this file)" in c.proto.spec]
    assert [b for b in app.get("download_button") if getattr(b, "key", None) == "download_predictions"]


def test_predict_a_file_without_a_text_column_is_one_sentence(runs_dir, finished_tiny_runs):
    finished_copy(runs_dir, finished_tiny_runs)
    app = open_runs()
    uploader(app, "predict_upload").set_value(("numbers.csv", (FIXTURES / "numbers_only.csv").read_bytes(),
                                               "text/csv")).run()
    app.button(key="predict_file").click().run()
    assert app.error[0].body == ("text column: no column of 'numbers.csv' holds text (columns: id, rating, label); "
                                 "name the column with the texts.")
    assert not [b for b in app.get("download_button") if getattr(b, "key", None) == "download_predictions"]


def test_predict_an_empty_file_is_one_sentence(runs_dir, finished_tiny_runs):
    finished_copy(runs_dir, finished_tiny_runs)
    app = open_runs()
    uploader(app, "predict_upload").set_value(("empty.csv", b"", "text/csv")).run()
    app.button(key="predict_file").click().run()
    assert app.error[0].body == "file: 'empty.csv' is empty; choose a file with a header row and data rows."


def test_push_sends_the_model_with_the_typed_token_privately(runs_dir, monkeypatch):
    from tests.test_hub_push import TOKEN, HubCalls, model_files
    from tests.test_model_card import finished_run

    calls = HubCalls(monkeypatch)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    model_files(finished_run(runs_dir))
    app = open_runs()
    assert app.checkbox(key="push_private").value is True  # private unless unticked
    app.text_input(key="push_repo").input("me/tweets").run()
    app.text_input(key="push_token").input(TOKEN).run()
    app.button(key="push").click().run()
    assert not app.exception and not app.error
    assert app.success[0].body == "Pushed 6 files to https://huggingface.co/me/tweets (private)."
    assert calls.repos[0]["private"] is True and calls.repos[0]["token"] == TOKEN
    assert not [p for p in runs_dir.rglob("*") if p.is_file() and TOKEN.encode() in p.read_bytes()]


def test_push_with_a_bad_repo_id_or_no_token_is_one_sentence(runs_dir, monkeypatch):
    from tests.test_hub_push import HubCalls, model_files
    from tests.test_model_card import finished_run

    calls = HubCalls(monkeypatch)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    model_files(finished_run(runs_dir))
    app = open_runs()
    app.text_input(key="push_repo").input("me/my model").run()
    app.text_input(key="push_token").input("hf_x").run()
    app.button(key="push").click().run()
    assert app.error[0].body.startswith("repo id: 'me/my model' is not a Hub repository id;")
    app.text_input(key="push_repo").input("me/tweets").run()
    app.text_input(key="push_token").input("").run()
    app.button(key="push").click().run()
    assert app.error[0].body.startswith("token: no Hugging Face token; set HF_TOKEN in the environment")
    assert calls.repos == []


def test_predict_and_push_wait_for_a_saved_model(runs_dir):
    three_runs(runs_dir)
    app = open_runs()
    captions = " ".join(c.value for c in app.caption)
    assert "Predict a file once the run has finished" in captions and "Push the model once the run" in captions
