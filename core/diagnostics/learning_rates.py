"""What learning rate is usual for a model, and when one is far off: read by the curve rules (core/diagnostics/
rules.py) and the pre-flight checks (core/diagnostics/preflight.py)."""

from __future__ import annotations

# Usual peak learning rates per model family: (lowest, highest, the value a fix suggests).
# - Pretrained BERT-like encoders (BERT, RoBERTa, MiniLM, a Hub or saved model): BERT was fine-tuned at 2e-5..5e-5
#   (Devlin et al. 2019, appendix A.3), RoBERTa at 1e-5..3e-5 (Liu et al. 2019, table 10); a small distilled encoder
#   such as MiniLM takes up to 1e-4 (this project's default, measured in bench/RESULTS.md).
# - Random weights (the built-in tiny-random and bert-base-random) learn from scratch as in pre-training: BERT was
#   pre-trained at 1e-4, RoBERTa-base at 6e-4; this project's tests train tiny-random at 1e-3.
USUAL_LEARNING_RATES = {"pretrained": (1e-5, 1e-4, 5e-5), "random": (1e-4, 1e-3, 5e-4)}
RANDOM_WEIGHT_MODELS = ("tiny-random", "bert-base-random")  # the built-ins core/training/models.py builds from a config
# A learning rate this many times above its family's highest (or below its lowest) is far off: the form's help
# says 1e-3 and above usually diverges when fine-tuning.
LR_FAR_FACTOR = 10.0


def lr_text(value: float) -> str:
    """A learning rate as people write it: 5e-5, 1e-4, 0.01."""
    if value >= 1e-3:
        return f"{value:g}"
    mantissa, _, exponent = f"{value:.2e}".partition("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


def model_family(model: dict) -> str:
    """'random' for the built-in models with random weights, else 'pretrained' (keys of USUAL_LEARNING_RATES)."""
    random = (model.get("source") or "builtin") == "builtin" and model.get("name") in RANDOM_WEIGHT_MODELS
    return "random" if random else "pretrained"


def learning_rate_far_off(learning_rate: float | None, model: dict) -> str | None:
    """'high' or 'low' when the learning rate is LR_FAR_FACTOR times or more outside its family's usual range."""
    low, high, _ = USUAL_LEARNING_RATES[model_family(model)]
    if learning_rate is None or not learning_rate > 0:
        return None
    # Compared as ratios with a hair of slack, so that exactly 10x (1e-3 against 1e-4) counts.
    if learning_rate / high >= LR_FAR_FACTOR * (1 - 1e-9):
        return "high"
    if low / learning_rate >= LR_FAR_FACTOR * (1 - 1e-9):
        return "low"
    return None
