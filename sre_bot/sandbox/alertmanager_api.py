"""An Alertmanager API (v2) over the scenario's alerts: `/api/v2/alerts` with its filters, status, ready.

Alerts are those started and not yet resolved at the clock's now, shaped like Alertmanager 0.25's (fingerprint
computed as Alertmanager does, RFC 3339 times with milliseconds, receivers, status with silencedBy/inhibitedBy),
sorted by fingerprint. `filter` takes matchers (`service="checkout"`, `severity=~"crit.*"`); `active`, `silenced`,
`inhibited`, `unprocessed` and `receiver` behave as in Alertmanager. A bad filter is a 400 with a JSON string body.

Silences can be written, as the bot's approved actions do: `POST /api/v2/silences` (a `postableSilence`; matching
alerts become `suppressed` with its id in `silencedBy`), `GET` and `DELETE /api/v2/silence/{id}`, with Alertmanager
0.25's validation messages and its quirk of answering 500 "silence not found" to a DELETE of an unknown id.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any
from urllib.parse import quote_plus

from aiohttp import web

from .generate import AlertState, SilenceState, World
from .matchers import Matcher, MatcherError, matches_all, parse_filter
from .wire import SIMULATOR, json_response, parse_time, rfc3339

__all__ = ["create_app", "alert_json", "silence_json", "RECEIVER"]

RECEIVER = "sre-bot"
_OPS = {(True, False): "=", (False, False): "!=", (True, True): "=~", (False, True): "!~"}  # (isEqual, isRegex)
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


def silence_json(s: SilenceState, now: float) -> dict[str, Any]:
    """A `gettableSilence`, keys in Alertmanager 0.25's order."""
    return {"id": s.id, "status": {"state": s.state(now)}, "updatedAt": rfc3339(s.updated_at), "comment": s.comment,
            "createdBy": s.created_by, "endsAt": rfc3339(s.ends_at),
            "matchers": [{"isEqual": m.op in ("=", "=~"), "isRegex": m.op in ("=~", "!~"), "name": m.name,
                          "value": m.value} for m in s.matchers],
            "startsAt": rfc3339(s.starts_at)}


def _silence(body: Any, now: float) -> tuple[list[Matcher], float, float] | web.Response:
    """The matchers and times of a `postableSilence`, or Alertmanager's refusal."""
    if not isinstance(body, dict):
        return json_response({"code": 602, "message": "silence in body is required"}, status=422)
    for key in ("matchers", "startsAt", "endsAt", "createdBy", "comment"):
        if key not in body:
            return json_response({"code": 602, "message": f"{key} in body is required"}, status=422)
    if not isinstance(body["matchers"], list) or not body["matchers"]:
        return json_response({"code": 612, "message": "matchers in body should have at least 1 items"}, status=422)
    try:
        matchers = [Matcher.make(str(m["name"]), _OPS[(bool(m.get("isEqual", True)), bool(m["isRegex"]))],
                                 str(m["value"])) for m in body["matchers"]]
        starts, ends = parse_time(str(body["startsAt"])), parse_time(str(body["endsAt"]))
    except (KeyError, TypeError, AttributeError, ValueError) as e:
        return json_response(f"silence invalid: {e}", status=400)
    if ends <= starts:
        return json_response("Failed to create silence: start time must be before end time", status=400)
    if ends < now:
        return json_response("Failed to create silence: end time can't be in the past", status=400)
    if all(m.matches_empty() for m in matchers):
        return json_response("silence invalid: at least one matcher must not match the empty string", status=400)
    return matchers, starts, ends


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

    async def post_silence(request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.text())
        except ValueError as e:
            return json_response({"code": 400, "message": f'parsing silence body from "" failed, because {e}'},
                                 status=400)
        got = _silence(body, world.now())
        if isinstance(got, web.Response):
            return got
        matchers, starts, ends = got
        if body.get("id"):
            if body["id"] not in world.silences:
                return json_response("silence not found", status=404)
            world.expire_silence(body["id"])  # Alertmanager replaces a changed silence with a new one
        silence = world.add_silence(matchers, starts, ends, str(body["createdBy"]), str(body["comment"]))
        world.operations.append({"op": "create_silence", "body": body, "id": silence.id, "at": world.now()})
        return json_response({"silenceID": silence.id})

    def silence_id(request: web.Request) -> str | web.Response:
        sid = request.match_info["id"]
        try:
            uuid.UUID(sid)
        except ValueError:
            return json_response({"code": 601, "message": f'silenceID in path must be of type uuid: "{sid}"'},
                                 status=422)
        return sid

    async def get_silence(request: web.Request) -> web.Response:
        sid = silence_id(request)
        if isinstance(sid, web.Response):
            return sid
        s = world.silences.get(sid)
        return json_response(silence_json(s, world.now())) if s else web.Response(status=404)

    async def delete_silence(request: web.Request) -> web.Response:
        sid = silence_id(request)
        if isinstance(sid, web.Response):
            return sid
        if world.expire_silence(sid) is None:
            return json_response("silence not found", status=500)  # sic: Alertmanager 0.25
        world.operations.append({"op": "expire_silence", "id": sid, "at": world.now()})
        return web.Response(status=200)

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
    app.router.add_post("/api/v2/silences", post_silence)
    app.router.add_get("/api/v2/silence/{id}", get_silence)
    app.router.add_delete("/api/v2/silence/{id}", delete_silence)
    app.router.add_get("/-/ready", ready)
    app.router.add_get("/-/healthy", ready)
    return app
