"""Pre-flight: what can be known to go wrong with a config before it starts, as findings.

Shown on the New run page as the user types; an error finding keeps Start disabled.
"""

from __future__ import annotations

from pathlib import Path

from core import environment
from core.config import RunConfig
from core.diagnostics import Finding, by_severity

# Parameter counts of the built-in models with a 3-class head, read from a run's model_facts
# (status.json) on 2026-11-25; the head adds a few hundred per extra class.
BUILTIN_PARAMETERS = {"minilm-l6": 22_714_371, "tiny-random": 1_011_459,
                      "bert-base-random": 109_484_547}  # BertConfig() defaults with a 3-class head


def renamed_arguments(config: RunConfig) -> list[Finding]:
    """DEPRECATED_ARGUMENT for every old argument name the config used (it still works)."""
    return [Finding(code="DEPRECATED_ARGUMENT", severity="info", title="An old argument name was used",
                    evidence=note, fix="Nothing breaks: the dashboard translated it. Use the new name next time.")
            for note in config.notes]


def precision_on_device(config: RunConfig, device: str) -> Finding | None:
    """fp16 needs a CUDA GPU; asking for it elsewhere fails at the first step."""
    if config.training.extra.get("fp16") and device != "cuda":
        return Finding(code="PRECISION_NOT_SUPPORTED", severity="error",
                       title="fp16 is not supported on this device",
                       evidence=f"training.fp16 is on but the run would train on {device}; fp16 mixed precision "
                                "needs a CUDA GPU.",
                       fix="Turn fp16 off (also the usual advice on Macs), or train on a CUDA GPU.",
                       config_change={"training.fp16": False})
    return None


def too_many_processes(config: RunConfig, device: str, available: dict) -> Finding | None:
    """Several processes need as many CUDA GPUs (or run on the CPU with gloo)."""
    wanted, have = config.hardware.processes, int(available.get("cuda_count", 0) or 0)
    if wanted <= 1 or device != "cuda" or wanted <= have:
        return None
    return Finding(code="DEVICE_NOT_AVAILABLE", severity="error", title=f"{wanted} GPUs were asked for",
                   evidence=f"hardware.processes is {wanted} but PyTorch sees {have} CUDA GPU(s).",
                   fix=f"Set GPUs (processes) to {max(1, have)}.", config_change={"hardware.processes": max(1, have)})


def reporting_check(config: RunConfig, installed: list[str] | None = None) -> Finding | None:
    """report_to names a tracker whose package is not installed: the Trainer would fail at start."""
    from core import compat

    installed = compat.installed_reporters() if installed is None else installed
    missing = [name for name in compat.requested_reporters(config.training.extra.get("report_to"))
               if name not in installed]
    if not missing:
        return None
    known = ", ".join(compat.REPORTERS)
    return Finding(code="REPORTER_NOT_INSTALLED", severity="error", title=f"{', '.join(missing)} is not installed",
                   evidence=f"training.report_to asks for {', '.join(missing)}, but its package is not importable "
                            f"here (installed: {', '.join(installed) or 'none'}; supported: {known}).",
                   fix=f"pip install {missing[0]} into this environment, or remove it from training.report_to.")


def preflight(config: RunConfig, runs_dir: Path, available: dict[str, bool]) -> list[Finding]:
    """Every pre-flight finding for `config`, errors first."""
    device_finding = environment.device_check(config.hardware.device, available)
    device = config.hardware.device
    if device == "auto":
        device = next(d for d in ("cuda", "mps", "cpu") if available.get(d))
    parameters = BUILTIN_PARAMETERS.get(config.model.name)
    found = [*renamed_arguments(config), device_finding, precision_on_device(config, device),
             too_many_processes(config, device, available),
             environment.accelerate_check(), reporting_check(config)]
    if parameters:
        needed = environment.checkpoint_bytes(parameters, config.training.save_total_limit)
        found.append(environment.disk_space_check(Path(runs_dir), needed))
    return by_severity(found)
