"""Seen keys (Slack event ids, request signatures, stuck-request notices): `Store.first_time`, written in groups.

Every signed Slack request asks the store once, on the path of its ack: "was this seen before?". One transaction
each made fifty simultaneous requests fifty transactions; on SQLite, where writes take turns, the fiftieth ack
waited for the forty-nine before it. Here the callers that arrive while a write is under way share the next
transaction (group commit): one multi-row upsert answers every key in it, and the database still decides, across
processes and replicas, which caller of a key is the first.

    first = await store.first_time("event:Ev123", now=now, ttl=timedelta(hours=1))
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete

from ._dialect import upsert
from .errors import own_copy
from .schema import seen_events

if TYPE_CHECKING:
    from .store import Store

__all__ = ["SeenKeys"]

_BATCH = 500  # keys in one transaction at most (two bound values each)
_PRUNE_EVERY = timedelta(minutes=5)
# Rows are pruned once older than the longest ttl this process has asked for, and never sooner than this: a short-lived
# key (a runbook click's two minutes) must not prune the hour-long keys of Slack event ids written before a restart.
_KEEP_AT_LEAST = timedelta(hours=1)


@dataclass(frozen=True, eq=False)  # each ask is itself, even when two ask the same key at the same time
class _Ask:
    key: str
    now: datetime
    ttl: timedelta
    answer: asyncio.Future[bool]


class SeenKeys:
    """`first_time` for one store: the asks queue up, and one task writes them a group at a time."""

    def __init__(self, store: Store) -> None:
        self._s = store
        self._queue: list[_Ask] = []
        self._writer: asyncio.Task[None] | None = None
        self._next_prune: datetime | None = None
        self._longest = _KEEP_AT_LEAST

    async def first_time(self, key: str, *, now: datetime, ttl: timedelta) -> bool:
        """True for exactly one caller per `key` within `ttl`; StoreError when its group could not be written."""
        ask = _Ask(key, now, ttl, asyncio.get_running_loop().create_future())
        self._queue.append(ask)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_queued(), name="sre-bot seen keys")
        return await ask.answer

    async def _write_queued(self) -> None:
        while self._queue:
            group, self._queue = self._queue[:_BATCH], self._queue[_BATCH:]
            try:
                firsts = await self._write(group)
            except Exception as e:  # each caller gets the failure as its own (a StoreError when the store failed)
                for ask in group:
                    if not ask.answer.done():  # a caller that was cancelled no longer waits
                        ask.answer.set_exception(own_copy(e))
                continue
            except BaseException:  # cancelled (the loop is closing): nobody gets an answer
                for ask in group + self._queue:
                    ask.answer.cancel()
                self._queue.clear()
                raise
            for ask in group:
                if not ask.answer.done():
                    ask.answer.set_result(ask in firsts)

    async def _write(self, group: list[_Ask]) -> set[_Ask]:
        """One transaction for the group; the asks that were first. A key asked twice in the group is first at most
        once (its earliest ask); keys go in sorted order, so two replicas' groups lock rows in the same order."""
        earliest: dict[str, _Ask] = {}
        for ask in group:
            earliest.setdefault(ask.key, ask)
        by_ttl: dict[timedelta, list[_Ask]] = {}
        for ask in sorted(earliest.values(), key=lambda a: a.key):
            by_ttl.setdefault(ask.ttl, []).append(ask)
        now = min(a.now for a in group)
        self._longest = max(self._longest, max(by_ttl))
        firsts: set[_Ask] = set()
        async with self._s._tx("first_time", write=True, durable=False) as conn:
            if self._next_prune is None or now >= self._next_prune:  # rows no ttl in use still needs
                await conn.execute(delete(seen_events).where(seen_events.c.seen_at <= now - self._longest))
                self._next_prune = now + min(min(by_ttl), _PRUNE_EVERY)
            for ttl, asks in by_ttl.items():
                statement = upsert(self._s.backend, seen_events).values(
                    [{"key": a.key, "seen_at": a.now} for a in asks])
                statement = statement.on_conflict_do_update(
                    index_elements=[seen_events.c.key], set_={"seen_at": statement.excluded.seen_at},
                    where=seen_events.c.seen_at <= now - ttl).returning(seen_events.c.key)
                inserted = set((await conn.execute(statement)).scalars())
                firsts |= {a for a in asks if a.key in inserted}
        return firsts
