"""Unequal classes (issue 16): class weights `balanced` against `none`, side by side with the same seed.

  python bench/imbalance.py [--seeds 42] [--rare 15] [--epochs 3] [--arms none balanced oversample]

The built-in tweets cut to a 20:1 ratio between the largest and the smallest class: a training file of 300
negative, 200 neutral and 15 positive tweets (--rare sets the 15; the largest is always 20x it), drawn with the
seed, and an eval file of 100 tweets per class, disjoint from it, so the rare class's recall is measured on 100
texts, not on 5. MiniLM-L6 on CPU, max length 48, 3 epochs, the default learning rate, no evaluation during training
and the last model evaluated once (no best-model pick, so only the loss differs between the arms). Each seed trains every arm on the same rows with the same
training seed. Prints a Markdown section for bench/RESULTS.md: macro F1, weighted F1, accuracy and each class's
recall per arm.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from core.config.schema import RunConfig  # noqa: E402
from core.data.splits import load_tweet_sentiment  # noqa: E402
from core.rundir import runs  # noqa: E402
from core.rundir.layout import RunDir  # noqa: E402

RARE = "positive"
EVAL_PER_CLASS = 100


def write_data(folder: Path, rare: int, seed: int) -> tuple[Path, Path]:
    """train.csv (20:1 between negative and positive, neutral in between) and eval.csv (100 per class), disjoint."""
    tweets = load_tweet_sentiment()
    tweets["text"] = tweets["text"].str.split().str.join(" ")  # one line per tweet in the CSV
    tweets = tweets[tweets["text"].str.len() > 0].drop_duplicates("text")
    wanted = {"negative": 20 * rare, "neutral": round(40 * rare / 3), RARE: rare}
    train_parts, eval_parts = [], []
    for label, count in wanted.items():
        rows = tweets[tweets["label"] == label].sample(n=count + EVAL_PER_CLASS, random_state=seed)
        train_parts.append(rows.iloc[:count])
        eval_parts.append(rows.iloc[count:])
    import pandas as pd

    paths = folder / f"train-{seed}.csv", folder / f"eval-{seed}.csv"
    for path, parts in zip(paths, (train_parts, eval_parts)):
        pd.concat(parts).sample(frac=1.0, random_state=seed).to_csv(path, index=False)
    return paths


def config(train_csv: Path, eval_csv: Path, train_rows: int, seed: int, epochs: float, **change) -> dict:
    data = {"source": "file", "path": str(train_csv), "eval_path": str(eval_csv), "text_column": "text",
            "label_column": "label", "train_size": train_rows, "eval_size": 3 * EVAL_PER_CLASS, "max_length": 48,
            "seed": seed}
    # No evaluation during training and no checkpoints: the saved (last) model is evaluated once at the end.
    training = {"num_train_epochs": epochs, "eval_strategy": "no", "logging_steps": 5, "seed": seed,
                "load_best_model_at_end": False, "save_strategy": "no"}
    for dotted, value in change.items():
        section, key = dotted.split("__")
        (data if section == "data" else training)[key] = value
    return {"name": "imbalance", "data": data, "model": {"name": "minilm-l6"}, "hardware": {"device": "cpu"},
            "training": training}


def train_one(raw: dict, run_dir: Path) -> dict:
    """Train in this process (torch is imported once) and return the saved model's final report."""
    from core.training import train

    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    started = time.time()
    try:
        code = train.run(RunConfig.from_dict(raw), run_dir, run_dir.parent / ".cache")
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
    if code != 0:
        raise SystemExit(f"{run_dir} failed: {runs.read_status(run_dir).get('error')}")
    results = runs.read_json(RunDir(run_dir).results)
    dataset = runs.read_json(RunDir(run_dir).dataset)
    recall = {row["label"]: row["recall"] for row in results["per_class"]}
    return {**results["final_metrics"], "recall": recall, "seconds": time.time() - started,
            "weights": dataset.get("class_weights"), "train_size": dataset["train_size"]}


ARMS = {"none": {}, "balanced": {"training__class_weights": "balanced"}, "oversample": {"data__oversample": True}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[42])
    parser.add_argument("--rare", type=int, default=15, help="training tweets of the rare class (positive)")
    parser.add_argument("--epochs", type=float, default=3)
    parser.add_argument("--arms", nargs="+", choices=list(ARMS), default=["none", "balanced"],
                        help="oversample: data.oversample instead of class weights")
    args = parser.parse_args()
    arms = args.arms
    rows = []
    with tempfile.TemporaryDirectory(prefix="imbalance-") as tmp:
        folder = Path(tmp)
        for seed in args.seeds:
            train_csv, eval_csv = write_data(folder, args.rare, seed)
            train_rows = 20 * args.rare + round(40 * args.rare / 3) + args.rare
            for arm in arms:
                raw = config(train_csv, eval_csv, train_rows, seed, args.epochs, **ARMS[arm])
                result = train_one(raw, folder / "runs" / f"{arm}-{seed}")
                rows.append((seed, arm, result))
                print(f"seed {seed} {arm}: macro F1 {result['f1_macro']:.4f}, {RARE} recall "
                      f"{result['recall'][RARE]:.4f} ({result['seconds']:.0f} s)", flush=True)
    print(report(args, rows))
    return 0


def report(args, rows) -> str:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    neutral = round(40 * args.rare / 3)
    lines = ["## Unequal classes: class weights balanced against none (issue 16)", "",
             f"Machine: {platform.node() or 'vm'}, {os.cpu_count()} CPU cores, {platform.machine()}, load average "
             f"{load} at the end (shared with other work). Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
             f"Command: `python bench/imbalance.py --seeds {' '.join(map(str, args.seeds))} --rare {args.rare} "
             f"--epochs {args.epochs:g} --arms {' '.join(args.arms)}` (MiniLM-L6, CPU, training "
             f"tweets {20 * args.rare} negative / {neutral} neutral / {args.rare} positive (20:1), eval "
             f"{EVAL_PER_CLASS} per class, max length 48, {args.epochs:g} epochs, batch 16, lr 1e-4, the last model "
             "evaluated).", "",
             "| seed | setting | macro F1 | weighted F1 | accuracy | recall positive (rare) | recall neutral "
             "| recall negative | training rows | weights used | train time |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for seed, arm, r in rows:
        weights = ", ".join(f"{k} {v:.2f}" for k, v in (r["weights"] or {}).items()) or "–"
        lines.append(f"| {seed} | {arm} | {r['f1_macro']:.4f} | {r['f1']:.4f} | {r['accuracy']:.4f} | "
                     f"{r['recall'][RARE]:.4f} | {r['recall']['neutral']:.4f} | {r['recall']['negative']:.4f} | "
                     f"{r['train_size']} | {weights} | {r['seconds']:.0f} s |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
