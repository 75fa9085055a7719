"""The human gate: propose an action, decide on it, run it exactly once, and record every step.

    actions = ActionDeps.of(deps)                       # the store is certain from here on
    proposed = await propose(actions, proposal, source=..., trigger=..., requested_by="U1", channel="C1")
    decided = await decide(actions, click, "approve")   # policy checks → store.claim → execute → store.finish

The only path to `execute` is `decide` (a person's click, after `policy.check_decision` and the store's atomic
claim) or `propose` at autonomy `auto` (reversible, low risk, within the hourly limit, kill switch off, and proposed
by a source that may act alone: never a model, `policy.unattended_refusal`). Each step appends an audit record,
every refusal included, once (a click that loses the race for the claim too); the request row in the store holds
the state, so a crash between claim and finish leaves it visibly `executing` and it is never claimed again.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from ..deps import Deps
from ..errors import UsageError
from ..logging import get_logger
from ..models import Evidence
from ..store.errors import StoreError
from ..store.records import TERMINAL_STATUSES, ActionRequest, AuditRecord, new_request_id
from .catalog import CATALOG, ProposedAction
from .deps import ActionDeps
from .executor import EXECUTION_TIMEOUT, Outcome, execute
from .policy import (
    Click,
    Refusal,
    autonomy_for,
    check_decision,
    fingerprint,
    may_switch,
    mention_list,
    unattended_refusal,
)
from .prepare import firing_shown, prepare

__all__ = ["Proposed", "Decided", "propose", "refuse_proposal", "decide", "precheck", "undo", "expire_due",
           "kill_switch_state", "set_kill_switch", "sweep", "audit", "KILL_SWITCH", "ActionDeps"]

log = get_logger(__name__)

OnClaimed = Callable[[ActionRequest], Awaitable[None]]

KILL_SWITCH = "kill_switch"
SEEN_TTL = timedelta(hours=1)  # the one ttl every `Store.first_time` caller uses (as `slack.dedupe` does)
AUTO = "auto"  # decided_by of requests the bot ran on its own


@dataclass(frozen=True)
class Proposed:
    """What became of a proposal: `approve` (a pending request to post with buttons), `auto` (ran), `suggest`
    (text only, `note` says why), `off` (not shown), `error` (could not be prepared; `note` says why)."""

    kind: Literal["approve", "auto", "suggest", "off", "error"]
    proposal: ProposedAction
    request: ActionRequest | None = None
    outcome: Outcome | None = None
    note: str | None = None


@dataclass(frozen=True)
class Decided:
    request: ActionRequest | None  # as it is now in the store
    refusal: Refusal | None = None
    outcome: Outcome | None = None

    @property
    def changed(self) -> bool:
        """Whether the request's message should be redrawn by this click's handler: after its own decision, or to
        show a final state. Never to show `executing` seen by a losing click: the winner draws that itself, and a
        late redraw from a loser could land after the winner's final one."""
        if self.refusal is None or self.refusal.code == "expired":
            return True
        return self.refusal.code == "decided" and self.request is not None \
            and self.request.status in TERMINAL_STATUSES


async def audit(deps: Deps, kind: str, summary: str, *, actor: str | None = None, request_id: str | None = None,
                **data: Any) -> None:
    """Append one audit record (and log it); an audit that cannot be written is logged loudly, then re-raised.
    `deps` needs a store (UsageError otherwise)."""
    store = ActionDeps.of(deps).store
    record = AuditRecord(at=deps.clock(), kind=kind, actor=actor, request_id=request_id, summary=summary[:1000],
                         data=data)
    log.info("audit", kind=kind, actor=actor, request_id=request_id, summary=summary[:200])
    try:
        await store.append(record)
    except StoreError:
        log.error("audit record NOT written", kind=kind, actor=actor, request_id=request_id, summary=summary[:200])
        raise


# -- the kill switch -------------------------------------------------------------------------------------------

async def kill_switch_state(deps: ActionDeps) -> str | None:
    """None when execution is allowed; otherwise who or what stopped it, as a sentence fragment."""
    if deps.settings.kill_switch:
        return "SRE_BOT_KILL_SWITCH is set in the bot's environment"
    flag = await deps.store.get_flag(KILL_SWITCH)
    if flag.value:
        when = f" at {flag.set_at:%Y-%m-%d %H:%M} UTC" if flag.set_at else ""
        return f"turned on by <@{flag.set_by}>{when}" if flag.set_by else f"turned on{when}"
    return None


