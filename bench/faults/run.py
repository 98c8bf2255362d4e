"""Planted-fault benchmark of the diagnostics (issue 4): do the rules name real faults, and stay quiet on
healthy runs?

  python bench/faults/run.py                    # 18 fault kinds x 3 seeds + 15 healthy runs + overhead
  python bench/faults/run.py --quick            # 1 seed, 5 healthy runs
  python bench/faults/run.py --only "lr 1e-8,NaN at step 10" --no-healthy --no-overhead

Every run is the real child (`python -m core.train`) on CPU with the built-in MiniLM-L6, a few hundred
rows, max length 48 (64 for bbc-news), and one shared tokenized cache. Faults are planted through the
child's testing hooks (core/common/faults.py: DASHBOARD_FAULT, DASHBOARD_FAKE_*). The benchmark watches each run
as the dashboard does: it polls metrics.jsonl and status.json and evaluates the live rules and the
pre-flight findings as lines arrive, so the detection step is the step the run had reached when the
finding first showed. A fault run is stopped at its first warning or error (a user would stop it);
a run that ends by itself is then diagnosed in full (`core.diagnose`, post-mortem included). Healthy
runs run to the end; any warning or error on one is a false alarm.

Monitoring overhead: the same healthy run twice, once watched (polling + live rules every 0.5 s) and
once not, compared by the Trainer's training samples/s; and, exactly, the CPU time the watcher spent
divided by the run's training time. The child's own recording (the MetricsRecorder callback) is priced by
bench/throughput.py, which reads the Trainer's figures: without the recorder a run writes no summary line here.

Designed to finish in about 25 minutes on an idle 2-core CPU (it prints its estimate first).
Prints a Markdown table; copy it into bench/RESULTS.md with the machine, date and command.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from cases import FAULTS, HEALTHY, Fault, healthy_change, merged_config  # noqa: E402

from core.diagnostics.diagnose import preflight_findings, run_findings  # noqa: E402
from core.diagnostics.rules import live_findings  # noqa: E402
from core.rundir import runs  # noqa: E402

POLL_S = 0.5
RUN_TIMEOUT_S = 600
ALARM = ("warning", "error")
# Cost model for the estimate, from an idle 2-core run (bench/RESULTS.md): start-up of a child to its first
# step, MiniLM training and evaluation samples/s at 48 tokens.
STARTUP_S, TRAIN_RATE, EVAL_RATE = 10.0, 19.0, 80.0


def child_env(extra: dict) -> dict:
    env = {"OMP_WAIT_POLICY": "PASSIVE", **os.environ, "PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false",
           "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    for name in ("DASHBOARD_FAULT", "DASHBOARD_FAKE_DEVICES", "DASHBOARD_FAKE_FREE_DISK_MB", "DASHBOARD_FAKE_MISSING"):
        env.pop(name, None)
    return {**env, **extra}


def start(config: dict, work: Path, name: str, env: dict, cache: Path) -> tuple[subprocess.Popen, Path]:
    run_dir = work / name
    run_dir.mkdir(parents=True)
    # As the dashboard's launcher does: a queued run, so a refusal before training is recorded in status.json.
    runs.write_json_atomic(run_dir / "status.json", {"state": "queued", "created_at": time.time()})
    config_path = work / f"{name}.json"
    config_path.write_text(json.dumps(config))
    with open(run_dir / "train.log", "wb") as log:  # as the launcher does: the post-mortem reads it
        proc = subprocess.Popen([sys.executable, "-m", "core.train", "--config", str(config_path), "--run-dir",
                                 str(run_dir), "--cache-dir", str(cache)], cwd=ROOT, stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=child_env(env))
    return proc, run_dir


def current_findings(run_dir: Path) -> tuple[list[dict], int, int]:
    """(findings as dicts, the step the run has reached, its planned steps), as the Live run page sees them."""
    status = runs.read_status(run_dir)
    records = runs.read_metrics(run_dir)
    dataset = runs.read_json(run_dir / "dataset.json", {}) or {}
    config = runs.read_json(run_dir / "config.json", {}) or {}
    found = preflight_findings(status) + live_findings(records, dataset, status, config)
    progress = status.get("progress") or {}
    step = max([int(progress.get("step", 0) or 0)] + [int(r.get("step", 0)) for r in records])
    return [f.to_dict() for f in found], step, int(progress.get("max_steps", 0) or 0)


def watch(proc: subprocess.Popen, run_dir: Path, stop_at_alarm: bool, codes: tuple[str, ...] = ()) -> dict:
    """Poll a run until it ends (or, with stop_at_alarm, its first alarm); record when each finding appeared."""
    seen: dict[str, dict] = {}
    cpu0, wall0, planned, step, stopped = time.process_time(), time.time(), 0, 0, False
    while True:
        ended = proc.poll() is not None
        findings, step, max_steps = current_findings(run_dir)
        planned = max(planned, max_steps)
        for f in findings:
            seen.setdefault(f"{f['code']}|{f['title']}", {**f, "seen_at_step": step})
        alarm = any(f["severity"] in ALARM or f["code"] in codes for f in seen.values())
        if ended or (stop_at_alarm and alarm) or time.time() - wall0 > RUN_TIMEOUT_S:
            break
        time.sleep(POLL_S)
    watcher_cpu = time.process_time() - cpu0
    if proc.poll() is None:
        proc.kill()  # the user pressed Stop: what happens after the alarm is not measured
        stopped = True
    proc.wait()
    if not stopped:  # ended by itself: the full diagnosis, post-mortem included, as `core.diagnose` prints it
        for f in run_findings(run_dir):
            seen.setdefault(f"{f.code}|{f.title}", {**f.to_dict(), "seen_at_step": step})
    return {"findings": list(seen.values()), "planned": planned, "last_step": step, "stopped": stopped,
            "wall": time.time() - wall0, "watcher_cpu": watcher_cpu, "returncode": proc.returncode,
            "summary": next((r for r in runs.read_metrics(run_dir) if r.get("type") == "summary"), {})}


def score_fault(fault: Fault, seed: int, result: dict) -> dict:
    alarms = [f for f in result["findings"] if f["severity"] in ALARM]
    named = [f for f in result["findings"] if f["code"] in fault.codes]
    first = min(alarms + named, key=lambda f: f["seen_at_step"], default=None)
    hit = min(named, key=lambda f: f["seen_at_step"], default=None)
    delay = hit["seen_at_step"] - fault.onset if hit else None
    return {"fault": fault.name, "seed": seed, "detected": bool(alarms or named), "right_code": bool(hit),
            "right_fix": bool(hit and any(fault.fix_ok(f) for f in named)),
            "first_code": first["code"] if first else None, "delay": delay, "planned": result["planned"],
            "codes": sorted({f["code"] for f in result["findings"]}), "wall": round(result["wall"], 1)}


def run_fault(fault: Fault, seed: int, work: Path) -> dict:
    name = f"fault-{FAULTS.index(fault):02d}-s{seed}"
    env = {**fault.env, **({"DASHBOARD_FAULT": fault.fault} if fault.fault else {})}
    cache = work / ("cache-" + name.rsplit("-", 1)[0] if fault.own_cache else "cache")
    config = merged_config(fault.change, seed, name)
    if "{work}" in str(config["data"].get("path", "")):
        config["data"]["path"] = _users_csv(work)
    proc, run_dir = start(config, work, name, env, cache)
    return score_fault(fault, seed, watch(proc, run_dir, stop_at_alarm=True, codes=fault.codes))


def _users_csv(work: Path) -> str:
    """A user's own file: 600 built-in tweets as a CSV with `text,label` columns."""
    from core.config.schema import DataConfig
    from core.data import splits as data

    path = work / "tweets.csv"
    if not path.exists():
        data.load_frame(DataConfig(name="tweet-sentiment")).head(600)[["text", "label"]].to_csv(path, index=False)
    return str(path)


