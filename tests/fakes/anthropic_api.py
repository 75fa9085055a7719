"""A fake Anthropic Messages API: a script of replies, real wire shapes, request validation and simulated caching.

    with FakeAnthropic() as fake:                     # or `async with`
        fake.enqueue(tool_use(call("query_loki", {"q": "..."})), text("The checkout pods are OOM-killed."))
        client = anthropic.AsyncAnthropic(api_key="test", base_url=fake.url, max_retries=0)
        ...
        assert fake.violations == [] and fake.unscripted == 0
        assert "hunter2" not in fake.all_text_sent()

Serves `POST /v1/messages` only (no streaming). Each request takes the next scripted item: `text(...)`,
`tool_use(call(...), ...)`, `reply(*blocks)`, `error(status, type_, message)`, `raw(status, body)`,
`delay(seconds, item)`, a plain string (same as `text`) or a callable that builds one of those from the request body.
A request the real API would reject (missing `x-api-key` or `anthropic-version`, a malformed body, roles that do
not alternate, a `tool_result` that answers no `tool_use` of the previous assistant message, a `tool_use` left
unanswered, a bad `tool_choice`, ...) gets the real API's 400/401 error, consumes no scripted item and is appended
to `.violations`. With the script exhausted the answer is a 500 `api_error` with `x-should-retry: false` (so the
SDK does not retry it) and `.unscripted` counts it.

Usage is deterministic: `input_tokens` is ceil(len(json.dumps(body)) / 4) and `output_tokens` is
ceil(len(json.dumps(content)) / 4). Prompt caching is simulated: the prefix up to a block with `cache_control`
(tools, then system, then message blocks, as the real API orders the cache) counts as `cache_creation_input_tokens`
the first time that exact prefix is seen for that model and as `cache_read_input_tokens` afterwards, and is then
left out of `input_tokens`.

SDK notes (anthropic 2.11): it retries 408/409/429/5xx (and 529) itself, honouring `retry-after-ms` before
`retry-after`; a value of 0 or none means exponential backoff from 0.5 s, so script small non-zero `retry_after`s.
`x-should-retry: true|false` overrides its status-based decision.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import json
import math
import re
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from . import FakeServer

__all__ = [
    "FakeAnthropic", "Call", "Reply", "Error", "Raw", "Delay", "Item",
    "text", "tool_use", "call", "reply", "error", "raw", "delay",
]

_ids = itertools.count(1)
_TOOL_ID = re.compile(r"^[a-zA-Z0-9_-]+$")
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
_MAX_BREAKPOINTS = 4
_USER_BLOCKS = {"text", "image", "document", "search_result", "tool_result", "container_upload"}
_ASSISTANT_BLOCKS = {"text", "tool_use", "thinking", "redacted_thinking", "server_tool_use", "web_search_tool_result",
                     "web_fetch_tool_result", "code_execution_tool_result", "bash_code_execution_tool_result",
                     "text_editor_code_execution_tool_result", "tool_search_tool_result", "mcp_tool_use",
                     "mcp_tool_result", "container_upload"}
_RESULT_BLOCKS = {"text", "image", "document", "search_result", "tool_reference"}


def _next_id(prefix: str) -> str:
    return f"{prefix}_01Fake{next(_ids):016d}"


@dataclass(frozen=True)
class Call:
    """One tool call in a scripted `tool_use` reply; `id=None` gets a fresh unique `toolu_...` id when served."""

    name: str
    input: dict[str, Any] = field(default_factory=dict)
    id: str | None = None


@dataclass(frozen=True)
class Reply:
    """A successful message: its content blocks, stop reason and optional usage fields overriding the computed ones."""

    content: tuple[dict[str, Any] | Call, ...]
    stop_reason: str = "end_turn"
    usage: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Error:
    """An error in the API's wire format, with optional `retry-after`(-ms) and `x-should-retry` headers."""

    status: int
    type: str
    message: str
    retry_after: float | None = None
    should_retry: bool | None = None


