"""What a runbook step reads: each function calls one read-only system and returns evidence plus the values its
condition may test. Argo CD, alerts and log reads go through `sre_bot.tools`; PromQL and health checks build their
evidence the same way (quoted, linked, with a stable id).

A backend that fails or is not configured gives an `error` evidence item and `StepOutput.error` (the step is
marked failed; the run goes on). "No data" is an answer: its values are None or 0, never an error.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from statistics import fmean
from typing import Any

from ..config import ServiceConfig
from ..deps import Deps
from ..errors import BackendError
from ..models import Evidence, Series, TimeRange, evidence_id
from ..tools._common import failure, not_configured
from ..tools.alerts import firing_alerts
from ..tools.deploys import app_status
from ..tools.logs import fetch_logs

__all__ = ["StepContext", "StepOutput", "read_promql", "read_logql", "read_argocd_app", "read_recent_deploys",
           "read_alerts", "read_http"]


@dataclass(frozen=True)
class StepContext:
    deps: Deps
    now: datetime
    label: str  # the step's title: the label of its main evidence item
    svc: ServiceConfig | None = None


@dataclass(frozen=True)
class StepOutput:
    evidence: list[Evidence]
    values: dict[str, Any] = field(default_factory=dict)
    error: str | None = None  # set when the step could not read what it needs


def _failed(e: Evidence) -> StepOutput:
    return StepOutput([e], {}, e.quote)


def _svc_name(ctx: StepContext) -> str | None:
    return ctx.svc.name if ctx.svc else None


def _num(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.6g}"


def _labels(s: Series) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(s.labels.items())) + "}"


async def read_promql(ctx: StepContext, query: str, window: TimeRange, top: int = 5) -> StepOutput:
    """value: the latest point of the top series (largest latest value); first/min/max/avg over that series."""
    deps, label = ctx.deps, ctx.label
    if deps.prometheus is None:
        return _failed(not_configured("prometheus", "query", label, service=_svc_name(ctx)))
    try:
        series = await deps.prometheus.query_range(query, window, step=deps.prometheus.step_for(window))
    except BackendError as e:
        return _failed(failure("prometheus", "query", label, query, window, e, service=_svc_name(ctx)))
    grafana = deps.links.grafana_explore(query, window, datasource="prometheus")
    base = dict(id=evidence_id("prometheus", query, window), source="prometheus", kind="query", label=label,
                query=query, window=window, url=deps.prometheus.graph_url(query, window),
                extra_urls={"Grafana": grafana} if grafana else {}, service=_svc_name(ctx))
    series = [s for s in series if s.values]
    if not series:
        return StepOutput([Evidence(**base, quote=f"no data in {window.label()}", status="no_data")],
                          {"value": None, "first": None, "min": None, "max": None, "avg": None, "series": 0})
    ranked = sorted(series, key=lambda s: abs(s.last or 0.0), reverse=True)
    lines = [f"{_labels(s)} now {_num(s.last)}, first {_num(s.values[0])}, min {_num(min(s.values))}, "
             f"max {_num(max(s.values))}" for s in ranked[:top]]
    vals = ranked[0].values
    partial = f"showing {top} of {len(series)} series (largest latest value)" if len(series) > top else None
    values = {"value": vals[-1], "first": vals[0], "min": min(vals), "max": max(vals), "avg": fmean(vals),
              "series": len(series)}
    return StepOutput([Evidence(**base, quote="\n".join(lines), partial=partial,
                                data={"series": len(series), **values})], values)


async def read_logql(ctx: StepContext, logql: str, window: TimeRange, show: int = 5) -> StepOutput:
    """count: lines matched (up to the line limit, `limit_hit` says it was reached); per_minute over the window."""
    deps, label = ctx.deps, ctx.label
    if deps.loki is None:
        return _failed(not_configured("loki", "logs", label, service=_svc_name(ctx)))
    try:
        result = await fetch_logs(deps, logql, window)
    except BackendError as e:
        return _failed(failure("loki", "logs", label, logql, window, e, service=_svc_name(ctx)))
    grafana = deps.links.grafana_explore(logql, window, datasource="loki")
    base = dict(id=evidence_id("loki", logql, window), source="loki", kind="logs", label=label, query=logql,
                window=window, extra_urls={"Grafana": grafana} if grafana else {}, service=_svc_name(ctx))
    count = len(result.lines)
    values = {"count": count, "limit_hit": result.limit_hit,
              "per_minute": round(count / max(window.duration.total_seconds() / 60, 1e-9), 3)}
    if not count:
        return StepOutput([Evidence(**base, quote=f"no log lines matched in {window.label()}", status="no_data")],
                          values)
    shown = result.lines[:show]
    total = f"{count}+" if result.limit_hit else str(count)
    partial = f"showing {len(shown)} of {total} lines" if len(shown) < count or result.limit_hit else None
    return StepOutput([Evidence(**base, quote="\n".join(x.line for x in shown), partial=partial,
                                data={"matched": count, "limit_hit": result.limit_hit})], values)


def _minutes_since(now: datetime, iso: Any) -> float | None:
    if not isinstance(iso, str):
        return None
    return round((now - datetime.fromisoformat(iso)).total_seconds() / 60, 1)


async def read_argocd_app(ctx: StepContext, app: str) -> StepOutput:
    """sync_status, health and revision now; minutes_since_deploy and deployed_by of the newest deploy."""
    evidence = await app_status(ctx.deps, app, service=_svc_name(ctx), history=3)
    status = evidence[0]
    if status.status == "error":
        return StepOutput(evidence, {}, status.quote)
    deploys = [e for e in evidence if e.kind == "deploy"]
    newest = deploys[0].data if deploys else {}
    values = {"sync_status": status.data.get("sync"), "health": status.data.get("health"),
              "revision": status.data.get("revision"), "deployed_by": newest.get("author"),
              "minutes_since_deploy": _minutes_since(ctx.now, newest.get("deployed_at"))}
    return StepOutput(evidence, values)


async def read_recent_deploys(ctx: StepContext, services: list[ServiceConfig], window: TimeRange) -> StepOutput:
    """The newest deploy among `services`' Argo CD apps: its service, revision, author and age; `count` in window."""
    deps = ctx.deps
    results = await asyncio.gather(*(app_status(deps, deps.config.argocd_app(s), service=s.name, history=5)
                                     for s in services))
    errors = [r[0] for r in results if r and r[0].status == "error"]
    if errors and len(errors) == len(results):
        return StepOutput(errors[:3], {}, errors[0].quote)
    deploys = sorted((e for r in results for e in r if e.kind == "deploy"), key=lambda e: e.data["deployed_at"],
                     reverse=True)
    in_window = [e for e in deploys if datetime.fromisoformat(e.data["deployed_at"]) >= window.start]
    names = ", ".join(s.name for s in services)
    newest = deploys[0] if deploys else None
    values = {"count": len(in_window), "apps": len(services) - len(errors),
              "minutes_since_deploy": _minutes_since(ctx.now, newest.data["deployed_at"]) if newest else None,
              "service": newest.service if newest else None, "revision": newest.data["revision"] if newest else None,
              "deployed_by": newest.data.get("author") if newest else None}
    shown = (in_window or deploys)[:5]
    if not shown:
        query = f"Argo CD history of {names}"
        shown = [Evidence(id=evidence_id("argocd", query, window), source="argocd", kind="deploys", label=ctx.label,
                          query=query, window=window, quote=f"no deploys of {names} in Argo CD's history",
                          status="no_data", service=_svc_name(ctx))]
    return StepOutput([*shown, *errors], values)


