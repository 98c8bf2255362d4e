"""The Runs page's actions on one run: open, rename, delete, export, try the model."""

from pathlib import Path

import pandas as pd
import streamlit as st

from core.rundir import runs
from core.runner import export, history
from core.training import predict
from pages.components.onnx_panel import engine_choice, onnx_predictions
from pages.components.session import runs_dir, select_run

from core.common.errors import UserError
from core.rundir.layout import RunDir

STATE_COLOURS = {"queued": "gray", "running": "blue", "completed": "green", "stopped": "orange", "failed": "red"}


def manage_panel(run: runs.RunSummary) -> None:
    """Open, rename and delete (with a confirmation step)."""
    st.markdown(f"#### {run.config.get('name') or run.run_id}")
    st.badge(run.state, color=STATE_COLOURS.get(run.state, "gray"))
    open_col, name_col, rename_col, delete_col = st.columns([1.5, 3, 1, 1], vertical_alignment="bottom")
    if open_col.button("Open in Live run", key="open_run", icon=":material/monitoring:"):
        select_run(run.run_id)
        st.switch_page("pages/live.py", query_params={"run": run.run_id})
    new_name = name_col.text_input("Display name", value=run.config.get("name") or "", key=f"rename_{run.run_id}",
                                   max_chars=history.NAME_MAX_CHARS,
                                   help="The folder keeps its id; only the name shown changes (stored in the run's "
                                        "config.json).")
    if rename_col.button("Rename", key="rename", icon=":material/edit:"):
        try:
            history.rename_run(runs_dir(), run.run_id, new_name)
        except UserError as exc:
            st.error(exc.sentence, icon=":material/error:")
        else:
            st.toast(f"Renamed to {new_name.strip()}.")
            st.rerun()
    active = run.state in runs.ACTIVE_STATES
    if delete_col.button("Delete…", key="delete", icon=":material/delete:", disabled=active,
                         help="Stop the run first." if active else "Removes the run's folder, after a confirmation."):
        st.session_state["confirm_delete"] = run.run_id
    if st.session_state.get("confirm_delete") == run.run_id:
        confirm_delete(run)


def notes_panel(run: runs.RunSummary, known_tags: list[str]) -> None:
    """Tags (pick or type new ones) and free-text notes, searchable from the filter above."""
    meta = history.read_meta(run.path)
    tags_col, notes_col = st.columns([2, 3])
    tags = tags_col.multiselect("Tags", sorted({*known_tags, *meta["tags"]}, key=str.lower), default=meta["tags"],
                                key=f"tags_{run.run_id}", accept_new_options=True,
                                placeholder="pick or type a tag",
                                help=f"Type a new tag and press Enter: up to {history.TAG_MAX_CHARS} letters, "
                                     "digits and spaces (or - _ . + : /) each.")
    notes = notes_col.text_area("Notes", value=meta["notes"], key=f"notes_{run.run_id}", height=90,
                                placeholder="What this run tried, what you saw",
                                help=f"Up to {history.NOTES_MAX_CHARS:,} characters; the Search filter finds them.")
    if st.session_state.pop("meta_saved", None) == run.run_id:  # a toast shown before st.rerun() is lost
        st.toast("Notes and tags saved.", icon=":material/check:")
    if st.button("Save notes and tags", key="save_meta", icon=":material/sell:"):
        try:
            history.set_notes_and_tags(runs_dir(), run.run_id, notes, tags)
        except UserError as exc:
            st.error(exc.sentence, icon=":material/error:")
        else:
            st.session_state["meta_saved"] = run.run_id
            st.rerun()  # the table and the tag filter above show the new tags


def confirm_delete(run: runs.RunSummary) -> None:
    st.warning(f"Delete run **{run.run_id}** and its folder `{run.path}` (model, checkpoints, metrics)? "
               "This cannot be undone.", icon=":material/warning:")
    yes_col, no_col, _ = st.columns([1, 1, 4])
    if yes_col.button("Yes, delete", key="delete_confirm", type="primary"):
        st.session_state.pop("confirm_delete", None)
        try:
            history.delete_run(runs_dir(), run.run_id)
        except UserError as exc:
            st.error(exc.sentence, icon=":material/error:")
            return
        st.toast(f"Deleted {run.run_id}.")
        st.rerun()
    if no_col.button("Cancel", key="delete_cancel"):
        st.session_state.pop("confirm_delete", None)
        st.rerun()


def has_model(run: runs.RunSummary) -> bool:
    return run.state not in runs.ACTIVE_STATES and (RunDir(run.path).model / "config.json").is_file()


