"""The incident workflow: for each incident that is behind in chat, what to post, redraw or note, when to
investigate its root service, which runbooks to suggest, what the model advises — and every store write that goes
with it. A chat surface only renders and sends the items it is handed (`Outbox`):

    workflow = IncidentWorkflow(deps)
    for s in await workflow.due():
        await workflow.publish(s, outbox)      # outbox.send(Announce | Redraw | ChangeNote | ...) → ts or None
    await workflow.drain()                     # on shutdown: the investigations and advice still running

A first message (`Announce`) is posted once: `start_post` before it, its ts stored right after, so a crash between
the two is recognised. Alerts that joined, resolved or fired again since the last note go in one `ChangeNote`, at
most once per `incidents.every` per incident (an incident that has resolved is told at once). A new incident's
root service is investigated in the background (again when the root changes while it is open); its answer, the
approval requests it proposes and the matching runbooks go in the thread, and only once they are posted is the
investigation recorded. With no investigation, runbooks are matched on the alerts alone. With a model, the new
incident and the open ones near it are offered for merge/split advice, posted as a suggestion and never applied.
After publishing, `escalate` runs the escalation rule for unknown issues over the open incidents and makes their
pages follow them (`escalation/service.py`); its lines go in the thread (`EscalationNote`), and the message shows
who acknowledged the incident (`Announce`/`Redraw` carry the acknowledgement).

An outbox that cannot deliver raises `NotDelivered`: the store still says what is behind, so the next cycle tries
again (the surface decides the backoff).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..analysis.topology import Topology
from ..deps import Deps
from ..errors import UsageError
from ..escalation.service import Escalator
from ..llm.incident_advice import incident_advice
from ..llm.oneshot import OneShotUnavailable
from ..logging import get_logger
from ..runbooks.match import Match, match_runbooks
from ..services.admission import Busy
from ..services.memory import incident_recovered, with_incident_memory
from ..services.reply import Reply
from ..store.errors import StoreError
from ..store.incidents import StoredAlert, StoredIncident
from ..store.pages import Ack, PageStore
from ..store.records import ActionRequest
from ..store.store import Store
from .briefs import brief
from .investigate import Investigated, investigate_incident, investigation_target

__all__ = [
    "IncidentWorkflow", "Outbox", "NotDelivered", "Item", "Announce", "Redraw", "ChangeNote", "Suggestion",
    "Answer", "ApprovalRequest", "RunbookSuggestions", "EscalationNote", "Changes", "sort_changes", "approval_requests",
    "investigated_line",
]

log = get_logger(__name__)


class Investigator(Protocol):
    def __call__(self, deps: Deps, s: StoredIncident, *, target: str) -> Awaitable[Investigated | None]:
        """Investigate `target` (the service the workflow chose) around the incident's onset."""
        ...


# -- what a surface is asked to send -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Announce:
    """The incident's first message, in its channel; the outbox returns the message's ts."""
    incident: StoredIncident
    numbers: dict[str, int]  # incident key → number, for the incidents it follows or is related to
    investigating: bool  # an investigation of its root service is on its way
    acknowledged: Ack | None = None  # who acknowledged it in Slack


@dataclass(frozen=True)
class Redraw:
    """The incident's message, drawn again in place (`incident.message_ts`)."""
    incident: StoredIncident
    numbers: dict[str, int]
    investigating: bool
    acknowledged: Ack | None = None


@dataclass(frozen=True)
class ChangeNote:
    """In the thread: alerts that joined (still firing), resolved (joined already resolved included), fired again."""
    incident: StoredIncident
    joined: list[StoredAlert]
    resolved: list[StoredAlert]
    refired: list[StoredAlert]


@dataclass(frozen=True)
class Suggestion:
    """In the thread: the model's merge/split advice, not applied (`what`: "merge #1 and #2", …)."""
    incident: StoredIncident
    model: str
    what: str
    reason: str
    quote: str


@dataclass(frozen=True)
class Answer:
    """In the thread: the investigation's answer, with the requests it offers for approval."""
    incident: StoredIncident
    reply: Reply
    requests: list[ActionRequest]


@dataclass(frozen=True)
class ApprovalRequest:
    """The request's own approval message (in its thread); the outbox raises UsageError when it cannot be posted."""
    request: ActionRequest