@dataclass(frozen=True)
class Raw:
    """An arbitrary response (status, body text, headers) for malformed answers; content type defaults to JSON."""

    status: int
    body: str
    headers: Mapping[str, str] | None = None


@dataclass(frozen=True)
class Delay:
    """Sleep `seconds` (cut short when the fake stops) before serving `item`."""

    seconds: float
    item: Item


Item = Reply | Error | Raw | Delay | str | Callable[[dict[str, Any]], Any]


def call(name: str, input: Mapping[str, Any] | None = None, id: str | None = None) -> Call:  # noqa: A002
    """A tool call for `tool_use(...)`."""
    return Call(name, dict(input or {}), id)


def text(s: str, *, stop_reason: str = "end_turn") -> Reply:
    """A message with one text block."""
    return Reply(({"type": "text", "text": s},), stop_reason)


def tool_use(*calls: Call, text: str | None = None) -> Reply:  # noqa: A002 - shadows the module-level `text`
    """A message with an optional text block then one tool_use block per call, stopping for `tool_use`."""
    if not calls:
        raise ValueError("tool_use() needs at least one call(...)")
    head: tuple[dict[str, Any], ...] = ({"type": "text", "text": text},) if text is not None else ()
    return Reply((*head, *calls), "tool_use")


def reply(*blocks: dict[str, Any] | Call, stop_reason: str = "end_turn",
          usage: Mapping[str, Any] | None = None) -> Reply:
    """A message with arbitrary content blocks (e.g. thinking), stop reason and usage overrides."""
    return Reply(tuple(blocks), stop_reason, usage)


def error(status: int, type_: str, message: str, *, retry_after: float | None = None,
          should_retry: bool | None = None) -> Error:
    """An API error: e.g. 429 rate_limit_error, 529 overloaded_error, 500 api_error, 400 invalid_request_error."""
    return Error(status, type_, message, retry_after, should_retry)


def raw(status: int, body_text: str, headers: Mapping[str, str] | None = None) -> Raw:
    """A response sent exactly as given (content type `application/json` unless `headers` set one)."""
    return Raw(status, body_text, headers)


def delay(seconds: float, item: Item) -> Delay:
    """Serve `item` after `seconds`."""
    return Delay(seconds, item)


def _tokens(value: Any) -> int:
    return math.ceil(len(json.dumps(value)) / 4)


