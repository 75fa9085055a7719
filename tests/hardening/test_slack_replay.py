"""Issue 14, item 13: a signed request replayed inside Slack's 5-minute window is acked and does nothing else.

Each request is sent as exact bytes with its headers over a real socket to the real Bolt app, then sent again
unchanged (as whoever captured it would): on SQLite and PostgreSQL, to the same replica and to a second replica on
the same PostgreSQL, and without a store (in process).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from aiohttp import web

from sre_bot.compose import open_deps
from sre_bot.settings import load_settings
from sre_bot.slack.app import build_app
from sre_bot.slack.dedupe import REPLAY_CHECK_TIMEOUT_S
from sre_bot.slack.http import slack_events_handler
from sre_bot.web import build_web_app
from tests.actions._support import APPROVE, add_checkout, audit_kinds, button, config, request_message
from tests.fakes import free_port
from tests.fakes.argocd import FakeArgoCD
from tests.fakes.slack_api import FakeSlack
from tests.hardening._slack_support import json_log, log_lines  # noqa: F401
from tests.harness import SECRET, BotUnderTest, running_bot
from tests.slack_signing import SlackBody, block_actions, post_signed, signed_headers, slash_command
from tests.store.conftest import pg_url, postgres_available, sqlite_url, store_url  # noqa: F401

REPLAYED = "Slack request refused: a replay of one already handled (same signature)"


class Captured:
    """One signed request, kept byte for byte with its headers, to send again."""

    def __init__(self, body: SlackBody) -> None:
        self.body = body
        self.headers = signed_headers(SECRET, body)

    async def send(self, http: httpx.AsyncClient) -> httpx.Response:
        return await post_signed(http, "/slack/events", self.body, self.headers)


def _command(fake: FakeSlack, text: str, *, user: str = "W111", name: str = "cmd") -> Captured:
    return Captured(slash_command(text=text, user_id=user, response_url=fake.response_url(name)))


def _replays(lines: list[dict[str, Any]]) -> int:
    return sum(1 for line in lines if line.get("event") == REPLAYED and line.get("level") == "warning")


async def test_three_identical_run_commands_make_one_approval_request(
        fake_slack: FakeSlack, argocd_server: FakeArgoCD, store_url: str, json_log: None,  # noqa: F811
        capsys: pytest.CaptureFixture[str]) -> None:
    """`/sre run argocd.rollback checkout` sent three times byte for byte: one request posted, two empty acks."""
    add_checkout(argocd_server)
    env = {"ARGOCD_URL": argocd_server.url, "ARGOCD_TOKEN": "test-token", "SRE_BOT_DB_URL": store_url}
    async with running_bot(fake_slack, config=config(), incidents=False, **env) as bot:
        run = _command(fake_slack, "run argocd.rollback checkout")
        first, second, third = [await run.send(bot.http) for _ in range(3)]
        await fake_slack.wait_for("chat.postMessage")
        await fake_slack.wait_for("response_url")
        pending = await bot.deps.store.pending(bot.deps.clock())
    assert first.status_code == 200 and "Looking" in first.text
    assert (second.status_code, second.content, third.status_code, third.content) == (200, b"", 200, b"")
    assert len(pending) == 1 and len(fake_slack.calls("chat.postMessage")) == 1
    assert len(fake_slack.calls("response_url")) == 1
    assert _replays(log_lines(capsys)) == 2


async def test_a_replayed_killswitch_on_does_not_undo_an_admins_off(
        fake_slack: FakeSlack, store_url: str, json_log: None,  # noqa: F811
        capsys: pytest.CaptureFixture[str]) -> None:
    """An admin turns the kill switch on, then off; the captured `on` sent again changes nothing."""
    async with running_bot(fake_slack, config=config(), incidents=False, SRE_BOT_DB_URL=store_url) as bot:
        on = _command(fake_slack, "killswitch on", user="W333", name="on")
        assert (await on.send(bot.http)).status_code == 200
        await fake_slack.wait_for("response_url")
        off = _command(fake_slack, "killswitch off", user="W333", name="off")
        assert (await off.send(bot.http)).status_code == 200
        await fake_slack.wait_for("response_url", 2)
        replay = await on.send(bot.http)
        flag = await bot.deps.store.get_flag("kill_switch")
        kinds = await audit_kinds(bot)
    assert (replay.status_code, replay.content) == (200, b"")
    assert flag.value is False
    assert kinds.count("kill_switch") == 2 and len(fake_slack.calls("response_url")) == 2
    assert _replays(log_lines(capsys)) == 1


async def test_a_replayed_click_is_not_handled_again(
        fake_slack: FakeSlack, argocd_server: FakeArgoCD, store_url: str, json_log: None,  # noqa: F811
        capsys: pytest.CaptureFixture[str]) -> None:
    """An Approve click sent again byte for byte: one rollback, and the replay is not even refused to anyone."""
    add_checkout(argocd_server)
    env = {"ARGOCD_URL": argocd_server.url, "ARGOCD_TOKEN": "test-token", "SRE_BOT_DB_URL": store_url}
    async with running_bot(fake_slack, config=config(), incidents=False, **env) as bot:
        await _command(fake_slack, "run argocd.rollback checkout").send(bot.http)
        await fake_slack.wait_for("chat.postMessage")
        msg = request_message(fake_slack)
        click = Captured(block_actions(APPROVE, button(msg, APPROVE), user="W222", channel="C111",
                                       message_ts=msg["ts"]))
        assert (await click.send(bot.http)).status_code == 200
        await fake_slack.wait_for("chat.update", 2, timeout=15)  # running, then done
        replay = await click.send(bot.http)
        kinds = await audit_kinds(bot)
    assert (replay.status_code, replay.content) == (200, b"")
    assert len([o for o in argocd_server.operations if o["op"] == "rollback"]) == 1
    assert "refused" not in kinds and fake_slack.calls("chat.postEphemeral") == []
    assert _replays(log_lines(capsys)) == 1


async def test_a_replay_to_the_other_replica_is_refused_too(
        fake_slack: FakeSlack, pg_url: str, json_log: None,  # noqa: F811
        capsys: pytest.CaptureFixture[str]) -> None:
    """Two bots on one PostgreSQL: `killswitch on` handled by the first, the same bytes sent to the second do
    nothing there (the store remembers the signature for both). The second acks without waiting for the store
    (`slack/acks.py`), so its ack is the command's usual "Looking…"; nothing runs after it."""
    async with running_bot(fake_slack, config=config(), incidents=False, SRE_BOT_DB_URL=pg_url) as a, \
            running_bot(fake_slack, config=config(), incidents=False, SRE_BOT_DB_URL=pg_url) as b:
        on = _command(fake_slack, "killswitch on", user="W333")
        assert (await on.send(a.http)).status_code == 200
        await fake_slack.wait_for("response_url")
        replay = await on.send(b.http)
        await asyncio.sleep(REPLAY_CHECK_TIMEOUT_S + 0.5)  # the store's verdict is in by then, whatever it says
        kinds = await audit_kinds(b)
    assert replay.status_code == 200
    assert kinds.count("kill_switch") == 1 and len(fake_slack.calls("response_url")) == 1
    assert _replays(log_lines(capsys)) == 1


