"""One long-lived HTTP session for everything the bot sends to Slack: Web API calls (`chat.postMessage`,
`chat.update`, …) and replies to a command's `response_url`.

Without it, slack_sdk opens a new `aiohttp.ClientSession` per call: a new connection (a TLS handshake against
slack.com) and a new name lookup each time, the lookup in asyncio's default executor, where it queued behind
whatever else ran there. Here the composition root builds one `SlackSession`, every client borrows its
`aiohttp.ClientSession`, and the root closes it on exit. Connections are kept alive and reused; each name is looked
up once per DNS_TTL_S, in two threads of its own (never asyncio's default executor). `lookups` and `connections`
count what really happened (aiohttp's own trace signals), for the tests and for `doctor`.

aiohttp is imported when the session is first used, so commands that never talk to Slack do not pay for it.
"""

from __future__ import annotations

import asyncio
import socket
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import aiohttp

__all__ = ["SlackSession", "DNS_TTL_S", "RESOLVER_THREADS"]

DNS_TTL_S = 300  # a looked-up address is reused this long (aiohttp's default is 10 s)
RESOLVER_THREADS = 2
KEEPALIVE_S = 60.0  # an idle connection to Slack is kept this long for the next call
MAX_CONNECTIONS = 64  # at once, to Slack and response_url hosts together


class _ResolverLoop:
    """What aiohttp's `ThreadedResolver` needs of a loop (`getaddrinfo`, `getnameinfo`), run in our own threads."""

    def __init__(self, loop: asyncio.AbstractEventLoop, pool: ThreadPoolExecutor) -> None:
        self._loop = loop
        self._pool = pool

    async def getaddrinfo(self, host: str, port: Any, *, family: int = 0, type: int = 0, proto: int = 0,
                          flags: int = 0) -> Any:
        return await self._loop.run_in_executor(self._pool, socket.getaddrinfo, host, port, family, type, proto,
                                                flags)

    async def getnameinfo(self, sockaddr: Any, flags: int = 0) -> Any:
        return await self._loop.run_in_executor(self._pool, socket.getnameinfo, sockaddr, flags)


class SlackSession:
    """The bot's one `aiohttp.ClientSession` to Slack, created on first use and closed by `close()`."""

    def __init__(self, *, dns_ttl_s: int = DNS_TTL_S, keepalive_s: float = KEEPALIVE_S,
                 max_connections: int = MAX_CONNECTIONS) -> None:
        self._dns_ttl_s = dns_ttl_s
        self._keepalive_s = keepalive_s
        self._max = max_connections
        self._session: aiohttp.ClientSession | None = None
        self._pool: ThreadPoolExecutor | None = None
        self.lookups = 0  # names resolved (DNS cache misses)
        self.connections = 0  # TCP (and TLS) connections opened

    def get(self) -> aiohttp.ClientSession:
        """The session (built now on first use; needs the running event loop)."""
        if self._session is not None and not self._session.closed:
            return self._session
        import aiohttp
        from aiohttp.resolver import ThreadedResolver

        loop = asyncio.get_running_loop()
        if self._pool is None:
            self._pool = ThreadPoolExecutor(RESOLVER_THREADS, thread_name_prefix="slack-dns")
        trace = aiohttp.TraceConfig()
        trace.on_dns_resolvehost_start.append(self._looked_up)
        trace.on_connection_create_end.append(self._connected)
        resolver = ThreadedResolver(_ResolverLoop(loop, self._pool))  # type: ignore[arg-type]
        connector = aiohttp.TCPConnector(resolver=resolver, ttl_dns_cache=self._dns_ttl_s, limit=self._max,
                                         keepalive_timeout=self._keepalive_s)
        self._session = aiohttp.ClientSession(connector=connector, trace_configs=[trace])
        return self._session

    async def close(self) -> None:
        """Close the session and its connections (the composition root calls this at exit)."""
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    async def _looked_up(self, *_: Any) -> None:
        self.lookups += 1

    async def _connected(self, *_: Any) -> None:
        self.connections += 1
