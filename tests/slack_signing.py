"""Requests signed exactly as Slack signs them (v0 HMAC-SHA256), and builders for the bodies Slack sends.

    body = slash_command(text="status checkout", response_url=fake_slack.response_url("cmd"))
    resp = await post_signed(http, "/slack/events", body.text, signed_headers(SECRET, body))

Builders return a `SlackBody` (the raw text and its content type) in the wire shapes of
`../shared/fixtures/slack/payloads/` (Events API envelope, slash command form, `payload=` interactivity form).
`signed_headers` signs a body and can sign it badly, stale or as a Slack retry.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx

from tests.fakes.slack_api import APP_ID, BOT_ID, BOT_USER_ID, TEAM_DOMAIN, TEAM_ID

__all__ = [
    "SlackBody", "sign", "signed_headers", "post_signed",
    "url_verification", "app_mention", "slash_command", "block_actions", "view_submission",
    "JSON", "FORM", "STALE_AFTER_S",
]  # fmt: skip

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
STALE_AFTER_S = 300  # Slack (and slack_sdk's SignatureVerifier) reject timestamps further than this from now
_ts_seq = itertools.count(1)


@dataclass(frozen=True)
class SlackBody:
    """A raw request body as Slack sends it, with its content type."""

    text: str
    content_type: str

    def json(self) -> dict[str, Any]:
        """The payload: the JSON body, or the decoded `payload=` / form fields."""
        if self.content_type == JSON:
            return json.loads(self.text)
        fields = dict(parse_qsl(self.text, keep_blank_values=True))
        return json.loads(fields["payload"]) if set(fields) == {"payload"} else fields


def sign(signing_secret: str, timestamp: str | int, body: str | bytes) -> str:
    """The `X-Slack-Signature` value: `v0=` + hex HMAC-SHA256 of `v0:{timestamp}:{body}`."""
    raw = body.encode() if isinstance(body, str) else body
    base = b"v0:" + str(timestamp).encode() + b":" + raw
    return "v0=" + hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()


def signed_headers(
    signing_secret: str,
    body: SlackBody | str | bytes,
    *,
    content_type: str | None = None,
    now: float | None = None,
    bad_signature: bool = False,
    stale: bool = False,
    retry_num: int | None = None,
    retry_reason: str = "http_timeout",
) -> dict[str, str]:
    """Headers for `body` signed at `now` (default: the clock), optionally tampered, stale or marked as a retry."""
    raw = body.text if isinstance(body, SlackBody) else body
    ctype = content_type or (body.content_type if isinstance(body, SlackBody) else JSON)
    timestamp = int(now if now is not None else time.time()) - (STALE_AFTER_S + 60 if stale else 0)
    signature = sign(signing_secret + ("-wrong" if bad_signature else ""), timestamp, raw)
    headers = {
        "Content-Type": ctype,
        "X-Slack-Request-Timestamp": str(timestamp),
        "X-Slack-Signature": signature,
    }
    if retry_num is not None:
        headers |= {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": retry_reason}
    return headers


async def post_signed(
    client_or_url: httpx.AsyncClient | str, path: str, body: SlackBody | str | bytes, headers: Mapping[str, str]
) -> httpx.Response:
    """POST the exact signed bytes with httpx, to an `AsyncClient` (with base_url) or a base URL string."""
    raw = body.text if isinstance(body, SlackBody) else body
    content = raw.encode() if isinstance(raw, str) else raw
    if isinstance(client_or_url, httpx.AsyncClient):
        return await client_or_url.post(path, content=content, headers=dict(headers))
    async with httpx.AsyncClient(base_url=client_or_url) as client:
        return await client.post(path, content=content, headers=dict(headers))


def _new_trigger_id() -> str:
    """A trigger_id as Slack makes one for every command and click: unique (so two commands are two requests)."""
    return f"{int(time.time())}.{next(_ts_seq)}.{uuid.uuid4().hex[:16]}"


def _new_ts() -> str:
    """A message ts ("seconds.micros") that is unique within the run."""
    return f"{int(time.time())}.{next(_ts_seq):06d}"


def url_verification(challenge: str = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P") -> SlackBody:
    """The Events API handshake Slack sends when the request URL is saved."""
    payload = {"token": "verification_token", "challenge": challenge, "type": "url_verification"}
    return SlackBody(json.dumps(payload), JSON)


def app_mention(
    text: str = f"<@{BOT_USER_ID}> help",
    *,
    channel: str = "C111",
    user: str = "W222",
    ts: str | None = None,
    thread_ts: str | None = None,
    event_id: str | None = None,
) -> SlackBody:
    """An Events API `event_callback` envelope carrying an `app_mention` (unique ts and event_id by default)."""
    ts = ts or _new_ts()
    event: dict[str, Any] = {
        "client_msg_id": str(uuid.uuid4()), "type": "app_mention", "text": text, "user": user, "ts": ts,
        "team": TEAM_ID, "channel": channel, "event_ts": ts,
    }  # fmt: skip
    if thread_ts:
        event["thread_ts"] = thread_ts
    envelope = {
        "token": "verification_token", "team_id": TEAM_ID, "api_app_id": APP_ID,
        "event": event, "type": "event_callback", "event_id": event_id or f"Ev{uuid.uuid4().hex[:10].upper()}",
        "event_time": int(float(ts)), "authed_users": [BOT_USER_ID],
        "authorizations": [{"enterprise_id": None, "team_id": TEAM_ID, "user_id": BOT_USER_ID, "is_bot": True,
                            "is_enterprise_install": False}],
        "is_ext_shared_channel": False, "event_context": f"4-app_mention-{TEAM_ID}-{channel}",
    }  # fmt: skip
    return SlackBody(json.dumps(envelope), JSON)


def slash_command(
    command: str = "/sre",
    text: str = "help",
    *,
    user_id: str = "W111",
    channel_id: str = "C111",
    response_url: str = f"https://hooks.slack.com/commands/{TEAM_ID}/111/xxxxx",
    trigger_id: str | None = None,
) -> SlackBody:
    """A slash command invocation: the form-encoded body Slack POSTs (a new trigger_id each time, as Slack does)."""
    trigger_id = trigger_id or _new_trigger_id()
    fields = {
        "token": "verification_token", "team_id": TEAM_ID, "team_domain": TEAM_DOMAIN, "channel_id": channel_id,
        "channel_name": "incidents", "user_id": user_id, "user_name": user_id.lower(), "command": command,
        "text": text, "api_app_id": APP_ID, "is_enterprise_install": "false", "response_url": response_url,
        "trigger_id": trigger_id,
    }  # fmt: skip
    return SlackBody(urlencode(fields), FORM)


def block_actions(
    action_id: str,
    value: str = "",
    *,
    user: str = "W111",
    channel: str = "C111",
    message_ts: str = "1700000000.000100",
    response_url: str = f"https://hooks.slack.com/actions/{TEAM_ID}/111/random-value",
    thread_ts: str | None = None,
    block_id: str = "actions",
    trigger_id: str | None = None,
) -> SlackBody:
    """A button click on a bot message (in a thread when `thread_ts`): the `payload=` form of `block_actions` (a new
    trigger_id each time, as Slack makes for every click: two clicks are two requests, not a replay)."""
    trigger_id = trigger_id or _new_trigger_id()
    container = {"type": "message", "message_ts": message_ts, "channel_id": channel, "is_ephemeral": False}
    message = {"type": "message", "ts": message_ts, "user": BOT_USER_ID, "bot_id": BOT_ID, "text": ""}
    if thread_ts:
        container["thread_ts"] = message["thread_ts"] = thread_ts
    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": TEAM_ID},
        "api_app_id": APP_ID,
        "token": "verification_token",
        "container": container,
        "trigger_id": trigger_id,
        "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
        "channel": {"id": channel, "name": "incidents"},
        "message": message,
        "response_url": response_url,
        "actions": [{
            "action_id": action_id, "block_id": block_id, "value": value, "type": "button",
            "text": {"type": "plain_text", "text": "Button", "emoji": True}, "action_ts": f"{time.time():.6f}",
        }],
    }  # fmt: skip
    return SlackBody(urlencode({"payload": json.dumps(payload)}), FORM)


def view_submission(
    callback_id: str,
    *,
    private_metadata: str = "",
    values: dict[str, dict[str, dict[str, Any]]] | None = None,
    user: str = "W111",
    view_id: str = "V00000001",
) -> SlackBody:
    """A modal's submission: the `payload=` form of `view_submission` (`values`: block_id → action_id → state)."""
    payload = {
        "type": "view_submission",
        "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
        "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": TEAM_ID},
        "api_app_id": APP_ID,
        "token": "verification_token",
        "trigger_id": _new_trigger_id(),
        "view": {
            "id": view_id, "team_id": TEAM_ID, "type": "modal", "callback_id": callback_id,
            "private_metadata": private_metadata, "state": {"values": values or {}}, "hash": "1.abc",
            "title": {"type": "plain_text", "text": "Modal"}, "blocks": [], "app_id": APP_ID, "bot_id": BOT_ID,
            "root_view_id": view_id, "previous_view_id": None, "external_id": "",
        },
        "response_urls": [],
        "is_enterprise_install": False,
    }  # fmt: skip
    return SlackBody(urlencode({"payload": json.dumps(payload)}), FORM)
