"""Which services exist: configured names and aliases, plus names discovered from Prometheus; find one in text."""

from __future__ import annotations

import re

from ..deadline import best_effort
from ..deps import Deps
from ..errors import BackendError

__all__ = ["known_services", "find_service"]


async def known_services(deps: Deps) -> dict[str, str]:
    """Every name that refers to a service (names, aliases, and Prometheus-discovered names) -> canonical name."""
    names: dict[str, str] = {}
    if deps.prometheus is not None:
        try:
            with best_effort():  # a share of the answer's deadline: a silent Prometheus leaves time for evidence
                for v in await deps.prometheus.label_values(deps.config.defaults.service_label):
                    names[v] = v
        except BackendError:
            pass  # discovery is best effort; configured names still work
    for s in deps.config.services:
        names[s.name] = s.name
        for a in s.aliases:
            names[a] = s.name
    return names


def find_service(text: str, names: dict[str, str]) -> str | None:
    """The longest known name that appears in `text` as a whole word (hyphens are part of a word)."""
    lowered = text.lower()
    for name in sorted(names, key=len, reverse=True):
        if re.search(rf"(?<![\w-]){re.escape(name.lower())}(?![\w-])", lowered):
            return names[name]
    return None
