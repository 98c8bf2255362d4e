"""Explain a run from its folder: `python -m core.diagnose RUN_DIR [--json]`.

Prints the findings the dashboard shows (live rules over the metrics, and for a failed
run why it died), newest first. Exit code 0 whatever is found; 2 for a folder that is not a run.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from core.diagnostics.findings import Finding
from core.diagnostics.postmortem import explain_failure
from core.diagnostics.multilabel_rules import multilabel_findings
from core.diagnostics.rules import live_findings
from core.rundir import runs
from core.rundir.layout import RunDir

LEARNING_RATE_CODES = ("LR_TOO_HIGH", "LR_TOO_LOW")


def run_findings(run_dir: Path, status: dict | None = None, records: list[dict] | None = None) -> list[Finding]:
    """Every finding for the run in `run_dir`, the same for the Live run page and `python -m core.diagnose`:
    why it failed (if it did), the pre-flight findings stored before it started, then the live rules.

    A caller that has already read the status (reconciled) or the metrics passes them in to save a read; the log
    is read only for a failed run."""
    run_dir = Path(run_dir)
    status = runs.reconcile(run_dir) if status is None else status
    records = runs.read_metrics(run_dir) if records is None else records
    config = runs.read_json(RunDir(run_dir).config, {}) or {}
    dataset = runs.read_json(RunDir(run_dir).dataset, {}) or {}
    # A learning-rate range test sweeps the rate and diverges on purpose: neither the curve rules nor the
    # pre-flight learning-rate check would say anything true about it.
    range_test = bool(status.get("lr_find"))
    findings = [] if range_test else sorted(
        live_findings(records, dataset, status, config) + multilabel_findings(records, dataset, status, config),
        key=lambda f: f.step or 0, reverse=True)
    preflight = [f for f in preflight_findings(status) if not (range_test and f.code in LEARNING_RATE_CODES)]
    failure = None
    if status.get("state") == "failed":
        failure = explain_failure(status, runs.read_log_tail(run_dir, max_bytes=20000), config=config, dataset=dataset)
    return merged(failure, preflight, findings)


def preflight_findings(status: dict) -> list[Finding]:
    """The pre-flight findings the child stored in status.json before it started."""
    fields = set(Finding.__dataclass_fields__)
    return [Finding(**{k: v for k, v in item.items() if k in fields}) for item in status.get("preflight") or []
            if isinstance(item, dict) and {"code", "severity", "title", "evidence", "fix"} <= set(item)]


def merged(failure: Finding | None, preflight: list[Finding], live: list[Finding]) -> list[Finding]:
    """Failure first, then pre-flight, then live findings; one finding per code and title. A pre-flight
    error that stopped the run explains it better than the post-mortem's reading of the same code; a live
    finding, measured on the run, replaces the pre-flight warning of the same code (a learning rate far off)."""
    if failure and any(f.code == failure.code and f.severity == "error" for f in preflight):
        failure = None
    preflight = [f for f in preflight if f.severity == "error" or not any(g.code == f.code for g in live)]
    out: list[Finding] = []
    for finding in ([failure] if failure else []) + preflight + live:
        if not any(f.code == finding.code and f.title == finding.title for f in out):
            out.append(finding)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.diagnose", description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", help="a run folder (holds status.json)")
    parser.add_argument("--json", action="store_true", help="print a JSON list of findings")
    args = parser.parse_args(argv)
    run_dir = Path(args.run_dir)
    if not (RunDir(run_dir).status).exists():
        print(f"error: RUN_DIR: '{run_dir}' holds no status.json, so it is not a run folder; "
              "pass a folder under runs/.", file=sys.stderr)
        return 2
    findings = run_findings(run_dir)
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
