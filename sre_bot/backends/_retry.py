"""A write that may be retried: one JSON POST, sent again on 429, 5xx or a network failure, with capped backoff.

Paging APIs (PagerDuty Events v2, Opsgenie Alert API) document exactly this: a 2xx is done, a 4xx other than 429 is
the caller's mistake and must not be sent again, and 429 / 5xx / a network error should be retried "after some time,
preferably with a back off". Their writes are idempotent by design (a dedup key or an alias), so a retry after a
timeout cannot page twice.

    resp = await post_retrying(client, target, "trigger", "/v2/enqueue", json=body, policy=RetryPolicy())

`RetryPolicy`: at most `attempts` sends, waits of `base_s`, 2×, 4×… capped at `cap_s` (a `Retry-After` in seconds
is honoured up to the cap), and the whole call ends within `total_s`: no wait starts that would end past it, and
each send gets at most the time left. The last failure is raised (the `_http` error for its status), with `errors`
of the status's body phrased by `describe` (each API has its own error shape), and `redact` applied to every
message (a routing key never appears in an error, a log line or the audit).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from ..errors import BackendError, BackendTimeout, BackendUnavailable
from ._http import Target, error_for_status, reason

__all__ = ["RetryPolicy", "post_retrying", "service_words"]



@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4
    base_s: float = 0.5
    cap_s: float = 8.0
    total_s: float = 60.0  # the executor allows 2 minutes for the whole action

    def wait(self, n: int, retry_after: str | None) -> float:
        """Seconds before send number `n + 1` (n counts from 1)."""
        wait = min(self.cap_s, self.base_s * 2 ** (n - 1))
        if retry_after:
            with contextlib.suppress(ValueError):
                wait = min(self.cap_s, max(wait, float(retry_after)))
        return wait


def _retryable(status: int | None) -> bool:
    return status is None or status == 429 or status >= 500


async def post_retrying(client: httpx.AsyncClient, target: Target, operation: str, path: str, *, json: Any,
                        headers: Mapping[str, str] | None = None, params: Any = None,
                        policy: RetryPolicy = RetryPolicy(),
                        describe: Callable[[bytes, int], str] | None = None,
                        redact: Callable[[str], str] = lambda s: s,
                        sleep: Callable[[float], Any] = asyncio.sleep) -> httpx.Response:
    """POST `json` to `target` + `path` until a 2xx, a final 4xx, or the policy's end; returns the 2xx response."""
    start = time.monotonic()
    last: BackendError | None = None
    tries = 0
    for n in range(1, max(1, policy.attempts) + 1):
        left = policy.total_s - (time.monotonic() - start)
        if left <= 0:
            break
        tries = n
        timeout = min(left, _client_timeout(client) or left)
        retry_after = None
        try:
            resp = await _post(client, target, operation, path, json=json, headers=headers, params=params,
                               timeout=timeout)
        except BackendError as e:
            last = e
        else:
            if resp.status_code < 300:
                return resp
            detail = describe(resp.content, resp.status_code) if describe else resp.text[:500]
            last = error_for_status(target, operation, resp.status_code, redact(detail))
            retry_after = resp.headers.get("Retry-After")
        if not _retryable(last.status):
            break
        if n == policy.attempts:
            break
        wait = policy.wait(n, retry_after)
        if time.monotonic() - start + wait >= policy.total_s:
            break
        await sleep(wait)
    assert last is not None
    msg = redact(str(last.args[0]))
    if tries > 1:
        msg += f" (after {tries} tries)"
    raise type(last)(msg, backend=target.backend, operation=operation, status=last.status) from last


async def _post(client: httpx.AsyncClient, target: Target, operation: str, path: str, *, json: Any,
                headers: Mapping[str, str] | None, params: Any, timeout: float) -> httpx.Response:
    """One POST; any status comes back as the response (so an error's body can be read), a transport failure
    raises (`BackendTimeout` / `BackendUnavailable`, as `_http.send` words them)."""
    kw: dict[str, Any] = {"backend": target.backend, "operation": operation}
    try:
        async with asyncio.timeout(timeout):
            return await client.request("POST", target.url(path), json=json, headers=headers, params=params,
                                        timeout=timeout, follow_redirects=False)
    except (httpx.TimeoutException, TimeoutError) as e:
        raise BackendTimeout(f"{target.where} did not answer within {timeout:g}s", **kw) from e
    except httpx.TransportError as e:
        raise BackendUnavailable(f"{target.where} unreachable ({reason(e)})", **kw) from e
    except httpx.InvalidURL as e:
        raise BackendUnavailable(f"{target.where}: invalid URL ({e})", **kw) from e


def _client_timeout(client: httpx.AsyncClient) -> float | None:
    t = client.timeout
    parts = [x for x in (t.connect, t.read, t.write, t.pool) if x is not None]
    return max(parts) if parts else None


def service_words(body: bytes, status: int) -> str:
    """A paging service's error body as one line of its own words: `message` (else `status`), then `errors` — a
    list (PagerDuty) or a map of field → why (Opsgenie); a body that is not JSON as text."""
    try:
        data = json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace").strip()[:500] or f"HTTP {status}"
    if not isinstance(data, dict):
        return str(data)[:500]
    parts = [str(data.get("message") or data.get("status") or f"HTTP {status}")]
    errors = data.get("errors")
    if isinstance(errors, dict) and errors:
        parts.append("; ".join(f"{k}: {v}" for k, v in list(errors.items())[:10]))
    elif isinstance(errors, list) and errors:
        parts.append("; ".join(str(e) for e in errors[:10]))
    return ": ".join(parts)[:500]
