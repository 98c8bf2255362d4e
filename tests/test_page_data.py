"""The New run page's data and model sections through AppTest: upload, detected columns, previews, bad inputs."""

from unittest import mock

import pytest
from streamlit.testing.v1 import AppTest

from pages.components.form_fields import field_label
from tests.bad_inputs import CASES, FIXTURES
from tests.conftest import ROOT

# Cases the page's widgets cannot produce: a picker offers only the file's columns, number boxes have bounds.
PREVENTED = {"text-column-missing": ("form.data.text_column", "body"),
             "label-column-missing": ("form.data.label_column", "stars")}
# Cases the page cannot make at all: it has no eval-file box; its 0/1 picker offers only columns of 0 and 1
# (tests/test_page_multilabel.py checks that).
NOT_ON_THE_PAGE = {"multilabel-label-only-in-eval", "multilabel-not-zero-one"}
# Where the page's own detection differs from the CLI's words (it falls back to the first column).
PAGE_WORDS = {"text-column-not-text": "column 'id' holds numbers, not text"}


@pytest.fixture
def app(runs_dir):
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=90).run()


def widget(app, key):
    return next(w for kind in ("number_input", "selectbox", "checkbox", "text_input", "file_uploader")
                for w in getattr(app, kind) if w.key == key)


def set_field(app, key, value):
    w = widget(app, key)
    (w.select(value) if w.type == "selectbox" else w.set_value(value)).run()


def use_file(app, path):
    set_field(app, "form.data.source", "file")
    set_field(app, "form.data.path", str(path))


def test_an_uploaded_kaggle_csv_is_mapped_previewed_and_launched(app, runs_dir):
    set_field(app, "form.model.name", "tiny-random")
    set_field(app, "form.data.source", "file")
    upload = (FIXTURES / "reviews.csv").read_bytes()
    widget(app, "upload").set_value(("My Reviews (Kaggle).csv", upload, "text/csv")).run()
    assert not app.exception and not app.error
    # The copy kept with the runs is ours: the path box stays for a path the person types.
    assert widget(app, "form.data.path").value == ""
    assert any("Using the uploaded file **My Reviews (Kaggle).csv**" in c.value for c in app.caption)
    stored = str(next((runs_dir / "data").iterdir()))
    assert stored.endswith("-My-Reviews-Kaggle.csv")
    assert widget(app, "form.data.text_column").value == "review"
    assert widget(app, "form.data.label_column").value == "sentiment"
    assert any("`0` negative · `1` neutral · `2` positive" in m.value for m in app.markdown)
    assert len(app.get("plotly_chart")) == 2  # class balance and token lengths
    assert any("covers 95%" in c.value for c in app.caption)
    # The default sizes (2,000 / 500) were lowered to what the 90 rows hold: 72 to train, 18 to evaluate.
    assert (widget(app, "form.data.train_size").value, widget(app, "form.data.eval_size").value) == (72, 18)
    assert any("The eval set is very small" in w.value for w in app.warning)
    set_field(app, "form.data.train_size", 100)
    assert app.error[0].value.startswith("Train subset size: is 100 but the training rows hold only 72")
    assert app.button(key="start").disabled
    set_field(app, "form.data.train_size", 60)
    with mock.patch("core.runner.launcher.start_run", return_value=runs_dir / "x") as start:
        app.button(key="start").click().run()
    config = start.call_args.args[0]
    assert config.data.source == "file" and config.data.path == stored
    assert config.data.name == "My Reviews (Kaggle).csv"  # the name the Runs table and Live run show
    assert (config.data.text_column, config.data.label_column) == ("review", "sentiment")


def apply_case(app, case):
    data, model = case.data, case.model
    if model.get("source") == "path":
        set_field(app, "form.model.source", "path")
        set_field(app, "form.model.path", model["path"])
    elif model.get("source") == "hub":
        set_field(app, "form.model.source", "hub")
        set_field(app, "form.model.hub_name", model["name"])
    if data["source"] == "hub":
        set_field(app, "form.data.source", "hub")
        set_field(app, "form.data.hub_name", data["name"])
        return
    use_file(app, data["path"])
    for name in ("text_column", "label_column", "train_size", "eval_size", "eval_fraction", "max_length"):
        if name in data and any(w.key == f"form.data.{name}" for w in [*app.selectbox, *app.number_input]):
            set_field(app, f"form.data.{name}", data[name])
    if "label_columns" in data:
        next(w for w in app.multiselect if w.key == "form.data.label_columns").set_value(data["label_columns"]).run()


@pytest.mark.parametrize("case", [c for c in CASES if c.id not in PREVENTED and c.id not in NOT_ON_THE_PAGE],
                         ids=lambda c: c.id)
def test_bad_input_is_one_sentence_on_the_page_and_start_stays_off(case, app, runs_dir):
    set_field(app, "form.data.train_size", 40)
    set_field(app, "form.data.eval_size", 12)
    apply_case(app, case)
    assert not app.exception
    words = PAGE_WORDS.get(case.id, case.words)
    label = field_label(case.field) or case.field  # the page names the field as its form labels it
    assert any(e.value.startswith(f"{label}: ") and words in e.value for e in app.error), \
        [e.value for e in app.error]
    assert app.button(key="start").disabled
    assert not [p for p in runs_dir.iterdir() if p.name != "data"]


@pytest.mark.parametrize("case_id", sorted(PREVENTED))
def test_the_widgets_cannot_make_these_bad_inputs(case_id, app):
    key, missing = PREVENTED[case_id]
    use_file(app, FIXTURES / "reviews.csv")
    assert missing not in widget(app, key).options


def test_rows_without_a_label_can_be_dropped_from_the_page(app):
    use_file(app, FIXTURES / "missing_labels.csv")
    assert app.error[0].value.startswith("Label column: 6 of 90 rows have no label")
    set_field(app, "form.data.drop_missing_labels", True)
    assert not app.error, [e.value for e in app.error]
    assert not app.button(key="start").disabled
    assert any(i.value == "Dropped 6 rows without a label." for i in app.info)


def test_a_model_folder_with_another_head_says_it_is_replaced(app, tmp_path):
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    from core.training.models import minilm_dir

    folder = tmp_path / "five-class-model"
    tiny = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                      intermediate_size=64, num_labels=5)
    BertForSequenceClassification(tiny).save_pretrained(folder)
    BertTokenizerFast.from_pretrained(str(minilm_dir())).save_pretrained(folder)
    use_file(app, FIXTURES / "reviews.csv")
    set_field(app, "form.model.source", "path")
    set_field(app, "form.model.path", str(folder))
    assert not app.error, [e.value for e in app.error]
    assert any("head had 5 outputs; it was replaced by a new head with 3" in i.value for i in app.info)


def test_trust_remote_code_is_off_and_warns_when_ticked(app):
    set_field(app, "form.model.source", "hub")
    assert widget(app, "form.model.trust_remote_code").value is False
    assert not any("Trust remote code is on" in w.value for w in app.warning)
    set_field(app, "form.model.trust_remote_code", True)
    assert any("Trust remote code is on" in w.value for w in app.warning)
