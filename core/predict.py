"""Entry point: `python -m core.predict --model MODEL_DIR --input FILE --output OUT.csv [--text-column C]
[--batch-size B]` (core/training/file_predictions.py)."""

import sys

from core.training.file_predictions import main

if __name__ == "__main__":
    sys.exit(main())
