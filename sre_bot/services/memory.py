"""Incident memory: every answer is remembered as a candidate case, a confirmed cause makes it a case, and a new
answer that looks like a past case says so ("Seen before") and offers the same fix through the approval gate.

    reply = await with_memory(deps, reply, engine, caller=caller, names=names)   # services/mention.py, last step
    await on_vote(deps, answer, vote)                  # feedback/votes.py: a "Right cause?" yes confirms the cause
    await on_real_cause(deps, answer_id, voter, text)  # "the real cause was …" confirms that one instead
    await on_fix(deps, request)                        # actions/approvals.py: an approved action that succeeded
    await on_recovered(deps, channel, thread_ts, at=resolved_at)   # the incident resolved after that fix

A cause is confirmed by a person's "yes" (the answer's top hypothesis), their "the real cause was …" (the service
it names, else none), or by a fix that succeeded and was followed by the incident resolving (its time to recovery
measured from the fix to the resolution). The similarity is `analysis.memory` (explained part by part); a past
case counts as "seen before" at `SEEN_THRESHOLD` or above, chosen on the Nezha benchmark
(`benchmarks/nezha_memory.py`). The memory never changes the engine's ranking or its calibrated probabilities:
when the past case points elsewhere the answer says so in its own words. Its fix is proposed as any other
suggestion (source `memory`: never at `auto`), and only if today's evidence supports it (`validate_action`); it
never runs on similarity alone. A failure of the memory never costs the answer: it is logged and left out.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, ParamSpec

from ..actions.approvals import Proposed, audit, propose
from ..actions.catalog import CATALOG, ProposedAction, validate_action
from ..analysis.engine import DEPLOY_LOOKBACK_S
from ..analysis.memory import Fingerprint, Similarity, describe, fingerprint_of, nearest
from ..deps import Deps
from ..errors import UsageError
from ..incidents.investigate import Investigated
from ..investigation import Investigation
from ..logging import get_logger
from ..models import Evidence
from ..store.cases import Case, new_case_id
from ..store.errors import StoreError
from ..store.feedback import StoredAnswer, Vote
from ..store.incidents import StoredIncident
from ..store.records import ActionRequest
from .caller import Caller
from .names import find_service, known_services
from .reply import Reply, Section, md_escape

__all__ = ["SEEN_THRESHOLD", "NEAREST", "Recalled", "remember", "recall", "seen_before_section", "propose_fix",
           "with_memory", "remembered", "with_incident_memory", "incident_recovered", "on_vote", "on_real_cause",
           "on_fix", "on_recovered", "confirm_latest", "case_line"]

log = get_logger(__name__)

# The similarity at or above which a past case is "seen before": chosen on the Nezha benchmark, leave-one-day-out
# (`benchmarks/nezha_memory.py`): on each day, the lowest threshold with at most 5% false "seen before"; this is
# the stricter of the two (OnlineBoutique's 0.64; TrainTicket's was 0.55).
SEEN_THRESHOLD = 0.64
NEAREST = 3  # past cases compared in detail and shown at most
FIX_WITHIN = timedelta(days=1)  # an action counts as the fix of an answer in its thread asked at most this long before
_SCAN = 500  # active cases compared with each answer (newest first)
_DROP_ARGS = ("to_history_id", "revision", "silence_id", "away_from")  # specific to the past occurrence, not to the fix


P = ParamSpec("P")


def _quiet(hook: Callable[P, Awaitable[Case | None]]) -> Callable[P, Awaitable[Case | None]]:
    """A confirmation hook runs inside someone else's path (a vote, an action): a store failure there is logged and
    costs only the case, never that path."""
    @functools.wraps(hook)
    async def run(*args: P.args, **kwargs: P.kwargs) -> Case | None:
        try:
            return await hook(*args, **kwargs)
        except StoreError as e:
            log.warning("incident memory not updated: the store failed", hook=hook.__name__, error=str(e))
            return None
    return run


@dataclass(frozen=True)
class Recalled:
    case: Case
    similarity: Similarity


def _fingerprint(case: Case) -> Fingerprint:
    return Fingerprint.model_validate(case.fingerprint)


async def remember(deps: Deps, engine: Investigation, *, channel: str, thread_ts: str | None,
                   question: str, trigger: dict[str, Any] | None = None) -> Case | None:
    """Keep what this answer saw as a candidate case (confirmed later, or never); None when it saw nothing."""
    if deps.store is None:
        return None
    fp = fingerprint_of(engine)
    if fp.empty:
        return None
    top = engine.ranking[0] if engine.ranking else None
    now = deps.clock()
    redact = deps.llm.redactor.redact if deps.llm is not None else (lambda s: s)
    question = redact(question)
    case = Case(id=new_case_id(), occurred_at=engine.window.end, created_at=now, updated_at=now, status="candidate",
                service=top.service if top else (engine.focus or ""), cause_kind=top.cause_kind if top else "unknown",
                summary=(top.cause if top else engine.summary)[:500],
                source={"kind": "answer", "channel": channel, "thread_ts": thread_ts, "question": question[:300],
                        "engine": engine.engine, **({"trigger": trigger} if trigger else {})},
                fingerprint=fp.model_dump(mode="json"))
    return await deps.store.cases.add(case)


async def recall(deps: Deps, engine: Investigation, *, k: int = NEAREST,
                 threshold: float = SEEN_THRESHOLD) -> list[Recalled]:
    """The active past cases at least `threshold` similar to this answer, closest first (at most `k`)."""
    if deps.store is None:
        return []
    fp = fingerprint_of(engine)
    if fp.empty:
        return []
    cases = await deps.store.cases.list(limit=_SCAN)
    near = nearest([(c, _fingerprint(c)) for c in cases], fp, k=k)
    return [Recalled(c, s) for c, s in near if s.score >= threshold]


def _fix_text(fix: dict[str, Any] | None) -> str:
    if not fix or not fix.get("action"):
        return "no fix recorded"
    args = fix.get("args") or {}
    target = f" {args['service']}" if args.get("service") else ""
    approver = fix.get("approved_by_name") or fix.get("approved_by")
    who = " (run automatically)" if fix.get("approved_by") == "auto" else f" (approved by @{approver})" if approver \
        else ""
    text = f"fixed by `{fix['action']}{target}`{who}"
    if fix.get("recovered_in_s") is not None:
        text += f", recovered in {max(1, round(fix['recovered_in_s'] / 60))} min"
    return text


def case_line(case: Case, similarity: Similarity | None = None, *, escape: bool = False) -> str:
    """`#id on 2026-11-03 — <cause>; fixed by `action service` (approved by @x), recovered in 6 min; 0.91 similar
    because …`. `escape`: for mrkdwn text (`Reply.text`); a section's note is escaped by the renderer."""
    esc = md_escape if escape else (lambda t: t)
    line = f"*#{case.id}* on {case.occurred_at:%Y-%m-%d} — {esc(case.summary[:300])}; {esc(_fix_text(case.fix))}"
    if similarity is not None:
        line += f"; {similarity.score:.2f} similar because {esc(similarity.because())}"
    return line


