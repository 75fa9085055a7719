"""An Opsgenie Alert API v2 receiver, so an Opsgenie alert can be tried without an account.

Reference (the wire contract; no local fixture exists): Opsgenie's Alert API documentation,
https://docs.opsgenie.com/docs/alert-api (Create Alert: `message` mandatory, at most 130 characters, `alias` 512,
`description` 15,000, `priority` P1–P5, `tags` 20 × 50, `details` string → string, `entity` 512, `source` 100;
Acknowledge and Close Alert by `identifierType=id|alias|tiny`; every one answered 202 `{"result": "Request will be
processed", "took": …, "requestId": …}` and processed asynchronously, `GET /v2/alerts/requests/{requestId}` telling
how it went), and its OpenAPI definitions (github.com/opsgenie/opsgenie-oas, `definitions/alert.yaml`,
`definitions/common.yaml`: `ErrorResponse` is `{message, took, requestId}`). Validation errors are 422
`{"message": "Request body is not processable. Please check the errors.", "errors": {field: why}, …}` (the shape
Opsgenie returns, as quoted in prometheus/alertmanager#2088); a missing or unknown `GenieKey` is 401
`{"message": "Could not authenticate", …}`.

    POST /v2/alerts                                   create (an open alert with the same alias counts up instead)
    POST /v2/alerts/{id}/acknowledge?identifierType=  open → acknowledged
    POST /v2/alerts/{id}/close?identifierType=        → closed (a later create with the alias opens a new one)
    GET  /v2/alerts/requests/{requestId}              the outcome of an accepted request
    GET  /sandbox/opsgenie/alerts                     every alert, newest first (for the demo)
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from ..clock import Clock, system_clock

__all__ = ["OpsgenieReceiver", "SandboxAlert", "create_app"]

_PRIORITIES = ("P1", "P2", "P3", "P4", "P5")
_LIMITS = {"alias": 512, "description": 15000, "entity": 512, "source": 100, "user": 100, "note": 25000}
_UNPROCESSABLE = "Request body is not processable. Please check the errors."


@dataclass
class SandboxAlert:
    team: str
    id: str
    alias: str
    message: str
    priority: str
    status: str = "open"  # open | closed
    acknowledged: bool = False
    count: int = 1
    created_at: str = ""
    body: dict[str, Any] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"team": self.team, "id": self.id, "alias": self.alias, "message": self.message,
                "priority": self.priority, "status": self.status, "acknowledged": self.acknowledged,
                "count": self.count, "createdAt": self.created_at, "body": dict(self.body), "log": list(self.log)}


class OpsgenieReceiver:
    """The state and validation, apart from HTTP (a test fake can put scripted failures in front of it)."""

    def __init__(self, api_keys: Mapping[str, str], *, clock: Clock = system_clock) -> None:
        self._teams = {key: team for team, key in api_keys.items()}
        self._clock = clock
        self._lock = threading.Lock()
        self.alerts: list[SandboxAlert] = []
        self.requests: dict[str, dict[str, Any]] = {}

    def _answer(self, status: int, message: str | None = None, **extra: Any) -> tuple[int, dict[str, Any]]:
        body: dict[str, Any] = {"took": round(time.perf_counter() % 1 / 100, 3), "requestId": str(uuid.uuid4())}
        if message is not None:
            body = {"message": message, **extra, **body}
        return status, body

    def _team(self, authorization: str | None) -> str | None:
        scheme, _, key = (authorization or "").partition(" ")
        return self._teams.get(key.strip()) if scheme == "GenieKey" else None

    def handle(self, method: str, path: str, query: Mapping[str, str], authorization: str | None,
               raw: bytes) -> tuple[int, dict[str, Any]]:
        """One request → (status, JSON answer); `path` as sent (percent-escapes kept: an alias may hold a `/`)."""
        team = self._team(authorization)
        if team is None:
            return self._answer(401, "Could not authenticate")
        parts = [unquote(p) for p in path.split("?", 1)[0].split("/") if p]
        if method == "GET" and parts[:3] == ["v2", "alerts", "requests"] and len(parts) == 4:
            with self._lock:
                found = self.requests.get(parts[3])
            if found is None or found["team"] != team:
                return self._answer(404, "Request not found. It might not be processed, yet.")
            status, answer = self._answer(200)
            return status, {"data": {k: v for k, v in found.items() if k != "team"}, **answer}
        if method != "POST" or parts[:2] != ["v2", "alerts"] or len(parts) not in (2, 4):
            return self._answer(404, "Could not find the requested resource")
        try:
            body = json.loads(raw) if raw.strip() else {}
        except ValueError:
            return self._answer(400, "Could not parse the request body as JSON")
        if not isinstance(body, dict):
            return self._answer(400, "Could not parse the request body as JSON")
        if len(parts) == 2:
            return self._create(team, body)
        ident, action = parts[2], parts[3]
        kind = query.get("identifierType", "id")
        if kind not in ("id", "alias", "tiny"):
            return self._answer(422, _UNPROCESSABLE, errors={"identifierType": "should be one of [ id, alias, tiny ]"})
        if action not in ("acknowledge", "close"):
            return self._answer(404, "Could not find the requested resource")
        return self._act(team, ident, kind, action, body)

    def _create(self, team: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        errors: dict[str, str] = {}
        message = body.get("message")
        if not isinstance(message, str) or not message.strip():
            errors["message"] = "Message can not be empty."
        if "priority" in body and body["priority"] not in _PRIORITIES:
            errors["priority"] = "should be one of [ P1, P2, P3, P4, P5 ]"
        for k in _LIMITS:
            if k in body and not isinstance(body[k], str):
                errors[k] = "should be a string"
        tags = body.get("tags", [])
        if not isinstance(tags, list) or any(not isinstance(t, str) for t in tags):
            errors["tags"] = "should be a list of strings"
        details = body.get("details", {})
        if not isinstance(details, dict) or any(not isinstance(v, str) for v in details.values()):
            errors["details"] = "should be a map of string to string"
        responders = body.get("responders", [])
        if not isinstance(responders, list) or any(not isinstance(r, dict) or r.get("type") not in
                                                   ("team", "user", "escalation", "schedule") for r in responders):
            errors["responders"] = "each responder needs a type: team, user, escalation or schedule"
        if errors:
            return self._answer(422, _UNPROCESSABLE, errors=errors)
        # Opsgenie cuts what is too long rather than refusing it
        kept = dict(body, message=str(message)[:130], tags=[t[:50] for t in tags[:20]])
        for k, n in _LIMITS.items():
            if k in kept:
                kept[k] = kept[k][:n]
        alias = kept.get("alias") or str(uuid.uuid4())
        status, answer = self._answer(202)
        now = self._clock().isoformat(timespec="seconds")
        with self._lock:
            open_ = next((a for a in reversed(self.alerts) if a.team == team and a.alias == alias
                          and a.status == "open"), None)
            if open_ is not None:
                open_.count += 1
                open_.log.append(f"{now} repeated (count {open_.count})")
                alert = open_
            else:
                alert = SandboxAlert(team, str(uuid.uuid4()), alias, kept["message"], kept.get("priority", "P3"),
                                     created_at=now, body=kept, log=[f"{now} created"])
                self.alerts.append(alert)
            self.requests[answer["requestId"]] = {"team": team, "success": True, "action": "Create",
                                                  "processedAt": now, "isSuccess": True, "status": "Created alert",
                                                  "alertId": alert.id, "alias": alert.alias}
        return status, {"result": "Request will be processed", **answer}

    def _act(self, team: str, ident: str, kind: str, action: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        status, answer = self._answer(202)
        now = self._clock().isoformat(timespec="seconds")
        verb = {"acknowledge": "Acknowledge", "close": "Close"}[action]
        with self._lock:
            found = next((a for a in reversed(self.alerts) if a.team == team and a.status == "open" and (
                a.alias == ident if kind == "alias" else a.id == ident or (kind == "tiny" and a.id[:4] == ident))),
                None)
            if found is not None:
                if action == "acknowledge":
                    found.acknowledged = True
                else:
                    found.status = "closed"
                found.log.append(f"{now} {action}" + (f": {body['note']}" if body.get("note") else ""))
            self.requests[answer["requestId"]] = {
                "team": team, "success": found is not None, "action": verb, "processedAt": now,
                "isSuccess": found is not None, "status": f"{verb}d alert" if found else "Alert does not exist",
                "alertId": found.id if found else "", "alias": found.alias if found else ""}
        return status, {"result": "Request will be processed", **answer}

    def listing(self) -> list[dict[str, Any]]:
        with self._lock:
            return [a.as_json() for a in reversed(self.alerts)]


def create_app(receiver: OpsgenieReceiver) -> web.Application:
    async def api(request: web.Request) -> web.Response:
        status, body = receiver.handle(request.method, request.raw_path, request.query,
                                       request.headers.get("Authorization"), await request.read())
        return web.json_response(body, status=status)

    async def alerts(request: web.Request) -> web.Response:
        return web.json_response({"alerts": receiver.listing()})

    app = web.Application()
    app.router.add_get("/sandbox/opsgenie/alerts", alerts)
    app.router.add_route("*", "/v2/{tail:.*}", api)
    return app
