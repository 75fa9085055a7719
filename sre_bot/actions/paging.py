"""Paging a team's on-call (PagerDuty Events v2 or Opsgenie): what a page carries, pinned before anyone approves it.

`prepare_page` (for `pagerduty.page` / `opsgenie.alert`) resolves, once:

- the team: `team=` or the service's team in the YAML `escalation.teams` (else `escalation.default_team`); the team
  must be paged through that provider (`pagerduty: true` / `opsgenie: true`) and have a key in
  SRE_BOT_PAGERDUTY_ROUTING_KEYS / SRE_BOT_OPSGENIE_API_KEYS — each a UsageError naming the fix;
- the dedup key: `sre-bot/<incident key>` for an incident (given as `12`, `#12` or its key; so a repeat, whoever
  asks, updates one page), else `sre-bot/<service>`;
- the content: the incident's title, severity and services, the top hypotheses of its latest investigation answer
  with their calibrated confidence (else its recorded investigation), the evidence that answer quoted, links back to
  the incident's Slack thread and the answer; with no incident the page says so.

The whole event (without the key) is pinned in the request's arguments and the preview says which team, which
provider and the summary: what a person approves is what `run_page` sends. The key is looked up by team only when
the page is sent, and never enters arguments, outcomes, logs or the audit.

`follow_page` acknowledges or resolves a page that was sent (the escalation rule calls it as the incident is
acknowledged in Slack or resolves): a follow-up of an approved page, not a new action; the caller audits it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from ..backends.opsgenie import AlertBody, Priority
from ..backends.pagerduty import SUMMARY_MAX, Severity, TriggerEvent
from ..errors import BackendError, UsageError

if TYPE_CHECKING:
    from pydantic import SecretStr

    from ..deps import Deps
    from ..store.incidents import StoredIncident
    from ..store.records import ActionRequest
    from .catalog import ActionSpec
    from .executor import Outcome
    from .prepare import Prepared

__all__ = ["prepare_page", "run_page", "follow_page", "dedup_key_for", "Provider", "PROVIDERS", "slack_link"]

Provider = Literal["pagerduty", "opsgenie"]
PROVIDERS: dict[str, Provider] = {"pagerduty.page": "pagerduty", "opsgenie.alert": "opsgenie"}
_NAMES = {"pagerduty": "PagerDuty", "opsgenie": "Opsgenie"}
_SETTING = {"pagerduty": "SRE_BOT_PAGERDUTY_ROUTING_KEYS", "opsgenie": "SRE_BOT_OPSGENIE_API_KEYS"}
_URL_SETTING = {"pagerduty": "PAGERDUTY_EVENTS_URL", "opsgenie": "OPSGENIE_API_URL"}
_KEY_WORD = {"pagerduty": "routing key", "opsgenie": "API key"}
_PRIORITY: dict[str, Priority] = {"critical": "P1", "error": "P2", "warning": "P3", "info": "P5"}
_SLACK_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")
_MAX_HYPOTHESES = 3
_PREVIEW_MAX = 1500


def dedup_key_for(*, incident_key: str | None = None, service: str | None = None) -> str:
    """The page's dedup key (PagerDuty) / alias (Opsgenie): one page per incident, else per service."""
    if incident_key:
        return f"sre-bot/{incident_key}"
    if service:
        return f"sre-bot/{service}"
    raise ValueError("a dedup key needs an incident or a service")


def slack_link(channel: str | None, ts: str | None = None, *, thread_ts: str | None = None) -> str | None:
    """A link to a Slack message (or channel) that opens in the person's own workspace; None for a channel named
    rather than given by id (`#incidents`), which no link can reach."""
    if not channel or not _SLACK_ID.match(channel):
        return None
    if not ts:
        return f"https://slack.com/app_redirect?channel={channel}"
    link = f"https://slack.com/archives/{channel}/p{ts.replace('.', '')}"
    if thread_ts and thread_ts != ts:
        link += f"?thread_ts={thread_ts}&cid={channel}"
    return link


def _keys(deps: Deps, provider: Provider) -> dict[str, SecretStr]:
    s = deps.settings
    return s.pagerduty_routing_keys if provider == "pagerduty" else s.opsgenie_api_keys