def run_healthy(index: int, seed: int, work: Path) -> dict:
    data, rows, epochs, lr = HEALTHY[index]
    name = f"healthy-{index:02d}-s{seed}"
    proc, run_dir = start(merged_config(healthy_change(data, rows, epochs, lr), seed, name), work, name, {},
                          work / "cache")
    result = watch(proc, run_dir, stop_at_alarm=False)
    alarms = sorted({f["code"] for f in result["findings"] if f["severity"] in ALARM})
    final = runs.read_json(run_dir / "results.json", {}) or {}
    return {"run": f"{data} {rows} rows x {epochs} ep, lr {lr:g}, seed {seed}", "alarms": alarms,
            "accuracy": (final.get("final_metrics") or {}).get("accuracy"), "returncode": result["returncode"],
            "wall": round(result["wall"], 1)}


def overhead(seed: int, work: Path) -> dict:
    """The same healthy run unwatched and watched."""
    config = merged_config(healthy_change("tweet-sentiment", 240, 2, 5e-5), seed, "overhead")
    out = {}
    variants = [("unwatched", {}, False), ("watched", {}, True)]
    out["recorder probe"] = recorder_cost()
    for label, env, watched in variants:
        name = "overhead-" + label.replace(" ", "-")
        proc, run_dir = start({**config, "name": name}, work, name, env, work / "cache")
        if watched:
            result = watch(proc, run_dir, stop_at_alarm=False)
        else:
            proc.wait()
            result = {"watcher_cpu": 0.0}
        summary = next((r for r in runs.read_metrics(run_dir) if r.get("type") == "summary"), {})
        out[label] = {"samples_per_second": summary.get("train_samples_per_second"),
                      "train_runtime": summary.get("train_runtime"), "watcher_cpu": result["watcher_cpu"]}
    return out


