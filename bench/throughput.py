"""Training throughput of the dashboard's own training path (`python -m core.train`), side by side in one run.

  python bench/throughput.py            # CPU: MiniLM-L6 on tweets (about 15 minutes on 2 busy cores)
  python bench/throughput.py --gpu      # one CUDA GPU: BERT-base-sized random model (under 8 minutes on an H100)
  options: --out FILE (write the Markdown section there instead of appending to bench/RESULTS.md), --only NAME...

CPU rows: the app's default CPU preset; the seed's CPU preset (padded to 512, batch 8 x accumulation 2, fp32,
random batches); a plain Trainer script with dynamic padding at batch 32 (bench/plain_trainer.py); the app's
preset with the live metrics callback off (DASHBOARD_LIVE_METRICS=0, the dashboard's overhead); the time from
Start to the first training step with a warm tokenization cache.
GPU rows, on IMDB-like lengths (BBC News text cut to a log-normal length of mean ~300 tokens, truncated at
512) and tweet-like lengths (~33 tokens): the app's fast preset (bf16, SDPA, fused AdamW, torch.compile,
lengths bucketed to 64, grouped by length), each memory preset (compile off so they compare with standard),
and the seed's default (fp32, padded to 512, batch 16, eager attention, random batches).
Samples/s and real (non-pad) tokens/s are steady-state figures from core.training.performance.PerformanceMeter, the
peak memory is CUDA's peak allocation (on CPU the growth of peak RSS from the model load), and MFU is
tokens/s x (6 N_non-embedding + 12 layers hidden seq) / 989e12 (H100 dense bf16), seq the mean real length.
Each run's memory estimate (core/plan/estimate.py, written by the child to estimate.json) is shown next to it.
The child must not import plotly or streamlit: this runs on a GPU box that has neither.
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

H100_PEAK_FLOPS = 989e12
NO_EVAL = {"eval_strategy": "no", "load_best_model_at_end": False, "save_strategy": "no"}


def imdb_like_frame(rows: int = 8000, seed: int = 0, median_words: int = 205, sigma: float = 0.75):
    """BBC News text cut to IMDB review lengths: log-normal word counts (mean ~300 tokens after the 512 cut)."""
    import numpy as np
    import pandas as pd

    from core.data import splits as data

    bbc = data.load_bbc_news()  # not load_frame: the child points the "bbc-news" loader at this function
    words = " ".join(bbc.text).split()
    rng = np.random.default_rng(seed)
    counts = np.minimum(rng.lognormal(np.log(median_words), sigma, rows).astype(int) + 5, 1500)
    starts = rng.integers(0, len(words) - 1600, rows)
    labels = rng.choice(sorted(bbc.label.unique()), rows)
    return pd.DataFrame({"text": [" ".join(words[s:s + c]) for s, c in zip(starts, counts)], "label": labels})


def child(argv: list[str]) -> int:
    """Inside the training child: optionally swap the data set for IMDB-like lengths, then core.training.train.main."""
    from core.data import splits as data
    from core.training import train

    if "--imdb-like" in argv:
        argv.remove("--imdb-like")
        data.BUILTIN_LOADERS["bbc-news"] = imdb_like_frame
    return train.main(argv)


def run_config(name: str, config: dict, workdir: Path, env: dict | None = None, imdb_like: bool = False) -> dict:
    """One real run through the training child; returns its measured figures, estimate and timings."""
    run_dir = workdir / name
    config_path = workdir / f"{name}.json"
    config_path.write_text(json.dumps({"name": name, **config}))
    cache = workdir / ("cache-imdb" if imdb_like else "cache")
    command = [sys.executable, str(Path(__file__).resolve()), "--child", "--config", str(config_path),
               "--run-dir", str(run_dir), "--cache-dir", str(cache)] + (["--imdb-like"] if imdb_like else [])
    started = time.time()
    with open(workdir / f"{name}.log", "w") as log:
        done = subprocess.run(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                              env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "TOKENIZERS_PARALLELISM": "false",
                                   **(env or {})})
    from core.rundir import runs

    status = runs.read_status(run_dir)
    if done.returncode != 0:
        tail = runs.read_log_tail(run_dir) or (workdir / f"{name}.log").read_text()[-3000:]
        print(f"{name}: FAILED ({status.get('error')})\n{tail[-1500:]}", file=sys.stderr, flush=True)
        return {"name": name, "failed": True}
    results = runs.read_json(run_dir / "results.json", {}) or {}
    trains = [r for r in runs.read_metrics(run_dir) if r["type"] == "train"]
    return {"name": name, "performance": results.get("performance", {}), "status": status,
            "estimate": runs.read_json(run_dir / "estimate.json", {}) or {}, "wall_s": time.time() - started,
            "first_step_s": trains[0]["time"] - started if trains else None,
            "train_begin_s": ((status.get("progress") or {}).get("train_started_at") or started) - started}


# --- CPU --------------------------------------------------------------------------------------------------

def cpu_configs(rows: int) -> dict[str, tuple[dict, dict]]:
    data = {"name": "tweet-sentiment", "train_size": rows, "eval_size": 50}
    app = {"data": data, "hardware": {"device": "cpu"}, "training": {"num_train_epochs": 1, **NO_EVAL}}
    seed = {"data": {**data, "max_length": 512},
            "hardware": {"device": "cpu", "speed": "plain", "pad_to_multiple_of": 512},
            "training": {"per_device_train_batch_size": 8, "gradient_accumulation_steps": 2,
                         "per_device_eval_batch_size": 16, "train_sampling_strategy": "random",
                         "max_steps": 5, **NO_EVAL}}
    return {"app": (app, {}), "app-no-live-metrics": (app, {"DASHBOARD_LIVE_METRICS": "0"}), "seed": (seed, {})}


def plain_script(rows: int) -> dict:
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "plain_trainer.py"), "--rows", str(rows),
                           "--batch", "32"], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"})
    line = [x for x in done.stdout.splitlines() if x.startswith('{"plain"')]
    if not line:
        print(done.stdout[-1500:], done.stderr[-1500:], file=sys.stderr)
        return {"name": "plain", "failed": True}
    return {"name": "plain", "performance": json.loads(line[-1])["plain"], "estimate": {}}


def cpu_mode(workdir: Path, rows: int, rounds: int) -> list[str]:
    configs = cpu_configs(rows)
    run_config("warm-cache", configs["app"][0], workdir)  # every timed run reads the same cached tokens
    by_name: dict[str, list[dict]] = {}
    for round_ in range(rounds):  # interleaved rounds, so a load change on the shared machine hits all alike
        for name, (config, env) in configs.items():
            if name == "seed" and round_ > 0:
                continue  # one window of the slow seed preset is enough for a 20x ratio
            by_name.setdefault(name, []).append(run_config(f"{name}-{round_}", config, workdir, env))
            print(f"{name} round {round_}: {_sps(by_name[name][-1]):.2f} samples/s", flush=True)
        by_name.setdefault("plain", []).append(plain_script(rows))
        print(f"plain round {round_}: {_sps(by_name['plain'][-1]):.2f} samples/s", flush=True)
    return cpu_table(by_name)


def _sps(result: dict) -> float:
    return float(result.get("performance", {}).get("samples_per_second") or 0.0)


def _median(results: list[dict], key: str) -> float:
    values = [float(r["performance"][key]) for r in results if r.get("performance", {}).get(key)]
    return statistics.median(values) if values else 0.0


def cpu_table(by_name: dict[str, list[dict]]) -> list[str]:
    app, seed, plain = (_median(by_name[k], "samples_per_second") for k in ("app", "seed", "plain"))
    quiet = _median(by_name["app-no-live-metrics"], "samples_per_second")
    rows = ["| configuration | training samples/s (median of runs) | ratio | peak memory: estimate / measured (MB) |",
            "| --- | --- | --- | --- |"]
    for label, key, value, ratio in (
            ("app default CPU preset (batch 16, dynamic padding, grouped by length, 2 threads)", "app", app, ""),
            ("seed CPU preset (pad 512, batch 8 x 2, random order)", "seed", seed,
             f"app / seed = {app / seed:.1f}x" if seed else ""),
            ("plain Trainer script (dynamic padding, batch 32)", "plain", plain,
             f"app / plain = {app / plain:.2f}x" if plain else ""),
            ("app preset without the live metrics callback", "app-no-live-metrics", quiet,
             f"overhead of the live metrics = {(quiet / app - 1) * 100:+.1f}%" if app else "")):
        rows.append(f"| {label} | {value:.2f} ({len(by_name[key])} runs) | {ratio} | {_memory_cell(by_name[key])} |")
    firsts = [r["first_step_s"] for r in by_name["app"] if r.get("first_step_s")]
    begins = [r["train_begin_s"] for r in by_name["app"] if r.get("train_begin_s")]
    if firsts:
        rows.append(f"| Start to training begin / to the end of the first step, warm cache (s) | "
                    f"{statistics.median(begins):.1f} / {statistics.median(firsts):.1f} | | |")
    return rows


def _memory_cell(results: list[dict]) -> str:
    pairs = [(r["estimate"].get("memory", {}).get("total_mb"), r["performance"].get("peak_memory_mb"))
             for r in results if not r.get("failed")]
    pairs = [(e, m) for e, m in pairs if m]
    if not pairs:
        return ""
    estimate_mb, measured = pairs[-1]
    if not estimate_mb:
        return f"– / {measured:.0f}"
    return f"{estimate_mb:.0f} / {measured:.0f} ({(estimate_mb / measured - 1) * 100:+.0f}%)"


# --- memory presets (both modes) ---------------------------------------------------------------------------

def preset_rows(results: dict[str, dict], device: str) -> tuple[list[str], dict]:
    """Peak memory and samples/s of each memory preset relative to standard, as a table and as data."""
    standard = results.get("standard", {}).get("performance", {})
    rows = ["| memory preset | batch x accumulation | samples/s | x standard | peak memory (MB) | x standard |",
            "| --- | --- | --- | --- | --- | --- |"]
    measured = {}
    for preset, result in results.items():
        perf = result.get("performance", {})
        if not perf.get("samples_per_second") or not standard.get("samples_per_second"):
            rows.append(f"| {preset} | failed or not measured | | | | |")
            continue
        batch = result["status"].get("batch", {})
        speed = perf["samples_per_second"] / standard["samples_per_second"]
        memory = perf["peak_memory_mb"] / standard["peak_memory_mb"] if standard.get("peak_memory_mb") else 0
        measured[preset] = {"samples_per_second_x": round(speed, 2), "peak_memory_x": round(memory, 2),
                            "samples_per_second": perf["samples_per_second"], "peak_memory_mb": perf["peak_memory_mb"],
                            "batch": f"{batch.get('per_device_train_batch_size')} x "
                                     f"{batch.get('gradient_accumulation_steps')}"}
        rows.append(f"| {preset} | {measured[preset]['batch']} | {perf['samples_per_second']:.1f} | {speed:.2f}x | "
                    f"{perf['peak_memory_mb']:.0f} | {memory:.2f}x |")
    return rows, {"device": device, "presets": measured}


def cpu_presets(workdir: Path, rows: int) -> tuple[list[str], dict]:
    app = cpu_configs(rows)["app"][0]
    results = {preset: run_config(f"preset-{preset}", {**app, "hardware": {"device": "cpu", "memory_preset": preset}},
                                  workdir) for preset in ("standard", "low", "very_low")}
    return preset_rows(results, "cpu")


# --- GPU --------------------------------------------------------------------------------------------------

IMDB = {"name": "bbc-news", "train_size": 6000, "eval_size": 100, "max_length": 512}
TWEETS = {"name": "tweet-sentiment", "train_size": 30000, "eval_size": 100, "max_length": 128}


def gpu_config(data: dict, steps: int, hardware: dict | None = None, **training) -> dict:
    return {"data": data, "model": {"name": "bert-base-random"}, "hardware": {"device": "cuda", **(hardware or {})},
            "training": {"per_device_train_batch_size": 64, "max_steps": steps, "logging_steps": 50,
                         "per_device_eval_batch_size": 64, **NO_EVAL, **training}}


def seed_default(data: dict, steps: int) -> dict:
    """The seed's default: fp32, every text padded to 512, batch 16, eager attention, a random shuffle."""
    return gpu_config({**data, "max_length": 512}, steps, {"speed": "plain", "pad_to_multiple_of": 512},
                      per_device_train_batch_size=16, train_sampling_strategy="random")


