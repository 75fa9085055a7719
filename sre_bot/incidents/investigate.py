"""The root-service investigation of a new incident: the same engine (and model, when configured) as a mention,
asked about the incident's likely root service around its onset. Its answer goes in the incident's thread; a
short summary (top hypothesis and its quoted evidence, or "insufficient evidence") goes on the message."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from ..actions.approvals import Proposed
from ..analysis.alert_times import EPOCH
from ..analysis.graph import depends_on_closure
from ..deps import Deps
from ..feedback.answers import for_feedback
from ..services.caller import Caller
from ..services.explain import Explained, explain
from ..services.names import known_services
from ..services.proposals import propose_from_answer
from ..services.reply import Reply, Section
from ..store.incidents import StoredIncident

__all__ = ["investigation_target", "investigate_incident", "investigation_time", "Investigated"]


def investigation_target(s: StoredIncident, graph: Mapping[str, Sequence[str]]) -> str | None:
    """Where to start: the affected service that reaches the most other affected ones through its dependencies
    (the entry point of the chain), earliest onset first. The engine's scope is that service, everything it depends
    on and its callers, so a cause anywhere down the chain — a deploy of a middle service — is in view; starting at
    the deepest dependency (the topology's root) would miss its callers' deploys."""
    affected = s.incident.services
    if not affected:
        return None

    def reach(svc: str) -> int:
        return len(({svc} | depends_on_closure(graph, svc)) & set(affected))

    return max(affected, key=lambda x: (reach(x), -affected.index(x)))


def investigation_time(started_at: datetime, now: datetime) -> datetime:
    """The onset to ask about, held between 1970 and `now`: incidents stored before alert times were checked may
    claim a start on 9999-12-31 or in year 1, and no backend has data outside that range (nor can a window around
    such a time be computed)."""
    return min(max(started_at, EPOCH), now)


class Investigated:
    def __init__(self, target: str, explained: Explained, proposed: list[Proposed]) -> None:
        self.target = target
        self.explained = explained
        self.proposed = proposed

    @property
    def reply(self) -> Reply:
        reply = self.explained.reply
        notes = [f"• {p.proposal.describe()} — {p.note}" for p in self.proposed if p.kind in ("suggest", "error")]
        if notes:
            reply = reply.model_copy(update={"sections": [*reply.sections, Section(
                title="Suggested actions, not offered for approval", note="\n".join(notes))]})
        return reply

    @property
    def summary(self) -> dict[str, Any]:
        """What the incident message shows: the top hypothesis with up to two quotes, or insufficient evidence."""
        inv = self.explained.engine
        doc: dict[str, Any] = {"target": self.target, "answered_by": self.explained.answered_by,
                               "engine": inv.engine, "insufficient": inv.insufficient or not inv.hypotheses}
        if inv.hypotheses:
            h = inv.hypotheses[0]
            doc.update(service=h.service, cause=h.cause, cause_kind=h.cause_kind, confidence=h.confidence,
                       engine_confidence=h.engine_confidence, calibration=inv.calibration,
                       evidence=[{"id": e.id, "quote": e.quote.splitlines()[0] if e.quote else ""}
                                 for e in h.evidence[:2]])
            shown = self.explained.reply.answer  # what people saw: the team's recalibration, when there is one
            top = shown.top if shown is not None else None
            if shown is not None and top is not None and top.service == h.service and top.calibrated is not None:
                doc.update(calibrated=top.calibrated, calibration=shown.calibration)
        return doc


async def investigate_incident(deps: Deps, s: StoredIncident, *, target: str | None = None) -> Investigated | None:
    """Investigate the incident's root service around its onset (`target`: the service to ask about, when the
    caller has chosen it; by default from the configured dependencies); None when no service is known."""
    target = target or investigation_target(s, deps.config.dependencies())
    if target is None:
        return None
    question = f"why is {target} unhealthy?"
    names = await known_services(deps)
    thread = f"{s.channel}:{s.message_ts}" if s.channel and s.message_ts else None
    at = investigation_time(s.incident.started_at, deps.clock())
    explained = await explain(deps, question, thread=thread, at=at, names=names)
    explained = await for_feedback(deps, explained, question=question)  # calibration; stored with its buttons
    proposed: list[Proposed] = []
    if deps.store is not None and s.channel and s.message_ts:
        caller = Caller(user="", channel=s.channel, thread_ts=s.message_ts, user_name=f"incident #{s.number}")
        proposed = await propose_from_answer(deps, explained, caller, question=question, names=names)
    return Investigated(target, explained, proposed)