async def set_kill_switch(deps: ActionDeps, *, user: str, user_name: str | None, groups: frozenset[str],
                          on: bool) -> str:
    """Turn the persisted switch on or off; returns what to tell the person. UsageError when not allowed."""
    refusal = may_switch(deps.config.actions, user, groups, on=on)
    if refusal:
        await audit(deps, "refused", f"kill switch {'on' if on else 'off'} refused: {refusal.code}", actor=user,
                    user_name=user_name, code=refusal.code)
        raise UsageError(refusal.message)
    await deps.store.set_flag(KILL_SWITCH, on, by=user, now=deps.clock())
    await audit(deps, KILL_SWITCH, f"kill switch turned {'on' if on else 'off'}", actor=user, user_name=user_name,
                on=on)
    if on:
        return "🛑 Kill switch ON: nothing executes, approved or not, until it is turned off (`/sre killswitch off`)."
    if deps.settings.kill_switch:
        return ("Kill switch turned off in the store, but SRE_BOT_KILL_SWITCH is set in the bot's environment: "
                "nothing executes until it is unset.")
    return "✅ Kill switch OFF: approved actions execute again."


# -- proposing -------------------------------------------------------------------------------------------------

def _evidence_summary(ids: list[str], evidence: Mapping[str, Evidence]) -> list[dict[str, str]]:
    return [{"id": i, "label": evidence[i].label, "quote": evidence[i].quote[:300]} for i in ids if i in evidence]


def _bounded(value: Any, limit: int = 2000) -> Any:
    """`value` as it is when its JSON is short, else its JSON cut to `limit` characters (what a proposal asked for
    is kept in the audit, but a model cannot make one record huge)."""
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return value if len(text) <= limit else text[:limit] + "…"


async def refuse_proposal(deps: Deps, *, action: str, args: Any, code: str, why: str, source: Mapping[str, Any],
                          trigger: Mapping[str, Any], requested_by: str | None, requested_by_name: str | None = None,
                          evidence_ids: list[str] | None = None) -> None:
    """Audit a proposal that became no request (dropped by the grounding check, past the limit, not preparable):
    what was asked, by which source, and why not."""
    await audit(deps, "refused", f"{str(action)[:80]} suggested by {source.get('kind', '?')} refused: {why}",
                actor=requested_by, requested_by_name=requested_by_name, code=code, reason=why[:1000],
                action=str(action)[:200], args=_bounded(args), evidence_ids=_bounded(evidence_ids or []),
                source=dict(source), trigger=dict(trigger))


async def propose(deps: Deps, proposal: ProposedAction, *, source: dict[str, Any], trigger: dict[str, Any],
                  requested_by: str | None, requested_by_name: str | None = None, channel: str,
                  thread_ts: str | None = None, evidence: Mapping[str, Evidence] | None = None) -> Proposed:
    """Record a proposal and act on its autonomy level. `source`: who proposed it (person, engine, runbook, model:
    with the model's name, prompt version and what it was sent about the cited evidence, redacted); a source other
    than a person's own request, the engine or a runbook never runs at `auto`. `trigger`: the question, incident or
    command that led here. `evidence`: what the investigation returned, by id (a silence may select only alerts
    the evidence it cites shows firing). `deps` needs a store (UsageError otherwise)."""
    actions = ActionDeps.of(deps)
    cfg = actions.config.actions
    rung = autonomy_for(cfg, proposal.action, source, await actions.store.feedback.lowered(proposal.action))
    level, why = rung.level, rung.why
    if level == "off":
        return Proposed("off", proposal, note=f"{proposal.action} is turned off in the config")
    if cfg.channels and channel not in cfg.channels:
        level, why = "suggest", "actions are not allowed from this channel"
    if level == "suggest":
        return Proposed("suggest", proposal, note=why or f"{proposal.action} is set to `suggest` in the config")
    now = actions.clock()
    rid = new_request_id()
    cited = [e for i in proposal.evidence_ids if (e := (evidence or {}).get(i)) is not None]
    shown = None if source.get("kind") == "person" else firing_shown(cited)
    try:
        prepared = await prepare(actions, proposal, now=now, requested_by=requested_by, request_id=rid,
                                 channel=channel, shown=shown)
    except UsageError as e:
        await refuse_proposal(actions, action=proposal.action, args=proposal.args, code="unprepared", why=str(e),
                              source=source, trigger=trigger, requested_by=requested_by,
                              requested_by_name=requested_by_name, evidence_ids=proposal.evidence_ids)
        return Proposed("error", proposal, note=str(e))
    spec = CATALOG[proposal.action]
    req = await actions.store.create_request(ActionRequest(
        id=rid, action=proposal.action, args=prepared.args, preview=prepared.preview, risk=spec.risk,
        reversible=spec.reversible, reason=proposal.reason, evidence_ids=proposal.evidence_ids, source=source,
        requested_by=requested_by, channel=channel, thread_ts=thread_ts, created_at=now,
        expires_at=now + cfg.expiry(proposal.action)))
    await audit(actions, "suggested", f"{proposal.describe()} suggested by {source.get('kind', '?')}",
                actor=requested_by, request_id=req.id, requested_by_name=requested_by_name, trigger=trigger,
                evidence_ids=proposal.evidence_ids, evidence=_evidence_summary(proposal.evidence_ids, evidence or {}),
                source=source, action=req.action, args=req.args, preview=req.preview, risk=req.risk,
                reversible=req.reversible, autonomy=level, undo=prepared.undo)
    if rung.refused is not None:  # configured `auto`, but who proposed it may not act alone
        await _auto_refused(actions, req, rung.refused)
    if level != "auto":
        return Proposed("approve", proposal, request=req, note=why)  # why: lowered from `auto`, if it was
    return await _auto(actions, proposal, req)