def gpu_runs(scale: float) -> list[tuple[str, str, dict]]:
    """(lengths, configuration, config): the fast preset first, so a cut-short run still has the headline."""
    s = lambda n: max(10, int(n * scale))  # noqa: E731
    off = {"compile": "off"}
    # The fast rows stand for a long run, which is where the fast preset compiles (from 1,000 steps on, see
    # core/plan/presets.py); the benchmark measures a slice of such a run, so compile is set on for it.
    on = {"compile": "on"}
    return [("imdb-like", "fast", gpu_config(IMDB, s(300), on)),
            ("tweet-like", "fast", gpu_config(TWEETS, s(800), on)),
            ("imdb-like", "seed default", seed_default(IMDB, s(60))),
            ("tweet-like", "seed default", seed_default(TWEETS, s(120))),
            ("imdb-like", "standard", gpu_config(IMDB, s(150), off)),
            ("imdb-like", "low", gpu_config(IMDB, s(40), {**off, "memory_preset": "low"})),
            ("imdb-like", "very_low", gpu_config(IMDB, s(30), {**off, "memory_preset": "very_low"})),
            ("imdb-like", "auto", gpu_config(IMDB, s(150), {**off, "memory_preset": "auto"}))]


def mfu(result: dict) -> float:
    from core.plan import estimate

    tokens = result["performance"].get("tokens_per_second") or 0
    seq = result["estimate"].get("lengths", {}).get("mean_real", 0)
    shape = estimate.MODEL_SHAPES["bert-base-random"]
    return tokens * estimate.flops_per_token(shape, 5, seq) / H100_PEAK_FLOPS


