"""Flags (the kill switch) persist across restarts; seen events say "first time" exactly once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import func, select

from sre_bot.store import Flag, Store, open_store
from sre_bot.store.schema import seen_events
from tests.store.helpers import T0

TTL = timedelta(hours=1)


async def test_unset_flag_reads_false(store: Store) -> None:
    """A flag never set reads (False, None, None)."""
    assert await store.get_flag("kill_switch") == (False, None, None)


async def test_set_flag_overwrites(store: Store) -> None:
    """Setting a flag twice keeps the last value, who and when."""
    await store.set_flag("kill_switch", True, by="U1", now=T0)
    assert await store.set_flag("kill_switch", False, by="U2", now=T0 + timedelta(minutes=1)) == Flag(
        False, "U2", T0 + timedelta(minutes=1))
    assert await store.get_flag("kill_switch") == (False, "U2", T0 + timedelta(minutes=1))


async def test_flags_survive_reopen(store_url: str) -> None:
    """The kill switch set by one process is still on after close and reopen."""
    async with await open_store(store_url) as first:
        await first.set_flag("kill_switch", True, by="U1", now=T0)
    async with await open_store(store_url) as second:
        assert await second.get_flag("kill_switch") == Flag(True, "U1", T0)
        assert await second.get_flag("other") == Flag(False, None, None)


async def test_first_time(store: Store) -> None:
    """A key is new once; seen again within the ttl it is not; after the ttl it is new again."""
    assert await store.first_time("Ev01", now=T0, ttl=TTL) is True
    assert await store.first_time("Ev01", now=T0 + timedelta(minutes=59), ttl=TTL) is False
    assert await store.first_time("Ev02", now=T0, ttl=TTL) is True
    assert await store.first_time("Ev01", now=T0 + timedelta(hours=2), ttl=TTL) is True
    assert await store.first_time("Ev01", now=T0 + timedelta(hours=2, minutes=1), ttl=TTL) is False


async def test_first_time_prunes_old_keys(store: Store) -> None:
    """Keys older than the ttl are deleted by a later call."""
    for i in range(5):
        await store.first_time(f"old-{i}", now=T0, ttl=TTL)
    await store.first_time("new", now=T0 + timedelta(hours=2), ttl=TTL)
    async with store._engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(seen_events))).scalar_one() == 1


async def test_first_time_concurrent_callers(store: Store) -> None:
    """Twenty concurrent callers with the same key: exactly one hears True."""
    results = await asyncio.gather(*(store.first_time("Ev-race", now=T0, ttl=TTL) for _ in range(20)))
    assert results.count(True) == 1


async def test_first_time_across_two_postgres_stores(pg_url: str) -> None:
    """Two store instances (two replicas) on one PostgreSQL: for each key only one of them hears True."""
    async with await open_store(pg_url) as a, await open_store(pg_url) as b:
        for i in range(10):
            key = f"Ev{i:03d}"
            results = await asyncio.gather(*(s.first_time(key, now=T0, ttl=TTL) for s in (a, b) * 5))
            assert results.count(True) == 1, key
