"""Why a run died, on made-up log tails shaped like real PyTorch / transformers tracebacks."""

import pytest

from core.diagnostics.log_errors import last_exception_line
from core.diagnostics.postmortem import explain_failure, MAX_QUOTE

FAILED = {"state": "failed", "error": {"code": "TRAINING_ERROR", "message": "Training failed."}}
PROGRESS = """Loading data: tweet-sentiment (2000 train / 500 eval)
{'loss': 1.0812, 'grad_norm': 3.21, 'learning_rate': 9.5e-05, 'epoch': 0.16}
 16%|█▌        | 20/125 [00:12<01:04,  1.63it/s]
"""

CUDA_OOM = PROGRESS + """Traceback (most recent call last):
  File "/work/main/core/training/train.py", line 105, in run
    state = train(config, run_dir, cache_dir, stop)
            ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
  File "/work/main/.venv/lib/python3.11/site-packages/torch/nn/functional.py", line 2143, in softmax
    ret = input.softmax(dim)
          ^^^^^^^^^^^^^^^^^^
torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 20.00 MiB. GPU 0 has a total capacity of 79.15 GiB \
of which 10.56 MiB is free. Including non-PyTorch memory, this process has 79.13 GiB memory in use. Of the allocated \
memory 78.50 GiB is allocated by PyTorch. See documentation for Memory Management  \
(https://pytorch.org/docs/stable/notes/cuda.html#environment-variables)
error: The device ran out of memory. Use the low or very_low memory preset, or halve the batch size and double \
gradient accumulation.
"""

# Wrapped over two lines, as the seed document (issue 3) prints it.
MPS_OOM = PROGRESS + """Traceback (most recent call last):
  File "/Users/me/dashboard/.venv/lib/python3.11/site-packages/transformers/trainer.py", line 3612, in training_step
    self.accelerator.backward(loss, **kwargs)
RuntimeError: MPS backend out of memory (MPS allocated: 18.02 GB, other allocations: 4.46 GB,
max allowed: 22.64 GB). Tried to allocate 192.00 MB on private pool.
"""

CPU_OOM = """Traceback (most recent call last):
  File "/work/main/.venv/lib/python3.11/site-packages/torch/nn/modules/linear.py", line 125, in forward
    return F.linear(input, self.weight, self.bias)
RuntimeError: [enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate memory: you tried to \
allocate 4294967296 bytes. Error code 12 (Cannot allocate memory)
"""

DISK_FULL = PROGRESS + """Traceback (most recent call last):
  File "/work/main/.venv/lib/python3.11/site-packages/transformers/trainer.py", line 3201, in _save_checkpoint
    self._save_optimizer_and_scheduler(output_dir)
  File "/work/main/.venv/lib/python3.11/site-packages/torch/serialization.py", line 652, in save
    with _open_zipfile_writer(f) as opened_zipfile:
OSError: [Errno 28] No space left on device: '/work/main/runs/20250101-120000/checkpoints/checkpoint-500/optimizer.pt'
"""

RENAMED = """Traceback (most recent call last):
  File "/work/main/core/training/train.py", line 180, in build_trainer
    args = TrainingArguments(**kwargs)
           ^^^^^^^^^^^^^^^^^^^^^^^^^^^
TypeError: TrainingArguments.__init__() got an unexpected keyword argument 'eval_strategy'
"""

ACCELERATE = """Traceback (most recent call last):
  File "/work/main/.venv/lib/python3.11/site-packages/transformers/training_args.py", line 1993, in _setup_devices
    raise ImportError(
ImportError: Using the `Trainer` with `PyTorch` requires `accelerate>=0.21.0`: Please run `pip install \
transformers[torch]` or `pip install accelerate -U`
"""

NO_SKLEARN = """Traceback (most recent call last):
  File "<frozen runpy>", line 198, in _run_module_as_main
  File "/work/main/core/training/metrics.py", line 9, in <module>
    from sklearn.metrics import f1_score
ModuleNotFoundError: No module named 'sklearn'
"""

