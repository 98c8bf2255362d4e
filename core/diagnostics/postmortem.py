"""Post-mortem: why a failed run died, read from status.json, the end of train.log and how the process ended.

Pure: plain dicts and strings in, one `Finding` out, so every rule is tested on made-up log tails.
The last error in the tail wins; without one, a kill signal, then status.json's error code, decide.
"""

from __future__ import annotations

import re
import signal
from dataclasses import dataclass, field
from typing import Any, Callable

from core.diagnostics.findings import Finding
from core.diagnostics.log_errors import error_in_log, memory_amounts, one_line
from core.diagnostics.model_checks import head_does_not_match_classes, no_trainable_parameters

# Longest piece of log text quoted in an evidence sentence.
MAX_QUOTE = 160
TITLES = {
    "OUT_OF_MEMORY": "The run ran out of memory",
    "DISK_SPACE": "The disk is full",
    "KILLED": "The training process was killed",
    "DEPRECATED_ARGUMENT": "A training argument has another name in this transformers version",
    "DEPENDENCY_ERROR": "A required package is missing",
    "SHAPE_MISMATCH": "The token batches had mismatched shapes",
    "LABEL_OUT_OF_RANGE": "A label is outside the model's classes",
    "TRAINING_ERROR": "Training stopped with an error",
    "FROZEN_WEIGHTS": "Every weight of the model is frozen",
    "LABELS_MISSING": "The data has no label column",
}


@dataclass
class Clue:
    """What is known about one failure: the error's own words and where they came from."""
    code: str
    message: str = ""  # one line; the log's exception text, or status.json's message
    source: str = "log"  # log | status | signal
    tail: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    signal: int | None = None


def explain_failure(status: dict, log_tail: str, exit_signal: int | None = None, *,
                    config: dict | None = None, dataset: dict | None = None) -> Finding | None:
    """Why a failed run died, as one Finding; None for any run whose state is not 'failed'.

    With the data set's summary, a crash that the model's set-up explains (a head with fewer outputs than
    classes: "Target 2 is out of bounds"; no trainable parameter) is named by that cause."""
    if (status or {}).get("state") != "failed":
        return None
    clue = find_clue(status, log_tail or "", exit_signal, config or {})
    return _setup_cause(clue, status, dataset or {}) or BUILDERS.get(clue.code, _rejected_input)(clue)


def _setup_cause(clue: Clue, status: dict, dataset: dict) -> Finding | None:
    if clue.code not in ("LABEL_OUT_OF_RANGE", "TRAINING_ERROR", "FROZEN_WEIGHTS"):
        return None
    facts = status.get("model_facts") or {}
    cause = no_trainable_parameters(facts) or head_does_not_match_classes(facts, dataset)
    if cause:
        cause.evidence += f" The run then failed{_said(clue)}."
        cause.step = None
    return cause


def find_clue(status: dict, log_tail: str, exit_signal: int | None, config: dict) -> Clue:
    """The log's last error first, then a kill signal, then status.json's error code."""
    error = status.get("error") or {}
    status_code, status_message = error.get("code"), str(error.get("message") or "")
    found = error_in_log(log_tail.splitlines())
    specific_status = status_code in BUILDERS and status_code not in ("TRAINING_ERROR", "KILLED")
    if found and found[0] == "TRAINING_ERROR" and specific_status:
        # classify_exception saw the whole exception (e.g. a bare "out of memory"); trust its code.
        found = (status_code, found[1])
    if found:
        return Clue(found[0], found[1], "log", log_tail, config)
    if exit_signal:
        code = "OUT_OF_MEMORY" if abs(exit_signal) == signal.SIGKILL else "KILLED"
        return Clue(code, "", "signal", log_tail, config, abs(exit_signal))
    if status_code in BUILDERS:
        return Clue(status_code, one_line(status_message), "status", log_tail, config)
    if status_code:  # a UserError's own code (SUBSET_TOO_LARGE, DEVICE_NOT_AVAILABLE...): its sentence says it all
        return Clue(status_code, one_line(status_message), "status", log_tail, config)
    return Clue("TRAINING_ERROR", one_line(status_message), "status", log_tail, config)


def _quote(text: str) -> str:
    text = one_line(text)
    return text if len(text) <= MAX_QUOTE else text[:MAX_QUOTE - 1].rstrip() + "…"


def _finding(code: str, evidence: str, fix: str, change: dict[str, Any] | None = None) -> Finding:
    return Finding(code=code, severity="error", title=TITLES[code], evidence=one_line(evidence),
                   fix=one_line(fix), config_change=change or {}, step=None)


def _said(clue: Clue) -> str:
    """The error's words as a parenthesis for an evidence sentence."""
    if clue.source == "log" and clue.message:
        return f" (train.log: \"{_quote(clue.message)}\")"
    return f" (status.json: \"{_quote(clue.message)}\")" if clue.message else ""


def _section(config: dict, name: str) -> dict:
    value = config.get(name)
    return value if isinstance(value, dict) else {}


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


