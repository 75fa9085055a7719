"""PagerDuty Events API v2 (being built: see the issue's helper)."""

from __future__ import annotations

__all__ = ["PagerDutyBackend"]


class PagerDutyBackend:
    """PagerDuty Events API v2."""