def recorder_cost(logging_steps: int = 5, repeats: int = 5) -> dict:
    """The MetricsRecorder's costly part, timed in this process on MiniLM-L6: the update-ratio probe (one weight
    copy before a logging step, norms after it), against one optimizer step at batch 16 x 48 tokens."""
    import torch

    from core.config.schema import ModelConfig
    from core.training import models
    from core.training.callbacks import UpdateRatio

    model = models.load_model(ModelConfig(name="minilm-l6"), ["a", "b", "c"], seed=0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-5)
    batch = {"input_ids": torch.randint(1000, 2000, (16, 48)), "labels": torch.randint(0, 3, (16,))}
    probe, step_s, probe_s = UpdateRatio(), [], []
    for _ in range(repeats):
        started = time.perf_counter()
        probe.snapshot(model)
        middle = time.perf_counter()
        model(**batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        done = time.perf_counter()
        probe.measure(model)
        probe_s.append(middle - started + time.perf_counter() - done)
        step_s.append(done - middle)
    probe_median, step_median = sorted(probe_s)[repeats // 2], sorted(step_s)[repeats // 2]
    return {"probe_s": probe_median, "step_s": step_median, "logging_steps": logging_steps,
            "share": probe_median / (logging_steps * step_median)}


def estimate_s(faults: list[Fault], seeds: int, healthy: list[int], with_overhead: bool) -> float:
    fault_s = sum(fault_cost(f) for f in faults) * seeds
    healthy_s = sum(_healthy_cost(*HEALTHY[i]) for i in healthy)
    overhead_runs = 2 if with_overhead else 0
    return fault_s + healthy_s + overhead_runs * _healthy_cost("tweet-sentiment", 240, 2, 0)


def fault_cost(fault: Fault) -> float:
    return STARTUP_S * (0.6 if fault.before_model else 1.0) + fault.cost_samples / TRAIN_RATE


def _healthy_cost(data: str, rows: int, epochs: int, lr: float) -> float:
    slower = 1.4 if data == "bbc-news" else 1.0  # 64 tokens instead of 48
    return STARTUP_S + slower * rows * epochs / TRAIN_RATE + (epochs + 1) * 100 / EVAL_RATE + 3


def _pct(count: int, total: int) -> str:
    return f"{count}/{total} ({count / total:.0%})" if total else "-"


def fault_table(results: list[dict]) -> list[str]:
    rows = ["| fault | runs | detected | right code | right fix | first alarm | delay (steps from onset) |",
            "| --- | --- | --- | --- | --- | --- | --- |"]
    for fault in FAULTS:
        mine = [r for r in results if r["fault"] == fault.name]
        if not mine:
            continue
        firsts = ", ".join(sorted({str(r["first_code"]) for r in mine}))
        delays = [r["delay"] for r in mine if r["delay"] is not None]
        delay = ", ".join(str(d) for d in delays) or "-"
        if fault.stuck and delays:
            delay += " (" + ", ".join(f"{d / r['planned']:.0%}" for d, r in zip(delays, mine) if r["planned"])
            delay += " of planned)"
        rows.append(f"| {fault.name} | {len(mine)} | {sum(r['detected'] for r in mine)} | "
                    f"{sum(r['right_code'] for r in mine)} | {sum(r['right_fix'] for r in mine)} | {firsts} | "
                    f"{delay} |")
    n = len(results)
    rows.append(f"| **all** | {n} | {_pct(sum(r['detected'] for r in results), n)} | "
                f"{_pct(sum(r['right_code'] for r in results), n)} | "
                f"{_pct(sum(r['right_fix'] for r in results), n)} | | |")
    return rows


def healthy_table(results: list[dict]) -> list[str]:
    rows = ["| healthy run | warnings/errors | final accuracy |", "| --- | --- | --- |"]
    for r in results:
        accuracy = f"{r['accuracy']:.3f}" if isinstance(r["accuracy"], float) else f"exit {r['returncode']}"
        rows.append(f"| {r['run']} | {', '.join(r['alarms']) or 'none'} | {accuracy} |")
    alarms = sum(bool(r["alarms"]) for r in results)
    rows.append(f"| **false alarms** | {_pct(alarms, len(results))} | |")
    return rows


def overhead_lines(result: dict) -> list[str]:
    watched, plain = result["watched"], result["unwatched"]
    lines = [f"- watched run: {watched['samples_per_second']} samples/s, unwatched: {plain['samples_per_second']} "
             f"samples/s"]
    if watched["samples_per_second"] and plain["samples_per_second"]:
        lines[0] += f" (throughput cost {1 - watched['samples_per_second'] / plain['samples_per_second']:+.1%})"
    if watched["train_runtime"]:
        share = watched["watcher_cpu"] / watched["train_runtime"]
        lines.append(f"- watcher CPU time (polling, reading the files, live rules): {watched['watcher_cpu']:.2f} s "
                     f"over {watched['train_runtime']:.1f} s of training ({share:.2%})")
    probe = result.get("recorder probe")
    if probe:
        lines.append(f"- the recorder's update-ratio probe: {probe['probe_s'] * 1000:.0f} ms once per logging step "
                     f"against {probe['step_s'] * 1000:.0f} ms per optimizer step (MiniLM-L6, batch 16 x 48 tokens), "
                     f"so {probe['share']:.2%} at logging_steps {probe['logging_steps']} "
                     f"({probe['share'] * probe['logging_steps'] / 10:.2%} at the default 10)")
    return lines


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated fault names (see bench/faults/cases.py); "
                        "'none' runs no fault")
    parser.add_argument("--quick", action="store_true", help="1 seed and 5 healthy runs")
    parser.add_argument("--no-healthy", action="store_true", help="skip the healthy runs")
    parser.add_argument("--healthy", default="", help="which healthy runs: N (the first N) or a list of "
                        "indexes into cases.HEALTHY such as 5,10")
    parser.add_argument("--no-overhead", action="store_true", help="skip the overhead runs")
    parser.add_argument("--seeds", default="", help="comma-separated seeds for the fault runs (default 1,2,3)")
    parser.add_argument("--keep", default="", help="keep the run folders in this folder")
    parser.add_argument("--json", default="", help="also write all results to this JSON file")
    return parser.parse_args(argv)


def selected_faults(only: str) -> list[Fault]:
    if not only:
        return list(FAULTS)
    if only == "none":
        return []
    names = [name.strip() for name in only.split(",") if name.strip()]
    unknown = [n for n in names if n not in {f.name for f in FAULTS}]
    if unknown:
        raise SystemExit(f"error: --only: unknown fault {unknown[0]!r}; choose from: "
                         + "; ".join(f.name for f in FAULTS))
    return [f for f in FAULTS if f.name in names]


def main(argv=None) -> int:
    args = parse_args(argv)
    faults = selected_faults(args.only)
    seeds = [int(x) for x in args.seeds.split(",")] if args.seeds else ([1] if args.quick else [1, 2, 3])
    subset = bool(args.only) and args.only != "none"  # a few faults: nothing else unless asked
    healthy = 0 if args.no_healthy or subset else (5 if args.quick else len(HEALTHY))
    indexes = list(range(healthy))
    if args.healthy:
        picked = [int(x) for x in args.healthy.split(",")]
        indexes = picked if "," in args.healthy else list(range(min(len(HEALTHY), picked[0])))
    with_overhead = not (args.no_overhead or subset)
    print(f"{len(faults)} fault kinds x {len(seeds)} seeds, {len(indexes)} healthy runs"
          f"{', overhead runs' if with_overhead else ''}; estimate on an idle 2-core CPU: "
          f"{estimate_s(faults, len(seeds), indexes, with_overhead) / 60:.1f} min", flush=True)
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="faults-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    started = time.time()
    fault_results, healthy_results, overhead_result = [], [], None
    for fault in faults:
        for seed in seeds:
            fault_results.append(run_fault(fault, seed, work))
            print(json.dumps(fault_results[-1]), flush=True)
    for index in indexes:
        healthy_results.append(run_healthy(index, 1 + index % 3, work))
        print(json.dumps(healthy_results[-1]), flush=True)
    if with_overhead:
        overhead_result = overhead(1, work)
    report(fault_results, healthy_results, overhead_result, time.time() - started, argv)
    if args.json:
        Path(args.json).write_text(json.dumps({"faults": fault_results, "healthy": healthy_results,
                                               "overhead": overhead_result}, indent=1))
    if not args.keep:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    return 0


def report(fault_results, healthy_results, overhead_result, wall: float, argv) -> None:
    print(f"\n- Machine: {platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}")
    print(f"- Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; wall time {wall / 60:.1f} min")
    import shlex

    print(f"- Command: python bench/faults/run.py {shlex.join(argv if argv is not None else sys.argv[1:])}\n")
    if fault_results:
        print("\n".join(fault_table(fault_results)) + "\n")
    if healthy_results:
        print("\n".join(healthy_table(healthy_results)) + "\n")
    if overhead_result:
        print("\n".join(overhead_lines(overhead_result)))


if __name__ == "__main__":
    sys.exit(main())
