"""The escalation loop: each incident cycle, offer to page the on-call for open incidents nobody understands, and
make the pages follow their incident (acknowledged with it in Slack, resolved when it resolves).

    escalator = Escalator(deps)
    await escalator.run(out)                           # the replica holding the incidents lease, after publishing
    await acknowledge(deps, incident_key, user="U1", user_name="ana")   # the "Acknowledge" button

`consider` gathers the facts of one open incident from the store (alerts, latest answer, runbooks, past case, the
Slack acknowledgement, pages already sent, pages per team in the last hour whoever asked plus the rule's offers still
waiting for a decision, the action's autonomy),
asks the pure rule (`rule.decide`), writes its decision on the incident's timeline when it changed, and when the
rule says yes proposes the page through the same path as every action request (`actions.approvals.propose`: the
request is audited with the evidence it carried, its approval message posted in the incident thread, `auto` only
through the executor gate, which refuses under the kill switch). The offer is a row in `pages` inserted before the
request (`rule:<incident key>`): two replicas, or a restart mid-offer, never offer twice.

`follow` moves each open page along from the store alone: its request decided (triggered, declined, failed), its
incident acknowledged (`follow_page(…, "acknowledge")`) or resolved (`follow_page(…, "resolve")`; a request still
waiting is rejected on the rule's behalf, since nobody needs waking any more). A page that failed to follow stays
where it is and is tried again on the next cycle. Following a page is not an action: it only quiets one, so it is
not held by the kill switch.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

from ..actions.approvals import Proposed, audit, propose
from ..actions.catalog import ProposedAction
from ..actions.policy import effective_autonomy
from ..deps import Deps
from ..errors import UsageError
from ..logging import get_logger
from ..runbooks.match import match_runbooks
from ..store.errors import StoreError
from ..store.incidents import StoredIncident
from ..store.pages import PAGE_ACTIONS, Ack, Page, PageStore, Provider, dedup_key, rule_page_id
from .rule import Answer, Decision, Facts, decide

if TYPE_CHECKING:
    from ..actions.executor import Outcome

__all__ = ["Escalator", "acknowledge", "Acknowledged", "answer_of", "EXPIRED_OFFER"]

log = get_logger(__name__)

EXPIRED_OFFER = timedelta(minutes=5)  # an offer row with no request this old: the replica died between the two
_PAGE_SEVERITY = {"page": "critical", "critical": "critical", "error": "error", "warning": "warning", "info": "info"}
RULE_NAME = "the escalation rule for unknown issues"

Send = Callable[[StoredIncident, str], Awaitable[None]]  # a line in the incident's thread
Post = Callable[[Any], Awaitable[None]]  # an approval request's own message


def answer_of(s: StoredIncident) -> Answer:
    """The incident's latest answer: a confident cause, abstained (below the threshold), or none made."""
    inv = s.investigation
    if inv is None:
        return "none"
    return "abstained" if inv.get("insufficient") else "confident"


def _provider(action: str) -> Provider:
    return PAGE_ACTIONS[action]


@dataclass
class _Cycle:
    team_pages: dict[str, int]
    policies: Mapping[str, str]
    offered: set[str]
    acked: dict[str, str]


