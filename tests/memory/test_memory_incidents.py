"""Incident memory in the incident workflow (the storm through the real processor and store, a recording outbox):
an incident's investigation says "Seen before" and is remembered; a fix that succeeded in its thread followed by
the incident resolving makes it a case, with the time to recovery."""

from __future__ import annotations

from datetime import datetime, timedelta

from sre_bot.deps import Deps
from sre_bot.incidents.investigate import Investigated
from sre_bot.incidents.processor import IncidentProcessor
from sre_bot.incidents.workflow import Answer, IncidentWorkflow
from sre_bot.investigation import Investigation, RankedService
from sre_bot.models import Evidence, TimeRange
from sre_bot.services import memory
from sre_bot.services.explain import Explained
from sre_bot.services.reply import Reply
from sre_bot.settings import load_settings
from sre_bot.store import ActionRequest, Store
from sre_bot.store.cases import Case, new_case_id
from tests.incidents._storm import storm, storm_config
from tests.incidents.test_workflow import _Investigator, _Outbox
from tests.store.helpers import T0


class _Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def _investigated(service: str, at: datetime) -> Investigated:
    win = TimeRange(start=at - timedelta(minutes=30), end=at)
    ev = [Evidence(id=f"ev-{sig}", source="prometheus", kind="anomaly", label=f"{service} {sig}", query="q",
                   quote="q", service=service, data={"signal": sig, "direction": "up", "z": 30.0})
          for sig in ("connections", "latency_p95")]
    inv = Investigation(question=f"why is {service} unhealthy?", summary="…", window=win, baseline=win, evidence=ev,
                        ranking=[RankedService(service=service, score=0.6, confidence=0.3, cause="saturation",
                                               cause_kind="resource_saturation")], insufficient=True)
    return Investigated(service, Explained(Reply(kind="investigation", title="Insufficient evidence"), inv), [])


async def test_an_incident_is_seen_before_and_its_fix_and_recovery_make_a_case(store: Store) -> None:
    """A past case like this incident: its investigation's answer carries "Seen before" and a candidate is kept
    for its thread; a rollback that succeeded there, then the incident resolving, make the candidate a case of the
    fixed service with its time to recovery (audited)."""
    world, bodies = storm(T0)
    clock = _Clock(T0)
    deps = Deps(settings=load_settings(None), config=storm_config(investigate=True), store=store, clock=clock)
    investigator = _Investigator()
    workflow = IncidentWorkflow(deps, monotonic=lambda: 1000.0, investigate=investigator)
    processor = IncidentProcessor(deps, holder="test")
    for _, body in bodies[:2]:
        await store.inbox_add(body, alerts=len(body["alerts"]), source="alertmanager", now=T0)
    while (await processor.step()).bodies:
        pass
    one = await store.incidents.get(1)
    assert one is not None
    target = workflow.target(one) or "payments-db"
    clock.at = one.incident.started_at + timedelta(minutes=1)
    investigator.answer = done = _investigated(target, clock.at)
    past = clock.at - timedelta(days=7)
    seen = await store.cases.add(Case(
        id=new_case_id(), occurred_at=past, created_at=past, updated_at=past, status="active", service=target,
        cause_kind="resource_saturation", summary=f"{target} connection pool exhausted", source={"kind": "vote"},
        fingerprint=memory.fingerprint_of(done.explained.engine).confirmed(target, "resource_saturation")
        .model_dump(mode="json")))

    out = _Outbox()
    for s in await workflow.due():
        await workflow.publish(s, out)
    await workflow.drain()
    [answer] = out.of(Answer, 1)
    [section] = [x for x in answer.reply.sections if x.title == "Seen before"]
    assert section.note is not None and f"#{seen.id}" in section.note and f"{target} connection pool" in section.note
    [cand] = await store.cases.list(statuses=("candidate",))
    one = await store.incidents.get(1)
    assert one is not None and (cand.source["channel"], cand.source["thread_ts"]) == (one.channel, one.message_ts)

    assert one.channel is not None
    req = await store.create_request(ActionRequest(
        action="argocd.restart", args={"service": target}, preview="restart", risk="medium", reversible=True,
        channel=one.channel, thread_ts=one.message_ts, created_at=clock(), expires_at=clock() + timedelta(hours=1),
        source={"kind": "memory", "case": seen.id}))
    claimed = await store.claim(req.id, user="W222", user_name="bo", now=clock())
    assert claimed is not None
    await store.finish(req.id, ok=True, detail="restarted", response={}, now=clock())
    assert await memory.on_fix(deps, claimed) is not None

    for _, body in bodies[2:]:
        await store.inbox_add(body, alerts=len(body["alerts"]), source="alertmanager", now=T0)
    while (await processor.step()).bodies:
        pass
    resolved = await store.incidents.get(1)
    assert resolved is not None and resolved.incident.resolved and resolved.incident.resolved_at is not None
    clock.at = max(clock.at, resolved.incident.resolved_at)
    for s in await workflow.due():
        await workflow.publish(s, out)
    await workflow.drain()
    case = await store.cases.get(cand.id)
    assert case is not None and case.status == "active" and case.service == target
    assert case.fix is not None and case.fix["action"] == "argocd.restart"
    expected = (resolved.incident.resolved_at - datetime.fromisoformat(case.fix["at"])).total_seconds()
    assert case.fix["recovered_in_s"] == expected and case.source["confirmed_by"]["kind"] == "recovery"
