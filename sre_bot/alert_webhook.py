"""`POST /alertmanager`: Alertmanager's webhook (v4) in, stored in the alert inbox before the 200 goes out.

Alertmanager retries a notification that did not get a 2xx, so the order is: authenticate (401), size (413),
parse and validate (400, with the reason, nothing stored), store (the body is committed), answer 200, then tell
the incident processor there is work. A crash after the 200 loses nothing: the inbox row is still unprocessed.
A store failure answers 503, so Alertmanager tries again later.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from collections.abc import Awaitable, Callable

from aiohttp import web

from .alert_payloads import parse_webhook
from .deps import Deps
from .errors import UsageError
from .logging import bind_request, get_logger
from .store.errors import StoreError

__all__ = ["alertmanager_handler"]

log = get_logger(__name__)

Notify = Callable[[], Awaitable[None] | None]


def _eq(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


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
        except (binascii.Error, UnicodeDecodeError):
            return False
        return _eq(user, s.alert_webhook_user) and _eq(pw, password)
    return False


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"status": "error", "error": message}, status=status)


def alertmanager_handler(deps: Deps, notify: Notify | None = None) -> Callable[[web.Request], Awaitable[web.Response]]:
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
        if (request.content_length or 0) > limit:
            return _error(413, f"body larger than {limit} bytes (SRE_BOT_ALERTMANAGER_MAX_BYTES); lower the "
                               "receiver's max_alerts")
        raw = await request.content.read(limit + 1)
        if len(raw) > limit:
            return _error(413, f"body larger than {limit} bytes (SRE_BOT_ALERTMANAGER_MAX_BYTES)")
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as e:
            return _error(400, f"not valid JSON: {e}")
        try:
            message = parse_webhook(body, received_at=deps.clock())
        except UsageError as e:
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
        if notify is not None:
            result = notify()
            if result is not None:
                await result
        return web.json_response({"status": "ok", "stored": inbox_id, "alerts": len(message.alerts)})

    return handle