def _blocks(content: Any) -> list[Any]:
    """A message's content as a list of blocks (a string is one text block)."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return content if isinstance(content, list) else []


def _strings(value: Any) -> list[str]:
    """Every string (keys included) and scalar inside a JSON value, in order."""
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (str(k), *_strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [] if value is None else [str(value)]


class _Invalid(Exception):
    """A request the real API would refuse; args are (status, error type, message)."""


class FakeAnthropic(FakeServer):
    """Scripted Messages API; `api_key`: other keys get 401; `min_cache_tokens`: shorter prefixes are not cached."""

    name = "anthropic"

    def __init__(self, *, api_key: str | None = None, min_cache_tokens: int = 0) -> None:
        super().__init__()
        self.api_key = api_key
        self.min_cache_tokens = min_cache_tokens
        self.bodies: list[dict[str, Any]] = []
        self.violations: list[str] = []
        self.unscripted = 0
        self.script_errors: list[str] = []
        self._script: deque[Item] = deque()
        self._cached: set[str] = set()
        self._wake: asyncio.Event | None = None

    # --- scripting and inspection (any thread) ---

    def enqueue(self, *responses: Item) -> None:
        """Append replies to the script; each request takes the next one."""
        with self._lock:
            self._script.extend(responses)

    @property
    def remaining(self) -> int:
        """How many scripted items no request has taken yet."""
        with self._lock:
            return len(self._script)

    def last_body(self) -> dict[str, Any]:
        """The body of the most recent `/v1/messages` request."""
        with self._lock:
            if not self.bodies:
                raise AssertionError("FakeAnthropic has received no request")
            return self.bodies[-1]

    def tool_results(self, body: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """The tool_result blocks of the last user message of `body` (default: the last request)."""
        body = self.last_body() if body is None else body
        users = [m for m in body.get("messages") or [] if isinstance(m, dict) and m.get("role") == "user"]
        if not users:
            return []
        return [b for b in _blocks(users[-1].get("content")) if isinstance(b, dict) and b.get("type") == "tool_result"]

    def all_text_sent(self) -> str:
        """Every string and value of every request body, unescaped, one per line (for 'no secret was sent')."""
        with self._lock:
            bodies = list(self.bodies)
        return "\n".join(s for b in bodies for s in _strings(b))

    def assert_clean(self) -> None:
        """Fail unless every request was valid, scripted, and the whole script was used."""
        assert self.violations == [], f"invalid requests: {self.violations}"
        assert self.unscripted == 0, f"{self.unscripted} request(s) found the script empty"
        assert self.script_errors == [], f"script callables failed: {self.script_errors}"
        assert self.remaining == 0, f"{self.remaining} scripted response(s) never requested"

    # --- server ---

    def _routes(self, app: web.Application) -> None:
        self._wake = asyncio.Event()
        app.router.add_post("/v1/messages", self._messages)
        app.router.add_get("/v1/models/{model}", self._model)
        app.router.add_route("*", "/{tail:.*}", self._not_found)

    def stop(self) -> None:
        if self._loop is not None and self._wake is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._wake.set)
        super().stop()

    async def _model(self, request: web.Request) -> web.Response:
        """`GET /v1/models/{id}`: known when it is a Claude model name (what `sre-bot doctor` asks)."""
        if not (request.headers.get("x-api-key") or request.headers.get("authorization")):
            return _error_response(401, "authentication_error", "x-api-key header is required", should_retry=False)
        model = request.match_info["model"]
        if not model.startswith("claude-"):
            return _error_response(404, "not_found_error", f"model: {model}", should_retry=False)
        return web.json_response({"type": "model", "id": model, "display_name": model,
                                  "created_at": "2026-01-01T00:00:00Z"})

    async def _not_found(self, request: web.Request) -> web.Response:
        message = f"FakeAnthropic: no route for {request.method} {request.path} (only POST /v1/messages)"
        with self._lock:
            self.violations.append(message)
        return _error_response(404, "not_found_error", message, should_retry=False)

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        raw_text = await request.text()
        try:
            body = json.loads(raw_text)
        except ValueError:
            body = None
        with self._lock:
            self.bodies.append(body if isinstance(body, dict) else {"__unparsed_body__": raw_text})
        try:
            _check_headers(request.headers, self.api_key)
            if not isinstance(body, dict):
                raise _Invalid(400, "invalid_request_error", "The request body is not valid JSON: expected an object")
            _validate(body)
        except _Invalid as e:
            status, type_, message = e.args
            with self._lock:
                self.violations.append(message)
            return _error_response(status, type_, message)
        with self._lock:
            item = self._script.popleft() if self._script else None
            if item is None:
                self.unscripted += 1
        if item is None:
            return _error_response(500, "api_error", "FakeAnthropic: no scripted response left "
                                   f"(request to model {body.get('model')!r})", should_retry=False)
        return await self._answer(item, body)

    async def _answer(self, item: Any, body: dict[str, Any], depth: int = 0) -> web.StreamResponse:
        if isinstance(item, Delay):
            assert self._wake is not None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), item.seconds)
            return await self._answer(item.item, body, depth)
        if isinstance(item, str):
            item = text(item)
        if isinstance(item, Reply):
            return self._message(item, body)
        if isinstance(item, Error):
            return _error_response(item.status, item.type, item.message, retry_after=item.retry_after,
                                   should_retry=item.should_retry)
        if isinstance(item, Raw):
            headers = {"content-type": "application/json", "request-id": _next_id("req"), **(item.headers or {})}
            return web.Response(status=item.status, body=item.body.encode(), headers=headers)
        if callable(item) and depth < 5:
            try:
                built = item(copy.deepcopy(body))
            except Exception as e:  # noqa: BLE001 - reported to the test through script_errors
                return self._script_error(f"script callable {item!r} raised {type(e).__name__}: {e}")
            return await self._answer(built, body, depth + 1)
        return self._script_error(f"unusable scripted item {item!r}")

    def _script_error(self, message: str) -> web.Response:
        with self._lock:
            self.script_errors.append(message)
        return _error_response(500, "api_error", f"FakeAnthropic: {message}", should_retry=False)

    def _message(self, item: Reply, body: dict[str, Any]) -> web.Response:
        content = [{"type": "tool_use", "id": c.id or _next_id("toolu"), "name": c.name, "input": c.input}
                   if isinstance(c, Call) else dict(c) for c in item.content]
        created, read, ttl = self._cache(body)
        usage: dict[str, Any] = {
            "input_tokens": max(_tokens(body) - created - read, 0),
            "output_tokens": _tokens(content),
            "cache_creation_input_tokens": created,
            "cache_read_input_tokens": read,
            "cache_creation": {"ephemeral_5m_input_tokens": created if ttl != "1h" else 0,
                               "ephemeral_1h_input_tokens": created if ttl == "1h" else 0},
            "service_tier": "standard",
            **(item.usage or {}),
        }
        message = {"id": _next_id("msg"), "type": "message", "role": "assistant", "model": body["model"],
                   "content": content, "stop_reason": item.stop_reason, "stop_sequence": None, "usage": usage}
        return web.json_response(message, headers={"request-id": _next_id("req")})

    def _cache(self, body: dict[str, Any]) -> tuple[int, int, str]:
        """(cache_creation, cache_read, ttl of the last breakpoint) for `body`, remembering the prefixes it writes."""
        seq: list[tuple[Any, ...]] = [("tools", t) for t in body.get("tools") or []]
        system = body.get("system")
        seq += [("system", b) for b in (_blocks(system) if system is not None else [])]
        for i, m in enumerate(body["messages"]):
            seq += [("messages", i, m["role"], b) for b in _blocks(m["content"])]
        points = []  # (key, tokens, ttl) per breakpoint, in prefix order
        for i, entry in enumerate(seq):
            cc = entry[-1].get("cache_control") if isinstance(entry[-1], dict) else None
            if isinstance(cc, dict):
                tokens = _tokens([e[-1] for e in seq[:i + 1]])
                if tokens >= self.min_cache_tokens:
                    points.append((json.dumps([body["model"], seq[:i + 1]]), tokens, cc.get("ttl", "5m")))
        if not points:
            return 0, 0, "5m"
        with self._lock:
            read = max((tokens for key, tokens, _ in points if key in self._cached), default=0)
            self._cached.update(key for key, _, _ in points)
        last_tokens = points[-1][1]
        return last_tokens - read, read, points[-1][2]


def _error_response(status: int, type_: str, message: str, *, retry_after: float | None = None,
                    should_retry: bool | None = None) -> web.Response:
    request_id = _next_id("req")
    headers = {"request-id": request_id}
    if retry_after is not None:
        headers["retry-after"] = f"{retry_after:g}"
        headers["retry-after-ms"] = f"{retry_after * 1000:g}"
    if should_retry is not None:
        headers["x-should-retry"] = "true" if should_retry else "false"
    return web.json_response({"type": "error", "error": {"type": type_, "message": message}, "request_id": request_id},
                             status=status, headers=headers)


def _check_headers(headers: Mapping[str, str], api_key: str | None) -> None:
    """The credential (`x-api-key`, or `Authorization: Bearer` as SDK 2.x sends it) and `anthropic-version`."""
    bearer = headers.get("authorization", "")
    key = headers.get("x-api-key") or (bearer[7:].strip() if bearer.lower().startswith("bearer ") else "")
    if not key:
        raise _Invalid(401, "authentication_error", "x-api-key header is required")
    if api_key is not None and key != api_key:
        raise _Invalid(401, "authentication_error", "invalid x-api-key")
    if not headers.get("anthropic-version"):
        raise _Invalid(400, "invalid_request_error", "anthropic-version: header is required")


def _bad(message: str) -> _Invalid:
    return _Invalid(400, "invalid_request_error", message)


def _validate(body: dict[str, Any]) -> None:
    """Raise `_Invalid` with the real API's wording when `body` is not an acceptable Messages request."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _bad("model: Field required" if model is None else "model: Input should be a valid string")
    max_tokens = body.get("max_tokens")
    if max_tokens is None:
        raise _bad("max_tokens: Field required")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise _bad(f"max_tokens: Input should be an integer greater than or equal to 1 (got {max_tokens!r})")
    if body.get("stream"):
        raise _bad("FakeAnthropic: stream=true is not supported by the fake (use a non-streaming create())")
    temperature = body.get("temperature")
    if temperature is not None and (not isinstance(temperature, (int, float)) or not 0 <= temperature <= 1):
        raise _bad(f"temperature: Input should be less than or equal to 1 and at least 0 (got {temperature!r})")
    _validate_system(body.get("system"))
    tool_names = _validate_tools(body.get("tools"))
    _validate_tool_choice(body.get("tool_choice"), tool_names)
    _validate_messages(body.get("messages"), has_tools=bool(body.get("tools")))
    breakpoints = _count_breakpoints(body)
    if breakpoints > _MAX_BREAKPOINTS:
        raise _bad(f"A maximum of {_MAX_BREAKPOINTS} blocks with cache_control may be provided. Found {breakpoints}.")


