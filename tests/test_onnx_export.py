"""ONNX for serving: `core.runs export --onnx [--quantize]` on a real tiny run, checked against PyTorch, and the
bad inputs (a run without a model, an output folder that cannot be written, --quantize alone)."""

import json
import shutil

import numpy as np
import pytest

from core.rundir.layout import OnnxDir, RunDir
from core.runner import history, onnx_export
from core.training import onnx_model, predict


@pytest.fixture(scope="module")
def exported(finished_tiny_runs, tmp_path_factory):
    """One tiny run exported once (fp32 and int8) through the CLI; tests read it, and copy before changing."""
    run_dir = finished_tiny_runs["20260101-000000-tiny-a"]
    out = tmp_path_factory.mktemp("onnx-export") / "out"
    code = history.main(["export", str(run_dir), "--out", str(out), "--onnx", "--quantize"])
    return run_dir, out, code


def test_export_writes_onnx_with_its_tokenizer_and_a_passed_check(exported, capsys):
    run_dir, out, code = exported
    assert code == 0
    assert {p.name for p in out.iterdir()} == {"config.json", "reproduce.py", "model.zip", "onnx"}
    folder = OnnxDir(out / "onnx")
    assert folder.model.is_file() and folder.int8_model.is_file() and (folder.path / "tokenizer.json").is_file()
    import onnx
    ops = {node.op_type for node in onnx.load(str(folder.int8_model)).graph.node}
    assert "MatMulInteger" in ops and "DynamicQuantizeLinear" in ops  # the matrix products run in int8
    check = json.loads(folder.check.read_text())
    assert check["passed"] and check["sentence"] is None and check["eval_texts"] == 60
    assert check["fp32"]["max_logit_diff"] < 1e-3 and check["int8"]["agreement"] >= 0.99
    # The fp32 model gives PyTorch's labels, so its accuracy on the eval subset is PyTorch's.
    assert check["fp32"]["accuracy"] == check["pytorch"]["accuracy"]


def test_onnx_model_takes_any_batch_and_length_and_answers_like_pytorch(exported):
    run_dir, out, _ = exported
    texts = ["ok", "a much longer text about the weather, the trains and the football results of the weekend"] * 3
    classifier = onnx_model.OnnxClassifier(out / "onnx")
    tokenizer, model = predict.load_classifier(RunDir(run_dir).model)
    for batch in (texts[:1], texts[1:2], texts):  # batch 1 and 6, sequence lengths 3 and ~20 tokens
        expected = predict.predict(batch, tokenizer, model, max_length=48)
        rows = onnx_model.predict(batch, classifier, max_length=48)
        assert [r["label"] for r in rows] == [r["label"] for r in expected]
        assert np.allclose([r["probability"] for r in rows], [r["probability"] for r in expected], atol=1e-5)


def test_export_to_the_run_folder_replaces_an_earlier_export(exported, tmp_path):
    run_dir, _, _ = exported
    copy = shutil.copytree(run_dir, tmp_path / run_dir.name)
    first = onnx_export.export_to_run(copy)  # fp32 only
    assert first["passed"] and "int8" not in first
    assert onnx_export.usable_engines(RunDir(copy).onnx) == ["fp32"]
    onnx_export.export_to_run(copy, quantize=True)
    assert onnx_export.usable_engines(RunDir(copy).onnx) == ["int8", "fp32"]
    assert [p.name for p in copy.iterdir() if p.name.startswith(".onnx-")] == []  # no partial folder left