def _team(deps: Deps, spec: ActionSpec, provider: Provider, service: str, asked: str | None) -> str:
    esc = deps.config.escalation
    name = _NAMES[provider]
    team = asked or esc.team_for(service)
    if team is None:
        raise UsageError(f"{spec.name}: no team owns {service}: add it to a team's services in the YAML "
                         "`escalation.teams`, set `escalation.default_team`, or say which team with team=…")
    route = esc.teams.get(team)
    if route is None:
        known = ", ".join(sorted(esc.teams)) or "none are configured"
        raise UsageError(f"{spec.name}: {team!r} is not a team of `escalation.teams` ({known})")
    if not getattr(route, provider):
        raise UsageError(f"{spec.name}: team {team} is not paged through {name}: set "
                         f"`escalation.teams.{team}.{provider}: true`" + (
                             " (it is paged through PagerDuty: use pagerduty.page)" if provider == "opsgenie"
                             and route.pagerduty else " (it is paged through Opsgenie: use opsgenie.alert)"
                             if provider == "pagerduty" and route.opsgenie else ""))
    if team not in _keys(deps, provider):
        raise UsageError(f"{spec.name}: team {team} has no {name} {_KEY_WORD[provider]}: add it to "
                         f"{_SETTING[provider]} as JSON, {{\"{team}\": \"…\"}}")
    if (deps.pagerduty if provider == "pagerduty" else deps.opsgenie) is None:
        raise UsageError(f"{spec.name}: {name} is not configured ({_SETTING[provider]}, {_URL_SETTING[provider]})")
    return team


async def _incident(deps: Deps, ref: str | None) -> StoredIncident | None:
    if not ref:
        return None
    if deps.store is None:
        raise UsageError("a page about an incident needs the bot's store (SRE_BOT_DB_URL)")
    raw = ref.strip().removeprefix("#")
    s = await deps.store.incidents.get(int(raw)) if raw.isascii() and raw.isdigit() and len(raw) <= 9 else None
    s = s or await deps.store.incidents.get(ref.strip())
    if s is None:
        raise UsageError(f"there is no incident {ref}; `/sre incidents all` lists them")
    if s.incident.resolved:
        when = f" at {s.incident.resolved_at:%Y-%m-%d %H:%M} UTC" if s.incident.resolved_at else ""
        raise UsageError(f"incident #{s.number} resolved{when}: there is nothing to page about")
    return s


@dataclass(frozen=True)
class _Hypothesis:
    service: str | None
    cause: str
    cause_kind: str | None
    confidence: float
    calibrated: bool

    def line(self) -> str:
        how = "calibrated" if self.calibrated else "stated, not calibrated"
        return f"{self.service or '?'}: {self.cause} ({self.confidence:.0%} {how})"


async def _hypotheses(deps: Deps, s: StoredIncident) -> tuple[list[_Hypothesis], str | None, list[str]]:
    """The top hypotheses, the answer's message link, and the evidence quoted (from the recorded investigation)."""
    found: list[_Hypothesis] = []
    link = None
    inv = s.investigation or {}
    if deps.store is not None and s.channel and s.message_ts:
        answer = await deps.store.feedback.latest_in_thread(s.channel, s.message_ts)
        if answer is not None:
            link = slack_link(answer.channel, answer.message_ts, thread_ts=answer.thread_ts)
            if not answer.draft.insufficient:
                # the engine's confidences are calibrated already (services/confidence.py), `calibrated` is the
                # team's recalibration when there is one; a model's stated confidence is not calibrated
                engine = answer.draft.answered_by != "llm"
                found = [_Hypothesis(h.service, h.cause, h.cause_kind,
                                     h.calibrated if h.calibrated is not None else h.confidence,
                                     engine or h.calibrated is not None)
                         for h in answer.draft.hypotheses[:_MAX_HYPOTHESES]]
    if not found and inv and not inv.get("insufficient") and inv.get("cause"):
        calibrated = inv.get("calibrated")  # the recorded investigation is the engine's: calibrated either way
        found = [_Hypothesis(inv.get("service"), str(inv["cause"]), inv.get("cause_kind"),
                             float(calibrated if calibrated is not None else inv.get("confidence") or 0.0), True)]
    quotes = [str(e.get("quote"))[:300] for e in inv.get("evidence") or [] if isinstance(e, dict) and e.get("quote")]
    return found, link, quotes


@dataclass(frozen=True)
class _Content:
    summary: str
    short: str  # Opsgenie's message (≤130)
    details: dict[str, Any]
    links: list[dict[str, str]]
    lines: list[str]  # the description, one fact a line
    cause_kind: str | None
    started: datetime


