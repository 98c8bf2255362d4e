"""The Runs page's ways out for a finished model: predictions on a whole file, and a push to the Hugging Face Hub."""

import re
import shutil
import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

from core.common.errors import UserError
from core.common.safety import safe_filename
from core.data import tables
from core.rundir import runs
from core.rundir.layout import RunDir
from core.runner import hub
from core.training import file_predictions
from core.views import charts, progress
from pages.components.onnx_panel import engine_choice
from pages.components.run_actions import has_model

PAGE_FIELDS = file_predictions.Fields(model="run", input="file", output="predictions", text_column="text column",
                                      batch_size="batch size")
PREVIEW_ROWS = 200
METRIC_LABELS = {"accuracy": "accuracy", "f1": "F1 (weighted)", "precision": "precision (weighted)",
                 "recall": "recall (weighted)"}
UPLOAD_TYPES = sorted({ext.lstrip(".") for ext in tables.FORMATS})


def predict_file_panel(run: runs.RunSummary) -> None:
    """Upload a file of texts; every row comes back with the predicted label and each class's probability."""
    if not has_model(run):
        st.caption("Predict a file once the run has finished and saved its model.")
        return
    uploaded = st.file_uploader(f"File of texts ({tables.SUPPORTED_TEXT})", type=UPLOAD_TYPES, key="predict_upload",
                                help="The text column is detected as for training. If the file also has the "
                                     "model's label column, the predictions are scored against it.")
    text_column = st.text_input("Text column", key="predict_text_column", placeholder="detected",
                                help="Leave empty to detect it (a column named text, sentence, review..., else the "
                                     "column with the longest strings).")
    engine = engine_choice(run, key=f"file_engine_{run.run_id}")
    if st.button("Predict every row", key="predict_file", icon=":material/table_view:", disabled=uploaded is None):
        st.session_state[f"file_predictions_{run.run_id}"] = _predict_upload(run, uploaded, text_column, engine)
    outcome = st.session_state.get(f"file_predictions_{run.run_id}")
    if outcome:
        show_file_predictions(outcome)


def _predict_upload(run: runs.RunSummary, uploaded, text_column: str, engine: str = "pytorch") -> dict | None:
    """Run the prediction on a temporary copy of the upload; the page keeps the CSV, a preview and the evaluation."""
    folder = Path(tempfile.mkdtemp(prefix="predict-"))
    bar = st.progress(0.0, text="Reading the file…")
    try:
        source = folder / safe_filename(uploaded.name, "upload.csv")
        source.write_bytes(uploaded.getvalue())
        model = RunDir(run.path).model if engine == "pytorch" else RunDir(run.path).onnx
        report = file_predictions.predict_file(
            model, source, folder / "predictions.csv", text_column.strip() or None, int8=engine == "int8",
            on_progress=lambda done, total: bar.progress(done / max(total, 1),
                                                         text=f"Predicted {done:,} of {total:,} rows"),
            fields=PAGE_FIELDS)
        return {"csv": report.output.read_bytes(), "name": f"{Path(source.name).stem}-predictions.csv",
                "preview": pd.read_csv(report.output, nrows=PREVIEW_ROWS),
                "summary": file_predictions.summary_text(report, with_path=False).split("\n")[0],
                "notes": report.notes, "evaluation": report.evaluation, "label_column": report.label_column}
    except UserError as exc:
        st.error(exc.sentence, icon=":material/error:")
        return None
    finally:
        bar.empty()
        shutil.rmtree(folder, ignore_errors=True)


def show_file_predictions(outcome: dict) -> None:
    st.success(outcome["summary"], icon=":material/check:")
    for note in outcome["notes"]:
        st.caption(note)
    st.download_button("Download the predictions (.csv)", outcome["csv"], file_name=outcome["name"],
                       mime="text/csv", key="download_predictions", icon=":material/download:")
    with st.container(key="file_predictions_preview"):
        st.dataframe(outcome["preview"], hide_index=True)
    evaluation = outcome["evaluation"]
    if not evaluation:
        st.caption("The file has no column with the model's labels, so there is nothing to score against.")
        return
    st.markdown(f"**Evaluation on this file** (against column `{outcome['label_column']}`, "
                f"{evaluation['rows']:,} rows with a known label)")
    final = evaluation["final_metrics"]
    columns = st.columns(4)
    for column, (name, label) in zip(columns, METRIC_LABELS.items()):
        column.metric(label, progress.format_metric(name, final[name]))
    table_col, matrix_col = st.columns(2)
    frame = pd.DataFrame(evaluation["per_class"]).set_index("label")
    table_col.dataframe(frame.style.format({m: "{:.3f}" for m in ("precision", "recall", "f1")}),
                        key="file_per_class_table")
    figure = charts.confusion_figure(evaluation)
    figure.update_layout(title_text="Confusion matrix (this file)")
    matrix_col.plotly_chart(figure, key="file_confusion_chart")


def push_panel(run: runs.RunSummary) -> None:
    """Push the model, tokenizer and model card to the Hugging Face Hub, private by default."""
    if not has_model(run):
        st.caption("Push the model once the run has finished and saved it.")
        return
    repo_col, token_col = st.columns(2)
    repo_id = repo_col.text_input("Repository id", key="push_repo", placeholder="your-name/tweet-sentiment-minilm",
                                  help="USER/NAME (or ORGANISATION/NAME) on huggingface.co; created if missing.")
    token = token_col.text_input("Hugging Face token", key="push_token", type="password",
                                 placeholder="empty: HF_TOKEN from the environment",
                                 help="A token with write access. Used for this push only: it is never saved to a "
                                      "file or a log.")
    private = st.checkbox("Private repository", value=True, key="push_private",
                          help="Only you (or your organisation) can see a private repository.")
    st.caption("Uploads the model's weights, config, tokenizer and model card (with its confusion matrix) in one "
               "commit.")
    if st.button("Push to the Hub", key="push", icon=":material/cloud_upload:", disabled=not repo_id.strip()):
        with st.spinner("Pushing…"):
            try:
                result = hub.push_run(run.path, repo_id, private=private, token=token)
            except UserError as exc:
                st.error(exc.sentence, icon=":material/error:")
                return
        visibility = "private" if result.private else "public"
        st.success(f"Pushed {len(result.files)} files to {result.url} ({visibility}).", icon=":material/check:")


def model_card_panel(run: runs.RunSummary) -> None:
    """The model card as it reads on the Hub (written when the run ended; refreshed by a download or a push)."""
    card, image = RunDir(run.path).model_card, RunDir(run.path).confusion_image
    if not card.is_file():
        return
    with st.expander("Model card"):
        text = card.read_text(encoding="utf-8")
        body = text.split("\n---\n", 1)[-1] if text.startswith("---") else text  # the YAML block is for the Hub
        # The card links its image by file name; here it is drawn from the run folder where the card shows it.
        parts = re.split(r"!\[[^\]]*\]\([^)]*\)", body, maxsplit=1)
        st.markdown(parts[0])
        if image.is_file():
            st.image(str(image), caption="Confusion matrix (eval set)", width=360)
        if len(parts) > 1:
            st.markdown(parts[1])
