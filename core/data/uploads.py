"""Uploaded data files: a safe name under the runs folder, and the size limit (kept equal to Streamlit's)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from core.common.errors import UserError

# Megabytes; .streamlit/config.toml's server.maxUploadSize holds the same number (a test keeps them equal).
UPLOAD_LIMIT_MB = 200


def sanitize_filename(name: str) -> str:
    """The file's own name without folders or odd characters: 'My data (1).CSV' -> 'My-data-1.csv'."""
    base = re.split(r"[\\/]", name)[-1]
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", stem).strip("-.")[:80] or "data"
    suffix = re.sub(r"[^A-Za-z0-9]", "", suffix).lower()[:10]
    return f"{stem}.{suffix}" if suffix else stem


def store_upload(runs_dir: Path, name: str, content: bytes, limit_mb: int = UPLOAD_LIMIT_MB) -> Path:
    """Save an upload under <runs_dir>/data/ (named by content, so the same file is stored once).

    Streamlit refuses larger uploads in the browser already; this keeps the limit for any other caller."""
    if len(content) > limit_mb * 1024 * 1024:
        raise UserError(f"'{name}' is {len(content) / 1024 / 1024:.0f} MB, above the {limit_mb} MB upload "
                        "limit; upload a sample of it, or give its path on this machine.", field="data.path",
                        code="UPLOAD_TOO_LARGE")
    folder = Path(runs_dir) / "data"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{hashlib.sha256(content).hexdigest()[:10]}-{sanitize_filename(name)}"
    if not target.exists():
        partial = target.with_name(target.name + ".partial")
        partial.write_bytes(content)
        partial.replace(target)
    return target
