"""The run configuration: typed sections with defaults, help text and validation.

One source of truth: the New run form builds its widgets and tooltips from the
field metadata here, `python -m core.train` validates CONFIG.json with the same
code, and the README's config table is generated from it (`python -m core.config`).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.common.errors import UserError
from core.config.class_weights import class_weights_text, parse_class_weights
from core.config.fields import build_section, reject_unknown
from core.config.source_fields import check_source_fields
from core.rundir.records import metric_for_task, MULTI_LABEL_METRICS, SINGLE_LABEL_METRICS

DATA_SOURCES = ("builtin", "hub", "file")
MODEL_SOURCES = ("builtin", "hub", "path")
# The form's ceiling; the real limit is the model's own (checked when it loads).
MAX_LENGTH_CAP = 16384
DEVICES = ("auto", "cpu", "cuda", "mps")
MEMORY_PRESETS = ("standard", "low", "very_low", "auto", "throughput")
SPEEDS = ("fast", "plain")
PRECISIONS = ("auto", "bf16", "fp16", "fp32")
SWITCHES = ("auto", "on", "off")
ATTENTIONS = ("auto", "sdpa", "eager")
STRATEGIES = ("no", "steps", "epoch")
# f1 is the weighted average over classes (f1_weighted says so by name); f1_macro counts every class the same, so a
# rare class weighs as much as a large one (on multi-label data too, where it is the mean over labels).
BEST_METRICS = tuple(dict.fromkeys(("f1", "f1_macro", "f1_weighted", "accuracy", "precision", "recall", "loss",
                                    *MULTI_LABEL_METRICS)))
TASKS = ("auto", "single_label", "multi_label")


def _f(default: Any, help: str, label: str, **rules: Any) -> Any:
    """A dataclass field carrying its form label, help text and validation rules."""
    return field(default=default, metadata={"help": help, "label": label, **rules})


@dataclass
class DataConfig:
    source: str = _f("builtin", "Where the data comes from: builtin (ships with the app, works offline), hub (a "
                     "Hugging Face Hub data set by name; needs internet) or file (a CSV, TSV, JSON, JSON Lines or "
                     "Parquet file).", "Data source", choices=DATA_SOURCES, source_field=True)
    name: str = _f("tweet-sentiment", "With source builtin: tweet-sentiment (38k tweets; negative / neutral / "
                   "positive) or bbc-news (2,225 BBC articles; 5 topics). With source hub: the data set's Hub id, "
                   "such as imdb or stanfordnlp/sst2.", "Data set", source_field=True)
    config_name: str | None = _f(None, "Hub data sets only: the configuration (subset) to load, when the data set "
                                 "has several.", "Hub configuration", optional=True, source_field=True)
    train_split: str = _f("train", "Hub data sets only: the split to train on.", "Train split", source_field=True)
    eval_split: str | None = _f(None, "Hub data sets only: the split to evaluate on. Empty takes the data set's "
                                "validation or test split when it has one, else carves one (eval fraction).",
                                "Eval split", optional=True, source_field=True)
    path: str | None = _f(None, "File source: the data file (CSV, TSV, JSON, JSON Lines or Parquet). In the "
                          "dashboard, the uploaded file.", "Data file", optional=True, source_field=True)
    eval_path: str | None = _f(None, "File source: an optional second file to evaluate on, with the same "
                               "columns. Empty carves the eval split from the data file.", "Eval file",
                               optional=True, source_field=True)
    text_column: str | None = _f(None, "Column holding the texts. Empty detects it: a column named text, "
                                 "sentence, review..., else the column with the longest strings.", "Text column",
                                 optional=True, source_field=True)
    label_column: str | None = _f(None, "Column holding the classes (strings, integers, booleans or a Hub "
                                  "ClassLabel). Empty detects it: a column named label, sentiment, category..., "
                                  "else a column with few distinct values.", "Label column", optional=True, source_field=True)
    task: str = _f("auto", "single_label: one class per text. multi_label: a text may carry several labels (a list "
                   "per row, labels separated by | ; or , in one column, or several 0/1 columns). auto detects it "
                   "from the label column and shows what it found.", "Task", choices=TASKS, source_field=True)
    label_columns: list[str] | None = _f(None, "Multi-label data in several 0/1 columns: the columns, one per "
                                         "label (their names become the label names). Empty uses the label "
                                         "column.", "Label columns (0/1)", optional=True, source_field=True)
    label_separator: str | None = _f(None, "Multi-label data in one column of strings: the character between "
                                     "labels (sports|politics). Empty detects |, ; or , .", "Label separator",
                                     optional=True, source_field=True)
    text_pair_column: str | None = _f(None, "Optional second text column for sentence-pair tasks (entailment, "
                                      "paraphrase); the two texts are tokenized as a pair.", "Second text column",
                                      optional=True, source_field=True)
    eval_fraction: float = _f(0.2, "Share of the rows carved out as a stratified eval split when the data has "
                              "none of its own (hub and file sources).", "Eval fraction", min=0.01, max=0.9)
    drop_missing_labels: bool = _f(False, "Drop rows whose label is empty instead of stopping with an error.",
                                   "Drop rows without a label")
    train_size: int = _f(2000, "Training examples to use, sampled stratified by label with the seed below. "
                         "Smaller is faster; start small to check the pipeline.", "Train subset size", min=1)
    eval_size: int = _f(500, "Evaluation examples, sampled stratified and disjoint from the training subset.",
                        "Eval subset size", min=1)
    max_length: int = _f(128, "Texts longer than this many tokens are truncated. Batches are padded only to their "
                         "longest text, so a generous value costs little on short texts. At most the model's "
                         "limit (512 for BERT-like models).", "Max sequence length", min=8, max=MAX_LENGTH_CAP)
    seed: int = _f(42, "Seed for the subset sampling, so the same settings pick the same examples.", "Data seed", min=0)
    oversample: bool = _f(False, "Repeat examples of the smaller classes in the training subset (drawn with the data "
                          "seed) until each class has as many as the largest; an epoch then takes longer. The eval "
                          "subset is never changed. An alternative to class weights for very unequal classes.",
                          "Oversample rare classes")
    padding: str = _f("longest", "longest pads each batch to its longest text (fast); max_length pads every text to "
                      "the max sequence length, which wastes compute on short texts.", "Padding",
                      choices=("longest", "max_length"), form=False)


@dataclass
class ModelConfig:
    source: str = _f("builtin", "Where the model comes from: builtin (ships with the app, works offline), hub (any "
                     "encoder id on the Hugging Face Hub; needs internet or the local cache) or path (a folder "
                     "saved with save_pretrained, such as an earlier run's model/).", "Model source",
                     choices=MODEL_SOURCES, source_field=True)
    name: str = _f("minilm-l6", "With source builtin: minilm-l6 (pretrained MiniLM-L6 encoder, 22M parameters, good "
                   "accuracy and fast on CPU), tiny-random (a tiny randomly initialised BERT for smoke tests; it "
                   "learns little) or bert-base-random (BERT-base size with random weights, for speed benchmarks on "
                   "a GPU). With source hub: the model id, such as distilbert-base-uncased or roberta-base.",
                   "Model", source_field=True)
    path: str | None = _f(None, "Path source: the folder holding config.json, the weights and the tokenizer.",
                          "Model folder", optional=True, source_field=True)
    trust_remote_code: bool = _f(False, "Run Python code shipped with a Hub model. Only for models whose code you "
                                 "trust: it runs with your permissions.", "Trust remote code", source_field=True)
    hidden_dropout_prob: float | None = _f(None, "Dropout on hidden layers. Raise it (e.g. 0.2) if the run "
                                           "overfits. Empty keeps the model's own value (0.1 for BERT-like models).",
                                           "Hidden dropout", min=0.0, max=0.9, optional=True)
    attention_probs_dropout_prob: float | None = _f(None, "Dropout on attention weights; raise with hidden dropout "
                                                    "against overfitting. Empty keeps the model's own value.",
                                                    "Attention dropout", min=0.0, max=0.9, optional=True)
    lora: bool = _f(False, "Train LoRA adapters (low-rank updates) on the attention's query, key and value "
                    "projections instead of every weight; the classification head is still trained in full. Far "
                    "fewer trainable parameters and less optimizer memory, for large encoders. The saved model has "
                    "the adapters merged in, so it loads like any other.", "LoRA")
    lora_rank: int = _f(8, "With LoRA: the rank of each adapter (r). Higher learns more and trains more parameters.",
                        "LoRA rank", min=1, max=1024)
    lora_alpha: int = _f(16, "With LoRA: the adapters' scaling (alpha); the update is scaled by alpha / rank.",
                         "LoRA alpha", min=1, max=4096)
    lora_dropout: float = _f(0.1, "With LoRA: dropout on the adapters' input.", "LoRA dropout", min=0.0, max=0.9)


@dataclass
class HardwareConfig:
    device: str = _f("auto", "auto picks CUDA if present, else Apple MPS, else CPU. cpu is the most reliable; "
                     "mps enables CPU fallback for unsupported operations.", "Device", choices=DEVICES)
    memory_preset: str = _f("standard", "standard: your batch size as set. low: batch 4 with gradient accumulation "
                            "that keeps your effective batch size. very_low: low plus gradient checkpointing "
                            "(recomputes activations: less memory, slower). auto: on a CUDA GPU, the largest "
                            "batch that fits (tried at max length, halved until it fits), with accumulation "
                            "keeping your effective batch size; elsewhere your batch as set. throughput (max "
                            "throughput, changes the optimisation): on a CUDA GPU the largest batch that fits, up to "
                            "8x yours and keeping at least 100 steps, with the learning rate scaled by the square "
                            "root of the batch's growth and warmup kept at the same number of examples.",
                            "Memory preset",
                            choices=MEMORY_PRESETS)
    processes: int = _f(1, "Train on this many GPUs at once (DistributedDataParallel through torchrun); each GPU "
                        "takes the per-device batch, so the effective batch grows with it. With device cpu, "
                        "several processes use the gloo backend (slower; for checking the set-up).",
                        "GPUs (processes)", min=1, max=64)
    speed: str = _f("fast", "fast: on a CUDA GPU bf16 (fp16 on cards without it), SDPA attention, fused AdamW, "
                    "torch.compile for runs of 1,000+ steps (with CUDA graphs up to max length 128), unpadded "
                    "batches for BERT- and RoBERTa-family models where CUDA graphs do not run, batches made ahead "
                    "in 2 loader workers, batches copied without waiting, a larger eval batch and argmax on the GPU before metrics; on CPU one "
                    "thread per physical core. plain: fp32, eager attention, plain AdamW, no compile (what a plain "
                    "Trainer script does). The choices below override it.",
                    "Speed", choices=SPEEDS)
    precision: str = _f("auto", "auto: bf16 on a CUDA GPU that has it, else fp16 on CUDA, fp32 on CPU and MPS "
                        "(fp32 with speed plain). fp16 needs a CUDA GPU.", "Precision", choices=PRECISIONS)
    compile: str = _f("auto", "torch.compile the model. auto: on with speed fast on a CUDA GPU for runs of at "
                      "least 1,000 optimizer steps without gradient checkpointing (the first step waits about a "
                      "minute while it compiles; measured); off elsewhere.",
                      "torch.compile", choices=SWITCHES)
    attention: str = _f("auto", "Attention kernel. auto: sdpa (PyTorch's fused scaled-dot-product attention) with "
                        "speed fast, eager with plain.", "Attention", choices=ATTENTIONS)
    unpad: str = _f("auto", "Unpadded batches: each batch's texts packed end to end, so no computation is spent on "
                    "pad tokens, with FlashAttention on variable lengths. auto: on with speed fast on a CUDA GPU in "
                    "bf16 or fp16 for BERT- and RoBERTa-family models, except where CUDA graphs run (max length "
                    "128 or less, compiled); others train on padded batches and the speed settings say why.",
                    "Unpadded batches", choices=SWITCHES)
    pad_to_multiple_of: int | None = _f(None, "Round each batch's padded length up to a multiple of this. "
                                        "Empty: with compile or speed fast on CUDA, one of 20 lengths (multiples "
                                        "of 8 up to 64, then of 16, 32, 64), so the GPU sees few shapes; none "
                                        "(each batch's longest text) on CPU and MPS.", "Pad to multiple of",
                                        min=1, max=512, optional=True)
    runs_per_gpu: int | None = _f(None, "Runs that may train on one GPU at the same time (a sweep's trials, or "
                                  "runs started one after another); each keeps its own batch and results. Empty: "
                                  "as many as fit in the GPU's memory and find it idle, up to 4: estimated from the "
                                  "model and max length (MiniLM-L6 shares, BERT-base at 128 tokens does not), or "
                                  "measured once a run like it has had a GPU to itself.",
                                  "Runs per GPU", min=1, max=8, optional=True)


@dataclass
class TrainingConfig:
    """Keys are named exactly as `transformers.TrainingArguments` parameters (plus early stopping)."""
    num_train_epochs: float = _f(3.0, "Full passes over the training subset.", "Epochs", min=0.01, max=1000, argument=True)
    learning_rate: float = _f(1e-4, "Peak learning rate. 2e-5 to 1e-4 suits fine-tuning; 1e-3 and above usually "
                              "diverges.", "Learning rate", min=1e-9, max=1.0, argument=True)
    per_device_train_batch_size: int = _f(16, "Training examples per step on each device. Halve it if you run out "
                                          "of memory.", "Train batch size", min=1, max=4096)
    per_device_eval_batch_size: int = _f(64, "Examples per evaluation batch. No gradients are kept, so it can be "
                                         "larger than the training batch.", "Eval batch size", min=1, max=4096)
    gradient_accumulation_steps: int = _f(1, "Add up gradients over this many batches before each update: the "
                                          "effective batch is batch size x this, with the memory of one batch.",
                                          "Gradient accumulation", min=1, max=1024)
    weight_decay: float = _f(0.01, "L2-style regularisation on the weights; raise to 0.05 against overfitting.",
                             "Weight decay", min=0.0, max=1.0, argument=True)
    warmup_ratio: float = _f(0.1, "Share of the steps over which the learning rate ramps up from 0.",
                             "Warmup ratio", min=0.0, max=0.99, argument=True)
    train_sampling_strategy: str = _f("group_by_length", "group_by_length batches texts of similar length, so "
                                      "little time goes into padding (1.39x faster on tweets on a 2-core CPU, "
                                      "measured); random is the classic shuffle.", "Batching",
                                      choices=("group_by_length", "random"), argument=True)
    eval_strategy: str = _f("epoch", "When to evaluate: no (only at the end), steps (every eval_steps) or epoch "
                            "(after each pass, the usual choice).", "Eval strategy", choices=STRATEGIES, argument=True)
    eval_steps: int | None = _f(None, "With eval strategy 'steps': evaluate every this many optimizer steps.",
                                "Eval every N steps", min=1, optional=True)
    load_best_model_at_end: bool = _f(True, "Keep the checkpoint with the best eval metric, not the last one. "
                                      "Checkpoints are saved on the eval schedule.", "Load best model at end", argument=True)
    metric_for_best_model: str = _f("f1", "Eval metric that picks the best checkpoint and drives early stopping. "
                                    "Single-label runs: f1, accuracy, precision, recall (weighted). Multi-label runs: "
                                    "f1_micro, f1_macro, precision_micro, recall_micro, subset_accuracy (f1 means "
                                    "f1_micro there). loss for both.", "Metric for best model", choices=BEST_METRICS,
                                    argument=True)
    early_stopping_patience: int = _f(0, "Stop after this many evaluations without improvement of the best-model "
                                      "metric. 0 turns early stopping off.", "Early stopping patience", min=0,
                                      max=1000)
    threshold: float = _f(0.5, "Multi-label runs only: a label is predicted when its probability (sigmoid) is at "
                          "least this; stored with the saved model.", "Label threshold", min=0.01, max=0.99,
                          form=False)
    tune_thresholds: bool = _f(False, "Multi-label runs only: after training, pick each label's threshold that "
                               "maximises its F1 on the eval set and store them with the model. The final eval "
                               "scores are then optimistic (tuned on the rows they are measured on).",
                               "Tune thresholds per label", form=False)
    save_total_limit: int = _f(2, "Keep at most this many checkpoints on disk (the best one is always kept).",
                               "Checkpoints kept", min=1, max=100, argument=True)
    logging_steps: int = _f(10, "Record training loss, learning rate and gradient norm every this many steps.",
                            "Log every N steps", min=1, max=100000, argument=True)
    seed: int = _f(42, "Seed for weight initialisation of the new head and for shuffling.", "Training seed", min=0, argument=True)
    class_weights: str | dict = _f("none", "Weigh each class in the loss, for very unequal classes. none: every "
                                   "text counts the same. balanced: each class in inverse proportion to its "
                                   "training examples (as scikit-learn's compute_class_weight), so a rare class "
                                   "counts as much as a large one. Or a weight per label, such as negative=1, "
                                   "positive=3 (labels not named weigh 1). Weights are scaled so an average training "
                                   "text weighs 1, and the ones used are recorded with the run.", "Class weights",
                                   parse=parse_class_weights, as_text=class_weights_text)
    extra: dict[str, Any] = field(default_factory=dict, metadata={
        "help": "Any other TrainingArguments parameter of the installed transformers, passed through as given.",
        "label": "Other TrainingArguments"})


@dataclass
class RunConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    hardware: HardwareConfig = field(default_factory=HardwareConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    name: str = ""
    # Notes about the config that did not stop it (a renamed argument, say); filled by from_dict.
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        extra = out["training"].pop("extra")
        out["training"].update(extra)
        out.pop("notes")
        return out

    def effective_batch_size(self) -> int:
        t = self.training
        return t.per_device_train_batch_size * t.gradient_accumulation_steps

    @classmethod
    def from_dict(cls, raw: Any) -> "RunConfig":
        """Validate a plain dict (parsed CONFIG.json or the form's values); raise UserError on the first problem."""
        if not isinstance(raw, dict):
            raise UserError("the config must be a JSON object with sections data, model, hardware and training.")
        sections = {"data": DataConfig, "model": ModelConfig, "hardware": HardwareConfig, "training": TrainingConfig}
        reject_unknown(raw, list(sections) + ["name"], where="")
        notes: list[str] = []
        built = {}
        for section, klass in sections.items():
            values = raw.get(section, {})
            if not isinstance(values, dict):
                raise UserError(f"must be an object of settings, got {type(values).__name__}; "
                                f"write it as \"{section}\": {{...}}.", field=section)
            built[section] = build_section(section, klass, values, notes)
        name = raw.get("name", "")
        if not isinstance(name, str):
            raise UserError("must be text.", field="name")
        config = cls(**built, name=name, notes=notes)
        _follow_dependent_defaults(config, raw.get("training", {}))
        _check_cross_field_rules(config)
        return config


def _follow_dependent_defaults(config: RunConfig, given: dict[str, Any]) -> None:
    """Defaults that depend on another field follow it unless the user set them: the best model is kept only
    when there are evaluations to pick it from. An explicit contradiction is still refused below."""
    t = config.training
    if "load_best_model_at_end" in given or not t.load_best_model_at_end:
        return
    if t.eval_strategy == "no":
        t.load_best_model_at_end = False
    elif t.extra.get("save_strategy") not in (None, t.eval_strategy):
        t.load_best_model_at_end = False
        config.notes.append(f"load_best_model_at_end is off: checkpoints are saved by '{t.extra['save_strategy']}', "
                            f"not on the eval schedule ('{t.eval_strategy}'), so the last model is kept.")


def _check_cross_field_rules(config: RunConfig) -> None:
    check_source_fields(config.data, config.model)
    _check_label_fields(config.data)
    t = config.training
    if config.hardware.processes > 1 and config.hardware.device == "mps":
        raise UserError("cannot be above 1 on Apple MPS, which has one GPU; set it to 1 or use cuda.",
                        field="hardware.processes")
    if config.hardware.precision == "fp16" and config.hardware.device in ("cpu", "mps"):
        raise UserError(f"fp16 needs a CUDA GPU but the device is {config.hardware.device}; choose auto, bf16 or "
                        "fp32.", field="hardware.precision")
    if t.eval_strategy == "steps" and not t.eval_steps:
        raise UserError("is needed when eval strategy is 'steps'; set how many steps between evaluations.",
                        field="training.eval_steps")
    if t.load_best_model_at_end and t.eval_strategy == "no":
        raise UserError("needs evaluations to pick the best model; set eval strategy to 'epoch' or 'steps', "
                        "or turn load best model at end off.", field="training.load_best_model_at_end")
    if t.early_stopping_patience and not t.load_best_model_at_end:
        raise UserError("needs 'load best model at end' on, so the run keeps the best model it stopped after; "
                        "turn it on or set patience to 0.", field="training.early_stopping_patience")
    save_strategy = t.extra.get("save_strategy")
    if t.load_best_model_at_end and save_strategy not in (None, t.eval_strategy):
        raise UserError(f"is '{save_strategy}' but load best model at end needs checkpoints on the eval schedule "
                        f"('{t.eval_strategy}'); remove save_strategy or make them match.",
                        field="training.save_strategy")


def _check_label_fields(data: DataConfig) -> None:
    if data.source == "builtin" and (data.task == "multi_label" or data.label_columns):
        field = "data.task" if data.task == "multi_label" else "data.label_columns"
        raise UserError(f"does not apply to the built-in data set '{data.name}', which has one label per text; "
                        "choose auto or single_label, or use a multi-label file.", field=field)
    columns = data.label_columns
    if columns is not None and (not isinstance(columns, list) or not all(isinstance(c, str) for c in columns)):
        raise UserError("must be a list of column names, such as [\"sports\", \"politics\"].",
                        field="data.label_columns")
    if data.label_separator is not None and len(data.label_separator.strip()) != 1:
        raise UserError(f"must be one character, such as | or ;, got {data.label_separator!r}.",
                        field="data.label_separator")


def metric_for_data(metric: str, multi_label: bool) -> tuple[str, str | None]:
    """The best-model metric a run on this data records, and a note when it differs from the one asked for; a
    multi-label metric on single-label data is refused."""
    if not multi_label and metric in MULTI_LABEL_METRICS and metric not in SINGLE_LABEL_METRICS:
        raise UserError(f"'{metric}' is a multi-label metric but each text here has one label; choose one of "
                        f"{', '.join(SINGLE_LABEL_METRICS)} or loss.", field="training.metric_for_best_model")
    resolved = metric_for_task(metric, multi_label)
    note = f"metric_for_best_model '{metric}' means '{resolved}' on multi-label data." if resolved != metric else None
    return resolved, note


def apply_change(raw: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    """A copy of a config dict with dotted keys replaced: {"training.learning_rate": 5e-5}."""
    out = json.loads(json.dumps(raw))
    for dotted, value in change.items():
        section, _, key = dotted.partition(".")
        if not key:
            out[section] = value
            continue
        out.setdefault(section, {})[key] = value
    return out


def load_config_file(path: str | Path) -> RunConfig:
    """Read and validate CONFIG.json; every problem becomes one UserError sentence."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"file '{path}' does not exist; check the path.", field="--config") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read '{path}' ({exc.__class__.__name__}); pass a UTF-8 JSON file.",
                        field="--config") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"'{path}' is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
                        "fix the JSON syntax.", field="--config") from None
    return RunConfig.from_dict(raw)


def training_argument_fields(training: "TrainingConfig") -> dict[str, Any]:
    """The training fields passed to TrainingArguments under their own names (marked `argument` above)."""
    return {f.name: getattr(training, f.name) for f in dataclasses.fields(training) if f.metadata.get("argument")}
