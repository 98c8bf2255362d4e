"""Train one classifier with no UI: `python -m core.train --config CONFIG.json --run-dir RUN_DIR`.

The dashboard starts this as a child process; it can also be run by hand. It reads the
config, trains with the HuggingFace Trainer, and writes everything to RUN_DIR (see core/rundir/runs.py).
Exit codes: 0 finished (completed or stopped), 1 training failed, 2 bad config or data.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.common import faults
from core.common.errors import UserError
from core.common.out_of_memory import is_out_of_memory
from core.common.safety import scrub_config
from core.config.schema import load_config_file, metric_for_data, RunConfig
from core.config.variants import dry_run_variant, range_test_variant
from core.data import balance, prepare, splits as data
from core.diagnostics import preflight
from core.diagnostics.lr_range import RANGE_START
from core.diagnostics.log_errors import classify_exception
from core.plan import presets
from core.rundir import runs
from core.rundir.layout import RunDir
from core.training import lora, models, tuning
from core.training.trainer_setup import build_trainer, live_metrics_enabled, training_arguments
from core.views.model_card import write_model_card

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def say(message: str) -> None:
    if runs.is_writer():  # one voice in train.log, also with several ranks
        print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


class _ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not usage plus a traceback-like dump
        print(f"error: {message}; see 'python -m core.train --help'.", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = _ArgumentParser(prog="python -m core.train", description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=None, help="run configuration (JSON; see README); "
                        "with --resume, RUN_DIR/config.json by default")
    parser.add_argument("--run-dir", required=True, help="folder for this run's files; created if missing")
    parser.add_argument("--dry-run", action="store_true",
                        help="the same config on 64 rows for 20 steps, one evaluation and one save")
    parser.add_argument("--resume", action="store_true",
                        help="continue the failed or stopped run in RUN_DIR from its newest checkpoint")
    parser.add_argument("--lr-find", action="store_true",
                        help="a learning-rate range test with the config's data, model and batch: the rate grows "
                             "from 1e-7 to 1 over up to 100 steps, no evaluation, no checkpoints; prints a suggestion")
    parser.add_argument("--cache-dir", default=None,
                        help="tokenized-data cache (default: $DASHBOARD_CACHE_DIR or RUN_DIR/../.cache/tokenized)")
    args = parser.parse_args(argv)
    if args.config is None and not args.resume:
        parser.error("the following arguments are required: --config")
    if args.lr_find and (args.resume or args.dry_run):
        parser.error("--lr-find is a run of its own; leave out --resume and --dry-run")
    return args


def _claim_run_dir(run_dir: Path, resume: bool = False) -> Path | None:
    """Refuse a folder that already holds a run other than the one the dashboard queued for us.

    With resume, the folder must hold a failed or stopped run with a checkpoint; returns that checkpoint.
    """
    if not runs.is_writer():  # the other ranks of a multi-process run follow rank 0, which claimed the folder
        return runs.last_checkpoint(run_dir) if resume else None
    # A resumed run may still read 'running' after a kill nobody has looked at yet: reconcile first.
    state = (runs.reconcile if resume else runs.read_status)(run_dir).get("state")
    if resume:
        return _resumable_checkpoint(run_dir, state)
    if state not in (None, "queued"):
        raise UserError(f"'{run_dir}' already holds a {state} run; pass a new folder so it is not overwritten.",
                        field="--run-dir", code="RUN_DIR_IN_USE")


def _resumable_checkpoint(run_dir: Path, state: str | None) -> Path:
    if state not in (*runs.RESUMABLE_STATES, "queued"):
        raise UserError(f"'{run_dir}' holds a {state or 'missing'} run; only a failed or stopped run can be resumed.",
                        field="--resume", code="NOT_RESUMABLE")
    checkpoint = runs.last_checkpoint(run_dir)
    if checkpoint is None:
        raise UserError(f"'{run_dir}' has no complete checkpoint to resume from; start the run again instead.",
                        field="--resume", code="NO_CHECKPOINT")
    return checkpoint


def _install_stop_signals(stop) -> None:
    def handler(signum, frame):
        if stop.requested.is_set():  # a second Ctrl-C or SIGTERM: stop now
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
        say("Stop requested: finishing the current step, then saving the best model so far.")
        stop.requested.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def _cache_dir(arg: str | None, run_dir: Path) -> Path:
    if arg:
        return Path(arg)
    if os.environ.get("DASHBOARD_CACHE_DIR"):
        return Path(os.environ["DASHBOARD_CACHE_DIR"])
    return run_dir.resolve().parent / ".cache" / "tokenized"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    run_dir = Path(args.run_dir)
    try:
        config = load_config_file(args.config or RunDir(run_dir).config)
        if args.dry_run:
            config = dry_run_variant(config)
        checkpoint = _claim_run_dir(run_dir, args.resume)
        inputs = prepare_inputs(config)  # bad data or a bad model stops here, before the run folder is touched
    except UserError as exc:
        return _refuse(run_dir, exc.code, exc.sentence, EXIT_BAD_INPUT)
    except Exception as exc:  # noqa: BLE001 - a loader bug: one line here, the traceback in train.log if queued
        if runs.read_status(run_dir).get("state") == "queued":
            traceback.print_exc(file=sys.stdout)
        message = f"the data or model could not be loaded ({type(exc).__name__}: {' '.join(str(exc).split())[:200]})."
        return _refuse(run_dir, "LOAD_FAILED", message, EXIT_FAILED)
    return run(config, run_dir, _cache_dir(args.cache_dir, run_dir), dry_run=args.dry_run,
               resume_from=checkpoint, inputs=inputs, lr_find=args.lr_find)


def _refuse(run_dir: Path, code: str, message: str, exit_code: int) -> int:
    """Stop before training: one line on stderr; a run the dashboard queued is marked failed, nothing else written."""
    if runs.read_status(run_dir).get("state") == "queued":
        runs.update_status(run_dir, state="failed", ended_at=runs.now_iso(), error={"code": code, "message": message})
    print(f"error: {message}", file=sys.stderr)
    return exit_code


@dataclass
class Inputs:
    """The data subsets and the tokenizer, checked before anything is written."""
    splits: Any
    tokenizer: Any


def prepare_inputs(config: RunConfig) -> Inputs:
    """Load the data and the tokenizer, and check max length against the model: all UserErrors, no writes."""
    _quiet_progress_bars()
    splits = prepare.prepare(config.data)
    _metric_for_the_data(config, splits.multi_label)
    # The weights are computed again as the run trains; here only so a bad setting stops before the run folder.
    balance.class_weights(config.training.class_weights, splits.label_names, splits.train["label"], splits.multi_label)
    tokenizer = models.load_tokenizer(config.model)
    models.check_max_length(config.data.max_length, tokenizer)
    models.check_model_folder(config.model)
    return Inputs(splits, tokenizer)


def _metric_for_the_data(config: RunConfig, multi_label: bool) -> None:
    """Multi-label data records micro / macro metrics: a single-label best-model metric (the default f1) becomes
    its multi-label counterpart, with a note; a multi-label metric on single-label data is refused."""
    metric, note = metric_for_data(config.training.metric_for_best_model, multi_label)
    if note:  # said in the log, not a config note: those are read as renamed arguments
        config.training.metric_for_best_model = metric
        say(f"Note: {note}")


def run(config: RunConfig, run_dir: Path, cache_dir: Path, dry_run: bool = False,
        resume_from: Path | None = None, inputs: Inputs | None = None, lr_find: bool = False) -> int:
    """Train (or, with lr_find, run the learning-rate range test), recording every outcome in status.json;
    returns the process exit code."""
    import psutil

    # heavy (imports transformers / scikit-learn): loaded once the config is valid, so a bad one is refused at once
    from core.training.callbacks import StopOnRequest

    _one_gpu_per_process()
    run_dir.mkdir(parents=True, exist_ok=True)
    if not (RunDir(run_dir).config).exists():  # the runner wrote it for a dashboard run; a CLI run gets it here
        # Tokens come from the environment only: a credential-like key never reaches the run folder.
        runs.write_json_atomic(RunDir(run_dir).config, scrub_config(config.to_dict()))
    me = psutil.Process()
    status = runs.read_status(run_dir)
    if resume_from is not None:
        status = _begin_resume(run_dir, status, resume_from)
    # The launcher recorded the process it started (torchrun for several ranks); keep that one if it lives.
    launched = runs.process_alive(status.get("pid"), status.get("pid_create_time"))
    owner = {} if launched else {"pid": me.pid, "pid_create_time": me.create_time()}
    runs.update_status(run_dir, state="running", **owner,
                       created_at=status.get("created_at", time.time()), started_at=runs.now_iso(),
                       phase="loading data", **({"dry_run": True} if dry_run else {}),
                       **({"lr_find": True} if lr_find else {}))
    for note in config.notes:
        say(f"Note: {note}")
    stop = StopOnRequest(run_dir)
    _install_stop_signals(stop)
    try:
        to_train = range_test_variant(config, RANGE_START) if lr_find else config
        state = train(to_train, run_dir, cache_dir, stop, resume_from, inputs, lr_find=lr_find)
    except UserError as exc:
        return _fail(run_dir, exc.code, exc.sentence, EXIT_BAD_INPUT)
    except Exception as exc:  # noqa: BLE001 - every failure must reach status.json
        traceback.print_exc()
        if is_out_of_memory(exc):
            return _fail_out_of_memory(run_dir, config, exc)
        code, message = classify_exception(exc)
        return _fail(run_dir, code, message, EXIT_FAILED)
    runs.update_status(run_dir, state=state, phase="done", ended_at=runs.now_iso())
    if not lr_find:
        _write_model_card(run_dir)
    say(f"Run {state}." + ("" if lr_find else f" Model saved to {run_dir / 'model'}."))
    return EXIT_OK


def _write_model_card(run_dir: Path) -> None:
    """The model card next to the saved model; the model is saved already, so a card that fails is only logged."""
    if not runs.is_writer() or not (RunDir(run_dir).model / "config.json").is_file():
        return
    try:
        write_model_card(run_dir)
    except Exception:  # noqa: BLE001 - the run succeeded; the export writes the card again
        traceback.print_exc()
        say("Could not write the model card; exporting the run writes it again.")


def _one_gpu_per_process() -> None:
    """A lone process on a box of several GPUs would train with `DataParallel` over all of them (the
    Trainer's default when it sees several): slower than DDP, and the batch silently grows with the GPU
    count. One process means one GPU; several go through torchrun (`hardware.processes`)."""
    if "WORLD_SIZE" not in os.environ and "CUDA_VISIBLE_DEVICES" not in os.environ:
        os.environ["CUDA_VISIBLE_DEVICES"] = "0"


def _begin_resume(run_dir: Path, status: dict, checkpoint: Path) -> dict:
    """A new attempt in the same folder: training after the checkpoint is redone, so its lines are set aside."""
    if not runs.is_writer():
        return status
    if status.get("state") in runs.RESUMABLE_STATES:  # resumed by hand; the dashboard did this when queueing
        status = runs.new_attempt(status)
        (RunDir(run_dir).stop_marker).unlink(missing_ok=True)
    status["resumed_from"] = checkpoint.name
    runs.write_json_atomic(RunDir(run_dir).status, status)
    moved = runs.keep_metrics_up_to(run_dir, runs.checkpoint_step(checkpoint))
    say(f"Resuming from {checkpoint.name}; {moved} metrics lines after it moved to metrics.replaced.jsonl.")
    return status


def _fail(run_dir: Path, code: str, message: str, exit_code: int, **details) -> int:
    runs.update_status(run_dir, state="failed", phase="done", ended_at=runs.now_iso(),
                       error={"code": code, "message": message, **details})
    print(f"error: {message}", file=sys.stderr, flush=True)
    return exit_code


def _fail_out_of_memory(run_dir: Path, config: RunConfig, exc: BaseException) -> int:
    """OUT_OF_MEMORY with the batch that ran and the device, so the run page can offer half the batch."""
    status = runs.read_status(run_dir)
    ran = status.get("batch") or {}
    batch = ran.get("per_device_train_batch_size", config.training.per_device_train_batch_size)
    accumulation = ran.get("gradient_accumulation_steps", config.training.gradient_accumulation_steps)
    device = status.get("device") or config.hardware.device
    first = " ".join(str(exc).split())[:200]
    message = (f"The {device} device ran out of memory at batch size {batch} (x{accumulation} accumulation): "
               f"{type(exc).__name__}: {first}. Retry with half the batch and twice the accumulation, or a lower "
               "memory preset.")
    return _fail(run_dir, "OUT_OF_MEMORY", message, EXIT_FAILED, device=device,
                 per_device_train_batch_size=batch, gradient_accumulation_steps=accumulation,
                 memory_preset=config.hardware.memory_preset)


def train(config: RunConfig, run_dir: Path, cache_dir: Path, stop, resume_from: Path | None = None,
          inputs: Inputs | None = None, lr_find: bool = False) -> str:
    """The seed document's pattern: tokenize once, Trainer with compute_metrics, then the final report."""
    # heavy (imports transformers / scikit-learn): loaded once the config is valid, so a bad one is refused at once
    from core.training.callbacks import model_facts
    _quiet_progress_bars()
    _preflight(config, run_dir)
    device = presets.resolve_device(config.hardware.device)
    speed = tuning.apply_speed_plan(config, device)
    say(f"Device: {device}. Speed settings: {'; '.join(speed['summary'])}. "
        f"Loading data: {prepare.describe_source(config.data)}.")
    inputs = inputs or prepare_inputs(config)
    splits, tokenizer = faults.apply_to_splits(inputs.splits), inputs.tokenizer
    summary = splits.summary()
    # From the training subset as it trains (after oversampling); recorded so the run can be reproduced.
    weights = balance.class_weights(config.training.class_weights, splits.label_names, splits.train["label"],
                                    splits.multi_label)
    # The files' hashes let an export tell the data the run read from a file changed since.
    runs.write_json_atomic(RunDir(run_dir).dataset, {**summary, "file_sha256": prepare.file_digests(config.data),
                                                     **balance.weights_record(weights, splits.label_names)})
    for note in splits.notes:
        say(f"Data: {note}")
    say(f"{summary['train_size']} training and {summary['eval_size']} eval examples, "
        f"{summary['num_labels']} classes: {', '.join(summary['label_names'][:20])}.")
    if weights:
        say("Class weights in the loss: " + ", ".join(f"{name} {w:.3g}" for name, w in zip(splits.label_names, weights))
            + ".")

    runs.update_status(run_dir, phase="tokenizing")
    started = time.time()
    args = training_arguments(config, run_dir, device, speed)  # also joins the ranks of a multi-process run
    with args.main_process_first(desc="tokenizing"):  # rank 0 fills the cache, the others read it
        tokenized, hit = data.tokenize_splits(splits, tokenizer, config.data.max_length, cache_dir,
                                              data.cache_key(splits, tokenizer, config.data.max_length))
    say(("Reused tokenized cache" if hit else "Tokenized") + f" in {time.time() - started:.1f} s.")
    runs.update_status(run_dir, phase="loading model", tokenize_cache="hit" if hit else "miss", device=device,
                       device_facts=presets.device_facts(device),
                       speed={k: speed[k] for k in ("precision", "attention", "optim", "compile", "pad_to_multiple_of")})
    if config.model.trust_remote_code:
        say("Warning: trust_remote_code is on; Python code shipped with the model runs in this process.")
    note = models.head_note(config.model, len(splits.label_names))
    if note:
        say(f"Model: {note}")
        runs.update_status(run_dir, model_note=note)
    rss_before = tuning.current_rss_mb()
    model = faults.apply_to_model(models.load_model(config.model, splits.label_names, config.training.seed,
                                                    attention=speed["attention"], multi_label=splits.multi_label))
    if config.model.lora:
        model = _with_adapters(model, config, run_dir)
    runs.update_status(run_dir, model_facts=model_facts(model))  # before training, so a crash still shows them
    plan = presets.batch_plan(config)
    if config.hardware.memory_preset in ("auto", "throughput") and device == "cuda":
        plan = tuning.fit_batch(config, run_dir, model, speed, say)
        args = training_arguments(config, run_dir, device, speed, plan)
    if plan.gradient_checkpointing and lora.is_adapted(model):
        model.enable_input_require_grads()  # checkpointed blocks need an input that carries a gradient
    runs.update_status(run_dir, batch={"per_device_train_batch_size": plan.per_device_train_batch_size,
                                       "gradient_accumulation_steps": plan.gradient_accumulation_steps,
                                       "gradient_checkpointing": plan.gradient_checkpointing})
    speed = tuning.unpad_or_say_why(config, model, device, speed, plan, say)
    tuning.write_estimate(config, run_dir, tokenized["train"], len(splits.label_names), plan, speed,
                          live_metrics_enabled())
    trainer = build_trainer(config, run_dir, device, args, model, tokenizer, tokenized, stop, speed, plan,
                            rss_before, class_weights=weights, say=say)
    faults.install(trainer)
    if lr_find:
        # heavy (imports transformers): the range test's schedule and callback live in the training child only
        from core.training.lr_find import run_range_test
        return run_range_test(trainer, run_dir, config.training.extra["max_steps"], stop, say)
    runs.update_status(run_dir, phase="training")
    trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    state = "stopped" if stop.stop_requested() else "completed"
    runs.update_status(run_dir, phase="saving")
    performance = tuning.performance_figures(trainer, len(tokenized["train"]))
    if splits.multi_label:
        # heavy (imports scikit-learn): the multi-label report lives in the training child only
        from core.training.multilabel_report import save_and_report_multilabel
        save_and_report_multilabel(trainer, tokenizer, tokenized["eval"], splits.label_names, run_dir, config,
                                   performance, say)
    else:
        # heavy (imports scikit-learn): the report lives in the training child only
        from core.training.single_label_report import save_and_report

        save_and_report(trainer, tokenizer, tokenized["eval"], splits.label_names, run_dir, performance, say)
    return state


def _with_adapters(model, config: RunConfig, run_dir: Path):
    """The model with LoRA adapters; the trainable share goes to the log and to status.json for Live run."""
    modules = {"target_modules": sorted(lora.attention_projections(model)), "modules_to_save": lora.head_modules(model)}
    model = lora.add_adapters(model, config.model)
    share = lora.trainable_share(model)
    say(f"LoRA rank {config.model.lora_rank} on {', '.join(modules['target_modules'])} (head trained in full): "
        f"{share['trainable_parameters']:,} of {share['total_parameters']:,} parameters train ({share['share']:.2%}).")
    # The modules it adapted are recorded, so reproduce.py adapts the same ones.
    runs.update_status(run_dir, lora={**share, "rank": config.model.lora_rank, **modules})
    return model


def _preflight(config: RunConfig, run_dir: Path) -> None:
    """The New run page's pre-flight checks, for CLI runs too: errors stop here, the rest goes to the log."""
    findings = preflight.preflight(config, run_dir.resolve().parent, presets.available_devices())
    runs.update_status(run_dir, preflight=[f.to_dict() for f in findings])
    for finding in findings:
        if finding.severity == "error":
            raise UserError(f"{finding.evidence} {finding.fix}", code=finding.code)
        say(f"Pre-flight {finding.severity}: {finding.title}. {finding.evidence} {finding.fix}")


def _quiet_progress_bars() -> None:
    """Progress bars are noise in train.log; the dashboard shows progress from status.json."""
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()


if __name__ == "__main__":
    sys.exit(main())