def gpu_mode(workdir: Path, scale: float, only: list[str]) -> tuple[list[str], dict]:
    rows = ["| lengths | configuration | samples/s | real tokens/s | MFU | peak memory (MB) | memory estimate (MB) |"
            " batch x accumulation | run wall time (s) |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    presets = {}
    for lengths, label, config in gpu_runs(scale):
        if only and label not in only:
            continue
        name = f"{lengths}-{label.replace(' ', '-')}"
        result = run_config(name, config, workdir, imdb_like=lengths == "imdb-like")
        if result.get("failed"):
            rows.append(f"| {lengths} | {label} | failed: see {workdir / name}.log | | | | | | |")
            continue
        perf, batch = result["performance"], result["status"].get("batch", {})
        estimate_mb = result["estimate"].get("memory", {}).get("total_mb")
        error = f" ({(estimate_mb / perf['peak_memory_mb'] - 1) * 100:+.0f}%)" if estimate_mb else ""
        rows.append(f"| {lengths} | {label} | {perf.get('samples_per_second', 0):.0f} | "
                    f"{perf.get('tokens_per_second', 0):.0f} | {mfu(result) * 100:.1f}% | {perf['peak_memory_mb']:.0f} | "
                    f"{estimate_mb or 0:.0f}{error} | {batch.get('per_device_train_batch_size')} x "
                    f"{batch.get('gradient_accumulation_steps')} | {result['wall_s']:.0f} |")
        print(rows[-1], flush=True)
        if lengths == "imdb-like" and label in ("standard", "low", "very_low", "auto"):
            presets[label] = result
    table, measured = preset_rows(presets, "cuda") if "standard" in presets else ([], {})
    return rows + [""] + table, measured


# --- output -----------------------------------------------------------------------------------------------

def machine() -> str:
    import torch

    gpu = f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ", no GPU"
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores{gpu}; torch {torch.__version__}, "
            f"Python {platform.python_version()}")


