"""Slack retries an event it thinks we missed: remember event ids for a while and answer each once."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

__all__ = ["SeenEvents"]


class SeenEvents:
    """A bounded, expiring set of event ids (one process; replicas sharing work need the store)."""

    def __init__(self, *, ttl_s: float = 3600.0, max_size: int = 10_000,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl_s
        self._max = max_size
        self._now = monotonic
        self._seen: OrderedDict[str, float] = OrderedDict()

    def first_time(self, event_id: str) -> bool:
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
