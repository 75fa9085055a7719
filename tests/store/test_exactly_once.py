"""Exactly once: however many callers, stores or processes race to claim a request, one wins."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import timedelta

from sre_bot.store import ActionRequest, Store, open_store
from tests.store.helpers import T0, read_line, say_go, spawn_claimer

MakeRequest = Callable[..., ActionRequest]
async def test_fifty_concurrent_claims_one_winner(store: Store, make_request: MakeRequest) -> None:
    """Fifty concurrent claims of one request through one store: exactly one returns the row."""
    req = await store.create_request(make_request())
    results = await asyncio.gather(*(store.claim(req.id, user=f"U{i}", user_name=f"u{i}", now=T0)
                                     for i in range(50)))
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    assert await store.get_request(req.id) == winners[0]


async def test_fifty_claims_through_two_postgres_stores(pg_url: str, make_request: MakeRequest) -> None:
    """Fifty concurrent claims split across two store instances (two replicas) on PostgreSQL: one winner."""
    async with await open_store(pg_url) as a, await open_store(pg_url) as b:
        for _ in range(3):
            req = await a.create_request(make_request())
            results = await asyncio.gather(*((a, b)[i % 2].claim(req.id, user=f"U{i}", user_name=None, now=T0)
                                             for i in range(50)))
            assert sum(r is not None for r in results) == 1


async def test_two_processes_race_one_winner_per_id(pg_url: str, make_request: MakeRequest) -> None:
    """A second OS process and this one claim the same 30 ids at once: each id has exactly one winner."""
    async with await open_store(pg_url) as store:
        ids = [(await store.create_request(make_request())).id for _ in range(30)]
        proc = await spawn_claimer(pg_url, "UCHILD", "race", ids)
        try:
            assert await read_line(proc) == "ready"
            await say_go(proc)
            mine = await asyncio.gather(*(store.claim(i, user="UPARENT", user_name=None, now=T0) for i in ids))
            theirs = set(json.loads(await read_line(proc)))
        finally:
            if proc.returncode is None:
                await asyncio.wait_for(proc.wait(), timeout=30)
        assert proc.returncode == 0
        ours = {r.id for r in mine if r is not None}
        assert ours.isdisjoint(theirs) and ours | theirs == set(ids)
        for request_id in ids:
            row = await store.get_request(request_id)
            assert row is not None and row.decided_by == ("UPARENT" if request_id in ours else "UCHILD")


async def test_killed_process_leaves_claim_executing(store_url: str, make_request: MakeRequest) -> None:
    """A process killed right after claiming leaves the row executing: never claimable again, listed as stuck."""
    async with await open_store(store_url) as store:
        req = await store.create_request(make_request())
    proc = await spawn_claimer(store_url, "UDEAD", "crash", [req.id])
    assert await read_line(proc) == "claimed"
    assert await asyncio.wait_for(proc.wait(), timeout=30) == 137
    async with await open_store(store_url) as store:
        assert await store.claim(req.id, user="U2", user_name=None, now=T0) is None
        row = await store.get_request(req.id)
        assert row is not None and (row.status, row.decided_by) == ("executing", "UDEAD")
        assert [r.id for r in await store.stuck(T0, older_than=timedelta(0))] == [req.id]
