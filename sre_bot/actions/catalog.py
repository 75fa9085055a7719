"""The action catalog: every remediation the bot can ever propose, with typed arguments.

Nothing outside this catalog can be proposed, and a proposal whose arguments do not validate is dropped. A model
(or a person) names an action and its arguments; `validate_action` turns that into a `ProposedAction` or says
exactly why it cannot. Validation checks the shape (pydantic), that a named service exists, and what evidence an
action needs before it may even be suggested: a rollback needs a deploy of that service in the evidence, a
silence needs a firing alert its matchers select. A silence is never wider than the alert it rests on: it names
the alertname (whoever asks), and a suggested one uses only labels of a cited firing alert (what it selects live is
checked again against the evidence when it is prepared, `prepare.py`).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..errors import UsageError, validation_problems
from ..models import Evidence
from ..windows import parse_duration

__all__ = ["ActionSpec", "CATALOG", "ProposedAction", "validate_action", "catalog_summary",
           "RollbackArgs", "SyncArgs", "RestartArgs", "SilenceArgs", "UnsilenceArgs", "WebhookArgs", "PageArgs",
           "EDAArgs", "Risk"]

_NAME = re.compile(r"^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$")
MAX_SILENCE = timedelta(hours=24)


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class RollbackArgs(_Args):
    """Roll the service's Argo CD application back to an earlier deploy."""

    service: str
    to_history_id: int | None = Field(None, ge=0, description="Argo CD history id to return to; default the one "
                                                               "before the current deploy")
    away_from: str | None = Field(None, min_length=4, max_length=64, pattern=r"^[A-Za-z0-9._/-]+$",
                                  description="the revision blamed: prepared only while the app runs it, and never "
                                              "rolled back to")


class SyncArgs(_Args):
    """Sync the service's Argo CD application to a revision."""

    service: str
    revision: str = Field(min_length=4, max_length=64, pattern=r"^[A-Za-z0-9._/-]+$")


class RestartArgs(_Args):
    """Rolling restart of the service's workload (the Argo CD `restart` resource action)."""

    service: str
    kind: Literal["Deployment", "StatefulSet"] = "Deployment"


class SilenceArgs(_Args):
    """Silence alerts in Alertmanager for a while: the alerts of one alertname, narrowed by more labels."""

    matchers: dict[str, str] = Field(min_length=1)
    duration: str = "1h"
    comment: str = Field(min_length=3, max_length=300)

    @field_validator("matchers")
    @classmethod
    def _named(cls, v: dict[str, str]) -> dict[str, str]:
        if not str(v.get("alertname", "")).strip():
            given = ", ".join(f"{k}={val!r}" for k, val in v.items())
            raise ValueError(f"a silence must name the alert it silences (alertname=…), not only labels such as "
                             f"{given}: that would silence every alert they select")
        return v

    @field_validator("duration")
    @classmethod
    def _duration(cls, v: str) -> str:
        try:
            d = parse_duration(v)
        except UsageError as e:
            raise ValueError(str(e)) from None
        if d > MAX_SILENCE:
            raise ValueError("a silence may last at most 24h")
        return v


class UnsilenceArgs(_Args):
    """Expire an Alertmanager silence (the undo of `alertmanager.silence`)."""

    silence_id: str = Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9-]+$")


class WebhookArgs(_Args):
    """Call a configured webhook (Event-Driven Ansible, AWX, Rundeck, …) by name."""

    name: str = Field(min_length=1, max_length=64)
    service: str | None = None


class PageArgs(_Args):
    """Page the on-call of the team that owns the service (PagerDuty or Opsgenie), about one incident."""

    service: str
    team: str | None = Field(None, min_length=1, max_length=64, description="default: the service's team "
                                                                             "(escalation.teams)")
    incident_id: str | None = Field(None, max_length=64, description="the incident the page is about (its "
                                                                     "dedup key); default: the service's")
    severity: Literal["critical", "error", "warning", "info"] = "critical"


