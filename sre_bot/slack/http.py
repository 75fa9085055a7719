"""Bolt's request handling mounted on our aiohttp server (`POST /slack/events`), behind three gates:

1. Signature, first, on the raw bytes, before anything is parsed: the timestamp must be a whole number of seconds
   within five minutes of now and the `v0=` HMAC-SHA256 must match (slack_sdk's `SignatureVerifier`); else 401.
2. Shape (`payloads.check_body`): a body Bolt or a listener could not read is refused with 400 and the reason.
3. Replay: a signature already seen by this process gets an empty 200, the ack Slack expects, and nothing else
   runs. Whether another replica saw it is the store's answer, which the ack does not wait for (on SQLite it waits
   for the write lock): the listener acks, then waits for that answer before doing anything (`acks.py`); a replay
   stops there. A modal's submission, whose ack is its answer, waits for the store before it is dispatched.

Each refusal is one warning line (no body content, no traceback). Bolt then dispatches the checked body (the parsed
dict itself, so it reads exactly what was checked; its own signature check is off, `app.py`: this module made it).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.signature import SignatureVerifier

from ..deps import Deps
from ..errors import ConfigError
from ..logging import bind_request, get_logger
from .acks import REPLAYED, VERDICT, warm_up
from .dedupe import SeenRequests
from .payloads import MalformedBody, check_body

__all__ = ["slack_events_handler", "SlackEvents", "MAX_BODY_BYTES"]

log = get_logger(__name__)

MAX_BODY_BYTES = 1 * 2**20  # Slack's bodies are a few KB; `web.py` sets the same client_max_size
_TIMESTAMP = re.compile(r"[0-9]{1,12}")  # Unix seconds, as Slack sends them (no sign, exponent or spaces)
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")


def _unverified(verifier: SignatureVerifier, raw: bytes, timestamp: str, signature: str) -> str | None:
    """Why the request is not Slack's, or None when its signature holds."""
    if not timestamp or not signature:
        return "no X-Slack-Request-Timestamp or X-Slack-Signature header"
    if not _TIMESTAMP.fullmatch(timestamp):
        return "X-Slack-Request-Timestamp is not a whole number of seconds"
    if abs(verifier.clock.now() - int(timestamp)) > 60 * 5:
        return "X-Slack-Request-Timestamp is more than 5 minutes from now (stale or replayed)"
    if not _SIGNATURE.fullmatch(signature):
        return "X-Slack-Signature is not `v0=` and 64 hex digits"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "the body is not UTF-8 text, so it cannot carry Slack's signature"
    if not verifier.is_valid(text, timestamp, signature):
        return "X-Slack-Signature does not match the body (wrong signing secret, or a changed body)"
    return None


def slack_events_handler(bolt: AsyncApp, deps: Deps) -> SlackEvents:
    secret = deps.settings.slack_signing_secret
    if secret is None:
        raise ConfigError("SLACK_SIGNING_SECRET is not set (HTTP mode verifies every request with it)")
    verifier = SignatureVerifier(secret.get_secret_value())
    seen = SeenRequests(deps.store, deps.clock)

    def refuse(status: int, outcome: str, reason: str) -> web.Response:
        deps.metrics.requests.labels("slack", outcome, "rejected").inc()
        log.warning("Slack request refused", status=status, reason=reason)
        said = "invalid request" if status == 401 else reason  # an unverified sender learns nothing; the log does
        return web.json_response({"error": said}, status=status)

    def replayed(body: dict) -> web.Response:
        deps.metrics.requests.labels("slack", "replay", "rejected").inc()
        log.warning(REPLAYED, trigger_id=body.get("trigger_id"), type=body.get("type") or body.get("command"))
        return web.Response(status=200)

    async def handle(request: web.Request) -> web.Response:
        bind_request(surface="slack", kind="http")
        if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
            return refuse(413, "oversized", f"the body is larger than {MAX_BODY_BYTES} bytes")
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return refuse(413, "oversized", f"the body is larger than {MAX_BODY_BYTES} bytes")
        timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
        signature = request.headers.get("X-Slack-Signature", "")
        why = _unverified(verifier, raw, timestamp, signature)
        if why is not None:
            return refuse(401, "unverified", why)
        text = raw.decode("utf-8")
        try:
            body = check_body(text, request.content_type)
        except MalformedBody as e:
            return refuse(400, "malformed", str(e))
        context: dict[str, object] = {}
        if body.get("type") != "url_verification":
            if not await seen.first_here(signature):
                return replayed(body)
            verdict = asyncio.ensure_future(seen.first_in_store(signature))
            verdict.add_done_callback(_consume)
            # a modal's submission: its ack is its answer, made before the ack, so it waits for the store
            if body.get("type") == "view_submission" and not await asyncio.shield(verdict):
                return replayed(body)
            context[VERDICT] = verdict  # every other listener acks first, then waits for it (`acks.py`)
        # the checked body itself, parsed once (Bolt takes a parsed body in its "socket_mode"; its HTTP mode would
        # parse the text again, and its signature check, the only thing that mode changes, is ours, above)
        bolt_request = AsyncBoltRequest(body=body, query=request.query_string, headers=dict(request.headers),
                                        context=context, mode="socket_mode")
        return await to_aiohttp_response(await bolt.async_dispatch(bolt_request))

    return SlackEvents(handle, bolt)


class SlackEvents:
    """`POST /slack/events` (call it with the request), and what the server does once it is up (`warm_up`)."""

    def __init__(self, handle: Callable[[web.Request], Awaitable[web.Response]], bolt: AsyncApp) -> None:
        self._handle = handle
        self._bolt = bolt

    async def __call__(self, request: web.Request) -> web.Response:
        return await self._handle(request)

    async def warm_up(self) -> None:
        """What the first ack would otherwise wait for (Bolt's `auth.test`), done now; a failure is logged and the
        first request tries again."""
        await warm_up(self._bolt)


def _consume(verdict: asyncio.Future[bool]) -> None:
    """Reads the store's verdict when no listener did (an unhandled request), so nothing is left unread."""
    if not verdict.cancelled():
        verdict.exception()
