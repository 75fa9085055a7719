"""A mention ("@sre-bot why is payments-api slow?"): find the service it names and answer.

Until the investigation engine lands, a mention that names a service gets that service's status report; one that
starts with a verb runs that command; one that names nothing gets the help text.
"""

from __future__ import annotations

import re

from ..deps import Deps
from ..errors import BackendError
from .commands import VERBS, run_command
from .reply import Reply

__all__ = ["known_services", "find_service", "answer_mention"]


async def known_services(deps: Deps) -> dict[str, str]:
    """Every name that refers to a service (names, aliases, and Prometheus-discovered names) -> canonical name."""
    names: dict[str, str] = {}
    if deps.prometheus is not None:
        try:
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


async def answer_mention(deps: Deps, text: str) -> Reply:
    text = re.sub(r"<@[A-Z0-9]+(\|[^>]*)?>", " ", text).strip()
    first = text.split(maxsplit=1)[0].lower() if text else ""
    if first.lstrip("/") in VERBS:
        return await run_command(deps, text.lstrip("/"))
    service = find_service(text, await known_services(deps))
    if service is None:
        return await run_command(deps, "help")
    return await run_command(deps, f"status {service}")
