"""The feedback tables on SQLite and PostgreSQL: answers with their proposed actions, one latest vote per person,
points filtered by window and action, and autonomy overrides written by compare-and-set."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from sre_bot.store import Store, StoreError
from tests.feedback._support import T0, add_answers, answer


async def test_an_answer_round_trips_with_its_hypotheses_and_requests(store: Store) -> None:
    """What the answer claimed (confidences stated and calibrated) and the requests it proposed come back as stored."""
    a = answer(T0, actions=["argocd.rollback", "alertmanager.silence"], confidence=0.66, calibrated=0.58)
    await store.feedback.add_answer(a)
    got = await store.feedback.get_answer(a.id)
    assert got is not None and got.draft == a.draft and sorted(got.requests) == sorted(a.requests)
    assert got.actions == ["alertmanager.silence", "argocd.rollback"] and got.at == T0
    assert await store.feedback.get_answer("x" * 22) is None
    with pytest.raises(StoreError):
        await store.feedback.add_answer(a)


async def test_one_person_counts_once_per_answer_with_their_latest_vote(store: Store) -> None:
    """A second vote by the same person replaces the first (and clears its real cause); another person adds one."""
    a = await store.feedback.add_answer(answer(T0))
    await store.feedback.vote(a.id, "W1", "no", now=T0)
    assert (await store.feedback.set_real_cause(a.id, "W1", "a cert expired", now=T0)).real_cause == "a cert expired"
    again = await store.feedback.vote(a.id, "W1", "yes", now=T0 + timedelta(minutes=1))
    assert (again.verdict, again.votes, again.real_cause) == ("yes", 2, None)
    await store.feedback.vote(a.id, "W2", "partly", now=T0)
    assert await store.feedback.tally(a.id) == {"yes": 1, "partly": 1}
    assert await store.feedback.set_real_cause(a.id, "W9", "never voted", now=T0) is None


async def test_points_are_filtered_by_window_action_and_answerer(store: Store) -> None:
    """Points come from answers posted in the window; `action` keeps the answers that proposed it."""
    old = await add_answers(store, ["no"], at=T0 - timedelta(days=20), actions=["argocd.rollback"])
    rolled = await add_answers(store, ["yes", "no"], at=T0, actions=["argocd.rollback"])
    plain = await add_answers(store, ["partly"], at=T0 + timedelta(hours=1))
    llm = await store.feedback.add_answer(answer(T0, answered_by="llm"))
    await store.feedback.vote(llm.id, "W5", "yes", now=T0)
    since = T0 - timedelta(days=14)
    assert len(await store.feedback.points(since=since)) == 4
    by_action = await store.feedback.points(since=since, action="argocd.rollback")
    assert sorted(p.answer_id for p in by_action) == sorted(a.id for a in rolled)
    assert all(p.actions == ("argocd.rollback",) for p in by_action)
    assert [p.answer_id for p in await store.feedback.points(since=since, answered_by="llm")] == [llm.id]
    assert [p.answer_id for p in await store.feedback.points(since=since, until=T0 + timedelta(minutes=30),
                                                            answered_by="engine")] == [rolled[1].id, rolled[0].id]
    assert old[0].id in {p.answer_id for p in await store.feedback.points(since=T0 - timedelta(days=30))}
    assert plain[0].id not in {p.answer_id for p in by_action}
    assert await store.feedback.count_answers(since=since) == 4


async def test_overrides_are_compare_and_set(store: Store) -> None:
    """Two writers expecting the same row: exactly one wins; a later write must name the version it replaces."""
    assert await store.feedback.override("alertmanager.silence") is None
    first = await asyncio.gather(*(store.feedback.set_override("alertmanager.silence", "approve", expected=None,
                                                               by=None, reason=f"writer {i}", now=T0)
                                   for i in range(3)))
    [won] = [w for w in first if w is not None]
    assert won.level == "approve" and won.version == 1
    second = await asyncio.gather(*(store.feedback.set_override("alertmanager.silence", "suggest", expected=won,
                                                                by=None, reason="again", now=T0, data={"n": i})
                                    for i in range(3)))
    assert len([w for w in second if w is not None]) == 1
    raised = await store.feedback.set_override("alertmanager.silence", None, expected=won, by="W2", reason="stale",
                                               now=T0)
    assert raised is None  # `won` is no longer the row
    now_row = await store.feedback.override("alertmanager.silence")
    assert now_row is not None and now_row.level == "suggest" and now_row.version == 2
    assert await store.feedback.lowered("alertmanager.silence") == (
        "suggest", "set to `suggest` by the feedback monitor at 2026-11-21 14:00 UTC: again")
    assert [o.action for o in await store.feedback.overrides()] == ["alertmanager.silence"]
