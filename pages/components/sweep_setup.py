"""The Sweep page's set-up: the config to start from, the settings to search, the objective, the budget, the
sampler and the pruner, and Start sweep. Widgets only; the checks and the start are core.search's."""

from __future__ import annotations

from typing import Any

import streamlit as st

from core.common.errors import UserError
from core.config.reference import field_help
from core.config.schema import apply_change, BEST_METRICS, RunConfig
from core.rundir import runs
from core.search import sweeps
from core.search.study import new_name, PRUNERS, SAMPLERS
from core.views import sweep_view
from pages.components.form_fields import user_sentence
from pages.components.session import NEW_RUN_CONFIG, runs_dir

FROM_NEW_RUN = "new run form"
SAMPLER_WORDS = {"tpe": "TPE (learns from the trials so far)", "random": "random",
                 "grid": "grid (every combination of the lists)"}
PRUNER_WORDS = {"median": "median (stop a trial behind the median)", "hyperband": "hyperband", "none": "none"}
# The CLI's option names in the page's words, for the few sentences that name them.
FIELD_WORDS = {"--name": "Sweep name", "--trials": "Number of trials", "Search space": "Search space",
               "SPACE.json": "Search space"}
# ...and the CLI's advice, in the page's words.
CLI_ADVICE = {"or use --sampler tpe": "or pick the TPE sampler"}
PENDING_SWEEP = "pending_sweep"


def start_from() -> dict[str, Any] | None:
    """The config every trial starts from: the New run form's settings or an earlier run's."""
    earlier = [run for run in runs.list_runs(runs_dir()) if not run.status.get("lr_find")]
    labels = {FROM_NEW_RUN: "The New run form's settings", **{run.run_id: run.label for run in earlier}}
    chosen = st.selectbox("Start from", list(labels), format_func=labels.get, key="sweep_start_from",
                          help="Every trial is this config with the searched settings changed.")
    if chosen == FROM_NEW_RUN:
        # A session that never opened New run starts from the form's defaults, which is what New run would show.
        config = st.session_state.get(NEW_RUN_CONFIG, RunConfig().to_dict())
        if config is None:
            st.warning("The New run form has a problem to fix first; fix it there, or start from an earlier run.",
                       icon=":material/edit_note:")
            return None
    else:
        config = next(run.config for run in earlier if run.run_id == chosen)
    t = config.get("training", {})
    st.caption(f"{config.get('model', {}).get('name')} on {runs.dataset_label(config)} "
               f"({config.get('data', {}).get('train_size')} train / {config.get('data', {}).get('eval_size')} eval) "
               f"· {t.get('num_train_epochs')} epochs · learning rate {t.get('learning_rate')} · "
               f"batch {t.get('per_device_train_batch_size')} · evaluation: {t.get('eval_strategy')}")
    return config


def space_inputs() -> dict[str, dict[str, Any]]:
    """One row per setting the page offers; returns the inputs of the ticked ones."""
    st.subheader("Settings to search")
    st.caption("Tick a setting and give it a range (low to high; log for a learning rate) or a list of values.")
    return {key: given for key in sweep_view.SEARCHABLE if (given := _setting_row(key)) is not None}


def _setting_row(key: str) -> dict[str, Any] | None:
    start = sweep_view.default_text(key)
    kind = st.session_state.get(f"sweep.kind.{key}", start["kind"])
    tick, kind_col, *boxes = st.columns([2.2, 1.4, 1.3, 1.3, 0.9], vertical_alignment="bottom")
    section, _, name = key.partition(".")
    on = tick.checkbox(sweep_view.label(key), key=f"sweep.on.{key}", help=field_help(section, name)["help"])
    kind = kind_col.radio("Search as", ("range", "list"), index=("range", "list").index(kind), horizontal=True,
                          key=f"sweep.kind.{key}", disabled=not on, label_visibility="collapsed")
    given = {"kind": kind, "low": start["low"], "high": start["high"], "log": start["log"], "values": start["values"]}
    if kind == "list":
        given["values"] = boxes[0].text_input("Values", value=start["values"], key=f"sweep.values.{key}",
                                              disabled=not on, placeholder="16, 32")
    else:
        given["low"] = boxes[0].text_input("Low", value=start["low"], key=f"sweep.low.{key}", disabled=not on)
        given["high"] = boxes[1].text_input("High", value=start["high"], key=f"sweep.high.{key}", disabled=not on)
        given["log"] = boxes[2].checkbox("log", value=start["log"], key=f"sweep.log.{key}", disabled=not on,
                                         help="Sample evenly in orders of magnitude (1e-5 as often as 1e-4).")
    return given if on else None


