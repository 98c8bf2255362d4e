"""Peak memory of `python -m core.predict` on files of growing length: does it stay flat?

  python bench/predict_file.py                      # tiny-random, 10k and 100k tweet rows, CSV and Parquet
  python bench/predict_file.py --model runs/<id>/model --rows 10000 100000

Each size runs the real command line in a child process (the dashboard's own entry point) and reads the child's
peak resident memory (ru_maxrss) and wall time. The input rows are tweets of the built-in data set, repeated to
the length asked for, with their labels, so the evaluation on new data runs too. Without --model a tiny random
BERT is saved once (no training: memory does not depend on the weights' values). Copy the printed table into
bench/RESULTS.md with the machine, date and command.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def tiny_model(folder: Path) -> Path:
    """A tiny random BERT with the tweets' three labels and MiniLM's tokenizer, saved as a run's model/ would be."""
    from core.config.schema import ModelConfig
    from core.training import models

    config = ModelConfig(source="builtin", name="tiny-random")
    models.load_model(config, ["negative", "neutral", "positive"], seed=0).save_pretrained(folder)
    models.load_tokenizer(config).save_pretrained(folder)
    return folder


def input_file(folder: Path, rows: int, kind: str) -> Path:
    from core.data.splits import load_tweet_sentiment

    tweets = load_tweet_sentiment()
    repeats = -(-rows // len(tweets))
    import pandas as pd

    frame = pd.concat([tweets] * repeats, ignore_index=True).iloc[:rows]
    path = folder / f"tweets-{rows}.{kind}"
    frame.to_parquet(path) if kind == "parquet" else frame.to_csv(path, index=False)
    return path


def measure(model: Path, source: Path, out: Path, batch_size: int, threads: int | None) -> dict:
    """Run the CLI in a fresh child; its peak RSS is the largest among children waited for so far, so each
    measurement runs in its own wrapper process."""
    wrapper = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]).returncode; "
               "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(r)")
    command = [sys.executable, "-c", wrapper, sys.executable, "-m", "core.predict", "--model", str(model),
               "--input", str(source), "--output", str(out), "--batch-size", str(batch_size)]
    started = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
                                 **({"OMP_NUM_THREADS": str(threads)} if threads else {})})
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(result.stderr[-2000:])
    return {"peak_rss_mb": int(result.stdout.strip().splitlines()[-1]) / 1024, "wall_s": wall,
            "input_mb": source.stat().st_size / 2**20, "output_mb": out.stat().st_size / 2**20}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="a saved model folder (default: a tiny random BERT)")
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--formats", nargs="+", default=["csv", "parquet"], choices=["csv", "parquet"])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=None,
                        help="OMP_NUM_THREADS for the child: on a machine shared with other busy processes, PyTorch's "
                             "threads wait on each other and 1 thread can be 10x faster (measured on the 2-core box)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model = Path(args.model) if args.model else tiny_model(folder / "model")
        print(f"{platform.node()} {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
              f"model {model.name if args.model else 'tiny-random'}, batch {args.batch_size}, "
              f"threads {args.threads or 'default'}; "
              f"resource.getrusage ru_maxrss of the child")
        print("| rows | format | input MB | output MB | peak RSS MB | wall s | rows/s |\n| --- | --- | --- | --- | --- | --- | --- |")
        for kind in args.formats:
            for rows in args.rows:
                figures = measure(model, input_file(folder, rows, kind), folder / "out.csv", args.batch_size,
                                  args.threads)
                print(f"| {rows:,} | {kind} | {figures['input_mb']:.1f} | {figures['output_mb']:.1f} | "
                      f"{figures['peak_rss_mb']:.0f} | {figures['wall_s']:.0f} | {rows / figures['wall_s']:.0f} |",
                      flush=True)


if __name__ == "__main__":
    main()