@dataclass(frozen=True)
class RunbookSuggestions:
    """In the thread: "runbook X matches: run it?" (an outbox logs a failure here; it is a suggestion)."""
    incident: StoredIncident
    matches: list[Match]


@dataclass(frozen=True)
class EscalationNote:
    """In the thread: what the escalation rule did ("Page the payments on-call?") or a page followed the incident."""
    incident: StoredIncident
    text: str


Item = Announce | Redraw | ChangeNote | Suggestion | Answer | ApprovalRequest | RunbookSuggestions | EscalationNote


class NotDelivered(Exception):
    """The surface could not deliver an item; `error` is its short code (Slack's `channel_not_found`, …)."""

    def __init__(self, error: str | None) -> None:
        super().__init__(error or "not delivered")
        self.error = error


class Outbox(Protocol):
    async def send(self, item: Item) -> str | None:
        """Render and send `item`; the posted message's id for `Announce`. Raises NotDelivered."""
        ...


# -- the decisions, pure ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Changes:
    joined: list[StoredAlert]  # new to the thread and firing
    resolved: list[StoredAlert]  # told firing before and resolved now, or new and already resolved
    refired: list[StoredAlert]  # told resolved before and firing again

    @property
    def all(self) -> list[StoredAlert]:
        return [*self.joined, *self.resolved, *self.refired]


def sort_changes(alerts: Sequence[StoredAlert]) -> Changes | None:
    """What the thread has not been told yet, by kind; None when it is up to date."""
    changed = [a for a in alerts if a.announced != a.event.status]
    if not changed:
        return None
    joined = [a for a in changed if a.announced is None]
    resolved = [a for a in changed if a.announced is not None and a.event.status == "resolved"]
    refired = [a for a in changed if a.announced is not None and a.event.status == "firing"]
    joined_resolved = [a for a in joined if a.event.status == "resolved"]
    return Changes([a for a in joined if a not in joined_resolved], resolved + joined_resolved, refired)


def approval_requests(done: Investigated) -> list[ActionRequest]:
    """The investigation's proposals that wait for a person (or run on their own): each gets an approval message."""
    return [p.request for p in done.proposed if p.kind in ("approve", "auto") and p.request]


def investigated_line(done: Investigated) -> str:
    """The timeline's line for a finished investigation."""
    top = done.summary
    what = ("insufficient evidence" if top["insufficient"]
            else f"top hypothesis {top['service']}: {top['cause']} ({top['confidence']:.0%})")
    return f"investigated {done.target}: {what}"


# -- the workflow -------------------------------------------------------------------------------------------------

