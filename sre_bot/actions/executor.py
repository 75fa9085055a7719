"""Run one claimed request against its target, with the arguments pinned when it was prepared.

Only `approvals.py` calls this, and only after the store's atomic claim: nothing reaches here from a model or a
button without that gate. Every failure becomes an `Outcome` (a person reads it in the message and the audit);
the target's own words are kept.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from ..deps import Deps
from ..errors import BackendError
from ..logging import get_logger
from ..store.records import ActionRequest
from .webhook_body import render_headers, render_webhook

__all__ = ["Outcome", "execute", "EXECUTION_TIMEOUT"]

log = get_logger(__name__)

EXECUTION_TIMEOUT = timedelta(minutes=2)  # longer than any backend timeout; a request `executing` past this is stuck


@dataclass(frozen=True)
class Outcome:
    ok: bool
    detail: str  # one line for people
    response: dict[str, Any] = field(default_factory=dict)  # what the target answered (kept in the audit)


async def execute(deps: Deps, req: ActionRequest) -> Outcome:
    try:
        async with asyncio.timeout(EXECUTION_TIMEOUT.total_seconds()):
            return await _run(deps, req)
    except BackendError as e:
        return Outcome(False, f"{e}", {"error": type(e).__name__, "status": getattr(e, "status", None)})
    except TimeoutError:
        return Outcome(False, f"no answer from the target within {EXECUTION_TIMEOUT}; check it before retrying",
                       {"error": "timeout"})
    except Exception as e:  # a bug: the request must still end in a recorded state
        log.exception("executor bug", request_id=req.id, action=req.action)
        return Outcome(False, f"internal error ({type(e).__name__}); the logs have the details",
                       {"error": type(e).__name__})


async def _run(deps: Deps, req: ActionRequest) -> Outcome:
    a = req.args
    if req.action.startswith("argocd."):
        if deps.argocd is None:
            return Outcome(False, "Argo CD is not configured (ARGOCD_URL)")
        if req.action == "argocd.rollback":
            app = await deps.argocd.rollback(a["app"], int(a["to_history_id"]))
            revision = str(a.get("to_revision", ""))[:10]
            return Outcome(True, f"Argo CD accepted the rollback of {app.name} to history {a['to_history_id']} "
                                 f"(`{revision}`); operation: {app.operation_phase or 'started'}",
                           {"app": app.name, "operation_phase": app.operation_phase,
                            "operation_message": app.operation_message, "sync_revision": app.revision})
        if req.action == "argocd.sync":
            app = await deps.argocd.sync(a["app"], a["revision"])
            return Outcome(True, f"Argo CD accepted the sync of {app.name} to `{a['revision']}`",
                           {"app": app.name, "operation_phase": app.operation_phase,
                            "operation_message": app.operation_message})
        await deps.argocd.run_resource_action(a["app"], action="restart", kind=a.get("kind", "Deployment"),
                                              resource_name=a["resource_name"], namespace=a.get("namespace"),
                                              group=a.get("group"), version=a.get("version"))
        return Outcome(True, f"Argo CD started a rolling restart of {a.get('kind')} {a['resource_name']}",
                       {"app": a["app"], "resource": a["resource_name"]})
    if req.action == "alertmanager.silence":
        if deps.alertmanager is None:
            return Outcome(False, "Alertmanager is not configured (ALERTMANAGER_URL)")
        start = req.started_at or deps.clock()
        end = start + timedelta(seconds=int(a["ends_in_s"]))
        sid = await deps.alertmanager.create_silence(
            a["matchers"], starts_at=start, ends_at=end,
            created_by=f"sre-bot for {req.decided_by_name or req.decided_by or 'auto'}", comment=a["comment"])
        return Outcome(True, f"silence {sid} created until {end:%H:%M} UTC", {"silence_id": sid})
    if req.action == "alertmanager.unsilence":
        if deps.alertmanager is None:
            return Outcome(False, "Alertmanager is not configured (ALERTMANAGER_URL)")
        await deps.alertmanager.expire_silence(a["silence_id"])
        return Outcome(True, f"silence {a['silence_id']} expired", {"silence_id": a["silence_id"]})
    if req.action == "webhook":
        return await _webhook(deps, req)
    if req.action in ("pagerduty.page", "opsgenie.alert"):
        from .paging import run_page

        return await run_page(deps, req)
    if req.action == "eda.event":
        from .eda import run_eda

        return await run_eda(deps, req)
    return Outcome(False, f"no executor for {req.action}")


async def _webhook(deps: Deps, req: ActionRequest) -> Outcome:
    name = req.args["name"]
    hook = deps.config.actions.webhooks.get(name)
    if hook is None or deps.webhook is None:
        return Outcome(False, f"webhook {name!r} is no longer configured")
    values = dict(service=req.args.get("service"), request_id=req.id, requested_by=req.requested_by,
                  approver=req.decided_by, reason=req.reason, channel=req.channel)
    secret = deps.settings.webhook_secrets.get(name)
    result = await deps.webhook.call(
        name, str(hook.url), method=hook.method,
        headers=render_headers(hook.headers, secret=secret.get_secret_value() if secret else None, **values),
        body=render_webhook(hook.body, as_text=False, **values), timeout=hook.timeout_s)
    return Outcome(True, f"webhook {name} answered {result.status}",
                   {"status": result.status, "body": result.body[:2000]})