# --- OUT_OF_MEMORY -------------------------------------------------------------------------------------------

def _memory_device(message: str, config: dict) -> str:
    lowered = message.lower()
    if "mps" in lowered:
        return "MPS"
    if "cuda" in lowered or "gpu" in lowered or "outofmemoryerror" in lowered:
        return "CUDA"
    if "cpuallocator" in lowered or "can't allocate memory" in lowered or "not enough memory" in lowered:
        return "CPU"
    device = str(_section(config, "hardware").get("device", "auto"))
    return device.upper() if device in ("cuda", "mps", "cpu") else "The device"


def _memory_fix(device: str, config: dict) -> tuple[str, dict[str, Any]]:
    training, preset = _section(config, "training"), _section(config, "hardware").get("memory_preset", "standard")
    batch = int(training.get("per_device_train_batch_size", 16))
    accumulation = int(training.get("gradient_accumulation_steps", 1))
    if preset == "very_low":
        length = int(_section(config, "data").get("max_length", 128))
        shorter = max(8, length // 2)
        fix = (f"The very_low memory preset is already on, so lower the max sequence length from {length} to "
               f"{shorter} or use a smaller model")
        change: dict[str, Any] = {"data.max_length": shorter}
    elif preset == "low":
        fix = "Pick the very_low memory preset, which adds gradient checkpointing (less memory, somewhat slower)"
        change = {"hardware.memory_preset": "very_low"}
    else:
        fix = "Pick the low memory preset"
        if batch > 1:
            fix += (f", or halve the batch size to {batch // 2} and double gradient accumulation to "
                    f"{accumulation * 2} (the same effective batch of {batch * accumulation})")
        change = {"hardware.memory_preset": "low"}
    if device == "MPS":
        fix += "; on a Mac you can also set the device to cpu, which is slower but does not run out of GPU memory"
    return fix + ".", change


def _out_of_memory(clue: Clue) -> Finding:
    device = _memory_device(clue.message, clue.config)
    fix, change = _memory_fix(device, clue.config)
    if clue.source == "signal":
        evidence = (f"The training process was killed by {_signal_name(clue.signal)} with no error in train.log, "
                    "most likely by the operating system's out-of-memory killer when the machine ran out of RAM.")
        return _finding("OUT_OF_MEMORY", evidence, fix, change)
    amounts = memory_amounts(clue.message)
    training = _section(clue.config, "training")
    setting = (f" while training with batch size {training['per_device_train_batch_size']}"
               if "per_device_train_batch_size" in training else "")
    detail = f": {amounts}" if amounts else ""
    name = "CPU memory (RAM)" if device == "CPU" else f"{device} memory" if device != "The device" else "Memory"
    return _finding("OUT_OF_MEMORY", f"{name} ran out{setting}{detail}.", fix, change)


# --- the other codes -----------------------------------------------------------------------------------------

def _disk_space(clue: Clue) -> Finding:
    kept = _section(clue.config, "training").get("save_total_limit")
    keeping = f" The run keeps up to {kept} checkpoints." if kept else ""
    evidence = f"The disk filled up while the run was writing files{_said(clue)}.{keeping}"
    fix = ("Set 'Checkpoints kept' to 1, delete old runs or other files to free space, or move the runs folder "
           "to a bigger disk by setting DASHBOARD_RUNS_DIR.")
    return _finding("DISK_SPACE", evidence, fix, {"training.save_total_limit": 1})


def _killed(clue: Clue) -> Finding:
    if clue.signal:
        how = f"was killed by {_signal_name(clue.signal)} before it could report an error"
    else:
        how = ("ended without reporting an error, so it was killed from outside (by a person, a closed terminal "
               "or the system)")
    evidence = f"The training process {how}; train.log ends without a traceback."
    fix = ("Start the run again; if it dies again while no one stops it, pick a lower memory preset or a smaller "
           "train subset, because the machine may be running out of memory.")
    return _finding("KILLED", evidence, fix)


def _deprecated_argument(clue: Clue) -> Finding:
    match = re.search(r"unexpected keyword argument '(\w+)'", clue.message)
    name = match.group(1) if match else ""
    if name == "eval_strategy":
        evidence = ("TrainingArguments rejected 'eval_strategy': the installed transformers is older than 4.41, "
                    "where this argument was still called evaluation_strategy.")
    elif name == "evaluation_strategy":
        evidence = ("TrainingArguments rejected 'evaluation_strategy': transformers 4.41 renamed it eval_strategy "
                    "and the installed version no longer takes the old name.")
    else:
        evidence = f"TrainingArguments rejected an argument name{_said(clue)}."
    fix = ("Run pip install -r requirements.txt so transformers is the tested version, and write eval_strategy in "
           "configs; the dashboard's config accepts both names and passes the one the installed version takes.")
    return _finding("DEPRECATED_ARGUMENT", evidence, fix)


def missing_package(message: str) -> str | None:
    """The package an import error names: 'accelerate>=0.21.0', 'sklearn', ... or None."""
    for pattern in (r"requires `?(accelerate[\w.<>=!]*\w)", r"pip install (accelerate)",
                    r"No module named '([\w-]+)", r"cannot import name '\w+' from '([\w-]+)",
                    r"requires the ([\w-]+) library"):
        match = re.search(pattern, message, re.IGNORECASE)
        if match:
            return match.group(1)
    return None


def _dependency_error(clue: Clue) -> Finding:
    package = missing_package(clue.message)
    what = f"the package '{package}'" if package else "a package"
    what += ", which is missing or too old"
    evidence = f"Training could not start because it needs {what}{_said(clue)}."
    fix = "Run pip install -r requirements.txt in the dashboard's virtual environment, then start the run again."
    return _finding("DEPENDENCY_ERROR", evidence, fix)


def _shape_mismatch(clue: Clue) -> Finding:
    shapes = re.search(r"shapes? (torch\.Size\(\[[\d, ]*\]\)) and (torch\.Size\(\[[\d, ]*\]\))", clue.message)
    # "Unable to create tensor" is raised from the "expected sequence of length" error, which sits higher up.
    lengths = (re.findall(r"expected sequence of length (\d+) at dim \d+ \(got (\d+)\)", clue.tail) or [None])[-1]
    if shapes:
        evidence = f"The input_ids and attention_mask of one batch had different shapes: {shapes[1]} and {shapes[2]}."
    elif lengths:
        evidence = (f"The texts of one batch had different lengths (expected {lengths[0]} tokens, got "
                    f"{lengths[1]}), so they could not be stacked into one tensor.")
    else:
        evidence = f"The tokenized texts could not be put into one batch{_said(clue)}."
    fix = ("Use one max_length with truncation everywhere and pad each batch as it is built (dynamic padding, as "
           "the dashboard's DataCollatorWithPadding does) instead of padding texts yourself; after changing the "
           "tokenizer or max_length, delete the .cache/tokenized folder next to the runs.")
    return _finding("SHAPE_MISMATCH", evidence, fix)


def _label_out_of_range(clue: Clue) -> Finding:
    target = re.search(r"Target (-?\d+) is out of bounds", clue.message) or re.search(
        r"Target (-?\d+) is out of bounds", clue.tail)
    if target:
        evidence = (f"The label value {target[1]} is outside 0..num_labels-1, so the loss has no model output "
                    f"for it{_said(clue)}.")
    else:
        check = "failed the loss's n_classes check" if "t < n_classes" in clue.tail else "stopped on a device assert"
        evidence = f"The GPU {check}, which almost always means a label outside 0..num_labels-1{_said(clue)}."
    fix = ("Let the number of labels come from the data instead of setting it by hand, and check that the label "
           "column holds only the data set's classes; to see a readable error, run it once on the cpu device.")
    return _finding("LABEL_OUT_OF_RANGE", evidence, fix)


def _training_error(clue: Clue) -> Finding:
    if clue.message and clue.source == "log":
        evidence = f"Training stopped with {_quote(clue.message)}"
        evidence += "" if evidence.endswith((".", "…")) else "."
    elif clue.message:
        evidence = f"The run failed and status.json says: {_quote(clue.message)}"
    else:
        evidence = "The run failed without an error message in status.json or in the end of train.log."
    fix = "Read the end of train.log for the full traceback, correct what its last line names, and start again."
    return _finding("TRAINING_ERROR", evidence, fix)


def _rejected_input(clue: Clue) -> Finding:
    """Config or data the child refused; the message already names the field and the fix."""
    evidence = _quote(clue.message) if clue.message else f"The run stopped with {clue.code} and no message."
    return Finding(code=clue.code, severity="error", title="The run's settings or data were rejected",
                   evidence=evidence, fix="Change what the sentence names on the New run page and start again.")


def _frozen_weights(clue: Clue) -> Finding:
    evidence = f"Training found no trainable parameter to update{_said(clue)}."
    fix = ("Make the encoder and the head trainable (requires_grad=True on their parameters, or do not freeze "
           "them) and restart; to train only the head, freeze just the encoder.")
    return _finding("FROZEN_WEIGHTS", evidence, fix)


def _labels_missing(clue: Clue) -> Finding:
    evidence = one_line(clue.message) if clue.message else "The data has no label column."  # names the columns
    fix = ("Set the label column to the column of the data that holds the classes (the error lists the columns "
           "there are), or rename that column to 'label', and start again.")
    return _finding("LABELS_MISSING", evidence, fix)


BUILDERS: dict[str, Callable[[Clue], Finding]] = {
    "OUT_OF_MEMORY": _out_of_memory,
    "DISK_SPACE": _disk_space,
    "KILLED": _killed,
    "DEPRECATED_ARGUMENT": _deprecated_argument,
    "DEPENDENCY_ERROR": _dependency_error,
    "SHAPE_MISMATCH": _shape_mismatch,
    "LABEL_OUT_OF_RANGE": _label_out_of_range,
    "TRAINING_ERROR": _training_error,
    "FROZEN_WEIGHTS": _frozen_weights,
    "LABELS_MISSING": _labels_missing,
}
