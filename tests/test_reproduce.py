"""reproduce.py on every source: it reads the very rows the dashboard trains on, trains on them for real
(a file run, and sentence pairs on an earlier run's model folder), refuses a changed file, and the export CLI."""

import json
import runpy
import shutil
import subprocess
import sys
import zipfile

import pandas as pd
import pytest

from core.common.errors import UserError
from core.config.schema import RunConfig
from core.data import prepare
from core.runner import export, history
from tests.bad_inputs import FIXTURES, file_data
from tests.conftest import ROOT, train_tiny_runs
from tests.test_sources import hub_folder  # noqa: F401 - a fixture: a local folder datasets.load_dataset reads

TEAMS = {"billing": "refund invoice charged twice card", "network": "wifi router offline signal slow",
         "shipping": "parcel courier late delivery address"}


def script_namespace(tmp_path, script: str) -> dict:
    path = tmp_path / "reproduce.py"
    path.write_text(script)
    return runpy.run_path(str(path), run_name="not_main")


def assert_reads_the_dashboards_rows(namespace: dict, data: dict) -> None:
    train, evaluation = namespace["load_splits"]()
    ours = prepare.prepare(RunConfig.from_dict({"data": data}).data)
    for theirs, mine in ((train, ours.train), (evaluation, ours.eval)):
        pd.testing.assert_frame_equal(theirs[list(mine.columns)], mine)
    assert namespace["LABEL_NAMES"] == ours.label_names


def tickets_csv(path, rows=90):
    """Support tickets whose team is told by its words (a model learns it in a few steps), except every fourth
    ticket, which says nothing: the accuracy to reach is well above chance but not 1."""
    teams = list(TEAMS)
    lines = ["ticket,team"] + [f"{'' if i % 4 == 0 else TEAMS[teams[i % 3]]} please help {i},{teams[i % 3]}"
                               for i in range(rows)]
    path.write_text("\n".join(lines) + "\n")
    return path


def pairs_csv(path, rows=80):
    """Premise and hypothesis, integer labels: 1 when the hypothesis repeats the premise's first word."""
    words = ["red", "blue", "green", "black", "white"]
    lines = ["premise,hypothesis,label"]
    for i in range(rows):
        same = i % 2
        lines.append(f"the {words[i % 5]} car {i},{'the ' + words[i % 5] if same else 'no ' + words[(i + 1) % 5]},"
                     f"{same}")
    path.write_text("\n".join(lines) + "\n")
    return path


def run_config(data: dict, model: dict | None = None, **training) -> dict:
    return {"name": "reproduce me", "data": {"max_length": 32, **data}, "model": model or {"name": "tiny-random"},
            "hardware": {"device": "cpu"},
            "training": {"num_train_epochs": 1, "learning_rate": 5e-3, "logging_steps": 5,
                         "per_device_train_batch_size": 8, **training}}


@pytest.mark.parametrize("name,more", [
    ("reviews.csv", {}), ("reviews.tsv", {}), ("reviews.json", {}), ("reviews.jsonl", {}), ("reviews.parquet", {}),
    ("semicolon_bom.csv", {}), ("cp1252.csv", {}), ("blank_texts.csv", {}), ("bool_labels.csv", {}),
    ("missing_labels.csv", {"drop_missing_labels": True}),
    ("reviews.csv", {"eval_path": str(FIXTURES / "reviews.tsv")}),
])
def test_the_script_reads_each_file_format_as_the_dashboard_does(tmp_path, name, more):
    data = file_data(name, **more)
    assert_reads_the_dashboards_rows(script_namespace(tmp_path, export.reproduce_script(run_config(data))), data)


def test_rows_under_a_json_key_and_integer_labels_with_a_pair_column(tmp_path):
    frame = pd.read_csv(pairs_csv(tmp_path / "pairs.csv"))
    (tmp_path / "pairs.json").write_text(json.dumps({"rows": frame.to_dict(orient="records")}))
    data = {"source": "file", "path": str(tmp_path / "pairs.json"), "train_size": 30, "eval_size": 10}
    namespace = script_namespace(tmp_path, export.reproduce_script(run_config(data)))
    assert namespace["COLUMNS"] == {"text": "premise", "label": "label", "text_pair": "hypothesis"}
    assert namespace["LABEL_OF_VALUE"] == {0: "0", 1: "1"} and namespace["DATA"]["train"]["json_key"] == "rows"
    assert_reads_the_dashboards_rows(namespace, data)