async def read_alerts(ctx: StepContext, svc: ServiceConfig, alertname: str | None, severity: str | None
                      ) -> StepOutput:
    """count and alertnames of the service's firing alerts (only `alertname` / `severity` when given)."""
    evidence = await firing_alerts(ctx.deps, svc)
    if evidence and evidence[0].status == "error":
        return StepOutput(evidence, {}, evidence[0].quote)
    alerts = [e for e in evidence if e.kind == "alert" and (alertname is None or e.data["alertname"] == alertname)
              and (severity is None or e.data["severity"] == severity)]
    oldest = min((e.data["starts_at"] for e in alerts), default=None)
    values = {"count": len(alerts), "alertnames": sorted({e.data["alertname"] for e in alerts}),
              "minutes_firing": _minutes_since(ctx.now, oldest)}
    if alerts:
        return StepOutput(alerts, values)
    what = " ".join(x for x in (alertname, f"severity={severity}" if severity else None) if x) or "alerts"
    first = evidence[0] if evidence else None
    query = first.query if first else "GET /api/v2/alerts"
    return StepOutput([Evidence(id=evidence_id("alertmanager", query, None, f"none:{what}"), source="alertmanager",
                                kind="alerts", label=ctx.label, query=query, quote=f"no {what} firing for {svc.name}",
                                status="no_data", url=first.url if first else None, service=svc.name)], values)


async def read_http(ctx: StepContext, url: str) -> StepOutput:
    """status, ok (2xx), latency_ms, body (as much as was read) and redirect (where a 3xx points, not followed)."""
    deps, label = ctx.deps, ctx.label
    query = f"GET {url}"
    http = deps.runbooks.http if deps.runbooks is not None else None
    if http is None:
        e = Evidence(id=evidence_id("engine", query, None, "not-configured"), source="engine", kind="http_check",
                     label=label, query=query, status="error", service=_svc_name(ctx),
                     quote="health checks are not configured (set runbooks.http_allow in the config)",
                     data={"error_kind": "not_configured"})
        return _failed(e)
    try:
        res = await http.get(url)
    except BackendError as e:
        return _failed(failure("engine", "http_check", label, query, None, e, service=_svc_name(ctx)))
    body = " ".join(res.body.split())
    quote = f"HTTP {res.status} in {res.latency_ms:g} ms" + (f", redirect to {res.location} (not followed)"
                                                             if res.location else "")
    if body:
        quote += f": {body[:400]}" + ("…" if len(body) > 400 or res.truncated else "")
    values = {"status": res.status, "ok": 200 <= res.status < 300, "latency_ms": res.latency_ms, "body": res.body,
              "redirect": res.location}
    return StepOutput([Evidence(id=evidence_id("engine", query, None, str(res.status)), source="engine",
                                kind="http_check", label=label, query=query, quote=quote, url=url,
                                service=_svc_name(ctx), data={k: v for k, v in values.items() if k != "body"})],
                      values)