async def _content(deps: Deps, service: str, team: str, severity: str, s: StoredIncident | None, *, now: datetime,
                   requested_by: str | None, request_id: str, channel: str) -> _Content:
    details: dict[str, Any] = {"service": service, "team": team, "severity": severity, "request_id": request_id}
    if requested_by:
        details["requested_by"] = requested_by
    links: list[dict[str, str]] = []
    lines: list[str] = []
    if s is None:
        summary = f"{service}: paged by sre-bot (no incident: asked about the service)"
        lines.append("No incident is attached to this page: it was asked for about the service, not an incident.")
        details["incident"] = "none"
        if (link := slack_link(channel)) is not None:
            links.append({"href": link, "text": "Slack channel where it was asked"})
        return _Content(summary, summary, details, links, lines, None, now)
    inc = s.incident
    hyps, answer_link, quotes = await _hypotheses(deps, s)
    head = f"{service}: incident #{s.number} {inc.severity.upper()} · {inc.title}"
    if hyps:
        top = hyps[0]
        summary = f"{head} — likely cause: {top.line()}"
    else:
        summary = f"{head} — no confident cause found (nobody understands it yet)"
    details.update(incident=f"#{s.number} {inc.title}", incident_key=inc.key,
                   started_at=f"{inc.started_at:%Y-%m-%d %H:%M:%S} UTC", services=", ".join(inc.services[:10]),
                   firing_alerts=inc.firing,
                   alerts=", ".join(f"{n} ×{c}" for n, c in list(inc.alert_names.items())[:10]))
    details["hypotheses"] = [h.line() for h in hyps] or ["none with enough evidence"]
    if quotes:
        details["evidence"] = quotes
    lines += [f"Incident #{s.number} ({inc.severity}) started {inc.started_at:%Y-%m-%d %H:%M} UTC: {inc.title}",
              f"Services: {', '.join(inc.services[:10]) or 'none named'}"]
    lines += [f"Hypothesis {i}: {h.line()}" for i, h in enumerate(hyps, 1)] or ["No hypothesis with enough evidence."]
    lines += [f"Evidence: {q}" for q in quotes]
    if (thread := slack_link(s.channel, s.message_ts)) is not None:
        links.append({"href": thread, "text": f"Slack thread of incident #{s.number}"})
    if answer_link is not None:
        links.append({"href": answer_link, "text": "The investigation and its evidence"})
    short = f"{service}: #{s.number} {inc.title}"
    return _Content(summary, short, details, links, lines, hyps[0].cause_kind if hyps else None, inc.started_at)


async def prepare_page(deps: Deps, spec: ActionSpec, args: dict[str, Any], *, now: datetime, requested_by: str | None,
                       request_id: str, channel: str) -> Prepared:
    """Resolve team, dedup key and content; pin the event (no key) in the arguments. UsageError when it cannot."""
    from .prepare import Prepared

    provider = PROVIDERS[spec.name]
    service = str(args["service"])
    severity: Severity = args.get("severity") or "critical"
    team = _team(deps, spec, provider, service, args.get("team"))
    s = await _incident(deps, args.get("incident_id"))
    dedup = dedup_key_for(incident_key=s.key if s else None, service=service)
    c = await _content(deps, service, team, severity, s, now=now, requested_by=requested_by, request_id=request_id,
                       channel=channel)
    args.update(team=team, provider=provider, dedup_key=dedup, severity=severity,
                incident_id=s.key if s else None, incident_number=s.number if s else None)
    name = _NAMES[provider]
    if provider == "pagerduty":
        event = TriggerEvent(dedup_key=dedup, summary=c.summary, source=service, severity=severity,
                             timestamp=c.started, component=service, group=team, class_=c.cause_kind or "unknown",
                             custom_details=c.details, links=c.links,
                             client_url=c.links[0]["href"] if c.links else None)
        args["event"] = event.body()
        shown = args["event"]["payload"]["summary"]
        what = f"trigger a {severity} alert"
    else:
        alert = AlertBody(alias=dedup, message=c.short, description="\n".join([c.summary, *c.lines, *(
            f"{x['text']}: {x['href']}" for x in c.links)]), priority=_PRIORITY.get(severity, "P3"),
            tags=["sre-bot", f"team:{team}", f"service:{service}", severity], details=_flat(c.details),
            entity=service, source="sre-bot", user="sre-bot")
        args["alert"] = alert.body()
        shown = args["alert"]["message"]
        what = f"create a {_PRIORITY.get(severity, 'P3')} alert"
    carried = "; ".join(c.lines[1:4]) if s else c.lines[0]
    links = ", ".join(x["text"] for x in c.links) or "no Slack link (the channel is named, not an id)"
    preview = (f"Page team `{team}` through {name}: {what} (dedup key `{dedup}`, so a repeat updates this page) "
               f"with the summary “{shown[:SUMMARY_MAX]}”. It carries: {carried}. Links: {links}.")
    return Prepared(spec.name, args, preview[:_PREVIEW_MAX], spec,
                    undo=f"resolve the page (dedup key {dedup}); it also resolves with the incident")


