"""How a cause gets confirmed, on a real store (SQLite and PostgreSQL): "the real cause was …" after a No, and an
approved fix that succeeded followed by the incident resolving (with the time to recovery)."""

from __future__ import annotations

from datetime import timedelta

from sre_bot.feedback.votes import record_real_cause, record_vote
from sre_bot.investigation import Hypothesis, Investigation, RankedService
from sre_bot.models import Evidence, TimeRange
from sre_bot.services import memory
from sre_bot.store import ActionRequest, Store, new_request_id
from sre_bot.store.feedback import StoredAnswer
from tests.feedback._support import T0, MutableClock, deps_on, draft


def _investigation() -> Investigation:
    win = TimeRange(start=T0 - timedelta(minutes=30), end=T0)
    ev = [Evidence(id=f"ev-{svc}-{sig}", source="prometheus", kind="anomaly", label=f"{svc} {sig}", query="q",
                   quote="q", service=svc, data={"signal": sig, "direction": "up", "z": 25.0})
          for svc, sig in (("checkout", "latency_p95"), ("payments-db", "connections"))]
    return Investigation(question="why is checkout slow?", summary="…", window=win, baseline=win, evidence=ev,
                         ranking=[RankedService(service="checkout", score=0.8, confidence=0.7, cause="bad deploy",
                                                cause_kind="bad_deploy"),
                                  RankedService(service="payments-db", score=0.3, confidence=0.2, cause="saturation",
                                                cause_kind="resource_saturation")],
                         hypotheses=[Hypothesis(service="checkout", cause="bad deploy", cause_kind="bad_deploy",
                                                confidence=0.7, evidence=ev[:1])])


async def test_the_real_cause_after_a_no_becomes_the_case(store: Store) -> None:
    """A No vote records nothing; the real cause that follows makes the answer's candidate an active case of the
    service it names (audited), and the next similar answer recalls it."""
    clock = MutableClock()
    deps = deps_on(store, clock)
    inv = _investigation()
    cand = await memory.remember(deps, inv, channel="C111", thread_ts="1.0", question=inv.question)
    assert cand is not None and cand.status == "candidate"
    clock.advance(seconds=5)
    answer = await store.feedback.add_answer(StoredAnswer(id=new_request_id(), at=clock(), channel="C111",
                                                          message_ts="1.1", thread_ts="1.0", draft=draft()))
    voted = await record_vote(deps, answer_id=answer.id, verdict="no", voter="W111", voter_name="ana",
                              channel="C111", message_ts="1.1")
    assert voted.refusal is None and await store.cases.list() == []
    assert await record_real_cause(deps, answer_id=answer.id, voter="W111", voter_name="ana",
                                   text="payments-db ran out of connections (pool of 20)") is None
    [case] = await store.cases.list()
    assert case.id == cand.id and case.service == "payments-db" and case.cause_kind == "reported"
    assert case.summary == "payments-db ran out of connections (pool of 20)"
    assert case.source["confirmed_by"] == {"kind": "real_cause", "user": "W111", "answer_id": answer.id,
                                           "verdict": "no"}
    assert "case_recorded" in [r.kind for r in await store.latest(20)]
    [recalled] = await memory.recall(deps, inv)  # today the engine ranks checkout first, payments-db second
    assert recalled.case.id == case.id and recalled.similarity.score >= memory.SEEN_THRESHOLD
    assert "payments-db among the suspects both times" in recalled.similarity.because()


async def test_a_fix_then_recovery_makes_a_case_with_time_to_recovery(store: Store) -> None:
    """A succeeded request in the answer's thread becomes the candidate's fix; when the incident there resolves 6
    minutes later, the candidate is a case of the fixed service, fixed by that action, recovered in 6 min."""
    clock = MutableClock()
    deps = deps_on(store, clock)
    inv = _investigation()
    await memory.remember(deps, inv, channel="C111", thread_ts="2.0", question="incident #4")
    req = await store.create_request(ActionRequest(
        action="argocd.rollback", args={"service": "checkout"}, preview="roll back checkout", risk="medium",
        reversible=True, channel="C111", thread_ts="2.0", created_at=clock(), expires_at=clock() + timedelta(hours=1),
        source={"kind": "engine"}))
    clock.advance(minutes=1)
    claimed = await store.claim(req.id, user="W222", user_name="bo", now=clock())
    assert claimed is not None
    await store.finish(req.id, ok=True, detail="rolled back", response={}, now=clock())
    with_fix = await memory.on_fix(deps, claimed)
    assert with_fix is not None and with_fix.status == "candidate" and with_fix.fix is not None
    assert (with_fix.fix["action"], with_fix.fix["approved_by"]) == ("argocd.rollback", "W222")
    assert await memory.on_recovered(deps, "C111", "2.0", at=clock() - timedelta(minutes=5)) is None  # before it
    case = await memory.on_recovered(deps, "C111", "2.0", at=clock() + timedelta(minutes=6))
    assert case is not None and case.status == "active" and case.service == "checkout"
    assert case.fix is not None and case.fix["recovered_in_s"] == 360
    assert case.source["confirmed_by"]["kind"] == "recovery"
    assert "fixed by `argocd.rollback checkout` (approved by @bo), recovered in 6 min" in memory.case_line(case)
    assert await memory.on_recovered(deps, "C111", "2.0", at=clock() + timedelta(minutes=9)) is None  # once
