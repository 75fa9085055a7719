"""Grafana Tempo's HTTP API (being built: see the issue's helper)."""

from __future__ import annotations

__all__ = ["TempoBackend"]


class TempoBackend:
    """Grafana Tempo's HTTP API."""