@dataclass
class IncidentWorkflow:
    """One per process (the replica holding the incidents lease publishes). `monotonic` paces the thread notes;
    `investigate` is the root-service investigation (the engine, and the model when configured)."""
    deps: Deps
    monotonic: Callable[[], float] = time.monotonic
    investigate: Investigator = investigate_incident
    topology: Callable[[], Topology] | None = None  # the discovered topology in use (else the configured graph)
    _last_note: dict[str, float] = field(default_factory=dict)  # incident key → when its thread was last told
    _drawn: dict[str, int] = field(default_factory=dict)  # the version each message was last redrawn at
    _running: dict[str, asyncio.Task[None]] = field(default_factory=dict)  # background work by kind:key
    _escalator: Escalator | None = None

    @property
    def _store(self) -> Store:
        store = self.deps.store
        assert store is not None
        return store

    async def due(self) -> list[StoredIncident]:
        """Incidents whose message is missing or behind, oldest first."""
        return await self._store.incidents.to_publish()

    def target(self, s: StoredIncident) -> str | None:
        """The service the root-service investigation asks about, on the topology the alerts were grouped by (the
        discovered one when there is one, else the configured depends_on)."""
        graph = self.topology().depends_on() if self.topology is not None else self.deps.config.dependencies()
        return investigation_target(s, graph)

    def wants_investigation(self, s: StoredIncident) -> bool:
        """Investigate: enabled, still open (one already over when first seen is kept, not investigated), and a
        service to ask about."""
        return self.deps.config.incidents.investigate and not s.incident.resolved and self.target(s) is not None

    async def publish(self, s: StoredIncident, out: Outbox) -> None:
        """Bring one incident's message and thread up to date (NotDelivered: try again on a later cycle)."""
        store, now = self._store, self.deps.clock()
        assert s.channel is not None
        target = self.target(s)
        investigating = self.wants_investigation(s) and s.investigated_root is None  # never for one already over
        numbers = await self._numbers(s)
        ack = await PageStore(store).ack_of(s.key)
        if s.message_ts is None:
            await store.incidents.start_post(s.key, now=now)
            ts = await out.send(Announce(s, numbers, investigating, ack))
            if ts is None:
                raise NotDelivered("no message id")
            await store.incidents.set_message(s.key, ts=ts)
            await store.incidents.add_event(s.key, "posted", f"message posted in {s.channel}", now=now)
            alerts = await store.incidents.alerts(s.key)
            await store.incidents.mark_announced(s.key, [(a.event.fingerprint, a.event.status) for a in alerts])
            self._last_note[s.key] = self.monotonic()
            await store.incidents.mark_posted(s.key, s.version)
            self._drawn[s.key] = s.version
            s = s.model_copy(update={"message_ts": ts})
            if not self._start_investigation(s, out):  # else the runbooks are matched with its hypotheses too
                await self._suggest_runbooks(s, [], out)
            self._start(s, "advice", self.advise(s, out))
            return
        if self._drawn.get(s.key) != s.version:
            await out.send(Redraw(s, numbers, investigating, ack))
            self._drawn[s.key] = s.version
            await incident_recovered(self.deps, s)  # resolved after a fix that ran: the memory records the case
        if await self._note(s, out):
            await store.incidents.mark_posted(s.key, s.version)
        if s.investigated_root != target and not s.incident.resolved:
            self._start_investigation(s, out)

    async def _numbers(self, s: StoredIncident) -> dict[str, int]:
        keys = ({s.incident.follows} if s.incident.follows else set()) | {r.incident for r in s.incident.related}
        out = {}
        for k in keys:
            other = await self._store.incidents.get(k)
            if other is not None:
                out[k] = other.number
        return out

    async def _note(self, s: StoredIncident, out: Outbox) -> bool:
        """Tell the thread what changed, unless it was told less than `every` ago (then: not caught up)."""
        store = self._store
        assert s.channel and s.message_ts
        changes = sort_changes(await store.incidents.alerts(s.key))
        if changes is None:
            return True
        every = self.deps.config.incidents.every_delta.total_seconds()
        if self.monotonic() - self._last_note.get(s.key, 0.0) < every and not s.incident.resolved:
            return False
        await out.send(ChangeNote(s, changes.joined, changes.resolved, changes.refired))
        await store.incidents.mark_announced(s.key, [(a.event.fingerprint, a.event.status) for a in changes.all])
        self._last_note[s.key] = self.monotonic()
        return True

    def _start_investigation(self, s: StoredIncident, out: Outbox) -> bool:
        if not self.wants_investigation(s):
            return False
        self._start(s, "investigation", self._investigate(s, out))
        return True

    def _start(self, s: StoredIncident, what: str, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` in the background, unless the same kind of work for this incident is still running."""
        key = f"{what}:{s.key}"
        if key in self._running:
            work.close()
            return
        task = asyncio.create_task(work)
        self._running[key] = task
        task.add_done_callback(lambda _: self._running.pop(key, None))

    async def runbooks_for(self, s: StoredIncident, hypotheses: Sequence[Any]) -> list[Match]:
        """The top 3 runbooks for the firing alerts' names, the hypotheses' kinds and the services involved."""
        store, runbooks = self.deps.store, self.deps.runbooks.all()
        if store is None or not runbooks or s.incident.resolved:
            return []
        alerts = [(a.event.name, a.service) for a in await store.incidents.alerts(s.key) if a.event.status == "firing"]
        services = list(dict.fromkeys([*(h.service for h in hypotheses), *s.incident.services]))
        return match_runbooks(runbooks, alert_names=alerts, services=services,
                              hypothesis_kinds=[(h.cause_kind, h.service) for h in hypotheses])[:3]

    async def _suggest_runbooks(self, s: StoredIncident, hypotheses: Sequence[Any], out: Outbox) -> None:
        if not s.channel or not s.message_ts:
            return
        matches = await self.runbooks_for(s, hypotheses)
        if matches:
            await out.send(RunbookSuggestions(s, matches))

    async def advise(self, s: StoredIncident, out: Outbox) -> None:
        """With a model: ask once whether this new incident and the open ones near it should be merged or split;
        what survives grounding is sent as a `Suggestion` and noted on the timeline. Nothing is applied."""
        store, llm = self.deps.store, self.deps.llm
        if llm is None or store is None or not s.channel or not s.message_ts:
            return
        near = self.deps.config.correlation.window_delta * 3
        related = {r.incident for r in s.incident.related}
        others = [o for o in await store.incidents.listing(open_only=True, limit=10) if o.key != s.key and (
            o.key in related or abs(o.incident.started_at - s.incident.started_at) <= near)][:4]
        if not others:
            return
        try:
            alerts = {x.number: (x, await store.incidents.alerts(x.key)) for x in [s, *others]}
            result = await incident_advice(llm, {n: brief(x, a) for n, (x, a) in alerts.items()},
                                           {n: {e.event.fingerprint for e in a} for n, (_, a) in alerts.items()})
        except OneShotUnavailable as e:
            log.info("no merge/split advice", incident=s.number, reason=str(e))
            return
        except Exception:
            log.exception("merge/split advice failed", incident=s.number)
            return
        for a in result.advice:
            nums = " and ".join(f"#{n}" for n in a.incidents)
            what = f"merge {nums}" if a.kind == "merge" else f"split {len(a.alerts)} alert(s) out of {nums}"
            await out.send(Suggestion(s, result.model, what, a.reason, a.quote))
            await store.incidents.add_event(s.key, "llm_suggestion", f"model suggested: {what} ({a.reason})",
                                            now=self.deps.clock())
        if result.dropped:
            log.info("merge/split advice dropped by grounding", incident=s.number, dropped=result.dropped)

    async def _investigate(self, s: StoredIncident, out: Outbox) -> None:
        """Investigate the root service; send the answer, its approval requests and the matching runbooks; then
        record it (a failure before that leaves it unrecorded, so a later cycle asks again)."""
        store = self._store
        assert s.channel and s.message_ts
        try:
            target = self.target(s)  # the same service `publish` compares with the recorded one
            done = None if target is None else await self.investigate(self.deps, s, target=target)
            if done is None:
                return
            done = await with_incident_memory(self.deps, s, done)  # "Seen before" and the past fix, if one is close
            requests = approval_requests(done)
            await out.send(Answer(s, done.reply, requests))  # with "Right cause?" buttons
            for req in requests:
                try:
                    await out.send(ApprovalRequest(req))
                except UsageError as e:
                    log.warning("approval request not posted", request_id=req.id, error=str(e))
            await self._suggest_runbooks(s, done.explained.engine.hypotheses, out)
            now = self.deps.clock()
            seen = any(sec.title == "Seen before" for sec in done.reply.sections)  # the escalation rule reads it
            await store.incidents.set_investigation(s.key, root=done.target, doc={**done.summary, "seen_before": seen},
                                                    now=now)
            await store.incidents.add_event(s.key, "investigated", investigated_line(done), now=now)
        except (NotDelivered, StoreError) as e:
            log.error("incident investigation not posted", incident=s.number, error=str(e))
        except Busy as e:  # the line of questions is full: nothing was started; the next cycle asks again
            log.warning("incident investigation deferred", incident=s.number, reason=str(e))
        except Exception:
            log.exception("incident investigation failed", incident=s.number)

    async def escalate(self, out: Outbox) -> None:
        """The escalation rule over the open incidents, and their pages followed (`escalation/service.py`); a note
        or approval message that cannot be delivered is logged (the store keeps the page's state)."""
        async def send(s: StoredIncident, text: str) -> None:
            try:
                await out.send(EscalationNote(s, text))
            except NotDelivered as e:
                log.error("escalation note not posted", incident=s.number, error=str(e))

        async def post(req: ActionRequest) -> None:
            try:
                await out.send(ApprovalRequest(req))
            except (UsageError, NotDelivered) as e:
                log.warning("page request not posted", request_id=req.id, error=str(e))

        if self.deps.store is not None:
            self._escalator = self._escalator or Escalator(self.deps)
            await self._escalator.run(send, post)

    async def drain(self) -> None:
        """Wait for running investigations and advice (on shutdown)."""
        if self._running:
            await asyncio.gather(*self._running.values(), return_exceptions=True)
