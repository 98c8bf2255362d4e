"""Entry point: `python -m core.runs list [--runs-dir DIR] [--json]` and `python -m core.runs export RUN_DIR --out DIR`
(core/runner/history.py)."""

import sys

from core.runner.history import main

if __name__ == "__main__":
    sys.exit(main())
