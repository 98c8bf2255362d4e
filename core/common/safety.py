"""Names, paths and secrets from outside: uploaded file names, run names, and tokens kept out of files.

Tokens (HF_TOKEN and the like) come only from the environment. A config key that looks like one is
dropped before config.json is written, and text shown in the dashboard is masked.
"""

from __future__ import annotations

import os
import re
import unicodedata
from typing import Any

# Config keys that hold credentials: hub_token, api_key, password, secret, auth, ...
# Whole words only: `average_tokens_across_devices` is a real training argument, not a secret.
SECRET_KEY = re.compile(r"(?:^|_)(?:token|secret|password|passwd|api_?key|credentials?|auth)(?:$|_)", re.IGNORECASE)
# Environment variables whose values must never be shown.
SECRET_ENV = re.compile(r"TOKEN|SECRET|PASSWORD|API_?KEY|CREDENTIAL", re.IGNORECASE)
# Token shapes that are recognisable without knowing the value (Hugging Face, W&B-style 40-hex keys).
TOKEN_SHAPES = re.compile(r"\bhf_[A-Za-z0-9]{20,}\b")
MASK = "••••••"
MAX_FILENAME = 120


def safe_filename(name: str, default: str = "file") -> str:
    """A plain file name from anything a browser sends: no folders, no '..', no control or odd characters."""
    name = unicodedata.normalize("NFKC", str(name or ""))
    name = re.split(r"[\\/]", name)[-1]  # a browser may send a full path (C:\Users\..\data.csv)
    name = re.sub(r"[^\w.\- ]+", "_", name, flags=re.ASCII).strip(" .")
    name = re.sub(r"\.{2,}", ".", name)
    if not name or set(name) <= {"_", "."}:
        return default
    stem, dot, ext = name.rpartition(".")
    if len(name) > MAX_FILENAME:
        name = (stem[: MAX_FILENAME - len(ext) - 1] + "." + ext) if dot and len(ext) < 10 else name[:MAX_FILENAME]
    return name


def clean_run_name(name: str, limit: int = 60) -> str:
    """A run name fit to display and to slug into a folder: one line, printable, at most `limit` characters."""
    name = unicodedata.normalize("NFKC", str(name or ""))
    name = "".join(ch if ch.isprintable() else " " for ch in name)
    return re.sub(r"\s+", " ", name).strip()[:limit]


def scrub_config(raw: Any) -> Any:
    """A copy of a config dict without credential-like keys, at any depth (tokens come from the environment)."""
    if isinstance(raw, dict):
        return {key: scrub_config(value) for key, value in raw.items() if not SECRET_KEY.search(str(key))}
    if isinstance(raw, list):
        return [scrub_config(item) for item in raw]
    return raw


def secret_values(environ: dict | None = None) -> list[str]:
    """The values of secret-looking environment variables (long enough not to mask ordinary words)."""
    environ = os.environ if environ is None else environ
    return sorted({v for k, v in environ.items() if SECRET_ENV.search(k) and len(v) >= 8}, key=len, reverse=True)


def mask_secrets(text: str, environ: dict | None = None) -> str:
    """Text with every token from the environment, and anything shaped like a Hugging Face token, masked."""
    for value in secret_values(environ):
        text = text.replace(value, MASK)
    return TOKEN_SHAPES.sub(MASK, text)
