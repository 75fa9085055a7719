"""Run the real bot (Bolt app + aiohttp server) on loopback for end-to-end tests.

    async with running_bot(fake_slack, PROMETHEUS_URL=...) as bot:
        resp = await bot.post(slash_command(text="status checkout", response_url=fake_slack.response_url()))
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from aiohttp import web

from sre_bot.alert_webhook import alertmanager_handler
from sre_bot.clock import Clock, system_clock
from sre_bot.compose import open_deps
from sre_bot.config import Config
from sre_bot.deps import Deps
from sre_bot.settings import load_settings
from sre_bot.slack.app import build_app
from sre_bot.slack.http import slack_events_handler
from sre_bot.slack.incidents import run_incidents
from sre_bot.web import build_web_app
from tests.fakes import free_port
from tests.fakes.slack_api import FakeSlack
from tests.slack_signing import SlackBody, post_signed, signed_headers

__all__ = ["SECRET", "BotUnderTest", "running_bot"]

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


@dataclass
class BotUnderTest:
    url: str
    deps: Deps
    http: httpx.AsyncClient
    bolt: Any = None  # the AsyncApp (its `client` talks to the fake Slack)
    wake: asyncio.Event | None = None  # set by the Alertmanager webhook; the incident loop waits on it

    async def post(self, body: SlackBody, **sign_options: Any) -> httpx.Response:
        return await post_signed(self.http, "/slack/events", body, signed_headers(SECRET, body, **sign_options))


@asynccontextmanager
async def running_bot(fake: FakeSlack, *, config: Config | None = None, clock: Clock = system_clock,
                      incidents: bool = True, **env: str) -> AsyncIterator[BotUnderTest]:
    """`incidents`: run the incident loop (inbox → incidents → Slack) as `serve` does."""
    tmp = None
    if "SRE_BOT_DB_URL" not in env:
        tmp = tempfile.TemporaryDirectory(prefix="sre-bot-test-")
        env = {**env, "SRE_BOT_DB_URL": f"sqlite+aiosqlite:///{tmp.name}/sre-bot.db"}
    settings = load_settings(None, SLACK_BOT_TOKEN="xoxb-test-token", SLACK_SIGNING_SECRET=SECRET,
                             SLACK_API_URL=fake.api_url, **env)
    async with AsyncExitStack() as stack:
        if tmp is not None:
            stack.callback(tmp.cleanup)
        deps = await stack.enter_async_context(open_deps(settings, config=config or Config(), clock=clock,
                                                         use_store=True))
        bolt = build_app(deps)
        wake, stop = asyncio.Event(), asyncio.Event()
        runner = web.AppRunner(build_web_app(deps, slack_events_handler(bolt, deps),
                                             alertmanager_handler(deps, notify=wake.set)))
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        url = f"http://127.0.0.1:{port}"
        loop = asyncio.create_task(run_incidents(bolt.client, deps, stop, wake)) if incidents else None
        try:
            async with httpx.AsyncClient(base_url=url, timeout=10) as http:
                yield BotUnderTest(url=url, deps=deps, http=http, bolt=bolt, wake=wake)
        finally:
            stop.set()
            if loop is not None:
                await loop
            await runner.cleanup()
