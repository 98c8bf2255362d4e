"""Live run: progress, charts and warnings of one run, refreshed from its folder every 2 seconds."""

from pathlib import Path

import pandas as pd
import streamlit as st

from core.diagnostics.diagnose import run_findings
from core.rundir import runs
from core.rundir.records import as_float
from core.runner import launcher, process, queue
from core.views import charts, progress
from pages.components import learning_rate
from pages.components.live_extras import offer_half_batch, show_estimate_vs_measured

from core.common.safety import mask_secrets
from pages.components.session import runs_dir, select_run

from core.common.errors import UserError

STATE_COLOURS = {"queued": "gray", "running": "blue", "completed": "green", "stopped": "orange", "failed": "red",
                 "cancelled": "gray"}
POLL_SECONDS = 2


def pick_run() -> runs.RunSummary | None:
    all_runs = runs.list_runs(runs_dir())
    if not all_runs:
        st.info("No runs yet. Start one on the New run page.")
        st.page_link("pages/new_run.py", label="New run", icon=":material/rocket_launch:")
        return None
    ids = [run.run_id for run in all_runs]
    # The picker is driven through session state only: a pending choice (a relaunch just made), else the
    # run in the URL (a reload), else the newest run.
    pending = st.session_state.pop("pending_run", None)
    wanted = pending or st.query_params.get("run") or st.session_state.get("run_id")
    if pending or st.session_state.get("run_picker") not in ids:
        st.session_state["run_picker"] = wanted if wanted in ids else ids[0]
    chosen = st.selectbox("Run", ids, format_func=lambda i: all_runs[ids.index(i)].label, key="run_picker")
    if chosen != st.query_params.get("run"):
        st.session_state["run_id"] = chosen
        st.query_params["run"] = chosen
    return all_runs[ids.index(chosen)]


def header(run: runs.RunSummary) -> None:
    cfg = run.config
    title_col, button_col = st.columns([5, 1])
    with title_col:
        st.markdown(f"### {cfg.get('name') or run.run_id}")
        with st.container(key="run_state"):
            st.badge(run.state, color=STATE_COLOURS.get(run.state, "gray"))
        t = cfg.get("training", {})
        st.caption(f"{cfg.get('model', {}).get('name')} on {cfg.get('data', {}).get('name')} "
                   f"({cfg.get('data', {}).get('train_size')} train / {cfg.get('data', {}).get('eval_size')} eval) · "
                   f"{t.get('num_train_epochs')} epochs · lr {t.get('learning_rate')} · "
                   f"device {run.status.get('device') or cfg.get('hardware', {}).get('device')} · "
                   f"preset {cfg.get('hardware', {}).get('memory_preset')} · folder `{run.path}`")
        if run.status.get("derived_from"):
            change = ", ".join(f"{k} = {v}" for k, v in (run.status.get("applied_change") or {}).items())
            st.caption(f"Relaunched from `{run.status['derived_from']}` to fix "
                       f"{run.status.get('applied_for', 'a finding')}: {change}.")
        if run.status.get("lr_find"):
            about = f" for run `{run.status['range_test_for']}`" if run.status.get("range_test_for") else ""
            st.caption(f"Learning-rate range test{about}: the same settings with a learning rate that grows "
                       "every step, to find the one to train with.")
        if run.status.get("dry_run"):
            st.caption("Dry run: the same settings on 64 training rows for 20 steps, one evaluation and one save.")
    with button_col:
        run_controls(run)


def run_controls(run: runs.RunSummary) -> None:
    """Cancel while it waits in the queue, Stop while it trains, Resume after a failure or a stop."""
    place = queue.position(run.path) if run.state == "queued" else None
    if place is not None:
        device = run.status.get("slot_request", {}).get("device", "its device")
        st.caption(f"Queued: number {place} in line for {device}; it starts by itself when {device} is free.")
        if st.button("Cancel", key="cancel", icon=":material/cancel:", help="Take this run out of the queue."):
            st.toast("Run cancelled." if queue.cancel(run.path) else "The run had already started.")
            st.rerun(scope="fragment")
    elif run.state in runs.ACTIVE_STATES:
        stopping = (run.path / runs.STOP_MARKER).exists()
        label = "Force stop" if stopping else "Stop"
        if st.button(label, key="stop", type="secondary", icon=":material/stop_circle:",
                     help="Stop after the current step and save the best model so far. "
                          "Press again to kill the process at once."):
            outcome = launcher.request_stop(run.path)
            st.toast({"requested": "Stopping after the current step…", "killed": "Training process killed.",
                      "not running": "The run had already ended."}[outcome])
            st.rerun(scope="fragment")
    elif run.state in runs.RESUMABLE_STATES and runs.last_checkpoint(run.path):
        if st.button("Resume", key="resume", icon=":material/resume:",
                     help=f"Continue from {runs.last_checkpoint(run.path).name} in this run's folder."):
            try:
                launcher.resume_run(run.path)
            except UserError as exc:
                st.error(exc.sentence, icon=":material/error:")
            else:
                st.rerun(scope="fragment")


def show_progress(status: dict) -> None:
    p = progress.progress_of(status)
    phase = status.get("phase", "starting")
    if p is None or p.max_steps == 0:
        st.progress(0.0, text=f"{phase.capitalize()}…" if status.get("state") in runs.ACTIVE_STATES else phase)
        return
    text = (f"Step {p.step} / {p.max_steps} · epoch {p.epoch:.2f} / {p.num_train_epochs:g} · "
            f"elapsed {progress.format_duration(p.elapsed_s)}")
    if status.get("state") == "running":
        text += f" · ETA {progress.format_duration(p.eta_s)}" + (f" · {phase}" if phase != "training" else "")
    st.progress(p.fraction, text=text)


