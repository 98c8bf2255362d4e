"""Entry point: `python -m core.runs list [--runs-dir DIR] [--json]`, `python -m core.runs export RUN_DIR --out DIR`
and `python -m core.runs push RUN_DIR --repo-id USER/NAME [--private]` (core/runner/history.py, core/runner/hub.py)."""

import sys

from core.runner.history import main

if __name__ == "__main__":
    sys.exit(main())
