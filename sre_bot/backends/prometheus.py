"""Prometheus: PromQL range and instant queries, label values and build info, via `prometheus_api_client`.

`PrometheusConnect` is synchronous (requests); every call runs in a worker thread (`asyncio.to_thread`) so the
event loop never blocks. Its failures are mapped onto the error tree here: `PrometheusApiClientException`
("HTTP Status Code 400 (b'{...}')") by status with Prometheus's own `error` text, requests' timeouts and
connection errors by kind. Queries arrive rendered (values already escaped by `sre_bot.querylang`).
NaN/Inf samples are dropped, and a series left without points is dropped with them.
"""

from __future__ import annotations

import ast
import asyncio
import json
import math
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

import requests
from prometheus_api_client import PrometheusApiClientException, PrometheusConnect
from urllib3.util.retry import Retry

from ..errors import BackendError, BackendTimeout, BackendUnavailable, QueryRejected
from ..metrics import Metrics
from ..models import Point, Series, TimeRange
from ..querylang import LABEL_NAME_RE
from ._http import Target, auth_headers, detail_of, error_for_status, malformed, reason, timed

__all__ = ["PrometheusBackend"]

_T = TypeVar("_T")
_NICE_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)
_STATUS_RE = re.compile(r"HTTP Status Code (\d+) \((.*)\)\s*$", re.DOTALL)
_UNITS = (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


def _duration(seconds: float) -> str:
    """Seconds as a Prometheus duration: 5400 -> '1h30m'."""
    left, out = max(int(round(seconds)), 1), ""
    for unit, size in _UNITS:
        if left >= size:
            out += f"{left // size}{unit}"
            left %= size
    return out


def _points(pairs: list[Any]) -> list[Point]:
    out = []
    for t, v in pairs:
        value = float(v)
        if math.isfinite(value):
            out.append(Point(t=float(t), v=value))
    return out


class _StringResult(ValueError):
    """The expression evaluated to a string (`"foo"`), which is not a series."""


def _series(result: Any) -> list[Series]:
    """A matrix, vector or scalar `data.result` as series with finite points only."""
    if isinstance(result, list) and len(result) == 2 and not isinstance(result[0], dict):
        try:  # a scalar [t, "1.5"] or a string [t, "foo"]
            float(result[1])
        except ValueError:
            raise _StringResult(f"the query evaluates to the string {result[1]!r}, not to numbers") from None
        result = [{"metric": {}, "value": result}]
    out = []
    for item in result:
        pairs = item["values"] if "values" in item else [item["value"]]
        s = Series(labels={str(k): str(v) for k, v in (item.get("metric") or {}).items()}, points=_points(pairs))
        if s.points:
            out.append(s)
    return out


class PrometheusBackend:
    """Async facade over `PrometheusConnect`. Every method raises a `BackendError` subclass on failure."""

    name = "prometheus"

    def __init__(self, url: str, *, timeout: float = 10.0, max_points: int = 240, token: str | None = None,
                 public_url: str | None = None, metrics: Metrics | None = None) -> None:
        self._target = Target(self.name, "Prometheus", url.rstrip("/"))
        self._public_url = (public_url or url).rstrip("/")
        self._timeout = timeout
        self._max_points = max_points
        self._metrics = metrics
        self._headers = auth_headers(token)
        self._session = requests.Session()
        # One quick retry for a refused connection; never retry reads (the timeout must hold) or 5xx.
        retry = Retry(total=2, connect=1, read=False, status=0, other=0, backoff_factor=0, raise_on_status=False)
        self._conn = PrometheusConnect(url=self._target.base_url, headers=self._headers, retry=retry,
                                       session=self._session, timeout=timeout)  # type: ignore[arg-type]

    @property
    def base_url(self) -> str:
        return self._target.base_url

    def close(self) -> None:
        """Release the connection pool (the composition root calls this at shutdown)."""
        self._session.close()

    def step_for(self, window: TimeRange) -> float:
        """The smallest nice step (1s, 15s, 1m, 5m, ...) that keeps a series within `max_points` points."""
        raw = window.duration.total_seconds() / max(self._max_points - 1, 1)
        for step in _NICE_STEPS:
            if step >= raw:
                return float(step)
        return float(math.ceil(raw / 86400) * 86400)

    def graph_url(self, query: str, window: TimeRange) -> str:
        """A link to the Prometheus graph tab showing `query` over `window`."""
        params = {
            "g0.expr": query,
            "g0.range_input": _duration(window.duration.total_seconds()),
            "g0.end_input": window.end.strftime("%Y-%m-%d %H:%M:%S"),
            "g0.tab": "0",
        }
        return f"{self._public_url}/graph?{urlencode(params, quote_via=quote)}"

    async def query_range(self, query: str, window: TimeRange, step: float | None = None) -> list[Series]:
        """A range query over `window` at `step` seconds (default: `step_for(window)`)."""
        step = step or self.step_for(window)
        return await self._call("query_range", lambda: self._conn.custom_query_range(
            query, start_time=window.start, end_time=window.end, step=f"{step:g}"), _series)

    async def query(self, query: str, at: datetime | None = None) -> list[Series]:
        """An instant query; each vector element (or the scalar) becomes a series of one point."""
        params = {"time": f"{at.timestamp():.3f}"} if at else None
        return await self._call("query", lambda: self._conn.custom_query(query, params=params), _series)

    async def label_values(self, label: str, match: str | None = None) -> list[str]:
        """The values of `label`, only on series matching the selector `match` when given."""
        if not LABEL_NAME_RE.match(label):
            raise QueryRejected(f"{label!r} is not a valid label name", backend=self.name, operation="label_values")
        params = {"match[]": match} if match else None
        values = await self._call("label_values", lambda: self._conn.get_label_values(label, params=params),
                                  lambda data: [str(v) for v in data or []])
        return sorted(values)

    async def ping(self) -> str:
        """Prometheus's version, from `/api/v1/status/buildinfo`."""
        return await self._call("ping", self._buildinfo, lambda data: str(data["version"]))

    def _buildinfo(self) -> Any:
        resp = self._session.get(self._target.url("/api/v1/status/buildinfo"), headers=self._headers,
                                 timeout=self._timeout)
        if resp.status_code != 200:
            raise PrometheusApiClientException(f"HTTP Status Code {resp.status_code} ({resp.content!r})")
        return resp.json()["data"]

    async def _call(self, operation: str, fn: Callable[[], Any], parse: Callable[[Any], _T]) -> _T:
        with timed(self._metrics, self.name, operation):
            try:
                data = await asyncio.to_thread(fn)
            except PrometheusApiClientException as e:
                raise self._api_error(operation, e) from e
            except requests.Timeout as e:
                kind = "connect" if isinstance(e, requests.ConnectTimeout) else "read"
                raise BackendTimeout(f"{self._target.where} did not answer within {self._timeout:g}s ({kind} timeout)",
                                     backend=self.name, operation=operation) from e
            except (requests.JSONDecodeError, KeyError, TypeError) as e:
                raise malformed(self._target, operation, f"{type(e).__name__}: {e}") from e
            except requests.RequestException as e:
                raise BackendUnavailable(f"{self._target.where} unreachable ({reason(e)})",
                                         backend=self.name, operation=operation) from e
            try:
                return parse(data)
            except _StringResult as e:
                raise QueryRejected(str(e), backend=self.name, operation=operation) from e
            except (KeyError, TypeError, ValueError, IndexError, AttributeError) as e:
                raise malformed(self._target, operation, f"{type(e).__name__}: {e}") from e

    def _api_error(self, operation: str, e: PrometheusApiClientException) -> BackendError:
        m = _STATUS_RE.search(str(e))
        if not m:
            return BackendError(f"{self._target.where}: {e}", backend=self.name, operation=operation)
        status = int(m.group(1))
        try:
            body = ast.literal_eval(m.group(2))
        except (ValueError, SyntaxError):
            body = m.group(2)
        detail = detail_of(body, status)
        error_type = _error_type(body)
        if error_type == "timeout":
            return BackendTimeout(f"{self._target.where} gave up on the query: {detail}",
                                  backend=self.name, operation=operation)
        return error_for_status(self._target, operation, status, detail)


def _error_type(body: Any) -> str | None:
    try:
        data = json.loads(body)
    except (ValueError, TypeError):
        return None
    return data.get("errorType") if isinstance(data, dict) else None