@dataclass
class Escalator:
    """One per incident workflow: `_said` remembers each incident's last decision, so an unchanged one costs no
    store write (the store still decides whether a changed one is new, across replicas and restarts)."""
    deps: Deps
    _said: dict[str, str] = field(default_factory=dict)

    @property
    def pages(self) -> PageStore:
        assert self.deps.store is not None
        return PageStore(self.deps.store)

    async def run(self, send: Send, post: Post, *, limit: int = 50) -> None:
        """Follow open pages, then consider every open incident that has a message (errors logged, not raised)."""
        store = self.deps.store
        if store is None:
            return
        try:
            await self.follow(send)
        except StoreError as e:
            log.error("pages not followed this cycle", error=str(e))
        cfg = self.deps.config.escalation
        if not cfg.unknown.enabled or not cfg.teams:  # nobody to page: the rule says nothing
            return
        listed = [s for s in await store.incidents.listing(open_only=True, limit=limit) if s.channel and s.message_ts]
        if not listed:
            return
        c = await self.cycle()
        for s in reversed(listed):  # oldest first: the rate limit goes to the incident waiting longest
            try:
                await self.consider(s, send, post, c)
            except (StoreError, UsageError) as e:
                log.error("escalation not considered", incident=s.number, error=str(e))

    # -- the rule ------------------------------------------------------------------------------------------------

    async def cycle(self) -> _Cycle:
        """What every incident's facts share, read once per cycle: pages per team in the last hour (whoever asked)
        plus offers waiting, the page actions' autonomy, incidents offered or paged already, acknowledgements."""
        deps, store, pages = self.deps, self.deps.store, self.pages
        assert store is not None
        cfg = deps.config.escalation
        team_pages: dict[str, int] = await pages.waiting_by_team()  # offers waiting count as pages
        for _action, args in await pages.page_requests_since(deps.clock() - timedelta(hours=1)):
            team = args.get("team") or cfg.team_for(args.get("service"))
            if team:
                team_pages[team] = team_pages.get(team, 0) + 1
        policies = {action: effective_autonomy(deps.config.actions, action,
                                               await store.feedback.lowered(action))[0] for action in PAGE_ACTIONS}
        offered = await pages.incident_keys() | {str(r[2]["incident_id"]) for r in await pages.untracked()}
        return _Cycle(team_pages, policies, offered, await pages.acks())

    async def facts(self, s: StoredIncident, c: _Cycle | None = None) -> Facts:
        deps, store = self.deps, self.deps.store
        assert store is not None
        c = c or await self.cycle()
        alerts = await store.incidents.alerts(s.key)
        firing = [a for a in alerts if a.event.status == "firing"]
        inv = s.investigation or {}
        kinds = [(str(inv["cause_kind"]), str(inv["service"]))] if inv.get("cause_kind") and inv.get("service") \
            else []
        services = list(dict.fromkeys([*([str(inv["service"])] if inv.get("service") else []),
                                       *s.incident.services]))
        matches = match_runbooks(deps.runbooks.all(), alert_names=[(a.event.name, a.service) for a in firing],
                                 services=services, hypothesis_kinds=kinds) if deps.runbooks.all() else []
        return Facts(number=s.number, resolved=s.incident.resolved, started_at=s.incident.started_at,
                     severities=tuple(a.event.labels.get("severity") for a in firing), answer=answer_of(s),
                     root_service=s.incident.root_service or (str(inv["service"]) if inv.get("service") else None),
                     runbooks=tuple(m.runbook for m in matches), seen_before=bool(inv.get("seen_before")),
                     acknowledged_by=c.acked.get(s.key), offered=s.key in c.offered, team_pages=dict(c.team_pages),
                     policies=c.policies)

    async def consider(self, s: StoredIncident, send: Send, post: Post, c: _Cycle | None = None) -> Decision:
        deps = self.deps
        assert deps.store is not None
        now = deps.clock()
        c = c or await self.cycle()
        facts = await self.facts(s, c)
        decision = decide(facts, deps.config.escalation, now=now)
        if not decision.offer:
            line = decision.line()
            if self._said.get(s.key) != line and await self.pages.decided(s.key, line, now=now):
                await deps.store.incidents.add_event(s.key, "escalation", line, now=now)
            self._said[s.key] = line
            return decision
        if decision.team is not None:  # later incidents of this cycle see this offer
            c.team_pages[decision.team] = c.team_pages.get(decision.team, 0) + 1
        c.offered.add(s.key)
        await self.offer(s, facts, decision, send, post)
        return decision

    async def offer(self, s: StoredIncident, facts: Facts, d: Decision, send: Send, post: Post) -> Proposed | None:
        deps, pages = self.deps, self.pages
        assert deps.store is not None and d.team and d.action and d.severity and s.channel
        now = deps.clock()
        provider = _provider(d.action)
        page = await pages.offer(Page(id=rule_page_id(s.key), incident_key=s.key, team=d.team, provider=provider,
                                      dedup_key=dedup_key(s.key), state="offering", created_at=now, updated_at=now))
        if page is None:
            return None  # offered already (another replica, or an earlier cycle)
        inv = s.investigation or {}
        service = facts.root_service or (s.incident.services[0] if s.incident.services else d.team)
        proposal = ProposedAction(
            action=d.action, args={"service": service, "team": d.team, "incident_id": s.key,
                                   "severity": _PAGE_SEVERITY.get(d.severity, "critical")},
            reason=f"incident #{s.number}: {d.reasons[0]}",
            evidence_ids=[str(e.get("id")) for e in inv.get("evidence", []) if e.get("id")], service=service)
        source = {"kind": "escalation", "rule": "unknown", "incident": s.key, "number": s.number,
                  "answer": facts.answer, "severity": d.severity, "team": d.team, "held": d.held,
                  **({"confidence": inv.get("confidence"), "calibration": inv.get("calibration")}
                     if inv.get("confidence") is not None else {})}
        trigger = {"kind": "incident", "incident": s.key, "number": s.number, "channel": s.channel,
                   "thread_ts": s.message_ts}
        p = await propose(deps, proposal, source=source, trigger=trigger, requested_by=None,
                          requested_by_name=RULE_NAME, channel=s.channel, thread_ts=s.message_ts)
        await deps.store.incidents.add_event(s.key, "escalation", d.line(), now=now)
        await pages.decided(s.key, d.line(), now=now)
        if p.request is None or p.kind not in ("approve", "auto"):
            await pages.move(page.id, "offering", "not_offered", now=now, detail=(p.note or p.kind)[:500])
            await send(s, f"📟 The escalation rule would page the *{d.team}* on-call, but {d.action} is not offered: "
                          f"{p.note or p.kind}.")
            return p
        await pages.move(page.id, "offering", "requested", now=now, request_id=p.request.id)
        if p.kind == "auto":
            await send(s, f"📟 *Paging the {d.team} on-call* automatically ({d.action} is at `auto` and the alerts "
                          f"carry a paging severity): {d.reasons[0]}.")
        else:
            held = f" Not run automatically: {p.note}" if p.note else ""
            await send(s, f"📟 *Page the {d.team} on-call?* {d.reasons[0]}.{held}")
        await post(p.request)
        return p

    # -- following -----------------------------------------------------------------------------------------------

    async def follow(self, send: Send) -> None:
        deps, pages = self.deps, self.pages
        store = deps.store
        assert store is not None
        now = deps.clock()
        for rid, action, args, who, at in await pages.untracked():
            key = str(args["incident_id"])
            team = args.get("team") or deps.config.escalation.team_for(args.get("service")) or "?"
            await pages.offer(Page(id=rid, incident_key=key, team=team, provider=_provider(action),
                                   dedup_key=str(args.get("dedup_key") or dedup_key(key)), request_id=rid,
                                   requested_by=who, state="triggered",
                                   created_at=at or now, updated_at=now, triggered_at=at or now))
        for page in await pages.open():
            s = await store.incidents.get(page.incident_key)
            if s is None:
                continue
            try:
                await self._follow_one(page, s, send)
            except (StoreError, UsageError) as e:
                log.error("page not followed", page=page.id, error=str(e))

    async def _follow_one(self, page: Page, s: StoredIncident, send: Send) -> None:
        deps, pages = self.deps, self.pages
        store = deps.store
        assert store is not None
        now = deps.clock()
        if page.state == "offering":
            if now - page.updated_at > EXPIRED_OFFER:
                await pages.move(page.id, "offering", "not_offered", now=now, detail="interrupted before the request")
            return
        if page.state == "requested":
            req = await store.get_request(page.request_id) if page.request_id else None
            if req is None:
                return
            if req.status == "succeeded":
                dedup = str(req.args.get("dedup_key") or page.dedup_key)  # as the action pinned and sent it
                await pages.move(page.id, "requested", "triggered", now=now, triggered_at=req.started_at or now,
                                 dedup_key=dedup)
                page = page.model_copy(update={"state": "triggered", "dedup_key": dedup})
            elif req.status == "failed":
                await pages.move(page.id, "requested", "failed", now=now, detail=(req.outcome_detail or "")[:500])
                return
            elif req.status in ("rejected", "expired", "refused"):
                await pages.move(page.id, "requested", "declined", now=now, detail=req.status)
                return
            elif req.status == "pending" and s.incident.resolved:
                done = await store.reject(req.id, user="sre-bot", user_name=RULE_NAME, now=now,
                                          reason="the incident resolved before anyone approved the page")
                if done is not None:
                    await audit(deps, "rejected", f"{req.action} withdrawn: the incident resolved", actor=None,
                                request_id=req.id, reason="incident resolved")
                    await pages.move(page.id, "requested", "cancelled", now=now, detail="incident resolved")
                    await send(s, f"📟 The page to {page.team} was not sent: the incident resolved first.")
                return
            else:
                return
        if s.incident.resolved:
            await self._move(page, "resolve", "resolved", s, send)
            return
        if page.state == "triggered" and await pages.ack_of(s.key) is not None:
            await self._move(page, "acknowledge", "acknowledged", s, send)

    async def _move(self, page: Page, event: Literal["acknowledge", "resolve"], to: Literal["acknowledged", "resolved"],
                    s: StoredIncident, send: Send) -> None:
        from ..actions.paging import follow_page  # the paging wire (actions sit beside this loop)

        deps = self.deps
        outcome: Outcome = await follow_page(deps, provider=page.provider, team=page.team, dedup_key=page.dedup_key,
                                             event=event)
        now = deps.clock()
        if not outcome.ok:
            log.warning("page not followed; retrying next cycle", page=page.id, follow=event, detail=outcome.detail)
            return
        if not await self.pages.move(page.id, page.state, to, now=now):
            return  # another replica moved it first
        await audit(deps, f"page_{to}", f"{page.provider} page to {page.team} {to} with incident #{s.number}",
                    request_id=page.request_id, incident=s.key, dedup_key=page.dedup_key, provider=page.provider,
                    team=page.team, detail=outcome.detail)
        await send(s, f"📟 The {page.provider} page to *{page.team}* is {to}"
                      + (" (the incident resolved)." if to == "resolved" else " (acknowledged in Slack)."))


