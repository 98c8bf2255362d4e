"""Entry point: `python -m core.diagnose RUN_DIR [--json]` (core/diagnostics/diagnose.py)."""

import sys

from core.diagnostics.diagnose import main

if __name__ == "__main__":
    sys.exit(main())
