"""What a Slack request body must look like before Bolt and our listeners see it (`check_body`).

Bolt indexes into a body as Slack documents it (`body["actions"][0]`, `event.get(…)`), and so do the listeners: a
body of another shape (an `actions` string, an `event` that is a string, a 100,000-deep array) would fail inside
them, after the ack, with a traceback. `check_body` parses the body and checks every field that Bolt or a listener
reads, so such a request is refused with a 400 and the reason, and nothing else runs; Bolt is then handed exactly
the checked object. (Bolt's own parser reads any form body containing the letters "payload", a command's text
included, as an interactivity payload: `/sre query payload_bytes` would reach no listener. Ours reads the field.)

Checked: the body parses (JSON, a form, or a form's `payload=` JSON) into an object; it is nested at most
`MAX_DEPTH` deep; no string holds a NUL or an unpaired surrogate (Slack never sends them, and PostgreSQL cannot
store them); the ids Bolt extracts (user, channel, team, enterprise, authorizations, …) have Slack's types, in the
envelope and in the objects Bolt descends into; and per kind: a slash command names its command, user, channel and
`response_url` (an http(s) URL, where Bolt's `respond` posts); a block action carries a list of actions with
string ids and values; a view carries its callback id, string metadata and state; a mention carries its channel,
ts and text; our own modals' `private_metadata` is the JSON object we wrote. Fields nobody reads are not checked
(Slack adds fields over time).
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .action_blocks import REJECT_MODAL
from .feedback_blocks import REAL_CAUSE_MODAL

__all__ = ["MalformedBody", "check_body", "MAX_DEPTH", "VIEW_METADATA"]

_URL = r"^https?://[^\s/?#]+(?:[/?#]\S*)?$"  # where Bolt's `respond` posts: an absolute http(s) URL
MAX_DEPTH = 48  # Slack's deepest payloads (rich-text blocks inside a message inside an action) stay under 15

# Our modals' callback ids → the keys of the JSON object each puts in `private_metadata` (each a string or null).
VIEW_METADATA: dict[str, frozenset[str]] = {
    REJECT_MODAL: frozenset({"value", "channel", "ts"}),
    REAL_CAUSE_MODAL: frozenset({"answer_id"}),
}


class MalformedBody(ValueError):
    """The body is not a Slack request of a shape we handle; the message says what is wrong (no body content)."""


class _Obj(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True, frozen=True)


class _Named(_Obj):  # `user`, `channel`, `team`, `enterprise` when they are objects
    id: str = ""  # absent or a string: listeners read `.get("id", "")`, so null would pass as None
    name: str | None = None
    username: str | None = None
    team_id: str | None = None
    enterprise_id: str | None = None


class _Authorization(_Obj):
    enterprise_id: str | None = None
    team_id: str | None = None
    user_id: str | None = None


class _ResponseUrl(_Obj):
    response_url: str = Field(pattern=_URL)


class _Ids(_Obj):
    """The fields Bolt's `build_async_context` reads, here and in the objects it descends into."""

    user: str | _Named | None = None
    user_id: str | None = None
    channel: str | _Named | None = None
    channel_id: str | None = None
    team: str | _Named | None = None
    team_id: str | None = None
    enterprise: str | _Named | None = None
    enterprise_id: str | None = None
    user_team: str | None = None
    thread_ts: str | None = None
    function_execution_id: str | None = None
    bot_access_token: str | None = None
    authorizations: list[_Authorization] | None = None
    event: _Ids | None = None
    message: _Ids | None = None
    previous_message: _Ids | None = None
    item: _Ids | None = None
    assistant_thread: _Ids | None = None
    function_data: dict[str, Any] | None = None
    response_url: str | None = Field(None, pattern=_URL)
    response_urls: list[_ResponseUrl] | None = None
    inputs: dict[str, Any] | None = None


class _Command(_Obj):
    command: str = Field(min_length=1)
    text: str = ""
    user_id: str = Field(min_length=1)
    channel_id: str = Field(min_length=1)
    response_url: str = Field(pattern=_URL)
    trigger_id: str | None = None
    user_name: str | None = None


class _Envelope(_Ids):
    type: str


class _Mention(_Obj):
    type: str
    channel: str = Field(min_length=1)
    ts: str = Field(min_length=1)
    text: str = ""
    user: str = ""
    thread_ts: str | None = None


class _EventCallback(_Obj):
    event_id: str | None = None
    event: dict[str, Any]


class _Action(_Obj):
    action_id: str
    block_id: str | None = None
    value: str = ""


class _Container(_Obj):
    message_ts: str | None = None
    channel_id: str = ""
    thread_ts: str | None = None


class _BlockActions(_Obj):
    actions: list[_Action] = Field(min_length=1)
    user: _Named
    container: _Container | None = None
    trigger_id: str | None = None


class _InputState(_Obj):
    value: str | None = None