SHAPES = """Traceback (most recent call last):
  File "/work/main/.venv/lib/python3.11/site-packages/transformers/models/bert/modeling_bert.py", line 1011, in forward
    raise ValueError(
ValueError: The `input_ids` and `attention_mask` should have the same shape,
but got shapes torch.Size([8, 512]) and torch.Size([8, 256])
"""

RAGGED = """Traceback (most recent call last):
  File "/work/main/.venv/lib/python3.11/site-packages/transformers/tokenization_utils_base.py", line 767, in as_tensor
    tensor = as_tensor(value)
ValueError: expected sequence of length 48 at dim 1 (got 37)

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
  File "/work/main/.venv/lib/python3.11/site-packages/transformers/tokenization_utils_base.py", line 783, in convert
    raise ValueError(
ValueError: Unable to create tensor, you should probably activate truncation and/or padding with 'padding=True' \
'truncation=True' to have batched tensors with the same length.
"""

TARGET_CPU = """Traceback (most recent call last):
  File "/work/main/.venv/lib/python3.11/site-packages/torch/nn/functional.py", line 3104, in cross_entropy
    return torch._C._nn.cross_entropy_loss(input, target, weight, _Reduction.get_enum(reduction), ignore_index)
IndexError: Target 5 is out of bounds.
"""

TARGET_CUDA = """../aten/src/ATen/native/cuda/Loss.cu:250: nll_loss_forward_reduce_cuda_kernel_2d: block: [0,0,0], \
thread: [3,0,0] Assertion `t >= 0 && t < n_classes` failed.
Traceback (most recent call last):
  File "/work/main/.venv/lib/python3.11/site-packages/transformers/trainer.py", line 3612, in training_step
    self.accelerator.backward(loss, **kwargs)
RuntimeError: CUDA error: device-side assert triggered
CUDA kernel errors might be asynchronously reported at some other API call, so the stacktrace below might be incorrect.
For debugging consider passing CUDA_LAUNCH_BLOCKING=1
"""

BOOM = PROGRESS + """Traceback (most recent call last):
  File "/work/main/core/training/train.py", line 105, in run
    state = train(config, run_dir, cache_dir, stop)
  File "/work/main/core/training/train.py", line 160, in train
    raise ValueError("boom")
ValueError: boom
error: Training failed with ValueError: boom. The full traceback is in train.log.
"""

CASES = [(CUDA_OOM, "OUT_OF_MEMORY"), (MPS_OOM, "OUT_OF_MEMORY"), (CPU_OOM, "OUT_OF_MEMORY"),
         (DISK_FULL, "DISK_SPACE"), (RENAMED, "DEPRECATED_ARGUMENT"), (ACCELERATE, "DEPENDENCY_ERROR"),
         (NO_SKLEARN, "DEPENDENCY_ERROR"), (SHAPES, "SHAPE_MISMATCH"), (RAGGED, "SHAPE_MISMATCH"),
         (TARGET_CPU, "LABEL_OUT_OF_RANGE"), (TARGET_CUDA, "LABEL_OUT_OF_RANGE"), (BOOM, "TRAINING_ERROR")]


def config(preset="standard", batch=16, accumulation=1, **training):
    return {"data": {"max_length": 128}, "hardware": {"device": "auto", "memory_preset": preset},
            "training": {"per_device_train_batch_size": batch, "gradient_accumulation_steps": accumulation,
                         **training}}


@pytest.mark.parametrize("tail, code", CASES)
def test_each_log_gives_its_code_as_one_error_finding(tail, code):
    finding = explain_failure(FAILED, tail)
    assert finding.code == code and finding.severity == "error" and finding.step is None
    assert finding.title and finding.fix
    assert "\n" not in finding.evidence and "\n" not in finding.fix


