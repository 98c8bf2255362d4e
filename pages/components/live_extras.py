"""Live run additions: the one-click retry after running out of memory, the estimate against the truth, and what
LoRA trains."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.plan import estimate, presets
from core.rundir import runs
from core.runner import launcher
from pages.components.session import select_run

from core.common.errors import UserError
from core.rundir.layout import RunDir


def offer_half_batch(run: runs.RunSummary) -> None:
    """After OUT_OF_MEMORY: retry with half the per-device batch and twice the accumulation (same effective batch)."""
    error = run.status.get("error") or {}
    if run.state != "failed" or error.get("code") != "OUT_OF_MEMORY":
        return
    batch = int(error.get("per_device_train_batch_size") or run.config.get("training", {}).get(
        "per_device_train_batch_size", 16))
    accumulation = int(error.get("gradient_accumulation_steps") or 1)
    change = presets.half_batch_change(run.config, batch, accumulation)
    if change is None:
        return
    label = (f"Retry with half the batch ({batch // 2} x {accumulation * 2} accumulation, the same effective "
             f"batch of {batch * accumulation})")
    if st.button(label, key="retry_half_batch", icon=":material/replay:", type="primary",
                 help="Start a new run with this run's settings, half the per-device batch and twice the "
                      "gradient accumulation; linked to this run."):
        try:
            new_dir = launcher.relaunch_with_change(run.path, change, "OUT_OF_MEMORY")
        except UserError as exc:
            st.error(exc.sentence, icon=":material/error:")
            return
        select_run(new_dir.name)
        st.rerun(scope="app")


def show_estimate_vs_measured(run: runs.RunSummary) -> None:
    """The estimate made before training next to what the run measured (after it ended)."""
    predicted = runs.read_json(RunDir(run.path).estimate)
    performance = (runs.read_json(RunDir(run.path).results, {}) or {}).get("performance") or {}
    if not predicted or not performance:
        return
    rows = estimate.versus_measured(predicted, performance)
    with st.expander("Estimate against measurement", expanded=False):
        st.dataframe(pd.DataFrame(rows).set_index("measure"), key="estimate_table")
        st.caption("Samples/s and tokens/s are steady-state figures after the first steps; memory is the peak "
                   "CUDA allocation, or on CPU the growth of the process's peak resident memory from the model load.")


def lora_caption(run: runs.RunSummary) -> None:
    """A LoRA run: how many of the model's parameters train (the adapters and the head)."""
    lora = run.status.get("lora")
    if not lora:
        return
    st.caption(f"LoRA, rank {lora['rank']}: {lora['trainable_parameters']:,} of {lora['total_parameters']:,} "
               f"parameters train ({lora['share']:.2%}): adapters on the attention and the classification head. "
               "The saved model has the adapters merged in.")
