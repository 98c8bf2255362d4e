"""Entry point: `python -m core.train --config CONFIG.json --run-dir RUN_DIR` (the training child, core/training/train.py)."""

import sys

from core.training.train import main

if __name__ == "__main__":
    sys.exit(main())