@pytest.mark.parametrize("state", ["completed", "stopped", "running", "queued", None])
def test_runs_that_did_not_fail_get_no_explanation(state):
    assert explain_failure({"state": state}, BOOM, exit_signal=9) is None


def test_cuda_out_of_memory_quotes_the_device_and_its_numbers():
    finding = explain_failure(FAILED, CUDA_OOM, config=config())
    assert "CUDA" in finding.evidence and "20.00 MiB" in finding.evidence and "79.15 GiB" in finding.evidence
    assert "batch size 16" in finding.evidence
    assert "8" in finding.fix and "2" in finding.fix  # half the batch, twice the accumulation
    assert finding.config_change == {"hardware.memory_preset": "low"}


def test_mps_out_of_memory_quotes_allocated_and_max_allowed():
    finding = explain_failure(FAILED, MPS_OOM)
    assert "MPS" in finding.evidence
    assert "18.02 GB" in finding.evidence and "22.64 GB" in finding.evidence
    assert "cpu" in finding.fix


def test_cpu_out_of_memory_converts_bytes():
    finding = explain_failure(FAILED, CPU_OOM)
    assert "CPU" in finding.evidence and "4.29 GB" in finding.evidence


def test_memory_preset_escalates_from_low_to_very_low():
    assert explain_failure(FAILED, CUDA_OOM, config=config("low")).config_change == {
        "hardware.memory_preset": "very_low"}
    at_bottom = explain_failure(FAILED, CUDA_OOM, config=config("very_low"))
    assert at_bottom.config_change == {"data.max_length": 64}


def test_status_code_out_of_memory_without_a_log():
    status = {"state": "failed", "error": {"code": "OUT_OF_MEMORY", "message": "The device ran out of memory."}}
    finding = explain_failure(status, "", config={"hardware": {"device": "mps", "memory_preset": "standard"}})
    assert finding.code == "OUT_OF_MEMORY" and "MPS" in finding.evidence


def test_bare_out_of_memory_is_trusted_from_status():
    # Old CUDA builds say only "out of memory"; classify_exception caught it, the tail alone would not.
    status = {"state": "failed", "error": {"code": "OUT_OF_MEMORY", "message": "The device ran out of memory."}}
    assert explain_failure(status, "Traceback (most recent call last):\nRuntimeError: out of memory\n").code == (
        "OUT_OF_MEMORY")


def test_sigkill_with_a_clean_log_is_the_out_of_memory_killer():
    status = {"state": "failed", "error": {"code": "KILLED", "message": "The training process ended..."}}
    finding = explain_failure(status, PROGRESS, exit_signal=9)
    assert finding.code == "OUT_OF_MEMORY"
    assert "killed" in finding.evidence and "out-of-memory killer" in finding.evidence
    assert finding.config_change == {"hardware.memory_preset": "low"}


def test_sigterm_or_a_killed_status_is_killed():
    finding = explain_failure({"state": "failed"}, PROGRESS, exit_signal=15)
    assert finding.code == "KILLED" and "SIGTERM" in finding.evidence
    status = {"state": "failed", "error": {"code": "KILLED", "message": "ended without reporting"}}
    assert explain_failure(status, PROGRESS).code == "KILLED"


def test_a_traceback_beats_the_kill_signal():
    assert explain_failure(FAILED, BOOM, exit_signal=9).code == "TRAINING_ERROR"


def test_disk_space_keeps_one_checkpoint():
    finding = explain_failure(FAILED, DISK_FULL, config=config(save_total_limit=3))
    assert "No space left on device" in finding.evidence and "3 checkpoints" in finding.evidence
    assert finding.config_change == {"training.save_total_limit": 1}


def test_renamed_argument_explains_both_directions():
    finding = explain_failure(FAILED, RENAMED)
    assert "4.41" in finding.evidence and "both names" in finding.fix
    old = explain_failure(FAILED, RENAMED.replace("'eval_strategy'", "'evaluation_strategy'"))
    assert old.code == "DEPRECATED_ARGUMENT" and "evaluation_strategy" in old.evidence
    assert finding.config_change == {}


