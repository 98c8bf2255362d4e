"""New run: pick data, model, hardware and training arguments, then Start."""

import streamlit as st

from core.common.errors import UserError
from core.config import compat
from core.config.reference import form_fields
from core.config.schema import RunConfig
from core.config.variants import dry_run_variant
from core.diagnostics import preflight
from core.plan import presets
from core.runner import launcher
from pages.components import data_inputs, learning_rate
from pages.components.estimates import show_estimates, speed_fields
from pages.components.findings import finding_box
from pages.components.form_fields import (apply_change, current, field_row, field_widget, force_value, form_values,
                                          keep_values, user_sentence)
from pages.components.several_machines import several_machines
from pages.components.session import NEW_RUN_CONFIG, runs_dir, select_run, through_app_navigation

through_app_navigation()

# Every field the form shows, per section, from the config dataclasses (core/config/schema.py).
SECTIONS = {section: form_fields(section) for section in ("data", "model", "hardware", "training")}
# Training fields drawn only for multi-label data.
MULTI_LABEL_FIELDS = ("threshold", "tune_thresholds")


@st.cache_resource
def detected_devices() -> dict:
    return presets.available_devices()


def start_blocked_reason(problem: str | None, blocking: bool, data: dict) -> str:
    """One line next to a disabled Start: what it waits for."""
    if problem:
        return f"Start waits for a fix: {problem}"
    if blocking:
        return "Start waits for a fix: see the pre-flight check above."
    if data.get("source") == "file" and not data.get("path"):
        return "Start waits for a data file: upload one, or type its path, in the Data section."
    return "Start waits for the data: see the Data section."


st.title("New run")
st.caption("Fine-tune a transformer text classifier. The defaults train offline on the built-in "
           "MiniLM-L6 encoder and 2,000 tweets: about 6 minutes on 2 CPU cores, 75% accuracy on 3 classes "
           "(measured on this project's test machine).")

st.text_input("Run name (optional)", key="form.name", max_chars=60,
              help="A short name to find this run again; letters, digits and dashes end up in its folder name.")

data_col, model_col = st.columns(2)
with data_col.container(border=True):
    st.subheader("Data")
    data_values = data_inputs.data_source_inputs()
    raw = data_inputs.read_raw(data_values)
    if raw is not None and data_values["source"] != "builtin":
        data_values.update(data_inputs.column_inputs(raw, data_values))
        data_inputs.fit_sizes_to_new_data(raw, data_values)
        field_row("data", ["eval_fraction", "drop_missing_labels"])
    field_row("data", ["train_size", "eval_size"])
    field_row("data", ["max_length", "seed"])

with model_col.container(border=True):
    st.subheader("Model")
    model_values = data_inputs.model_inputs()
    field_row("model", ["hidden_dropout_prob", "attention_probs_dropout_prob"])
    no_lora = not current("model", "lora")
    field_row("model", ["lora", "lora_rank", "lora_alpha", "lora_dropout"],
              disabled={"lora_rank": no_lora, "lora_alpha": no_lora, "lora_dropout": no_lora})

with model_col.container(border=True):
    st.subheader("Hardware")
    field_row("hardware", ["device", "memory_preset", "processes"])
    speed_fields()
    found = [name.upper() if name != "cpu" else "CPU" for name, ok in detected_devices().items() if ok]
    st.caption(f"Detected on this machine: {', '.join(found)}.")

with st.container(border=True):
    st.subheader("Training")
    field_row("training", ["num_train_epochs", "learning_rate", "per_device_train_batch_size",
                           "gradient_accumulation_steps"])
    field_row("training", ["per_device_eval_batch_size", "weight_decay", "warmup_ratio", "logging_steps"])
    # The best checkpoint can only be chosen among evaluations; checkpoints follow the eval schedule.
    no_eval = current("training", "eval_strategy") == "no"
    no_best = no_eval or not current("training", "load_best_model_at_end")
    multi_label = data_inputs.is_multi_label()
    switched = data_inputs.fit_metric_to_task(multi_label, current("training", "metric_for_best_model"))
    if switched:
        force_value("training", "metric_for_best_model", switched)
    field_row("training", ["eval_strategy", "eval_steps", "load_best_model_at_end", "metric_for_best_model"],
              disabled={"eval_steps": current("training", "eval_strategy") != "steps",
                        "load_best_model_at_end": no_eval, "metric_for_best_model": no_best},
              options={"metric_for_best_model": data_inputs.metric_options(multi_label)})
    if multi_label:
        field_row("training", ["threshold", "tune_thresholds"], columns=4)
        if current("training", "tune_thresholds"):
            st.caption("Tuned thresholds are picked on the eval set, so the final eval scores of this run will be "
                       "optimistic; compare runs by their scores at the fixed threshold.")
    field_row("training", ["early_stopping_patience", "save_total_limit", "seed", "train_sampling_strategy"],
              disabled={"early_stopping_patience": no_best})
    # Unequal classes: weigh them in the loss, or repeat the rare ones in the training subset.
    weights_col, oversample_col = st.columns([3, 1], vertical_alignment="bottom")
    with weights_col:
        field_widget("training", "class_weights", placeholder="none, balanced, or negative=1, positive=3")
    with oversample_col:
        field_widget("data", "oversample")

    reporters = compat.installed_reporters()
    if reporters:
        st.multiselect("Also report to", reporters, key="form.report_to",
                       help="Send the metrics to a tracker you already use as well (TrainingArguments report_to). "
                            "The run's own folder stays the source of truth.")
    else:
        st.caption("Reporting to TensorBoard, MLflow or W&B is offered here when one of them is installed "
                   "(pip install tensorboard).")