@asynccontextmanager
async def _bot_without_store(fake: FakeSlack) -> AsyncIterator[BotUnderTest]:
    """The Bolt app and `/slack/events` as `serve` mounts them, on deps with no store (nothing persisted)."""
    settings = load_settings(None, SLACK_BOT_TOKEN="xoxb-test-token", SLACK_SIGNING_SECRET=SECRET,
                             SLACK_API_URL=fake.api_url)
    async with open_deps(settings, config=config(), use_store=False) as deps:
        assert deps.store is None
        runner = web.AppRunner(build_web_app(deps, slack_events_handler(build_app(deps), deps)))
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
                yield BotUnderTest(url=f"http://127.0.0.1:{port}", deps=deps, http=http)
        finally:
            await runner.cleanup()


async def test_without_a_store_a_replay_is_refused_in_process(
        fake_slack: FakeSlack, json_log: None, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    """With no store, `/sre help` sent twice byte for byte is answered once (the replay gets an empty ack)."""
    async with _bot_without_store(fake_slack) as bot:
        helped = _command(fake_slack, "help")
        first, replay = await helped.send(bot.http), await helped.send(bot.http)
    assert first.status_code == 200 and "/sre status" in first.text
    assert (replay.status_code, replay.content) == (200, b"")
    assert _replays(log_lines(capsys)) == 1

