"""Acks stay instant (issue 21): an ack never waits for the store's write lock, a Slack Web API call or the work
the request starts, and a burst at start-up makes one `auth.test`. The real bot over signed HTTP, on SQLite and on
the machine's PostgreSQL; the store's lock is held from outside by a second connection, and a slow Slack is a real
TCP proxy that holds every request for a second."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from tests.fakes.slack_api import BOT_USER_ID, FakeSlack
from tests.harness import running_bot
from tests.slack._tcp_proxy import TcpProxy, api_url, port_of
from tests.slack_signing import SlackBody, app_mention, slash_command
from tests.store.conftest import pg_url, postgres_available, sqlite_url, store_url  # noqa: F401

ACK_S = 0.5  # far below what the replay check used to wait for a locked store (1 s); tens of ms when idle


@contextlib.asynccontextmanager
async def _store_locked(url: str) -> AsyncIterator[None]:
    """Another connection holds the store's write lock (SQLite) or an exclusive lock on its seen-keys table
    (PostgreSQL) until the block ends."""
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        conn = sqlite3.connect(str(Path(u.database or "")), timeout=10, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
            conn.close()
        return
    pg = await asyncpg.connect(u.set(drivername="postgresql").render_as_string(hide_password=False))
    tx = pg.transaction()
    await tx.start()
    await pg.execute("LOCK TABLE seen_events IN ACCESS EXCLUSIVE MODE")
    try:
        yield
    finally:
        await tx.rollback()
        await pg.close()


class _Through:
    """What `running_bot` reads of a fake Slack (its API URL), pointing through a proxy instead."""

    def __init__(self, proxy: TcpProxy) -> None:
        self.api_url = api_url(proxy.port)


async def _timed(http: httpx.AsyncClient, post: object) -> tuple[float, httpx.Response]:
    started = time.monotonic()
    resp = await post  # type: ignore[misc]
    return time.monotonic() - started, resp


async def test_acks_do_not_wait_for_a_locked_store(fake_slack: FakeSlack, store_url: str) -> None:  # noqa: F811
    """With the store's lock held by someone else, `/sre help`, `/sre status` and a mention are acked at once
    (help with its answer); their work goes on once the store answers, and every one is answered."""
    async with running_bot(fake_slack, incidents=False, SRE_BOT_DB_URL=store_url) as bot:
        await bot.post(slash_command(text="help", trigger_id="warm.1"))  # the store and Bolt are warm
        async with _store_locked(store_url):
            took_help, helped = await _timed(bot.http, bot.post(slash_command(text="help", trigger_id="t.1")))
            took_status, status = await _timed(bot.http, bot.post(slash_command(
                text="status checkout", trigger_id="t.2", response_url=fake_slack.response_url("status"))))
            took_mention, mention = await _timed(bot.http, bot.post(app_mention(
                f"<@{BOT_USER_ID}> why is checkout slow?", channel="C9")))
            await asyncio.sleep(0.3)
        await fake_slack.wait_for("response_url", timeout=15)
        [looking] = await fake_slack.wait_for("chat.postMessage", timeout=15)
    assert (helped.status_code, status.status_code, mention.status_code) == (200, 200, 200)
    assert "/sre status" in helped.text and "Looking" in status.text
    assert max(took_help, took_status, took_mention) < ACK_S, (took_help, took_status, took_mention)
    assert looking.args["channel"] == "C9"


async def test_acks_do_not_wait_for_a_slow_slack(fake_slack: FakeSlack) -> None:
    """Behind a Slack whose every call takes a second, ten mentions sent at once are each acked at once; their
    "looking…" messages follow, each a second later."""
    with TcpProxy(port_of(fake_slack), delay=1.0) as slow:
        async with running_bot(_Through(slow), incidents=False) as bot:  # type: ignore[arg-type]
            await fake_slack.wait_for("auth.test", timeout=10)  # made at start-up, not by the first ack
            await asyncio.sleep(0.2)
            bodies = [app_mention(f"<@{BOT_USER_ID}> what is wrong?", channel=f"C{i}") for i in range(10)]
            acks = await asyncio.gather(*(_timed(bot.http, bot.post(b)) for b in bodies))
            posted = await fake_slack.wait_for("chat.postMessage", count=10, timeout=30)
    assert all(resp.status_code == 200 for _, resp in acks)
    assert max(took for took, _ in acks) < ACK_S, [round(took, 3) for took, _ in acks]
    assert sorted(c.args["channel"] for c in posted) == sorted(f"C{i}" for i in range(10))


async def test_a_burst_at_start_makes_one_auth_test(fake_slack: FakeSlack) -> None:
    """Twenty commands arriving while Bolt's `auth.test` is still on its way (a slow Slack) share that one call,
    and each is answered."""
    with TcpProxy(port_of(fake_slack), delay=1.0) as slow:
        async with running_bot(_Through(slow), incidents=False) as bot:  # type: ignore[arg-type]
            bodies: list[SlackBody] = [slash_command(text="help", trigger_id=f"b.{i}") for i in range(20)]
            answers = await asyncio.gather(*(bot.post(b) for b in bodies))
    assert all(a.status_code == 200 and "/sre status" in a.text for a in answers)
    assert len(fake_slack.calls("auth.test")) == 1