class EDAArgs(_Args):
    """Send an event to Event-Driven Ansible: its rulebook runs the team's playbook for this known issue."""

    service: str
    cause: str = Field(min_length=2, max_length=64, pattern=r"^[a-z0-9][a-z0-9_.-]*$",
                       description="the cause kind the rulebook matches, e.g. connection_pool_exhausted")
    fix: str = Field(min_length=2, max_length=64, pattern=r"^[a-z0-9][a-z0-9_.-]*$",
                     description="the known fix asked for, e.g. restart_deployment")
    incident_id: str | None = Field(None, max_length=64)


Needs = Literal["deploy", "alert", "signal", "person"]
Risk = Literal["low", "medium", "high"]


@dataclass(frozen=True)
class ActionSpec:
    name: str
    args: type[_Args]
    summary: str
    needs: Needs  # what must be in the cited evidence (for the service the action targets)
    risk: Risk
    reversible: bool
    blast_radius: str
    proposable: bool = True  # False: only a person may ask for it (`/sre run`, an undo button), never a model


CATALOG: dict[str, ActionSpec] = {s.name: s for s in (
    ActionSpec("argocd.rollback", RollbackArgs, "roll a service back to an earlier Argo CD deploy", "deploy",
               "medium", True, "one Argo CD application"),
    ActionSpec("argocd.sync", SyncArgs, "sync a service's Argo CD application to a revision", "deploy",
               "medium", True, "one Argo CD application"),
    ActionSpec("argocd.restart", RestartArgs, "rolling restart of a service's workload", "signal",
               "low", False, "the pods of one workload, one at a time"),
    ActionSpec("alertmanager.silence", SilenceArgs, "silence firing alerts in Alertmanager (at most 24h)", "alert",
               "low", True, "notifications of the matching alerts"),
    ActionSpec("alertmanager.unsilence", UnsilenceArgs, "expire an Alertmanager silence", "person",
               "low", True, "notifications of the alerts it silenced resume", proposable=False),
    ActionSpec("webhook", WebhookArgs, "call a configured automation webhook by name", "signal",
               "high", False, "whatever the automation does"),
    ActionSpec("pagerduty.page", PageArgs, "page a team's on-call through PagerDuty about an incident", "signal",
               "medium", True, "one person woken up (resolved with the incident)", proposable=False),
    ActionSpec("opsgenie.alert", PageArgs, "alert a team's on-call through Opsgenie about an incident", "signal",
               "medium", True, "one person woken up (closed with the incident)", proposable=False),
    ActionSpec("eda.event", EDAArgs, "send a known-issue event to Event-Driven Ansible (its rulebook runs the fix)",
               "signal", "high", False, "whatever the team's playbook does"),
)}


class ProposedAction(BaseModel):
    """A catalog action with validated arguments and the evidence that supports proposing it."""

    model_config = ConfigDict(frozen=True)

    action: str
    args: dict[str, Any]
    reason: str
    evidence_ids: list[str]
    service: str | None = None

    def describe(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in self.args.items() if v is not None)
        return f"{self.action}({args})"

    def command(self) -> str:
        """The `/sre run` line that asks for this action (the service first, as people type it)."""
        words = [self.action]
        for k, v in self.args.items():
            if v is None:
                continue
            if isinstance(v, dict):  # a silence's matchers
                words += [f"{mk}={_quoted(str(mv))}" for mk, mv in v.items()]
            elif k == "service":
                words.insert(1, str(v))
            else:
                words.append(f"{k}={_quoted(str(v))}")
        return "/sre run " + " ".join(words)


def _quoted(v: str) -> str:
    return f'"{v}"' if not v or any(c.isspace() for c in v) else v


def catalog_summary(webhooks: Mapping[str, str] | None = None) -> str:
    """One line per action with its argument names, for prompts and help text; `webhooks`: the configured webhook
    names (with their descriptions), the only names `webhook` accepts."""
    lines = []
    for s in CATALOG.values():
        if not s.proposable:
            continue
        fields = ", ".join(f"{n}{'' if f.is_required() else '?'}" for n, f in s.args.model_fields.items())
        lines.append(f"- {s.name}({fields}): {s.summary} [risk {s.risk}, "
                     f"{'reversible' if s.reversible else 'not reversible'}]")
        if s.name == "webhook" and webhooks:
            named = ", ".join(f"{n}" + (f" ({d[:120]})" if d else "") for n, d in sorted(webhooks.items()))
            lines.append(f"  configured webhooks (name=…): {named}")
    return "\n".join(lines)