def zipped_model_bytes(run_dir: Path):
    """Deferred: the zip is built only when the button is clicked, then its temporary file removed."""
    def build() -> bytes:
        path = export.model_zip(run_dir)
        try:
            return path.read_bytes()
        finally:
            path.unlink(missing_ok=True)
    return build


def export_panel(run: runs.RunSummary) -> None:
    """Model zip, config JSON (with a copy button) and a standalone reproduce script."""
    if has_model(run):
        st.download_button("Download the model (.zip)", zipped_model_bytes(run.path), key="download_model",
                           file_name=f"{run.run_id}-model.zip", mime="application/zip", icon=":material/download:")
    else:
        st.caption("The model can be downloaded once the run has finished and saved it.")
    st.markdown("**Config** (the copy button is at the top right of the box)")
    st.code(export.config_json(run.path), language="json")
    try:
        script = reproduce_script(str(run.path), _mtime(RunDir(run.path).config), _mtime(RunDir(run.path).dataset))
    except UserError as exc:
        st.caption(f"No reproduce script for this run: {exc.sentence}")
        return
    st.download_button("Download reproduce.py", script, key="download_script", file_name="reproduce.py",
                       mime="text/x-python", icon=":material/code:",
                       help="A plain transformers Trainer script that trains on the same rows, with the same model "
                            "and arguments, outside the dashboard: python reproduce.py --output-dir out")
    with st.expander("Show the script"):
        st.code(script, language="python")


@st.cache_data(max_entries=8, ttl=60, show_spinner="Reading the run's data…")
def reproduce_script(run_dir: str, config_mtime: float, dataset_mtime: float) -> str:
    # The mtimes are part of the key: a renamed run gets a new docstring. The ttl notices a data file that changed.
    return export.run_script(Path(run_dir))


def _mtime(path: Path) -> float:
    return path.stat().st_mtime if path.exists() else 0.0


@st.cache_resource(max_entries=2, show_spinner="Loading the model…")
def cached_classifier(model_dir: str, saved_at: float):
    # saved_at is part of the cache key: a run folder reused under the same path is loaded afresh.
    return predict.load_classifier(Path(model_dir))


def try_model_panel(run: runs.RunSummary) -> None:
    """Type or paste texts (one per line) and see the predicted label with its probability."""
    if not has_model(run):
        st.caption("Try the model once the run has finished and saved it.")
        return
    raw = st.text_area("Texts, one per line", key="try_texts", height=120,
                       placeholder="What a great match!\nThe train was late again.")
    engine = engine_choice(run)
    if st.button("Predict", key="try_predict", icon=":material/psychology:"):
        # Kept per run, so the answers stay while the user looks at another tab.
        st.session_state[f"try_rows_{run.run_id}"] = predictions(run, raw, engine)
    rows = st.session_state.get(f"try_rows_{run.run_id}")
    if rows:
        show_predictions(rows)


def predictions(run: runs.RunSummary, raw: str, engine: str = "pytorch") -> list[dict] | None:
    try:
        texts = predict.split_texts(raw)
        if not texts:
            raise UserError("is empty; type at least one text, one per line.", field="texts")
        if engine != "pytorch":
            return onnx_predictions(run, texts, engine, (run.config.get("data") or {}).get("max_length", 128))
        model_dir = RunDir(run.path).model
        tokenizer, model = cached_classifier(str(model_dir), (model_dir / "config.json").stat().st_mtime)
        return predict.predict(texts, tokenizer, model, (run.config.get("data") or {}).get("max_length", 128))
    except UserError as exc:
        st.error(exc.sentence, icon=":material/error:")
        return None


def _answer(row: dict) -> dict:
    """What the table shows as the answer: the label and its probability, or for a multi-label model every label
    above its threshold with its probability ('sports 0.91, uk 0.62'; 'no label' when none passes)."""
    if "labels" not in row:
        return {"label": row["label"], "probability": row["probability"]}
    chosen = ", ".join(f"{name} {p:.2f}" for name, p in row["labels"].items())
    return {"labels": chosen or "no label"}


def show_predictions(rows: list[dict]) -> None:
    frame = pd.DataFrame([{"text": r["text"], **_answer(r),
                           **{f"p({k})": v for k, v in r["probabilities"].items()}} for r in rows])
    with st.container(key="try_results"):  # a table that cannot be selected keeps no key of its own
        # Narrow probability bars and a text column that takes the rest: the table fits 1,400 px with 5+ classes.
        bars = {c: st.column_config.ProgressColumn(c, min_value=0.0, max_value=1.0, format="%.2f", width="small")
                for c in frame.columns if c.startswith("p")}
        st.dataframe(frame, hide_index=True, column_config={"text": st.column_config.TextColumn(width="medium"),
                                                            **bars})
