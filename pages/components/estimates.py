"""New run additions: the speed choices, the speed plan the child will use, memory and time estimates,
and the memory presets as measured in bench/ (not the seed's claims)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pandas as pd
import streamlit as st

from core.common.errors import UserError
from core.config.reference import field_help
from core.config.schema import DataConfig, ModelConfig, RunConfig
from core.data import prepare
from core.plan import estimate, presets
from core.training import models
from pages.components.form_fields import _kept, field_row, field_widget, key_of

BENCH = Path(__file__).resolve().parents[2] / "bench"
PAD_CHOICES = [None, 8, 16, 32, 64, 128, 512]
RUNS_PER_GPU_CHOICES = [None, 1, 2, 3, 4, 6, 8]


def speed_fields() -> None:
    """Speed, precision, attention, compile, unpadded batches, the padding multiple and runs per GPU (empty:
    automatic)."""
    # Three to a row: four side by side in half the page wrapped the "torch.compile" label.
    field_row("hardware", ["speed", "precision", "attention"])
    compile_col, unpad_col, pad_col = st.columns(3)
    with compile_col:
        field_widget("hardware", "compile")
    with unpad_col:
        field_widget("hardware", "unpad")
    _auto_or_number(pad_col, "pad_to_multiple_of", PAD_CHOICES)
    share_col, _, _ = st.columns(3)
    _auto_or_number(share_col, "runs_per_gpu", RUNS_PER_GPU_CHOICES)


def _auto_or_number(column, name: str, choices: list) -> None:
    """A hardware field that is empty ("auto") or one of a few numbers."""
    meta = field_help("hardware", name)
    kept = st.session_state.get(_kept("hardware", name))
    column.selectbox(meta["label"], choices, index=choices.index(kept) if kept in choices else 0,
                     format_func=lambda v: "auto" if v is None else str(v), help=meta["help"],
                     key=key_of("hardware", name))


@st.cache_data(show_spinner=False, max_entries=8)
def sample_lengths(data_config: dict, max_length: int, rows: int = 400) -> list[int]:
    """Token lengths of a seeded sample of the training texts (the estimate's input); [] if the data won't load."""
    try:
        frame = prepare.prepare(DataConfig(**data_config)).train
    except UserError:
        return []  # the Data section says what is wrong with it
    texts = frame["text"].sample(n=min(rows, len(frame)), random_state=0).tolist()
    tokenizer = models.load_tokenizer(ModelConfig())
    return [len(ids) for ids in tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]]


@st.cache_data(show_spinner=False)
def model_type_of(source: str, name: str, path: str) -> str | None:
    from core.config.schema import ModelConfig
    return models.model_type(ModelConfig(source=source, name=name, path=path or None))


@st.cache_data(ttl=10, show_spinner=False)
def facts_of(device: str) -> dict:
    return presets.device_facts(device)


def show_estimates(config: RunConfig, available: dict) -> None:
    """The speed plan in words, the memory and time estimate, and a warning when memory will not fit."""
    try:
        device = presets.resolve_device(config.hardware.device, available)
        facts = {**facts_of(device), "model_type": model_type_of(config.model.source, config.model.name,
                                                                 str(config.model.path or ""))}
        plan = presets.speed_plan(config, facts)
    except UserError:
        return  # pre-flight explains a missing device or an impossible precision
    st.caption(f"Speed settings on {device}: " + " · ".join(plan["summary"]) + ".")
    batch = presets.batch_plan(config)
    lengths = sample_lengths(dataclasses.asdict(config.data), config.data.max_length)
    if not lengths:
        return
    result = estimate.run_estimate(config.model.name, 5, batch.per_device_train_batch_size,
                                   lengths, config.data.max_length,
                                   plan, batch.gradient_checkpointing, config.data.train_size, config.data.eval_size,
                                   config.training.train_sampling_strategy == "group_by_length")
    if result:
        memory, timing = result["memory"]["total_mb"], result["time"]
        epochs = config.training.num_train_epochs
        total_s = (timing["train_s_per_epoch"] + timing["eval_s_per_epoch"]) * epochs
        st.info(f"Estimate: peak memory about **{estimate.significant(memory)} MB** · "
                f"{estimate.time_estimate_words(total_s, epochs, timing['samples_per_second'], device)}.",
                icon=":material/speed:")
        if memory > facts.get("free_memory_mb", float("inf")):
            st.warning(f"The estimated peak memory ({memory:,.0f} MB) is more than the {device}'s free memory "
                       f"({facts['free_memory_mb']:,.0f} MB). Pick the low or auto memory preset, a smaller batch or "
                       "a shorter max sequence length.", icon=":material/memory:")
    show_measured_presets(device)


def show_measured_presets(device: str) -> None:
    """Peak memory and samples/s of each memory preset relative to standard, as measured by bench/throughput.py."""
    path = BENCH / f"presets_{'cuda' if device == 'cuda' else 'cpu'}.json"
    try:
        measured = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    rows = [{"preset": name, "batch x accumulation": p["batch"], "samples/s vs standard": f"{p['samples_per_second_x']:.2f}x",
             "peak memory vs standard": f"{p['peak_memory_x']:.2f}x"} for name, p in measured["presets"].items()]
    with st.expander(f"Memory presets as measured on {measured['device']}"):
        st.dataframe(pd.DataFrame(rows).set_index("preset"), key="measured_presets")
        note = f" Note: {measured['note']}." if measured.get("note") else ""
        st.caption(f"Measured on {measured['date']}, {measured['machine']}.{note}")