def _count_breakpoints(body: dict[str, Any]) -> int:
    """How many tool, system, message and tool_result content blocks carry a `cache_control` object."""
    blocks = list(body.get("tools") or []) + _blocks(body.get("system"))
    for m in body["messages"]:
        for block in _blocks(m["content"]):
            blocks.append(block)
            if block.get("type") == "tool_result":
                blocks += _blocks(block.get("content"))
    return sum(1 for b in blocks if isinstance(b, dict) and isinstance(b.get("cache_control"), dict))


def _validate_system(system: Any) -> None:
    if system is None or isinstance(system, str):
        return
    if not isinstance(system, list):
        raise _bad("system: Input should be a valid string or a list of text blocks")
    for j, block in enumerate(system):
        if not isinstance(block, dict) or block.get("type") != "text" or not isinstance(block.get("text"), str):
            raise _bad(f"system.{j}: Input should be a text block ({{\"type\": \"text\", \"text\": ...}})")
        if not block["text"]:
            raise _bad(f"system.{j}: text content blocks must be non-empty")


def _validate_tools(tools: Any) -> list[str]:
    if tools is None:
        return []
    if not isinstance(tools, list):
        raise _bad("tools: Input should be a valid list")
    names: list[str] = []
    for j, tool in enumerate(tools):
        if not isinstance(tool, dict):
            raise _bad(f"tools.{j}: Input should be a valid dictionary")
        name = tool.get("name")
        if not isinstance(name, str) or not _TOOL_NAME.match(name):
            raise _bad(f"tools.{j}.name: String should match pattern '{_TOOL_NAME.pattern}' (got {name!r})")
        if tool.get("type") in (None, "custom"):
            schema = tool.get("input_schema")
            if not isinstance(schema, dict):
                raise _bad(f"tools.{j}.custom.input_schema: Field required")
            if schema.get("type") != "object":
                raise _bad(f"tools.{j}.custom.input_schema.type: Input should be 'object'")
        if name in names:
            raise _bad(f"tools: Tool names must be unique. Found duplicate: {name!r}")
        names.append(name)
    return names