def seen_before_section(recalled: list[Recalled], engine: Investigation,
                        offered: dict[str, str] | None = None) -> Section:
    """The "Seen before" section: each past case in one line, and what today's answer does with it."""
    lines = [f"• {case_line(r.case, r.similarity)}" + (" (the same episode: its window overlaps this one)"
                                                        if r.case.occurred_at > engine.window.start else "")
             for r in recalled]
    best = recalled[0].case
    top = engine.ranking[0].service if engine.ranking else None
    if top is not None and best.service and best.service != top:
        lines.append(f"The engine ranks {top} first; this past case points at {best.service}. The probabilities "
                     "above are the engine's own: the memory does not change them.")
    for case_id, note in (offered or {}).items():
        lines.append(f"Fix of #{case_id}: {note}")
    return Section(title="Seen before", note="\n".join(lines))


def _today(engine: Investigation, service: str) -> list[Evidence]:
    """Today's evidence about `service`: what a fix must rest on, besides the past case."""
    hyp = [e for h in engine.hypotheses if h.service == service for e in h.evidence]
    own = [e for e in engine.evidence if e.service == service and e.status == "ok"
           and e.kind in ("anomaly", "edge_anomaly", "deploy", "log_shift", "alert")]
    return list({e.id: e for e in [*hyp, *own]}.values())


