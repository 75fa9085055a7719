"""PagerDuty Events v2 and Opsgenie Alert API test servers: the sandbox receivers on real TCP, with every request
checked against the published contract and scriptable failures in front.

    with FakePagerDuty({"payments": KEY}) as pd:
        pd.respond(429, times=1)                 # the next request is throttled, later ones reach the receiver
        ...
        pd.bodies                                # every JSON body received (routing key included: tests only)
        pd.violations                            # contract problems found in them (must stay empty)
        pd.receiver.pages                        # what the receiver keeps (triggered → acknowledged → resolved)

PagerDuty's contract is `../shared/fixtures/pagerduty/events-v2.openapi.json` (createV2Event's request schema,
validated with jsonschema, `$ref`s resolved against the spec's components; plus what its prose says: no field the
spec does not name, `dedup_key` required unless the event is a trigger, `payload` and its required fields on a
trigger, `timestamp` RFC 3339, `links[].href` present). Opsgenie has no local fixture: its contract is the published
reference cited in `sre_bot/sandbox/opsgenie_api.py` (field names and limits of Create Alert, `identifierType`,
`Authorization: GenieKey …`), checked by hand in `opsgenie_contract_problems`.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
from aiohttp import web

from sre_bot.sandbox.opsgenie_api import OpsgenieReceiver
from sre_bot.sandbox.pagerduty_api import PagerDutyReceiver

from . import FakeServer

__all__ = ["FakePagerDuty", "FakeOpsgenie", "pagerduty_contract_problems", "opsgenie_contract_problems",
           "PAGERDUTY_SPEC"]

PAGERDUTY_SPEC = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures" / "pagerduty" / \
    "events-v2.openapi.json"

_OG_CREATE = {"message": 130, "alias": 512, "description": 15000, "entity": 512, "source": 100, "user": 100,
              "note": 25000, "priority": None, "tags": None, "details": None, "responders": None, "visibleTo": None,
              "actions": None}
_OG_ACTION = {"user": 100, "source": 100, "note": 25000}


@cache
def _spec() -> dict[str, Any]:
    return json.loads(PAGERDUTY_SPEC.read_text())


def _enqueue_schema() -> dict[str, Any]:
    spec = _spec()
    schema = spec["paths"]["/enqueue"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    return {**schema, "components": spec["components"]}


def pagerduty_contract_problems(body: Any) -> list[str]:
    """Why `body` is not a createV2Event request as the spec describes it (empty: it is)."""
    schema = _enqueue_schema()
    problems = [f"{'/'.join(map(str, e.path)) or 'body'}: {e.message}"
                for e in jsonschema.Draft7Validator(schema).iter_errors(body)]
    if not isinstance(body, dict):
        return problems or ["not an object"]
    problems += [f"unknown field {k!r}" for k in body if k not in schema["properties"]]
    payload = body.get("payload")
    if body.get("event_action") == "trigger":
        if not isinstance(payload, dict):
            problems.append("a trigger needs a payload")
        else:
            known = _spec()["components"]["schemas"]["Payload"]["properties"]
            problems += [f"unknown payload field {k!r}" for k in payload if k not in known]
            if len(str(payload.get("summary", ""))) > 1024:
                problems.append("payload.summary is longer than 1024 characters")
            if "timestamp" in payload:
                try:
                    t = datetime.fromisoformat(str(payload["timestamp"]))
                    if t.tzinfo is None:
                        problems.append("payload.timestamp has no UTC offset")
                except ValueError:
                    problems.append(f"payload.timestamp is not RFC 3339: {payload['timestamp']!r}")
    else:
        if not body.get("dedup_key"):
            problems.append("dedup_key is required unless the event is a trigger")
        problems += [f"{k} is only for triggers" for k in ("payload", "client", "client_url", "links") if k in body]
    return problems


def opsgenie_contract_problems(method: str, path: str, query: dict[str, str], headers: dict[str, str],
                               body: Any) -> list[str]:
    """Why a request is not an Alert API create / acknowledge / close as the published reference describes it."""
    problems = []
    auth = {k.lower(): v for k, v in headers.items()}.get("authorization", "")
    if not auth.startswith("GenieKey ") or not auth[9:].strip():
        problems.append("Authorization must be `GenieKey <key>`")
    parts = [p for p in path.split("/") if p]
    if method != "POST" or parts[:2] != ["v2", "alerts"]:
        return [*problems, f"unexpected {method} {path}"]
    if not isinstance(body, dict):
        return [*problems, "the body must be a JSON object"]
    limits = _OG_CREATE if len(parts) == 2 else _OG_ACTION
    if len(parts) == 4:
        if parts[3] not in ("acknowledge", "close"):
            problems.append(f"unexpected action {parts[3]!r}")
        if query.get("identifierType") not in ("id", "alias", "tiny"):
            problems.append("identifierType must be id, alias or tiny")
    elif len(parts) != 2:
        problems.append(f"unexpected path {path}")
    for k, v in body.items():
        if k not in limits:
            problems.append(f"unknown field {k!r}")
        elif limits[k] is not None and (not isinstance(v, str) or len(v) > limits[k]):
            problems.append(f"{k} must be a string of at most {limits[k]} characters")
    if len(parts) == 2:
        if not body.get("message"):
            problems.append("message is mandatory")
        if "priority" in body and body["priority"] not in ("P1", "P2", "P3", "P4", "P5"):
            problems.append("priority must be P1–P5")
        tags = body.get("tags", [])
        if not isinstance(tags, list) or len(tags) > 20 or any(not isinstance(t, str) or len(t) > 50 for t in tags):
            problems.append("tags: at most 20, each at most 50 characters")
        details = body.get("details", {})
        if not isinstance(details, dict) or any(not isinstance(v, str) for v in details.values()) or \
                sum(len(k) + len(v) for k, v in details.items()) > 8000:
            problems.append("details: string → string, 8000 characters in all")
    return problems


class _Scripted(FakeServer):
    def __init__(self) -> None:
        super().__init__()
        self.bodies: list[Any] = []
        self.violations: list[str] = []
        self._script: list[tuple[int, Any, dict[str, str]]] = []

    def respond(self, status: int, body: Any = None, times: int = 1, *, headers: dict[str, str] | None = None) -> None:
        """Answer the next `times` requests with `status` and `body` (JSON; None: the service's own shape)."""
        with self._lock:
            self._script.extend([(status, body, dict(headers or {}))] * times)

    def _next_scripted(self) -> tuple[int, Any, dict[str, str]] | None:
        with self._lock:
            return self._script.pop(0) if self._script else None

    def _record_body(self, raw: bytes, problems: list[str]) -> Any:
        try:
            body = json.loads(raw)
        except ValueError:
            body = raw
        with self._lock:
            self.bodies.append(body)
            self.violations.extend(problems)
        return body


class FakePagerDuty(_Scripted):
    """`POST /v2/enqueue` (contract-checked, then scripted answers or the sandbox receiver)."""

    name = "pagerduty"

    def __init__(self, routing_keys: dict[str, str]) -> None:
        super().__init__()
        self.receiver = PagerDutyReceiver(routing_keys)

    def _routes(self, app: web.Application) -> None:
        app.router.add_post("/v2/enqueue", self._enqueue)

    async def _enqueue(self, request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            problems = pagerduty_contract_problems(json.loads(raw))
        except ValueError:
            problems = ["body is not JSON"]
        self._record_body(raw, problems)
        scripted = self._next_scripted()
        if scripted is not None:
            status, body, headers = scripted
            if body is None:
                body = {"status": "throttle exceeded" if status == 429 else "Internal Server Error",
                        "message": "Requests for this service are arriving too quickly" if status == 429 else
                        "The server experienced an error", "errors": []}
            return web.json_response(body, status=status, headers=headers)
        status, answer = self.receiver.handle(raw)
        return web.json_response(answer, status=status)


class FakeOpsgenie(_Scripted):
    """`POST /v2/alerts[/{id}/{acknowledge|close}]` (contract-checked, then scripted answers or the receiver)."""

    name = "opsgenie"

    def __init__(self, api_keys: dict[str, str]) -> None:
        super().__init__()
        self.receiver = OpsgenieReceiver(api_keys)

    def _routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/v2/{tail:.*}", self._api)

    async def _api(self, request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            parsed: Any = json.loads(raw) if raw.strip() else None
        except ValueError:
            parsed = None
        path = request.raw_path.split("?", 1)[0]
        self._record_body(raw, opsgenie_contract_problems(request.method, path, dict(request.query),
                                                          dict(request.headers), parsed))
        scripted = self._next_scripted()
        if scripted is not None:
            status, body, headers = scripted
            if body is None:
                body = {"message": "Rate limit exceeded" if status == 429 else "Internal Server Error", "took": 0.0,
                        "requestId": "00000000-0000-0000-0000-000000000000"}
            return web.json_response(body, status=status, headers=headers)
        status, answer = self.receiver.handle(request.method, path, request.query,
                                              request.headers.get("Authorization"), raw)
        return web.json_response(answer, status=status)
