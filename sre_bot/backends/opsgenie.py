"""Opsgenie Alert API (being built: see the issue's helper)."""

from __future__ import annotations

__all__ = ["OpsgenieBackend"]


class OpsgenieBackend:
    """Opsgenie Alert API."""
