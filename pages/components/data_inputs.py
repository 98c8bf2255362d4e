"""The New run page's data and model sections: source, upload, columns, label mapping and the data preview.

Only widgets and session state here; reading, checking and measuring the data is done by core/.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

import streamlit as st

from core.common.errors import UserError
from core.config.reference import field_help
from core.config.schema import DataConfig, ModelConfig, RunConfig
from core.config.source_fields import BUILTIN_DATASETS, BUILTIN_MODELS
from core.data import balance, columns, multilabel, prepare, uploads
from core.rundir.records import metric_for_task, MULTI_LABEL_EQUIVALENT, MULTI_LABEL_METRICS, SINGLE_LABEL_METRICS
from core.training import models
from core.views import charts, preview
from pages.components.findings import finding_box
from pages.components.form_fields import apply_change, current, field_widget, force_value, set_value, user_sentence
from pages.components.session import runs_dir

NO_PAIR = "(none)"
PICKERS = ("text_column", "label_column", "text_pair_column")
LABEL_SHAPE_FIELDS = ("task", "label_separator", "label_columns")
MULTI_LABEL_FLAG = "data_multi_label"
# Widget keys of this section that are not config fields, kept across page switches like the others.
EXTRA_KEYS = ("form.data.hub_name", "form.model.hub_name")


def _kept(key: str, default: Any) -> Any:
    return st.session_state.get(key, st.session_state.get("kept." + key, default))


def _choice(label: str, options: tuple, key: str, help_of: tuple[str, str]) -> str:
    value = _kept(key, options[0])
    return st.selectbox(label, options, index=options.index(value) if value in options else 0, key=key,
                        help=field_help(*help_of)["help"])


def _text(label: str, key: str, default: str, help_of: tuple[str, str]) -> str:
    return st.text_input(label, value=_kept(key, default), key=key, help=field_help(*help_of)["help"]).strip()


def keep_extra_values() -> None:
    for key in EXTRA_KEYS:
        if key in st.session_state:
            st.session_state["kept." + key] = st.session_state[key]


def data_source_inputs() -> dict[str, Any]:
    """Source widgets; returns the data values they set (columns and sizes come later)."""
    st.session_state[MULTI_LABEL_FLAG] = False  # until the label column says otherwise
    source = field_widget("data", "source")
    if source == "builtin":
        return {"source": source, "name": _choice("Data set", BUILTIN_DATASETS, "form.data.name", ("data", "name"))}
    if source == "hub":
        values = {"source": source, "name": _text("Hub data set id", "form.data.hub_name", "imdb", ("data", "name"))}
        for column, name in zip(st.columns(3), ("config_name", "train_split", "eval_split")):
            with column:
                values[name] = field_widget("data", name)
        return values
    path, name = _file_input()
    return {"source": source, "name": name, "path": path}


def _upload_changed() -> None:
    """The person removed the upload (its x) or chose another: forget the stored copy of the old one."""
    if st.session_state.get("upload") is None:
        st.session_state.pop("upload_stored", None)


def _file_input() -> tuple[str, str]:
    """An uploaded file (stored under the runs folder) or a path on this machine; returns (path, display name).

    The stored copy's path stays ours: the path box is only for a file the person names themselves."""
    uploaded = st.file_uploader("Data file (CSV, TSV, JSON, JSON Lines, Parquet)", key="upload",
                                max_upload_size=uploads.UPLOAD_LIMIT_MB, on_change=_upload_changed,
                                help=f"Up to {uploads.UPLOAD_LIMIT_MB} MB. A copy is kept with the runs, so "
                                     "every run of it can be repeated; columns are detected below.")
    stored = st.session_state.get("upload_stored")
    if uploaded is not None and (stored or {}).get("file_id") != uploaded.file_id:
        try:
            path = uploads.store_upload(runs_dir(), uploaded.name, uploaded.getvalue())
        except UserError as exc:
            st.error(user_sentence(exc), icon=":material/error:")
        else:
            stored = {"file_id": uploaded.file_id, "path": str(path), "name": uploaded.name}
            st.session_state["upload_stored"] = stored
            force_value("data", "path", "")  # the newest choice wins: this upload, not a path typed earlier
    typed = field_widget("data", "path", label="…or the path of a file on this machine",
                         placeholder="/home/me/data/reviews.csv").strip()
    if typed:
        return typed, os.path.basename(typed) or typed
    if stored:
        st.caption(f"Using the uploaded file **{stored['name']}**.")
        return stored["path"], stored["name"]
    st.info("Upload a data file, or type the path of one, to see its columns and start a run.",
            icon=":material/upload_file:")
    return "", "file"