keep_values({**SECTIONS, "training": [*SECTIONS["training"], *MULTI_LABEL_FIELDS]})
data_inputs.keep_extra_values()
values = form_values({**SECTIONS, "data": form_fields("data", source_fields=False),
                      "model": form_fields("model", source_fields=False)})
# Fields this source does not draw keep their defaults.
values["data"] = {**{k: v for k, v in values["data"].items() if v is not None}, **data_values}
values["model"] = {**model_values, **values["model"]}
values["name"] = st.session_state.get("form.name", "")
if multi_label:
    values["training"].update(form_values({"training": list(MULTI_LABEL_FIELDS)})["training"])
if st.session_state.get("form.report_to"):
    values["training"]["report_to"] = list(st.session_state["form.report_to"])
if values["training"]["eval_strategy"] == "no":
    values["training"]["load_best_model_at_end"] = False
if not values["training"]["load_best_model_at_end"]:
    values["training"]["early_stopping_patience"] = 0
if values["training"]["eval_strategy"] != "steps":
    values["training"]["eval_steps"] = None

try:
    config = RunConfig.from_dict(values)
except UserError as exc:
    # No file yet is not a mistake: the Data section asks for one, and Start waits for it.
    waiting_for_file = exc.field == "data.path" and not data_values.get("path")
    config, problem = None, (None if waiting_for_file else user_sentence(exc))
else:
    problem = None
    plan = presets.batch_plan(config)
    st.info(f"Effective batch size: {plan.per_device_train_batch_size} per step × "
            f"{plan.gradient_accumulation_steps} accumulation = **{plan.effective_batch_size}**"
            + (" · gradient checkpointing on" if plan.gradient_checkpointing else ""), icon=":material/calculate:")
    if config.hardware.memory_preset == "throughput":
        st.warning(presets.throughput_words(config), icon=":material/speed:")
    show_estimates(config, detected_devices())

if config is not None and raw is not None:
    with st.container(border=True, key="data_preview"):
        st.subheader("Data preview")
        problem = data_inputs.data_preview(config, raw)
    config = None if problem else config
elif config is not None:
    config = None  # the data could not be read; its sentence is shown in the Data section

if problem:
    st.error(problem, icon=":material/error:")
st.session_state[NEW_RUN_CONFIG] = config.to_dict() if config is not None else None

blocking = False
for finding in preflight.preflight(config, runs_dir(), detected_devices()) if config else []:
    finding_box(finding, ":material/flight_takeoff:")
    blocking = blocking or finding.severity == "error"
    if finding.config_change:
        # A callback runs before the fields are drawn, so the browser shows the applied value too.
        st.button(f"Apply: {', '.join(f'{k} = {v}' for k, v in finding.config_change.items())}",
                  key=f"preflight_{finding.code}", on_click=apply_change, args=(finding.config_change,))

# Start and Dry run stay in sight at the bottom of the window (the form is ~3,000 px tall), with why they are off.
# (Streamlit wraps a keyed container in a block only as tall as itself: that wrapper is what must stick.)
st.html("<style>div:has(> .st-key-action_bar){position:sticky;bottom:0;z-index:100;background:#ffffff;"
        "padding:0.6rem 0 0.4rem;border-top:1px solid #e2e8f0}</style>")
with st.container(key="action_bar"):
    start_col, dry_col, find_col, why_col = st.columns([1, 1, 1.6, 3.4], vertical_alignment="center")
    start = start_col.button("Start", type="primary", key="start", disabled=config is None or blocking,
                             icon=":material/play_arrow:")
    dry = dry_col.button("Dry run", key="dry_run", disabled=config is None or blocking, icon=":material/science:",
                         help="The same settings on 64 training rows for 20 steps, one evaluation and one save: "
                              "a crash or a bad setting shows in seconds, not after an hour.")
    if find_col.button("Find learning rate", key="find_lr", disabled=config is None or blocking,
                       icon=":material/search_insights:", help=learning_rate.FIND_LR_HELP):
        if learning_rate.start_range_test(config):
            st.switch_page("pages/live.py", query_params={"run": st.session_state["run_id"]})
    if config is None or blocking:
        why_col.caption(start_blocked_reason(problem, blocking, data_values))
if start or dry:
    try:
        to_run = dry_run_variant(config) if dry else config
        run_dir = launcher.start_run(to_run, runs_dir(), lineage={"dry_run": True} if dry else None)
    except UserError as exc:
        st.error(user_sentence(exc), icon=":material/error:")
    else:
        select_run(run_dir.name)
        st.switch_page("pages/live.py", query_params={"run": run_dir.name})

if config is not None:
    several_machines(config)
