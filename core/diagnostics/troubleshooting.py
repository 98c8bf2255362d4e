"""The ten common training problems of the seed document: what you see, why, and what the dashboard does."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Case:
    title: str
    symptom: str
    cause: str
    automatic: str
    codes: tuple[str, ...]  # the finding codes the dashboard raises for this problem
    check: str | None = None  # the core.environment function that checks this machine for it, if any
    all_clear: str = ""  # shown when that check finds nothing


CASES = (
    Case(title="Renamed argument: unexpected keyword argument 'eval_strategy'",
         symptom=("Training stops at once with `TypeError: TrainingArguments.__init__() got an unexpected keyword "
                  "argument 'eval_strategy'` (or 'evaluation_strategy')."),
         cause=("transformers 4.41 renamed evaluation_strategy to eval_strategy. Code written for one version fails "
                "on the other. Later releases renamed more: no_cuda became use_cpu, group_by_length became "
                "train_sampling_strategy."),
         automatic=("TrainingArguments is built in one place, which passes whichever name the "
                    "installed transformers takes, so a config may use either name. If a run still fails this way, "
                    "the Live run page explains it as a renamed argument, with the fix."),
         codes=("DEPRECATED_ARGUMENT",), check="transformers_argument_names_check"),
    Case(title="accelerate missing: the Trainer requires accelerate>=0.21.0",
         symptom="`ImportError: Using the Trainer with PyTorch requires accelerate>=0.21.0` when training starts.",
         cause=("The Trainer relies on the accelerate package to place the model and the batches on the device. "
                "Without it, or with a version older than 0.21.0, the Trainer refuses to start."),
         automatic=("requirements.txt pins accelerate. This page checks the installed version, and a run that "
                    "fails to import a package is explained as a missing package, with the pip command to run."),
         codes=("DEPENDENCY_ERROR",), check="accelerate_check",
         all_clear="accelerate is installed and at least 0.21.0."),
    Case(title="MPS out of memory on a Mac (Apple Silicon)",
         symptom="`RuntimeError: MPS backend out of memory (MPS allocated: ..., max allowed: ...)` during training.",
         cause=("The Mac's GPU can use only part of the shared memory. A large batch, long texts or a big model "
                "need more than it allows."),
         automatic=("A run that dies this way is explained as out of memory, with the amounts from the error and a "
                    "fix to apply: the low memory preset (batch 4, with gradient accumulation keeping the effective "
                    "batch) or very_low (adds gradient checkpointing). The mps device also turns on CPU fallback "
                    "for operations MPS lacks. The cpu device is the most reliable choice."),
         codes=("OUT_OF_MEMORY",)),
    Case(title="Dependency conflicts between packages (datasets, fsspec, ...)",
         symptom=("pip says `Cannot install -r requirements.txt because these package versions have conflicting "
                  "dependencies`, or a package fails after another one was upgraded."),
         cause=("Two packages need versions of a third that do not overlap, for example datasets wants an older "
                "fsspec than another package. A later pip install can also replace a version a package needs."),
         automatic=("requirements.txt pins exact versions that were tested together. This page compares the "
                    "requirements each installed package declares with what is installed, and reports each "
                    "mismatch with the version to install."),
         codes=("DEPENDENCY_CONFLICT",), check="dependency_conflicts",
         all_clear="Every package in requirements.txt, and each package they need, has its requirements met."),
    Case(title="Loss not decreasing: the model is not learning",
         symptom=("The loss stays near its starting value (about 0.69 for two classes) and accuracy stays at "
                  "the share of the largest class."),
         cause=("A learning rate far too high or too low, labels that do not match the texts, a classification "
                "head with the wrong number of classes, or frozen weights."),
         automatic=("The head gets one output per label of the data set. While a run trains, the Live run page "
                    "compares the loss with a uniform guess and accuracy with the largest class. It says whether "
                    "the run is stuck at chance because the learning rate is too high or too low or the weights "
                    "are frozen, told apart by the gradient norm and the size of each update, and suggests a "
                    "learning rate where that is the cause."),
         codes=("STUCK_AT_CHANCE", "LR_TOO_HIGH", "LR_TOO_LOW", "FROZEN_WEIGHTS")),
    Case(title="Training is extremely slow",
         symptom="The ETA is hours even for a small data set, and steps go by slowly.",
         cause=("Too much data for a first try, a small batch, every text padded to the maximum length, a GPU "
                "that is not used, or logging to outside services."),
         automatic=("Subsets are sampled to the sizes you choose. Batches are padded only to their longest text, "
                    "and group_by_length puts texts of similar length together. Tokenized data is cached, so a "
                    "second run on the same data does not tokenize again. No outside loggers are used. The Live "
                    "run page's ETA starts from the estimate and follows the measured pace, and it warns when more "
                    "than half of each batch is padding. Try Dry run first to check a config in seconds."),
         codes=("SLOW_TRAINING",)),
    Case(title="Overfitting: training accuracy high, eval accuracy low",
         symptom="Training loss keeps falling while eval loss rises and eval accuracy drops.",
         cause="The model memorises the training texts instead of learning what generalises.",
         automatic=("Load best model at end (on by default) keeps the checkpoint with the best eval metric. The "
                    "Live run page warns of overfitting when eval loss stays above its best for two evaluations in a "
                    "row while training loss falls. Its fix turns on early stopping, and suggests fewer epochs, "
                    "more weight decay or more dropout."),
         codes=("OVERFITTING",)),
    Case(title="GPU not used: training on the CPU by accident",
         symptom="Training is slow although the machine has a GPU, and the run's device is cpu.",
         cause=("The device was set to cpu, the installed PyTorch is a CPU-only build, or CUDA_VISIBLE_DEVICES "
                "hides the GPU."),
         automatic=("The default device, auto, picks CUDA, then Apple MPS, then the CPU. A device that was asked "
                    "for but is missing stops the run with a clear error, not a silent CPU run. This page warns "
                    "when a GPU is present but the newest run asked for cpu."),
         codes=("DEVICE_NOT_USED", "DEVICE_NOT_AVAILABLE"), check="device_check",
         all_clear="The newest run's device setting fits the devices PyTorch sees (see the table above)."),
    Case(title="Shape mismatch: input_ids and attention_mask should have the same shape",
         symptom=("`ValueError: The input_ids and attention_mask should have the same shape, but got shapes "
                  "torch.Size([8, 512]) and torch.Size([8, 256])`."),
         cause="Texts tokenized with different max_length or padding settings end up in one batch.",
         automatic=("The dashboard tokenizes with one max_length and truncation, and pads each batch as it is "
                    "built, so the shapes always agree. The tokenized cache is keyed by tokenizer and max length. "
                    "If a run fails this way anyway, the Live run page says so, with the fix."),
         codes=("SHAPE_MISMATCH",)),
    Case(title="Out of disk space: No space left on device",
         symptom="`OSError: [Errno 28] No space left on device` while a checkpoint is saved.",
         cause=("Each checkpoint holds the weights and the optimizer state. They add up over a run, and old runs "
                "stay on disk."),
         automatic=("A run keeps at most save_total_limit checkpoints (2 by default). This page compares the free "
                    "space under the runs folder with what a default run writes, and warns when it is "
                    "short. A run that fills the disk is explained as such, with the fix."),
         codes=("DISK_SPACE",), check="disk_space_check",
         all_clear="There is room for at least two runs with default settings under the runs folder."),
)
