"""PagerDuty Events API v2: trigger, acknowledge and resolve an alert (`POST {PAGERDUTY_EVENTS_URL}/v2/enqueue`).

The body is exactly the spec's (`../shared/fixtures/pagerduty/events-v2.openapi.json`, operation createV2Event):

    {"routing_key": "<32 characters>", "event_action": "trigger" | "acknowledge" | "resolve",
     "dedup_key": "sre-bot/…",
     "payload": {"summary": "…≤1024", "source": "…", "severity": "critical|error|warning|info",
                 "timestamp": "2026-11-21T14:00:00.000+00:00", "component": …, "group": …, "class": …,
                 "custom_details": {…}},                       # trigger only
     "links": [{"href": "…", "text": "…"}], "client": "sre-bot", "client_url": "…"}   # trigger only

Answers, as the spec's retry table says: 202 → `PageResult` (status, message, dedup_key as PagerDuty kept it);
400 → `QueryRejected` quoting PagerDuty's own `errors`, never sent again; 429, 5xx and network errors → sent again
with capped exponential backoff (`_retry.RetryPolicy`), then `BackendUnavailable` / `BackendTimeout`; any other
status → its `_http` error. The routing key is a secret: it is only ever in the request body, and any echo of it
in an answer is replaced by `<routing key>` before a message is built.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

import httpx

from ..metrics import Metrics
from ._http import Target, timed
from ._retry import RetryPolicy, post_retrying, service_words

__all__ = ["PagerDutyBackend", "PageResult", "TriggerEvent", "Severity", "EventAction", "SUMMARY_MAX",
           "pd_timestamp"]

Severity = Literal["critical", "error", "warning", "info"]
EventAction = Literal["trigger", "acknowledge", "resolve"]
SUMMARY_MAX = 1024  # PagerDuty cuts a longer summary; we cut it ourselves so the preview is what arrives
_KEY_MAX = 255  # dedup_key: PagerDuty keeps at most 255 characters


@dataclass(frozen=True)
class PageResult:
    """What the paging service accepted: `status` and `message` in its words, the `dedup_key` it keeps."""

    status: str
    message: str
    dedup_key: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "message": self.message, "dedup_key": self.dedup_key}


@dataclass(frozen=True)
class TriggerEvent:
    """A trigger's content, everything but the routing key (so it can be pinned, previewed and audited)."""

    dedup_key: str
    summary: str
    source: str
    severity: Severity
    timestamp: datetime | None = None
    component: str | None = None
    group: str | None = None
    class_: str | None = None
    custom_details: dict[str, Any] = field(default_factory=dict)
    links: list[dict[str, str]] = field(default_factory=list)
    client: str = "sre-bot"
    client_url: str | None = None

    def body(self) -> dict[str, Any]:
        """The event body without `routing_key` (what is pinned in an approved request)."""
        payload: dict[str, Any] = {"summary": _cut(self.summary, SUMMARY_MAX), "source": self.source,
                                   "severity": self.severity}
        if self.timestamp is not None:
            payload["timestamp"] = pd_timestamp(self.timestamp)
        for k, v in (("component", self.component), ("group", self.group), ("class", self.class_)):
            if v:
                payload[k] = v
        if self.custom_details:
            payload["custom_details"] = self.custom_details
        out: dict[str, Any] = {"event_action": "trigger", "dedup_key": self.dedup_key[:_KEY_MAX], "payload": payload}
        if self.links:
            out["links"] = [dict(x) for x in self.links]
        out["client"] = self.client
        if self.client_url:
            out["client_url"] = self.client_url
        return out


def pd_timestamp(t: datetime) -> str:
    """The spec's `format: date-time` (RFC 3339, milliseconds, UTC): `2015-07-17T08:42:58.315+00:00`."""
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return t.astimezone(timezone.utc).isoformat(timespec="milliseconds")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


class PagerDutyBackend:
    """Async Events API v2 client; every method raises a `BackendError` subclass on failure (backend "pagerduty")."""

    name = "pagerduty"

    def __init__(self, client: httpx.AsyncClient, base_url: str = "https://events.pagerduty.com", *,
                 metrics: Metrics | None = None, retry: RetryPolicy | None = None) -> None:
        self._client = client
        self._target = Target(self.name, "PagerDuty", base_url.rstrip("/"))
        self._metrics = metrics
        self._retry = retry or RetryPolicy()

    @property
    def base_url(self) -> str:
        return self._target.base_url

    async def trigger(self, routing_key: str, event: TriggerEvent | dict[str, Any]) -> PageResult:
        """Open (or update, same dedup key) an alert; `event` as built by `TriggerEvent.body()` when a dict."""
        body = event.body() if isinstance(event, TriggerEvent) else dict(event)
        body["event_action"] = "trigger"
        return await self._send(routing_key, body, "trigger")

    async def acknowledge(self, routing_key: str, dedup_key: str) -> PageResult:
        return await self._send(routing_key, {"event_action": "acknowledge", "dedup_key": dedup_key}, "acknowledge")

    async def resolve(self, routing_key: str, dedup_key: str) -> PageResult:
        return await self._send(routing_key, {"event_action": "resolve", "dedup_key": dedup_key}, "resolve")

    async def _send(self, routing_key: str, body: dict[str, Any], operation: str) -> PageResult:
        if not routing_key:
            raise ValueError("a routing key is needed")
        wire = {"routing_key": routing_key, **{k: v for k, v in body.items() if k != "routing_key"}}

        def redact(text: str) -> str:
            return text.replace(routing_key, "<routing key>")

        with timed(self._metrics, self.name, operation):
            resp = await post_retrying(self._client, self._target, operation, "/v2/enqueue", json=wire,
                                       headers={"Accept": "application/json"}, policy=self._retry,
                                       describe=service_words, redact=redact)
        try:
            data = resp.json()
        except ValueError:
            data = {}
        if not isinstance(data, dict):
            data = {}
        return PageResult(status=redact(str(data.get("status") or "success")),
                          message=redact(str(data.get("message") or f"HTTP {resp.status_code}"))[:500],
                          dedup_key=str(data["dedup_key"]) if data.get("dedup_key") else body.get("dedup_key"))
