"""Opsgenie Alert API v2: create, acknowledge and close an alert by its alias (`OPSGENIE_API_URL`).

    POST /v2/alerts                                          create: {message ≤130, alias, description ≤15000,
                                                             priority P1–P5, responders, tags, details, entity,
                                                             source, user, note}
    POST /v2/alerts/{alias}/acknowledge?identifierType=alias {user, source, note}
    POST /v2/alerts/{alias}/close?identifierType=alias       {user, source, note}
    header  Authorization: GenieKey <the API integration's key>

Opsgenie processes these asynchronously: a valid request is answered 202 `{"result": "Request will be processed",
"took": 0.1, "requestId": "…"}` (`PageResult`: status = result, message, dedup_key = the alias). 400, 401, 403,
404 and 422 (`{"message": …, "errors": {field: why}}`) are the caller's to fix and never sent again; 429, 5xx and
network errors are sent again with capped backoff (`_retry.RetryPolicy`). The API key is only in the header and
any echo of it is replaced by `<api key>`. Reference: https://docs.opsgenie.com/docs/alert-api (Create, Acknowledge
and Close Alert) and Opsgenie's OpenAPI definitions (github.com/opsgenie/opsgenie-oas, definitions/alert.yaml).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote

import httpx

from ..metrics import Metrics
from ._http import Target, timed
from ._retry import RetryPolicy, post_retrying, service_words

__all__ = ["OpsgenieBackend", "AlertBody", "OpsgenieResult", "Priority", "MESSAGE_MAX", "DESCRIPTION_MAX"]

Priority = Literal["P1", "P2", "P3", "P4", "P5"]
MESSAGE_MAX = 130
DESCRIPTION_MAX = 15000
_ALIAS_MAX = 512
_TAGS_MAX, _TAG_MAX = 20, 50
_ENTITY_MAX, _SOURCE_MAX, _USER_MAX = 512, 100, 100
_DETAILS_MAX = 8000  # all keys and values together


@dataclass(frozen=True)
class OpsgenieResult:
    status: str  # Opsgenie's `result`
    message: str
    dedup_key: str | None  # the alias
    request_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "message": self.message, "dedup_key": self.dedup_key,
                "request_id": self.request_id}


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


@dataclass(frozen=True)
class AlertBody:
    """A create-alert request, everything but the key (so it can be pinned, previewed and audited)."""

    alias: str
    message: str
    description: str = ""
    priority: Priority = "P3"
    tags: list[str] = field(default_factory=list)
    details: dict[str, str] = field(default_factory=dict)
    entity: str | None = None
    source: str = "sre-bot"
    responders: list[dict[str, str]] = field(default_factory=list)
    user: str | None = None
    note: str | None = None

    def body(self) -> dict[str, Any]:
        """The JSON body, every field within Opsgenie's documented limits."""
        out: dict[str, Any] = {"message": _cut(self.message, MESSAGE_MAX), "alias": self.alias[:_ALIAS_MAX],
                               "priority": self.priority, "source": _cut(self.source, _SOURCE_MAX)}
        if self.description:
            out["description"] = _cut(self.description, DESCRIPTION_MAX)
        if self.tags:
            out["tags"] = [t[:_TAG_MAX] for t in self.tags[:_TAGS_MAX]]
        if self.details:
            out["details"] = _details(self.details)
        if self.entity:
            out["entity"] = _cut(self.entity, _ENTITY_MAX)
        if self.responders:
            out["responders"] = [dict(r) for r in self.responders]
        if self.user:
            out["user"] = _cut(self.user, _USER_MAX)
        if self.note:
            out["note"] = self.note
        return out


def _details(details: dict[str, str]) -> dict[str, str]:
    """String values, the whole map within 8,000 characters (later entries dropped first)."""
    out: dict[str, str] = {}
    used = 0
    for k, v in details.items():
        k, v = str(k)[:100], str(v)
        room = _DETAILS_MAX - used - len(k)
        if room <= 0:
            break
        v = _cut(v, room) if len(v) > room else v
        out[k] = v
        used += len(k) + len(v)
    return out


class OpsgenieBackend:
    """Async Alert API client; every method raises a `BackendError` subclass on failure (backend "opsgenie")."""

    name = "opsgenie"

    def __init__(self, client: httpx.AsyncClient, base_url: str = "https://api.opsgenie.com", *,
                 metrics: Metrics | None = None, retry: RetryPolicy | None = None) -> None:
        self._client = client
        self._target = Target(self.name, "Opsgenie", base_url.rstrip("/"))
        self._metrics = metrics
        self._retry = retry or RetryPolicy()

    @property
    def base_url(self) -> str:
        return self._target.base_url

    async def create(self, api_key: str, alert: AlertBody | dict[str, Any]) -> OpsgenieResult:
        body = alert.body() if isinstance(alert, AlertBody) else dict(alert)
        return await self._send(api_key, "/v2/alerts", body, "create", alias=body.get("alias"))

    async def acknowledge(self, api_key: str, alias: str, *, note: str | None = None) -> OpsgenieResult:
        return await self._action(api_key, alias, "acknowledge", note)

    async def close(self, api_key: str, alias: str, *, note: str | None = None) -> OpsgenieResult:
        return await self._action(api_key, alias, "close", note)

    async def _action(self, api_key: str, alias: str, action: str, note: str | None) -> OpsgenieResult:
        body: dict[str, Any] = {"user": "sre-bot", "source": "sre-bot"}
        if note:
            body["note"] = note
        path = f"/v2/alerts/{quote(alias, safe='')}/{action}"
        return await self._send(api_key, path, body, action, alias=alias, params={"identifierType": "alias"})

    async def _send(self, api_key: str, path: str, body: dict[str, Any], operation: str, *, alias: str | None,
                    params: dict[str, str] | None = None) -> OpsgenieResult:
        if not api_key:
            raise ValueError("an API key is needed")

        def redact(text: str) -> str:
            return text.replace(api_key, "<api key>")

        with timed(self._metrics, self.name, operation):
            resp = await post_retrying(self._client, self._target, operation, path, json=body, params=params,
                                       headers={"Accept": "application/json", "Authorization": f"GenieKey {api_key}"},
                                       policy=self._retry, describe=service_words, redact=redact)
        try:
            data = resp.json()
        except ValueError:
            data = {}
        if not isinstance(data, dict):
            data = {}
        result = redact(str(data.get("result") or f"HTTP {resp.status_code}"))
        return OpsgenieResult(status=result[:200], message=result[:500], dedup_key=alias,
                              request_id=str(data["requestId"]) if data.get("requestId") else None)
