"""Is each configured system reachable? Used by `/readyz` and `sre-bot doctor`; and is anything configured at all
(`nothing_to_investigate`, used by `doctor` and `ask`, so that an empty setup is never mistaken for a healthy one)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from ..config import Config
from ..deps import Deps
from ..errors import BackendError
from ..settings import Settings

__all__ = ["Check", "check_backends", "FIX", "SYSTEMS", "TO_SET", "nothing_to_investigate", "escalation_checks"]

SYSTEMS = ("prometheus", "loki", "argocd", "alertmanager")
TO_SET = "set PROMETHEUS_URL (metrics), and LOKI_URL, ARGOCD_URL, ALERTMANAGER_URL for logs, deploys and alerts"

FIX = {
    "prometheus": "check PROMETHEUS_URL (and PROMETHEUS_TOKEN if it needs auth)",
    "loki": "check LOKI_URL (and LOKI_ORG_ID / LOKI_TOKEN for multi-tenant Loki)",
    "argocd": "check ARGOCD_URL and ARGOCD_TOKEN (an API token of a read-only account: argocd account generate-token)",
    "alertmanager": "check ALERTMANAGER_URL",
    "tempo": "check TEMPO_URL (and TEMPO_ORG_ID / TEMPO_TOKEN for multi-tenant Tempo)",
}


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    configured: bool = True


async def _ping(name: str, backend: object | None, timeout: float, wait: float | None = None) -> Check:
    if backend is None:
        return Check(name, False, f"not configured: set {name.upper()}_URL", configured=False)
    patience = timeout if wait is None else min(wait, timeout)
    try:
        version = await asyncio.wait_for(backend.ping(), patience)  # type: ignore[attr-defined]
    except TimeoutError:
        if patience < timeout:
            return Check(name, False, f"no answer within {patience:g}s (slow or down; this check waits no longer)")
        return Check(name, False, f"timed out — {FIX[name]}")
    except BackendError as e:
        return Check(name, False, f"{str(e) or 'failed'} — {FIX[name]}")
    return Check(name, True, f"reachable (version {version})" if version and version != "ok" else "reachable")


async def check_backends(deps: Deps, *, wait: float | None = None) -> list[Check]:
    """The four systems an investigation reads, and Tempo when it is configured (optional: not listed otherwise),
    pinged at once; `wait`: give up on one after that many seconds (readiness) rather than its backend timeout."""
    timeout = deps.settings.backend_timeout_s
    return list(await asyncio.gather(
        _ping("prometheus", deps.prometheus, timeout, wait),
        _ping("loki", deps.loki, timeout, wait),
        _ping("argocd", deps.argocd, timeout, wait),
        _ping("alertmanager", deps.alertmanager, timeout, wait),
        *([_ping("tempo", deps.tempo, timeout, wait)] if deps.tempo is not None else []),
    ))


def nothing_to_investigate(settings: Settings) -> str | None:
    """None when at least one system an investigation reads is set; else what to set, and how to try the bot."""
    if any(getattr(settings, f"{name}_url") is not None for name in SYSTEMS):
        return None
    return f"nothing is configured to investigate: {TO_SET} — or try `sre-bot demo` to see the bot on a simulated shop"


def escalation_checks(settings: Settings, config: Config) -> list[Check]:
    """Whether the paging and automation targets are set up consistently (no request is sent: a test page would
    wake somebody). A team paged through a provider with no key for it fails here rather than at 3 a.m., when an
    approved page would be refused."""
    esc = config.escalation
    known = set(config.service_names)
    problems: list[str] = []
    for team, route in esc.teams.items():
        if route.pagerduty and team not in settings.pagerduty_routing_keys:
            problems.append(f"team {team}: pagerduty: true but SRE_BOT_PAGERDUTY_ROUTING_KEYS has no key for it")
        if route.opsgenie and team not in settings.opsgenie_api_keys:
            problems.append(f"team {team}: opsgenie: true but SRE_BOT_OPSGENIE_API_KEYS has no key for it")
        unknown = [s for s in route.services if known and s not in known]
        if unknown:
            problems.append(f"team {team}: services not in the config's services: {', '.join(unknown)}")
    strays = sorted((set(settings.pagerduty_routing_keys) | set(settings.opsgenie_api_keys)) - set(esc.teams))
    unused = f" (keys for teams escalation.teams does not list, unused: {', '.join(strays)})" if strays else ""
    if esc.teams:
        rule = esc.unknown
        summary = (f"{len(esc.teams)} team(s) ({', '.join(sorted(esc.teams))}); unknown-issue rule "
                   + (f"offers a page at {rule.min_severity}+ after {rule.after}, at most {rule.max_per_hour}/h a team"
                      if rule.enabled else "off"))
        escalation = Check("escalation", not problems, ("; ".join(problems) if problems else summary) + unused)
    else:
        escalation = Check("escalation", True, "no escalation.teams: pages are never offered" + unused,
                           configured=False)
    if settings.eda_url is None:
        eda = Check("eda", True, "SRE_BOT_EDA_URL not set: eda.event is not available", configured=False)
    else:
        eda = Check("eda", True, f"events go to {settings.eda_url.host}{settings.eda_url.path or ''}, signed "
                                 "(bearer token and X-Hub-Signature-256); not sent now (it would run a rulebook)")
    return [escalation, eda]
