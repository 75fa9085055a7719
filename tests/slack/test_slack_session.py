"""One long-lived HTTP session to Slack (issue 21): the composition root builds it, every Slack call of the bot —
Web API calls and replies to a command's `response_url` — goes through it, and it is closed on exit. Checked from
outside with a real TCP proxy in front of the fake Slack that counts the connections clients open."""

from __future__ import annotations

import asyncio
import threading
import time
from urllib.parse import urlsplit

from sre_bot.compose import open_deps
from sre_bot.config import Config
from sre_bot.settings import load_settings
from sre_bot.slack.app import build_app
from tests.fakes.slack_api import FakeSlack
from tests.harness import SECRET, running_bot
from tests.slack._tcp_proxy import TcpProxy, api_url, port_of
from tests.slack_signing import slash_command

CALLS = 20


async def test_twenty_web_api_calls_open_one_connection(fake_slack: FakeSlack) -> None:
    """Twenty `chat.postMessage` calls one after another reach Slack over one kept-alive connection."""
    with TcpProxy(port_of(fake_slack)) as proxy:
        settings = load_settings(None, SLACK_BOT_TOKEN="xoxb-test-token", SLACK_SIGNING_SECRET=SECRET,
                                 SLACK_API_URL=api_url(proxy.port))
        async with open_deps(settings, config=Config()) as deps:
            bolt = build_app(deps)
            for i in range(CALLS):
                await bolt.client.chat_postMessage(channel="C1", text=f"message {i}")
            assert deps.slack is not None and deps.slack.connections == 1
        assert proxy.connections == 1
    assert len(fake_slack.calls("chat.postMessage")) == CALLS


async def test_a_hostname_is_looked_up_once_not_per_call(fake_slack: FakeSlack) -> None:
    """With SLACK_API_URL naming a host (`localhost`), a burst of calls and the calls after it look the name up
    once; the lookups run in the session's own threads, so a full default executor does not hold them."""
    with TcpProxy(port_of(fake_slack)) as proxy:
        settings = load_settings(None, SLACK_BOT_TOKEN="xoxb-test-token", SLACK_SIGNING_SECRET=SECRET,
                                 SLACK_API_URL=api_url(proxy.port, host="localhost"))
        release = threading.Event()
        loop = asyncio.get_running_loop()
        # every thread of asyncio's default executor blocked (what a slow Prometheus did before it had its own)
        blockers = [loop.run_in_executor(None, release.wait, 30) for _ in range(64)]
        try:
            async with open_deps(settings, config=Config()) as deps:
                bolt = build_app(deps)
                started = time.monotonic()
                await asyncio.wait_for(asyncio.gather(*(bolt.client.chat_postMessage(channel="C1", text=str(i))
                                                        for i in range(10))), 5)
                burst_s = time.monotonic() - started
                for i in range(CALLS):
                    await bolt.client.chat_postMessage(channel="C2", text=str(i))
                assert deps.slack is not None
                lookups, opened = deps.slack.lookups, deps.slack.connections
        finally:
            release.set()
            await asyncio.gather(*blockers)
    assert lookups == 1
    assert burst_s < 3.0, f"ten calls took {burst_s:.1f}s behind a full default executor"
    assert opened == proxy.connections and 1 <= opened <= 10  # the burst's connections, reused afterwards


async def test_command_replies_share_the_session_and_it_is_closed_on_exit(fake_slack: FakeSlack) -> None:
    """Replies to five commands' `response_url` go through the same session (connections reused), and leaving the
    composition root closes it."""
    with TcpProxy(port_of(fake_slack)) as proxy:
        base = f"http://127.0.0.1:{proxy.port}"
        async with running_bot(fake_slack, incidents=False) as bot:
            for i in range(5):
                url = f"{base}{urlsplit(fake_slack.response_url(f'r{i}')).path}"
                resp = await bot.post(slash_command(text="status checkout", response_url=url, trigger_id=f"t{i}"))
                assert resp.status_code == 200
                await fake_slack.wait_for("response_url", i + 1, timeout=10)
            session = bot.deps.slack
            assert session is not None
            inner = session.get()
        assert proxy.connections == 1
    assert inner.closed