def write_section(title: str, command: str, lines: list[str], out: Path | None, note: str) -> None:
    import transformers

    section = [f"\n## {title}\n", f"- Machine: {machine()}, transformers {transformers.__version__}",
               f"- Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", f"- Command: `{command}`",
               f"- {note}\n", *lines, ""]
    text = "\n".join(section)
    print(text)
    target = out or ROOT / "bench" / "RESULTS.md"
    with open(target, "a", encoding="utf-8") as handle:
        handle.write(text)


def write_presets(measured: dict, out: Path | None, note: str = "") -> None:
    """The preset figures the New run page shows, next to RESULTS.md (one file per device kind)."""
    if not measured.get("presets"):
        return
    measured["date"] = time.strftime("%Y-%m-%d", time.gmtime())
    measured["machine"] = machine()
    if note:  # shown under the New run page's preset table, e.g. that the machine was busy
        measured["note"] = note
    target = (out.parent if out else ROOT / "bench") / f"presets_{measured['device']}.json"
    target.write_text(json.dumps(measured, indent=1) + "\n")


def main() -> None:
    if "--child" in sys.argv:
        argv = sys.argv[1:]
        argv.remove("--child")
        sys.exit(child(argv))
    parser = argparse.ArgumentParser()
    parser.add_argument("--gpu", action="store_true", help="the GPU benchmark (one CUDA GPU)")
    parser.add_argument("--rows", type=int, default=320, help="CPU: training rows per run")
    parser.add_argument("--rounds", type=int, default=2, help="CPU: interleaved rounds of the fast configs")
    parser.add_argument("--scale", type=float, default=1.0, help="GPU: multiply every run's step count")
    parser.add_argument("--only", nargs="*", default=[], help="GPU: only these configurations (e.g. fast)")
    parser.add_argument("--no-presets", action="store_true", help="CPU: skip the memory preset runs")
    parser.add_argument("--out", type=Path, default=None, help="write the Markdown section here")
    parser.add_argument("--note", default="", help="a caveat stored with the preset figures the UI shows")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-throughput-"))
    command = " ".join(["python bench/throughput.py", *sys.argv[1:]])
    if args.gpu:
        lines, measured = gpu_mode(workdir, args.scale, args.only)
        write_section("Throughput on one GPU: the fast preset, the memory presets and the seed's default", command,
                      lines, args.out, "BERT-base-sized random model (`bert-base-random`), steady-state figures "
                      "after warm-up, no evaluation; memory presets with torch.compile off.")
    else:
        lines = cpu_mode(workdir, args.rows, args.rounds)
        measured = {}
        if not args.no_presets:
            table, measured = cpu_presets(workdir, args.rows)
            lines += [""] + table
        write_section("Throughput on CPU: the app's preset against the seed's and a plain script", command, lines,
                      args.out, f"MiniLM-L6 (`minilm-l6`) on {args.rows} tweets, steady-state figures after "
                      "warm-up, no evaluation.")
    write_presets(measured, args.out, args.note)
    print(f"run folders: {workdir}")


if __name__ == "__main__":
    main()
