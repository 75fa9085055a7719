"""Argo CD application state and deploy history as evidence."""

from __future__ import annotations

import asyncio
from datetime import datetime

from ..deps import Deps
from ..errors import BackendError, NotFound
from ..models import Application, DeployRecord, Evidence, evidence_id
from ..windows import format_ago
from ._common import failure, not_configured

__all__ = ["app_status", "deploy_history", "all_apps", "describe_deploy", "deploy_times"]


def describe_deploy(d: DeployRecord) -> str:
    who = d.initiated_by or "unknown"
    return f"#{d.id} revision {d.revision[:12]} deployed {d.deployed_at:%Y-%m-%d %H:%M} UTC by {who}"


def _app_quote(app: Application) -> str:
    rev = f", revision {app.revision[:12]}" if app.revision else ""
    op = f", last operation {app.operation_phase}" if app.operation_phase else ""
    msg = f": {app.operation_message}" if app.operation_phase and app.operation_message else ""
    return f"{app.name}: sync {app.sync_status}, health {app.health_status}{rev}{op}{msg}"


async def _get(deps: Deps, name: str) -> Application:
    assert deps.argocd is not None
    return await deps.argocd.get_app(name)


def _status_items(deps: Deps, app: Application, *, query: str, service: str | None, history: int) -> list[Evidence]:
    assert deps.argocd is not None
    url = deps.argocd.app_url(app.name)
    out = [Evidence(id=evidence_id("argocd", query, None, "status"), source="argocd", kind="app",
                    label=f"Argo CD app {app.name}", query=query, quote=_app_quote(app), url=url, service=service,
                    data={"sync": app.sync_status, "health": app.health_status, "revision": app.revision})]
    return out + deploy_history(app, query=query, url=url, service=service)[:history]


PER_APP_UP_TO = 3  # a scope this small asks app by app; a larger one lists the applications once


async def scope_app_status(deps: Deps, apps: dict[str, str], *, history: int = 3) -> dict[str, list[Evidence]]:
    """`app_status` for every service of a scope ({service: Argo CD app name}), from one
    `GET /api/v1/applications` when the scope has more than PER_APP_UP_TO services (a token that may not list
    falls back to one call per app)."""
    if deps.argocd is None or len(apps) <= PER_APP_UP_TO:
        groups = await asyncio.gather(*(app_status(deps, a, service=s, history=history) for s, a in apps.items()))
        return dict(zip(apps, groups, strict=True))
    try:
        listed = {a.name: a for a in await deps.argocd.list_apps()}
    except BackendError:
        groups = await asyncio.gather(*(app_status(deps, a, service=s, history=history) for s, a in apps.items()))
        return dict(zip(apps, groups, strict=True))
    out: dict[str, list[Evidence]] = {}
    for svc, name in apps.items():
        query = f"GET /api/v1/applications ({name})"
        app = listed.get(name)
        if app is None:
            out[svc] = [Evidence(id=evidence_id("argocd", query, None, "missing"), source="argocd", kind="app",
                                 label=f"Argo CD app {name}", query=query, status="no_data", service=svc,
                                 quote=f"no Argo CD application named {name!r}")]
        else:
            out[svc] = _status_items(deps, app, query=query, service=svc, history=history)
    return out


async def app_status(deps: Deps, name: str, *, service: str | None = None, history: int = 3) -> list[Evidence]:
    """The app's sync/health now, then its last `history` deploys (newest first), each its own evidence item."""
    label = f"Argo CD app {name}"
    query = f"GET /api/v1/applications/{name}"
    if deps.argocd is None:
        return [not_configured("argocd", "app", label, service=service)]
    try:
        app = await _get(deps, name)
    except NotFound:
        return [Evidence(id=evidence_id("argocd", query, None, "missing"), source="argocd", kind="app", label=label,
                         query=query, quote=f"no Argo CD application named {name!r}", status="no_data",
                         service=service)]
    except BackendError as e:
        return [failure("argocd", "app", label, query, None, e, service=service)]
    return _status_items(deps, app, query=query, service=service, history=history)


def deploy_history(app: Application, *, query: str, url: str | None, service: str | None) -> list[Evidence]:
    return [
        Evidence(id=evidence_id("argocd", query, None, f"history-{d.id}"), source="argocd", kind="deploy",
                 label=f"{app.name} deploy #{d.id}", query=query + " (status.history)", quote=describe_deploy(d),
                 url=url, service=service,
                 data={"id": d.id, "revision": d.revision, "deployed_at": d.deployed_at.isoformat(),
                       "author": d.initiated_by, "source": d.source})
        for d in sorted(app.history, key=lambda d: d.deployed_at, reverse=True)
    ]


async def all_apps(deps: Deps, *, now: datetime) -> list[Evidence]:
    """Every application: sync/health and its last deploy; unhealthy and recently deployed first."""
    query = "GET /api/v1/applications"
    if deps.argocd is None:
        return [not_configured("argocd", "app", "Argo CD applications")]
    try:
        apps = await deps.argocd.list_apps()
    except BackendError as e:
        return [failure("argocd", "app", "Argo CD applications", query, None, e)]
    if not apps:
        return [Evidence(id=evidence_id("argocd", query, None), source="argocd", kind="app",
                         label="Argo CD applications", query=query, quote="no applications", status="no_data")]

    def last(a: Application) -> datetime | None:
        return max((d.deployed_at for d in a.history), default=None)

    def order(a: Application) -> tuple[bool, float]:
        t = last(a)
        return (a.health_status == "Healthy" and a.sync_status == "Synced", -(t.timestamp() if t else 0.0))

    out = []
    for a in sorted(apps, key=order):
        t = last(a)
        when = f", last deploy {t:%Y-%m-%d %H:%M} UTC ({format_ago(now, t)})" if t else ""
        out.append(Evidence(id=evidence_id("argocd", query, None, a.name), source="argocd", kind="app",
                            label=f"Argo CD app {a.name}", query=query, quote=_app_quote(a) + when,
                            url=deps.argocd.app_url(a.name), service=a.name,
                            data={"sync": a.sync_status, "health": a.health_status}))
    return out


async def deploy_times(deps: Deps) -> dict[str, list[datetime]]:
    """Service -> when each of its Argo CD syncs happened (apps named by the config's `argocd_app`; other apps by
    their own name). Empty without Argo CD; BackendError when it cannot be read."""
    if deps.argocd is None:
        return {}
    cfg = deps.config
    service_of_app = {cfg.argocd_app(s): s.name for s in cfg.services}
    return {service_of_app.get(a.name, a.name): [d.deployed_at for d in a.history]
            for a in await deps.argocd.list_apps()}
