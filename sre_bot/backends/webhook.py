"""Webhooks: one HTTP call to a URL an action names (a CI job, a runbook automation), through an injected httpx client.

`call` sends `body` as JSON with POST or PUT and returns a `WebhookResult` (status, the first 2,000 characters of
the answer, its JSON when it is JSON). Redirects are not followed, and a redirect is an error: a webhook that
answers 302 (typically a login page in front of it) has not run. Errors name the webhook and show only the URL's
origin, never its path or query, where webhook URLs often carry their secret:

    status >= 400        -> the `_http.error_for_status` error, quoting the answer ("Webhook 'restart' at
                            https://ci.example.com answered 500 Internal Server Error: job queue full")
    3xx                  -> BackendError naming where it redirects to (origin only)
    connection / timeout -> BackendUnavailable / BackendTimeout; a timeout says the hook may still have run
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Literal

import httpx

from ..errors import BackendError, BackendTimeout
from ..metrics import Metrics
from ._http import Target, send, timed

__all__ = ["WebhookBackend", "WebhookResult"]

_BODY_MAX = 2000


@dataclass(frozen=True)
class WebhookResult:
    """What the webhook answered: `body` is at most 2,000 characters, `json` its parsed JSON (None if not JSON)."""

    status: int
    body: str
    json: Any | None = None


@dataclass(frozen=True)
class _Hook(Target):
    """A target whose `base_url` is the origin people may read and `full_url` what is really called."""

    full_url: str = ""

    def url(self, path: str) -> str:
        return self.full_url


def _origin(url: str) -> str:
    """`https://host[:port]` of `url`: no credentials, path or query."""
    try:
        u = httpx.URL(url)
    except httpx.InvalidURL:
        return "<invalid URL>"
    if not u.scheme or not u.host:
        return "<invalid URL>"
    return f"{u.scheme}://{u.host}" + (f":{u.port}" if u.port else "")


def _phrase(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


class WebhookBackend:
    """Async webhook caller. `call` raises a `BackendError` subclass on failure (backend "webhook", operation = the
    webhook's name)."""

    name = "webhook"

    def __init__(self, client: httpx.AsyncClient, *, metrics: Metrics | None = None) -> None:
        self._client = client
        self._metrics = metrics

    async def call(self, name: str, url: str, *, method: Literal["POST", "PUT"] = "POST",
                   headers: Mapping[str, str] | None = None, body: Any = None,
                   timeout: float | None = None) -> WebhookResult:
        """Call webhook `name` at `url` with `body` as JSON (no body when None); `timeout` in seconds overrides the
        client's."""
        if method not in ("POST", "PUT"):
            raise ValueError(f"webhook method must be POST or PUT, not {method!r}")
        target = _Hook(self.name, f"Webhook {name!r}", _origin(url), full_url=url)
        with timed(self._metrics, self.name, name):
            try:
                resp = await send(self._client, target, name, "", method=method, json=body, timeout=timeout,
                                  headers={"Accept": "application/json", **(headers or {})}, follow_redirects=False)
            except BackendTimeout as e:
                raise BackendTimeout(f"{e.args[0]}; it may still have run: check before calling it again",
                                     backend=self.name, operation=name) from e
            if resp.is_redirect or 300 <= resp.status_code < 400:
                to = _origin(str(resp.next_request.url)) if resp.next_request else "nowhere"
                raise BackendError(f"{target.where} answered {_phrase(resp.status_code)}, redirecting to {to}; "
                                   "redirects are not followed (a login page in front of the hook?): "
                                   "point the action at the final URL", backend=self.name, operation=name,
                                   status=resp.status_code)
            text = resp.text
            try:
                data = resp.json() if text.strip() else None
            except ValueError:
                data = None
            return WebhookResult(status=resp.status_code, body=text[:_BODY_MAX], json=data)
