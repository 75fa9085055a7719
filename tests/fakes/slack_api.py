"""A local fake of the Slack Web API (and of `response_url`) that records every call.

Point the real client at it: `AsyncWebClient(token="xoxb-test", base_url=fake.api_url)`. The server runs on its own
event loop in a thread, so the async client, the sync `WebClient` and sync tests can all use it.

    async with FakeSlack.start() as fake:            # or the `fake_slack` fixture
        fake.script_ratelimit("chat.postMessage", retry_after=2)
        ...
        [call] = await fake.wait_for("chat.update")
        assert call.args["ts"] == fake.messages("C111")[0]["ts"]

Arguments from the query string, a form body and a JSON body are merged into `Call.args`; Block Kit fields sent as
JSON strings in a form body (`blocks`, `attachments`, `view`, `metadata`) are decoded, as Slack does. Header names in
`Call.headers` are lower-case. Errors are `{"ok": false, "error": ...}` with HTTP 200, as Slack sends them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import threading
import time
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

__all__ = ["Call", "FakeSlack", "fake_slack", "TEAM_ID", "TEAM_DOMAIN", "BOT_USER_ID", "BOT_ID", "APP_ID"]

TEAM_ID = "T111"
TEAM_DOMAIN = "sre-test"
BOT_USER_ID = "UBOT0SRE1"
BOT_ID = "BBOT0SRE1"
APP_ID = "A111"
_JSON_FIELDS = ("blocks", "attachments", "view", "metadata")
_FIRST_TS_US = 1_700_000_000_000_000


@dataclass(frozen=True)
class Call:
    """One request the fake received: Web API method name (or `response_url`), merged arguments, headers, time."""

    method: str
    args: dict[str, Any]
    headers: dict[str, str]
    at: float
    path: str = ""


@dataclass
class _Scripted:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


class FakeSlack:
    """The fake server and its recorded state; all state is guarded by one lock (the server runs in a thread)."""

    def __init__(self, *, tokens: Iterable[str] | None = None) -> None:
        # None accepts any bot (xoxb-) or app-level (xapp-) token; a set accepts exactly those tokens.
        self.accepted_tokens: set[str] | None = set(tokens) if tokens is not None else None
        self.url = ""
        self._lock = threading.Lock()
        self._ts_counter = 0
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        self._users: dict[str, dict[str, Any]] = {}
        self._usergroups: dict[str, list[str]] = {}
        self._channels: dict[str, dict[str, Any]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.reset()
        self._handlers: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._post_message,
            "chat.update": self._update,
            "chat.postEphemeral": self._post_ephemeral,
            "chat.getPermalink": self._permalink,
            "users.info": self._user_info,
            "conversations.info": self._conversation_info,
            "views.open": self._views_open,
            "views.update": self._views_update,
            "reactions.add": self._reactions_add,
            "usergroups.users.list": self._usergroup_users,
        }

    # ----- lifecycle -------------------------------------------------------------------------------------------

    @classmethod
    @contextlib.asynccontextmanager
    async def start(cls, **kwargs: Any) -> AsyncIterator[FakeSlack]:
        """Run a fake on a free loopback port for the duration of the `async with` block."""
        fake = cls(**kwargs)
        await asyncio.to_thread(fake._serve)
        try:
            yield fake
        finally:
            await asyncio.to_thread(fake._shutdown)

    @classmethod
    @contextlib.contextmanager
    def running(cls, **kwargs: Any) -> Iterator[FakeSlack]:
        """The same as `start()`, for synchronous tests."""
        fake = cls(**kwargs)
        fake._serve()
        try:
            yield fake
        finally:
            fake._shutdown()

    @property
    def api_url(self) -> str:
        """The `base_url` for slack_sdk clients (ends with `/api/`)."""
        return f"{self.url}/api/"

    def response_url(self, name: str = "default") -> str:
        """A `response_url` value that posts back to this fake, recorded as method `response_url`."""
        return f"{self.url}/response/{name}"

    def _serve(self) -> None:
        ready = threading.Event()
        failure: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, args=(ready, failure), name="fake-slack", daemon=True)
        self._thread.start()
        if not ready.wait(10) or failure:
            raise RuntimeError(f"fake Slack did not start: {failure[0] if failure else 'timeout'}")

    def _run(self, ready: threading.Event, failure: list[BaseException]) -> None:
        loop = asyncio.new_event_loop()
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/response/{name:.*}", self._response_url)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=2)
        try:
            loop.run_until_complete(runner.setup())
            sock = socket.create_server(("127.0.0.1", 0))
            loop.run_until_complete(web.SockSite(runner, sock).start())
            self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
            self._loop = loop
        except BaseException as exc:  # reported to the starting thread
            failure.append(exc)
            ready.set()
            loop.close()
            return
        ready.set()
        try:
            loop.run_forever()
            loop.run_until_complete(runner.cleanup())
        finally:
            loop.close()

    def _shutdown(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    # ----- scripting and seeding -------------------------------------------------------------------------------

    def script_error(self, method: str, error: str, *, times: int = 1, status: int = 200) -> None:
        """Make the next `times` calls to `method` fail with `{"ok": false, "error": error}`."""
        with self._lock:
            self._scripts[method].extend([_Scripted(status, {"ok": False, "error": error})] * times)

    def script_ratelimit(self, method: str, *, retry_after: int = 1, times: int = 1) -> None:
        """Make the next `times` calls to `method` answer HTTP 429 with `Retry-After` (error `ratelimited`)."""
        reply = _Scripted(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry_after)})
        with self._lock:
            self._scripts[method].extend([reply] * times)

    def add_user(self, user_id: str, name: str, real_name: str | None = None) -> None:
        """Register a user for `users.info` (any other U…/W… id gets a generated user)."""
        with self._lock:
            self._users[user_id] = _user(user_id, name, real_name or name.title())

    def add_usergroup(self, group_id: str, users: Iterable[str]) -> None:
        """Register a user group (S…) and its members for `usergroups.users.list`."""
        with self._lock:
            self._usergroups[group_id] = list(users)

    def add_channel(self, channel_id: str, name: str) -> None:
        """Register a channel for `conversations.info` (any other C…/G… id gets a generated channel)."""
        with self._lock:
            self._channels[channel_id] = _channel(channel_id, name)

    # ----- assertions ------------------------------------------------------------------------------------------

    def calls(self, method: str | None = None) -> list[Call]:
        """Recorded calls in arrival order, all of them or those to one method."""
        with self._lock:
            return [c for c in self._calls if method is None or c.method == method]

    def messages(self, channel: str) -> list[dict[str, Any]]:
        """Messages stored in a channel by `chat.postMessage` (and edited by `chat.update`), oldest first."""
        with self._lock:
            return [dict(m) for m in self._messages.get(channel, [])]

    async def wait_for(self, method: str, count: int = 1, timeout: float = 5) -> list[Call]:
        """Wait until `method` was called at least `count` times; return those calls or fail listing all calls."""
        event = asyncio.Event()
        waiter = (asyncio.get_running_loop(), event)
        deadline = time.monotonic() + timeout
        with self._lock:
            self._waiters.add(waiter)
        try:
            while True:
                event.clear()
                found = self.calls(method)
                remaining = deadline - time.monotonic()
                if len(found) >= count or remaining <= 0:
                    break
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(event.wait(), remaining)
        finally:
            with self._lock:
                self._waiters.discard(waiter)
        if len(found) < count:
            raise AssertionError(
                f"expected {count} call(s) to {method} within {timeout}s, got {len(found)}; recorded:\n"
                + (self.describe() or "  (no calls)")
            )
        return found

    def describe(self) -> str:
        """One line per recorded call, for failure messages."""
        return "\n".join(f"  {c.method} {_short(c.args)}" for c in self.calls())

    def reset(self) -> None:
        """Forget calls, messages, views, reactions and scripted replies (timestamps keep increasing)."""
        with self._lock:
            self._calls: list[Call] = []
            self._messages: dict[str, list[dict[str, Any]]] = defaultdict(list)
            self._views: dict[str, dict[str, Any]] = {}
            self._reactions: set[tuple[str, str, str]] = set()
            self._scripts: dict[str, deque[_Scripted]] = defaultdict(deque)

    # ----- HTTP handlers ---------------------------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args = {**request.query, **await _body_args(request)}
        for key in _JSON_FIELDS:
            if isinstance(args.get(key), str):
                with contextlib.suppress(ValueError):
                    args[key] = json.loads(args[key])
        headers = {k.lower(): v for k, v in request.headers.items()}
        call = Call(method, args, headers, time.time(), request.path)
        auth = headers.get("authorization", "")
        token = auth[len("Bearer ") :] if auth.startswith("Bearer ") else args.get("token")
        if not token or not self._token_ok(token):
            self._record(call)
            return web.json_response({"ok": False, "error": "not_authed" if not token else "invalid_auth"})
        with self._lock:
            scripted = self._scripts[method].popleft() if self._scripts.get(method) else None
            handler = self._handlers.get(method)
            if scripted is None:
                body = handler(args) if handler else {"ok": False, "error": "unknown_method"}
        self._record(call)  # after the call took effect, so a waiter sees its result (a posted message, …)
        if scripted is not None:
            return web.json_response(scripted.body, status=scripted.status, headers=scripted.headers)
        return web.json_response(body)

    async def _response_url(self, request: web.Request) -> web.Response:
        raw = await request.text()
        try:
            args = json.loads(raw) if raw else {}
        except ValueError:
            args = {"_raw": raw}
        headers = {k.lower(): v for k, v in request.headers.items()}
        self._record(Call("response_url", args, headers, time.time(), request.path))
        return web.Response(text="ok")

    def _record(self, call: Call) -> None:
        with self._lock:
            self._calls.append(call)
            for loop, event in list(self._waiters):
                with contextlib.suppress(RuntimeError):  # the waiting loop has closed
                    loop.call_soon_threadsafe(event.set)

    def _token_ok(self, token: str) -> bool:
        if self.accepted_tokens is None:
            return token.startswith(("xoxb-", "xapp-"))
        return token in self.accepted_tokens

    # ----- methods (called with the lock held) -----------------------------------------------------------------

    def _next_ts(self) -> str:
        self._ts_counter += 1
        micros = _FIRST_TS_US + 100 * self._ts_counter
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _find(self, channel: str, ts: str) -> dict[str, Any] | None:
        return next((m for m in self._messages.get(channel, []) if m["ts"] == ts), None)

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True, "url": f"https://{TEAM_DOMAIN}.slack.com/", "team": "SRE Test", "user": "sre-bot",
            "team_id": TEAM_ID, "user_id": BOT_USER_ID, "bot_id": BOT_ID, "app_id": APP_ID,
            "is_enterprise_install": False,
        }  # fmt: skip

    def _post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = args.get("channel")
        if not channel:
            return _err("channel_not_found")
        if not any(args.get(k) for k in ("text", "blocks", "attachments")):
            return _err("no_text")
        ts = self._next_ts()
        message: dict[str, Any] = {
            "type": "message", "user": BOT_USER_ID, "bot_id": BOT_ID, "app_id": APP_ID, "team": TEAM_ID,
            "text": args.get("text", ""), "ts": ts,
        }  # fmt: skip
        for key in ("blocks", "attachments", "metadata", "thread_ts"):
            if args.get(key):
                message[key] = args[key]
        self._messages[channel].append(message)
        return {"ok": True, "channel": channel, "ts": ts, "message": dict(message)}

    def _update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, ts = args.get("channel", ""), args.get("ts", "")
        message = self._find(channel, ts)
        if message is None:
            return _err("message_not_found" if channel else "channel_not_found")
        for key in ("text", "blocks", "attachments", "metadata"):
            if key in args:
                message[key] = args[key]
        message["edited"] = {"user": BOT_USER_ID, "ts": self._next_ts()}
        return {"ok": True, "channel": channel, "ts": ts, "text": message["text"], "message": dict(message)}

    def _post_ephemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("channel"):
            return _err("channel_not_found")
        if not args.get("user"):
            return _err("user_not_found")
        if not any(args.get(k) for k in ("text", "blocks", "attachments")):
            return _err("no_text")
        return {"ok": True, "message_ts": self._next_ts()}

    def _permalink(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, ts = args.get("channel", ""), args.get("message_ts", "")
        if not channel:
            return _err("channel_not_found")
        if not ts:
            return _err("message_not_found")
        link = f"https://{TEAM_DOMAIN}.slack.com/archives/{channel}/p{ts.replace('.', '')}"
        message = self._find(channel, ts)  # unknown ts (a user's message) still gets a link
        if message and message.get("thread_ts"):
            link += f"?thread_ts={message['thread_ts']}&cid={channel}"
        return {"ok": True, "channel": channel, "permalink": link}

    def _user_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user_id = args.get("user", "")
        if user_id in self._users:
            return {"ok": True, "user": dict(self._users[user_id])}
        if not re.fullmatch(r"[UW][A-Z0-9]{2,}", user_id):
            return _err("user_not_found")
        return {"ok": True, "user": _user(user_id, user_id.lower(), f"User {user_id}")}

    def _conversation_info(self, args: dict[str, Any]) -> dict[str, Any]:
        channel_id = args.get("channel", "")
        if channel_id in self._channels:
            return {"ok": True, "channel": dict(self._channels[channel_id])}
        if not re.fullmatch(r"[CG][A-Z0-9]{2,}", channel_id):
            return _err("channel_not_found")
        return {"ok": True, "channel": _channel(channel_id, f"channel-{channel_id.lower()}")}

    def _views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("trigger_id") or not isinstance(args.get("view"), dict):
            return _err("invalid_arguments")
        return self._store_view(f"V{len(self._views) + 1:08d}", args["view"])

    def _views_update(self, args: dict[str, Any]) -> dict[str, Any]:
        external = {v["external_id"]: v["id"] for v in self._views.values() if v.get("external_id")}
        view_id = args.get("view_id") or external.get(args.get("external_id", ""))
        if view_id not in self._views:
            return _err("not_found")
        if args.get("hash") and args["hash"] != self._views[view_id]["hash"]:
            return _err("hash_conflict")
        if not isinstance(args.get("view"), dict):
            return _err("invalid_arguments")
        return self._store_view(view_id, args["view"])

    def _store_view(self, view_id: str, view: dict[str, Any]) -> dict[str, Any]:
        stored = {
            "id": view_id, "team_id": TEAM_ID, "app_id": APP_ID, "bot_id": BOT_ID, "root_view_id": view_id,
            "private_metadata": "", "callback_id": "", "external_id": "", "state": {"values": {}},
            **view, "hash": f"{self._next_ts()}.{view_id.lower()}",
        }  # fmt: skip
        self._views[view_id] = stored
        return {"ok": True, "view": dict(stored)}

    def _usergroup_users(self, args: dict[str, Any]) -> dict[str, Any]:
        group = args.get("usergroup", "")
        if group not in self._usergroups:
            return _err("no_such_subteam")
        return {"ok": True, "users": list(self._usergroups[group])}

    def _reactions_add(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("name"):
            return _err("invalid_name")
        if not args.get("channel") or not args.get("timestamp"):
            return _err("no_item_specified")
        key = (args["channel"], args["timestamp"], args["name"])
        if key in self._reactions:
            return _err("already_reacted")
        self._reactions.add(key)
        return {"ok": True}


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    """A running FakeSlack for one test."""
    async with FakeSlack.start() as fake:
        yield fake


async def _body_args(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    if request.content_type == "application/json":
        body = await request.json()
        return body if isinstance(body, dict) else {"_body": body}
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()
        return {k: v if isinstance(v, str) else getattr(v, "filename", str(v)) for k, v in form.items()}
    return {"_raw": await request.text()}


def _err(error: str) -> dict[str, Any]:
    return {"ok": False, "error": error}


def _short(args: dict[str, Any], limit: int = 200) -> str:
    text = json.dumps(args, default=str, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _user(user_id: str, name: str, real_name: str) -> dict[str, Any]:
    return {
        "id": user_id, "team_id": TEAM_ID, "name": name, "deleted": False, "real_name": real_name,
        "tz": "Etc/UTC", "tz_label": "Coordinated Universal Time", "tz_offset": 0, "is_bot": False,
        "is_admin": False, "profile": {
            "real_name": real_name, "real_name_normalized": real_name, "display_name": name,
            "display_name_normalized": name, "team": TEAM_ID,
        },
    }  # fmt: skip


def _channel(channel_id: str, name: str) -> dict[str, Any]:
    return {
        "id": channel_id, "name": name, "is_channel": channel_id.startswith("C"),
        "is_group": channel_id.startswith("G"), "is_im": False, "is_private": channel_id.startswith("G"),
        "is_archived": False, "is_member": True, "created": 1_700_000_000, "context_team_id": TEAM_ID,
        "topic": {"value": "", "creator": "", "last_set": 0}, "purpose": {"value": "", "creator": "", "last_set": 0},
    }  # fmt: skip
