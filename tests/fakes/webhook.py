"""A fake webhook receiver: accepts POST and PUT at any path, records each call, answers as scripted.

    with FakeWebhook() as hook:                       # or `async with`
        hook.respond(500, "job queue full")           # the next call fails; later ones answer 200 {"job": <n>}
        await WebhookBackend(client).call("restart", hook.url + "/hooks/restart?token=s3cret", body={...})
        hook.received[0].json                          # what was sent

Every call is appended to `.received` (a `Received`: method, path, query, headers, raw body) before it is answered,
and to `.requests` as in every fake. `.respond(status, body, times=1, delay=0, headers=None)` scripts the next
answers: a str body is sent as text, anything else as JSON; `delay` seconds pass before answering. Unscripted calls
get 200 `{"job": n}`, n counting calls from 1. Other methods get 405.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from . import FakeServer

__all__ = ["FakeWebhook", "Received"]


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def json(self) -> Any:
        """The body parsed as JSON (None when empty)."""
        return json.loads(self.body) if self.body else None

    def header(self, name: str) -> str | None:
        return {k.lower(): v for k, v in self.headers.items()}.get(name.lower())


@dataclass(frozen=True)
class _Answer:
    status: int
    body: Any
    delay: float
    headers: dict[str, str]


class FakeWebhook(FakeServer):
    """A recording webhook receiver."""

    name = "webhook"

    def __init__(self) -> None:
        super().__init__()
        self.received: list[Received] = []
        self._script: list[_Answer] = []

    def respond(self, status: int, body: Any = None, times: int = 1, *, delay: float = 0.0,
                headers: dict[str, str] | None = None) -> None:
        """Answer the next `times` calls with `status` and `body` (str as text, else JSON), after `delay` seconds."""
        self._script.extend([_Answer(status, body, delay, dict(headers or {}))] * times)

    def _routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/{tail:.*}", self._handle)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.method not in ("POST", "PUT"):
            return web.Response(status=405, text="method not allowed", headers={"Allow": "POST, PUT"})
        call = Received(method=request.method, path=request.path, query=dict(request.query),
                        headers=dict(request.headers), body=await request.read())
        with self._lock:
            self.received.append(call)
            n = len(self.received)
            answer = self._script.pop(0) if self._script else None
        if answer is None:
            return web.json_response({"job": n})
        if answer.delay:
            await asyncio.sleep(answer.delay)
        if isinstance(answer.body, str):
            return web.Response(status=answer.status, text=answer.body, headers=answer.headers)
        if answer.body is None:
            return web.Response(status=answer.status, headers=answer.headers)
        return web.json_response(answer.body, status=answer.status, headers=answer.headers)
