"""The bot's HTTP server (both Slack modes): Bolt's `POST /slack/events` in HTTP mode, and always
`GET /healthz` (the process is up), `GET /readyz` (configured backends reachable), `GET /metrics`, and
`POST /alertmanager` (the Alertmanager webhook, `alert_webhook.py`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from .deps import Deps
from .metrics import CONTENT_TYPE_LATEST
from .services.health import check_backends

Handler = Callable[[web.Request], Awaitable[web.Response]]

__all__ = ["build_web_app"]


def build_web_app(deps: Deps, slack_events: Handler | None = None, alerts: Handler | None = None) -> web.Application:
    """The aiohttp application; `slack_events` (Bolt's handler) is mounted at /slack/events in HTTP mode, and
    `alerts` (the Alertmanager webhook, which reads its own body up to its own limit) at /alertmanager."""
    app = web.Application(client_max_size=1 * 2**20)

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        checks = await check_backends(deps)
        ready = all(c.ok for c in checks if c.configured)
        body = {"status": "ready" if ready else "not ready",
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
        app.router.add_post("/slack/events", slack_events)
    if alerts is not None:
        app.router.add_post("/alertmanager", alerts)
    return app
