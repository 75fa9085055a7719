"""Action requests: round trips and every state transition, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from sre_bot.store import ActionRequest, Store, StoreError, open_store
from tests.store.helpers import T0

MakeRequest = Callable[..., ActionRequest]


async def test_create_and_get_round_trip(store: Store, make_request: MakeRequest) -> None:
    """A created request reads back field for field, JSON fields and UTC timestamps included."""
    req = make_request(source={"kind": "llm", "model": "claude", "prompt_version": "v3"}, message_ts=None)
    assert await store.create_request(req) == req
    assert await store.get_request(req.id) == req
    assert (await store.get_request(req.id)).created_at.tzinfo is not None  # type: ignore[union-attr]
    assert await store.get_request("x" * 22) is None


async def test_request_ids_are_url_safe_tokens(make_request: MakeRequest) -> None:
    """Ids are random url-safe tokens of at least 16 characters, different each time."""
    ids = {make_request().id for _ in range(100)}
    assert len(ids) == 100
    assert all(len(i) >= 16 and i.replace("-", "").replace("_", "").isalnum() for i in ids)


async def test_duplicate_id_is_a_store_error(store: Store, make_request: MakeRequest) -> None:
    """Creating a request whose id exists raises StoreError naming the operation and backend."""
    req = await store.create_request(make_request())
    with pytest.raises(StoreError) as caught:
        await store.create_request(req)
    assert caught.value.operation == "create_request" and caught.value.backend == store.backend


async def test_pending_lists_only_unexpired_pending(store: Store, make_request: MakeRequest) -> None:
    """`pending(now)` returns pending requests not yet expired, oldest first."""
    early = await store.create_request(make_request(created_at=T0 - timedelta(minutes=1)))
    late = await store.create_request(make_request())
    short = await store.create_request(make_request(expires_at=T0 + timedelta(minutes=1)))
    done = await store.create_request(make_request())
    await store.claim(done.id, user="U1", user_name="ana", now=T0)
    assert [r.id for r in await store.pending(T0)] == sorted([early.id, late.id, short.id],
                                                             key=lambda i: (i != early.id, i))
    assert {r.id for r in await store.pending(T0 + timedelta(minutes=2))} == {early.id, late.id}


async def test_set_message(store: Store, make_request: MakeRequest) -> None:
    """`set_message` records where the approval message went and bumps the version."""
    req = await store.create_request(make_request())
    updated = await store.set_message(req.id, "C0OTHER", "1700000001.000200")
    assert updated is not None and (updated.channel, updated.message_ts, updated.version) == (
        "C0OTHER", "1700000001.000200", req.version + 1)
    assert await store.get_request(req.id) == updated
    assert await store.set_message("y" * 22, "C", "1") is None


async def test_claim_then_finish(store: Store, make_request: MakeRequest) -> None:
    """Claim moves pending → executing with who and when; finish records the outcome; neither repeats."""
    req = await store.create_request(make_request())
    claimed = await store.claim(req.id, user="U1", user_name="ana", now=T0 + timedelta(minutes=1))
    assert claimed is not None
    assert (claimed.status, claimed.decided_by, claimed.decided_by_name) == ("executing", "U1", "ana")
    assert claimed.decided_at == claimed.started_at == T0 + timedelta(minutes=1)
    assert await store.claim(req.id, user="U2", user_name="bo", now=T0) is None

    done = await store.finish(req.id, ok=True, detail="restarted 3 pods", response={"status": 200, "pods": 3},
                              now=T0 + timedelta(minutes=2))
    assert done is not None and done.status == "succeeded" and done.finished_at == T0 + timedelta(minutes=2)
    assert (done.outcome_detail, done.target_response) == ("restarted 3 pods", {"status": 200, "pods": 3})
    assert await store.finish(req.id, ok=False, detail="again", response=None, now=T0) is None
    assert await store.get_request(req.id) == done


async def test_failed_finish(store: Store, make_request: MakeRequest) -> None:
    """`finish(ok=False)` marks the request failed."""
    req = await store.create_request(make_request())
    await store.claim(req.id, user="U1", user_name=None, now=T0)
    failed = await store.finish(req.id, ok=False, detail="argocd 500", response=None, now=T0)
    assert failed is not None and failed.status == "failed" and failed.target_response is None


async def test_finish_only_from_executing(store: Store, make_request: MakeRequest) -> None:
    """A pending (never claimed) request cannot be finished."""
    req = await store.create_request(make_request())
    assert await store.finish(req.id, ok=True, detail="", response=None, now=T0) is None
    assert (await store.get_request(req.id)).status == "pending"  # type: ignore[union-attr]


async def test_claim_refuses_an_expired_request(store: Store, make_request: MakeRequest) -> None:
    """A request past `expires_at` cannot be claimed, even before `expire()` has run."""
    req = await store.create_request(make_request())
    assert await store.claim(req.id, user="U1", user_name="ana", now=req.expires_at) is None
    assert await store.claim("z" * 22, user="U1", user_name="ana", now=T0) is None


async def test_reject_only_from_pending(store: Store, make_request: MakeRequest) -> None:
    """Reject works once on a pending request and never on one already claimed or rejected."""
    req = await store.create_request(make_request())
    rejected = await store.reject(req.id, user="U2", user_name="bo", reason="not now", now=T0)
    assert rejected is not None and (rejected.status, rejected.reason_rejected, rejected.decided_by) == (
        "rejected", "not now", "U2")
    assert await store.reject(req.id, user="U2", user_name="bo", reason="again", now=T0) is None
    assert await store.claim(req.id, user="U1", user_name="ana", now=T0) is None

    other = await store.create_request(make_request())
    await store.claim(other.id, user="U1", user_name="ana", now=T0)
    assert await store.reject(other.id, user="U2", user_name="bo", reason="late", now=T0) is None
    assert (await store.get_request(other.id)).status == "executing"  # type: ignore[union-attr]


async def test_expire(store: Store, make_request: MakeRequest) -> None:
    """`expire(now)` turns exactly the pending requests past their deadline into expired, once."""
    old = await store.create_request(make_request(expires_at=T0 + timedelta(minutes=1)))
    fresh = await store.create_request(make_request(expires_at=T0 + timedelta(hours=1)))
    claimed = await store.create_request(make_request(expires_at=T0 + timedelta(minutes=1)))
    await store.claim(claimed.id, user="U1", user_name="ana", now=T0)
    later = T0 + timedelta(minutes=5)
    assert await store.expire(later) == [old.id]
    assert await store.expire(later) == []
    assert (await store.get_request(old.id)).status == "expired"  # type: ignore[union-attr]
    assert (await store.get_request(fresh.id)).status == "pending"  # type: ignore[union-attr]
    assert (await store.get_request(claimed.id)).status == "executing"  # type: ignore[union-attr]


async def test_mark_refused(store: Store, make_request: MakeRequest) -> None:
    """`mark_refused` moves a pending request to refused with the reason, and nothing else."""
    req = await store.create_request(make_request())
    refused = await store.mark_refused(req.id, reason="kill switch is on", now=T0)
    assert refused is not None and (refused.status, refused.reason_rejected) == ("refused", "kill switch is on")
    assert await store.mark_refused(req.id, reason="again", now=T0) is None
    assert await store.claim(req.id, user="U1", user_name="ana", now=T0) is None


async def test_pending_requests_survive_reopen(store_url: str, make_request: MakeRequest) -> None:
    """Pending requests written by one store are there, unchanged, after close and reopen."""
    async with await open_store(store_url) as first:
        reqs = [await first.create_request(make_request()) for _ in range(3)]
    async with await open_store(store_url) as second:
        assert sorted(await second.pending(T0), key=lambda r: r.id) == sorted(reqs, key=lambda r: r.id)


async def test_crash_between_claim_and_finish_leaves_it_executing(store_url: str, make_request: MakeRequest) -> None:
    """A claim never finished (the process died) stays executing after reopen, cannot be re-claimed, and is stuck."""
    async with await open_store(store_url) as first:
        req = await first.create_request(make_request())
        assert await first.claim(req.id, user="U1", user_name="ana", now=T0) is not None
        # no finish(): the process is "killed" here
    async with await open_store(store_url) as second:
        assert (await second.get_request(req.id)).status == "executing"  # type: ignore[union-attr]
        assert await second.claim(req.id, user="U2", user_name="bo", now=T0) is None
        assert [r.id for r in await second.stuck(T0 + timedelta(minutes=10), timedelta(minutes=5))] == [req.id]
        assert await second.stuck(T0 + timedelta(minutes=1), timedelta(minutes=5)) == []
        assert await second.pending(T0) == []


async def test_closed_store_raises(store_url: str) -> None:
    """Using a store after close raises StoreError instead of silently reconnecting."""
    store = await open_store(store_url)
    await store.close()
    with pytest.raises(StoreError, match="closed"):
        await store.get_request("a" * 22)
