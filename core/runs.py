"""Entry point: `python -m core.runs list [--runs-dir DIR] [--json]` (core/runner/history.py)."""

import sys

from core.runner.history import main

if __name__ == "__main__":
    sys.exit(main())