async def _auto_refused(deps: ActionDeps, req: ActionRequest, refusal: Refusal) -> None:
    deps.metrics.action_refusals.labels(refusal.code).inc()
    await audit(deps, "refused", f"{req.action} not run automatically: {refusal.message}", request_id=req.id,
                code=refusal.code, source_kind=req.source.get("kind"))


async def _auto(deps: ActionDeps, proposal: ProposedAction, req: ActionRequest) -> Proposed:
    refusal = unattended_refusal(req.source)  # the request's own source decides, whoever called this
    if refusal is not None:
        await _auto_refused(deps, req, refusal)
        return Proposed("approve", proposal, request=req, note=refusal.message)
    now = deps.clock()
    limit = deps.config.actions.auto_max_per_hour
    done = await deps.store.count_started(since=now - timedelta(hours=1), decided_by=AUTO)
    killed = await kill_switch_state(deps)
    held = (f"the kill switch is on ({killed})" if killed else
            f"the limit of {limit} automatic action(s) an hour is reached" if done >= limit else None)
    if held:
        await audit(deps, "auto_held", f"not run automatically: {held}; waiting for a person", request_id=req.id)
        return Proposed("approve", proposal, request=req, note=f"Not run automatically: {held}.")
    claimed = await deps.store.claim(req.id, user=AUTO, user_name="sre-bot (autonomy: auto)", now=now)
    if claimed is None:
        return Proposed("approve", proposal, request=await deps.store.get_request(req.id))
    outcome = await _run(deps, claimed, actor=AUTO)
    return Proposed("auto", proposal, request=await deps.store.get_request(req.id), outcome=outcome)


# -- deciding --------------------------------------------------------------------------------------------------

async def _check(deps: ActionDeps, click: Click, deciding: Literal["approve", "reject"]
                 ) -> tuple[ActionRequest | None, Refusal | None]:
    now = deps.clock()
    req = await deps.store.get_request(click.request_id) if click.request_id else None
    killed = await kill_switch_state(deps) if deciding == "approve" else None
    refusal = check_decision(req, click, deps.config.actions, now=now, kill_switch=killed, deciding=deciding)
    if refusal is not None:
        await _refused(deps, click, deciding, refusal, req)
        if refusal.code == "expired" and req is not None:
            await expire_due(deps)
            req = await deps.store.get_request(req.id)
    return req, refusal


async def _refused(deps: ActionDeps, click: Click, what: str, refusal: Refusal, req: ActionRequest | None) -> None:
    deps.metrics.action_refusals.labels(refusal.code).inc()
    await audit(deps, "refused", f"{what} refused: {refusal.code}", actor=click.user,
                request_id=req.id if req else None, user_name=click.user_name, code=refusal.code,
                clicked={"request_id": click.request_id, "fingerprint": click.fingerprint,
                         "channel": click.channel, "message_ts": click.message_ts})


