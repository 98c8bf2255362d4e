"""Entry point: `python -m core.sweep run|worker|show|list|stop|delete ...` (core/search/cli.py)."""

import sys

from core.search.cli import main

if __name__ == "__main__":
    sys.exit(main())
