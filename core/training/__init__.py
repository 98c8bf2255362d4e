"""The training child (python -m core.train): Trainer set-up, callbacks, metrics, speed plan, model loading."""