class _State(_Obj):
    values: dict[str, dict[str, _InputState]] = {}


class _View(_Obj):
    callback_id: str = ""
    private_metadata: str = ""
    state: _State | None = None


class _ViewPayload(_Obj):
    view: _View
    user: _Named


_KINDS: dict[str, type[_Obj]] = {"block_actions": _BlockActions, "view_submission": _ViewPayload,
                                 "view_closed": _ViewPayload}


def check_body(text: str, content_type: str | None) -> dict[str, Any]:
    """The body as Bolt will parse it, when it is a Slack request we can handle; MalformedBody says why not."""
    try:
        body = _parse(text, content_type)
    except RecursionError:
        raise MalformedBody(f"the body is nested more than {MAX_DEPTH} levels deep") from None
    except ValueError as e:  # json.JSONDecodeError is a ValueError
        raise MalformedBody(f"the body is not valid JSON ({e})") from None
    if not isinstance(body, dict):
        raise MalformedBody(f"the body is a JSON {type(body).__name__}, not an object")
    _check_values(body)
    if "ssl_check" in body:
        return body
    if "command" in body and "type" not in body:
        _validate(_Command, body, "a slash command")
        _validate(_Ids, body, "a slash command")
        return body
    _validate(_Envelope, body, "the request")
    kind = body["type"]
    if kind == "event_callback":
        callback = _validate(_EventCallback, body, "an event")
        if callback.event.get("type") == "app_mention":
            _validate(_Mention, callback.event, "an app_mention event")
    elif kind in _KINDS:
        _validate(_KINDS[kind], body, f"a {kind} payload")
        if kind != "block_actions":
            _check_metadata(body["view"])
    return body


_SHOULD_BE = {"string_type": "should be a string", "model_type": "should be an object", "dict_type":
              "should be an object", "list_type": "should be a list", "missing": "is missing", "too_short":
              "should not be empty", "bool_type": "should be true or false",
              "string_pattern_mismatch": "is not an http(s) URL"}
_FIELD = re.compile(r"[a-z_][a-z0-9_]{0,39}")  # Slack's field names; a block or action id may be anything
_UNION_TAGS = frozenset({"str", "none", *(m.__name__ for m in (_Named, _Ids, _Authorization, _ResponseUrl))})


def _parse(text: str, content_type: str | None) -> Any:
    """JSON (Events API), a form's `payload=` field (interactivity), or the form itself (slash commands)."""
    if not text:
        return {}
    if content_type == "application/json" or text.startswith("{"):
        return json.loads(text)
    fields = parse_qsl(text, keep_blank_values=True)
    payload = [v for k, v in fields if k == "payload"]
    return json.loads(payload[-1]) if payload else dict(fields)


def _validate(model: type[_Obj], data: dict[str, Any], what: str) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as e:
        errors = e.errors(include_url=False, include_input=False)
        first = errors[0]
        loc = _where(first["loc"])
        where = ".".join(loc) or "the body"
        branches = sum(1 for x in errors if _where(x["loc"]) == loc)
        said = "has the wrong type" if branches > 1 else _SHOULD_BE.get(first["type"], first["msg"])
        raise MalformedBody(f"{what}: `{where}` {said}") from None


def _where(loc: tuple[int | str, ...]) -> list[str]:
    """A field's path as it is safe to log: a union's branch names dropped, keys a person chose replaced by `*`."""
    return [str(p) if isinstance(p, int) or _FIELD.fullmatch(p) else "*" for p in loc if p not in _UNION_TAGS]


def _check_metadata(view: dict[str, Any]) -> None:
    keys = VIEW_METADATA.get(view.get("callback_id") or "")
    if keys is None:
        return
    try:
        meta = json.loads(view.get("private_metadata") or "{}")
    except (ValueError, RecursionError):
        raise MalformedBody("a view: `private_metadata` is not the JSON this modal was opened with") from None
    if not (isinstance(meta, dict) and set(meta) <= keys
            and all(v is None or isinstance(v, str) for v in meta.values())):
        raise MalformedBody(f"a view: `private_metadata` is not an object of {', '.join(sorted(keys))} strings")


def _check_values(body: dict[str, Any]) -> None:
    """Depth, and strings that cannot be what Slack sent: walked without recursion (the body may be deep)."""
    stack: list[tuple[Any, int]] = [(body, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            items: list[Any] = list(value.values())
            for key in value:
                _check_text(key)
        elif isinstance(value, list):
            items = value
        else:
            if isinstance(value, str):
                _check_text(value)
            continue
        if depth > MAX_DEPTH:
            raise MalformedBody(f"the body is nested more than {MAX_DEPTH} levels deep")
        stack.extend((v, depth + 1) for v in items)


def _check_text(s: str) -> None:
    if "\x00" in s:
        raise MalformedBody("the body holds a NUL character")
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        raise MalformedBody("the body holds an unpaired UTF-16 surrogate (\\ud800–\\udfff)") from None
