"""A real TCP proxy in front of a local server (the fake Slack): it counts the connections clients open and can hold
each request for `delay` seconds before passing it on (a slow Slack). It runs on its own thread and event loop, so
the test's loop never serves it.

    with TcpProxy(port_of_fake) as proxy:
        url = f"http://127.0.0.1:{proxy.port}/api/"   # or f"http://localhost:{proxy.port}/api/"
        ...
        assert proxy.connections == 1
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

__all__ = ["TcpProxy", "port_of", "api_url"]


def port_of(fake: Any) -> int:
    """The port a fake server (anything with `.url`) listens on."""
    return int(urlsplit(fake.url).port or 0)


def api_url(port: int, host: str = "127.0.0.1") -> str:
    """A SLACK_API_URL through the proxy on `port`."""
    return f"http://{host}:{port}/api/"


class TcpProxy:
    def __init__(self, target_port: int, *, delay: float = 0.0, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.delay = delay
        self.connections = 0
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tcp-proxy", daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the TCP proxy did not start")
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        async with server:
            await self._stop.wait()
            server.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        await asyncio.gather(self._pipe(reader, up_writer, self.delay), self._pipe(up_reader, writer, 0.0))

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
        try:
            while data := await reader.read(65536):
                if delay:
                    await asyncio.sleep(delay)
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()
