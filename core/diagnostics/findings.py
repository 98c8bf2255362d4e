"""A finding: what a rule saw (evidence), what to do (fix), and the config change that does it, if one does."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}


def by_severity(findings) -> list["Finding"]:
    """The findings that are there (None skipped), errors first."""
    return sorted((f for f in findings if f), key=lambda f: SEVERITY_ORDER.get(f.severity, 3))


@dataclass
class Finding:
    code: str
    severity: str  # info | warning | error
    title: str
    evidence: str
    fix: str
    config_change: dict[str, Any] = field(default_factory=dict)
    step: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
