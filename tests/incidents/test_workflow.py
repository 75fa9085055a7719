"""The incident workflow without Slack: the storm through the real processor and store, and a recording outbox in
place of the chat surface — what it is asked to post, redraw or note, when an investigation starts, and what the
store says afterwards."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from sre_bot.deps import Deps
from sre_bot.incidents.investigate import Investigated, investigation_target
from sre_bot.incidents.processor import IncidentProcessor
from sre_bot.incidents.workflow import (
    Announce,
    Answer,
    ChangeNote,
    IncidentWorkflow,
    Item,
    NotDelivered,
    Redraw,
    RunbookSuggestions,
)
from sre_bot.investigation import Investigation
from sre_bot.models import TimeRange
from sre_bot.runbooks.library import RunbookLibrary
from sre_bot.runbooks.loader import load_runbooks
from sre_bot.services.explain import Explained
from sre_bot.services.reply import Reply
from sre_bot.settings import load_settings
from sre_bot.store import Store, open_store
from sre_bot.store.incidents import StoredIncident
from tests.incidents._storm import storm, storm_config
from tests.store.helpers import T0

RUNBOOKS = Path(__file__).resolve().parents[2] / "runbooks"


@dataclass
class _Outbox:
    """Records what it is asked to send; `fail`: the item type it cannot deliver."""
    sent: list[Item] = field(default_factory=list)
    fail: type | None = None

    async def send(self, item: Item) -> str | None:
        if self.fail is not None and isinstance(item, self.fail):
            raise NotDelivered("channel_not_found")
        self.sent.append(item)
        return f"1700000000.{len(self.sent):06d}" if isinstance(item, Announce) else None

    def of(self, kind: type, number: int | None = None) -> list[Any]:
        found: list[Any] = [i for i in self.sent if isinstance(i, kind)]
        return [i for i in found if number is None or i.incident.number == number]


@dataclass
class _Investigator:
    """Records each investigation asked for; answers `answer` (None: no service known)."""
    asked: list[StoredIncident] = field(default_factory=list)
    answer: Investigated | None = None

    async def __call__(self, deps: Deps, s: StoredIncident, *, target: str) -> Investigated | None:
        assert target == investigation_target(s, deps.config.dependencies())
        self.asked.append(s)
        return self.answer

    def of(self, number: int) -> int:
        return len([s for s in self.asked if s.number == number])


@dataclass
class _World:
    store: Store
    deps: Deps
    bodies: list[tuple[float, dict[str, Any]]]
    resolve_at: float
    processor: IncidentProcessor
    mono: list[float]
    investigator: _Investigator
    workflow: IncidentWorkflow

    async def feed(self, bodies: list[tuple[float, dict[str, Any]]]) -> None:
        for _, body in bodies:
            await self.store.inbox_add(body, alerts=len(body["alerts"]), source="alertmanager", now=T0)
        while (await self.processor.step()).bodies:
            pass

    async def publish(self, out: _Outbox) -> None:
        for s in await self.workflow.due():
            await self.workflow.publish(s, out)
        await self.workflow.drain()
        await asyncio.sleep(0)

    async def incident(self, number: int) -> StoredIncident:
        s = await self.store.incidents.get(number)
        assert s is not None
        return s


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    async with await open_store(f"sqlite+aiosqlite:///{tmp_path}/sre-bot.db") as s:
        yield s


def _world(store: Store, *, runbooks: bool = False, **incidents: Any) -> _World:
    world, bodies = storm(T0)
    config = storm_config(**incidents)
    library = RunbookLibrary(load_runbooks(RUNBOOKS, config)) if runbooks else RunbookLibrary()
    deps = Deps(settings=load_settings(None), config=config, store=store, clock=lambda: T0, runbooks=library)
    mono, investigator = [1000.0], _Investigator()
    workflow = IncidentWorkflow(deps, monotonic=lambda: mono[0], investigate=investigator)
    return _World(store, deps, bodies, world.anchor - 180, IncidentProcessor(deps, holder="test"), mono,
                  investigator, workflow)


def _insufficient(target: str) -> Investigated:
    window = TimeRange(start=T0 - timedelta(minutes=30), end=T0)
    engine = Investigation(question=f"why is {target} unhealthy?", summary="nothing stands out", window=window,
                           baseline=window, insufficient=True)
    return Investigated(target, Explained(reply=Reply(kind="investigation", title="Insufficient evidence"),
                                          engine=engine), [])


async def test_a_new_incident_is_announced_once_and_its_alerts_count_as_told(store: Store) -> None:
    """The first alerts → one Announce; the store then holds its ts, a "posted" line and every alert as told, and
    nothing is behind: a second pass sends nothing."""
    w = _world(store)
    await w.feed(w.bodies[:2])
    out = _Outbox()
    await w.publish(out)
    assert [type(i) for i in out.sent] == [Announce]
    one = await w.incident(1)
    assert one.message_ts == "1700000000.000001" and one.posted_version == one.version
    [announced] = out.of(Announce, 1)
    assert not announced.investigating and announced.incident.message_ts is None
    assert [t.kind for t in await store.incidents.timeline(one.key) if t.kind == "posted"] == ["posted"]
    assert all(a.announced == a.event.status for a in await store.incidents.alerts(one.key))
    assert await w.workflow.due() == []
    await w.publish(out)
    assert len(out.sent) == 1


async def test_joins_are_batched_and_paced_but_a_resolution_is_told_at_once(store: Store) -> None:
    """Alerts joining within `every` of the last note redraw the message but wait for the thread (the incident
    stays behind); past `every` they go in one note; when every alert resolves the thread is told at once."""
    w = _world(store, every="60s")
    await w.feed(w.bodies[:2])
    out = _Outbox()
    await w.publish(out)
    await w.feed([b for b in w.bodies[2:] if b[0] < w.resolve_at])
    await w.publish(out)
    assert len(out.of(Redraw, 1)) == 1 and out.of(ChangeNote, 1) == []
    assert 1 in [s.number for s in await w.workflow.due()]  # not caught up: the thread still has to hear it

    w.mono[0] += 61
    await w.publish(out)
    assert len(out.of(Redraw, 1)) == 1  # already drawn at this version
    [note] = out.of(ChangeNote, 1)
    assert len(note.joined) == 10 and note.resolved == [] and note.refired == []
    assert 1 not in [s.number for s in await w.workflow.due()]

    await w.feed([b for b in w.bodies if b[0] >= w.resolve_at])
    assert (await w.incident(1)).incident.resolved
    await w.publish(out)  # no time has passed since the last note
    assert len(out.of(Redraw, 1)) == 2
    last = out.of(ChangeNote, 1)[-1]
    assert len(last.resolved) == 12 and last.joined == [] and last.incident.incident.resolved
    assert await w.workflow.due() == []


async def test_runbooks_are_suggested_from_the_alerts_when_no_investigation_runs(store: Store) -> None:
    """With investigations off, the database incident's thread gets the team's matching runbook right away."""
    w = _world(store, runbooks=True)
    await w.feed(w.bodies[:2])
    out = _Outbox()
    await w.publish(out)
    [suggested] = out.of(RunbookSuggestions, 1)
    assert suggested.incident.message_ts == "1700000000.000001"
    assert "db-connection-pool" in [m.runbook for m in suggested.matches]
    assert w.investigator.asked == []


async def test_an_investigation_runs_instead_and_its_runbooks_wait_for_its_hypotheses(store: Store) -> None:
    """With investigations on, a new incident is announced as being investigated, its root service is asked
    about once, and no runbook is suggested before the answer (none came: no service known)."""
    w = _world(store, runbooks=True, investigate=True)
    await w.feed(w.bodies[:2])
    out = _Outbox()
    await w.publish(out)
    [announced] = out.of(Announce, 1)
    assert announced.investigating
    assert [s.number for s in w.investigator.asked] == [1] and w.investigator.asked[0].message_ts
    assert out.of(RunbookSuggestions) == []
    assert (await w.incident(1)).investigated_root is None


async def test_a_changed_root_service_is_investigated_again_while_open(store: Store) -> None:
    """An incident whose recorded investigation is of another service than its root now is investigated again;
    one recorded for its root is not; once resolved it never is."""
    w = _world(store, investigate=True)
    await w.feed(w.bodies[:2])
    out = _Outbox()
    await w.publish(out)
    one = await w.incident(1)
    target = w.workflow.target(one)
    assert target is not None and w.investigator.of(1) == 1

    await store.incidents.set_investigation(one.key, root="somewhere-else", doc={"insufficient": True}, now=T0)
    await w.publish(out)
    assert w.investigator.of(1) == 2 and len(out.of(Redraw, 1)) == 1

    await store.incidents.set_investigation(one.key, root=target, doc={"insufficient": True}, now=T0)
    await w.publish(out)
    assert w.investigator.of(1) == 2 and len(out.of(Redraw, 1)) == 2

    await w.feed(w.bodies[2:])
    assert (await w.incident(1)).incident.resolved
    await store.incidents.set_investigation(one.key, root="somewhere-else", doc={"insufficient": True}, now=T0)
    await w.publish(out)
    assert w.investigator.of(1) == 2


async def test_an_investigation_is_recorded_only_once_its_answer_is_sent(store: Store) -> None:
    """The answer cannot be delivered → nothing is recorded (a later pass asks again); delivered → the message's
    investigation, a version bump to redraw it, and the timeline's "investigated" line."""
    w = _world(store, investigate=True)
    await w.feed(w.bodies[:2])
    one = await w.incident(1)
    w.investigator.answer = _insufficient(w.workflow.target(one) or "")
    failing = _Outbox(fail=Answer)
    await w.publish(failing)
    one = await w.incident(1)
    assert len(w.investigator.asked) == 1 and one.investigated_root is None
    assert "investigated" not in [t.kind for t in await store.incidents.timeline(one.key)]

    out = _Outbox()
    await w.workflow.publish(one, out)  # its message is up to date; the missing investigation is what is behind
    await w.workflow.drain()
    [answer] = out.of(Answer, 1)
    assert answer.requests == [] and answer.reply.title == "Insufficient evidence"
    after = await w.incident(1)
    assert after.investigated_root == w.workflow.target(one) and after.investigation is not None
    assert after.investigation["insufficient"] and after.version == one.version + 1
    lines = [t.text for t in await store.incidents.timeline(one.key) if t.kind == "investigated"]
    assert lines == [f"investigated {w.workflow.target(one)}: insufficient evidence"]
    await w.publish(out)
    assert len(out.of(Redraw, 1)) == 1 and len(w.investigator.asked) == 2
