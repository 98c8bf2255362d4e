"""Entry point: `python -m core.queue --runs-dir DIR`, the queue's detached dispatcher (core/runner/queue.py)."""

import sys

from core.runner.queue import main

if __name__ == "__main__":
    sys.exit(main())
