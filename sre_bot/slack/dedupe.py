"""Slack retries an event it thinks we missed, and replicas behind a load balancer may each get it: answer each
event id once. With the store, "once" holds across processes and replicas; without it, within this process."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import timedelta

from ..clock import Clock
from ..store.store import Store

__all__ = ["SeenEvents", "StoreSeenEvents", "SEEN_TTL_S"]

SEEN_TTL_S = 3600.0  # Slack retries within minutes; an hour is generous (the one ttl of `Store.first_time`)


class SeenEvents:
    """A bounded, expiring set of event ids (one process)."""

    def __init__(self, *, ttl_s: float = SEEN_TTL_S, max_size: int = 10_000,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl_s
        self._max = max_size
        self._now = monotonic
        self._seen: OrderedDict[str, float] = OrderedDict()

    async def first_time(self, event_id: str) -> bool:
        """True the first time an id is offered (within the TTL); False for every repeat."""
        now = self._now()
        while self._seen and next(iter(self._seen.values())) < now - self._ttl:
            self._seen.popitem(last=False)
        if event_id in self._seen:
            return False
        self._seen[event_id] = now
        if len(self._seen) > self._max:
            self._seen.popitem(last=False)
        return True


class StoreSeenEvents:
    """The same, decided by the database (`Store.first_time`), so two replicas never both answer."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def first_time(self, event_id: str) -> bool:
        return await self._store.first_time(f"event:{event_id}", now=self._clock(), ttl=timedelta(seconds=SEEN_TTL_S))