def _fix_proposal(r: Recalled, engine: Investigation, names: dict[str, str]) -> ProposedAction:
    """The past case's fix as today's proposal, citing today's evidence; UsageError when today's evidence does not
    support it (the memory alone never does)."""
    fix = r.case.fix or {}
    action = str(fix.get("action") or "")
    if action not in CATALOG:
        raise UsageError("no fix was recorded for it")
    args = {k: v for k, v in (fix.get("args") or {}).items() if k not in _DROP_ARGS}
    if "service" in CATALOG[action].args.model_fields and r.case.service:
        args["service"] = r.case.service
    today = _today(engine, r.case.service)
    if not today:
        raise UsageError(f"nothing about {r.case.service} is off today, so it is not offered on similarity alone")
    reason = (f"seen before: case #{r.case.id} ({r.case.summary[:150]}) was fixed by {action}; "
              f"{r.similarity.score:.2f} similar; today: {today[0].label}")
    return validate_action(action, args, reason=reason, evidence_ids=[e.id for e in today],
                           evidence={e.id: e for e in [*engine.evidence, *today]}, services=names,
                           since=engine.window.start - timedelta(seconds=DEPLOY_LOOKBACK_S))


async def propose_fix(deps: Deps, r: Recalled, engine: Investigation, *, channel: str, thread_ts: str | None,
                      requested_by: str | None, requested_by_name: str | None, names: dict[str, str],
                      trigger: dict[str, Any]) -> Proposed:
    """Propose the past case's fix through the approval gate (source `memory`, with the case and the similarity),
    or say why not (`Proposed("error")`)."""
    try:
        proposal = _fix_proposal(r, engine, names)
    except UsageError as e:
        dummy = ProposedAction(action=str((r.case.fix or {}).get("action") or "none"), args={}, reason="",
                               evidence_ids=[])
        return Proposed("error", dummy, note=f"not offered: {e}")
    source = {"kind": "memory", "case": r.case.id, "similarity": r.similarity.score,
              "because": r.similarity.because(), "engine": engine.engine}
    return await propose(deps, proposal, source=source, trigger=trigger, requested_by=requested_by,
                         requested_by_name=requested_by_name, channel=channel, thread_ts=thread_ts,
                         evidence={e.id: e for e in engine.evidence})


def _same(req: ActionRequest, proposal: ProposedAction) -> bool:
    return req.action == proposal.action and req.args.get("service") == proposal.args.get("service")


async def with_memory(deps: Deps, reply: Reply, engine: Investigation, *, caller: Caller | None,
                      names: dict[str, str], question: str = "") -> Reply:
    """`reply` with a "Seen before" section when a past case is close, the fix of the closest one proposed (unless
    the answer already proposes it; its request joins `reply.requests`), and this answer remembered as a candidate
    case. Needs the store and a caller (where the answer goes); otherwise, or when the store fails, the reply as
    it was."""
    return (await remembered(deps, reply, engine, caller=caller, names=names, question=question))[0]


async def with_incident_memory(deps: Deps, s: StoredIncident, done: Investigated) -> Investigated:
    """An incident's investigation with the memory's "Seen before" and fix (`with_memory`), in its thread."""
    if deps.store is None or not s.channel or not s.message_ts:
        return done
    caller = Caller(user="", channel=s.channel, thread_ts=s.message_ts, user_name=f"incident #{s.number}")
    names = await known_services(deps)
    reply, proposed = await remembered(deps, done.explained.reply, done.explained.engine, caller=caller,
                                       names=names, question=f"incident #{s.number}: {s.incident.title}")
    return Investigated(done.target, replace(done.explained, reply=reply), [*done.proposed, *proposed])


async def incident_recovered(deps: Deps, s: StoredIncident) -> Case | None:
    """A resolved incident: the fix that ran in its thread is followed by recovery (`on_recovered`)."""
    if not s.incident.resolved or s.incident.resolved_at is None or not s.channel or not s.message_ts:
        return None
    return await on_recovered(deps, s.channel, s.message_ts, at=s.incident.resolved_at)