async def precheck(deps: ActionDeps, click: Click, deciding: Literal["approve", "reject"]) -> Refusal | None:
    """Whether the click may go on (before asking for a reject reason); a refusal is audited."""
    return (await _check(deps, click, deciding))[1]


async def decide(deps: ActionDeps, click: Click, deciding: Literal["approve", "reject"], *,
                 reason: str = "", on_claimed: OnClaimed | None = None) -> Decided:
    """A person's click, checked by policy; approve claims atomically and executes, reject records why. Every
    refusal is audited once, a click that passed the checks but lost the claim to another included.

    `on_claimed` runs once this click has won the claim, before the target is called (the surface shows
    "approved, running" at once, so a crash mid-run leaves that true state on screen)."""
    now = deps.clock()
    req, refusal = await _check(deps, click, deciding)
    if refusal is not None:
        return Decided(req, refusal)
    assert req is not None
    if deciding == "reject":
        done = await deps.store.reject(req.id, user=click.user, user_name=click.user_name, reason=reason, now=now)
        if done is None:  # decided (or expired) a moment ago, by another click, process or replica
            return await _lost(deps, click, deciding, req)
        await audit(deps, "rejected", f"{req.action} rejected" + (f": {reason}" if reason else ""),
                    actor=click.user, request_id=req.id, user_name=click.user_name, reason=reason)
        return Decided(done)
    claimed = await deps.store.claim(req.id, user=click.user, user_name=click.user_name, now=now)
    if claimed is None:  # another click, process or replica won the claim a moment ago
        return await _lost(deps, click, deciding, req)
    await audit(deps, "approved", f"{req.action} approved", actor=click.user, request_id=req.id,
                user_name=click.user_name, fingerprint=click.fingerprint)
    if on_claimed is not None:
        await on_claimed(claimed)
    outcome = await _run(deps, claimed, actor=click.user)
    return Decided(await deps.store.get_request(req.id), outcome=outcome)


async def _lost(deps: ActionDeps, click: Click, deciding: Literal["approve", "reject"],
                req: ActionRequest) -> Decided:
    """The click passed the checks but the store's conditional update found the request no longer pending."""
    now_req = await deps.store.get_request(req.id)
    if now_req is not None and now_req.status == "pending":  # still pending: it expired in between
        refusal = Refusal("expired", f"This request expired at {now_req.expires_at:%H:%M} UTC; ask again to get a "
                                     "fresh one.")
    else:
        who = f" by <@{now_req.decided_by}>" if now_req and now_req.decided_by else ""
        refusal = Refusal("decided", f"Already {now_req.status if now_req else 'gone'}{who}; nothing more happens.")
    await _refused(deps, click, deciding, refusal, req)
    return Decided(now_req, refusal)


async def _run(deps: ActionDeps, req: ActionRequest, *, actor: str) -> Outcome:
    killed = await kill_switch_state(deps)  # turned on between the click and now: still nothing runs
    if killed:
        outcome = Outcome(False, f"not run: the kill switch was turned on ({killed})", {"not_run": True})
    else:
        await audit(deps, "started", f"{req.action} started", actor=actor, request_id=req.id, args=req.args)
        outcome = await execute(deps, req)
    await deps.store.finish(req.id, ok=outcome.ok, detail=outcome.detail, response=outcome.response,
                            now=deps.clock())
    await audit(deps, "succeeded" if outcome.ok else "failed", f"{req.action}: {outcome.detail}", actor=actor,
                request_id=req.id, response=outcome.response)
    deps.metrics.actions.labels(req.action, "succeeded" if outcome.ok else "failed").inc()
    if outcome.ok and deps.offload is not None:  # the system changed: no question may be answered from before it
        deps.offload.admission.forget_finished()
    if outcome.ok:  # the fix of its answer's case in the incident memory (confirmed once recovery follows)
        from ..services.memory import on_fix  # services sit above actions: imported at the call, not the top
        await on_fix(deps, req)
    return outcome


