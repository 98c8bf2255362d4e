"""The Runs page's ONNX export (with its check against PyTorch) and the engine "Try the model" runs on."""

from pathlib import Path

import streamlit as st

from core.common.errors import UserError
from core.rundir import runs
from core.rundir.layout import OnnxDir, RunDir
from core.runner import export, onnx_export
from core.training import onnx_model

ENGINES = {"pytorch": "PyTorch", "int8": "ONNX Runtime, int8", "fp32": "ONNX Runtime"}


def onnx_panel(run: runs.RunSummary, has_model: bool) -> None:
    """Export as ONNX (optionally int8 too), then the check's verdict and, when it passed, the download."""
    st.markdown("**For serving: ONNX**")
    if not has_model:
        st.caption("The model can be exported to ONNX once the run has finished and saved it.")
        return
    quantize_col, button_col = st.columns([2, 1], vertical_alignment="bottom")
    quantize = quantize_col.checkbox("Also an int8 model (smaller, faster on CPU)", value=True,
                                     key="onnx_quantize",
                                     help="Dynamic int8 quantisation. It is checked to give the same label as "
                                          "PyTorch on at least 99% of the run's eval texts.")
    if button_col.button("Export as ONNX", key="export_onnx", icon=":material/memory:",
                         help="Dynamic batch and sequence length, with the tokenizer files; checked against "
                              "PyTorch on the run's eval texts. Takes a few seconds to a minute."):
        with st.spinner("Exporting and checking against PyTorch…"):
            try:
                onnx_export.export_to_run(run.path, quantize)
            except UserError as exc:
                st.error(exc.sentence, icon=":material/error:")
    show_check(run)


def show_check(run: runs.RunSummary) -> None:
    check = onnx_export.read_check(RunDir(run.path).onnx)
    if check is None:
        return
    if not check["passed"]:
        st.error(check["sentence"], icon=":material/error:")
        st.caption(onnx_export.check_summary(check))
        return
    st.success(onnx_export.check_summary(check), icon=":material/check:")
    st.download_button("Download the ONNX model (.zip)", zipped_onnx_bytes(run.path), key="download_onnx",
                       file_name=f"{run.run_id}-onnx.zip", mime="application/zip", icon=":material/download:",
                       help="model.onnx (and model_quantized.onnx, int8) with the tokenizer files and the check.")


def zipped_onnx_bytes(run_dir: Path):
    """Deferred: the zip is built only when the button is clicked, then its temporary file removed."""
    def build() -> bytes:
        path = export.onnx_zip(run_dir)
        try:
            return path.read_bytes()
        finally:
            path.unlink(missing_ok=True)
    return build


def engine_choice(run: runs.RunSummary, key: str | None = None) -> str:
    """PyTorch, or an ONNX model of this run that passed its check (the fastest one first)."""
    engines = onnx_export.usable_engines(RunDir(run.path).onnx)
    if not engines:
        return "pytorch"
    return st.radio("Run with", [*engines, "pytorch"], format_func=ENGINES.get, key=key or f"try_engine_{run.run_id}",
                    horizontal=True, help="The ONNX export of this run, checked against PyTorch, or the saved "
                                          "PyTorch model.")


@st.cache_resource(max_entries=2, show_spinner="Loading the ONNX model…")
def cached_onnx_classifier(folder: str, int8: bool, saved_at: float):
    # saved_at is part of the cache key: a new export replaces the old one in the cache.
    return onnx_model.OnnxClassifier(Path(folder), int8=int8)


def onnx_predictions(run: runs.RunSummary, texts: list[str], engine: str, max_length: int) -> list[dict]:
    folder = OnnxDir(RunDir(run.path).onnx)
    classifier = cached_onnx_classifier(str(folder.path), engine == "int8", folder.check.stat().st_mtime)
    return onnx_model.predict(texts, classifier, max_length)