SOURCE_FIELDS = ("source", "name", "config_name", "train_split", "eval_split", "path", "eval_path")


def _source_identity(config: DataConfig) -> tuple:
    """What decides the raw rows, plus the file's size and modification time so an edited file is re-read."""
    stamp = None
    if config.path and os.path.isfile(config.path):
        stat = os.stat(config.path)
        stamp = (stat.st_size, stat.st_mtime_ns)
    return (*((k, getattr(config, k)) for k in SOURCE_FIELDS), stamp)


@st.cache_resource(max_entries=6, show_spinner="Reading the data…")
def _read_source(identity: tuple) -> tuple:
    return prepare.read_source(DataConfig(**dict(identity[:-1])))


def read_raw(data: dict[str, Any]) -> tuple | None:
    """The source's raw rows, or None (with the sentence shown when the source itself cannot be read)."""
    try:
        config = RunConfig.from_dict({"data": {k: v for k, v in data.items() if v not in (None, "")}}).data
    except UserError:
        return None  # a bad field: the page shows its sentence with the rest of the config's
    try:
        return _read_source(_source_identity(config))
    except UserError as exc:
        st.error(user_sentence(exc), icon=":material/error:")
        return None


def column_inputs(raw: tuple, data: dict[str, Any]) -> dict[str, Any]:
    """Column pickers prefilled by detection (reset when the data changes); returns their values."""
    frame, _, class_labels, _ = raw
    names = [str(c) for c in frame.columns]
    identity = (data.get("source"), data.get("name"), data.get("path"), tuple(names))
    if st.session_state.get("columns_for") != identity:
        st.session_state["columns_for"] = identity
        st.session_state["fit_sizes"] = True
        for field in PICKERS + LABEL_SHAPE_FIELDS:
            st.session_state.pop(f"form.data.{field}", None)
    try:
        found = columns.resolve_columns(frame, None, None, None, class_labels)
        detected = {"text_column": found.text, "label_column": found.label, "text_pair_column": found.text_pair}
    except UserError:
        detected = {"text_column": names[0], "label_column": names[-1], "text_pair_column": None}
    values = {}
    for column, field in zip(st.columns(3), PICKERS):
        options = ([NO_PAIR] if field == "text_pair_column" else []) + names
        default = detected[field] or NO_PAIR
        chosen = column.selectbox(field_help("data", field)["label"], options, key=f"form.data.{field}",
                                  index=options.index(default) if default in options else 0,
                                  help=field_help("data", field)["help"])
        values[field] = None if chosen == NO_PAIR else chosen
    values.update(label_shape_inputs(frame, values))
    return values


def _binary_looking(frame) -> list[str]:
    """Columns holding only 0 and 1 (candidates for multi-label data in one column per label)."""
    return [str(c) for c in frame.columns
            if frame[c].dropna().isin([0, 1, True, False]).all() and not frame[c].dropna().empty]


