"""Pre-flight: what can be known to go wrong with a config before it starts, as findings.

Shown on the New run page as the user types; an error finding keeps Start disabled.
"""

from __future__ import annotations

from pathlib import Path

from core.config import compat
from core.config.schema import RunConfig
from core.diagnostics import environment
from core.diagnostics.findings import by_severity, Finding
from core.diagnostics.learning_rates import learning_rate_far_off, lr_text, model_family, USUAL_LEARNING_RATES

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


def learning_rate_far_from_usual(config: RunConfig) -> Finding | None:
    """LR_TOO_HIGH / LR_TOO_LOW before the start: the learning rate is 10x or more outside the usual range of its
    model family (core/diagnostics/rules.py USUAL_LEARNING_RATES says where the ranges come from)."""
    model = {"source": config.model.source, "name": config.model.name}
    lr = config.training.learning_rate
    side = learning_rate_far_off(lr, model)
    if not side:
        return None
    low, high, usual = USUAL_LEARNING_RATES[model_family(model)]
    kind = ("a model with random weights, trained from scratch" if model_family(model) == "random" else
            "fine-tuning a pretrained encoder such as BERT or MiniLM")
    usual_range = f"{lr_text(low)} to {lr_text(high)}"
    if side == "high":
        return Finding(code="LR_TOO_HIGH", severity="warning", title="The learning rate is far above the usual range",
                       evidence=f"Learning rate {lr_text(lr)} is {lr / high:.0f}x the top of the usual range for "
                                f"{kind} ({usual_range}).",
                       fix=f"Use {lr_text(usual)}: at this rate the updates overshoot, and the loss stalls or turns "
                           "NaN, or the model ends up answering one class for every text.",
                       config_change={"training.learning_rate": usual})
    return Finding(code="LR_TOO_LOW", severity="warning", title="The learning rate is far below the usual range",
                   evidence=f"Learning rate {lr_text(lr)} is {low / lr:.0f}x below the bottom of the usual range for "
                            f"{kind} ({usual_range}).",
                   fix=f"Use {lr_text(usual)}: at this rate the weights barely move, and the model stays at its "
                       "first guess.",
                   config_change={"training.learning_rate": usual})


def preflight(config: RunConfig, runs_dir: Path, available: dict[str, bool]) -> list[Finding]:
    """Every pre-flight finding for `config`, errors first."""
    device_finding = environment.device_check(config.hardware.device, available)
    device = config.hardware.device
    if device == "auto":
        device = next(d for d in ("cuda", "mps", "cpu") if available.get(d))
    parameters = BUILTIN_PARAMETERS.get(config.model.name)
    found = [*renamed_arguments(config), device_finding, precision_on_device(config, device),
             too_many_processes(config, device, available),
             environment.accelerate_check(), reporting_check(config), learning_rate_far_from_usual(config)]
    if parameters:
        needed = environment.checkpoint_bytes(parameters, config.training.save_total_limit)
        found.append(environment.disk_space_check(Path(runs_dir), needed))
    return by_severity(found)