def test_hub_data_and_a_hub_model_are_written_as_the_run_resolved_them(tmp_path, hub_folder, monkeypatch):  # noqa: F811
    """No Hub here: the id is served from a local folder by datasets.load_dataset, for the dashboard and the script."""
    import datasets

    real = datasets.load_dataset
    monkeypatch.setattr(datasets, "load_dataset", lambda name, *args: real(str(hub_folder), *args)
                        if name == "someone/reviews" else pytest.fail(f"asked the Hub for {name}"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    data = {"source": "hub", "name": "someone/reviews", "drop_missing_labels": True, "train_size": 20,
            "eval_size": 2}
    script = export.reproduce_script(run_config(data, {"source": "hub", "name": "distilbert-base-uncased"}))
    namespace = script_namespace(tmp_path, script)
    assert_reads_the_dashboards_rows(namespace, data)
    # The test split's third row has no label (-1): the run skipped it, so the script never picks it.
    assert namespace["DATA"]["eval"]["split"] == "test" and sorted(namespace["EVAL_ROWS"]) == [0, 1]
    assert namespace["LABEL_OF_VALUE"] == {0: "neg", 1: "pos"}
    assert namespace["model_location"]() == namespace["tokenizer_location"]() == "distilbert-base-uncased"
    assert "AutoModelForSequenceClassification.from_pretrained(model_location()" in script
    assert pyflakes_warnings(script) == ""


def pyflakes_warnings(script: str) -> str:
    from io import StringIO

    from pyflakes.api import check
    from pyflakes.reporter import Reporter

    out = StringIO()
    check(script, "reproduce.py", Reporter(out, out))
    return out.getvalue()


@pytest.mark.parametrize("data,model", [
    ({"name": "bbc-news", "train_size": 20, "eval_size": 10}, {"name": "minilm-l6"}),
    ({"name": "tweet-sentiment", "train_size": 20, "eval_size": 10}, {"name": "bert-base-random"}),
    (file_data(), {"name": "minilm-l6", "hidden_dropout_prob": 0.2}),
    (file_data(), {"name": "tiny-random"}),
    (file_data(), {"source": "hub", "name": "roberta-base", "trust_remote_code": True}),
    (file_data(), {"source": "path", "path": "MINILM"}),
])
def test_each_kind_of_script_is_clean_python_with_the_models_loader(tmp_path, data, model):
    from core.training.models import minilm_dir

    model = {**model, "path": str(minilm_dir().resolve())} if model.get("path") else model
    script = export.reproduce_script(run_config(data, model))
    assert pyflakes_warnings(script) == ""  # no undefined name, no unused import
    namespace = script_namespace(tmp_path, script)
    if "model_location" in namespace:
        assert namespace["model_location"]() == {"hub": model.get("name"), "path": model.get("path")}.get(
            model.get("source"), str(minilm_dir()))
        assert namespace["MODEL"]["trust_remote_code"] == bool(model.get("trust_remote_code"))
    else:
        assert namespace["MODEL"]["bert_config"]["vocab_size"] == 30522
    if model.get("hidden_dropout_prob"):
        assert namespace["MODEL"]["dropout"]["hidden_dropout_prob"] == 0.2


def test_the_script_stops_when_the_file_changed_after_export(tmp_path):
    data = {"source": "file", "path": str(tickets_csv(tmp_path / "tickets.csv")), "train_size": 30, "eval_size": 9}
    namespace = script_namespace(tmp_path, export.reproduce_script(run_config(data)))
    tickets_csv(tmp_path / "tickets.csv", rows=91)
    with pytest.raises(SystemExit, match="tickets.csv changed since the run"):
        namespace["load_splits"]()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A real tiny run on a CSV of tickets, then sentence pairs trained from that run's model folder."""
    root = tmp_path_factory.mktemp("reproduce")
    runs_dir = root / "runs"
    runs_dir.mkdir()
    tickets = {"source": "file", "path": str(tickets_csv(root / "tickets.csv")), "train_size": 60, "eval_size": 18}
    train_tiny_runs(runs_dir, {"tickets": run_config(tickets, num_train_epochs=3)})
    pairs = {"source": "file", "path": str(pairs_csv(root / "pairs.csv")), "train_size": 60, "eval_size": 16}
    train_tiny_runs(runs_dir, {"pairs": run_config(pairs, {"source": "path", "path": str(runs_dir / "tickets" /
                                                                                        "model")})})
    return runs_dir


def run_script(script: str, tmp_path) -> tuple[str, dict]:
    """Run the script as a user would, outside the project, and return its output and final metrics."""
    (tmp_path / "reproduce.py").write_text(script)
    result = subprocess.run([sys.executable, "reproduce.py", "--output-dir", "out"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300,
                            env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout, json.loads(result.stdout.split("Final eval metrics: ")[1].splitlines()[0])


def final_accuracy(run_dir) -> float:
    return json.loads((run_dir / "results.json").read_text())["final_metrics"]["accuracy"]


def test_a_file_run_is_reproduced_on_that_files_labels_and_accuracy(trained, tmp_path):
    run_dir = trained / "tickets"
    script = export.run_script(run_dir)
    assert "import core" not in script and "from core" not in script
    output, metrics = run_script(script, tmp_path)
    assert "60 training and 18 eval examples; labels: billing, network, shipping" in output
    model = json.loads((tmp_path / "out" / "model" / "config.json").read_text())
    assert model["id2label"] == json.loads((run_dir / "model" / "config.json").read_text())["id2label"]
    # Same rows, seed and arguments: only kernels and batch padding differ from the dashboard's run, so the
    # accuracy is the run's within two of the 18 eval rows; and the run learned (chance is 1/3).
    assert metrics["eval_accuracy"] == pytest.approx(final_accuracy(run_dir), abs=0.12)
    assert final_accuracy(run_dir) > 0.55


def test_pairs_on_a_saved_model_folder_are_reproduced(trained, tmp_path):
    run_dir = trained / "pairs"
    script = export.run_script(run_dir)
    assert f"'location': '{trained / 'tickets' / 'model'}'" in script
    output, metrics = run_script(script, tmp_path)
    assert "60 training and 16 eval examples; labels: 0, 1" in output
    assert metrics["eval_accuracy"] == pytest.approx(final_accuracy(run_dir), abs=0.13)


def test_a_data_file_changed_since_the_run_is_refused_in_one_sentence(trained, tmp_path):
    run_dir = shutil.copytree(trained / "tickets", tmp_path / "tickets", ignore=shutil.ignore_patterns("checkpoints"))
    changed = tmp_path / "tickets.csv"
    changed.write_text((trained.parent / "tickets.csv").read_text().replace("please help 7,", "please help me 7,"))
    config = json.loads((run_dir / "config.json").read_text())
    config["data"]["path"] = str(changed)
    (run_dir / "config.json").write_text(json.dumps(config))
    with pytest.raises(UserError, match="changed since the run read it") as caught:
        export.run_script(run_dir)
    assert caught.value.field == "data.path" and caught.value.code == "DATA_CHANGED"


def test_export_cli_writes_config_script_and_model(trained, tmp_path, capsys):
    assert history.main(["export", str(trained / "tickets"), "--out", str(tmp_path / "out")]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["config.json", "model.zip", "reproduce.py"]
    assert json.loads((tmp_path / "out" / "config.json").read_text()) == \
        json.loads((trained / "tickets" / "config.json").read_text())
    assert "billing" in (tmp_path / "out" / "reproduce.py").read_text()
    with zipfile.ZipFile(tmp_path / "out" / "model.zip") as archive:
        assert "model/config.json" in archive.namelist()
    assert "Wrote " in capsys.readouterr().out


def test_export_cli_refuses_a_run_without_a_model_and_writes_nothing(trained, tmp_path):
    run_dir = shutil.copytree(trained / "tickets", tmp_path / "no-model", ignore=shutil.ignore_patterns("model"))
    result = subprocess.run([sys.executable, "-m", "core.runs", "export", str(run_dir), "--out",
                             str(tmp_path / "out")], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "has no saved model" in result.stderr
    assert not (tmp_path / "out").exists()


def test_export_cli_leaves_nothing_half_written_when_the_script_is_refused(trained, tmp_path, capsys):
    run_dir = shutil.copytree(trained / "tickets", tmp_path / "moved", ignore=shutil.ignore_patterns("checkpoints"))
    config = json.loads((run_dir / "config.json").read_text())
    config["data"]["path"] = str(tmp_path / "gone.csv")
    (run_dir / "config.json").write_text(json.dumps(config))
    (tmp_path / "out").mkdir()
    assert history.main(["export", str(run_dir), "--out", str(tmp_path / "out")]) == 2
    assert "data.path" in capsys.readouterr().err and list((tmp_path / "out").iterdir()) == []
