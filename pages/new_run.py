"""New run: pick data, model, hardware and training arguments, then Start."""

import streamlit as st

from core import launcher, presets
from core.config import RunConfig
from core.errors import UserError
from pages._state import runs_dir, select_run
from pages._widgets import field_widget, form_values, keep_values

SECTIONS = {
    "data": ["name", "train_size", "eval_size", "max_length", "seed"],
    "model": ["name", "hidden_dropout_prob", "attention_probs_dropout_prob"],
    "hardware": ["device", "memory_preset"],
    "training": ["num_train_epochs", "learning_rate", "per_device_train_batch_size", "per_device_eval_batch_size",
                 "gradient_accumulation_steps", "weight_decay", "warmup_ratio", "eval_strategy", "eval_steps",
                 "load_best_model_at_end", "metric_for_best_model", "early_stopping_patience", "save_total_limit",
                 "logging_steps", "seed", "train_sampling_strategy"],
}


@st.cache_resource
def detected_devices() -> dict:
    return presets.available_devices()


st.title("New run")
st.caption("Fine-tune a transformer text classifier. The defaults train offline on the built-in "
           "MiniLM-L6 encoder and 2,000 tweets in a few minutes on a laptop CPU.")

st.text_input("Run name (optional)", key="form.name", max_chars=60,
              help="A short name to find this run again; letters, digits and dashes end up in its folder name.")

data_col, model_col = st.columns(2)
with data_col.container(border=True):
    st.subheader("Data")
    field_widget("data", "name")
    size_a, size_b = st.columns(2)
    with size_a:
        field_widget("data", "train_size")
    with size_b:
        field_widget("data", "eval_size")
    len_a, len_b = st.columns(2)
    with len_a:
        field_widget("data", "max_length")
    with len_b:
        field_widget("data", "seed")

with model_col.container(border=True):
    st.subheader("Model")
    field_widget("model", "name")
    drop_a, drop_b = st.columns(2)
    with drop_a:
        field_widget("model", "hidden_dropout_prob")
    with drop_b:
        field_widget("model", "attention_probs_dropout_prob")

with model_col.container(border=True):
    st.subheader("Hardware")
    hw_a, hw_b = st.columns(2)
    with hw_a:
        field_widget("hardware", "device")
    with hw_b:
        field_widget("hardware", "memory_preset")
    found = [name.upper() if name != "cpu" else "CPU" for name, ok in detected_devices().items() if ok]
    st.caption(f"Detected on this machine: {', '.join(found)}.")

with st.container(border=True):
    st.subheader("Training")
    row = st.columns(4)
    with row[0]:
        field_widget("training", "num_train_epochs")
    with row[1]:
        field_widget("training", "learning_rate")
    with row[2]:
        field_widget("training", "per_device_train_batch_size")
    with row[3]:
        field_widget("training", "gradient_accumulation_steps")
    row = st.columns(4)
    with row[0]:
        field_widget("training", "per_device_eval_batch_size")
    with row[1]:
        field_widget("training", "weight_decay")
    with row[2]:
        field_widget("training", "warmup_ratio")
    with row[3]:
        field_widget("training", "logging_steps")
    row = st.columns(4)
    with row[0]:
        strategy = field_widget("training", "eval_strategy")
    with row[1]:
        field_widget("training", "eval_steps", disabled=strategy != "steps")
    with row[2]:
        # The best checkpoint can only be chosen among evaluations; checkpoints follow the eval schedule.
        load_best = field_widget("training", "load_best_model_at_end", disabled=strategy == "no")
    with row[3]:
        field_widget("training", "metric_for_best_model", disabled=strategy == "no" or not load_best)
    row = st.columns(4)
    with row[0]:
        field_widget("training", "early_stopping_patience", disabled=strategy == "no" or not load_best)
    with row[1]:
        field_widget("training", "save_total_limit")
    with row[2]:
        field_widget("training", "seed")
    with row[3]:
        field_widget("training", "train_sampling_strategy")

keep_values(SECTIONS)
values = form_values(SECTIONS)
values["name"] = st.session_state.get("form.name", "")
if values["training"]["eval_strategy"] == "no":
    values["training"]["load_best_model_at_end"] = False
if not values["training"]["load_best_model_at_end"]:
    values["training"]["early_stopping_patience"] = 0
if values["training"]["eval_strategy"] != "steps":
    values["training"]["eval_steps"] = None

try:
    config = RunConfig.from_dict(values)
except UserError as exc:
    config, problem = None, exc.sentence
else:
    problem = None
    plan = presets.batch_plan(config)
    st.info(f"Effective batch size: {plan.per_device_train_batch_size} per step × "
            f"{plan.gradient_accumulation_steps} accumulation = **{plan.effective_batch_size}**"
            + (" · gradient checkpointing on" if plan.gradient_checkpointing else ""), icon=":material/calculate:")

if problem:
    st.error(problem, icon=":material/error:")

if st.button("Start", type="primary", key="start", disabled=config is None):
    try:
        run_dir = launcher.start_run(config, runs_dir())
    except UserError as exc:
        st.error(exc.sentence, icon=":material/error:")
    else:
        select_run(run_dir.name)
        st.switch_page("pages/live_run.py", query_params={"run": run_dir.name})