def test_dependency_names_the_package_and_requirements():
    accelerate = explain_failure(FAILED, ACCELERATE)
    assert "accelerate>=0.21.0" in accelerate.evidence and "pip install -r requirements.txt" in accelerate.fix
    assert "'sklearn'" in explain_failure(FAILED, NO_SKLEARN).evidence


def test_shape_mismatch_quotes_shapes_and_lengths():
    shapes = explain_failure(FAILED, SHAPES)
    assert "torch.Size([8, 512])" in shapes.evidence and "torch.Size([8, 256])" in shapes.evidence
    assert "max_length" in shapes.fix and "dynamic padding" in shapes.fix
    ragged = explain_failure(FAILED, RAGGED)
    assert "48" in ragged.evidence and "37" in ragged.evidence


def test_label_out_of_range_names_the_label():
    assert "label value 5" in explain_failure(FAILED, TARGET_CPU).evidence
    cuda = explain_failure(FAILED, TARGET_CUDA)
    assert "n_classes" in cuda.evidence and "number of labels" in cuda.fix


def test_training_error_quotes_the_exception_line():
    finding = explain_failure(FAILED, BOOM)
    assert "ValueError: boom" in finding.evidence and "train.log" in finding.fix


@pytest.mark.parametrize("first, second, code", [
    (CUDA_OOM, BOOM, "TRAINING_ERROR"), (BOOM, CUDA_OOM, "OUT_OF_MEMORY"),
    (NO_SKLEARN, DISK_FULL, "DISK_SPACE"), (DISK_FULL, TARGET_CPU, "LABEL_OUT_OF_RANGE")])
def test_the_last_error_in_the_tail_wins(first, second, code):
    assert explain_failure(FAILED, first + second).code == code


def test_status_message_is_the_fallback_without_a_log():
    status = {"state": "failed", "error": {"code": "DEVICE_NOT_AVAILABLE",
                                           "message": "'cuda' was requested but no CUDA GPU is visible"}}
    finding = explain_failure(status, "")
    assert finding.code == "DEVICE_NOT_AVAILABLE" and "no CUDA GPU is visible" in finding.evidence
    assert explain_failure({"state": "failed"}, "").code == "TRAINING_ERROR"


def test_long_messages_are_cut_and_never_span_lines():
    tail = "Traceback (most recent call last):\n  File \"x.py\", line 1\nValueError: " + "x" * 1000 + "\n"
    finding = explain_failure(FAILED, tail)
    assert "x" * MAX_QUOTE not in finding.evidence and len(finding.evidence) < 250
    for tail, _ in CASES:
        for exit_signal in (None, 9, 15):
            assert "\n" not in explain_failure(FAILED, tail, exit_signal, config=config()).evidence


def test_last_exception_line():
    assert last_exception_line(BOOM) == "ValueError: boom"
    assert last_exception_line(RAGGED).startswith("ValueError: Unable to create tensor")
    assert last_exception_line(PROGRESS) is None and last_exception_line("") is None
    # The head of a traceback cut off by the tail: the last exception-shaped line still counts.
    assert last_exception_line("    x = f()\nKeyError: 'label'\n") == "KeyError: 'label'"


def test_a_rejected_config_keeps_its_own_code_and_sentence():
    status = {"state": "failed", "error": {"code": "SUBSET_TOO_LARGE",
                                           "message": "data.train_size: train (90000) + eval (500) subsets need "
                                                      "90500 rows but 'tweet-sentiment' has 38158; lower the "
                                                      "subset sizes."}}
    finding = explain_failure(status, "error: data.train_size: train (90000) ...\n")
    assert finding.code == "SUBSET_TOO_LARGE"
    assert "lower the subset sizes" in finding.evidence