async def undo(deps: ActionDeps, click: Click) -> tuple[ActionRequest | None, Decided]:
    """Undo an automatic silence: a new `alertmanager.unsilence` request, claimed by the clicker and run once
    (its id derives from the original's, so a second click finds it taken). Every refusal is audited once, against
    the original request."""
    original = await deps.store.get_request(click.request_id) if click.request_id else None
    if original is None or click.fingerprint != fingerprint(original) or click.channel != original.channel:
        refusal = Refusal("tampered", "This button does not match the action it names; nothing was run.")
    elif original.action != "alertmanager.silence" or original.status != "succeeded" \
            or not (original.target_response or {}).get("silence_id"):
        refusal = Refusal("decided", "There is nothing to undo here.")
    elif not deps.config.actions.approvers_for("alertmanager.unsilence", "low").admits(click.user, click.groups):
        who = deps.config.actions.approvers_for("alertmanager.unsilence", "low")
        refusal = Refusal("unauthorised", f"You may not undo this. Who can: {mention_list(who)}.")
    elif killed := await kill_switch_state(deps):
        refusal = Refusal("kill_switch", f"The kill switch is on ({killed}): nothing executes, undo included.")
    else:
        refusal = None
    if refusal is not None:
        await _refused(deps, click, "undo", refusal, original)
        return original, Decided(original, refusal)
    assert original is not None
    now = deps.clock()
    sid = (original.target_response or {})["silence_id"]
    undo_id = f"undo-{original.id}"
    try:
        req = await deps.store.create_request(ActionRequest(
            id=undo_id, action="alertmanager.unsilence", args={"silence_id": sid},
            preview=f"Expire Alertmanager silence {sid}", risk="low", reversible=True,
            reason=f"undo of {original.id}", source={"kind": "auto_undo", "of": original.id},
            requested_by=click.user, channel=original.channel, thread_ts=original.thread_ts, created_at=now,
            expires_at=now + timedelta(minutes=5)))
    except StoreError:
        if await deps.store.get_request(undo_id) is None:
            raise  # not a duplicate: the store failed, and the click must not be told it was undone
        return original, await _undo_lost(deps, click, original, undo_id)
    claimed = await deps.store.claim(req.id, user=click.user, user_name=click.user_name, now=now)
    if claimed is None:
        return original, await _undo_lost(deps, click, original, undo_id)
    await audit(deps, "approved", f"undo of {original.action} {sid}", actor=click.user, request_id=req.id,
                user_name=click.user_name, undo_of=original.id)
    outcome = await _run(deps, claimed, actor=click.user)
    return original, Decided(await deps.store.get_request(req.id), outcome=outcome)


async def _undo_lost(deps: ActionDeps, click: Click, original: ActionRequest, undo_id: str) -> Decided:
    """Another click created (or claimed) the undo first."""
    existing = await deps.store.get_request(undo_id)
    who = f" by <@{existing.decided_by or existing.requested_by}>" if existing is not None and (
        existing.decided_by or existing.requested_by) else ""
    refusal = Refusal("decided", f"Already undone{who}.")
    await _refused(deps, click, "undo", refusal, original)
    return Decided(original, refusal)


# -- housekeeping ----------------------------------------------------------------------------------------------

async def expire_due(deps: Deps) -> list[str]:
    """Expire every pending request past its time (audited); `deps` needs a store (UsageError otherwise)."""
    actions = ActionDeps.of(deps)
    ids = await actions.store.expire(actions.clock())
    for rid in ids:
        await audit(actions, "expired", "request expired without a decision", request_id=rid)
    return ids


async def sweep(deps: Deps) -> list[ActionRequest]:
    """Expire what is due and report requests stuck in `executing` (the bot died mid-run), each once across
    replicas. Returns the requests whose messages should be redrawn. `deps` needs a store (UsageError otherwise)."""
    actions = ActionDeps.of(deps)
    now = actions.clock()
    changed = [r for rid in await expire_due(actions) if (r := await actions.store.get_request(rid)) is not None]
    for req in await actions.store.stuck(now, EXECUTION_TIMEOUT):
        if not await actions.store.has_audit(req.id, "interrupted") and \
                await actions.store.first_time(f"stuck:{req.id}", now=now, ttl=SEEN_TTL):
            await audit(actions, "interrupted", f"{req.action} has been executing since {req.started_at:%H:%M} UTC "
                        "with no recorded outcome (the bot stopped mid-run); it will not run again — check the "
                        "target", request_id=req.id)
            changed.append(req)
    return changed