def _validate_tool_choice(choice: Any, tool_names: list[str]) -> None:
    if choice is None:
        return
    if not isinstance(choice, dict) or choice.get("type") not in ("auto", "any", "none", "tool"):
        raise _bad(f"tool_choice: Input tag {choice.get('type') if isinstance(choice, dict) else choice!r} does not "
                   "match any of the expected tags: 'auto', 'any', 'tool', 'none'")
    kind = choice["type"]
    if "disable_parallel_tool_use" in choice and not isinstance(choice["disable_parallel_tool_use"], bool):
        raise _bad(f"tool_choice.{kind}.disable_parallel_tool_use: Input should be a valid boolean")
    if kind in ("any", "tool") and not tool_names:
        raise _bad(f"tool_choice.type: tool_choice {kind!r} may only be specified while providing tools.")
    if kind == "tool":
        name = choice.get("name")
        if not isinstance(name, str):
            raise _bad("tool_choice.tool.name: Field required")
        if name not in tool_names:
            raise _bad(f"tool_choice.tool.name: Tool {name!r} not found in the provided tools "
                       f"({', '.join(tool_names)})")


def _validate_messages(messages: Any, *, has_tools: bool) -> None:
    if messages is None:
        raise _bad("messages: Field required")
    if not isinstance(messages, list) or not messages:
        raise _bad("messages: at least one message is required")
    pending: list[str] = []  # tool_use ids of the previous assistant message, still to be answered
    seen_ids: set[str] = set()
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            raise _bad(f"messages.{i}: Input should be a valid dictionary")
        role = m.get("role")
        if role not in ("user", "assistant"):
            raise _bad(f"messages.{i}.role: Input should be 'user' or 'assistant' (got {role!r})")
        if i == 0 and role != "user":
            raise _bad('messages: first message must use the "user" role')
        if i and messages[i - 1].get("role") == role:
            raise _bad(f'messages: roles must alternate between "user" and "assistant", but found multiple "{role}" '
                       f"roles in a row (messages.{i - 1} and messages.{i})")
        content = m.get("content")
        last = i == len(messages) - 1
        if isinstance(content, str):
            if not content and not (last and role == "assistant"):
                raise _bad(f"messages.{i}: all messages must have non-empty content except for the optional final "
                           "assistant message")
            blocks: list[Any] = [{"type": "text", "text": content}] if content else []
        elif isinstance(content, list):
            if not content and not (last and role == "assistant"):
                raise _bad(f"messages.{i}: all messages must have non-empty content except for the optional final "
                           "assistant message")
            blocks = content
        else:
            raise _bad(f"messages.{i}.content: Input should be a valid string or list of content blocks")
        if role == "user":
            _validate_user_blocks(i, blocks, pending, has_tools)
            pending = []
        else:
            pending = _validate_assistant_blocks(i, blocks, seen_ids, has_tools, last)
    if pending:
        raise _unanswered(len(messages) - 1, pending)