def label_shape_inputs(frame, picked: dict[str, Any]) -> dict[str, Any]:
    """The task (auto shows what it detected), the separator of separated labels, and 0/1 label columns."""
    binary = [c for c in _binary_looking(frame) if c != picked.get("text_column")]
    task_col, more_col = st.columns([1, 2])
    task = task_col.selectbox(field_help("data", "task")["label"], multilabel.TASKS, key="form.data.task",
                              help=field_help("data", "task")["help"])
    chosen = more_col.multiselect(field_help("data", "label_columns")["label"], binary, key="form.data.label_columns",
                                  help=field_help("data", "label_columns")["help"],
                                  disabled=len(binary) < 2 or task == "single_label",
                                  placeholder="none: labels come from the label column")
    values = {"task": task, "label_columns": list(chosen) or None, "label_separator": None}
    try:
        shape = multilabel.label_shape(frame, picked["label_column"], task, values["label_columns"],
                                       st.session_state.get("form.data.label_separator") or None)
    except UserError:
        shape = None  # the preview says why, with Start kept off
    st.session_state[MULTI_LABEL_FLAG] = bool(shape and shape.multi_label)
    if shape and shape.shape == "separated":
        values["label_separator"] = st.text_input(
            field_help("data", "label_separator")["label"], value=shape.separator, max_chars=1,
            key="form.data.label_separator", help=field_help("data", "label_separator")["help"]) or None
    if shape:
        kind = "multi-label" if shape.multi_label else "single-label"
        st.caption(f"Task: **{kind}**{' (detected)' if task == 'auto' else ''}: {shape.reason}.")
    return values


def is_multi_label() -> bool:
    """Whether the data chosen on the page has several labels per text (as detected or set)."""
    return bool(st.session_state.get(MULTI_LABEL_FLAG))


def metric_options(multi_label: bool) -> tuple[str, ...]:
    """The best-model metrics a run on this kind of data records."""
    return (*(MULTI_LABEL_METRICS if multi_label else SINGLE_LABEL_METRICS), "loss")


def fit_metric_to_task(multi_label: bool, current_metric: str) -> str | None:
    """The metric to switch the form to when the data's kind changed (f1 <-> f1_micro), or None."""
    options = metric_options(multi_label)
    if current_metric in options:
        return None
    if multi_label:
        return metric_for_task(current_metric, True)
    return next((single for single, multi in MULTI_LABEL_EQUIVALENT.items() if multi == current_metric), "f1")


def fit_sizes_to_new_data(raw: tuple, data: dict[str, Any]) -> None:
    """Once per newly chosen data: lower the subset sizes to what it holds, so a small file needs no editing."""
    if not st.session_state.get("fit_sizes"):
        return
    try:
        drawn_later = {name: current("data", name) for name in ("eval_fraction", "drop_missing_labels")}
        values = {**drawn_later, **{k: v for k, v in data.items() if v not in (None, "")}}
        config = RunConfig.from_dict({"data": values}).data
        loaded = prepare.build(raw, config)
    except UserError:
        return  # the preview shows the sentence; sizes are fitted once the data loads (a box ticked, say)
    st.session_state.pop("fit_sizes")
    carved = 0 if loaded.eval is not None else round(len(loaded.train) * config.eval_fraction)
    eval_rows = len(loaded.eval) if loaded.eval is not None else carved
    for name, available in (("train_size", len(loaded.train) - carved), ("eval_size", eval_rows)):
        wanted = field_help("data", name)["default"]
        force_value("data", name, max(1, min(wanted, available)))


def model_inputs() -> dict[str, Any]:
    source = field_widget("model", "source")
    values: dict[str, Any] = {"source": source}
    if source == "builtin":
        values["name"] = _choice("Model", BUILTIN_MODELS, "form.model.name", ("model", "name"))
    elif source == "hub":
        values["name"] = _text("Hub model id", "form.model.hub_name", "distilbert-base-uncased", ("model", "name"))
    else:
        values["path"] = field_widget("model", "path").strip()
    if source != "builtin":
        values["trust_remote_code"] = field_widget("model", "trust_remote_code")
        if values["trust_remote_code"]:
            st.warning("Trust remote code is on: Python code shipped with this model will run on this machine "
                       "with your permissions. Turn it off unless you trust the model's authors.",
                       icon=":material/warning:")
    return values


