"""ONNX for serving (issue 17): predictions per second of PyTorch eager, ONNX Runtime fp32 and ONNX Runtime int8,
side by side in one process, at batch 1 and batch 32, with each one's accuracy on the run's eval subset.

  python bench/onnx_speed.py [--run-dir RUN_DIR] [--train-size 1000] [--epochs 1] [--rounds 5]

Without --run-dir it first trains a short default-like MiniLM-L6 run (the New run defaults with fewer rows and
one epoch) through `python -m core.train`. The export and its accuracy figures come from the same code as
`python -m core.runs export --onnx --quantize` (core/runner/onnx_export.py).

Timing: neither runtime busy-waits (OMP_WAIT_POLICY=PASSIVE, ONNX Runtime's spinning off). The eval texts are tokenized once (padded per batch, as served), then each round runs every engine over
the same batches, the engines' order rotated each round so a neighbour's load on this shared machine falls on
all of them alike; each engine's figure is its median over the rounds. Both runtimes get the same thread count.
Prints a Markdown section for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# Neither runtime busy-waits for work: on a shared machine a spinning thread pool stalls whoever it waits on
# (PyTorch at batch 1 fell to 1 prediction/s with OpenMP spinning, under a load of 13 on 2 cores).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from core.rundir.layout import OnnxDir, RunDir  # noqa: E402
from core.runner import onnx_export  # noqa: E402
from core.training import onnx_model  # noqa: E402

ENGINES = ("pytorch", "onnx fp32", "onnx int8")


def train_run(args, work: Path) -> Path:
    config = {"name": "onnx bench", "data": {"name": "tweet-sentiment", "train_size": args.train_size,
                                             "eval_size": args.eval_size},
              "model": {"name": "minilm-l6"}, "hardware": {"device": "cpu"},
              "training": {"num_train_epochs": args.epochs, "eval_strategy": "no", "load_best_model_at_end": False}}
    (work / "config.json").write_text(json.dumps(config))
    run_dir = work / "runs" / "minilm"
    started = time.time()
    subprocess.run([sys.executable, "-m", "core.train", "--config", str(work / "config.json"), "--run-dir",
                    str(run_dir)], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    print(f"trained {run_dir} in {time.time() - started:.0f} s", file=sys.stderr)
    return run_dir


def engines(run_dir: Path, folder: Path, threads: int) -> dict:
    """name -> a function running one pre-tokenized batch."""
    import onnxruntime
    import torch
    from transformers import AutoModelForSequenceClassification

    torch.set_num_threads(threads)
    model = AutoModelForSequenceClassification.from_pretrained(str(RunDir(run_dir).model)).eval()

    def pytorch(batch):
        with torch.inference_mode():
            return model(**{k: torch.from_numpy(v) for k, v in batch.items()}).logits

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    sessions = {name: onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
                for name, path in (("onnx fp32", OnnxDir(folder).model), ("onnx int8", OnnxDir(folder).int8_model))}
    runners = {"pytorch": pytorch}
    for name, session in sessions.items():
        runners[name] = lambda batch, s=session: s.run(["logits"], batch)
    return runners


def batches(folder: Path, texts: list[str], size: int, max_length: int) -> list[dict]:
    encoder = onnx_model.OnnxClassifier(folder)
    return [encoder.encode(texts[i:i + size], max_length=max_length) for i in range(0, len(texts), size)]


def measure(runners: dict, work: list[dict], texts_per_round: int, rounds: int) -> dict[str, float]:
    """Median predictions per second of each engine over `rounds` rounds, order rotated per round."""
    for run in runners.values():  # warm-up: first-call allocations and kernel selection
        run(work[0])
    rates: dict[str, list[float]] = {name: [] for name in runners}
    names = list(runners)
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            started = time.perf_counter()
            for batch in work:
                runners[name](batch)
            rates[name].append(texts_per_round / (time.perf_counter() - started))
    return {name: statistics.median(values) for name, values in rates.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", default=None, help="a finished MiniLM-L6 run (default: train one)")
    parser.add_argument("--train-size", type=int, default=1000)
    parser.add_argument("--eval-size", type=int, default=500)
    parser.add_argument("--epochs", type=float, default=1)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch1-texts", type=int, default=128, help="texts per round at batch 1")
    args = parser.parse_args()
    import torch

    work = Path(tempfile.mkdtemp(prefix="onnx-bench-"))
    run_dir = Path(args.run_dir) if args.run_dir else train_run(args, work)
    folder = work / "onnx"
    started = time.time()
    check = onnx_export.write_onnx(run_dir, folder, quantize=True)
    export_s = time.time() - started
    texts, _, _, max_length = onnx_export.eval_subset(run_dir)
    threads = torch.get_num_threads()
    runners = engines(run_dir, folder, threads)
    rates = {1: measure(runners, batches(folder, texts[:args.batch1_texts], 1, max_length), args.batch1_texts,
                        args.rounds),
             32: measure(runners, batches(folder, texts, 32, max_length), len(texts), args.rounds)}
    report(args, check, rates, threads, export_s, len(texts))
    return 0 if check["passed"] else 1


def report(args, check: dict, rates: dict, threads: int, export_s: float, eval_texts: int) -> None:
    import onnxruntime
    import torch
    import transformers

    accuracy = {"pytorch": check["pytorch"]["accuracy"], "onnx fp32": check["fp32"]["accuracy"],
                "onnx int8": check["int8"]["accuracy"]}
    print(f"- Date: {time.strftime('%Y-%m-%d')}; machine: {platform.machine()}, {threads} threads for each runtime")
    print(f"- Software: torch {torch.__version__}, onnxruntime {onnxruntime.__version__}, "
          f"transformers {transformers.__version__}")
    print(f"- Command: `python bench/onnx_speed.py --train-size {args.train_size} --epochs {args.epochs} "
          f"--rounds {args.rounds}`; export and check took {export_s:.0f} s")
    print(f"- Check: fp32 largest logit difference {check['fp32']['max_logit_diff']:.1e}; int8 gives PyTorch's "
          f"label on {check['int8']['agreement']:.1%} of {eval_texts} eval texts\n")
    print("| engine | batch 1 (pred/s) | ratio | batch 32 (pred/s) | ratio | eval accuracy |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name in ENGINES:
        print(f"| {name} | {rates[1][name]:.1f} | {rates[1][name] / rates[1]['pytorch']:.2f}x | "
              f"{rates[32][name]:.1f} | {rates[32][name] / rates[32]['pytorch']:.2f}x | {accuracy[name]:.1%} |")


if __name__ == "__main__":
    sys.exit(main())
