"""Slack retries an event it thinks we missed, and replicas behind a load balancer may each get it: answer each
event id once. With the store, "once" holds across processes and replicas; without it, within this process.

A signed request can also be replayed by whoever captured it, for as long as Slack's signing scheme accepts its
timestamp (five minutes either side of now): `SeenRequests` lets each signature through once (`slack/http.py`)."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import timedelta

from ..clock import Clock
from ..logging import get_logger
from ..store.errors import StoreError
from ..store.store import Store

__all__ = ["SeenEvents", "StoreSeenEvents", "SeenRequests", "SEEN_TTL_S", "REPLAY_WINDOW_S"]

log = get_logger(__name__)

SEEN_TTL_S = 3600.0  # Slack retries within minutes; an hour is generous (the one ttl of `Store.first_time`)
REPLAY_WINDOW_S = 600.0  # a timestamp is accepted 5 minutes either side of now: one signature stays usable 10 minutes
# The replay check sits on the ack's path and Slack gives up after 3 s: a store that is locked or refusing connections
# (its own retries can last 30 s) must not hold the ack; past this, this process decides alone.
REPLAY_CHECK_TIMEOUT_S = 1.0


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


class SeenRequests:
    """Signed requests already let through, by signature (it covers the timestamp and every byte of the body).

    With the store, one row per signature (`Store.first_time`, the one ttl), so a replay to another replica is
    refused too; every signature is also kept in this process, which alone decides when the store fails or does not
    answer within `timeout_s` (the ack cannot wait longer; the store's write still completes in the background)."""

    def __init__(self, store: Store | None, clock: Clock, *, max_size: int = 100_000,
                 timeout_s: float = REPLAY_CHECK_TIMEOUT_S) -> None:
        self._store = store
        self._clock = clock
        self._timeout = timeout_s
        self._local = SeenEvents(ttl_s=REPLAY_WINDOW_S, max_size=max_size)

    async def first_time(self, signature: str) -> bool:
        """True the first time a signature is offered (across replicas, with the store); False for a replay."""
        return await self.first_here(signature) and await self.first_in_store(signature)

    async def first_here(self, signature: str) -> bool:
        """This process's half, decided without waiting (what the ack depends on, `slack/acks.py`)."""
        return await self._local.first_time(signature)

    async def first_in_store(self, signature: str) -> bool:
        """The store's half, for a signature this process saw first: False when another replica had it."""
        if self._store is None:
            return True
        ask = asyncio.ensure_future(self._store.first_time(f"request:{signature}", now=self._clock(),
                                                            ttl=timedelta(seconds=SEEN_TTL_S)))
        try:
            # shielded: the store's grouped write goes on (and records the key) when the ack stops waiting for it
            return await asyncio.wait_for(asyncio.shield(ask), self._timeout)
        except StoreError as e:  # seen here first, so a replay to this replica is still refused
            log.warning("replay check by this process alone: the store failed", error=str(e))
            return True
        except TimeoutError:
            ask.add_done_callback(_consume)
            log.warning("replay check by this process alone: the store did not answer in time",
                        waited_s=self._timeout)
            return True


def _consume(task: asyncio.Future[bool]) -> None:
    """Reads the outcome of a replay check nobody waits for any more, so a failure is logged, not left unread."""
    if not task.cancelled() and task.exception() is not None:
        log.warning("a late replay check failed", error=str(task.exception()))
