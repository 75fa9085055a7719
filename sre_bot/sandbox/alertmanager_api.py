"""An Alertmanager API (v2) over the scenario's alerts: `/api/v2/alerts` with its filters, status, ready.

Alerts are those started and not yet resolved at the clock's now, shaped like Alertmanager 0.25's (fingerprint
computed as Alertmanager does, RFC 3339 times with milliseconds, receivers, status with silencedBy/inhibitedBy),
sorted by fingerprint. `filter` takes matchers (`service="checkout"`, `severity=~"crit.*"`); `active`, `silenced`,
`inhibited`, `unprocessed` and `receiver` behave as in Alertmanager. A bad filter is a 400 with a JSON string body.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote_plus

from aiohttp import web

from .generate import AlertState, World
from .matchers import MatcherError, matches_all, parse_filter
from .wire import SIMULATOR, json_response, rfc3339

__all__ = ["create_app", "alert_json", "RECEIVER"]

RECEIVER = "sre-bot"
_TRUE = {"true", "1", "t", "yes", "y", "on"}
_FALSE = {"false", "0", "f", "no", "n", "off"}
_CONFIG = f"""global:
  resolve_timeout: 5m
route:
  receiver: {RECEIVER}
  group_by:
  - alertname
  - namespace
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 4h
receivers:
- name: {RECEIVER}
templates: []
"""


def alert_json(a: AlertState, prometheus_url: str) -> dict[str, Any]:
    expr = a.spec.expr or a.spec.alertname
    return {
        "annotations": dict(sorted(a.spec.annotations.items())),
        "endsAt": rfc3339(a.ends_at),
        "fingerprint": a.fingerprint,
        "receivers": [{"name": RECEIVER}],
        "startsAt": rfc3339(a.starts_at),
        "status": {"inhibitedBy": list(a.inhibited_by), "silencedBy": list(a.silenced_by), "state": a.state},
        "updatedAt": rfc3339(a.updated_at),
        "generatorURL": f"{prometheus_url.rstrip('/')}/graph?g0.expr={quote_plus(expr, safe='')}&g0.tab=1",
        "labels": dict(sorted(a.labels.items())),
    }


def create_app(world: World, *, prometheus_url: str = "http://prometheus.sandbox:9090") -> web.Application:
    started = world.now()

    def flag(request: web.Request, name: str) -> bool:
        raw = request.query.get(name)
        if raw is None or raw == "":
            return True
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise ValueError(f'{name} in query should be of type boolean, got "{raw}"')

    async def alerts(request: web.Request) -> web.Response:
        try:
            active, silenced, inhibited, unprocessed = (flag(request, n) for n in
                                                        ("active", "silenced", "inhibited", "unprocessed"))
            matchers = [parse_filter(f) for f in request.query.getall("filter", [])]
            receiver = re.compile(request.query["receiver"]) if request.query.get("receiver") else None
        except (MatcherError, ValueError, re.error) as e:
            return json_response(str(e), status=400)
        out = []
        for a in world.alerts():
            if receiver is not None and not receiver.fullmatch(RECEIVER):
                continue
            if not active and a.state == "active":
                continue
            if not unprocessed and a.state == "unprocessed":
                continue
            if not silenced and a.silenced_by:
                continue
            if not inhibited and a.inhibited_by:
                continue
            if not matches_all(matchers, a.labels):
                continue
            out.append(alert_json(a, prometheus_url))
        return json_response(out)

    async def status(request: web.Request) -> web.Response:
        return json_response({
            "cluster": {"peers": [], "status": "disabled"},
            "config": {"original": _CONFIG},
            "uptime": rfc3339(started),
            "versionInfo": {"branch": "sandbox", "buildDate": "20260101-00:00:00", "buildUser": "sre-bot",
                            "goVersion": "go1.19.8", "revision": "sre-bot-sandbox", "version": "0.25.0"},
        })

    async def ready(request: web.Request) -> web.Response:
        return web.Response(text="OK")

    async def ui(request: web.Request) -> web.Response:
        return web.Response(text=f"{SIMULATOR} (Alertmanager API only, no UI)\n\n"
                                 "Ask /api/v2/alerts (with filter=label=\"value\") for the alerts.\n")

    app = web.Application()
    app.router.add_get("/", ui)
    app.router.add_get("/api/v2/alerts", alerts)
    app.router.add_get("/api/v2/status", status)
    app.router.add_get("/-/ready", ready)
    app.router.add_get("/-/healthy", ready)
    return app
