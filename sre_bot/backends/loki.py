"""Loki: log lines and log-derived series over the HTTP API (`/loki/api/v1/...`), through an injected httpx client.

Wire format: request `start`/`end` are Unix nanoseconds as strings; stream entries come back as
`[ns-string, line]` (an optional third element, structured metadata, is ignored); matrix samples as
`[float-seconds, value-string]`. Errors are plain-text bodies, quoted as they are in `QueryRejected`.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

import httpx

from ..errors import QueryRejected
from ..metrics import Metrics
from ..models import LogLine, LogResult, Point, Series, TimeRange
from ..querylang import quote_value
from ._http import Target, auth_headers, json_body, malformed, send, timed

__all__ = ["LokiBackend"]

_API = "/loki/api/v1"
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _ns(t: datetime) -> str:
    """A datetime as Unix nanoseconds, as a decimal string (exact: no float rounding)."""
    return str((t - _EPOCH) // timedelta(microseconds=1) * 1000)


def _window_params(window: TimeRange | None) -> dict[str, str]:
    return {"start": _ns(window.start), "end": _ns(window.end)} if window else {}


class LokiBackend:
    """Async Loki client. Every method raises a `BackendError` subclass on failure."""

    name = "loki"

    def __init__(self, client: httpx.AsyncClient, base_url: str, *, org_id: str | None = None,
                 token: str | None = None, metrics: Metrics | None = None) -> None:
        self._client = client
        self._target = Target(self.name, "Loki", base_url.rstrip("/"))
        self._headers = auth_headers(token, {"X-Scope-OrgID": org_id} if org_id else None)
        self._metrics = metrics

    @property
    def base_url(self) -> str:
        return self._target.base_url

    @staticmethod
    def escape_line_filter(text: str) -> str:
        """`text` as a quoted LogQL string for `|= ...` / `!= ...` line filters."""
        return quote_value(text)

    async def _get(self, operation: str, path: str, params: dict[str, Any] | None = None) -> Any:
        resp = await send(self._client, self._target, operation, path, params=params, headers=self._headers)
        body = json_body(self._target, operation, resp)
        if not isinstance(body, dict) or body.get("status", "success") != "success":
            raise malformed(self._target, operation, f"status is not success ({str(body)[:120]})")
        return body

    def _data(self, operation: str, body: dict[str, Any], result_type: str, hint: str) -> list[Any]:
        data = body.get("data")
        if not isinstance(data, dict) or not isinstance(data.get("result"), list):
            raise malformed(self._target, operation, "no data.result list")
        got = data.get("resultType")
        if got != result_type:
            raise QueryRejected(f"Loki returned a {got!r} result where {result_type!r} was expected: {hint}",
                                backend=self.name, operation=operation)
        return data["result"]

    async def query_range(self, logql: str, window: TimeRange, *, limit: int = 500,
                          direction: str = "backward") -> LogResult:
        """Log lines of a log query, merged across streams (newest first when `direction` is backward)."""
        if direction not in ("backward", "forward"):
            raise ValueError(f"direction must be 'backward' or 'forward', not {direction!r}")
        op = "query_range"
        with timed(self._metrics, self.name, op):
            params = {"query": logql, **_window_params(window), "limit": str(limit), "direction": direction}
            body = await self._get(op, f"{_API}/query_range", params)
            streams = self._data(op, body, "streams", "this is a metric query; use query_range_matrix")
            lines = [line for s in streams for line in self._stream_lines(op, s)]
        lines.sort(key=lambda ln: ln.ts_ns, reverse=direction == "backward")
        lines = lines[:limit]
        return LogResult(lines=lines, limit=limit, limit_hit=len(lines) == limit)

    def _stream_lines(self, op: str, stream: Any) -> list[LogLine]:
        try:
            labels = {str(k): str(v) for k, v in (stream.get("stream") or {}).items()}
            return [LogLine(ts_ns=int(v[0]), line=str(v[1]), labels=labels) for v in stream.get("values") or []]
        except (AttributeError, TypeError, ValueError, IndexError) as e:
            raise malformed(self._target, op, f"bad stream entry ({e})") from e

    async def query_range_matrix(self, logql: str, window: TimeRange, step: float) -> list[Series]:
        """Series of a metric query (`count_over_time`, `rate`, ...); NaN/Inf samples are dropped."""
        op = "query_range_matrix"
        with timed(self._metrics, self.name, op):
            params = {"query": logql, **_window_params(window), "step": f"{step:g}"}
            body = await self._get(op, f"{_API}/query_range", params)
            result = self._data(op, body, "matrix", "this is a log query; use query_range for log lines")
            try:
                return [s for s in (self._series(r) for r in result) if s.points]
            except (AttributeError, TypeError, ValueError, IndexError) as e:
                raise malformed(self._target, op, f"bad matrix entry ({e})") from e

    @staticmethod
    def _series(item: dict[str, Any]) -> Series:
        points = []
        for t, v in item.get("values") or []:
            value = float(v)
            if math.isfinite(value):
                points.append(Point(t=float(t), v=value))
        return Series(labels={str(k): str(v) for k, v in (item.get("metric") or {}).items()}, points=points)

    async def _strings(self, op: str, path: str, window: TimeRange | None) -> list[str]:
        with timed(self._metrics, self.name, op):
            body = await self._get(op, path, _window_params(window))
            data = body.get("data") or []  # Loki omits `data` when there is nothing
            if not isinstance(data, list):
                raise malformed(self._target, op, "data is not a list")
            return sorted(str(x) for x in data)

    async def labels(self, window: TimeRange | None = None) -> list[str]:
        return await self._strings("labels", f"{_API}/labels", window)

    async def label_values(self, label: str, window: TimeRange | None = None) -> list[str]:
        return await self._strings("label_values", f"{_API}/label/{quote(label, safe='')}/values", window)

    async def ping(self) -> str:
        await self._strings("ping", f"{_API}/labels", None)
        return "ok"
