"""The Troubleshooting page: this environment's checks and the ten common problems."""

from streamlit.testing.v1 import AppTest

from core.diagnostics.findings import Finding
from tests.conftest import ROOT

SEED_CASES = ("eval_strategy", "accelerate", "MPS out of memory", "Dependency conflicts", "Loss not decreasing",
              "slow", "Overfitting", "GPU not used", "input_ids and attention_mask", "disk space")


def open_troubleshooting():
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    app.switch_page("pages/troubleshooting.py")
    return app.run()


def test_page_shows_environment_table_and_ten_cases(runs_dir):
    app = open_troubleshooting()
    assert not app.exception
    [table] = [frame.value for frame in app.dataframe]
    assert "torch" in list(table["item"])
    labels = [expander.label for expander in app.expander]
    assert len(labels) == 10
    for label, case in zip(labels, SEED_CASES):
        assert case in label


def test_each_case_says_what_the_dashboard_does_in_words_not_codes(runs_dir):
    import re

    app = open_troubleshooting()
    text = "\n".join([m.value for m in app.markdown] + [c.value for c in app.caption])
    assert text.count("**What the dashboard does:**") == 10
    assert "explained as out of memory" in text and "warns of overfitting" in text
    codes = set(re.findall(r"\b[A-Z]{3,}_[A-Z_]{3,}\b", text)) - {"CUDA_VISIBLE_DEVICES"}
    assert not codes, codes  # rule codes are for the JSON output, not for sentences
    assert "core/" not in text and "core." not in text


def test_a_missing_accelerate_is_shown_with_its_fix(runs_dir, monkeypatch):
    finding = Finding(code="DEPENDENCY_ERROR", severity="error", title="The Trainer cannot start without accelerate",
                      evidence="accelerate is not installed.", fix="Run `pip install -r requirements.txt`.")
    monkeypatch.setattr("core.diagnostics.environment.accelerate_check", lambda: finding)
    app = open_troubleshooting()
    assert not app.exception
    bodies = [e.body for e in app.error]
    # Once at the top, once inside the accelerate case.
    assert len([b for b in bodies if "without accelerate" in b and "**Fix:** Run" in b]) == 2
    assert not [s for s in app.success if s.body == "No problem found in this environment."]
