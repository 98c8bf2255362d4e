"""Form widgets built from the config dataclasses' metadata: labels, help, choices and limits."""

from __future__ import annotations

from typing import Any

import streamlit as st

from core.config.reference import field_help, form_fields

FLOAT_FORMATS = {"learning_rate": "%.1e"}


def key_of(section: str, name: str) -> str:
    return f"form.{section}.{name}"


def field_widget(section: str, name: str, **overrides: Any) -> Any:
    """One widget for config field `section.name`; its value lands in session_state[key_of(...)]."""
    meta = field_help(section, name)
    if overrides.get("options"):  # a narrower set of choices (the best-model metrics of this kind of data)
        meta = {**meta, "choices": tuple(overrides["options"])}
    overrides.pop("options", None)
    kwargs = {"label": meta["label"], "help": meta["help"], "key": key_of(section, name)}
    kwargs.update(overrides)
    # Values survive a trip to another page (Streamlit drops the state of widgets it did not draw).
    default = st.session_state.get(_kept(section, name), meta["default"])
    if st.session_state.pop("forced." + kwargs["key"], False):
        return _forced_widget(meta, kwargs)
    if meta.get("choices"):
        choices = list(meta["choices"])
        return st.selectbox(options=choices, index=choices.index(default) if default in choices else 0, **kwargs)
    if isinstance(meta["default"], bool):
        return st.checkbox(value=bool(default), **kwargs)
    if meta["kind"] == "str":
        # A field stored in another shape than text (class weights as a mapping) has its own way to read as text.
        return st.text_input(value=meta["as_text"](default) if meta.get("as_text") else default or "", **kwargs)
    # No min / max on the widget: the browser would keep the old value of an out-of-range one and only colour
    # it red; passed on, the config's check says what is wrong in one sentence and keeps Start off.
    is_int = isinstance(meta["default"], int) and not isinstance(meta["default"], bool)
    if is_int:
        return st.number_input(value=default, step=1, **kwargs)
    return st.number_input(value=_as_float(default), format=FLOAT_FORMATS.get(name, "%.2f"),
                           step=_float_step(name), placeholder="model default" if meta.get("optional") else None,
                           **kwargs)


def _forced_widget(meta: dict, kwargs: dict) -> Any:
    """A widget whose value force_value put in session state: no default passed (Streamlit would warn)."""
    if meta.get("choices"):
        return st.selectbox(options=list(meta["choices"]), **kwargs)
    if isinstance(meta["default"], bool):
        return st.checkbox(**kwargs)
    if meta["kind"] == "str":
        return st.text_input(**kwargs)
    if meta["kind"] == "int":
        return st.number_input(value=None, step=1, **kwargs)
    name = kwargs["key"].rsplit(".", 1)[-1]
    return st.number_input(value=None, step=_float_step(name), format=FLOAT_FORMATS.get(name, "%.2f"), **kwargs)


def field_row(section: str, names: list[str], columns: int | None = None,
              disabled: dict[str, bool] | None = None, options: dict[str, tuple] | None = None) -> None:
    """Several fields side by side, one column each (`options` narrows a choice field's choices)."""
    for column, name in zip(st.columns(columns or len(names)), names):
        with column:
            field_widget(section, name, disabled=(disabled or {}).get(name, False),
                         options=(options or {}).get(name))


def current(section: str, name: str) -> Any:
    """A field's value as the widget will return it in this run (the widget may not be drawn yet)."""
    key = key_of(section, name)
    if key in st.session_state:
        return st.session_state[key]
    return st.session_state.get(_kept(section, name), field_help(section, name)["default"])


def _kept(section: str, name: str) -> str:
    return "kept." + key_of(section, name)


def keep_values(sections: dict[str, list[str]]) -> None:
    for section, names in sections.items():
        for name in names:
            if key_of(section, name) in st.session_state:
                st.session_state[_kept(section, name)] = st.session_state[key_of(section, name)]


def set_value(section: str, name: str, value: Any) -> None:
    """Pre-fill a field (used by presets and by 'apply fix'); takes effect on the next rerun."""
    st.session_state[_kept(section, name)] = value
    st.session_state.pop(key_of(section, name), None)


def fill_form(config: dict[str, Any]) -> None:
    """Pre-fill the New run form with a run's settings, for its next visit. An uploaded file is not kept
    across runs, so a file source keeps the form's own file."""
    for section in ("data", "model", "hardware", "training"):
        values = config.get(section) or {}
        for name in form_fields(section):
            if name in values and name != "path":
                set_value(section, name, values[name])
        if section in ("data", "model") and values.get("source") == "hub":
            st.session_state[f"kept.form.{section}.hub_name"] = values.get("name")


def force_value(section: str, name: str, value: Any) -> None:
    """Set a field now, in this script run, before its widget is drawn; the browser shows the new value too
    (set_value's popped key can leave the browser showing the old one until the next interaction)."""
    st.session_state[key_of(section, name)] = value
    st.session_state[_kept(section, name)] = value
    st.session_state["forced." + key_of(section, name)] = True


def apply_change(change: dict[str, Any]) -> None:
    """A finding's config change ({"training.learning_rate": 5e-5}) into the form; for a button's on_click, which
    runs before the fields are drawn, so the browser shows the applied values too."""
    for dotted, value in change.items():
        force_value(*dotted.split(".", 1), value)


def _as_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _float_step(name: str) -> float:
    return {"learning_rate": 1e-5, "num_train_epochs": 1.0, "warmup_ratio": 0.05}.get(name, 0.01)


def form_values(sections: dict[str, list[str]]) -> dict[str, dict[str, Any]]:
    """The current widget values as a config dict (the input of RunConfig.from_dict)."""
    out: dict[str, dict[str, Any]] = {}
    for section, names in sections.items():
        out[section] = {}
        for name in names:
            value = st.session_state.get(key_of(section, name))
            if isinstance(value, float) and value.is_integer() and isinstance(field_help(section, name)["default"],
                                                                                int):
                value = int(value)
            out[section][name] = value
    return out


def field_label(dotted: str | None) -> str | None:
    """The form's label of config field 'section.name' ("data.path" -> "Data file"), or None if it has none."""
    section, _, name = (dotted or "").partition(".")
    try:
        return field_help(section, name)["label"]
    except (KeyError, AttributeError):
        return None


def user_sentence(exc) -> str:
    """A UserError in the page's words: the field as its label reads on the form, not its config key."""
    label = field_label(exc.field)
    return f"{label}: {exc}" if label else exc.sentence