def sweep_options(config: dict[str, Any]) -> dict[str, Any]:
    """Objective, number of trials, time budget, sampler, pruner and name."""
    metric = config.get("training", {}).get("metric_for_best_model", "f1")
    metric_col, trials_col, budget_col = st.columns(3)
    options = {"metric": metric_col.selectbox(
        "Objective", BEST_METRICS, index=BEST_METRICS.index(metric) if metric in BEST_METRICS else 0,
        key="sweep_metric", help="The eval metric the sweep optimises (the highest wins, the lowest for loss); a "
                                 "trial's value is its best evaluation. It also picks each trial's best model.")}
    options["n_trials"] = trials_col.number_input("Number of trials", min_value=1, value=10, step=1, key="sweep_n_trials",
                                                  help="Trials in all. For a time budget alone, set a large number.")
    options["budget_min"] = budget_col.number_input(
        "Time budget (minutes, optional)", min_value=1, value=None, step=5, key="sweep_budget", placeholder="none",
        help="No new trial starts after this long; the running ones finish.")
    sampler_col, pruner_col, name_col = st.columns(3)
    options["sampler"] = sampler_col.selectbox("Sampler", SAMPLERS, format_func=SAMPLER_WORDS.get, key="sweep_sampler",
                                               help="How the next trial's settings are picked. Grid needs a list "
                                                    "for every setting.")
    options["pruner"] = pruner_col.selectbox(
        "Pruner", PRUNERS, format_func=PRUNER_WORDS.get, key="sweep_pruner",
        help="Stops a trial early when it falls behind the others at the same evaluation; with median or hyperband "
             "a trial whose diagnostics say it is stuck, diverging or NaN is stopped at once too. None trains "
             "every trial to its end.")
    options["name"] = name_col.text_input("Sweep name (optional)", key="sweep_name", max_chars=60,
                                          placeholder="sweep-DATE-TIME")
    return options


def start(config: dict[str, Any], inputs: dict[str, dict[str, Any]], options: dict[str, Any]) -> str | None:
    """Check everything and start the sweep's worker; the sweep's name, or None with one sentence shown."""
    try:
        run_config = RunConfig.from_dict(apply_change(config, {"training.metric_for_best_model": options["metric"]}))
        space = sweep_view.space_from_inputs(inputs)
        settings = sweeps.settings_for(run_config, space, int(options["n_trials"]), options["sampler"],
                                       options["pruner"])
        name = options["name"].strip() or new_name()
        if name in {row["name"] for row in sweeps.list_sweeps(runs_dir())}:
            raise UserError(f"a sweep '{name}' exists already; pick another name, or open it from the list above.",
                            field="--name")
        budget = options["budget_min"] * 60 if options["budget_min"] else None
        sweeps.start_sweep(settings, name, runs_dir(), timeout_s=budget)
    except UserError as exc:
        st.error(sentence(exc), icon=":material/error:")
        return None
    return name


def sentence(exc: UserError) -> str:
    """The sentence in the page's words: a config key as its form label, a CLI option as the page's box."""
    said = f"{FIELD_WORDS[exc.field]}: {exc}" if exc.field in FIELD_WORDS else user_sentence(exc)
    for cli, page in CLI_ADVICE.items():
        said = said.replace(cli, page)
    return said


def setup_form() -> None:
    """The whole set-up, top to bottom; a started sweep is opened on this page."""
    config = start_from()
    if config is None:
        return
    inputs = space_inputs()
    st.subheader("Objective and budget")
    options = sweep_options(config)
    if st.button("Start sweep", type="primary", key="start_sweep", icon=":material/play_arrow:",
                 help="Trials are ordinary runs, started through the queue: one per free device slot."):
        name = start(config, inputs, options)
        if name is not None:
            st.session_state[PENDING_SWEEP] = name
            st.rerun()
