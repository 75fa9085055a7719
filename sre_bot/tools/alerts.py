"""Firing alerts for a service, from Alertmanager, as evidence."""

from __future__ import annotations

from ..config import ServiceConfig
from ..deps import Deps
from ..errors import BackendError
from ..models import Alert, Evidence, evidence_id
from ._common import failure, not_configured

__all__ = ["firing_alerts", "scope_firing_alerts", "describe_alert"]


def describe_alert(a: Alert) -> str:
    summary = a.annotations.get("summary") or a.annotations.get("description") or ""
    text = f"{a.name} ({a.severity}) firing since {a.starts_at:%Y-%m-%d %H:%M} UTC"
    return f"{text}: {summary}" if summary else text


async def firing_alerts(deps: Deps, svc: ServiceConfig) -> list[Evidence]:
    """Active, unsilenced alerts labelled with the service; one evidence item each (none firing is an answer)."""
    label_name = deps.config.defaults.service_label
    matchers = {label_name: svc.name}
    query = "GET /api/v2/alerts?" + "&".join(f'filter={k}="{v}"' for k, v in matchers.items())
    label = f"{svc.name} firing alerts"
    if deps.alertmanager is None:
        return [not_configured("alertmanager", "alerts", label, service=svc.name)]
    try:
        alerts = await deps.alertmanager.alerts(matchers=matchers)
    except BackendError as e:
        return [failure("alertmanager", "alerts", label, query, None, e, service=svc.name)]
    url = deps.alertmanager.alerts_url(matchers)
    if not alerts:
        return [Evidence(id=evidence_id("alertmanager", query, None), source="alertmanager", kind="alerts",
                         label=label, query=query, quote=f"no alerts firing for {svc.name}", status="no_data",
                         url=url, service=svc.name)]
    return [
        Evidence(id=evidence_id("alertmanager", query, None, a.fingerprint), source="alertmanager", kind="alert",
                 label=f"alert {a.name}", query=query, quote=describe_alert(a), url=url, service=svc.name,
                 data={"fingerprint": a.fingerprint, "alertname": a.name, "severity": a.severity,
                       "starts_at": a.starts_at.isoformat(), "labels": a.labels})
        for a in sorted(alerts, key=lambda a: a.starts_at)
    ]


async def scope_firing_alerts(deps: Deps, services: list[ServiceConfig]) -> dict[str, list[Evidence]]:
    """`firing_alerts` for every service of a scope from one `GET /api/v2/alerts` (active, unsilenced), split by
    the service label; a scope of one asks with its filter as `firing_alerts` does."""
    if deps.alertmanager is None or len(services) <= 1:
        return {s.name: await firing_alerts(deps, s) for s in services}
    label_name = deps.config.defaults.service_label
    query = "GET /api/v2/alerts?active=true&silenced=false&inhibited=false"
    try:
        alerts = await deps.alertmanager.alerts()
    except BackendError as e:
        return {s.name: [failure("alertmanager", "alerts", f"{s.name} firing alerts", query, None, e, service=s.name)]
                for s in services}
    out: dict[str, list[Evidence]] = {}
    for svc in services:
        mine = [a for a in alerts if a.labels.get(label_name) == svc.name]
        url = deps.alertmanager.alerts_url({label_name: svc.name})
        if not mine:
            out[svc.name] = [Evidence(
                id=evidence_id("alertmanager", f"{query}#{svc.name}", None), source="alertmanager", kind="alerts",
                label=f"{svc.name} firing alerts", query=query, quote=f"no alerts firing for {svc.name}",
                status="no_data", url=url, service=svc.name)]
            continue
        out[svc.name] = [
            Evidence(id=evidence_id("alertmanager", query, None, a.fingerprint), source="alertmanager", kind="alert",
                     label=f"alert {a.name}", query=query, quote=describe_alert(a), url=url, service=svc.name,
                     data={"fingerprint": a.fingerprint, "alertname": a.name, "severity": a.severity,
                           "starts_at": a.starts_at.isoformat(), "labels": a.labels})
            for a in sorted(mine, key=lambda a: a.starts_at)]
    return out
