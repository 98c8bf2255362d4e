"""Hyperparameter sweeps over ordinary runs (Optuna): the search space, the study, the driver, the public API."""
