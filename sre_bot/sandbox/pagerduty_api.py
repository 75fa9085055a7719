"""A PagerDuty Events API v2 receiver (`POST /v2/enqueue`), so a page can be tried without a PagerDuty account.

It validates a request as PagerDuty does (the contract: `../shared/fixtures/pagerduty/events-v2.openapi.json`) and
answers in its shapes: 202 `{"status": "success", "message": "Event processed", "dedup_key": …}`, and 400
`{"status": "invalid event", "message": "Event object is invalid", "errors": [...]}` for a body that is not an
event (a missing or unknown routing key, an unknown `event_action`, a trigger without summary, source or a known
severity, an acknowledge or resolve without `dedup_key`); a body that is not JSON gets the spec's own example,
`{"status": "Unrecognized object", "message": "Event object format is unrecognized", "errors": ["JSON parse
error"]}`. A summary past 1,024 characters is cut, as PagerDuty does.

Pages are kept in memory by (routing key, dedup key): a trigger opens one (or adds an event to the open one), an
acknowledge and a resolve move it (`triggered` → `acknowledged` → `resolved`), a trigger after a resolve opens a new
one, and acknowledge or resolve of nothing open is accepted and ignored (PagerDuty's API is asynchronous: it
answers 202 either way). `GET /sandbox/pagerduty/incidents` lists them, newest first, so the demo can show a page
arriving.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from ..clock import Clock, system_clock

__all__ = ["PagerDutyReceiver", "SandboxPage", "create_app", "SUMMARY_MAX"]

SUMMARY_MAX = 1024
_ACTIONS = ("trigger", "acknowledge", "resolve")
_SEVERITIES = ("critical", "warning", "error", "info")
_KEY_LEN = 32


@dataclass
class SandboxPage:
    """One alert as PagerDuty would hold it."""

    team: str
    dedup_key: str
    status: str  # triggered | acknowledged | resolved
    summary: str
    severity: str
    source: str
    created_at: str
    events: list[dict[str, Any]] = field(default_factory=list)  # each event as received, the routing key left out

    def as_json(self) -> dict[str, Any]:
        return {"team": self.team, "dedup_key": self.dedup_key, "status": self.status, "summary": self.summary,
                "severity": self.severity, "source": self.source, "created_at": self.created_at,
                "events": [dict(e) for e in self.events]}


def _invalid(*errors: str) -> tuple[int, dict[str, Any]]:
    return 400, {"status": "invalid event", "message": "Event object is invalid", "errors": list(errors)}


def _blank(v: Any) -> bool:
    return not isinstance(v, str) or not v.strip()


class PagerDutyReceiver:
    """The state and validation, apart from HTTP (so a test fake can put scripted failures in front of it)."""

    def __init__(self, routing_keys: Mapping[str, str], *, clock: Clock = system_clock) -> None:
        self._teams = {key: team for team, key in routing_keys.items()}
        self._clock = clock
        self._lock = threading.Lock()
        self.pages: list[SandboxPage] = []

    def handle(self, raw: bytes) -> tuple[int, dict[str, Any]]:
        """One POST /v2/enqueue body → (status, JSON answer)."""
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return 400, {"status": "Unrecognized object", "message": "Event object format is unrecognized",
                         "errors": ["JSON parse error"]}
        key, action = body.get("routing_key"), body.get("event_action")
        if not isinstance(key, str) or not key.strip():
            return _invalid("'routing_key' is missing or blank")
        if len(key) != _KEY_LEN:
            return _invalid(f"Length of 'routing_key' is incorrect (should be {_KEY_LEN} characters)")
        if key not in self._teams:
            return _invalid("Invalid routing key")
        if action not in _ACTIONS:
            return _invalid("'event_action' is invalid (must be one of the following: 'trigger', 'acknowledge' or "
                            "'resolve')")
        dedup = body.get("dedup_key")
        if dedup is not None and not isinstance(dedup, str):
            return _invalid("'dedup_key' must be a string")
        if action == "trigger":
            problem = self._trigger_problem(body)
            if problem:
                return _invalid(*problem)
        elif _blank(dedup):
            return _invalid("'dedup_key' is missing or blank")
        dedup = dedup or secrets.token_hex(16)
        with self._lock:
            self._apply(self._teams[key], action, dedup, body)
        return 202, {"status": "success", "message": "Event processed", "dedup_key": dedup}

    @staticmethod
    def _trigger_problem(body: dict[str, Any]) -> list[str]:
        payload = body.get("payload")
        if not isinstance(payload, dict):
            return ["'payload' is missing or blank"]
        errors = [f"'payload.{k}' is missing or blank" for k in ("summary", "source") if _blank(payload.get(k))]
        if payload.get("severity") not in _SEVERITIES:
            errors.append("'payload.severity' is invalid (must be one of the following: 'critical', 'warning', "
                          "'error' or 'info')")
        if "custom_details" in payload and not isinstance(payload["custom_details"], dict | str | list):
            errors.append("'payload.custom_details' is invalid")
        links = body.get("links", [])
        if not isinstance(links, list) or any(not isinstance(x, dict) or _blank(x.get("href")) for x in links):
            errors.append("'links' is invalid (each link needs an 'href')")
        return errors

    def _apply(self, team: str, action: str, dedup: str, body: dict[str, Any]) -> None:
        now = self._clock().isoformat(timespec="seconds")
        event = {k: v for k, v in body.items() if k != "routing_key"} | {"received_at": now}
        open_ = next((p for p in reversed(self.pages) if p.team == team and p.dedup_key == dedup
                      and p.status != "resolved"), None)
        if action == "trigger":
            payload = body["payload"]
            summary = str(payload["summary"])[:SUMMARY_MAX]
            if open_ is None:
                self.pages.append(SandboxPage(team, dedup, "triggered", summary, payload["severity"],
                                              payload["source"], now, [event]))
            else:
                open_.events.append(event)
                open_.summary, open_.severity = summary, payload["severity"]
            return
        if open_ is None:
            return  # nothing open under that key: PagerDuty accepts and drops it
        open_.events.append(event)
        if action == "acknowledge" and open_.status == "triggered":
            open_.status = "acknowledged"
        elif action == "resolve":
            open_.status = "resolved"

    def listing(self) -> list[dict[str, Any]]:
        with self._lock:
            return [p.as_json() for p in reversed(self.pages)]


def create_app(receiver: PagerDutyReceiver) -> web.Application:
    async def enqueue(request: web.Request) -> web.Response:
        status, body = receiver.handle(await request.read())
        return web.json_response(body, status=status)

    async def incidents(request: web.Request) -> web.Response:
        return web.json_response({"incidents": receiver.listing()})

    app = web.Application()
    app.router.add_post("/v2/enqueue", enqueue)
    app.router.add_get("/sandbox/pagerduty/incidents", incidents)
    return app
