"""Prometheus: PromQL range and instant queries, label values and build info, via `prometheus_api_client`.

`PrometheusConnect` is synchronous (requests); every call runs in a worker thread of the backend's own pool
(`threads` of them, sized for an investigation's fan-out; never asyncio's default executor, which DNS lookups and
everything else share), and parsing the answer happens there too, so the event loop never waits on either. A
call's time is bounded end to end: in the loop (the awaiting task gives up at the call's budget: the timeout, or
what is left of the answer's deadline, see `sre_bot.deadline`) and in its thread (connect and every socket read
are clamped to the same budget, and the body is read in pieces so a server that drips it is cut off too), so a
stuck Prometheus holds a worker no longer than one budget. A call waits for a worker at most `queue_timeout`
(SRE_BOT_PROMETHEUS_QUEUE_TIMEOUT): past it, it is dropped unstarted and is a named gap in the answer ("Prometheus is
busy: N queries waiting …"), and the answer's later reads skip Prometheus with the same words rather than queue
again. `ping` (readiness) has a lane of its own so it never queues behind investigations.
Failures are mapped onto the error tree here: `PrometheusApiClientException`
("HTTP Status Code 400 (b'{...}')") by status with Prometheus's own `error` text, requests' timeouts and
connection errors by kind. Queries arrive rendered (values already escaped by `sre_bot.querylang`).
NaN/Inf samples are dropped, and a series left without points is dropped with them.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import json
import math
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

import requests
import urllib3
from prometheus_api_client import PrometheusApiClientException, PrometheusConnect
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from ..deadline import Budget, Skipped, call_budget
from ..errors import BackendError, BackendTimeout, BackendUnavailable, QueryRejected
from ..metrics import Metrics
from ..models import Point, Series, TimeRange
from ..querylang import LABEL_NAME_RE
from ._http import Target, auth_headers, detail_of, error_for_status, malformed, reason, timed

__all__ = ["PrometheusBackend", "DEFAULT_THREADS", "DEFAULT_QUEUE_TIMEOUT"]

DEFAULT_THREADS = 16
DEFAULT_QUEUE_TIMEOUT = 5.0  # seconds a call may wait for a worker thread (SRE_BOT_PROMETHEUS_QUEUE_TIMEOUT)
_CHUNK = 64 * 1024

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


def _with_warnings(body: Any) -> tuple[list[Series], list[str]]:
    return _series(body["data"]["result"]), [str(w) for w in body.get("warnings") or []]


def _started_pool(threads: int, name: str) -> ThreadPoolExecutor:
    """A pool whose threads are all running already: ThreadPoolExecutor starts one per submit while none is idle,
    and starting a thread waits for it to take the GIL, which under load stalls the event loop doing the submit."""
    pool = ThreadPoolExecutor(threads, thread_name_prefix=name)
    everyone = threading.Barrier(threads + 1)
    for _ in range(threads):
        pool.submit(everyone.wait, 10.0)
    with contextlib.suppress(threading.BrokenBarrierError):
        everyone.wait(10.0)
    return pool


class _CallTimeout(Exception):
    """A call's budget ran out in its worker thread (before it started, or while it read)."""


_call_expiry = threading.local()  # .expires: the monotonic end of the call the current worker thread is making


class _BoundedSession(requests.Session):
    """A session whose every request ends by the calling thread's `_call_expiry`: connect and socket reads are
    clamped to the time left, and the body is read in pieces (with the socket timeout shrinking as time passes)."""

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        expires: float | None = getattr(_call_expiry, "expires", None)
        if expires is None:
            return super().send(request, **kwargs)
        left = expires - time.monotonic()
        if left <= 0:
            raise requests.ReadTimeout("the call's time ran out before the request was sent", request=request)
        kwargs["timeout"] = left
        streamed = bool(kwargs.get("stream"))
        kwargs["stream"] = True
        resp = super().send(request, **kwargs)
        if not streamed:
            _read_body(resp, expires)
        return resp


