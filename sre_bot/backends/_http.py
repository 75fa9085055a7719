"""Shared plumbing for the backends: HTTP failures mapped onto the error tree, and call timing for metrics.

Every backend talks to one `Target` (its metrics name, a human name and a base URL). `send` makes one httpx
request and turns what can go wrong into a `BackendError` a person can act on:

    connect error / DNS / 5xx / 429  -> BackendUnavailable  "Loki at http://x unreachable (connection refused)"
    any httpx timeout                -> BackendTimeout      "Loki at http://x did not answer within 10s (read timeout)"
    400 / 422                        -> QueryRejected       carrying the server's own message
    401 / 403                        -> Unauthorized
    404                              -> NotFound

`error_for_status` and `reason` are shared with the Prometheus backend, which speaks `requests` underneath.

A read (GET/HEAD) made under an answer's deadline (`sre_bot.deadline`) gets at most the time left and is not made
at all when its system already failed to answer in the same answer; the timeout bounds the whole call (a server
that drips its answer byte by byte is cut too), not each read from the socket. Writes keep their own timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
import weakref
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import httpx

from ..deadline import Budget, Skipped, call_budget
from ..errors import BackendError, BackendTimeout, BackendUnavailable, NotFound, QueryRejected, Unauthorized
from ..metrics import Metrics

__all__ = ["Target", "timed", "send", "json_body", "error_for_status", "detail_of", "reason", "malformed",
           "auth_headers", "MAX_IN_FLIGHT"]

_DETAIL_MAX = 500
MAX_IN_FLIGHT = 32  # requests of one client (one system) in httpx at once; its pool keeps as many connections


@dataclass(frozen=True)
class Target:
    """Who a backend talks to: `backend` is the metrics/error name, `display` the name people read."""

    backend: str
    display: str
    base_url: str

    @property
    def where(self) -> str:
        return f"{self.display} at {self.base_url}"

    def url(self, path: str) -> str:
        return self.base_url + path


@contextlib.contextmanager
def timed(metrics: Metrics | None, backend: str, operation: str) -> Iterator[None]:
    """Observe the call's duration and count a `BackendError` by its kind (works around awaits and threads)."""
    start = time.perf_counter()
    try:
        yield
    except BackendError as e:
        if metrics is not None:
            metrics.backend_errors.labels(backend, e.kind).inc()
        raise
    finally:
        if metrics is not None:
            metrics.backend_seconds.labels(backend, operation).observe(time.perf_counter() - start)