@dataclass(frozen=True)
class Acknowledged:
    incident: StoredIncident | None
    ack: Ack | None
    message: str  # what to tell the person who clicked
    first: bool = False  # this click acknowledged it


async def acknowledge(deps: Deps, ref: str | int, *, user: str, user_name: str | None) -> Acknowledged:
    """A person's "Acknowledge" on the incident message: recorded once (the first click wins), audited, on the
    timeline; the escalation rule stops for it and the loop acknowledges its pages."""
    store = deps.store
    if store is None:
        return Acknowledged(None, None, "Acknowledging needs the store (SRE_BOT_DB_URL).")
    s = await store.incidents.get(ref)
    if s is None:
        return Acknowledged(None, None, f"No incident {ref}.")
    pages = PageStore(store)
    before = await pages.ack_of(s.key)
    if before is not None:
        return Acknowledged(s, before, f"Incident #{s.number} was already acknowledged by <@{before.by}> at "
                                       f"{before.at:%H:%M} UTC.")
    if s.incident.resolved:
        return Acknowledged(s, None, f"Incident #{s.number} has resolved; there is nothing to acknowledge.")
    now = deps.clock()
    ack = await pages.acknowledge(s.key, user=user, user_name=user_name, now=now)
    if ack.by != user:
        return Acknowledged(s, ack, f"Incident #{s.number} was already acknowledged by <@{ack.by}>.")
    await store.incidents.add_event(s.key, "acknowledged", f"acknowledged by <@{user}> in Slack", now=now)
    await audit(deps, "incident_acknowledged", f"incident #{s.number} acknowledged", actor=user, user_name=user_name,
                incident=s.key)
    return Acknowledged(s, ack, f"You acknowledged incident #{s.number}: the escalation rule stops for it and its "
                                "pages are acknowledged.", first=True)