async def remembered(deps: Deps, reply: Reply, engine: Investigation, *, caller: Caller | None,
                     names: dict[str, str], question: str = "") -> tuple[Reply, list[Proposed]]:
    """`with_memory`, and the proposal it made (for a surface that posts proposals itself)."""
    if deps.store is None or caller is None:
        return reply, []
    thread = caller.thread_ts
    try:
        recalled = await recall(deps, engine)
        await remember(deps, engine, channel=caller.channel, thread_ts=thread, question=question or engine.question)
        if not recalled:
            return reply, []
        made: list[Proposed] = []
        offered: dict[str, str] = {}
        requests = list(reply.requests)
        notes = dict(reply.request_notes)
        best = recalled[0]
        if best.case.fix and best.case.fix.get("action"):
            fix = best.case.fix
            already = next((q for q in requests if q.action == fix.get("action")
                            and q.args.get("service") == best.case.service), None)
            if already is not None:
                offered[best.case.id] = "the same action is already offered for approval below"
                notes[already.id] = f"also what fixed #{best.case.id}"
            else:
                trigger = {"kind": "memory", "case": best.case.id, "question": question[:300],
                           "channel": caller.channel, "thread_ts": thread}
                p = await propose_fix(deps, best, engine, channel=caller.channel, thread_ts=thread,
                                      requested_by=caller.user or None, requested_by_name=caller.user_name,
                                      names=names, trigger=trigger)
                made.append(p)
                if p.request is not None and p.kind in ("approve", "auto"):
                    requests.append(p.request)
                    notes[p.request.id] = f"the fix of #{best.case.id} ({best.similarity.score:.2f} similar)" + (
                        f" — {p.note}" if p.note else "")
                    offered[best.case.id] = "offered again for approval below, citing today's evidence"
                else:
                    offered[best.case.id] = p.note or "not offered"
        section = seen_before_section(recalled, engine, offered)
        return reply.model_copy(update={"sections": [*reply.sections, section], "requests": requests,
                                        "request_notes": notes}), made
    except StoreError as e:
        log.warning("incident memory skipped: the store failed", error=str(e))
        return reply, []


# -- confirmations -----------------------------------------------------------------------------------------------

async def _fix_of(deps: Deps, requests: list[tuple[str, str]]) -> dict[str, Any] | None:
    """The first of an answer's requests that ran and succeeded, as a case's fix."""
    assert deps.store is not None
    for rid, _ in requests:
        req = await deps.store.get_request(rid)
        if req is not None and req.status == "succeeded":
            return _fix(req)
    return None


def _fix(req: ActionRequest) -> dict[str, Any]:
    return {"action": req.action, "args": req.args, "request_id": req.id, "approved_by": req.decided_by,
            "approved_by_name": req.decided_by_name, "at": (req.finished_at or req.decided_at or req.created_at)
            .isoformat(), "outcome": req.outcome_detail, "source": req.source.get("kind")}


async def _confirm(deps: Deps, case: Case, *, service: str | None, cause_kind: str | None, summary: str,
                   confirmed_by: dict[str, Any], fix: dict[str, Any] | None) -> Case | None:
    assert deps.store is not None
    fp = _fingerprint(case)
    if cause_kind == "reported":  # a person's words, not the engine's vocabulary: nothing to compare it with
        fp = fp.model_copy(update={"cause_kind": None})
        cause_kind = None
    if service:
        fp = fp.confirmed(service, cause_kind).model_copy(update={"cause_kind": cause_kind})
    else:  # the real cause names no service we know: no suspect, the symptoms still count
        fp = fp.model_copy(update={"suspects": (), "cause_kind": cause_kind})
    done = await deps.store.cases.update(
        case.id, expected=case.version, now=deps.clock(), statuses=("candidate",), status="active",
        service=service or "", cause_kind=cause_kind or "reported", summary=summary[:500],
        source={**case.source, "confirmed_by": confirmed_by}, fingerprint=fp.model_dump(mode="json"),
        fix=fix or case.fix)
    if done is not None:
        await audit(deps, "case_recorded", f"case #{done.id} recorded: {done.summary[:200]}",
                    actor=confirmed_by.get("user"), case=done.id, service=done.service, confirmed_by=confirmed_by,
                    fix=done.fix, fingerprint=describe(fp))
    return done


