"""For a device round (bench/issue18_round.sh host-spy): wait until a benchmark run whose folder matches a pattern
has trained STEPS steps, then sample its training child with py-spy for SECONDS (native frames too) and write the
collapsed stacks to $OUT_DIR/spy.txt and a summary of the hottest frames to $OUT_DIR/spy_top.txt.

  OUT_DIR=... python3 bench/spy_watch.py PATTERN STEPS SECONDS
"""

from __future__ import annotations

import collections
import glob
import json
import os
import subprocess
import sys
import time

SPY = "/tmp/spy/bin/py-spy"


def main() -> int:
    pattern, steps, seconds = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    out = os.environ["OUT_DIR"]
    deadline = time.time() + 400
    while time.time() < deadline:
        time.sleep(0.5)
        for status in glob.glob(f"/tmp/bench-host-*/{pattern}/status.json"):
            try:
                step = json.load(open(status))["progress"]["step"]
            except (OSError, ValueError, KeyError, TypeError):
                continue
            if step < steps:
                continue
            found = subprocess.run(["pgrep", "-of", "throughput.py --child"], capture_output=True, text=True)
            if not found.stdout.split():
                return 1
            pid = found.stdout.split()[0]
            for native in (["--native"], []):
                done = subprocess.run([SPY, "record", "--pid", pid, *native, "--rate", "250", "--duration", seconds,
                                       "--format", "raw", "--nonblocking", "-o", f"{out}/spy.txt"],
                                      capture_output=True, text=True)
                print("py-spy", native, done.returncode, done.stderr[-500:], flush=True)
                if done.returncode == 0:
                    break
            summarize(f"{out}/spy.txt", f"{out}/spy_top.txt")
            return 0
    return 1


def summarize(raw: str, top: str) -> None:
    """Self and total samples per frame, main thread first (collapsed lines: 'frame;frame;... count')."""
    if not os.path.exists(raw):
        return
    self_counts, total_counts, all_samples = collections.Counter(), collections.Counter(), 0
    for line in open(raw):
        stack, _, count = line.rstrip().rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        all_samples += n
        frames = stack.split(";")
        self_counts[frames[-1]] += n
        for frame in set(frames):
            total_counts[frame] += n
    with open(top, "w") as f:
        f.write(f"{all_samples} samples\n\nself:\n")
        for frame, n in self_counts.most_common(60):
            f.write(f"{n / all_samples:7.2%} {frame}\n")
        f.write("\ntotal:\n")
        for frame, n in total_counts.most_common(120):
            f.write(f"{n / all_samples:7.2%} {frame}\n")


if __name__ == "__main__":
    sys.exit(main())
