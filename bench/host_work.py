"""Per-step host work at tweet lengths, and the max-throughput preset: variants of the fast preset through the
app's own child (bench/throughput.py's run_config), side by side in one call, optionally from two checkouts
(`--base-tree`: the same rows from another checkout's code, for a before/after in the same call).

  python bench/host_work.py [--base-tree DIR] [--only NAME...] [--out FILE] [--copy-to DIR]

BERT-base-sized random model, tweet-like lengths, batch 64, torch.compile on (CUDA graphs), 800 steps, no
evaluation: the issue's tweet-like fast row. `--set unpad`: the IMDB-like fast row (300 steps) padded against
unpadded; `--set unpad-accuracy`: pretrained MiniLM-L6 on real tweets, padded against unpadded, same seed;
`--set step-graphs-accuracy`: the same with compile's CUDA graphs against whole-step graphs. Each row shows the
steady-state samples/s, MFU (bench/throughput.py), the final training loss (same seed: a change that only saves
host work leaves it as it was) and the wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import throughput  # noqa: E402

# Runs one config through the throughput bench of the checkout named by argv[1]; prints the result as JSON.
RUN_ONE = """
import json, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from bench import throughput
from core.rundir import runs
name, config, workdir, env = sys.argv[2], json.loads(sys.argv[3]), Path(sys.argv[4]), json.loads(sys.argv[5])
result = throughput.run_config(name, config, workdir, env, imdb_like=sys.argv[6] == "imdb-like")
trains = [r for r in runs.read_metrics(workdir / name) if r["type"] == "train"] if not result.get("failed") else []
result["final_loss"] = trains[-1].get("loss") if trains else None
result["final_metrics"] = (runs.read_json(workdir / name / "results.json", {}) or {}).get("final_metrics", {})
result.pop("status", None)
print("RESULT " + json.dumps(result, default=str))
"""


# Accuracy pairs: the pretrained MiniLM-L6 on real tweets, the same seed, with and without a change.
MINILM_TWEETS = {"data": {"name": "tweet-sentiment", "train_size": 8000, "eval_size": 1000, "max_length": 128},
                 "model": {"name": "minilm-l6"}, "hardware": {"device": "cuda"},
                 "training": {"num_train_epochs": 2, "per_device_train_batch_size": 32, "learning_rate": 1e-4,
                              "logging_steps": 10, "eval_strategy": "epoch", "seed": 42}}


def variants(which: str) -> list[tuple[str, str, dict, dict]]:
    """(name, tree: 'base' or 'here', config, environment)."""
    if which == "unpad":
        imdb = throughput.gpu_config(throughput.IMDB, 300, {"compile": "on"})
        hardware = imdb["hardware"]
        return [("IMDB-like fast, padded (unpad off)", "here", {**imdb, "hardware": {**hardware, "unpad": "off"}}, {}),
                ("IMDB-like fast, unpadded (the default)", "here", imdb, {}),
                ("IMDB-like fast, unpadded, random batches", "here",
                 {**imdb, "training": {**imdb["training"], "train_sampling_strategy": "random"}}, {}),
                ("IMDB-like fast, unpadded, whole-step graphs", "here", imdb, {"DASHBOARD_UNPAD_GRAPHS": "1"}),
                ("IMDB-like fast, unpadded, no loader workers", "here",
                 {**imdb, "training": {**imdb["training"], "dataloader_num_workers": 0,
                                       "dataloader_persistent_workers": False, "dataloader_prefetch_factor": None}},
                 {}),
                ("IMDB-like fast, unpadded, compile off", "here", {**imdb, "hardware": {**hardware, "compile": "off"}},
                 {})]
    if which == "unpad-accuracy":
        return [("MiniLM-L6 tweets, padded", "here",
                 {**MINILM_TWEETS, "hardware": {"device": "cuda", "unpad": "off"}}, {}),
                ("MiniLM-L6 tweets, unpadded", "here", {**MINILM_TWEETS, "hardware": {"device": "cuda", "unpad": "on"}},
                 {})]
    if which == "step-graphs-accuracy":
        compiled = {**MINILM_TWEETS, "hardware": {"device": "cuda", "compile": "on"}}
        return [("MiniLM-L6 tweets, compiled, compile's CUDA graphs", "here", compiled, {"DASHBOARD_STEP_GRAPHS": "0"}),
                ("MiniLM-L6 tweets, compiled, whole-step graphs", "here", compiled, {"DASHBOARD_STEP_GRAPHS": "1"})]
    if which == "accuracy":
        throughput_preset = {**MINILM_TWEETS, "hardware": {"device": "cuda", "memory_preset": "throughput"}}
        return [("MiniLM-L6 tweets, base code", "base", MINILM_TWEETS, {}),
                ("MiniLM-L6 tweets", "here", MINILM_TWEETS, {}),
                ("MiniLM-L6 tweets, max throughput", "here", throughput_preset, {})]
    fast = throughput.gpu_config(throughput.TWEETS, 800, {"compile": "on"})
    # Batches made in two worker processes (the padding meter then counts in them: no tokens/s or MFU in the row).
    workers = {**fast, "training": {**fast["training"], "dataloader_num_workers": 2,
                                    "dataloader_persistent_workers": True, "dataloader_prefetch_factor": 4}}
    short = {**fast, "training": {**fast["training"], "max_steps": 400}}
    return [("base fast", "base", fast, {}),
            ("fast", "here", fast, {}),
            ("fast, profiled", "here", fast, {"DASHBOARD_PROFILE": "400:5"}),
            ("fast, no pinned batches", "here", {**fast, "training": {**fast["training"],
                                                                      "dataloader_pin_memory": False}}, {}),
            ("fast, logging every 10 steps (the default)", "here",
             {**fast, "training": {**fast["training"], "logging_steps": 10}}, {}),
            ("fast, max throughput", "here", {**fast, "hardware": {**fast["hardware"], "memory_preset": "throughput"}},
             {}),
            ("fast, 2 loader workers", "here", workers, {}),
            ("fast, 2 loader workers, no module guards", "here", workers, {"DASHBOARD_MODULE_GUARDS": "0"}),
            ("fast, no module guards", "here", fast, {"DASHBOARD_MODULE_GUARDS": "0"}),
            ("fast, whole-step graphs", "here", fast, {"DASHBOARD_STEP_GRAPHS": "1"}),
            ("fast, compile's CUDA graphs", "here", fast, {"DASHBOARD_STEP_GRAPHS": "0"}),
            ("fast, compile's CUDA graphs, 400 steps", "here", short, {"DASHBOARD_STEP_GRAPHS": "0"}),
            ("fast, whole-step graphs, 400 steps", "here", short, {"DASHBOARD_STEP_GRAPHS": "1"}),
            ("fast, long (sampled by py-spy)", "here",
             {**fast, "training": {**fast["training"], "max_steps": 3000}}, {})]


def run_variant(tree: Path, name: str, config: dict, env: dict, workdir: Path) -> dict:
    slug = name.replace(" ", "-").replace(",", "").replace("(", "").replace(")", "")
    lengths = "imdb-like" if name.startswith("IMDB-like") else "as is"
    done = subprocess.run([sys.executable, "-c", RUN_ONE, str(tree), slug, json.dumps(config), str(workdir),
                           json.dumps(env), lengths], capture_output=True, text=True, env={**os.environ})
    line = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")]
    if not line:
        print(done.stdout[-2000:], done.stderr[-2000:], file=sys.stderr)
        return {"name": name, "failed": True}
    return {**json.loads(line[-1][len("RESULT "):]), "name": name, "slug": slug}


def row(result: dict, batch: str) -> str:
    if result.get("failed"):
        return f"| {result['name']} | failed | | | | | | |"
    perf, final = result["performance"], result.get("final_metrics") or {}
    loss = result.get("final_loss")
    evaluated = (f"{final['loss']:.4f} / {final['accuracy']:.4f}" if "accuracy" in final and "loss" in final
                 else "")
    return (f"| {result['name']} | {perf.get('samples_per_second', 0):.0f} | {throughput.mfu(result) * 100:.1f}% | "
            f"{batch} | {perf.get('peak_memory_mb', 0):.0f} | {loss if loss is None else round(loss, 4)} | "
            f"{evaluated} | {result['wall_s']:.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-tree", type=Path, default=None, help="checkout for the 'base' rows (else skipped)")
    parser.add_argument("--only", nargs="*", default=[])
    parser.add_argument("--set", default="host", choices=("host", "accuracy", "unpad", "unpad-accuracy",
                                                                "step-graphs-accuracy"))
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--copy-to", type=Path, default=None, help="copy each run's profile.txt and train.log here")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-host-"))
    lines = ["| variant | samples/s | MFU | batch | peak memory (MB) | final train loss | eval loss / accuracy | "
             "wall (s) |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, tree, config, env in variants(args.set):
        if (args.only and name not in args.only) or (tree == "base" and args.base_tree is None):
            continue
        result = run_variant(args.base_tree if tree == "base" else ROOT, name, config, env, workdir)
        status = json.loads((workdir / result.get("slug", "-") / "status.json").read_text()) \
            if (workdir / result.get("slug", "-") / "status.json").exists() else {}
        batch = status.get("batch", {}).get("per_device_train_batch_size", "")
        lines.append(row(result, str(batch)))
        print(lines[-1], json.dumps(status.get("batch_fit", {})), flush=True)
        if args.copy_to and result.get("slug"):
            for file in ("profile.txt", "train.log"):
                if (workdir / result["slug"] / file).exists():
                    shutil.copy(workdir / result["slug"] / file, args.copy_to / f"{result['slug']}.{file}")
            if result.get("failed") and (workdir / f"{result['slug']}.log").exists():  # the child's own output
                shutil.copy(workdir / f"{result['slug']}.log", args.copy_to / f"{result['slug']}.child.log")
    print("\n".join(lines))
    if args.out:
        with open(args.out, "a", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n\n")


if __name__ == "__main__":
    main()
