"""an ansible-rulebook webhook event source (being built: see the issue's helper)."""

from __future__ import annotations

__all__ = ["EDABackend"]


class EDABackend:
    """an ansible-rulebook webhook event source."""
