"""Health checks: one HTTP GET to an allow-listed URL, through an injected httpx client.

Only GET exists here. A URL is fetched only when it starts with one of the configured prefixes (scheme, host and
port equal, path under the prefix's path, no credentials, no `..` segment, even percent-encoded). Redirects are
not followed: a 3xx is a result like any other status (with where it points). The body is read up to `max_bytes`
and the rest is left unread. An HTTP status of 400 or more is a result too (a health endpoint answering 503 is
the finding); only a transport failure or a timeout is an error:

    connect error / DNS  -> BackendUnavailable  "Health check at http://x unreachable (connection refused)"
    timeout              -> BackendTimeout      "Health check at http://x did not answer within 5s (read timeout)"
    URL not allowed      -> QueryRejected       naming `runbooks.http_allow`
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from ..errors import BackendTimeout, BackendUnavailable, QueryRejected
from ..metrics import Metrics
from ._http import reason, timed

__all__ = ["HttpCheckBackend", "HttpCheckResult", "url_allowed"]


@dataclass(frozen=True)
class HttpCheckResult:
    url: str
    status: int
    body: str  # at most `max_bytes`, decoded as UTF-8 (invalid bytes replaced)
    truncated: bool
    latency_ms: float
    location: str | None = None  # where a 3xx points (not followed)


def _origin(u: httpx.URL) -> str:
    return f"{u.scheme}://{u.host}" + (f":{u.port}" if u.port else "")


def url_allowed(url: str, allow: Sequence[str]) -> bool:
    """Whether `url` is under one of the normalised prefixes in `allow` (see `runbooks.config.normalise_prefix`)."""
    try:
        u = httpx.URL(url)
    except httpx.InvalidURL:
        return False
    path = u.path or "/"
    if u.scheme not in ("http", "https") or not u.host or u.userinfo or u.fragment:
        return False
    if any(seg in (".", "..") for seg in path.split("/")):
        return False
    for prefix in allow:
        p = httpx.URL(prefix)
        if _origin(p) == _origin(u) and path.startswith(p.path or "/"):
            return True
    return False


class HttpCheckBackend:
    """Async GET-only checker. `get` raises a `BackendError` subclass on failure (backend "http_check")."""

    name = "http_check"

    def __init__(self, client: httpx.AsyncClient, *, allow: Sequence[str], timeout: float = 5.0,
                 max_bytes: int = 65536, metrics: Metrics | None = None) -> None:
        self._client = client
        self._allow = list(allow)
        self._timeout = timeout
        self._max_bytes = max_bytes
        self._metrics = metrics

    @property
    def allow(self) -> list[str]:
        return list(self._allow)

    def allowed(self, url: str) -> bool:
        return url_allowed(url, self._allow)

    async def get(self, url: str) -> HttpCheckResult:
        """GET `url` (no redirects, `timeout` seconds, at most `max_bytes` of the body)."""
        if not self.allowed(url):
            raise QueryRejected(f"{url} is not under any prefix in runbooks.http_allow; nothing was fetched",
                                backend=self.name, operation="get")
        where = f"Health check at {_origin(httpx.URL(url))}"
        with timed(self._metrics, self.name, "get"):
            started = time.perf_counter()
            try:
                async with self._client.stream("GET", url, follow_redirects=False, timeout=self._timeout,
                                               headers={"Accept": "application/json, text/plain, */*"}) as resp:
                    chunks, size, truncated = [], 0, False
                    async for chunk in resp.aiter_bytes():
                        chunks.append(chunk)
                        size += len(chunk)
                        if size > self._max_bytes:
                            truncated = True
                            break
                    body = b"".join(chunks)[: self._max_bytes]
            except httpx.TimeoutException as e:
                kind = type(e).__name__.removesuffix("Timeout").lower()
                raise BackendTimeout(f"{where} did not answer within {self._timeout:g}s ({kind} timeout)",
                                     backend=self.name, operation="get") from e
            except httpx.TransportError as e:
                raise BackendUnavailable(f"{where} unreachable ({reason(e)})", backend=self.name,
                                         operation="get") from e
            latency = (time.perf_counter() - started) * 1000
        location = resp.headers.get("location") if resp.is_redirect else None
        return HttpCheckResult(url=url, status=resp.status_code, body=body.decode("utf-8", "replace"),
                               truncated=truncated, latency_ms=round(latency, 1), location=location)
