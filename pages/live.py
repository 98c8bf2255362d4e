"""Live run: progress, charts and warnings of one run, re-read from its folder as often as the run writes to it."""

from pathlib import Path

import pandas as pd
import streamlit as st

from core.common.errors import UserError
from core.common.safety import mask_secrets
from core.diagnostics.diagnose import run_findings
from core.rundir import runs
from core.rundir.layout import RunDir
from core.runner import history, launcher, process, queue
from core.views import charts, progress
from core.views.log_view import readable_log
from pages.components import learning_rate
from pages.components.chart_controls import smoothing_controls
from pages.components.findings import finding_box
from pages.components.live_extras import lora_caption, offer_half_batch, show_estimate_vs_measured
from pages.components.multilabel_results import show_multilabel_results
from pages.components.session import runs_dir, select_run, through_app_navigation

through_app_navigation()

STATE_COLOURS = {"queued": "gray", "starting": "blue", "running": "blue", "completed": "green", "stopped": "orange",
                 "failed": "red", "cancelled": "gray"}


def pick_run() -> runs.RunSummary | None:
    all_runs = runs.list_runs(runs_dir())
    if not all_runs:
        st.info("No runs yet. Start one on the New run page.")
        st.page_link("pages/new_run.py", label="New run", icon=":material/rocket_launch:")
        return None
    ids = [run.run_id for run in all_runs]
    # The picker is driven through session state only: a pending choice (a relaunch just made), else the
    # run in the URL (a reload), else the newest run. A URL naming no run says so and waits for a pick.
    pending = st.session_state.pop("pending_run", None)
    asked = st.query_params.get("run")
    picked = st.session_state.get("run_picker") in ids
    missing = asked if asked and asked not in ids and not pending and not picked else None
    wanted = pending or asked or st.session_state.get("run_id")
    if missing:
        st.session_state["run_picker"] = None
    elif pending or not picked:
        st.session_state["run_picker"] = wanted if wanted in ids else ids[0]
    if missing:
        st.warning(f"There is no run '{missing}' (it may have been deleted). Pick one below, or see them all "
                   "on the Runs page.", icon=":material/search_off:")
        st.page_link("pages/runs.py", label="All runs", icon=":material/table_rows:")
    chosen = st.selectbox("Run", ids, format_func=lambda i: all_runs[ids.index(i)].label, key="run_picker",
                          placeholder="Pick a run")
    if chosen is None:
        return None
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
            shown = runs.shown_state(run.status)
            st.badge(shown, color=STATE_COLOURS.get(shown, "gray"))
        t = cfg.get("training", {})
        st.caption(f"{cfg.get('model', {}).get('name')} on {runs.dataset_label(cfg)} "
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
        lora_caption(run)
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
        stopping = RunDir(run.path).stop_marker.exists()
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


def show_progress(status: dict, estimate: dict | None = None) -> None:
    p = progress.progress_of(status, prior_s=progress.prior_step_s(estimate, status))
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
        finding_box(finding, ":material/stethoscope:")
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


def show_charts(records: list[dict], config: dict, findings: list, max_steps: int | None,
                state: str | None = None) -> None:
    best = progress.best_eval(records, progress.best_metric(config, records))
    smoothing, log_y = smoothing_controls("live")
    left, right = st.columns(2)
    left.plotly_chart(charts.loss_figure(records, best, findings, max_steps, smoothing, log_y), key="loss_chart")
    right.plotly_chart(charts.eval_metrics_figure(records, best, max_steps, smoothing), key="metrics_chart")
    if best:
        st.success(best_eval_sentence(best, config, state), icon=":material/trophy:")


def best_eval_sentence(best: dict, config: dict, state: str | None) -> str:
    """The best evaluation, worded for where the run is: still training, finished, or ended early."""
    metric = progress.best_metric(config, [best])
    where = f"step {best['step']} (epoch {best.get('epoch', 0):.2f}), {metric} " \
            f"{progress.format_metric(metric, best.get('eval_' + metric))}"
    if state in runs.ACTIVE_STATES:
        return f"Best evaluation so far: {where}."
    if state == "completed":
        return f"Best evaluation: {where}."
    return f"Best evaluation before the run {'failed' if state == 'failed' else 'ended'}: {where}."


def show_notes_and_tags(run_path: Path) -> None:
    """The tags and notes given to the run on the Runs page."""
    meta = history.read_meta(run_path)
    if meta["tags"]:
        with st.container(key="run_tags"):
            st.markdown(" ".join(f":violet-badge[{tag}]" for tag in meta["tags"]))
    if meta["notes"]:
        with st.container(key="run_notes"):
            st.caption(meta["notes"].replace("\n", "  \n"))


def show_evaluations(records: list[dict], config: dict) -> None:
    """Every evaluation's loss and metrics, the best-model one marked."""
    rows = progress.evaluation_rows(records, progress.best_metric(config, records))
    if not rows:
        return
    st.subheader("Evaluations")
    frame = pd.DataFrame(rows)
    frame["best"] = frame["best"].map({True: "★ best", False: ""})
    # Number formats through column settings, not a pandas Styler: styling the table was about a third of the
    # server's work on every redraw of a running run.
    formats = {c: st.column_config.NumberColumn(format="%.4f" if c == "loss" else "%.3f")
               for c in frame.columns if c not in ("best", "step", "epoch")}
    with st.container(key="eval_table"):  # a table that cannot be selected keeps no key of its own
        st.dataframe(frame, hide_index=True, column_config={"epoch": st.column_config.NumberColumn(format="%.2f"),
                                                            "best": st.column_config.TextColumn("best"),
                                                            **formats})


def show_resources(run_path: Path, learning_rate_figure=None) -> None:
    """The learning rate, then CPU and memory of the training process over time (and the GPU's, on CUDA), one
    chart per quantity, side by side."""
    samples = runs.read_resources(run_path)
    figures = {"lr_chart": learning_rate_figure}
    if samples:
        figures.update(cpu_chart=charts.cpu_figure(samples), memory_chart=charts.memory_figure(samples),
                       gpu_chart=charts.gpu_utilization_figure(samples))
    shown = {key: fig for key, fig in figures.items() if fig is not None}
    if not shown:
        return
    st.subheader("Learning rate and resource use" if samples and learning_rate_figure else
                 "Resource use" if samples else "Learning rate")
    for col, (key, fig) in zip(st.columns(max(2, len(shown))), shown.items()):
        col.plotly_chart(fig, key=key)
    if not samples:
        return
    last = samples[-1]
    st.caption(f"The training process and its workers, sampled every few seconds while it trains. Last sample: CPU "
               f"{last.get('cpu_percent', 0) / max(1, last.get('cores') or 1):.0f}% of {last.get('cores')} cores, "
               f"{last.get('rss_mb', 0):,.0f} MB resident memory.")


FINAL_METRIC_LABELS = {"f1": "F1 weighted", "f1_macro": "F1 macro"}


def show_results(run: runs.RunSummary) -> None:
    results = runs.read_json(RunDir(run.path).results)
    if not results:
        return
    st.subheader("Final evaluation of the saved model")
    if results.get("task") == "multi_label":
        show_multilabel_results(results, runs.read_json(RunDir(run.path).dataset, {}) or {})
        return
    final = results["final_metrics"]
    # Macro F1 next to the weighted one (a rare class counts as much as a large one); runs from before lack it.
    shown = [m for m in ("accuracy", "f1", "f1_macro", "precision", "recall", "loss") if m != "f1_macro" or m in final]
    for col, metric in zip(st.columns(len(shown)), shown):
        value = final.get(metric)
        col.metric(FINAL_METRIC_LABELS.get(metric, metric.capitalize()), progress.format_metric(metric, value))
    dataset = runs.read_json(RunDir(run.path).dataset, {}) or {}
    if dataset.get("majority_rate"):
        st.caption(f"Always answering the largest class would score {dataset['majority_rate']:.1%} accuracy.")
    if dataset.get("class_weights"):
        st.caption("Trained with class weights in the loss: " + ", ".join(
            f"{name} {weight:.3g}" for name, weight in dataset["class_weights"].items()) + ".")
    table_col, matrix_col = st.columns(2)
    frame = pd.DataFrame(results["per_class"]).set_index("label")
    table_col.dataframe(frame.style.format({m: (lambda v, m=m: progress.format_metric(m, v))
                                            for m in ("precision", "recall", "f1")}), key="per_class_table")
    matrix_col.plotly_chart(charts.confusion_figure(results), key="confusion_chart")
    st.success(f"Model saved to `{results['model_dir']}` (load it with "
               "`AutoModelForSequenceClassification.from_pretrained`).", icon=":material/save:")


def show_raw_error(status: dict) -> None:
    error = status.get("error") or {}
    if error:
        st.caption(f"Recorded error: {error.get('message') or 'the run failed without a message.'}")


def live_view(run_id: str, run_path: str, config: dict, every: float | None) -> None:
    """Everything about the run, redrawn from its folder every `every` seconds (drawn once when None)."""
    process.reap_children()
    status = runs.reconcile(run_path)
    records = runs.read_metrics(run_path)
    if not same_cadence(every, progress.poll_seconds(status, records, logging_steps(config))):
        st.rerun(scope="app")  # it ended, or its pace changed: rebuild the view with the new cadence
    run = runs.RunSummary(run_id, Path(run_path), status, config)
    header(run)
    show_notes_and_tags(run.path)
    findings = run_findings(run.path, status=status, records=records)
    show_progress(status, runs.read_json(RunDir(run.path).estimate))
    offer_half_batch(run)
    show_findings(run, findings)
    show_raw_error(status)
    if status.get("lr_find"):
        learning_rate.show_range_test(run, records)
    else:
        show_charts(records, config, findings, (status.get("progress") or {}).get("max_steps"), status.get("state"))
    if status.get("state") not in runs.ACTIVE_STATES:
        show_results(run)
        show_estimate_vs_measured(run)


def details_view(run_path: str, config: dict) -> None:
    """The second tier, redrawn less often while the run trains: learning rate, evaluations, resources, the log."""
    path = Path(run_path)
    status = runs.read_status(path)
    records = runs.read_metrics(path)
    learning_rate_figure = None
    if not status.get("lr_find"):
        show_evaluations(records, config)
        learning_rate_figure = charts.learning_rate_figure(records, (status.get("progress") or {}).get("max_steps"))
    show_resources(path, learning_rate_figure)
    with st.expander("Training log (last lines)"):
        st.code(readable_log(mask_secrets(runs.read_log_tail(path))) or "(empty)", language=None)


def same_cadence(every: float | None, wanted: float | None) -> bool:
    """Close enough not to rebuild the view: both off, or within half of each other."""
    if every is None or wanted is None:
        return every is wanted
    return wanted / 1.5 <= every <= wanted * 1.5


def watch_for_resume(run_path: str, seen: float) -> None:
    """Redraw a stopped or failed run only when its status changes (a Resume in another tab): one stat, no reading."""
    if status_changed_at(run_path) != seen:
        st.rerun(scope="app")


def status_changed_at(run_path: str) -> float:
    try:
        return (RunDir(run_path).status).stat().st_mtime
    except FileNotFoundError:
        return 0.0


def logging_steps(config: dict) -> int:
    return int(config.get("training", {}).get("logging_steps") or 10)


def show_run(run: runs.RunSummary) -> None:
    """A finished run is drawn once; a queued or running one is re-read about as often as it writes."""
    status = runs.reconcile(run.path)
    every = progress.poll_seconds(status, runs.read_metrics(run.path), logging_steps(run.config))
    if every is None and status.get("state") in runs.RESUMABLE_STATES:
        st.fragment(watch_for_resume, run_every=progress.POLL_MAX_S)(str(run.path), status_changed_at(run.path))
    st.fragment(live_view, run_every=every)(run.run_id, str(run.path), run.config, every)
    st.fragment(details_view, run_every=every and max(every, progress.DETAILS_POLL_S))(str(run.path), run.config)


learning_rate.open_new_run_if_asked()
st.title("Live run")
selected = pick_run()
if selected is not None:
    show_run(selected)
