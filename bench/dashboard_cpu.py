"""What the dashboard costs while it watches: the server's CPU share with one tab open, and training with a tab open.

  python bench/dashboard_cpu.py            # about 12 minutes on 2 idle cores (4 pairs of runs)
  python bench/dashboard_cpu.py --quick    # 10 s windows, one pair of shorter runs (about 3 minutes)

Starts `streamlit run app.py` with the project's .streamlit/config.toml on a temporary runs folder (as
tests/test_browser.py does) and Debian's chromium through Playwright, then measures:
  1. the server process's CPU share (its own user + system time over a window, as a share of one core)
     with no tab, with one tab on New run, on Live run of a running run, and on Live run of a finished run;
  2. training samples/s of the same run (MiniLM-L6, built-in tweets, through the dashboard's launcher)
     headless and with a Live run tab open, interleaved A B B A A B B A, from each run's own summary line.
Prints a Markdown table; copy it into bench/RESULTS.md with the machine, date and command.
Targets: at most 2% of a core on any idle page; training with a Live tab at least 0.95x headless.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.config.schema import RunConfig  # noqa: E402
from core.rundir import runs
from core.runner import launcher  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
APP_IDLE = "[data-testid=stApp][data-test-script-state=notRunning]"
# The New run page's defaults (MiniLM-L6, logging every 10 steps) on fewer rows, one epoch, no evaluation:
# about a minute of training on 2 cores, and samples/s that count training only.
TRAINING = {"name": "cpu bench", "data": {"source": "builtin", "name": "tweet-sentiment", "eval_size": 100},
            "model": {"source": "builtin", "name": "minilm-l6"}, "hardware": {"device": "cpu"},
            "training": {"num_train_epochs": 1, "eval_strategy": "no", "load_best_model_at_end": False}}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_dashboard(runs_dir: Path) -> tuple[str, subprocess.Popen]:
    """`streamlit run app.py` on a free localhost port serving `runs_dir`, once it answers its health check."""
    port = free_port()
    env = {**os.environ, "DASHBOARD_RUNS_DIR": str(runs_dir), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false"}
    with open(runs_dir.parent / "streamlit.log", "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                                    "--server.headless", "true"], cwd=ROOT, env=env, stdout=log,
                                   stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                return url, process
        except OSError:
            time.sleep(0.3)
    process.kill()
    raise SystemExit("streamlit did not start; see streamlit.log")


def cpu_share(pid: int, seconds: float) -> float:
    """Share of one core the process used over the next `seconds`."""
    process = psutil.Process(pid)
    before, start = process.cpu_times(), time.monotonic()
    time.sleep(seconds)
    after = process.cpu_times()
    return (after.user + after.system - before.user - before.system) / (time.monotonic() - start)


def browser_processes() -> list[psutil.Process]:
    """Chromium's processes (the browser, its renderers and helpers) started by Playwright from this process."""
    return [p for p in psutil.Process().children(recursive=True) if "chrom" in p.name().lower()]


def cpu_shares(pids: dict[str, list[int]], seconds: float) -> dict[str, float]:
    """Share of one core each group of processes used over the next `seconds` (ended processes count 0)."""
    def used(group):
        total = 0.0
        for pid in group:
            try:
                times = psutil.Process(pid).cpu_times()
                total += times.user + times.system
            except psutil.NoSuchProcess:
                pass
        return total
    before, start = {k: used(v) for k, v in pids.items()}, time.monotonic()
    time.sleep(seconds)
    elapsed = time.monotonic() - start
    return {k: max(0.0, used(v) - before[k]) / elapsed for k, v in pids.items()}


def open_tab(browser, url: str, ready: str):
    """A tab on `url`, once the text `ready` is shown and the page's script has finished."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(url)
    page.get_by_text(ready).first.wait_for(timeout=120000)
    page.locator(APP_IDLE).wait_for(timeout=120000)
    return page


def start_training(runs_dir: Path, train_size: int) -> Path:
    config = {**TRAINING, "data": {**TRAINING["data"], "train_size": train_size}}
    return launcher.start_run(RunConfig.from_dict(config), runs_dir)


def wait_until(predicate, timeout: float = 900) -> None:
    deadline = time.time() + timeout
    while not predicate():
        if time.time() > deadline:
            raise SystemExit("timed out waiting for a run")
        launcher.reap_children()  # the training child is ours: let it be seen as ended
        time.sleep(0.5)


def samples_per_second(run_dir: Path) -> float:
    wait_until(lambda: runs.reconcile(run_dir).get("state") in runs.FINAL_STATES)
    assert runs.read_status(run_dir)["state"] == "completed", runs.read_status(run_dir)
    summary = next(r for r in runs.read_metrics(run_dir) if r["type"] == "summary")
    return float(summary["train_samples_per_second"])


def train_with_tab(browser, url: str, runs_dir: Path, train_size: int, server_pid: int, window: float | None):
    """One run with a Live run tab open on it; also the server's share while it trains, when `window` is given."""
    run_dir = start_training(runs_dir, train_size)
    page = open_tab(browser, f"{url}/live?run={run_dir.name}", "Live run")
    share = None
    if window:
        # Steady state: its pace is known (a line every 10 steps) and the page has taken up that cadence.
        wait_until(lambda: any(r["type"] == "train" and r["step"] >= 10 for r in runs.read_metrics(run_dir)))
        page.locator(".st-key-loss_chart").wait_for(timeout=120000)
        page.locator(APP_IDLE).wait_for(timeout=120000)
        share = cpu_share(server_pid, window)
    speed = samples_per_second(run_dir)
    page.close()
    return run_dir, speed, share


