"""The server's CPU share with one Live run tab on a running run, without training beside it.

  python bench/live_tab_cpu.py [--gap 3] [--window 60]

A writer process plays a running run (400 earlier evaluations and logging lines, a metrics line, a resource sample
and a status update every GAP seconds, as a MiniLM-L6 run on 2 cores writes them); `streamlit run app.py` serves
it and Debian's chromium keeps a Live run tab open on it. Prints the server's own CPU time over the window as a
share of one core, and the browser's (all of Chromium's processes: drawing the charts is the tab's cost on the
user's side of a laptop). bench/dashboard_cpu.py measures the same with real training beside it (which also loads the
machine); this one isolates the tab's cost. Target: at most 2% of a core.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

RUN_ID = "20260101-000000"


def play_running_run(runs_dir: Path, gap: float) -> None:
    """Write a running run's folder, then a line every `gap` seconds until killed."""
    from core.rundir import runs
    from tests.test_page_live_run import make_run

    records = []
    for step in range(10, 2010, 10):
        records.append({"type": "train", "step": step, "epoch": step / 400, "loss": 1 / (1 + step / 500)
                        + random.random() * 0.1, "learning_rate": 1e-4, "grad_norm": 1.0, "time": 1000 + step})
        if step % 200 == 0:
            records.append({"type": "eval", "step": step, "epoch": step / 400, "eval_loss": 0.5,
                            **{f"eval_{m}": 0.8 for m in ("accuracy", "f1", "f1_macro", "precision", "recall")}})
    run = make_run(runs_dir, RUN_ID, "running", records, pid=os.getpid())
    status, step, start = json.loads((run / "status.json").read_text()), 2000, time.time()
    while True:
        time.sleep(gap)
        step, now = step + 10, time.time()
        runs.append_metrics(run, {"type": "train", "step": step, "epoch": step / 400, "loss": 0.3,
                                  "learning_rate": 1e-4, "grad_norm": 1.0, "time": now})
        runs.append_jsonl(run / "resources.jsonl", {"time": now, "cpu_percent": 180, "cores": 2, "rss_mb": 1500})
        status["progress"] = {"step": step, "max_steps": 8000, "epoch": step / 400, "num_train_epochs": 20,
                              "train_started_at": start - 200 * gap, "at": now}
        runs.write_json_atomic(run / "status.json", status)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gap", type=float, default=3.0, help="seconds between two metrics lines")
    parser.add_argument("--window", type=float, default=60.0, help="seconds measured")
    parser.add_argument("--writer", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.writer:
        return play_running_run(Path(args.writer), args.gap)
    import dashboard_cpu as bench
    from playwright.sync_api import sync_playwright

    runs_dir = Path(tempfile.mkdtemp()) / "runs"
    runs_dir.mkdir()
    writer = subprocess.Popen([sys.executable, __file__, "--writer", str(runs_dir), "--gap", str(args.gap)])
    time.sleep(3)
    url, server = bench.start_dashboard(runs_dir)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=bench.CHROMIUM)
            bench.open_tab(browser, f"{url}/live?run={RUN_ID}", "Live run")
            time.sleep(5)
            shares = bench.cpu_shares({"server": [server.pid],
                                       "browser": [p.pid for p in bench.browser_processes()]}, args.window)
            load = os.getloadavg()[0]
            print(f"| a Live run tab on a running run, a line every {args.gap:g} s | server {shares['server']:.2%}, "
                  f"browser {shares['browser']:.2%} of a core | window {args.window:g} s, load average {load:.1f} |")
            browser.close()
    finally:
        server.kill()
        writer.kill()


if __name__ == "__main__":
    main()