@st.cache_resource(max_entries=4, show_spinner="Loading the tokenizer…")
def _tokenizer(source: str, name: str, path: str | None, trust: bool):
    return models.load_tokenizer(ModelConfig(source=source, name=name, path=path, trust_remote_code=trust))


@st.cache_resource(max_entries=6, show_spinner="Sampling the subsets…")
def _splits(identity: tuple, data_json: str, _raw: tuple):
    config = DataConfig(**json.loads(data_json))
    return prepare.split(prepare.build(_raw, config), config)


def data_preview(config: RunConfig, raw: tuple) -> str | None:
    """Check the data and the model's tokenizer, and show the preview; returns the blocking sentence, if any."""
    m = config.model
    try:
        splits = _splits(_source_identity(config.data), json.dumps(dataclasses.asdict(config.data)), raw)
        tokenizer = _tokenizer(m.source, m.name, m.path, m.trust_remote_code)
        models.check_max_length(config.data.max_length, tokenizer)
        balance.class_weights(config.training.class_weights, splits.label_names, splits.train["label"],
                              splits.multi_label)
    except UserError as exc:
        return user_sentence(exc)
    _show_mapping(splits, config)
    for finding in preview.data_warnings(splits, config.to_dict()):
        finding_box(finding, ":material/warning:")
        if finding.config_change:  # very unequal classes: class weights and macro F1 are one click away
            st.button(f"Apply: {', '.join(f'{k} = {v}' for k, v in finding.config_change.items())}",
                      key=f"preview_{finding.code}", on_click=apply_change, args=(finding.config_change,))
    _show_charts(splits, tokenizer, config.data.max_length)
    return None


def _show_mapping(splits, config: RunConfig) -> None:
    found = splits.columns
    if found is not None and config.data.source != "builtin":
        pair = f", second text **{found.text_pair}**" if found.text_pair else ""
        st.caption(f"Columns: text **{found.text}**{pair}, label **{found.label}**.")
    mapping = " · ".join(f"`{i}` {name}" for i, name in enumerate(splits.label_names[:40]))
    st.markdown(f"**Labels ({len(splits.label_names)})**, as ids in the model: {mapping}")
    st.caption(f"Taken: {len(splits.train):,} training and {len(splits.eval):,} eval rows, stratified by label "
               f"with seed {config.data.seed}.")
    for note in splits.notes:
        st.info(note, icon=":material/info:")
    try:
        head = models.head_note(config.model, len(splits.label_names))
    except Exception:  # noqa: BLE001 - the run itself reports a broken model folder with its sentence
        head = None
    if head:
        st.info(head, icon=":material/model_training:")


def _show_charts(splits, tokenizer, max_length: int) -> None:
    lengths = preview.token_lengths(splits, tokenizer)
    stats = preview.length_summary(lengths, max_length, models.length_limit(tokenizer))
    left, right = st.columns(2)
    summary = splits.summary()
    left.plotly_chart(charts.class_balance_figure(summary), key="class_balance_chart")
    if splits.multi_label:
        left.plotly_chart(charts.labels_per_text_figure(summary), key="labels_per_text_chart")
        left.caption(preview.label_frequency_sentence(summary))
    right.plotly_chart(charts.token_length_figure(lengths, max_length, stats["suggested_max_length"]),
                       key="token_length_chart")
    right.caption(f"{stats['truncated_share']:.1%} of {stats['count']:,} sampled training texts are longer than max "
                  f"length {max_length} and would be truncated; **{stats['suggested_max_length']}** covers 95% of "
                  "them.")
    suggested, cut = stats["suggested_max_length"], stats["suggested_truncated_share"]
    faster = "faster: shorter batches" if suggested < max_length else "keeps more of each text"
    if suggested != max_length and right.button(
            f"Use max length {suggested} ({faster}; cuts {cut:.0%} of texts)", key="use_suggested_max_length",
            help="Texts longer than the max length are truncated: the model sees only their beginning."):
        set_value("data", "max_length", stats["suggested_max_length"])
        st.rerun()
    st.dataframe(preview.sample_rows(splits), hide_index=True, key="sample_rows")
