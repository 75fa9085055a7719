"""Alertmanager: current alerts over the v2 API (`GET /api/v2/alerts`), through an injected httpx client.

Filters are sent as repeated `filter=label="value"` matchers (values escaped with `quote_value`, label names
validated); each `gettableAlert` becomes an `Alert` whose `state` is `status.state`
(`active`, `suppressed` or `unprocessed`).

Silences (what an approved action runs): `create_silence` posts a `postableSilence` of exact-match matchers
(`POST /api/v2/silences`), `get_silence` and `expire_silence` read and expire one by id
(`GET`/`DELETE /api/v2/silence/{id}`). Expiring an expired silence succeeds, as in Alertmanager; an unknown id is
`NotFound` (Alertmanager 0.25 answers that DELETE with 500 "silence not found").
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

import httpx

from ..errors import BackendError, BackendTimeout, NotFound, QueryRejected
from ..metrics import Metrics
from ..models import Alert
from ..querylang import LABEL_NAME_RE, quote_value
from ._http import Target, json_body, malformed, send, timed

__all__ = ["AlertmanagerBackend"]


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None


def _rfc3339(t: datetime) -> str:
    if t.tzinfo is None:
        raise ValueError(f"silence times must be timezone-aware, got {t!r}")
    return t.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


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

    async def create_silence(self, matchers: dict[str, str], *, starts_at: datetime, ends_at: datetime,
                             created_by: str, comment: str) -> str:
        """Silence alerts whose labels equal every `matchers` value from `starts_at` to `ends_at`; the silence id."""
        op = "create_silence"
        what = f"creating a silence for {{{', '.join(self._matchers(matchers, op))}}}"
        starts, ends = _rfc3339(starts_at), _rfc3339(ends_at)
        if not matchers:
            raise QueryRejected("a silence needs at least one matcher", backend=self.name, operation=op)
        if ends_at <= starts_at:
            raise QueryRejected(f"{what}: it would end ({ends}) before it starts ({starts})", backend=self.name,
                                operation=op)
        body = {"matchers": [{"name": k, "value": v, "isRegex": False, "isEqual": True} for k, v in matchers.items()],
                "startsAt": starts, "endsAt": ends, "createdBy": created_by, "comment": comment}
        with timed(self._metrics, self.name, op):
            try:
                resp = await send(self._client, self._target, op, "/api/v2/silences", method="POST", json=body,
                                  headers=self._headers)
            except BackendError as e:
                hint = ("; it may still have been created: look for it before trying again"
                        if isinstance(e, BackendTimeout) else "")
                raise type(e)(f"{what}: {e.args[0]}{hint}", backend=self.name, operation=op, status=e.status) from e
            data = json_body(self._target, op, resp)
            silence_id = data.get("silenceID") if isinstance(data, dict) else None
            if not isinstance(silence_id, str) or not silence_id:
                raise malformed(self._target, op, "no silenceID")
            return silence_id

    async def _silence(self, op: str, method: str, silence_id: str) -> httpx.Response:
        path = f"/api/v2/silence/{quote(silence_id, safe='')}"
        try:
            return await send(self._client, self._target, op, path, method=method, headers=self._headers)
        except BackendError as e:
            if e.status == 404 or (e.status == 500 and "silence not found" in e.args[0]):
                raise NotFound(f"{self._target.where} has no silence {silence_id!r}", backend=self.name,
                               operation=op, status=e.status) from e
            raise

    async def get_silence(self, silence_id: str) -> dict[str, Any]:
        """The `gettableSilence` JSON (id, status.state, matchers, startsAt, endsAt, createdBy, comment)."""
        with timed(self._metrics, self.name, "get_silence"):
            body = json_body(self._target, "get_silence", await self._silence("get_silence", "GET", silence_id))
            if not isinstance(body, dict):
                raise malformed(self._target, "get_silence", "not a JSON object")
            return body

    async def expire_silence(self, silence_id: str) -> None:
        """End the silence now (expiring an already expired one succeeds); `NotFound` for an unknown id."""
        with timed(self._metrics, self.name, "expire_silence"):
            await self._silence("expire_silence", "DELETE", silence_id)

    def alerts_url(self, matchers: dict[str, str] | None = None) -> str:
        """The Alertmanager UI's alert list, filtered by `matchers` when given."""
        url = f"{self.base_url}/#/alerts"
        ms = self._matchers(matchers, "alerts_url")
        if ms:
            url += "?filter=" + quote("{" + ",".join(ms) + "}", safe="")
        return url
