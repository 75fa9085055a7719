"""`POST /alertmanager`: Alertmanager's webhook (v4) in, stored in the alert inbox before the 200 goes out.

Alertmanager retries a notification that got a 5xx and drops one that got a 4xx, so the order is: authenticate
(401, also for a credential that is not even UTF-8), read the whole body however it arrives — Content-Length or
chunked, in as many TCP segments as it takes — up to the limit (413 as soon as it is passed, the rest never read),
decode it into JSON both stores can keep (`alert_json`) and validate it (400, with the reason, nothing stored),
store (the body is committed), answer 200, then tell the incident processor there is work. A crash after the 200
loses nothing: the inbox row is still unprocessed. A store failure answers 503, so Alertmanager tries again later.
What was changed to keep a body (a NUL in a label, a fingerprint that does not match its labels) is said in one
warning line.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
from collections.abc import Awaitable, Callable
from datetime import datetime

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from .alert_json import decode_body
from .alert_payloads import WebhookMessage, parse_webhook
from .deps import Deps
from .errors import UsageError
from .logging import bind_request, get_logger
from .store.errors import StoreError

__all__ = ["alertmanager_handler"]

log = get_logger(__name__)

Notify = Callable[[], Awaitable[None] | None]

_READ = 2**16  # bytes asked of the stream at a time
_INLINE = 2**18  # bodies up to this size are decoded on the event loop; larger ones in a worker thread
_LARGE_AT_ONCE = 2  # larger bodies decoded at the same time (each costs several times its size in memory)


class _TooLarge(Exception):
    pass


class _CutOff(Exception):
    pass


def _eq(given: str, expected: str) -> bool:
    # header bytes that are not UTF-8 arrive as lone surrogates: encode them too (they can only fail to match)
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode())


def _authorised(request: web.Request, deps: Deps) -> bool | None:
    """True/False for the request's credential; None when no credential is configured (the endpoint is off)."""
    s = deps.settings
    token = s.alert_webhook_token.get_secret_value() if s.alert_webhook_token else None
    password = s.alert_webhook_password.get_secret_value() if s.alert_webhook_password else None
    if token is None and not (s.alert_webhook_user and password):
        return None
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token is not None:
        return _eq(value.strip(), token)
    if scheme.lower() == "basic" and s.alert_webhook_user and password:
        try:
            user, _, pw = base64.b64decode(value.strip(), validate=True).decode().partition(":")
        except ValueError:  # not base64 (binascii.Error), not ASCII, or not UTF-8 once decoded
            return False
        return _eq(user, s.alert_webhook_user) and _eq(pw, password)
    return False


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"status": "error", "error": message}, status=status)


def _too_large(limit: int, declared: int | None) -> web.Response:
    size = f"a body of {declared} bytes is" if declared is not None else "the body is"
    resp = _error(413, f"{size} larger than the limit of {limit} bytes: raise SRE_BOT_ALERTMANAGER_MAX_BYTES on "
                       "the bot, or set max_alerts in the receiver's webhook_config so that Alertmanager sends "
                       "fewer alerts per notification")
    resp.force_close()  # the rest of the body is never read
    return resp


async def _read_body(request: web.Request, limit: int) -> bytes:
    """The whole body, however many segments or chunks it arrives in; `_TooLarge` as soon as it passes `limit`,
    `_CutOff` when the sender stops before its end."""
    if request.content_length is not None and request.content_length > limit:
        raise _TooLarge(request.content_length)
    body = bytearray()
    try:
        while chunk := await request.content.read(_READ):
            body += chunk
            if len(body) > limit:
                raise _TooLarge(None)
    except (ConnectionError, HttpProcessingError) as e:  # the sender hung up, or sent a broken chunk
        raise _CutOff(str(e) or type(e).__name__) from e
    return bytes(body)


def _decode(raw: bytes, now: datetime) -> tuple[object, WebhookMessage, tuple[str, ...]]:
    decoded = decode_body(raw)
    message = parse_webhook(decoded.value, received_at=now)
    return decoded.value, message, decoded.changes + message.notes


def alertmanager_handler(deps: Deps, notify: Notify | None = None) -> Callable[[web.Request], Awaitable[web.Response]]:
    large = asyncio.Semaphore(_LARGE_AT_ONCE)

    async def handle(request: web.Request) -> web.Response:
        bind_request(surface="alertmanager", kind="webhook")
        ok = _authorised(request, deps)
        if ok is None:
            return _error(403, "the Alertmanager webhook is off: set SRE_BOT_ALERTMANAGER_TOKEN (or _USER and "
                               "_PASSWORD) on the bot and the same credential in the receiver's http_config")
        if not ok:
            deps.metrics.requests.labels("alertmanager", "webhook", "unauthorised").inc()
            return web.json_response({"status": "error", "error": "missing or wrong credential"}, status=401,
                                     headers={"WWW-Authenticate": 'Bearer realm="sre-bot", Basic realm="sre-bot"'})
        limit = deps.settings.alert_webhook_max_bytes
        try:
            raw = await _read_body(request, limit)
        except _TooLarge as e:
            log.warning("Alertmanager notification refused: over the size limit", limit=limit,
                        declared=e.args[0])
            return _too_large(limit, e.args[0])
        except _CutOff as e:
            log.warning("Alertmanager notification cut off by the sender; nothing stored", error=e.args[0])
            return _error(400, f"the body ended early ({e.args[0]})")
        try:
            if len(raw) <= _INLINE:
                body, message, changes = _decode(raw, deps.clock())
            else:
                async with large:
                    body, message, changes = await asyncio.to_thread(_decode, raw, deps.clock())
        except UsageError as e:
            log.warning("Alertmanager notification refused", error=str(e), bytes=len(raw))
            return _error(400, str(e))
        if deps.store is None:
            return _error(503, "the bot has no store (SRE_BOT_DB_URL)")
        try:
            inbox_id = await deps.store.inbox_add(body, alerts=len(message.alerts), source="alertmanager",
                                                  now=deps.clock())
        except StoreError as e:
            log.error("could not store an Alertmanager notification; it will be retried", error=str(e))
            return _error(503, "could not store the notification; Alertmanager will retry")
        deps.metrics.requests.labels("alertmanager", "webhook", "ok").inc()
        log.info("alert notification stored", inbox_id=inbox_id, alerts=len(message.alerts),
                 group_key=message.group_key, status=message.status)
        if changes:
            log.warning("alert notification stored with changes", inbox_id=inbox_id, changes=list(changes))
        if notify is not None:
            result = notify()
            if result is not None:
                await result
        return web.json_response({"status": "ok", "stored": inbox_id, "alerts": len(message.alerts)})

    return handle
