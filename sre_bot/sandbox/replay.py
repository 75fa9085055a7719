"""Play Alertmanager's part: send a scenario's alert storm to a bot's `POST /alertmanager`, as Alertmanager would.

The bodies are `notifications(world)` (webhook version 4, one per group change, oldest first), sent one after
another with the bot's bearer token; each must be accepted (200) before the next, as Alertmanager retries a
group until it is. Used by `sre-bot demo` and `sre-bot sandbox --send-alerts` to feed a real bot.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from .generate import World
from .notifications import notifications

__all__ = ["Replayed", "send_storm"]


@dataclass(frozen=True)
class Replayed:
    bodies: int
    alerts: int  # alert entries across the bodies (a resolved alert counts again)
    groups: int


async def send_storm(world: World, url: str, *, token: str | None = None, timeout_s: float = 10.0) -> Replayed:
    """POST every notification of the storm to `url`; raises RuntimeError naming the body the bot refused."""
    sent = notifications(world)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    alerts = 0
    async with httpx.AsyncClient(timeout=timeout_s) as client:
        for i, (_, body) in enumerate(sent, 1):
            r = await client.post(url, json=body, headers=headers)
            if r.status_code != 200:
                raise RuntimeError(f"{url} answered {r.status_code} to notification {i} of {len(sent)}: "
                                   f"{r.text[:200]}")
            alerts += len(body.get("alerts", []))
    return Replayed(bodies=len(sent), alerts=alerts, groups=len({b["groupKey"] for _, b in sent}))