def _unanswered(i: int, ids: list[str]) -> _Invalid:
    return _bad(f"messages.{i}: `tool_use` ids were found without `tool_result` blocks immediately after: "
                f"{', '.join(ids)}. Each `tool_use` block must have a corresponding `tool_result` block in the next "
                "message.")


def _check_text(where: str, block: dict[str, Any]) -> None:
    value = block.get("text")
    if not isinstance(value, str):
        raise _bad(f"{where}.text: Field required")
    if not value:
        raise _bad(f"{where}: text content blocks must be non-empty")
    if not value.strip():
        raise _bad(f"{where}: text content blocks must contain non-whitespace text")


def _validate_user_blocks(i: int, blocks: list[Any], expected: list[str], has_tools: bool) -> None:
    answered: list[str] = []
    after_other = False
    for j, block in enumerate(blocks):
        where = f"messages.{i}.content.{j}"
        if not isinstance(block, dict) or block.get("type") not in _USER_BLOCKS:
            kind = block.get("type") if isinstance(block, dict) else type(block).__name__
            raise _bad(f"{where}: Input tag {kind!r} is not a valid content block type for a user message")
        kind = block["type"]
        if kind == "text":
            _check_text(where, block)
        if kind != "tool_result":
            after_other = True
            continue
        if not has_tools:
            raise _bad("Requests which include `tool_use` or `tool_result` blocks must define tools.")
        tool_use_id = block.get("tool_use_id")
        if not isinstance(tool_use_id, str):
            raise _bad(f"{where}.tool_result.tool_use_id: Field required")
        if not expected:
            raise _bad(f"{where}: tool_result block(s) provided when previous message does not contain any tool_use "
                       "blocks")
        if tool_use_id not in expected:
            raise _bad(f"{where}: unexpected `tool_use_id` found in `tool_result` blocks: {tool_use_id}. Each "
                       "`tool_result` block must have a corresponding `tool_use` block in the previous message.")
        if tool_use_id in answered:
            raise _bad(f"{where}: duplicate `tool_result` for `tool_use_id` {tool_use_id}")
        if after_other:
            raise _bad(f"{where}: `tool_result` blocks must come first in the user message content, before any "
                       "other block")
        if "is_error" in block and not isinstance(block["is_error"], bool):
            raise _bad(f"{where}.tool_result.is_error: Input should be a valid boolean")
        result = block.get("content")
        if result is not None and not isinstance(result, str):
            if not isinstance(result, list):
                raise _bad(f"{where}.tool_result.content: Input should be a valid string or list of blocks")
            for k, sub in enumerate(result):
                if not isinstance(sub, dict) or sub.get("type") not in _RESULT_BLOCKS:
                    raise _bad(f"{where}.tool_result.content.{k}: Input tag is not one of "
                               f"{', '.join(sorted(_RESULT_BLOCKS))}")
                if sub["type"] == "text" and not isinstance(sub.get("text"), str):
                    raise _bad(f"{where}.tool_result.content.{k}.text: Field required")
        answered.append(tool_use_id)
    missing = [t for t in expected if t not in answered]
    if missing:
        raise _unanswered(i - 1, missing)