@_quiet
async def on_vote(deps: Deps, answer: StoredAnswer, vote: Vote) -> Case | None:
    """A "yes" on an answer makes its candidate a case: the top hypothesis is the confirmed cause, with the fix
    that ran from its requests (if one succeeded). Other votes wait for "the real cause was …"."""
    top = answer.draft.top
    if deps.store is None or vote.verdict != "yes" or top is None or not top.service:
        return None
    case = await deps.store.cases.for_thread(answer.channel, answer.thread_ts, at=answer.at)
    if case is None:
        return None
    return await _confirm(deps, case, service=top.service, cause_kind=top.cause_kind, summary=top.cause,
                          confirmed_by={"kind": "vote", "user": vote.voter, "answer_id": answer.id},
                          fix=await _fix_of(deps, answer.requests))


@_quiet
async def on_real_cause(deps: Deps, answer_id: str, vote: Vote, text: str) -> Case | None:
    """"The real cause was …" makes the answer's candidate a case with that cause: the service it names (of the
    configured ones and those the answer saw), else the answer's top one for a "partly", else none."""
    if deps.store is None:
        return None
    answer = await deps.store.feedback.get_answer(answer_id)
    if answer is None:
        return None
    case = await deps.store.cases.for_thread(answer.channel, answer.thread_ts, at=answer.at)
    if case is None:
        return None
    fp = _fingerprint(case)
    names = {s.name: s.name for s in deps.config.services} | {
        k.split(" ")[0]: k.split(" ")[0] for k in fp.signals} | {s: s for s in fp.suspects}
    service = find_service(text, names)
    top = answer.draft.top
    if service is None and vote.verdict == "partly" and top is not None:
        service = top.service
    return await _confirm(deps, case, service=service, cause_kind="reported", summary=text,
                          confirmed_by={"kind": "real_cause", "user": vote.voter, "answer_id": answer_id,
                                        "verdict": vote.verdict},
                          fix=await _fix_of(deps, answer.requests))


async def confirm_latest(deps: Deps, *, channel: str, thread_ts: str | None, user: str,
                         service: str | None = None, cause: str | None = None) -> Case | None:
    """A person confirms the newest answer in this channel (and thread) by command (`/sre history confirm`): its
    strongest candidate, or the service and cause they name. None when there is no unconfirmed answer there."""
    if deps.store is None:
        return None
    case = await deps.store.cases.for_thread(channel, thread_ts, at=deps.clock())
    if case is None:
        return None
    return await _confirm(deps, case, service=service or case.service,
                          cause_kind="reported" if cause or service else case.cause_kind,
                          summary=cause or case.summary, confirmed_by={"kind": "command", "user": user}, fix=None)


@_quiet
async def on_fix(deps: Deps, req: ActionRequest) -> Case | None:
    """An approved action succeeded: its answer's case (candidate or confirmed) records it as the fix. A candidate
    becomes a case once recovery follows (`on_recovered`)."""
    if deps.store is None:
        return None
    case = await deps.store.cases.for_thread(req.channel, req.thread_ts, at=req.created_at,
                                             statuses=("candidate", "active"), within=FIX_WITHIN)
    if case is None or (case.fix or {}).get("action"):
        return None
    done = await deps.store.get_request(req.id) or req  # as finished (its outcome and time)
    return await deps.store.cases.update(case.id, expected=case.version, now=deps.clock(), fix=_fix(done))


@_quiet
async def on_recovered(deps: Deps, channel: str, thread_ts: str | None, *, at: datetime) -> Case | None:
    """The incident in this thread resolved: a candidate with a fix that succeeded before becomes a case (the
    fixed service's cause), its time to recovery measured from the fix."""
    if deps.store is None:
        return None
    case = await deps.store.cases.for_thread(channel, thread_ts, at=at, slack=timedelta(0),
                                             statuses=("candidate", "active"))
    fix = dict(case.fix or {}) if case is not None else {}
    if case is None or not fix.get("action") or fix.get("recovered_in_s") is not None:
        return None
    fixed_at = datetime.fromisoformat(fix["at"])
    if at < fixed_at:
        return None
    fix["recovered_in_s"] = (at - fixed_at).total_seconds()
    if case.status == "active":
        return await deps.store.cases.update(case.id, expected=case.version, now=deps.clock(), fix=fix)
    service = (fix.get("args") or {}).get("service") or case.service
    return await _confirm(deps, case, service=service, cause_kind=case.cause_kind, summary=case.summary,
                          confirmed_by={"kind": "recovery", "request_id": fix.get("request_id"),
                                        "user": fix.get("approved_by")}, fix=fix)

