"""The step-down monitor and the people who raise a level back, on a real store: one rung per judgement, fresh
votes for the next rung, never up by itself, a person raises within the configured ceiling, and `propose` acts
at the lowered level."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from sre_bot.actions.approvals import propose
from sre_bot.actions.catalog import validate_action
from sre_bot.errors import UsageError
from sre_bot.feedback.autonomy import current_level, set_autonomy
from sre_bot.feedback.stepdown import check_step_down
from sre_bot.store import Store
from tests.feedback._support import T0, MutableClock, add_answers, config, deps_on

SILENCE = "alertmanager.silence"


def _cfg(**step_down):
    return config(policies={SILENCE: {"autonomy": "auto"}},
                  step_down={"below": 0.6, "window": "14d", "min_feedback": 4, **step_down})


async def _kinds(store: Store) -> list[str]:
    return [r.kind for r in reversed(await store.latest(100))]


async def test_low_accuracy_steps_an_action_down_one_rung_and_audits_it(store: Store) -> None:
    """3 no and 1 partly on the answers that proposed the silence (accuracy 0.125 < 0.6): auto → approve, once."""
    clock = MutableClock(T0 + timedelta(hours=1))
    deps = deps_on(store, clock, _cfg())
    await add_answers(store, ["no", "no", "partly", "no"], at=T0, actions=[SILENCE])
    [step] = await check_step_down(deps, [SILENCE], channel="C111", answer_id="a1")
    assert (step.before, step.after, step.tally.votes, step.tally.accuracy) == ("auto", "approve", 4, 0.125)
    assert "0.12 accurate (threshold 0.60)" in step.message() and "/sre autonomy alertmanager.silence auto" in \
        step.message()
    level = await current_level(deps, SILENCE)
    assert (level.configured, level.level, level.effective) == ("auto", "approve", "approve")
    assert "feedback monitor" in (level.why or "")
    [record] = [r for r in await store.latest(10) if r.kind == "autonomy_stepped_down"]
    assert record.data["before"] == "auto" and record.data["after"] == "approve" and record.data["votes"] == 4
    assert record.data["accuracy"] == 0.125 and record.data["threshold"] == 0.6
    assert await check_step_down(deps, [SILENCE], channel="C111") == []  # the same votes do not count twice


async def test_the_next_rung_needs_fresh_votes_after_the_step_down(store: Store) -> None:
    """After stepping to approve, only answers posted since then count: four new bad votes take it to suggest."""
    clock = MutableClock(T0 + timedelta(hours=1))
    deps = deps_on(store, clock, _cfg())
    await add_answers(store, ["no"] * 4, at=T0, actions=[SILENCE])
    assert len(await check_step_down(deps, [SILENCE], channel="C111")) == 1
    clock.advance(hours=1)
    await add_answers(store, ["no"] * 3, at=clock.at, actions=[SILENCE])
    clock.advance(hours=1)
    assert await check_step_down(deps, [SILENCE], channel="C111") == []  # 3 fresh votes < min_feedback
    await add_answers(store, ["no"], at=clock.at, actions=[SILENCE])
    clock.advance(minutes=5)
    [step] = await check_step_down(deps, [SILENCE], channel="C111")
    assert (step.before, step.after) == ("approve", "suggest")
    assert await check_step_down(deps, [SILENCE], channel="C111") == []  # suggest is the bottom rung


async def test_good_feedback_never_raises_a_level(store: Store) -> None:
    """Accuracy above the threshold after a step-down leaves the lowered level as it is."""
    clock = MutableClock(T0 + timedelta(hours=1))
    deps = deps_on(store, clock, _cfg())
    await add_answers(store, ["no"] * 4, at=T0, actions=[SILENCE])
    await check_step_down(deps, [SILENCE], channel="C111")
    await add_answers(store, ["yes"] * 10, at=clock.at + timedelta(minutes=1), actions=[SILENCE])
    clock.advance(hours=1)
    assert await check_step_down(deps, [SILENCE], channel="C111") == []
    assert (await current_level(deps, SILENCE)).level == "approve"


async def test_too_few_votes_old_votes_or_other_actions_do_not_count(store: Store) -> None:
    """Below min_feedback, outside the window, or on answers that proposed something else: no step-down."""
    clock = MutableClock(T0 + timedelta(hours=1))
    deps = deps_on(store, clock, _cfg())
    await add_answers(store, ["no"] * 3, at=T0, actions=[SILENCE])
    await add_answers(store, ["no"] * 5, at=T0 - timedelta(days=15), actions=[SILENCE])
    await add_answers(store, ["no"] * 5, at=T0, actions=["argocd.rollback"])
    assert await check_step_down(deps, [SILENCE], channel="C111") == []
    disabled = deps_on(store, clock, _cfg(enabled=False))
    await add_answers(store, ["no"], at=T0, actions=[SILENCE])
    assert await check_step_down(disabled, [SILENCE], channel="C111") == []
    assert len(await check_step_down(deps, [SILENCE], channel="C111")) == 1


async def test_replicas_judging_together_step_down_once(store: Store) -> None:
    """Three concurrent judgements of the same votes make one step-down and one audit record."""
    deps = deps_on(store, MutableClock(T0 + timedelta(hours=1)), _cfg())
    await add_answers(store, ["no"] * 4, at=T0, actions=[SILENCE])
    results = await asyncio.gather(*(check_step_down(deps, [SILENCE], channel="C111") for _ in range(3)))
    assert sum(len(r) for r in results) == 1
    assert (await _kinds(store)).count("autonomy_stepped_down") == 1
    assert (await current_level(deps, SILENCE)).level == "approve"


async def test_a_person_raises_it_back_within_the_configured_ceiling(store: Store) -> None:
    """Non-approvers are refused (audited); the config is the ceiling; an approver raises it (audited)."""
    deps = deps_on(store, MutableClock(T0 + timedelta(hours=1)), _cfg())
    await add_answers(store, ["no"] * 4, at=T0, actions=[SILENCE])
    await check_step_down(deps, [SILENCE], channel="C111")
    with pytest.raises(UsageError, match="approvers"):
        await set_autonomy(deps, action=SILENCE, level="auto", user="W999", user_name=None, groups=frozenset())
    with pytest.raises(UsageError, match="not a level here"):
        await set_autonomy(deps, action=SILENCE, level="off", user="W222", user_name=None, groups=frozenset())
    with pytest.raises(UsageError, match="unknown action"):
        await set_autonomy(deps, action="rm.rf", level="auto", user="W222", user_name=None, groups=frozenset())
    said = await set_autonomy(deps, action=SILENCE, level="auto", user="W333", user_name="lead", groups=frozenset())
    assert "raised from `approve` to `auto`" in said and "configured level" in said
    level = await current_level(deps, SILENCE)
    assert (level.level, level.override.level, level.override.set_by) == ("auto", None, "W333")
    assert (await _kinds(store))[-3:] == ["autonomy_stepped_down", "refused", "autonomy_raised"]
    capped = deps_on(store, deps.clock, config(policies={"argocd.rollback": {"autonomy": "approve"}}))
    with pytest.raises(UsageError, match="ceiling"):
        await set_autonomy(capped, action="argocd.rollback", level="auto", user="W222", user_name=None,
                           groups=frozenset())


async def test_the_old_votes_do_not_undo_a_raise_at_once(store: Store) -> None:
    """Right after a person raises the level, the votes that lowered it are behind the new start of the window."""
    clock = MutableClock(T0 + timedelta(hours=1))
    deps = deps_on(store, clock, _cfg())
    await add_answers(store, ["no"] * 4, at=T0, actions=[SILENCE])
    await check_step_down(deps, [SILENCE], channel="C111")
    clock.advance(minutes=10)
    await set_autonomy(deps, action=SILENCE, level="auto", user="W222", user_name=None, groups=frozenset())
    clock.advance(minutes=10)
    assert await check_step_down(deps, [SILENCE], channel="C111") == []


async def test_propose_acts_at_the_lowered_level(store: Store) -> None:
    """A silence configured `auto` but stepped down to `suggest` is only suggested, with the reason; nothing runs."""
    deps = deps_on(store, MutableClock(T0), _cfg())
    await store.feedback.set_override(SILENCE, "suggest", expected=None, by=None, reason="accuracy 0.20", now=T0)
    proposal = validate_action(SILENCE, {"matchers": {"alertname": "HighLatency"}, "duration": "1h",
                                         "comment": "noisy alert"},
                               reason="noisy", evidence_ids=[], evidence={}, services={}, webhooks=(),
                               by_person=True)
    proposed = await propose(deps, proposal, source={"kind": "person"}, trigger={"kind": "test"},
                             requested_by="W111", channel="C111")
    assert proposed.kind == "suggest" and proposed.request is None
    assert "accuracy 0.20" in (proposed.note or "") and "feedback monitor" in (proposed.note or "")
    assert await store.pending(T0) == []