def _read_body(resp: requests.Response, expires: float) -> None:
    """Read `resp`'s body into `resp.content`, giving up (ReadTimeout) at `expires`."""
    raw = resp.raw
    chunks: list[bytes] = []
    try:
        while True:
            left = expires - time.monotonic()
            if left <= 0:
                raise requests.ReadTimeout("the answer kept trickling in past the call's time", request=resp.request)
            sock = getattr(getattr(raw, "connection", None), "sock", None)
            if sock is not None:
                sock.settimeout(left)
            chunk = raw.read1(_CHUNK, decode_content=True)
            if not chunk:
                break
            chunks.append(chunk)
    except urllib3.exceptions.ReadTimeoutError as e:
        raw.close()
        raise requests.ReadTimeout(e, request=resp.request) from e
    except requests.ReadTimeout:
        raw.close()
        raise
    except (urllib3.exceptions.ProtocolError, urllib3.exceptions.DecodeError, OSError) as e:
        raw.close()
        raise requests.ConnectionError(e, request=resp.request) from e
    resp._content = b"".join(chunks)
    resp._content_consumed = True  # type: ignore[attr-defined]
    raw.release_conn()


class PrometheusBackend:
    """Async facade over `PrometheusConnect`. Every method raises a `BackendError` subclass on failure."""

    name = "prometheus"

    def __init__(self, url: str, *, timeout: float = 10.0, max_points: int = 240, token: str | None = None,
                 public_url: str | None = None, metrics: Metrics | None = None, threads: int = DEFAULT_THREADS,
                 queue_timeout: float = DEFAULT_QUEUE_TIMEOUT) -> None:
        """`threads`: worker threads for queries (at most that many calls at once; the rest wait their turn, each
        at most `queue_timeout` seconds, after which it is a gap: "Prometheus is busy")."""
        if threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        if queue_timeout <= 0:
            raise ValueError(f"queue_timeout must be positive, got {queue_timeout}")
        self._threads = threads
        self._queue_timeout = queue_timeout
        self._waiting = 0  # calls submitted to a pool and not started yet (guarded by `_waiting_lock`)
        self._waiting_lock = threading.Lock()
        self._target = Target(self.name, "Prometheus", url.rstrip("/"))
        self._public_url = (public_url or url).rstrip("/")
        self._timeout = timeout
        self._max_points = max_points
        self._metrics = metrics
        self._headers = auth_headers(token)
        self._session = _BoundedSession()
        # One quick retry for a refused connection; never retry reads (the timeout must hold) or 5xx.
        retry = Retry(total=2, connect=1, read=False, status=0, other=0, backoff_factor=0, raise_on_status=False)
        self._conn = PrometheusConnect(url=self._target.base_url, headers=self._headers, retry=retry,
                                       session=self._session, timeout=timeout)
        # one pooled connection per worker (requests' default of 10 would open and drop connections under load)
        self._session.mount(self._target.base_url, HTTPAdapter(max_retries=retry, pool_connections=1,
                                                               pool_maxsize=threads + 2))
        self._pool = _started_pool(threads, "prometheus")
        self._ping_pool = _started_pool(2, "prometheus-ping")

    @property
    def base_url(self) -> str:
        return self._target.base_url

    def close(self) -> None:
        """Release the worker threads and the connection pool (the composition root calls this at shutdown);
        calls still queued are dropped, running ones end within their budget."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._ping_pool.shutdown(wait=False, cancel_futures=True)
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

    async def query_range_warned(self, query: str, window: TimeRange, step: float | None = None
                                 ) -> tuple[list[Series], list[str]]:
        """`query_range` with the `warnings` Prometheus sends beside the data (the client library drops them): what
        explains an empty or partial answer to a person's own query (a partial answer from remote storage; the
        sandbox saying it does not simulate the query)."""
        step = step or self.step_for(window)
        params = {"query": query, "start": round(window.start.timestamp()), "end": round(window.end.timestamp()),
                  "step": f"{step:g}"}
        return await self._call("query_range", lambda: self._body("/api/v1/query_range", params), _with_warnings)

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
        return await self._call("ping", self._buildinfo, lambda data: str(data["version"]), pool=self._ping_pool)

    def _body(self, path: str, params: dict[str, Any]) -> Any:
        """The whole JSON body of a GET, failing as the client library fails (`PrometheusApiClientException`)."""
        resp = self._session.get(self._target.url(path), params=params, headers=self._headers, timeout=self._timeout)
        if resp.status_code != 200:
            raise PrometheusApiClientException(f"HTTP Status Code {resp.status_code} ({resp.content!r})")
        return resp.json()

    def _buildinfo(self) -> Any:
        resp = self._session.get(self._target.url("/api/v1/status/buildinfo"), headers=self._headers,
                                 timeout=self._timeout)
        if resp.status_code != 200:
            raise PrometheusApiClientException(f"HTTP Status Code {resp.status_code} ({resp.content!r})")
        return resp.json()["data"]

    async def _call(self, operation: str, fn: Callable[[], Any], parse: Callable[[Any], _T], *,
                    pool: ThreadPoolExecutor | None = None) -> _T:
        with timed(self._metrics, self.name, operation):
            try:
                budget = call_budget(self.name, self._target.where, self._timeout)
            except Skipped as e:
                raise BackendTimeout(e.message, backend=self.name, operation=operation) from None
            with self._waiting_lock:
                self._waiting += 1
            work = (pool or self._pool).submit(self._started, operation, budget, fn, parse)
            work.add_done_callback(self._dropped)
            result = asyncio.wrap_future(work)
            result.add_done_callback(_consume)  # its outcome is read even when this call has stopped waiting
            try:
                async with asyncio.timeout(budget.seconds):
                    # a free worker within the queue's wait, or the call is a gap ("busy"), never an unbounded wait
                    await asyncio.wait((result,), timeout=min(self._queue_timeout, budget.seconds))
                    if not result.done() and work.cancel():  # cancel() fails once a worker has started it
                        raise self._busy(operation, budget)
                    return await result
            except TimeoutError as e:  # the thread is still reading; it stops at the same budget
                raise self._timed_out(operation, budget, "total timeout") from e
            except _CallTimeout as e:
                raise self._timed_out(operation, budget, "every worker was busy") from e
            finally:
                if not result.done():  # given up on (the budget, or the caller went away): dropped if not started
                    work.cancel()

    def waiting(self) -> int:
        """Calls waiting for a worker thread now."""
        with self._waiting_lock:
            return self._waiting

    def _started(self, operation: str, budget: Budget, fn: Callable[[], Any], parse: Callable[[Any], _T]) -> _T:
        with self._waiting_lock:
            self._waiting -= 1
        return self._run(operation, budget, fn, parse)

    def _dropped(self, work: Future[Any]) -> None:
        if work.cancelled():  # never started: it leaves the queue here
            with self._waiting_lock:
                self._waiting -= 1

    def _busy(self, operation: str, budget: Budget) -> BackendTimeout:
        """No worker thread came free within the queue's wait: a gap in the answer, said as it is."""
        waiting = self.waiting() + 1  # the others still in line, and this one
        message = (f"Prometheus is busy: {waiting} quer{'y' if waiting == 1 else 'ies'} waiting for one of the bot's "
                   f"{self._threads} Prometheus connections (waited {self._queue_timeout:g}s; "
                   "SRE_BOT_PROMETHEUS_THREADS, SRE_BOT_PROMETHEUS_QUEUE_TIMEOUT)")
        budget.timed_out(self.name, message)  # later reads in this answer do not queue again
        return BackendTimeout(message, backend=self.name, operation=operation)

    def _timed_out(self, operation: str, budget: Budget, why: str) -> BackendTimeout:
        """Our side gave up on the call: later reads in the same answer skip Prometheus with the same message."""
        message = f"{self._target.where} did not answer {budget.within()} ({why})"
        budget.timed_out(self.name, message)
        return BackendTimeout(message, backend=self.name, operation=operation)

    def _run(self, operation: str, budget: Budget, fn: Callable[[], Any], parse: Callable[[Any], _T]) -> _T:
        """In a worker thread: make the call within `budget`, then parse (both off the event loop)."""
        if budget.left() <= 0:
            raise _CallTimeout()  # it waited its whole budget for a free worker
        earlier = budget.silent_message(self.name)
        if earlier is not None:  # Prometheus went silent while this call waited for a worker
            raise BackendTimeout(earlier, backend=self.name, operation=operation)
        _call_expiry.expires = budget.expires
        try:
            data = fn()
        except PrometheusApiClientException as e:
            raise self._api_error(operation, e) from e
        except requests.Timeout as e:
            kind = "connect timeout" if isinstance(e, requests.ConnectTimeout) else "read timeout"
            raise self._timed_out(operation, budget, kind) from e
        except (requests.JSONDecodeError, KeyError, TypeError) as e:
            raise malformed(self._target, operation, f"{type(e).__name__}: {e}") from e
        except requests.RequestException as e:
            raise BackendUnavailable(f"{self._target.where} unreachable ({reason(e)})",
                                     backend=self.name, operation=operation) from e
        finally:
            _call_expiry.expires = None
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


def _consume(result: asyncio.Future[Any]) -> None:
    """Reads the outcome of a call nobody waits for any more (it ends within its budget in its thread)."""
    if not result.cancelled():
        result.exception()


def _error_type(body: Any) -> str | None:
    try:
        data = json.loads(body)
    except (ValueError, TypeError):
        return None
    return data.get("errorType") if isinstance(data, dict) else None