def test_a_check_that_fails_says_so_in_one_sentence():
    logits = np.array([[2.0, 0.0], [0.0, 2.0], [2.0, 0.0], [0.0, 2.0]])
    bad_fp32 = onnx_model.compare_logits({"pytorch": logits, "fp32": logits + 0.01}, [0, 1, 0, 0])
    assert not bad_fp32["passed"]
    assert bad_fp32["sentence"].startswith("The ONNX model's logits differ from PyTorch's by up to 0.01")
    flipped = logits.copy()
    flipped[0] = [0.0, 2.0]
    bad_int8 = onnx_model.compare_logits({"pytorch": logits, "fp32": logits, "int8": flipped}, [0, 1, 0, 0])
    assert bad_int8["fp32"]["passed"] and not bad_int8["int8"]["passed"] and not bad_int8["passed"]
    assert bad_int8["int8"]["agreement"] == 0.75 and bad_int8["int8"]["accuracy"] == 0.5
    assert "only 75.0% of the eval texts" in bad_int8["sentence"]


def test_a_failed_check_exits_1_and_says_why(exported, tmp_path, monkeypatch, capsys):
    run_dir, _, _ = exported
    real = onnx_model.compare_logits
    monkeypatch.setattr(onnx_model, "compare_logits",
                        lambda logits, ids: real({**logits, "fp32": logits["fp32"] + 0.5}, ids))
    code = history.main(["export", str(run_dir), "--out", str(tmp_path / "out"), "--onnx"])
    assert code == 1
    assert capsys.readouterr().err.startswith("error: The ONNX model's logits differ from PyTorch's by up to 0.5")
    assert onnx_export.usable_engines(tmp_path / "out" / "onnx") == []


def test_a_run_without_a_model_writes_nothing(finished_tiny_runs, tmp_path, capsys):
    run_dir = shutil.copytree(finished_tiny_runs["20260101-000000-tiny-a"], tmp_path / "run")
    shutil.rmtree(RunDir(run_dir).model)
    code = history.main(["export", str(run_dir), "--out", str(tmp_path / "out"), "--onnx", "--quantize"])
    assert code == 2 and not (tmp_path / "out").exists()
    assert capsys.readouterr().err == ("error: RUN_DIR: run 'run' has no saved model (it is completed); export a "
                                       "run that finished and saved its model.\n")


def test_an_output_folder_that_cannot_be_written_is_one_sentence(finished_tiny_runs, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code = history.main(["export", str(finished_tiny_runs["20260101-000000-tiny-a"]), "--out",
                         str(blocker / "out"), "--onnx"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(f"error: --out: cannot write to '{blocker / 'out'}' (") and "a folder you can write" in err
    assert blocker.read_text() == "not a folder"


def test_quantize_without_onnx_is_refused(finished_tiny_runs, tmp_path, capsys):
    with pytest.raises(SystemExit) as stopped:
        history.main(["export", str(finished_tiny_runs["20260101-000000-tiny-a"]), "--out", str(tmp_path / "o"),
                      "--quantize"])
    assert stopped.value.code == 2 and "add --onnx" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_a_whole_file_is_predicted_by_the_onnx_export_as_by_pytorch(exported, tmp_path):
    import pandas as pd

    from core.training import file_predictions

    run_dir, out, _ = exported
    texts = ["I love this", "worst day ever", "the meeting is at noon", "ok", "what a game"] * 3
    source = tmp_path / "texts.csv"
    pd.DataFrame({"text": texts}).to_csv(source, index=False)
    written = {}
    for name, model_dir, int8 in (("pytorch", RunDir(run_dir).model, False), ("fp32", out / "onnx", False),
                                  ("int8", out / "onnx", True)):
        assert file_predictions.main(["--model", str(model_dir), "--input", str(source), "--output",
                                      str(tmp_path / f"{name}.csv"), *(["--int8"] if int8 else [])]) == 0
        written[name] = pd.read_csv(tmp_path / f"{name}.csv")
    columns = [c for c in written["pytorch"].columns if c.startswith("p(")]
    assert np.abs(written["fp32"][columns].to_numpy() - written["pytorch"][columns].to_numpy()).max() < 1e-4
    assert (written["fp32"]["predicted_label"] == written["pytorch"]["predicted_label"]).all()
    assert np.abs(written["int8"][columns].to_numpy() - written["pytorch"][columns].to_numpy()).max() < 0.1
