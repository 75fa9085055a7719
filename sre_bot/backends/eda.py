"""Event-Driven Ansible: one signed event POSTed to an ansible-rulebook webhook source (an injected httpx client).

ansible-rulebook's `eda.builtin.webhook` source (ansible_rulebook/event_source/webhook.py) checks, in order:

    Authorization: Bearer <token>          the source's `token:` (401 "Invalid authorization token" otherwise)
    X-Hub-Signature-256: sha256=<hex>      HMAC-SHA256 of the exact body bytes with its `hmac_secret:`, hex
                                           (`hmac_header` / `hmac_algo` / `hmac_format` at their defaults; the
                                           `sha256=` prefix is accepted and stripped); 401 "HMAC verification
                                           failed" or 400 "Signature header not found" otherwise

then queues `{"payload": <body>, "meta": {"endpoint": <path>, "headers": ...}}` for the rulebook and answers 200
with the endpoint's name. A 200 means the rulebook received the event, not that its playbook ran.

The body is serialised once (sorted keys, ASCII) and those bytes are both signed and sent. Errors name the source
by its origin and path (never the query), quote its words, and never carry the token, the secret or the signature:

    401 / 403            -> Unauthorized, naming SRE_BOT_EDA_TOKEN / SRE_BOT_EDA_HMAC_SECRET
    400 / 422            -> QueryRejected (the source's words, e.g. "Invalid JSON payload")
    404                  -> NotFound; 5xx / 429 -> BackendUnavailable; 3xx -> BackendError (never followed)
    connection / timeout -> BackendUnavailable / BackendTimeout; a timeout says the event may have arrived
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from ..errors import BackendError, BackendTimeout, BackendUnavailable, Unauthorized
from ..metrics import Metrics
from ._http import Target, detail_of, error_for_status, reason, timed

__all__ = ["EDABackend", "EDAResult", "SIGNATURE_HEADER", "event_body", "signature"]

SIGNATURE_HEADER = "X-Hub-Signature-256"  # the webhook source's default `hmac_header` (matched case-insensitively)
_BODY_MAX = 2000
_OPERATION = "event"


@dataclass(frozen=True)
class EDAResult:
    """What the webhook source answered: its status and its words (at most 2,000 characters)."""

    status: int
    body: str


def event_body(event: Mapping[str, Any]) -> bytes:
    """The exact bytes sent and signed: JSON with sorted keys, ASCII only (so the source's text decoding cannot
    change a byte)."""
    return json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def signature(secret: str, body: bytes) -> str:
    """The `X-Hub-Signature-256` value: `sha256=` and the hex HMAC-SHA256 of `body`."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def _public(url: str) -> str:
    """`scheme://host[:port]/path` of `url`: no credentials, no query."""
    try:
        u = httpx.URL(url)
    except httpx.InvalidURL:
        return "<invalid URL>"
    port = f":{u.port}" if u.port else ""
    return f"{u.scheme}://{u.host}{port}{u.path if u.path != '/' else ''}"


class EDABackend:
    """Sends events to one ansible-rulebook webhook source. `send` raises a `BackendError` subclass on failure
    (backend "eda", operation "event")."""

    name = "eda"

    def __init__(self, client: httpx.AsyncClient, url: str, *, token: str, hmac_secret: str,
                 metrics: Metrics | None = None, timeout: float | None = None) -> None:
        if not token or not hmac_secret:
            raise ValueError("an EDA webhook source needs both a token and an HMAC secret")
        self._client = client
        self._url = url
        self._token = token
        self._secret = hmac_secret
        self._metrics = metrics
        self._timeout = timeout
        self._target = Target(self.name, "ansible-rulebook", _public(url))

    @property
    def where(self) -> str:
        """The source as people may read it (origin and path)."""
        return self._target.where

    async def send(self, event: Mapping[str, Any], *, request_id: str) -> EDAResult:
        """POST `event` once, signed; `request_id` also goes in the `X-Request-Id` header (the rulebook sees it
        in `event.meta.headers`, the playbook in the payload's `request_id`)."""
        body = event_body(event)
        headers = {"Content-Type": "application/json", "Accept": "text/plain, application/json",
                   "Authorization": f"Bearer {self._token}", SIGNATURE_HEADER: signature(self._secret, body),
                   "X-Request-Id": request_id}
        kw: dict[str, Any] = {"backend": self.name, "operation": _OPERATION}
        extra: dict[str, Any] = {"timeout": self._timeout} if self._timeout is not None else {}
        with timed(self._metrics, self.name, _OPERATION):
            try:
                resp = await self._client.post(self._url, content=body, headers=headers, follow_redirects=False,
                                               **extra)
            except httpx.TimeoutException as e:
                raise BackendTimeout(f"{self.where} did not answer in time ({type(e).__name__}); the event may "
                                     "still have arrived: check the rulebook's log before sending it again",
                                     **kw) from e
            except httpx.TransportError as e:
                raise BackendUnavailable(f"{self.where} unreachable ({reason(e)})", **kw) from e
            status = resp.status_code
            if 300 <= status < 400:
                raise BackendError(f"{self.where} answered {status}, a redirect (not followed): point "
                                   "SRE_BOT_EDA_URL at the webhook source itself", status=status, **kw)
            if status >= 400:
                detail = detail_of(resp.content, status)
                if status in (401, 403):
                    raise Unauthorized(f"{self.where} refused the event ({status}): {detail}; check that "
                                       "SRE_BOT_EDA_TOKEN and SRE_BOT_EDA_HMAC_SECRET match the webhook source's "
                                       "`token` and `hmac_secret`", status=status, **kw)
                raise error_for_status(self._target, _OPERATION, status, detail)
            return EDAResult(status=status, body=resp.text[:_BODY_MAX])