def auth_headers(token: str | None, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    headers = {"Accept": "application/json", **(extra or {})}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def reason(exc: BaseException) -> str:
    """The innermost OS-level cause of a transport failure, in a few words ("connection refused")."""
    seen: set[int] = set()
    x: BaseException | None = exc
    found = ""
    while x is not None and id(x) not in seen:
        seen.add(id(x))
        if isinstance(x, socket.gaierror):
            return f"DNS lookup failed: {x.strerror or x}"
        if isinstance(x, ConnectionRefusedError):
            return "connection refused"
        if isinstance(x, ConnectionResetError):
            return "connection reset"
        if isinstance(x, OSError) and x.strerror:
            found = x.strerror.lower()
        inner = getattr(x, "reason", None)
        nxt = x.__cause__ or x.__context__
        if nxt is None and isinstance(inner, BaseException):
            nxt = inner
        if nxt is None and x.args and isinstance(x.args[0], BaseException):
            nxt = x.args[0]
        x = nxt
    return found or (str(exc).strip() or type(exc).__name__)


def detail_of(body: str | bytes, status: int | None = None) -> str:
    """The server's own error text: a JSON `message`/`error` field, a JSON string, or the plain-text body."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    text = text.strip()
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        for key in ("message", "error"):
            if isinstance(data.get(key), str) and data[key]:
                text = data[key]
                break
    elif isinstance(data, str):
        text = data
    if not text and status is not None:
        text = _phrase(status)
    return text if len(text) <= _DETAIL_MAX else text[:_DETAIL_MAX] + "…"


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "unknown status"


def error_for_status(target: Target, operation: str, status: int, detail: str) -> BackendError:
    """The error for an HTTP status >= 400, its message carrying the server's `detail`."""
    kw: dict[str, Any] = {"backend": target.backend, "operation": operation, "status": status}
    code = f"{status} {_phrase(status)}"
    if status in (400, 422):
        return QueryRejected(f"{target.display} rejected the request ({code}): {detail}", **kw)
    if status in (401, 403):
        return Unauthorized(f"{target.where} refused the credentials ({code}): {detail}; check the token", **kw)
    if status == 404:
        return NotFound(f"{target.where}: not found ({detail})", **kw)
    if status >= 500 or status == 429:
        return BackendUnavailable(f"{target.where} answered {code}: {detail}", **kw)
    return BackendError(f"{target.where} answered {code}: {detail}", **kw)


def malformed(target: Target, operation: str, what: str) -> BackendError:
    """A 2xx answer whose body is not what the API documents."""
    return BackendError(f"{target.where} sent an unexpected {operation} response: {what}",
                        backend=target.backend, operation=operation)


def _timeout_seconds(client: httpx.AsyncClient, exc: httpx.TimeoutException,
                     override: float | None = None) -> float | None:
    t = client.timeout if override is None else httpx.Timeout(override)
    if isinstance(exc, httpx.ConnectTimeout):
        return t.connect
    if isinstance(exc, httpx.WriteTimeout):
        return t.write
    if isinstance(exc, httpx.PoolTimeout):
        return t.pool
    return t.read


async def send(client: httpx.AsyncClient, target: Target, operation: str, path: str, *,
               method: str = "GET", params: Any = None, headers: Mapping[str, str] | None = None,
               json: Any = None, timeout: float | None = None, follow_redirects: bool | None = None,
               ) -> httpx.Response:
    """One request to `target`; any transport failure or status >= 400 raised as a `BackendError`.

    `json` is sent as the JSON body when not None; `timeout` (seconds) and `follow_redirects` override the
    client's settings for this request only. A read takes part in the answer's deadline (see the module doc)."""
    kw: dict[str, Any] = {"backend": target.backend, "operation": operation}
    extra: dict[str, Any] = {}
    if json is not None:
        extra["json"] = json
    if follow_redirects is not None:
        extra["follow_redirects"] = follow_redirects
    own = timeout if timeout is not None else _total_timeout(client)
    budget: Budget | None = None
    if method in ("GET", "HEAD") and own is not None:
        try:
            budget = call_budget(target.backend, target.where, own)
        except Skipped as e:
            raise BackendTimeout(e.message, **kw) from None
        timeout = budget.seconds if budget.cut else timeout
    if timeout is not None:
        extra["timeout"] = timeout
    try:
        async with asyncio.timeout(budget.seconds if budget is not None else None), _gate(client):
            resp = await client.request(method, target.url(path), params=params, headers=headers, **extra)
    except (httpx.TimeoutException, TimeoutError) as e:
        if isinstance(e, httpx.TimeoutException):
            secs = _timeout_seconds(client, e, timeout)
            within = f"within {secs:g}s " if secs else ""
            kind = type(e).__name__.removesuffix("Timeout").lower()
        else:  # the whole call ran out of time while bytes were still trickling in
            within, kind = "", "total"
        if budget is not None and (budget.cut or not within):
            within = budget.within() + " "
        err = BackendTimeout(f"{target.where} did not answer {within}({kind} timeout)", **kw)
        if budget is not None:
            budget.timed_out(target.backend, str(err.args[0]))
        raise err from e
    except httpx.TransportError as e:
        raise BackendUnavailable(f"{target.where} unreachable ({reason(e)})", **kw) from e
    except httpx.InvalidURL as e:
        raise BackendUnavailable(f"{target.where}: invalid URL ({e})", **kw) from e
    if resp.status_code >= 400:
        raise error_for_status(target, operation, resp.status_code, detail_of(resp.content, resp.status_code))
    return resp


_gates: weakref.WeakKeyDictionary[httpx.AsyncClient, asyncio.Semaphore] = weakref.WeakKeyDictionary()


def _gate(client: httpx.AsyncClient) -> asyncio.Semaphore:
    """At most MAX_IN_FLIGHT requests of one client (one system) inside httpx at once; the rest wait here, in
    order. httpcore's pool re-scans every queued request against every connection whenever one changes state, so a
    burst of investigations queueing hundreds of requests in it cost as much CPU on the event loop as the answers."""
    gate = _gates.get(client)
    if gate is None:
        gate = _gates[client] = asyncio.Semaphore(MAX_IN_FLIGHT)
    return gate


def _total_timeout(client: httpx.AsyncClient) -> float | None:
    """The client's longest per-operation timeout: what one whole call may take (None: no limit configured)."""
    t = client.timeout
    parts = [x for x in (t.connect, t.read, t.write, t.pool) if x is not None]
    return max(parts) if parts else None


def json_body(target: Target, operation: str, resp: httpx.Response) -> Any:
    try:
        return resp.json()
    except ValueError as e:
        raise malformed(target, operation, f"not JSON ({resp.text[:80]!r})") from e