def _flat(details: dict[str, Any]) -> dict[str, str]:
    """Opsgenie's details are string → string."""
    return {k: "; ".join(map(str, v)) if isinstance(v, list) else str(v) for k, v in details.items()}


def _secret(deps: Deps, provider: Provider, team: str) -> str | None:
    key = _keys(deps, provider).get(team)
    return key.get_secret_value() if key is not None else None


async def run_page(deps: Deps, req: ActionRequest) -> Outcome:
    """Send the pinned trigger (executor only, after the claim): exactly what was approved."""
    from .executor import Outcome

    a = req.args
    provider: Provider = a.get("provider") or PROVIDERS[req.action]
    team, dedup = str(a.get("team")), str(a.get("dedup_key"))
    name = _NAMES[provider]
    base: dict[str, Any] = {"provider": provider, "team": team, "dedup_key": dedup}
    key = _secret(deps, provider, team)
    if key is None:
        return Outcome(False, f"not sent: team {team} no longer has a {name} {_KEY_WORD[provider]} "
                              f"({_SETTING[provider]})", {**base, "not_run": True})
    try:
        if provider == "pagerduty":
            if deps.pagerduty is None or "event" not in a:
                return Outcome(False, f"not sent: {name} is not configured", {**base, "not_run": True})
            res = await deps.pagerduty.trigger(key, a["event"])
            out = res.as_dict()
        else:
            if deps.opsgenie is None or "alert" not in a:
                return Outcome(False, f"not sent: {name} is not configured", {**base, "not_run": True})
            res2 = await deps.opsgenie.create(key, a["alert"])
            out = res2.as_dict()
    except BackendError as e:
        return Outcome(False, f"{name} did not take the page for team {team}: {e}",
                       {**base, "error": type(e).__name__, "status": e.status, "message": str(e)[:500]})
    kept = out.get("dedup_key") or dedup
    return Outcome(True, f"{name} accepted the page for team {team} (dedup key `{kept}`): {out['message']}",
                   {**base, "dedup_key": kept, "status": out["status"], "message": out["message"],
                    **({"request_id": out["request_id"]} if out.get("request_id") else {})})


async def follow_page(deps: Deps, *, provider: Provider, team: str, dedup_key: str,
                      event: Literal["acknowledge", "resolve"]) -> Outcome:
    """Acknowledge or resolve (Opsgenie: close) a page sent earlier; an Outcome either way, never an exception."""
    outcome = await _follow(deps, provider=provider, team=team, dedup_key=dedup_key, event=event)
    deps.metrics.page_followups.labels(str(provider), str(event), "ok" if outcome.ok else "failed").inc()
    return outcome


async def _follow(deps: Deps, *, provider: Provider, team: str, dedup_key: str,
                  event: Literal["acknowledge", "resolve"]) -> Outcome:
    from .executor import Outcome

    name = _NAMES.get(provider)
    base: dict[str, Any] = {"provider": provider, "team": team, "dedup_key": dedup_key, "event": event}
    if name is None or event not in ("acknowledge", "resolve"):
        return Outcome(False, f"cannot {event} a {provider} page", {**base, "not_run": True})
    key = _secret(deps, provider, team)
    if key is None:
        return Outcome(False, f"not sent: team {team} has no {name} {_KEY_WORD[provider]} ({_SETTING[provider]})",
                       {**base, "not_run": True})
    try:
        if provider == "pagerduty":
            if deps.pagerduty is None:
                return Outcome(False, f"not sent: {name} is not configured", {**base, "not_run": True})
            pd = deps.pagerduty.acknowledge if event == "acknowledge" else deps.pagerduty.resolve
            out = (await pd(key, dedup_key)).as_dict()
        else:
            if deps.opsgenie is None:
                return Outcome(False, f"not sent: {name} is not configured", {**base, "not_run": True})
            if event == "acknowledge":
                res = await deps.opsgenie.acknowledge(key, dedup_key, note="acknowledged in Slack (sre-bot)")
            else:
                res = await deps.opsgenie.close(key, dedup_key, note="the incident resolved (sre-bot)")
            out = res.as_dict()
    except BackendError as e:
        return Outcome(False, f"{name} did not take the {event} of {dedup_key}: {e}",
                       {**base, "error": type(e).__name__, "status": e.status, "message": str(e)[:500]})
    done = "acknowledged" if event == "acknowledge" else "resolved"
    return Outcome(True, f"{name} page {dedup_key} of team {team} {done}: {out['message']}",
                   {**base, "status": out["status"], "message": out["message"]})
