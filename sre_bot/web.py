"""The bot's HTTP server (both Slack modes): Bolt's `POST /slack/events` in HTTP mode, and always
`GET /healthz` (the process is up), `GET /readyz` (this replica can take traffic), `GET /metrics`, and
`POST /alertmanager` (the Alertmanager webhook, `alert_webhook.py`).

Readiness is about this replica, not about the systems it reads: it is ready when its store answers (where it keeps
approvals, the audit, the alert inbox). A backend that is down is reported in the body (`degraded`) but does not
make the replica unready — an outage of Prometheus would otherwise take every replica out of the Service at once,
when people need the bot to say what it cannot check and to take the alerts. Each backend gets READYZ_BACKEND_WAIT_S
to answer its ping (on a lane of its own: Prometheus's pings never queue behind investigations), so a slow backend
never makes the probe itself time out."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any

from aiohttp import web

from .deps import Deps
from .metrics import CONTENT_TYPE_LATEST
from .services.health import check_backends
from .store.errors import StoreError

Handler = Callable[[web.Request], Awaitable[web.Response]]

__all__ = ["build_web_app", "READYZ_BACKEND_WAIT_S"]

# `/readyz` reports the backends it could ping within this; one slower is "degraded" (no answer yet). Kubernetes'
# probes time out after 1 s by default, and readiness is about the store, not the backends.
READYZ_BACKEND_WAIT_S = 0.5


def _in_background(start: Callable[[], Coroutine[Any, Any, None]]
                   ) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context running `start()` as a task while the server is up (cancelled when it stops), so that
    start-up does not wait for it."""
    async def context(_: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(start())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return context


def build_web_app(deps: Deps, slack_events: Handler | None = None, alerts: Handler | None = None) -> web.Application:
    """The aiohttp application; `slack_events` (Bolt's handler) is mounted at /slack/events in HTTP mode, and
    `alerts` (the Alertmanager webhook, which reads its own body up to its own limit) at /alertmanager."""
    app = web.Application(client_max_size=1 * 2**20)

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        checks = await check_backends(deps, wait=READYZ_BACKEND_WAIT_S)  # a slow backend cannot hold the probe
        store: dict[str, object] = {"configured": deps.store is not None}
        if deps.store is not None:
            try:
                await deps.store.ping()
                store.update(ok=True, detail=deps.store.where)
            except StoreError as e:
                store.update(ok=False, detail=str(e))
        ready = store.get("ok", True) is True
        body = {"status": "ready" if ready else "not ready", "store": store,
                "degraded": [c.name for c in checks if c.configured and not c.ok],
                "backends": {c.name: {"ok": c.ok, "configured": c.configured, "detail": c.detail} for c in checks}}
        return web.json_response(body, status=200 if ready else 503)

    async def metrics(_: web.Request) -> web.Response:
        resp = web.Response(body=deps.metrics.exposition())
        resp.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return resp

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    if slack_events is not None:
        events = slack_events

        async def slack(request: web.Request) -> web.Response:  # a coroutine function, as aiohttp wants
            return await events(request)

        app.router.add_post("/slack/events", slack)
        warm_up = getattr(slack_events, "warm_up", None)  # Bolt's auth.test, made once the server is up
        if warm_up is not None:
            app.cleanup_ctx.append(_in_background(warm_up))
    if alerts is not None:
        app.router.add_post("/alertmanager", alerts)
    return app
