"""The Runs page's ONNX export: the button exports and checks for real, the verdict shows, and "Try the model"
then runs on the ONNX model; a failed check is one sentence with no download and no ONNX engine offered."""

import json
import shutil

import pytest

from core.rundir.layout import OnnxDir, RunDir
from core.runner import onnx_export
from tests.test_page_runs import open_runs

RUN = "20260101-000000-tiny-a"


def download_keys(app) -> list[str]:
    return [getattr(e, "key", None) for e in app.get("download_button")]


def test_export_as_onnx_shows_the_check_then_try_the_model_runs_on_it(runs_dir, finished_tiny_runs):
    shutil.copytree(finished_tiny_runs[RUN], runs_dir / RUN)
    app = open_runs()
    assert "download_onnx" not in download_keys(app)
    app.button(key="export_onnx").click().run(timeout=300)
    assert not app.exception and not app.error
    verdict = app.success[0].body
    assert verdict.startswith("On 60 eval texts: PyTorch accuracy ") and "ONNX int8 " in verdict
    assert "download_onnx" in download_keys(app)
    engine = app.radio(key=f"try_engine_{RUN}")
    assert engine.options == ["ONNX Runtime, int8", "ONNX Runtime", "PyTorch"] and engine.value == "int8"
    app.text_area(key="try_texts").input("what a lovely day\nthe service was awful").run()
    app.button(key="try_predict").click().run()
    results = next(d.value for d in app.dataframe if "label" in d.value.columns)
    assert list(results["text"]) == ["what a lovely day", "the service was awful"]
    assert set(results["label"]) <= {"negative", "neutral", "positive"}


@pytest.fixture
def failed_export(runs_dir, finished_tiny_runs):
    run_dir = shutil.copytree(finished_tiny_runs[RUN], runs_dir / RUN)
    onnx_export.export_to_run(run_dir)
    check_file = OnnxDir(RunDir(run_dir).onnx).check
    check = json.loads(check_file.read_text())
    check["fp32"].update(passed=False, max_logit_diff=0.2)
    check.update(passed=False, sentence="The ONNX model's logits differ from PyTorch's by up to 0.2 (the limit is "
                                        "0.001), so this export is not fit to serve; use the PyTorch model.")
    check_file.write_text(json.dumps(check))
    return run_dir


def test_a_failed_check_is_one_sentence_with_no_download_and_no_onnx_engine(failed_export):
    app = open_runs()
    assert not app.exception
    assert app.error[0].body.startswith("The ONNX model's logits differ from PyTorch's by up to 0.2")
    assert "download_onnx" not in download_keys(app)
    assert not [r for r in app.radio if r.key == f"try_engine_{RUN}"]