def idle_shares(browser, url: str, pid: int, window: float) -> dict[str, float]:
    shares = {"no tab": cpu_share(pid, window)}
    page = open_tab(browser, url, "New run")
    page.locator(".st-key-start button").wait_for(timeout=120000)
    shares["one tab on New run"] = cpu_share(pid, window)
    page.close()
    return shares


def training_pairs(browser, url: str, runs_dir: Path, pid: int, args) -> tuple[list, list, float, Path]:
    """Headless (A) and with a Live tab (B), interleaved A B B A ...; the server's share during the first B run."""
    headless, with_tab, running_share, finished = [], [], None, None
    for pair in range(args.pairs):
        # A B, then B A: a drift in the machine's speed over the bench weighs on both sides alike.
        if pair % 2:
            finished, speed, share = train_with_tab(browser, url, runs_dir, args.train_size, pid, None)
            headless.append(samples_per_second(start_training(runs_dir, args.train_size)))
        else:
            headless.append(samples_per_second(start_training(runs_dir, args.train_size)))
            finished, speed, share = train_with_tab(browser, url, runs_dir, args.train_size, pid,
                                                    args.window if pair == 0 else None)
        with_tab.append(speed)
        running_share = running_share if share is None else share
        print(f"pair {pair + 1}: headless {headless[-1]:.2f}, with a Live tab {speed:.2f} samples/s", flush=True)
    return headless, with_tab, running_share, finished


def table(shares: dict[str, float], headless: list[float], with_tab: list[float]) -> str:
    lines = ["| measurement | value | target |", "| --- | --- | --- |"]
    lines += [f"| server CPU, {name} (% of a core) | {share:.1%} | ≤ 2% |" for name, share in shares.items()]
    mean_a, mean_b = sum(headless) / len(headless), sum(with_tab) / len(with_tab)
    lines.append(f"| training headless (samples/s, each run) | {', '.join(f'{s:.2f}' for s in headless)} |  |")
    lines.append(f"| training with a Live run tab (samples/s, each run) | {', '.join(f'{s:.2f}' for s in with_tab)} |  |")
    lines.append(f"| with a Live tab / headless (means) | {mean_b / mean_a:.3f}x | ≥ 0.95x |")
    return "\n".join(lines)


def stop_leftover_runs(runs_dir: Path) -> None:
    """Training children outlive the dashboard by design; an interrupted bench must not leave one running."""
    for run in runs.list_runs(runs_dir):
        if run.state in runs.ACTIVE_STATES:
            launcher.request_stop(run.path)
            launcher.request_stop(run.path)


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so a `timeout` or a kill still cleans up
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 s windows, one pair of runs on 640 tweets")
    parser.add_argument("--pairs", type=int, help="pairs of runs, A B then B A (default 1 quick, 4 full)")
    args = parser.parse_args()
    args.window, pairs, args.train_size = (10.0, 1, 640) if args.quick else (30.0, 4, 1000)
    args.pairs = args.pairs or pairs
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        runs_dir = Path(tmp) / "runs"
        runs_dir.mkdir()
        url, server = start_dashboard(runs_dir)
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            shares = idle_shares(browser, url, server.pid, args.window)
            headless, with_tab, running_share, finished = training_pairs(browser, url, runs_dir, server.pid, args)
            shares["one tab on Live run, a running run"] = running_share
            page = open_tab(browser, f"{url}/live?run={finished.name}", "Final evaluation of the saved model")
            shares["one tab on Live run, a finished run"] = cpu_share(server.pid, args.window)
            page.close()
        finally:
            browser.close()
            stop_leftover_runs(runs_dir)
            server.terminate()
            server.wait(timeout=30)
    print(table(shares, headless, with_tab))


if __name__ == "__main__":
    main()
