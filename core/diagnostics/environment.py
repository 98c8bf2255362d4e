"""Checks of this Python environment (packages, argument names, device, disk space) as findings.

Each check takes its inputs as arguments (versions, distributions, free bytes, devices) so tests
can pass made-up ones; with the defaults it looks at the environment the dashboard runs in.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import shutil
from pathlib import Path
from typing import Iterable

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from core.common.faults import fake_free_bytes, fake_missing
from core.config.compat import installed_argument_names
from core.config.schema import TrainingConfig
from core.diagnostics.findings import by_severity, Finding
from core.plan.presets import available_devices
from core.rundir import runs

REQUIREMENTS = Path(__file__).resolve().parents[2] / "requirements.txt"
# The Trainer refuses to start with an older accelerate (seed issue 2; transformers' own check).
MIN_ACCELERATE = "0.21.0"
# The new name first, then the old one (seed issue 1 and the later renames core/config/compat.py maps).
ARGUMENT_PAIRS = (("eval_strategy", "evaluation_strategy"), ("use_cpu", "no_cuda"),
                  ("train_sampling_strategy", "group_by_length"))
# all-MiniLM-L6-v2, the default model: its model.safetensors holds 90.9 MB of float32 weights.
DEFAULT_MODEL_PARAMETERS = 22_700_000
# A checkpoint holds float32 weights plus AdamW's two float32 moments: 3 x 4 bytes per parameter.
CHECKPOINT_BYTES_PER_PARAMETER = 4 * 3
GB = 1e9
REPORT_PACKAGES = ("transformers", "datasets", "accelerate", "streamlit")
INSTALL_FIX = "pip install -r requirements.txt"


def package_versions(names: Iterable[str]) -> dict[str, str | None]:
    """The installed version of each distribution, None where it is not installed."""
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return fake_missing(versions)  # no-op unless a test hides a package (DASHBOARD_FAKE_MISSING)


def _older_than(version: str, minimum: str) -> bool:
    try:
        return Version(version) < Version(minimum)
    except InvalidVersion:
        return True  # a version we cannot read is not one we can vouch for


def accelerate_check(versions: dict[str, str | None] | None = None) -> Finding | None:
    """DEPENDENCY_ERROR when accelerate is missing or older than the Trainer accepts."""
    version = (package_versions(["accelerate"]) if versions is None else versions).get("accelerate")
    if version and not _older_than(version, MIN_ACCELERATE):
        return None
    state = f"accelerate {version} is installed" if version else "accelerate is not installed"
    return Finding(code="DEPENDENCY_ERROR", severity="error", title="The Trainer cannot start without accelerate",
                   evidence=f"{state}; the transformers Trainer needs accelerate {MIN_ACCELERATE} or newer.",
                   fix=f"Run `{INSTALL_FIX}` in the dashboard's virtual environment.")


def _argument_choice(new: str, old: str, fields: set[str]) -> str:
    if new in fields and old in fields:
        return f"both {new} and {old} (the old name is deprecated)"
    if new in fields or old in fields:
        taken, other = (new, old) if new in fields else (old, new)
        return f"{taken} (not {other})"
    return f"neither {new} nor {old}"


def transformers_argument_names_check(installed_fields: set[str] | None = None,
                                      transformers_version: str | None = None) -> Finding | None:
    """An info DEPRECATED_ARGUMENT finding: which name of each renamed argument the installed transformers takes."""
    try:
        fields = installed_argument_names() if installed_fields is None else set(installed_fields)
    except ImportError:
        return None  # no transformers at all: the dependency checks speak for that
    version = transformers_version or package_versions(["transformers"])["transformers"] or "(unknown version)"
    choices = "; ".join(_argument_choice(new, old, fields) for new, old in ARGUMENT_PAIRS)
    return Finding(code="DEPRECATED_ARGUMENT", severity="info",
                   title="Training arguments were renamed across transformers versions",
                   evidence=(f"The installed transformers {version} takes {choices}. transformers 4.41 renamed "
                             "evaluation_strategy to eval_strategy, so code written for one version fails on the "
                             "other with 'unexpected keyword argument'."),
                   fix=("Nothing to do here: the dashboard accepts both names in a config and passes the one the "
                        "installed version takes. Write the new names in new configs."))


def requirement_names(path: Path = REQUIREMENTS) -> list[str]:
    """The distribution names pinned in requirements.txt."""
    names = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            names.append(Requirement(line).name)
    return names


def _applies(requirement: Requirement) -> bool:
    """False for requirements of an extra, or for another Python or platform."""
    return requirement.marker is None or requirement.marker.evaluate({"extra": ""})


def _parsed(requires: Iterable[str]) -> list[Requirement]:
    out = []
    for text in requires:
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            continue
        if _applies(requirement):
            out.append(requirement)
    return out


def installed_distributions(names: Iterable[str]) -> list[tuple[str, str, list[str]]]:
    """(name, version, Requires-Dist) of the named distributions and of what each directly requires."""
    found: dict[str, tuple[str, str, list[str]]] = {}
    pending = list(names)
    for _ in range(2):  # the named packages, then their direct requirements: enough and fast
        following = []
        for name in pending:
            key = canonicalize_name(name)
            if key in found:
                continue
            try:
                dist = importlib.metadata.distribution(name)
            except importlib.metadata.PackageNotFoundError:
                continue
            found[key] = (dist.metadata["Name"], dist.version, list(dist.requires or []))
            following += [r.name for r in _parsed(found[key][2])]
        pending = following
    return list(found.values())


def _satisfied(requirement: Requirement, version: str) -> bool:
    try:
        return requirement.specifier.contains(Version(version), prereleases=True)
    except InvalidVersion:
        return True  # an unreadable version string is not evidence of a conflict


def _conflict(name: str, version: str, requirement: Requirement, installed: str) -> Finding:
    wanted = str(requirement.specifier)
    return Finding(code="DEPENDENCY_CONFLICT", severity="warning",
                   title=f"{name} needs another version of {requirement.name}",
                   evidence=f"{name} {version} requires {requirement.name}{wanted}, but {requirement.name} "
                            f"{installed} is installed.",
                   fix=(f"Install `{INSTALL_FIX}` into a fresh virtualenv (python -m venv), or pin "
                        f"{requirement.name} to a version in {wanted}."))


def dependency_conflicts(distributions: list[tuple[str, str, list[str]]] | None = None) -> list[Finding]:
    """DEPENDENCY_CONFLICT for each declared requirement that the installed version does not satisfy."""
    injected = distributions is not None
    scanned = distributions if injected else installed_distributions(requirement_names())
    listed = {canonicalize_name(name): version for name, version, _ in scanned}

    def installed_version(name: str) -> str | None:
        key = canonicalize_name(name)
        # The default scan stops at two levels, so look further packages up; an injected list is the whole world.
        return listed.get(key) if injected or key in listed else package_versions([name])[name]

    findings = []
    for name, version, requires in scanned:
        for requirement in _parsed(requires):
            installed = installed_version(requirement.name)
            # A missing package is an import error at run time, which DEPENDENCY_ERROR covers.
            if installed and requirement.specifier and not _satisfied(requirement, installed):
                findings.append(_conflict(name, version, requirement, installed))
    return findings


def checkpoint_bytes(total_parameters: int, save_total_limit: int) -> int:
    """Disk a run can fill: save_total_limit checkpoints plus the final model, each weights + AdamW moments."""
    return total_parameters * CHECKPOINT_BYTES_PER_PARAMETER * (save_total_limit + 1)


def free_bytes_at(path: Path) -> int:
    """Free bytes on the disk that holds `path`, or would hold it once created."""
    path = Path(path).resolve()
    while not path.exists() and path != path.parent:
        path = path.parent
    return fake_free_bytes(shutil.disk_usage(path).free)  # no-op unless DASHBOARD_FAKE_FREE_DISK_MB is set


def disk_space_check(path: Path, needed_bytes: int, free_bytes: int | None = None) -> Finding | None:
    """DISK_SPACE: an error when less than one run fits, a warning when less than two do."""
    free = free_bytes_at(path) if free_bytes is None else free_bytes
    if free >= 2 * needed_bytes:
        return None
    severity = "error" if free < needed_bytes else "warning"
    title = "Not enough disk space for a run" if severity == "error" else "Little disk space left for checkpoints"
    return Finding(code="DISK_SPACE", severity=severity, title=title,
                   evidence=(f"{free / GB:.1f} GB is free under {path}; a run with default settings writes up to "
                             f"{needed_bytes / GB:.1f} GB of checkpoints and its final model."),
                   fix=("Lower training.save_total_limit (checkpoints kept), delete old runs, or set "
                        "DASHBOARD_RUNS_DIR to a folder on a larger disk."),
                   config_change={"training.save_total_limit": 1})


def device_check(requested: str, available: dict[str, bool]) -> Finding | None:
    """DEVICE_NOT_USED when a GPU sits idle behind 'cpu'; DEVICE_NOT_AVAILABLE when the asked-for GPU is missing."""
    gpus = [name for name in ("cuda", "mps") if available.get(name)]
    if requested == "cpu" and gpus:
        return Finding(code="DEVICE_NOT_USED", severity="warning", title="A GPU is available but not used",
                       evidence=f"PyTorch sees {' and '.join(gpus)}, but the device is set to cpu.",
                       fix=(f"Choose device auto, which trains on {gpus[0]}. Keep cpu only if the GPU ran out "
                            "of memory: cpu is slower but the most reliable."),
                       config_change={"hardware.device": "auto"})
    if requested in ("cuda", "mps") and not available.get(requested):
        missing = {"cuda": "no CUDA GPU is visible to PyTorch (a CPU-only PyTorch build, or CUDA_VISIBLE_DEVICES "
                           "hides it)", "mps": "Apple MPS is not available on this machine"}[requested]
        return Finding(code="DEVICE_NOT_AVAILABLE", severity="error", title=f"The device {requested} is not there",
                       evidence=f"The device is set to {requested}, but {missing}.",
                       fix="Choose device auto (it uses the best device present) or cpu.",
                       config_change={"hardware.device": "auto"})
    return None


def detected_devices() -> dict[str, bool]:
    """The devices PyTorch sees; only the CPU when PyTorch itself cannot be imported."""
    try:
        return available_devices()
    except ImportError:
        return {"cpu": True, "cuda": False, "mps": False}


def last_requested_device(runs_dir: Path) -> str:
    """The device the newest run asked for, 'auto' (the default) when there is no run yet."""
    newest = runs.list_runs(runs_dir)[:1]
    return str((newest[0].config.get("hardware") or {}).get("device", "auto")) if newest else "auto"


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def environment_report(runs_dir: Path) -> list[dict]:
    """Rows (item, value) describing this machine for the Troubleshooting page."""
    versions = package_versions(("torch",) + REPORT_PACKAGES)
    devices = detected_devices()
    torch = versions["torch"] or "not installed"
    rows = [{"item": "Python", "value": platform.python_version()},
            {"item": "torch", "value": f"{torch} (CUDA: {_yes(devices.get('cuda'))}, "
                                       f"MPS: {_yes(devices.get('mps'))})"}]
    rows += [{"item": name, "value": versions[name] or "not installed"} for name in REPORT_PACKAGES]
    rows += [{"item": "Free disk", "value": f"{free_bytes_at(runs_dir) / GB:.1f} GB under {runs_dir}"},
             {"item": "CPU cores", "value": str(os.cpu_count() or "unknown")}]
    return rows


def default_run_bytes() -> int:
    """Disk a run with the default model and checkpoint limit can fill."""
    return checkpoint_bytes(DEFAULT_MODEL_PARAMETERS, TrainingConfig().save_total_limit)


def all_environment_findings(runs_dir: Path) -> list[Finding]:
    """Every environment check, errors first."""
    found = [accelerate_check(), transformers_argument_names_check(), *dependency_conflicts(),
             device_check(last_requested_device(runs_dir), detected_devices()),
             disk_space_check(Path(runs_dir), default_run_bytes())]
    return by_severity(found)
