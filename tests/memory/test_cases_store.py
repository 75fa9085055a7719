"""The cases table on SQLite and PostgreSQL: candidates, confirmation by compare-and-set, listing, forgetting."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from sre_bot.store import Store
from sre_bot.store.cases import CANDIDATE_TTL, Case, new_case_id
from tests.store.helpers import T0


def _case(status: str = "active", *, service: str = "checkout", at: int = 0, channel: str = "C1",
          thread: str | None = "1.0", **kw: object) -> Case:
    fields: dict[str, object] = dict(
        id=new_case_id(), occurred_at=T0 + timedelta(minutes=at), created_at=T0 + timedelta(minutes=at),
        updated_at=T0 + timedelta(minutes=at), status=status, service=service, cause_kind="bad_deploy",
        summary=f"bad deploy of {service}", source={"kind": "answer", "channel": channel, "thread_ts": thread},
        fingerprint={"suspects": [service], "signals": {f"{service} latency up": 1.0}})
    fields.update(kw)
    return Case.model_validate(fields)


async def test_add_get_and_list_newest_first_by_service(store: Store) -> None:
    """Active cases are listed newest first, by service when asked; candidates and forgotten ones are not."""
    old = await store.cases.add(_case(at=0))
    new = await store.cases.add(_case(at=10, fix={"action": "argocd.rollback", "args": {"service": "checkout"}}))
    other = await store.cases.add(_case(at=5, service="payments-db"))
    await store.cases.add(_case("candidate", at=20))
    assert [c.id for c in await store.cases.list()] == [new.id, other.id, old.id]
    assert [c.id for c in await store.cases.list(service="checkout")] == [new.id, old.id]
    got = await store.cases.get(new.id)
    assert got == new and got.fix == {"action": "argocd.rollback", "args": {"service": "checkout"}}
    assert await store.cases.get("nope") is None


async def test_a_candidate_is_found_by_its_thread_and_confirmed_once(store: Store) -> None:
    """The newest candidate of a channel and thread is found; confirming is a compare-and-set, so a second vote
    (with the old version) changes nothing."""
    await store.cases.add(_case("candidate", at=0, thread="1.0"))
    mine = await store.cases.add(_case("candidate", at=1, thread="1.0"))
    await store.cases.add(_case("candidate", at=2, thread="2.0"))
    await store.cases.add(_case("candidate", at=1, channel="C2", thread="1.0"))
    found = await store.cases.for_thread("C1", "1.0", at=T0 + timedelta(minutes=1, seconds=30))
    assert found is not None and found.id == mine.id
    assert await store.cases.for_thread("C1", "9.9", at=T0 + timedelta(minutes=5)) is None
    now = T0 + timedelta(minutes=3)
    done = await store.cases.update(mine.id, expected=mine.version, now=now, statuses=("candidate",),
                                    status="active", summary="pool exhausted")
    assert done is not None and (done.status, done.version, done.summary, done.updated_at) == \
        ("active", 2, "pool exhausted", now)
    assert await store.cases.update(mine.id, expected=mine.version, now=now, statuses=("candidate",),
                                    status="active") is None
    with pytest.raises(ValueError):
        await store.cases.update(mine.id, expected=2, now=now, id="x")


async def test_concurrent_confirmations_one_wins(store: Store) -> None:
    """Two writers confirming the same candidate at once: exactly one gets the row."""
    c = await store.cases.add(_case("candidate"))
    results = await asyncio.gather(*(store.cases.update(c.id, expected=1, now=T0, statuses=("candidate",),
                                                        status="active", summary=f"by {i}") for i in range(2)))
    assert sum(r is not None for r in results) == 1


async def test_forget_keeps_the_row_and_old_candidates_are_pruned(store: Store) -> None:
    """A forgotten case stays in the table (for the audit) but is no longer listed; adding a candidate deletes
    candidates past their time."""
    c = await store.cases.add(_case())
    gone = await store.cases.forget(c.id, expected=c.version, now=T0)
    assert gone is not None and gone.status == "forgotten"
    assert await store.cases.list() == [] and await store.cases.get(c.id) == gone
    assert await store.cases.forget(c.id, expected=gone.version, now=T0) is None  # only active ones
    stale = await store.cases.add(_case("candidate", at=0))
    later = T0 + CANDIDATE_TTL + timedelta(minutes=1)
    await store.cases.add(_case("candidate", created_at=later, occurred_at=later, updated_at=later))
    assert await store.cases.get(stale.id) is None
