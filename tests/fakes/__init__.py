"""Local test servers that speak real wire formats and record what they receive (one module per system).

`FakeServer` is the base of the Loki and Argo CD fakes: an aiohttp app on 127.0.0.1 and a free port, running on
its own event loop in a thread (so async tests, sync tests and code that calls `asyncio.run` itself can all use
it), started and stopped with `with` or `async with`, appending every request it serves to `.requests`
(a `RecordedRequest`: method, decoded path, raw path as sent, query parameters, headers).
"""

from __future__ import annotations

import asyncio
import socket
import threading
from dataclasses import dataclass, field
from typing import Any, Self

from aiohttp import web

__all__ = ["RecordedRequest", "FakeServer", "free_port"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str  # percent-decoded
    raw_path: str  # as sent, percent-escapes kept, without the query string
    query: dict[str, list[str]] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    def param(self, name: str) -> str | None:
        """The first value of query parameter `name`."""
        values = self.query.get(name)
        return values[0] if values else None

    def header(self, name: str) -> str | None:
        return {k.lower(): v for k, v in self.headers.items()}.get(name.lower())


class FakeServer:
    """Base for the fakes: subclasses add routes in `_routes`; `start()` returns the base URL."""

    name = "fake"

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.url = ""
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None

    def _routes(self, app: web.Application) -> None:
        raise NotImplementedError

    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        query: dict[str, list[str]] = {}
        for k, v in request.query.items():
            query.setdefault(k, []).append(v)
        with self._lock:
            self.requests.append(RecordedRequest(
                method=request.method, path=request.path, raw_path=request.raw_path.split("?", 1)[0],
                query=query, headers=dict(request.headers)))
        return await handler(request)

    def start(self) -> str:
        """Serve on a free loopback port in a background thread; returns the base URL."""
        if self._thread is not None:
            return self.url
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(sock, ready), name=f"fake-{self.name}", daemon=True)
        self._thread.start()
        if not ready.wait(10) or self._runner is None:
            raise RuntimeError(f"fake {self.name} server did not start")
        return self.url

    def _serve(self, sock: socket.socket, ready: threading.Event) -> None:
        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)
        try:
            app = web.Application(middlewares=[self._record])
            self._routes(app)
            runner = web.AppRunner(app, access_log=None)
            loop.run_until_complete(runner.setup())
            loop.run_until_complete(web.SockSite(runner, sock).start())
            self._runner = runner
        finally:
            ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    def stop(self) -> None:
        if self._thread is None or self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._thread = None
        self._runner = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        await asyncio.to_thread(self.start)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.stop)

    def requests_to(self, path: str) -> list[RecordedRequest]:
        """The recorded requests whose decoded path is `path`."""
        with self._lock:
            return [r for r in self.requests if r.path == path]
