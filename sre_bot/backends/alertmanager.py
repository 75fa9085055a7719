"""Alertmanager: current alerts over the v2 API (`GET /api/v2/alerts`), through an injected httpx client.

Filters are sent as repeated `filter=label="value"` matchers (values escaped with `quote_value`, label names
validated); each `gettableAlert` becomes an `Alert` whose `state` is `status.state`
(`active`, `suppressed` or `unprocessed`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

from ..errors import QueryRejected
from ..metrics import Metrics
from ..models import Alert
from ..querylang import LABEL_NAME_RE, quote_value
from ._http import Target, json_body, malformed, send, timed

__all__ = ["AlertmanagerBackend"]


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None


def _strings(obj: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in (obj or {}).items()}


def _alert(obj: dict[str, Any]) -> Alert:
    starts = _time(obj.get("startsAt"))
    if starts is None:
        raise ValueError(f"alert {obj.get('fingerprint')} has no startsAt")
    return Alert(
        fingerprint=str(obj["fingerprint"]),
        labels=_strings(obj.get("labels")),
        annotations=_strings(obj.get("annotations")),
        state=str((obj.get("status") or {}).get("state") or "active"),
        starts_at=starts,
        ends_at=_time(obj.get("endsAt")),
        generator_url=obj.get("generatorURL") or None,
    )


class AlertmanagerBackend:
    """Async Alertmanager client. Every method raises a `BackendError` subclass on failure."""

    name = "alertmanager"

    def __init__(self, client: httpx.AsyncClient, base_url: str, *, metrics: Metrics | None = None) -> None:
        self._client = client
        self._target = Target(self.name, "Alertmanager", base_url.rstrip("/"))
        self._headers = {"Accept": "application/json"}
        self._metrics = metrics

    @property
    def base_url(self) -> str:
        return self._target.base_url

    def _matchers(self, matchers: dict[str, str] | None, operation: str) -> list[str]:
        out = []
        for label, value in (matchers or {}).items():
            if not LABEL_NAME_RE.match(label):
                raise QueryRejected(f"{label!r} is not a valid label name", backend=self.name, operation=operation)
            out.append(f"{label}={quote_value(value)}")
        return out

    async def alerts(self, *, matchers: dict[str, str] | None = None, active: bool = True, silenced: bool = False,
                     inhibited: bool = False) -> list[Alert]:
        """Alerts matching every `matchers` label exactly, oldest first."""
        op = "alerts"
        with timed(self._metrics, self.name, op):
            params: list[tuple[str, str]] = [
                ("active", str(active).lower()), ("silenced", str(silenced).lower()),
                ("inhibited", str(inhibited).lower()),
            ]
            params += [("filter", m) for m in self._matchers(matchers, op)]
            resp = await send(self._client, self._target, op, "/api/v2/alerts", params=params, headers=self._headers)
            body = json_body(self._target, op, resp)
            if not isinstance(body, list):
                raise malformed(self._target, op, "not a JSON list")
            try:
                alerts = [_alert(a) for a in body]
            except (KeyError, TypeError, ValueError, AttributeError) as e:
                raise malformed(self._target, op, f"{type(e).__name__}: {e}") from e
        return sorted(alerts, key=lambda a: (a.starts_at, a.fingerprint))

    async def ping(self) -> str:
        with timed(self._metrics, self.name, "ping"):
            resp = await send(self._client, self._target, "ping", "/api/v2/status", headers=self._headers)
            body = json_body(self._target, "ping", resp)
            version = (body.get("versionInfo") or {}).get("version") if isinstance(body, dict) else None
            if not version:
                raise malformed(self._target, "ping", "no versionInfo.version")
            return str(version)

    def alerts_url(self, matchers: dict[str, str] | None = None) -> str:
        """The Alertmanager UI's alert list, filtered by `matchers` when given."""
        url = f"{self.base_url}/#/alerts"
        ms = self._matchers(matchers, "alerts_url")
        if ms:
            url += "?filter=" + quote("{" + ",".join(ms) + "}", safe="")
        return url
