"""Explain a run from its folder: `python -m core.diagnose RUN_DIR [--json]`.

Prints the findings the dashboard shows (live rules over the metrics, and for a failed
run why it died), newest first. Exit code 0 whatever is found; 2 for a folder that is not a run.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from core import runs
from core.diagnostics import Finding, live_findings
from core.postmortem import explain_failure

def diagnose(run_dir: Path) -> list[Finding]:
    """Every finding for the run in `run_dir`: why it failed (if it did) first, then the live rules."""
    run_dir = Path(run_dir)
    status = runs.reconcile(run_dir)
    config = runs.read_json(run_dir / "config.json", {}) or {}
    dataset = runs.read_json(run_dir / "dataset.json", {}) or {}
    findings = live_findings(runs.read_metrics(run_dir), dataset, status, config)
    failure = explain_failure(status, runs.read_log_tail(run_dir, max_bytes=20000), config=config)
    return ([failure] if failure else []) + findings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.diagnose", description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", help="a run folder (holds status.json)")
    parser.add_argument("--json", action="store_true", help="print a JSON list of findings")
    args = parser.parse_args(argv)
    run_dir = Path(args.run_dir)
    if not (run_dir / "status.json").exists():
        print(f"error: RUN_DIR: '{run_dir}' holds no status.json, so it is not a run folder; "
              "pass a folder under runs/.", file=sys.stderr)
        return 2
    findings = diagnose(run_dir)
    if args.json:
        print(json.dumps([f.to_dict() for f in findings], indent=2))
        return 0
    if not findings:
        print(f"{run_dir.name}: no problems found ({runs.read_status(run_dir).get('state', 'unknown')}).")
    for f in findings:
        at = f" at step {f.step}" if f.step is not None else ""
        print(f"[{f.severity.upper()}] {f.code}{at}: {f.title}.\n  Evidence: {f.evidence}\n  Fix: {f.fix}")
        if f.config_change:
            print(f"  Config change: {json.dumps(f.config_change)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