def show_findings(run: runs.RunSummary, findings: list) -> None:
    """Newest first; a finding that knows the config change behind its fix gets a one-click relaunch."""
    for finding in findings:
        box = st.error if finding.severity == "error" else st.warning
        box(f"**{finding.title}.** {finding.evidence}\n\n**Fix:** {finding.fix}", icon=":material/stethoscope:")
        fix_area = st
        if finding.code in learning_rate.FIND_LR_CODES:  # a range test, next to the fix's fixed value
            fix_area, find_area = st.columns([3, 2])
            with find_area:
                learning_rate.find_for_run_button(run, key=f"find_lr_{finding.code}")
        if finding.config_change:
            change = ", ".join(f"{k.split('.')[-1]} = {v}" for k, v in finding.config_change.items())
            if fix_area.button(f"Apply fix & relaunch ({change})", key=f"fix_{finding.code}",
                               icon=":material/replay:",
                               help="Start a new run with this change. A run still training is stopped first "
                                    "(its best model so far is saved); its folder is kept."):
                relaunch(run, finding)


def relaunch(run: runs.RunSummary, finding) -> None:
    try:
        new_dir = launcher.relaunch_with_change(run.path, finding.config_change, finding.code)
    except UserError as exc:
        st.error(exc.sentence, icon=":material/error:")
        return
    if run.state in runs.ACTIVE_STATES:  # the fixed run replaces this one
        launcher.request_stop(run.path)
    select_run(new_dir.name)
    st.rerun(scope="app")


def show_charts(records: list[dict], config: dict, findings: list, max_steps: int | None) -> None:
    best = progress.best_eval(records, config.get("training", {}).get("metric_for_best_model", "f1"))
    left, right = st.columns(2)
    left.plotly_chart(charts.loss_figure(records, best, findings, max_steps), key="loss_chart")
    right.plotly_chart(charts.eval_metrics_figure(records, best, max_steps), key="metrics_chart")
    left.plotly_chart(charts.learning_rate_figure(records, max_steps), key="lr_chart")
    if best:
        metric = config.get("training", {}).get("metric_for_best_model", "f1")
        right.success(f"Best evaluation so far: step {best['step']} (epoch {best.get('epoch', 0):.2f}), "
                      f"{metric} {as_float(best.get('eval_' + metric)):.3f}.", icon=":material/trophy:")


def show_results(run: runs.RunSummary) -> None:
    results = runs.read_json(run.path / "results.json")
    if not results:
        return
    st.subheader("Final evaluation of the saved model")
    final = results["final_metrics"]
    cols = st.columns(5)
    for col, metric in zip(cols, ("accuracy", "f1", "precision", "recall", "loss")):
        value = final.get(metric)
        col.metric(metric.capitalize(), "–" if value is None else
                   (f"{value:.1%}" if metric != "loss" else f"{value:.3f}"))
    dataset = runs.read_json(run.path / "dataset.json", {}) or {}
    if dataset.get("majority_rate"):
        st.caption(f"Always answering the largest class would score {dataset['majority_rate']:.1%} accuracy.")
    table_col, matrix_col = st.columns(2)
    frame = pd.DataFrame(results["per_class"]).set_index("label")
    table_col.dataframe(frame.style.format({"precision": "{:.3f}", "recall": "{:.3f}", "f1": "{:.3f}"}),
                        key="per_class_table")
    matrix_col.plotly_chart(charts.confusion_figure(results), key="confusion_chart")
    st.success(f"Model saved to `{results['model_dir']}` (load it with "
               "`AutoModelForSequenceClassification.from_pretrained`).", icon=":material/save:")


def show_raw_error(status: dict) -> None:
    error = status.get("error") or {}
    if error:
        st.caption(f"Recorded error: {error.get('code', 'FAILED')} — {error.get('message', '')}")


@st.fragment(run_every=POLL_SECONDS)
def live_view(run_id: str, run_path: str, config: dict) -> None:
    """Everything about the run, redrawn from its folder every few seconds (also after it ended, cheaply)."""
    process.reap_children()
    queue.wake(Path(run_path).parent)  # a queued run starts as soon as anyone looks, dispatcher or not
    status = runs.reconcile(run_path)
    run = runs.RunSummary(run_id, Path(run_path), status, config)
    header(run)
    records = runs.read_metrics(run.path)
    findings = run_findings(run.path, status=status, records=records)
    show_progress(status)
    offer_half_batch(run)
    show_findings(run, findings)
    show_raw_error(status)
    if status.get("lr_find"):
        learning_rate.show_range_test(run, records)
    else:
        show_charts(records, config, findings, (status.get("progress") or {}).get("max_steps"))
    if status.get("state") not in runs.ACTIVE_STATES:
        show_results(run)
        show_estimate_vs_measured(run)
    with st.expander("Training log (last lines)"):
        st.code(mask_secrets(runs.read_log_tail(run.path)) or "(empty)", language=None)


learning_rate.open_new_run_if_asked()
st.title("Live run")
selected = pick_run()
if selected is not None:
    live_view(selected.run_id, str(selected.path), selected.config)