def _validate_assistant_blocks(i: int, blocks: list[Any], seen_ids: set[str], has_tools: bool,
                               last: bool) -> list[str]:
    ids: list[str] = []
    for j, block in enumerate(blocks):
        where = f"messages.{i}.content.{j}"
        if not isinstance(block, dict) or block.get("type") not in _ASSISTANT_BLOCKS:
            kind = block.get("type") if isinstance(block, dict) else type(block).__name__
            raise _bad(f"{where}: Input tag {kind!r} is not a valid content block type for an assistant message")
        if block["type"] == "text":
            _check_text(where, block)
            if last and j == len(blocks) - 1 and block["text"] != block["text"].rstrip():
                raise _bad("messages: final assistant content cannot end with trailing whitespace")
        if block["type"] != "tool_use":
            continue
        if not has_tools:
            raise _bad("Requests which include `tool_use` or `tool_result` blocks must define tools.")
        tool_id, name = block.get("id"), block.get("name")
        if not isinstance(tool_id, str) or not _TOOL_ID.match(tool_id):
            raise _bad(f"{where}.tool_use.id: String should match pattern '{_TOOL_ID.pattern}' (got {tool_id!r})")
        if not isinstance(name, str) or not name:
            raise _bad(f"{where}.tool_use.name: Field required")
        if not isinstance(block.get("input"), dict):
            raise _bad(f"{where}.tool_use.input: Input should be a valid dictionary")
        if tool_id in seen_ids:
            raise _bad(f"{where}: `tool_use` ids must be unique (duplicate {tool_id})")
        seen_ids.add(tool_id)
        ids.append(tool_id)
    return ids