def _deployed_at(e: Evidence) -> datetime | None:
    raw = e.data.get("deployed_at")
    return datetime.fromisoformat(raw) if isinstance(raw, str) else None


def _supports(spec: ActionSpec, args: _Args, service: str | None, cited: Sequence[Evidence],
              since: datetime | None) -> bool:
    """Whether the cited evidence shows what the action needs. A log line that merely mentions a service (or asks
    for an action) supports nothing: it takes a deploy in the window, a firing alert, or a measured anomaly."""
    ok = [e for e in cited if e.status == "ok" and e.service == service or e.kind == "alert" and e.status == "ok"]
    if spec.needs == "deploy":
        return any(e.kind == "deploy" and e.service == service
                   and (since is None or ((t := _deployed_at(e)) is not None and t >= since)) for e in ok)
    if spec.needs == "alert":
        matchers = getattr(args, "matchers", {})
        return any(e.kind == "alert" and all((e.data.get("labels") or {}).get(k) == v for k, v in matchers.items())
                   for e in ok)
    if service is None:  # a webhook for no particular service: any measured anomaly or firing alert
        return any(e.kind in ("anomaly", "alert") for e in cited if e.status == "ok")
    return any(e.kind in ("anomaly", "log_shift") or e.kind == "signal" and e.data.get("verdict") in ("high", "low")
               or e.kind == "alert" and e.service == service for e in ok)


def validate_action(name: str, args: Mapping[str, Any], *, reason: str, evidence_ids: Sequence[str],
                    evidence: Mapping[str, Evidence], services: Mapping[str, str],
                    since: datetime | None = None, webhooks: Collection[str] = (),
                    by_person: bool = False) -> ProposedAction:
    """The proposal, validated; raises UsageError saying why it cannot be proposed.

    `evidence` is every item the investigation actually returned (by id); `services` maps every known name and
    alias to its canonical service name; a deploy before `since` does not support a rollback (it is not the
    change that started this). A person asking (`by_person`, e.g. `/sre run`) is their own evidence: the
    evidence check is skipped, and only a person may ask for a non-proposable action.
    """
    spec = CATALOG.get(name)
    if spec is None or not (spec.proposable or by_person):
        names = ", ".join(n for n, s in CATALOG.items() if s.proposable or by_person)
        raise UsageError(f"{name!r} is not in the action catalog ({names})")
    try:
        parsed = spec.args.model_validate(dict(args))
    except ValidationError as e:
        raise UsageError(f"{name}: invalid arguments: {validation_problems(e)}") from None
    if isinstance(parsed, WebhookArgs) and parsed.name not in webhooks:
        configured = ", ".join(sorted(webhooks)) or "none are configured"
        raise UsageError(f"{name}: unknown webhook {parsed.name!r} ({configured})")
    service = getattr(parsed, "service", None)
    if service is not None:
        if service not in services or not _NAME.match(services[service]):
            raise UsageError(f"{name}: unknown service {service!r}")
        service = services[service]
        parsed = parsed.model_copy(update={"service": service})
    cited = [evidence[i] for i in evidence_ids if i in evidence]
    if not by_person and not _supports(spec, parsed, service, cited, since):
        need = {"deploy": f"a deploy of {service}" + (f" since {since:%H:%M} UTC" if since else ""),
                "alert": "a firing alert whose labels include every matcher of the silence",
                "signal": f"an anomaly of {service}"}[spec.needs]
        raise UsageError(f"{name}: the cited evidence does not show {need}")
    return ProposedAction(action=name, args=parsed.model_dump(), reason=reason.strip()[:500],
                          evidence_ids=[e.id for e in cited], service=service)
